"""The ``sealloss`` command line: every sub-command end to end on tiny data, plus bad input
(exit status 2 and one line naming the problem)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sealloss.cli.main import main
from sealloss.io.weights import load_lossnet, save_lossnet
from sealloss.nn import GraphormerLossNet

J = 17


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err: str, command: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sealloss {command}: error: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def _gt(n: int = 6, seed: int = 0, joints: int = J) -> np.ndarray:
    g = np.random.default_rng(seed)
    y = g.normal(scale=0.2, size=(n, joints, 3)).astype(np.float32)
    return y - y[:, :1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    return save_lossnet(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


# --------------------------------------------------------------------------- entry point
def test_console_script_bad_input() -> None:
    """The installed entry point runs; a missing file is exit 2 with one line."""
    exe = shutil.which("sealloss")
    cmd = [exe] if exe else [sys.executable, "-m", "sealloss.cli.main"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*cmd, "info", "/no/such/file.safetensors"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2
    _one_line_error(r.stderr, "info", "/no/such/file.safetensors")


def test_top_level_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for sub in ("demo", "pretrain", "evaluate", "score", "info"):
        assert sub in out


@pytest.mark.parametrize("sub", ["demo", "pretrain", "evaluate", "score", "info"])
def test_each_command_has_help(sub: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0
    assert f"usage: sealloss {sub}" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# --------------------------------------------------------------------------- evaluate
def test_evaluate_hand_computed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = _gt()
    pred = gt.copy()
    pred[:, 1:, 0] += 0.010  # every non-root joint 10 mm off along x
    acts = np.array(["Walk", "Walk", "Walk", "Sit", "Sit", "Sit"])
    f = tmp_path / "p.npz"
    np.savez(f, pred=pred, gt=gt, actions=acts)
    out_json = tmp_path / "r.json"
    rc, out, _ = _run(capsys, "evaluate", str(f), "--json", str(out_json), "--per-joint")
    assert rc == 0
    res = json.loads(out_json.read_text())
    assert res["summary"]["MPJPE"] == pytest.approx(10.0 * 16 / 17, abs=1e-3)
    assert res["summary"]["BSLE"] >= 0 and res["count"] == 6
    assert set(res["per_action"]) == {"Sit", "Walk"}
    assert "Walk" in out and "All" in out and "LWrist" in out
    # same in millimetres, from two .npy files
    np.save(tmp_path / "p.npy", pred * 1000)
    np.save(tmp_path / "g.npy", gt * 1000)
    rc, out, _ = _run(capsys, "evaluate", str(tmp_path / "p.npy"), "--gt",
                      str(tmp_path / "g.npy"), "--units", "mm", "--json", str(out_json))
    assert rc == 0
    assert json.loads(out_json.read_text())["summary"]["MPJPE"] == pytest.approx(
        10.0 * 16 / 17, abs=1e-3)


def test_evaluate_other_preset_skeleton(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = _gt(4, joints=15)
    pred = gt.copy()
    pred[:, 1:, 2] -= 0.03
    np.savez(tmp_path / "he.npz", pred=pred, gt=gt)
    rc, out, _ = _run(capsys, "evaluate", str(tmp_path / "he.npz"), "--skeleton", "humaneva15",
                      "--json", str(tmp_path / "r.json"))
    assert rc == 0 and "humaneva15 (15 joints)" in out
    mpjpe = json.loads((tmp_path / "r.json").read_text())["summary"]["MPJPE"]
    assert mpjpe == pytest.approx(30.0 * 14 / 15, abs=1e-3)


def test_evaluate_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    np.savez(tmp_path / "wrong.npz", pred=_gt(3, joints=16), gt=_gt(3, joints=16))
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "wrong.npz"))
    assert rc == 2
    _one_line_error(err, "evaluate", "17", "(3, 16, 3)")
    np.savez(tmp_path / "nogt.npz", pred=_gt(3))
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "nogt.npz"))
    assert rc == 2
    _one_line_error(err, "evaluate", "'gt'", "['pred']")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "junk.npz"))
    assert rc == 2
    _one_line_error(err, "evaluate", "cannot read")
    nan = _gt(3)
    nan[1, 4, 0] = np.nan
    np.savez(tmp_path / "nan.npz", pred=nan, gt=_gt(3))
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "nan.npz"))
    assert rc == 2
    _one_line_error(err, "evaluate", "NaN")


# --------------------------------------------------------------------------- score
def test_score_matches_the_loss_net(tmp_path: Path, weights: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    gt = _gt(8, seed=1)
    pred = gt + np.random.default_rng(2).normal(scale=0.03, size=gt.shape).astype(np.float32)
    x2d = np.random.default_rng(3).uniform(-0.4, 0.4, size=(8, J, 2)).astype(np.float32)
    f = tmp_path / "poses.npz"
    np.savez(f, x2d=x2d, pred=pred, gt=gt)
    rc, out, _ = _run(capsys, "score", str(f), "--weights", str(weights), "--top", "3",
                      "--out", str(tmp_path / "s.npz"), "--no-progress")
    assert rc == 0
    s = np.load(tmp_path / "s.npz")
    net = load_lossnet(weights)
    with torch.no_grad():
        want = net(torch.from_numpy(x2d), torch.from_numpy(pred)).energy.numpy()
        e_gt = net(torch.from_numpy(x2d), torch.from_numpy(gt)).energy.numpy()
    np.testing.assert_allclose(s["energy"], want, rtol=1e-5, atol=1e-6)
    assert s["ranking"].tolist() == np.argsort(-want, kind="stable").tolist()
    assert s["blame"].shape == (8, J) and (s["blame"][:, 0] == 0).all()  # root never blamed
    thr = float(np.quantile(e_gt.astype(np.float64), 0.95))
    assert float(s["reference_threshold"]) == pytest.approx(thr, rel=1e-5)
    assert int(s["reference_flagged"].sum()) == int((want > thr).sum())
    # the default flag: the least plausible 5 % of the scored poses themselves
    own = float(np.quantile(want.astype(np.float64), 0.95))
    assert float(s["threshold"]) == pytest.approx(own, rel=1e-4, abs=1e-6)
    assert s["flagged"].tolist() == (want > own).tolist() and 0 < s["flagged"].sum() <= 1
    rel = (pred - pred[:, :1]) - gt  # root-aligned, as evaluate's MPJPE
    np.testing.assert_allclose(s["mpjpe_mm"], np.linalg.norm(rel, axis=-1).mean(-1) * 1000,
                               rtol=1e-4)
    rows = [ln.split() for ln in out.splitlines() if ln.split()[:1] in (["1"], ["2"], ["3"],
                                                                        ["4"])]
    assert [int(r[1]) for r in rows] == s["ranking"][:3].tolist()  # rank, index, ...
    # csv, mm units, pixels converted with --image-size
    px = (x2d + np.array([1.0, 0.5], dtype=np.float32)) * 500.0  # 1000 x 1000 image
    np.savez(tmp_path / "mm.npz", x2d=px, y3d=pred * 1000)
    rc, _, _ = _run(capsys, "score", str(tmp_path / "mm.npz"), "--weights", str(weights),
                    "--units", "mm", "--image-size", "1000", "1000", "--out",
                    str(tmp_path / "s.csv"), "--no-progress")
    assert rc == 0
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "index,energy,worst_joint,blame" and len(rows) == 9
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows[1:]], want, rtol=1e-4,
                               atol=1e-5)


def test_score_bad_inputs(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture) -> None:
    x2d = np.random.default_rng(0).uniform(0, 1000, size=(4, J, 2)).astype(np.float32)
    np.savez(tmp_path / "px.npz", x2d=x2d, y3d=_gt(4))
    rc, _, err = _run(capsys, "score", str(tmp_path / "px.npz"), "--weights", str(weights),
                      "--no-progress")
    assert rc == 2
    _one_line_error(err, "score", "pixels")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(weights.read_bytes()[:-10])
    rc, _, err = _run(capsys, "score", str(tmp_path / "px.npz"), "--weights", str(bad))
    assert rc == 2
    _one_line_error(err, "score", "truncated")


# --------------------------------------------------------------------------- info
def test_info(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = _run(capsys, "info", str(weights), "--json")
    assert rc == 0
    info = json.loads(out)
    net = load_lossnet(weights)
    assert info["kind"] == "graphormer" and info["parameters"] == net.num_parameters
    from sealloss.io.weights import FORMAT_VERSION

    assert info["skeleton"] == "h36m17 (17 joints)"
    assert info["format"] == f"sealloss-lossnet v{FORMAT_VERSION}"
    assert info["config"]["width"] == 16 and info["config"]["layers"] == 1
    rc, out, _ = _run(capsys, "info", str(weights))
    assert rc == 0 and f"{net.num_parameters:,}" in out
    rc, out, _ = _run(capsys, "info")
    assert rc == 0 and "humaneva15" in out and "wholebody133" in out and "h36m17" in out
    flipped = bytearray(weights.read_bytes())
    flipped[-3] ^= 0xFF
    (tmp_path / "flip.safetensors").write_bytes(bytes(flipped))
    rc, _, err = _run(capsys, "info", str(tmp_path / "flip.safetensors"))
    assert rc == 2
    _one_line_error(err, "info", "checksum")


# --------------------------------------------------------------------------- pretrain
def test_pretrain_quick_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "w" / "pre.safetensors"
    rep = tmp_path / "rep.json"
    rc, text, _ = _run(capsys, "pretrain", "--quick", "--out", str(out), "--report", str(rep),
                       "--seed", "1", "--no-progress")
    assert rc == 0
    assert "limb_swap" in text and "bone_length_one_side" in text
    net = load_lossnet(out)
    assert net.kind == "graphormer" and net.config["width"] == 16
    r = json.loads(rep.read_text())
    assert r["config"]["steps"] == 5 and r["config"]["seed"] == 1
    assert r["history"][-1]["step"] == 4
    assert r["parameters"] == net.num_parameters and r["test_pairs"] == 64
    accs = [v for row in r["ranking"].values() for k, v in row.items() if k != "median_mm"]
    assert len(accs) == 6 and all(0.0 <= a <= 1.0 for a in accs)  # --quick: one size


def test_pretrain_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = _run(capsys, "pretrain", "--quick", "--out", str(tmp_path), "--no-progress")
    assert rc == 2
    _one_line_error(err, "pretrain", "is a folder")
    rc, _, err = _run(capsys, "pretrain", "--steps", "0", "--out", str(tmp_path / "a"))
    assert rc == 2
    _one_line_error(err, "pretrain", "--steps must be at least 1")
    rc, _, err = _run(capsys, "pretrain", "--threads", "0", "--out", str(tmp_path / "a"))
    assert rc == 2
    _one_line_error(err, "pretrain", "--threads must be at least 1")
    rc, _, err = _run(capsys, "pretrain", "--data", "h36m", "--data-root",
                      str(tmp_path / "missing"), "--out", str(tmp_path / "b"))
    assert rc == 2
    _one_line_error(err, "pretrain", "missing")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- demo
def test_demo_quick_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from matplotlib.image import imread

    out_dir = tmp_path / "demo"
    threads = torch.get_num_threads()
    rc, out, _ = _run(capsys, "demo", "--quick", "--out", str(out_dir), "--no-progress")
    assert rc == 0
    assert torch.get_num_threads() == threads  # --threads (default 1) is undone afterwards
    assert "SEAL - plain" in out and "MPJPE" in out
    for name in ("demo_skeletons.png", "demo_curves.png"):
        img = imread(out_dir / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
        assert float(img[..., :3].std()) > 0.01, f"{name} is blank"
    res = json.loads((out_dir / "results.json").read_text())
    assert set(res["metrics"]) == {"plain", "SEAL", "plain + refine"}  # refined plain output
    for arm in ("plain", "SEAL"):
        assert np.isfinite(res["metrics"][arm]["MPJPE"]) and res["step_time_s"][arm] > 0
    assert res["n_test"] == 32
    net = load_lossnet(out_dir / "lossnet.safetensors")
    assert net.kind == "graphormer"
    # the demo's files feed the other commands; evaluate reproduces the demo's number
    rc, _, _ = _run(capsys, "evaluate", str(out_dir / "predictions_seal.npz"), "--json",
                    str(tmp_path / "e.json"))
    assert rc == 0
    mpjpe = json.loads((tmp_path / "e.json").read_text())["summary"]["MPJPE"]
    assert mpjpe == pytest.approx(res["metrics"]["SEAL"]["MPJPE"], rel=1e-6)
    rc, _, _ = _run(capsys, "score", str(out_dir / "predictions_plain.npz"), "--weights",
                    str(out_dir / "lossnet.safetensors"), "--no-progress")
    assert rc == 0


def test_demo_table_paired_differences() -> None:
    from sealloss.demo.runner import DemoResult

    def m(v: float) -> dict[str, float]:
        return {"MPJPE": v, "LSE": v / 10}

    per_seed = {0: {"plain": m(100.0), "SEAL": m(97.0)}, 1: {"plain": m(90.0), "SEAL": m(91.0)}}
    res = DemoResult(metrics={"plain": m(95.0), "SEAL": m(94.0)},
                     step_time_s={"plain": 0.010, "SEAL": 0.025}, histories={},
                     per_seed=per_seed)
    mean, sd = res.paired_difference("MPJPE")
    assert mean == pytest.approx(-1.0) and sd == pytest.approx(np.std([-3.0, 1.0], ddof=1))
    lines = res.table(keys=("MPJPE", "LSE")).splitlines()
    assert lines[2].split() == ["plain", "95.0", "9.5", "10.0"]
    assert lines[4].split() == ["SEAL", "-", "plain", "-1.0", "-0.1", "15.0"]
    assert lines[5].split() == ["std", "(seeds)", "2.8", "0.3"]


def test_demo_bad_data_root(tmp_path: Path, capsys: pytest.CaptureFixture,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    rc, _, err = _run(capsys, "demo", "--data", "h36m", "--data-root", str(tmp_path / "nope"),
                      "--out", str(tmp_path / "o"), "--no-progress")
    assert rc == 2
    _one_line_error(err, "demo", "nope", "does not exist")
    monkeypatch.delenv("SEALLOSS_DATA", raising=False)
    rc, _, err = _run(capsys, "demo", "--data", "h36m", "--no-progress")
    assert rc == 2
    _one_line_error(err, "demo", "SEALLOSS_DATA")
    assert not (tmp_path / "o").exists()


@pytest.mark.h36m
def test_demo_quick_on_h36m(h36m_root: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = _run(capsys, "demo", "--quick", "--data", "h36m", "--data-root", str(h36m_root),
                      "--out", str(tmp_path / "h"), "--no-progress", "--no-plots")
    assert rc == 0 and "Human3.6M" in out
    res = json.loads((tmp_path / "h" / "results.json").read_text())
    assert res["n_test"] == 32 and res["n_train"] > 10_000
    assert not (tmp_path / "h" / "demo_skeletons.png").exists()
