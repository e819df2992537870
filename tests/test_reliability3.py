"""Reliability, third pass (issue 23): each example of the issue, one class per section.

Rows in docs/RELIABILITY.md ("Third pass" table) point here. The file was run against the code
before the fix (commit 692a99a, with the shipped weights as they were there): 62 of its tests
failed, each for the reason it guards. Four passed there and stay as guards of the policy:
``test_score_writes_exactly_the_name_given_and_prints_it[.npz]`` and ``[.csv]`` (a name with
the right suffix was written as given), ``test_a_known_v1_release_still_loads`` (the v1 release
loaded) and ``test_equal_batches_keep_their_numbers`` (equal batch sizes: nothing to change).
``test_a_huge_config_is_refused_before_any_allocation`` was not run against the old code (it
would have allocated tens of GB on a shared machine); it fails there by construction: the old
``load_lossnet`` built the real net before comparing any shape, which the test's stand-in for
``build_lossnet`` refuses.
"""

from __future__ import annotations

import errno
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import sealloss.io.weights as hub_mod
from sealloss.cli.main import main
from sealloss.data.cameras import load_h36m_cameras
from sealloss.data.embedded import load_embedded
from sealloss.errors import (
    DataFormatError,
    NonFiniteError,
    PoseShapeError,
    UnitsWarning,
    WeightsFileError,
)
from sealloss.io.weights import load_lossnet, pretrained_path, save_lossnet
from sealloss.metrics import PoseEvaluator, evaluate
from sealloss.nn import MLPLossNet
from sealloss.posthoc.refinement import refine
from sealloss.training.settings import build_wrapper
from sealloss.training.wrapper import AlternatingWrapper

torch.set_num_threads(1)


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """32 real (2D screen, 3D root-relative metres) pairs of the embedded CMU test clip."""
    d = load_embedded("test")
    idx = np.linspace(0, d["x2d"].shape[0] - 1, 32).astype(int)
    return torch.from_numpy(d["x2d"][idx]), torch.from_numpy(d["y3d"][idx])


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=32, blocks=1)
    return save_lossnet(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture()
def poses_file(tmp_path: Path, pairs) -> Path:
    x, y = pairs
    p = tmp_path / "preds.npz"
    np.savez(p, x2d=x.numpy(), pred=(y + 0.01).numpy(), gt=y.numpy())
    return p


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error(capsys, *argv: str) -> str:
    rc, _, err = _run(capsys, *argv)
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _rewrite_header(path: Path, out: Path, edit, version: int | None = None) -> Path:
    """Edit a weights file's metadata with ``edit(meta)`` and re-sign it (what a forger does):
    ``version`` 1 writes the data-only digest, 2 the full one, ``None`` keeps the stored one."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    edit(header["__metadata__"])
    if version is not None:
        header["__metadata__"]["sha256"] = hub_mod._digest(version, header, blob[8 + n :])
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n :])
    return out


def _cmds(poses: Path, weights: Path, out: Path) -> dict[str, list[str]]:
    return {
        "refine": ["refine", poses, "--weights", weights, "--steps", "1", "--no-progress",
                   "--out", out],
        "score": ["score", poses, "--weights", weights, "--no-progress", "--out", out],
        "evaluate": ["evaluate", poses, "--json", out],
    }


# ============================================================ 1. a command destroys its input
@pytest.mark.parametrize("command", ["refine", "score", "evaluate"])
@pytest.mark.parametrize("how", ["same", "symlink", "relative"])
def test_cli_never_writes_over_its_own_input(capsys, tmp_path, poses_file, weights, command,
                                             how):
    before = poses_file.read_bytes()
    if how == "same":
        out = poses_file
    elif how == "symlink":
        out = tmp_path / "link.npz"
        out.symlink_to(poses_file)
    else:
        out = Path(os.path.relpath(poses_file.parent / "sub" / ".." / poses_file.name))
        (poses_file.parent / "sub").mkdir()
    line = _error(capsys, *_cmds(poses_file, weights, out)[command])
    assert "same file as the input" in line and "would destroy" in line
    assert poses_file.read_bytes() == before


def test_cli_refuses_an_output_that_is_a_hard_link_of_the_input(capsys, tmp_path, poses_file,
                                                                weights):
    out = tmp_path / "hard.npz"
    os.link(poses_file, out)
    before = poses_file.read_bytes()
    line = _error(capsys, *_cmds(poses_file, weights, out)["refine"])
    assert "same file as the input" in line and poses_file.read_bytes() == before


def test_cli_refuses_an_output_that_is_the_weights_file(capsys, tmp_path, poses_file, weights):
    before = weights.read_bytes()
    line = _error(capsys, "score", poses_file, "--weights", weights, "--no-progress", "--plot",
                  weights)
    assert "same file as the input" in line and weights.read_bytes() == before


def test_score_out_with_another_suffix_is_refused_not_renamed(capsys, tmp_path, poses_file,
                                                              weights):
    out = tmp_path / "s.txt"
    line = _error(capsys, "score", poses_file, "--weights", weights, "--no-progress", "--out",
                  out)
    assert "--out" in line and ".npz or .csv" in line and "exactly the name given" in line
    assert not out.exists() and not Path(str(out) + ".npz").exists()


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_score_writes_exactly_the_name_given_and_prints_it(capsys, tmp_path, poses_file,
                                                           weights, suffix):
    out = tmp_path / f"scores{suffix}"
    rc, text, err = _run(capsys, "score", poses_file, "--weights", weights, "--no-progress",
                         "--out", out)
    assert rc == 0, err
    assert f"wrote {out}\n" in text and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["preds.npz", out.name])


# ============================================================ 2. writes that are not atomic
def _broken_savez(file, *args, **kwargs):
    """np.savez that dies half way (a full disk), after writing part of a zip."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
    else:
        file.write(b"PK\x03\x04 half a zip")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", ["refine", "score"])
def test_a_failed_write_keeps_the_previous_output(capsys, monkeypatch, tmp_path, poses_file,
                                                  weights, command):
    out = tmp_path / "out.npz"
    np.savez(out, marker=np.arange(3))
    monkeypatch.setattr(np, "savez", _broken_savez)
    line = _error(capsys, *_cmds(poses_file, weights, out)[command])
    assert "No space left" in line
    monkeypatch.undo()
    with np.load(out) as z:  # the old, good file is still there
        assert z["marker"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_evaluate_json_is_written_atomically(capsys, monkeypatch, tmp_path, poses_file):
    out = tmp_path / "res.json"
    out.write_text('{"old": true}')
    import sealloss.io.atomic as atomic

    def fail(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail)
    line = _error(capsys, "evaluate", poses_file, "--json", out)
    assert "No space left" in line and json.loads(out.read_text()) == {"old": True}


# ============================================================ 3. wrong kinds of value
def _static(**kw) -> AlternatingWrapper:
    kw.setdefault("log_every", 10**9)
    return build_wrapper(lossnet="h36m17", **kw)


@pytest.mark.parametrize("bad", ["long", "complex", "bool"])
def test_wrapper_refuses_integer_bool_and_complex_poses(pairs, bad):
    x, y = pairs[0][:8], pairs[1][:8]
    dtype = {"long": torch.long, "complex": torch.complex64, "bool": torch.bool}[bad]
    yb = (y * 1000).to(dtype) if bad == "long" else y.to(dtype)
    seal = _static()
    with pytest.raises(PoseShapeError, match="must be a floating tensor"):
        seal(torch.tensor(0.1), x, yb, y)
    with pytest.raises(PoseShapeError, match="must be a floating tensor"):
        seal.unlabeled(x, yb)
    assert seal.steps == 0 and seal.unlabeled_steps == 0


def test_complex_predictions_are_refused_everywhere(pairs):
    x, y = pairs[0][:4], pairs[1][:4]
    yc = y.to(torch.complex64) + 1j * 0.1
    with pytest.raises(PoseShapeError, match="complex"):
        _static()(torch.tensor(0.1), x, yc, y)
    with pytest.raises(PoseShapeError, match="complex"):
        load_lossnet("h36m17").energy(x, yc)


def test_heat_map_2d_is_refused_by_refine_and_the_wrapper(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    heat = x * 32  # a 64 x 64 heat map's units: |x| up to about 20-32
    assert 10 < float(heat.abs().max()) < 50
    with pytest.raises(PoseShapeError, match="heat-map"):
        refine(load_lossnet("h36m17-dsm"), heat, y, steps=1)
    with pytest.raises(PoseShapeError, match="heat-map"):
        _static()(torch.tensor(0.1), heat, y + 0.01, y)


@pytest.mark.parametrize("size, message", [(("-1000", "1000"), "two numbers > 0"),
                                           (("0", "0"), "two numbers > 0"),
                                           (("10", "10"), "is --image-size the size")])
@pytest.mark.parametrize("command", ["refine", "score"])
def test_image_size_is_checked(capsys, tmp_path, pairs, weights, command, size, message):
    x, y = pairs
    p = tmp_path / "px.npz"
    np.savez(p, x2d=((x.numpy() + 1) * 500), pred=y.numpy())
    argv = _cmds(p, weights, tmp_path / "o.npz")[command] + ["--image-size", *size]
    line = _error(capsys, *argv)
    assert "--image-size" in line and message in line and "NaN" not in line


def test_predictions_in_metres_against_millimetre_ground_truth(capsys, tmp_path, pairs):
    y = pairs[1]
    gt_mm, pred_m = y * 1000, y + 0.01
    with pytest.warns(UnitsWarning, match="different units"):
        res = evaluate(pred_m, gt_mm, "h36m17", units="mm")
    assert res.summary["MPJPE"] > 100  # what it reports: the ground truth's own size
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        evaluate(gt_mm + 10, gt_mm, "h36m17", units="mm")  # same units: no warning
    p = tmp_path / "mixed.npz"
    np.savez(p, pred=pred_m.numpy(), gt=gt_mm.numpy())
    line = _error(capsys, "evaluate", p, "--units", "mm")
    assert "predictions" in line and "same units" in line


@pytest.mark.parametrize("value", [-5, 3.7, "7", True, None])
def test_wrapper_state_counters_must_be_integers(value):
    seal = _static(mode="warm")
    state = seal.state_dict()
    state["energy"]["steps"] = value
    before = seal.state_dict()
    with pytest.raises(ValueError, match="'steps' must be an integer >= 0"):
        seal.load_state_dict(state)
    assert seal.steps == before["energy"]["steps"] == 0


@pytest.mark.parametrize("part, key, value, message", [
    ("lam", "value", "0.5", "value must be a number"),
    ("lam", "value", -1.0, "value must be a number"),
    ("lam", "ema_ratio", math.inf, "ema_ratio must be None or a finite number"),
    ("energy", "sup_norm", "1", "'sup_norm' must be None or a finite number"),
])
def test_wrapper_state_values_are_checked(part, key, value, message):
    seal = _static()
    state = seal.state_dict()
    state[part][key] = value
    with pytest.raises(ValueError, match=message):
        seal.load_state_dict(state)


def test_sgd_lossnet_optimizer_state_is_refused_by_an_adam_wrapper(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=32, blocks=1)
    sgd = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    a = build_wrapper(lossnet=net, mode="dynamic", lossnet_optimizer=sgd, log_every=10**9)
    yh = (y + 0.02).requires_grad_(True)
    a(torch.tensor(0.1, requires_grad=True), x, yh, y)
    torch.manual_seed(0)
    b = build_wrapper(lossnet=MLPLossNet("h36m17", width=32, blocks=1), mode="dynamic",
                           log_every=10**9)
    weights_before = [p.detach().clone() for p in b.lossnet.parameters()]
    with pytest.raises(ValueError, match="another kind of optimizer.*momentum"):
        b.load_state_dict(a.state_dict())
    assert all(torch.equal(p, q) for p, q in zip(b.lossnet.parameters(), weights_before))
    yh = (y + 0.02).requires_grad_(True)
    b(torch.tensor(0.1, requires_grad=True), x, yh, y)  # still trains
    assert b.lossnet_updates == 1


# ============================================================ 4. weights: values and format
def _nan_net() -> MLPLossNet:
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=32, blocks=1)
    with torch.no_grad():
        next(net.parameters())[0, 0] = float("nan")
    return net


def test_a_lossnet_with_nan_weights_is_neither_saved_nor_loaded(tmp_path, weights):
    with pytest.raises(NonFiniteError, match="non-finite weights"):
        save_lossnet(_nan_net(), tmp_path / "nan.safetensors")
    assert not (tmp_path / "nan.safetensors").exists()
    # a file holding NaN (written by something else, correctly signed) is refused on load
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    blob = weights.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8 : 8 + n])["__metadata__"]
    tensors = st_load(blob)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    bad = tmp_path / "nan2.safetensors"
    bad.write_bytes(st_save(tensors, meta))
    _rewrite_header(bad, bad, lambda m: None, version=2)
    with pytest.raises(WeightsFileError, match=f"tensor '{name}' holds 1 NaN/Inf"):
        load_lossnet(bad)


def test_the_shipped_weights_are_format_version_2():
    for name in ("h36m17", "h36m17-dsm"):
        if not pretrained_path(name).is_file():
            pytest.skip(f"shipped {name} weights are not installed")
        assert hub_mod.read_metadata(name)["format_version"] == "2"


def test_a_v2_file_relabelled_as_v1_with_edited_units_is_refused(tmp_path):
    src = pretrained_path("h36m17")
    if not src.is_file():
        pytest.skip("shipped h36m17 weights are not installed")
    canonical = json.dumps({"units_3d": "cm", "root": "detach", "screen_2d": True})

    def relabel(m):
        m["format_version"] = "1"
        m["canonical"] = canonical

    forged = _rewrite_header(src, tmp_path / "forged.safetensors", relabel, version=1)
    with pytest.raises(WeightsFileError, match="format_version 1.*cannot be verified"):
        load_lossnet(forged)
    with pytest.raises(WeightsFileError, match="not a known sealloss release"):
        hub_mod.read_metadata(forged)
    # the caller may vouch for a v1 file it wrote itself
    net = load_lossnet(forged, trust_v1_metadata=True)
    assert net.spec.units_3d == "cm"


def test_a_known_v1_release_still_loads(tmp_path):
    src = pretrained_path("h36m17")
    if not src.is_file():
        pytest.skip("shipped h36m17 weights are not installed")
    v1 = _rewrite_header(src, tmp_path / "v1.safetensors",
                         lambda m: m.update(format_version="1"), version=1)
    x, y = torch.zeros(2, 17, 2), torch.zeros(2, 17, 3)
    x[:, 1:, 0], y[:, 1:, 2] = 0.1, 0.1
    assert torch.equal(load_lossnet(v1).energy(x, y), load_lossnet("h36m17").energy(x, y))


def test_the_reissued_weights_hold_the_same_tensors():
    """Format v2 changed the container only: the tensors are those of the v1 release."""
    src = pretrained_path("h36m17")
    if not src.is_file():
        pytest.skip("shipped h36m17 weights are not installed")
    blob = src.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    import hashlib

    data_digest = hashlib.sha256(blob[8 + n :]).hexdigest()
    assert data_digest in hub_mod.KNOWN_V1_RELEASES


def test_a_huge_config_is_refused_before_any_allocation(tmp_path, weights, monkeypatch):
    real_build = hub_mod.build_lossnet

    def build_on_meta_only(config):
        if torch.empty(0).device.type != "meta" and config.get("width") == 8192:
            raise AssertionError("the real net was built before its shapes were checked")
        return real_build(config)

    monkeypatch.setattr(hub_mod, "build_lossnet", build_on_meta_only)

    def edit(m):
        cfg = json.loads(m["config"])
        cfg.update(width=8192, blocks=128)
        m["config"] = json.dumps(cfg, sort_keys=True)

    huge = _rewrite_header(weights, tmp_path / "huge.safetensors", edit, version=2)
    t0 = time.perf_counter()
    with pytest.raises(WeightsFileError, match="do not match the architecture.*before building"):
        load_lossnet(huge)
    assert time.perf_counter() - t0 < 20


# ============================================================ 5. errors that blame the wrong thing
def test_refine_in_float16_blames_the_dtype(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    with pytest.raises(PoseShapeError, match="float16") as e:
        refine(load_lossnet("h36m17-dsm"), x.half(), (y + 0.01).half(), steps=3)
    assert "contains NaN" not in str(e.value)


def test_refine_with_a_nan_weight_net_blames_the_net(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    with pytest.raises(NonFiniteError, match="loss-net has non-finite weights") as e:
        refine(_nan_net(), x, y + 0.01, steps=3)
    assert "3D pose" not in str(e.value)


@pytest.mark.parametrize("kind", ["folder", "read-only"])
def test_refine_refuses_a_bad_out_before_any_work(capsys, monkeypatch, tmp_path, poses_file,
                                                  weights, kind):
    import sealloss.io.weights

    def no_work(*a, **k):
        raise AssertionError("the loss-net was loaded before --out was checked")

    monkeypatch.setattr(sealloss.io.weights, "load_lossnet", no_work)
    out = tmp_path / "o.npz"
    if kind == "folder":
        out.mkdir()
    else:
        np.savez(out, marker=np.ones(1))
        out.chmod(0o444)
    line = _error(capsys, *_cmds(poses_file, weights, out)["refine"])
    assert "--out" in line and ("folder" if kind == "folder" else "read-only") in line
    assert out.is_dir() if kind == "folder" else np.load(out)["marker"].tolist() == [1.0]


@pytest.mark.parametrize("option", ["lam", "target_force_ratio"])
@pytest.mark.parametrize("bad", ["abc", None])
def test_a_schedule_returning_a_non_number_names_the_option(pairs, option, bad):
    x, y = pairs[0][:8], pairs[1][:8]
    kw = {"lam": lambda s: bad} if option == "lam" else {"lam": "auto",
                                                          "target_force_ratio": lambda s: bad}
    seal = _static(**kw)
    yh = (y + 0.01).requires_grad_(True)
    with pytest.raises(TypeError, match=f"{option}: the schedule returned {bad!r} .* at step 0"):
        seal((yh - y).norm(dim=-1).mean(), x, yh, y)
    assert seal.steps == 0


@pytest.mark.parametrize("bad, message", [
    ("numpy", "torch.from_numpy"),
    ("float", "loss_sup must be the supervised loss as a 0-dim torch.Tensor"),
    ("per-sample", "reduce a per-sample loss"),
])
def test_numpy_inputs_and_a_bad_supervised_loss_are_named(pairs, bad, message):
    x, y = pairs[0][:8], pairs[1][:8]
    yh = (y + 0.01).requires_grad_(True)
    loss = (yh - y).norm(dim=-1).mean()
    seal = _static()
    if bad == "numpy":
        args = (loss, x.numpy(), yh, y)
    elif bad == "float":
        args = (float(loss), x, yh, y)
    else:
        args = ((yh - y).norm(dim=-1).mean(-1), x, yh, y)
    with pytest.raises(PoseShapeError, match=message):
        seal(*args)
    assert seal.steps == 0


def test_an_empty_input_to_evaluate_says_so(capsys, tmp_path):
    empty = torch.zeros(0, 17, 3)
    with pytest.raises(PoseShapeError, match="no poses to evaluate"):
        evaluate(empty, empty, "h36m17")
    with pytest.raises(ValueError, match="no poses to summarise"):
        PoseEvaluator("h36m17").compute()
    p = tmp_path / "empty.npz"
    np.savez(p, pred=empty.numpy(), gt=empty.numpy())
    line = _error(capsys, "evaluate", p)
    assert "holds no poses" in line and "compute()" not in line


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"cameras": {}}', "layout"),
    ('{"camera_order": ["1"], "cameras": {"S1": {"1": {"R": [[1,0,0],[0,1,0],[0,0,1]]}}}}',
     r"cameras\['S1'\]\['1'\] lacks the fields"),
])
def test_a_corrupt_camera_file_is_a_named_data_error(tmp_path, content, message):
    p = tmp_path / "cams.json"
    p.write_text(content)
    with pytest.raises(DataFormatError, match=message) as e:
        load_h36m_cameras(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("kind, message", [("foreign", "lacks the entries"),
                                           ("damaged", "damaged"),
                                           ("pickle", "without unpickling")])
def test_a_foreign_file_to_load_embedded_is_a_named_data_error(tmp_path, kind, message):
    p = tmp_path / "other.npz"
    if kind == "foreign":
        np.savez(p, x=np.ones(3))
    elif kind == "damaged":
        p.write_bytes(b"PK\x03\x04 not really")
    else:
        np.savez(p, obj=np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=message):
        load_embedded("train", path=p)


# ============================================================ 6. the unlabeled path
def _semi(**kw) -> AlternatingWrapper:
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=32, blocks=1)
    return build_wrapper(lossnet=net, mode="static", lam=0.1, lam_unlabeled="auto",
                              lam_ema=0.0, score_fraction=1.0, log_every=10**9, **kw)


def test_a_larger_unlabeled_batch_gets_the_intended_pull_per_pose(pairs):
    """The unlabeled batch repeats the labeled poses 8 times: each pose must get the pull of
    the equal-size case (lam_unlabeled 8 times larger), not 1/sqrt(8) of it."""
    x, y = pairs[0][:8], pairs[1][:8]
    lams, grads = {}, {}
    for k in (1, 8):
        seal = _semi()
        yh = (y + 0.02).requires_grad_(True)
        seal((yh - y).norm(dim=-1).mean(), x, yh, y)
        xu, yu = x.repeat(k, 1, 1), (y + 0.03).repeat(k, 1, 1).requires_grad_(True)
        seal.unlabeled(xu, yu)  # measures the force and sets lam_unlabeled
        lams[k] = seal.lam_unlabeled
        yu2 = (y + 0.03).repeat(k, 1, 1).requires_grad_(True)
        seal.unlabeled(xu, yu2).backward()
        grads[k] = yu2.grad[:8]
    assert lams[8] / lams[1] == pytest.approx(8.0, rel=1e-3)
    assert torch.allclose(grads[8], grads[1], rtol=1e-3, atol=1e-9)


def test_equal_batches_keep_their_numbers(pairs):
    """Equal sizes: the per-pose factor is not applied at all, so lam_unlabeled is bit for bit
    what it was without it (``_sup_n = None`` is the path without the factor)."""
    x, y = pairs[0][:8], pairs[1][:8]
    lams = []
    for drop_factor in (False, True):
        seal = _semi()
        yh = (y + 0.02).requires_grad_(True)
        seal((yh - y).norm(dim=-1).mean(), x, yh, y)
        if drop_factor:
            seal.energy._sup_n = None  # the path without the factor
        seal.unlabeled(x, (y + 0.03).requires_grad_(True))
        lams.append(seal.lam_unlabeled)
    assert lams[0] == lams[1]


def test_unlabeled_auto_without_a_labeled_call_warns(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    seal = _semi()
    with pytest.warns(RuntimeWarning, match="no labeled call has been made yet"):
        seal.unlabeled(x, (y + 0.03).requires_grad_(True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        seal.unlabeled(x, (y + 0.03).requires_grad_(True))  # once per wrapper
    assert seal.lam_unlabeled == seal.lam_unlabeled_control.init


def test_a_raising_target_schedule_changes_nothing_in_dynamic_mode(pairs):
    x, y = pairs[0][:8], pairs[1][:8]

    def target(step: int) -> float:
        if step == 1:
            raise RuntimeError("schedule broke")
        return 0.1

    torch.manual_seed(0)
    seal = build_wrapper(lossnet=MLPLossNet("h36m17", width=32, blocks=1), mode="dynamic",
                              lam="auto", target_force_ratio=target, log_every=10**9)
    yh = (y + 0.02).requires_grad_(True)
    seal((yh - y).norm(dim=-1).mean(), x, yh, y)
    before = [p.detach().clone() for p in seal.lossnet.parameters()]
    gen = seal.generator.get_state()
    yh = (y + 0.02).requires_grad_(True)
    with pytest.raises(RuntimeError, match="schedule broke"):
        seal((yh - y).norm(dim=-1).mean(), x, yh, y)
    assert seal.steps == 1 and seal.lossnet_updates == 1
    assert all(torch.equal(p, q) for p, q in zip(seal.lossnet.parameters(), before))
    assert torch.equal(seal.generator.get_state(), gen)
