"""Reliability, second pass (issue 18): one test (or more) per bullet, each failing before its fix.

Rows in docs/RELIABILITY.md ("Second pass" table) point here.
"""

from __future__ import annotations

import collections
import enum
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import sealloss.io.checkpoint as ckpt_mod
import sealloss.io.weights as hub_mod
from sealloss.errors import (
    CheckpointError,
    SealLossError,
    UnitsWarning,
    WeightsFileError,
)
from sealloss.io.atomic import atomic_write, remove_stale_temps
from sealloss.io.checkpoint import load_checkpoint, save_checkpoint
from sealloss.io.weights import load_lossnet, pretrained_path, save_lossnet
from sealloss.nn import GraphormerLossNet, MLPLossNet
from sealloss.pose.canonical import CanonicalSpec, to_canonical_3d

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- checkpoints
class _Colour(enum.IntEnum):
    RED = 1


class _Label(str):
    pass


def test_numpy_scalar_checkpoint_saves_and_loads_back(tmp_path):
    """``best=np.float64(41.5)`` used to save and then be refused by ``load_checkpoint``."""
    p = save_checkpoint(tmp_path / "c.ckpt", best=np.float64(41.5), step=np.int64(7),
                        flag=np.bool_(True), nested={"a": [np.float32(0.5)]})
    ck = load_checkpoint(p)
    assert ck["best"] == 41.5 and type(ck["best"]) is float
    assert ck["step"] == 7 and type(ck["step"]) is int
    assert ck["flag"] is True and ck["nested"] == {"a": [0.5]}


@pytest.mark.parametrize(
    "value, where",
    [
        (_Colour.RED, r"states\['x'\] is a"),
        (_Label("a"), r"states\['x'\] is a"),
        (collections.namedtuple("P", "a b")(1, 2), r"states\['x'\] is a"),
        (collections.defaultdict(int, a=1), r"states\['x'\] is a"),
        (frozenset([1]), r"states\['x'\] is a"),
        (np.ones(2), r"states\['x'\] is a"),
        ({"k": {"deep": _Colour.RED}}, r"states\['x'\]\['k'\]\['deep'\]"),
    ],
)
def test_checkpoint_refuses_at_save_what_loading_would_refuse(tmp_path, value, where):
    with pytest.raises(TypeError, match=where):
        save_checkpoint(tmp_path / "c.ckpt", x=value)
    assert not (tmp_path / "c.ckpt").exists()


def test_everything_checkpoint_accepts_loads_back(tmp_path):
    states = {
        "od": collections.OrderedDict(w=torch.ones(2)), "p": torch.nn.Parameter(torch.ones(1)),
        "s": {1, 2}, "c": 1 + 2j, "b": b"x", "ba": bytearray(b"y"), "sz": torch.Size([2]),
        "dt": torch.float16, "dev": torch.device("cpu"), "keys": {(1, "a"): None, 2.5: True},
    }
    ck = load_checkpoint(save_checkpoint(tmp_path / "c.ckpt", **states))
    assert isinstance(ck["od"], collections.OrderedDict) and ck["s"] == {1, 2}
    assert ck["keys"] == {(1, "a"): None, 2.5: True}


def test_checkpoint_errors_have_their_own_type(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "none.ckpt")
    (tmp_path / "bad.ckpt").write_bytes(b"garbage")
    with pytest.raises(WeightsFileError, match="not a sealloss checkpoint"):  # old base kept
        load_checkpoint(tmp_path / "bad.ckpt")
    assert issubclass(CheckpointError, WeightsFileError)
    assert issubclass(CheckpointError, SealLossError) and issubclass(CheckpointError, ValueError)


# --------------------------------------------------------------------------- orphans
_KILLED_SAVE = """
import os, sys, time, torch
import sealloss.io.atomic as a
from sealloss.io.checkpoint import save_checkpoint
real = os.replace
def stall(src, dst):
    open(sys.argv[2], "w").close()  # the temporary file is complete: tell the parent
    time.sleep(60)
a.os.replace = stall
save_checkpoint(sys.argv[1], w=torch.zeros(256, 1024))
"""


def _temps(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def test_sigkill_during_save_leaves_an_orphan_that_the_next_save_removes(tmp_path):
    target, ready = tmp_path / "run.ckpt", tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(target), str(ready)],
                            env=env)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert proc.poll() is None, "the saving process died before the kill"
            assert time.time() < deadline, "the saving process never reached the rename"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans = _temps(target)
    assert len(orphans) == 1 and orphans[0].stat().st_size > 1_000_000  # full-size orphan
    assert not target.exists()
    save_checkpoint(target, epoch=1)
    assert _temps(target) == [] and load_checkpoint(target)["epoch"] == 1


def test_stale_temps_of_this_target_only_are_removed_on_load(tmp_path):
    target = tmp_path / "a.ckpt"
    save_checkpoint(target, epoch=0)
    old = time.time() - 3600
    stale = tmp_path / ".a.ckpt.k3j4h5g6.tmp"
    other = tmp_path / ".b.ckpt.k3j4h5g6.tmp"  # another target's
    longer = tmp_path / ".a.ckpt.x.k3j4h5g6.tmp"  # temp of target "a.ckpt.x"
    for f in (stale, other, longer):
        f.write_bytes(b"\0" * 1000)
        os.utime(f, (old, old))
    fresh = tmp_path / ".a.ckpt.zzzzzzzz.tmp"  # written after the load starts: kept
    assert load_checkpoint(target)["epoch"] == 0
    fresh.write_bytes(b"x")
    assert not stale.exists() and other.exists() and longer.exists() and fresh.exists()


def test_a_live_writers_temp_file_is_never_removed(tmp_path):
    """A concurrent writer (another rank) holds a lock on its temporary file until the rename."""
    fcntl = pytest.importorskip("fcntl")
    target = tmp_path / "w.safetensors"
    live = tmp_path / ".w.safetensors.abcdefgh.tmp"
    fd = os.open(live, os.O_CREAT | os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        old = time.time() - 3600
        os.utime(live, (old, old))
        assert remove_stale_temps(target) == [] and live.exists()
    finally:
        os.close(fd)
    assert remove_stale_temps(target) == [live] and not live.exists()


def test_one_atomic_write_for_checkpoints_and_weights(tmp_path):
    for mod in (ckpt_mod, hub_mod):
        src = Path(mod.__file__).read_text()
        assert "mkstemp" not in src and "os.replace(" not in src and "atomic_write(" in src
    assert atomic_write(tmp_path / "d" / "f.bin", b"ab", b"c").read_bytes() == b"abc"
    assert list((tmp_path / "d").iterdir()) == [tmp_path / "d" / "f.bin"]


# --------------------------------------------------------------------------- weights metadata
def _small_net() -> GraphormerLossNet:
    torch.manual_seed(0)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1)


def _edit_metadata(path: Path, out: Path, edit) -> None:
    """Rewrite a weights file's metadata with ``edit(meta)``, keeping the stored sha256 (what a
    hand edit of the JSON header does)."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    edit(header["__metadata__"])
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n :])


def _edit_config(path: Path, out: Path, **changes) -> None:
    def edit(meta):
        cfg = json.loads(meta["config"])
        cfg.update(changes)
        meta["config"] = json.dumps(cfg, sort_keys=True)

    _edit_metadata(path, out, edit)


def _resign(path: Path) -> None:
    """Recompute a version-2 digest after an edit (what a deliberate forger would do)."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    header["__metadata__"]["sha256"] = hub_mod._digest(2, header, blob[8 + n :])
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n :])


def test_edited_metadata_fails_the_checksum(tmp_path):
    p = save_lossnet(_small_net(), tmp_path / "n.safetensors")
    load_lossnet(p)
    out = tmp_path / "e.safetensors"
    units = json.dumps({"units_3d": "mm", "root": "detach", "screen_2d": True})
    edits = {
        "coord_scale": lambda: _edit_config(p, out, coord_scale=1.0),
        "units": lambda: _edit_metadata(p, out, lambda m: m.update(canonical=units)),
        "skeleton": lambda: _edit_metadata(
            p, out, lambda m: m.update(skeleton=m["skeleton"].replace('"Hip"', '"Pelvis"'))
        ),
    }
    for name, make in edits.items():
        make()
        assert out.read_bytes() != p.read_bytes(), name
        with pytest.raises(WeightsFileError, match=r"checksum \(sha256\) does not match"):
            load_lossnet(out)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("heads", 0, "heads must be in"),
        ("heads", 3, r"width \(16\) must be divisible by heads \(3\)"),
        ("max_hop", -5, "max_hop must be in"),
        ("width", 1_000_000, "width must be in"),
        ("layers", 0, "layers must be in"),
        ("coord_scale", -1.0, "coord_scale must be in"),
        ("coord_scale", 1e400, "'config' is not valid JSON.*Infinity"),
        ("width", "16", "width must be an integer"),
        ("mlp_ratio", 0, "mlp_ratio must be in"),
        ("activation", "relu", "activation 'relu' is not supported"),
        ("features", "colour", "unknown feature set"),
        ("bogus", 1, r"unknown config fields \['bogus'\]"),
    ],
)
def test_absurd_config_values_are_named_weights_errors(tmp_path, field, value, message):
    """Re-signed edits (valid checksum) still fail with the field named, never a
    ZeroDivisionError, a raw RuntimeError or a huge allocation."""
    p = save_lossnet(_small_net(), tmp_path / "n.safetensors")
    out = tmp_path / "e.safetensors"
    _edit_config(p, out, **{field: value})
    _resign(out)
    with pytest.raises(WeightsFileError, match=message):
        load_lossnet(out)


@pytest.mark.parametrize(
    "canonical, message",
    [
        ({"units_3d": "furlong", "root": "detach", "screen_2d": True}, "units_3d must be one of"),
        ({"units_3d": "m", "root": "detach", "screen_2d": "false"}, "screen_2d must be a bool"),
        ({"units_3d": "m", "root": "float"}, r"missing fields \['screen_2d'\]"),
    ],
)
def test_invalid_canonical_metadata_is_named(tmp_path, canonical, message):
    p = save_lossnet(_small_net(), tmp_path / "n.safetensors")
    out = tmp_path / "e.safetensors"
    _edit_metadata(p, out, lambda m: m.update(canonical=json.dumps(canonical)))
    _resign(out)
    with pytest.raises(WeightsFileError, match="metadata field 'canonical' is invalid.*" + message):
        load_lossnet(out)


def _as_v1(src: Path, out: Path) -> Path:
    """The version-1 file ``src`` was re-issued from (issue 23): same tensors and metadata,
    ``format_version`` 1 and the data-only digest."""
    blob = src.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    header["__metadata__"]["format_version"] = "1"
    header["__metadata__"]["sha256"] = hub_mod._digest(1, header, blob[8 + n :])
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n :])
    return out


def test_version_1_files_still_load_with_their_data_only_digest(tmp_path):
    if not pretrained_path("h36m17").is_file():
        pytest.skip("shipped h36m17 weights are not installed")
    # the shipped file is version 2 since issue 23; its version-1 release still loads
    shipped = _as_v1(pretrained_path("h36m17"), tmp_path / "v1.safetensors")
    assert hub_mod.read_metadata(shipped)["format_version"] == "1"
    net = load_lossnet(shipped)
    torch.manual_seed(0)
    x, y = torch.randn(4, 17, 2) * 0.2, torch.randn(4, 17, 3) * 0.2
    assert torch.isfinite(net.energy(x, y)).all()
    # re-saved in version 2 with identical tensors: bit-identical energies
    again = load_lossnet(save_lossnet(net, tmp_path / "v2.safetensors"))
    assert hub_mod.read_metadata(tmp_path / "v2.safetensors")["format_version"] == "2"
    assert torch.equal(again.energy(x, y), net.energy(x, y))
    # a version-1 file with edited data still fails its (data) checksum
    blob = bytearray(shipped.read_bytes())
    blob[-5] ^= 0xFF
    (tmp_path / "v1bad.safetensors").write_bytes(bytes(blob))
    with pytest.raises(WeightsFileError, match="checksum"):
        load_lossnet(tmp_path / "v1bad.safetensors")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: GraphormerLossNet(width=0), "width must be in"),
        (lambda: GraphormerLossNet(width=10**6), "width must be in"),
        (lambda: GraphormerLossNet(width=16, heads=0), "heads must be in"),
        (lambda: GraphormerLossNet(width=16, heads=3), "divisible by heads"),
        (lambda: GraphormerLossNet(layers=0), "layers must be in"),
        (lambda: GraphormerLossNet(max_hop=-5), "max_hop must be in"),
        (lambda: GraphormerLossNet(max_hop=0), "max_hop must be in"),
        (lambda: GraphormerLossNet(max_degree=0), "max_degree must be in"),
        (lambda: GraphormerLossNet(mlp_ratio=float("nan")), "mlp_ratio must be in"),
        (lambda: GraphormerLossNet(coord_scale=0.0), "coord_scale must be in"),
        (lambda: GraphormerLossNet(width=16.5), "width must be an integer"),
        (lambda: GraphormerLossNet(heads=True), "heads must be an integer"),
        (lambda: MLPLossNet(width=0), "width must be in"),
        (lambda: MLPLossNet(width=10**7), "width must be in"),
        (lambda: MLPLossNet(blocks=-1), "blocks must be in"),
        (lambda: MLPLossNet(activation="relu"), "not supported"),
    ],
)
def test_lossnet_hyperparameters_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --------------------------------------------------------------------------- units hints
def test_units_hints_tell_the_truth():
    y = torch.randn(8, 17, 3) * 0.3
    y[:, 0] = 0
    net = _small_net()
    x = torch.randn(8, 17, 2) * 0.2
    with pytest.warns(UnitsWarning) as rec:
        net.energy(x, y * 100)  # centimetres
    msg = str(rec[0].message)
    assert "centimetres" in msg and "millimetres" not in msg.split(":")[1]
    assert "units=" not in msg and "metres" in msg and "adapter=" in msg
    with pytest.warns(UnitsWarning, match="looks like millimetres") as rec:
        net.energy(x, y * 1000)
    assert "units=" not in str(rec[0].message)
    # to_canonical_3d does have a units argument, and says so
    with pytest.warns(UnitsWarning, match="looks like centimetres.*units='cm'"):
        to_canonical_3d(y * 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.energy(x, y)


def test_canonical_spec_validates_its_fields():
    with pytest.raises(ValueError, match="units_3d must be one of"):
        CanonicalSpec(units_3d="inch")
    with pytest.raises(ValueError, match="root must be one of"):
        CanonicalSpec(root="float")
    assert CanonicalSpec.from_dict(CanonicalSpec("mm").to_dict()) == CanonicalSpec("mm")


# --------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("bs", [0, -3, 2.5, True])
def test_scoring_batch_size_is_validated(bs):
    from sealloss.posthoc.scoring import joint_baseline, pose_energies, score_poses

    net, x, y = _small_net(), torch.randn(64, 17, 2) * 0.2, torch.randn(64, 17, 3) * 0.2
    for fn in (score_poses, pose_energies, joint_baseline):
        with pytest.raises(ValueError, match="batch_size must be"):
            fn(net, x, y, batch_size=bs)
    assert len(score_poses(net, x, y, batch_size=7)) == 64
    assert pose_energies(net, x, y, batch_size=7).shape == (64,)


def test_energy_threshold_and_flag_refuse_nan():
    from sealloss.errors import NonFiniteError
    from sealloss.posthoc.scoring import energy_threshold, score_poses

    with pytest.raises(NonFiniteError, match="reference_energy"):
        energy_threshold(torch.tensor([0.1, float("nan")]))
    scores = score_poses(_small_net(), torch.randn(4, 17, 2) * 0.2, torch.randn(4, 17, 3) * 0.2)
    with pytest.raises(ValueError, match="NaN"):
        scores.flag(float("nan"))


# --------------------------------------------------------------------------- metrics
def test_nan_in_position_metrics_is_a_clear_error():
    from sealloss.errors import NonFiniteError
    from sealloss.metrics import auc, mpjpe, n_mpjpe, p_mpjpe, pck

    gt = torch.randn(4, 17, 3)
    pred = gt + 0.01
    pred[1, 3, 0] = float("nan")
    for fn in (mpjpe, n_mpjpe, p_mpjpe, pck, auc):
        with pytest.raises(NonFiniteError, match="pred contains NaN"):
            fn(pred, gt)
        with pytest.raises(NonFiniteError, match="gt contains NaN"):
            fn(gt, pred)


def test_zero_length_gt_bone_in_bsle_ratio():
    from sealloss.errors import DegeneratePoseError
    from sealloss.metrics import bsle_ratio, bsle_ratio_stats, evaluate

    torch.manual_seed(0)
    gt = torch.randn(8, 17, 3) * 0.3
    pred = gt * 1.05
    gt[2, 2] = gt[2, 1]  # RHip -> RKnee bone of zero length
    with pytest.raises(DegeneratePoseError, match="sample 2, bone RHip-RKnee"):
        bsle_ratio(pred, gt, "h36m17")
    with pytest.raises(DegeneratePoseError):
        bsle_ratio_stats(pred, gt, "h36m17")
    masked = bsle_ratio(pred, gt, "h36m17", "none", per_bone=True, degenerate="mask")
    assert int(masked.isnan().sum()) == 1
    res = evaluate(pred, gt, "h36m17")
    assert 0.0 < res.summary["BSLE%"] < 100.0  # was ~1e15 from one bone


# --------------------------------------------------------------------------- CLI
def test_pretrain_checks_the_output_path_before_training(tmp_path, capsys, monkeypatch):
    import sealloss.training.pretrain as pretrain_mod
    from sealloss.cli.main import main

    def never(*a, **k):
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(pretrain_mod, "pretrain_lossnet", never)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    rc = main(["pretrain", "--quick", "--no-progress", "--out", str(blocker / "net.safetensors")])
    err = capsys.readouterr().err
    assert rc != 0 and "--out" in err and "cannot be written" in err
    rc = main(["pretrain", "--quick", "--no-progress", "--out", str(tmp_path / "ok.safetensors"),
               "--report", str(blocker / "r.json")])
    err = capsys.readouterr().err
    assert rc != 0 and "--report" in err and "cannot be written" in err


# --------------------------------------------------------------------------- data loaders
class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_npz_loader_never_runs_pickled_code(tmp_path):
    from sealloss.data._npz import load_npz_entry
    from sealloss.errors import DataFormatError

    good = {"Train/S1": {"Walk 1 chunk0": np.ones((3, 15, 3), np.float32)}, "n": [1, "a"]}
    np.savez(tmp_path / "ok.npz", positions_3d=np.array(good, dtype=object))
    back = load_npz_entry(tmp_path / "ok.npz", "positions_3d")
    assert np.array_equal(back["Train/S1"]["Walk 1 chunk0"], good["Train/S1"]["Walk 1 chunk0"])
    assert back["n"] == [1, "a"]
    np.savez(tmp_path / "evil.npz", positions_3d=np.array({"x": _Boom()}, dtype=object))
    with pytest.raises(DataFormatError, match="posix.system|os.system"):
        load_npz_entry(tmp_path / "evil.npz", "positions_3d")
    with pytest.raises(DataFormatError, match=r"no entry 'nope' \(entries: \['positions_3d'\]\)"):
        load_npz_entry(tmp_path / "ok.npz", "nope")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError, match="not a readable .npz archive"):
        load_npz_entry(tmp_path / "bad.npz", "positions_3d")


def test_no_loader_unpickles_with_numpy():
    for f in (REPO / "sealloss" / "data").glob("[!_]*.py"):
        assert "allow_pickle=True)" not in f.read_text(), f.name


def test_humaneva_loader_reads_the_real_files_without_pickle(monkeypatch):
    from sealloss.data.humaneva import humaneva_pairs
    from sealloss.data.paths import find_data_file

    root = os.environ.get("SEALLOSS_DATA", "/work/shared/data")
    try:
        find_data_file("data_3d_humaneva15.npz", "humaneva", root)
    except Exception:
        pytest.skip("HumanEva-I files not in $SEALLOSS_DATA")

    def refuse(*a, **k):
        if k.get("allow_pickle"):
            raise AssertionError("np.load(allow_pickle=True) called")
        return real(*a, **k)

    real = np.load
    monkeypatch.setattr(np, "load", refuse)
    pairs = humaneva_pairs(root, subjects=("S1",), actions="Walking", cameras=[0])
    assert pairs["x2d"].shape[1:] == (15, 2) and np.isfinite(pairs["y3d"]).all()


_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 3 Xposition Yposition Zposition
  End Site
  {
    OFFSET 0 1 0
  }
}
MOTION
Frames: 2
Frame Time: %s
%s
"""


@pytest.mark.parametrize(
    "frame_time, values, message",
    [
        ("0", "0 0 0\n1 1 1", "'Frame Time' must be a positive"),
        ("-0.01", "0 0 0\n1 1 1", "'Frame Time' must be a positive"),
        ("nan", "0 0 0\n1 1 1", "'Frame Time' must be a positive"),
        ("abc", "0 0 0\n1 1 1", "bad frame time"),
        ("0.01", "0 nan 0\n1 1 1", "non-finite values"),
        ("0.01", "0 0 0\n1 x 1", "not a number"),
    ],
)
def test_bvh_bad_motion_header_and_values(frame_time, values, message):
    from sealloss.data.bvh import BVHParseError, parse_bvh

    with pytest.raises(BVHParseError, match=message):
        parse_bvh(_BVH % (frame_time, values))
    assert parse_bvh(_BVH % ("0.01", "0 0 0\n1 1 1")).fps == pytest.approx(100.0)


def _h36m_copy(tmp_path: Path, **override) -> Path:
    src = Path(os.environ.get("SEALLOSS_DATA", "/work/shared/data")) / "h36m"
    if not (src / "h36m_3d17_world_10hz.npz").is_file():
        pytest.skip("Human3.6M files not in $SEALLOSS_DATA")
    dst = tmp_path / "h36m"
    dst.mkdir()
    (dst / "h36m_cameras.json").write_bytes((src / "h36m_cameras.json").read_bytes())
    with np.load(src / "h36m_3d17_world_10hz.npz") as z:
        d = {k: z[k] for k in z.files}
    d["positions_3d"] = d["positions_3d"][:2000]
    d["seq_id"], d["frame_index_50hz"] = d["seq_id"][:2000], d["frame_index_50hz"][:2000]
    d.update(override.get("fn", lambda d: {})(d))
    np.savez(dst / "h36m_3d17_world_10hz.npz", **d)
    return dst


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda d: {"positions_3d": d["positions_3d"][:, :16]}, r"must be \(N, 17, 3\)"),
        (lambda d: {"positions_3d": d["positions_3d"] / 1000, "units": np.array("mm")},
         "looks like metres"),
        (lambda d: {"units": np.array("m")}, "units entry is 'm'"),
        (lambda d: {"positions_3d": np.where(np.arange(17)[None, :, None] == 3, np.nan,
                                             d["positions_3d"])}, "NaN/Inf"),
    ],
)
def test_h36m_file_with_wrong_joints_units_or_values_is_refused(tmp_path, fn, message):
    from sealloss.data.h36m import load_h36m
    from sealloss.errors import DataFormatError

    root = _h36m_copy(tmp_path, fn=fn)
    with pytest.raises(DataFormatError, match=message):
        load_h36m(root)


def test_h36m_damaged_archive_or_missing_entry(tmp_path):
    from sealloss.data.h36m import load_h36m
    from sealloss.errors import DataFormatError

    root = _h36m_copy(tmp_path, fn=lambda d: {})
    assert load_h36m(root).positions_world.shape == (2000, 17, 3)
    f = root / "h36m_3d17_world_10hz.npz"
    with np.load(f) as z:
        d = {k: z[k] for k in z.files if k != "seq_action"}
    np.savez(f, **d)
    with pytest.raises(DataFormatError, match="no entry 'seq_action'"):
        load_h36m(root)
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(DataFormatError):
        load_h36m(root)
