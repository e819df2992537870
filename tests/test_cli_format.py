"""One file format across the command line (``x2d``, ``pred``, optional ``gt``, metadata) and
``--format vp3d`` (VideoPose3D's files) in ``refine``, ``evaluate`` and ``score``.

Before this change every test here failed but ``test_evaluate_reads_action_or_actions`` (the
``actions`` half passed; the ``action`` half failed): ``refine`` wrote only ``refined``,
``energy_before``, ``energy_after`` (``evaluate`` on it: "has no array 'pred'"), a missing key
named only ``'y3d'``, ``evaluate`` read no ground truth named ``y3d`` (a pairs dict's name)
nor labels named ``action``, a pixel input was told to call
``sealloss.pose.canonical.pixels_to_screen``, ``score --out`` kept no input array, and there was no
``--format``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_vp3d import cmu_vp3d_set

from sealloss.cli.main import main
from sealloss.io.weights import load_lossnet, save_lossnet
from sealloss.nn import GraphormerLossNet

J = 17


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err: str, command: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"sealloss {command}: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    return save_lossnet(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def _cli_file(path: Path, n: int = 12, seed: int = 0, **drop: bool) -> dict[str, np.ndarray]:
    """A file in the CLI format: x2d (screen), pred, gt (metres) and per-row metadata."""
    g = np.random.default_rng(seed)
    gt = g.normal(scale=0.2, size=(n, J, 3)).astype(np.float32)
    gt -= gt[:, :1]
    arrays = {
        "x2d": g.uniform(-0.5, 0.5, size=(n, J, 2)).astype(np.float32),
        "pred": gt + g.normal(scale=0.03, size=gt.shape).astype(np.float32),
        "gt": gt,
        "subject": np.array(["S9", "S11"] * (n // 2)),
        "action": np.array(["Walking"] * (n // 2) + ["Eating"] * (n - n // 2)),
        "camera": np.arange(n) % 4,
        "frame": np.arange(n) * 5,
        "root_cam": g.normal(size=(n, 3)).astype(np.float32),
    }
    arrays = {k: v for k, v in arrays.items() if not drop.get(k)}
    np.savez(path, **arrays)
    return arrays


def _evaluate(capsys: pytest.CaptureFixture, json_path: Path, *argv: str) -> dict:
    """``sealloss evaluate ... --json json_path``: its results (the command must succeed)."""
    rc, _, err = _run(capsys, "evaluate", *argv, "--json", str(json_path))
    assert rc == 0, err
    return json.loads(json_path.read_text())


def _mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    rel = (pred - pred[:, :1]) - (gt - gt[:, :1])
    return float(np.linalg.norm(rel, axis=-1).mean() * 1000)


# --------------------------------------------------------------------------- one format
def test_refine_output_is_an_evaluate_input(tmp_path: Path, weights: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    src = _cli_file(tmp_path / "a.npz")
    rc, out, err = _run(capsys, "refine", str(tmp_path / "a.npz"), "--out",
                        str(tmp_path / "b.npz"), "--weights", str(weights), "--steps", "3",
                        "--no-progress")
    assert rc == 0, err
    assert "passed through: action, camera, frame, gt, root_cam, subject, x2d" in out
    with np.load(tmp_path / "b.npz") as z:
        b = {k: z[k] for k in z.files}
    assert {"pred", "pred_input", "energy_before", "energy_after", "x2d", "gt"} <= set(b)
    np.testing.assert_array_equal(b["pred_input"], src["pred"])
    assert not np.array_equal(b["pred"], src["pred"])  # 3 Adam steps moved the poses
    np.testing.assert_array_equal(b["pred"][:, 0], src["pred"][:, 0])  # root never moves
    np.testing.assert_array_equal(b["refined"], b["pred"])
    for k in ("x2d", "gt", "subject", "action", "camera", "frame", "root_cam"):
        np.testing.assert_array_equal(b[k], src[k])
    res = _evaluate(capsys, tmp_path / "m.json", str(tmp_path / "b.npz"))
    assert res["summary"]["MPJPE"] == pytest.approx(_mpjpe_mm(b["pred"], b["gt"]), rel=1e-4)
    assert set(res["per_action"]) == {"Walking", "Eating"}
    # and again: a refined file refines, pred_input now being the once-refined poses
    rc, _, err = _run(capsys, "refine", str(tmp_path / "b.npz"), "--out",
                      str(tmp_path / "c.npz"), "--weights", str(weights), "--steps", "1",
                      "--no-progress")
    assert rc == 0, err
    with np.load(tmp_path / "c.npz") as z:
        np.testing.assert_array_equal(z["pred_input"], b["pred"])
        np.testing.assert_array_equal(z["gt"], src["gt"])


def test_score_out_passes_the_input_through(tmp_path: Path, weights: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    src = _cli_file(tmp_path / "a.npz")
    rc, _, err = _run(capsys, "score", str(tmp_path / "a.npz"), "--weights", str(weights),
                      "--out", str(tmp_path / "s.npz"), "--no-progress")
    assert rc == 0, err
    with np.load(tmp_path / "s.npz") as z:
        s = {k: z[k] for k in z.files}
    for k in ("x2d", "pred", "gt", "subject", "action", "camera", "frame", "root_cam"):
        np.testing.assert_array_equal(s[k], src[k])
    assert s["energy"].shape == (12,)
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "s.npz"))
    assert rc == 0, err


def test_missing_arrays_error_lists_every_key_tried(tmp_path: Path, weights: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    _cli_file(tmp_path / "nopred.npz", pred=True)
    for cmd in ("refine", "score"):
        extra = ["--out", str(tmp_path / "o.npz")] if cmd == "refine" else []
        rc, _, err = _run(capsys, cmd, str(tmp_path / "nopred.npz"), "--weights",
                          str(weights), *extra, "--no-progress")
        assert rc == 2
        line = _one_line_error(err, cmd)
        assert "none of the arrays 'pred', 'y3d'" in line, line
        assert "it holds ['action', 'camera'" in line, line
    _cli_file(tmp_path / "nogt.npz", gt=True)
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "nogt.npz"))
    line = _one_line_error(err, "evaluate")
    assert rc == 2 and "none of the arrays 'gt', 'y3d' (ground truth)" in line, line


def test_a_pairs_dict_with_predictions_is_a_cli_file(tmp_path: Path, weights: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """``np.savez(f, **pairs, pred=...)`` of a sealloss pairs dict (ground truth named ``y3d``)
    refines and evaluates as it is."""
    from sealloss.data import load_embedded

    pairs = {k: v[::50] for k, v in load_embedded("test").items()}
    noise = np.random.default_rng(0).normal(scale=0.02, size=pairs["y3d"].shape)
    noise[:, 0] = 0
    pred = (pairs["y3d"] + noise).astype(np.float32)
    np.savez(tmp_path / "p.npz", **pairs, pred=pred)
    res = _evaluate(capsys, tmp_path / "m0.json", str(tmp_path / "p.npz"))
    assert res["summary"]["MPJPE"] == pytest.approx(_mpjpe_mm(pred, pairs["y3d"]), rel=1e-4)
    rc, _, err = _run(capsys, "refine", str(tmp_path / "p.npz"), "--out", str(tmp_path / "r.npz"),
                      "--weights", str(weights), "--steps", "2", "--no-progress")
    assert rc == 0, err
    with np.load(tmp_path / "r.npz") as z:
        refined = z["pred"]
        np.testing.assert_array_equal(z["y3d"], pairs["y3d"])
    res = _evaluate(capsys, tmp_path / "m1.json", str(tmp_path / "r.npz"))
    assert res["summary"]["MPJPE"] == pytest.approx(_mpjpe_mm(refined, pairs["y3d"]), rel=1e-4)


def test_pixel_inputs_point_to_image_size(tmp_path: Path, weights: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    src = _cli_file(tmp_path / "a.npz")
    px = (src["x2d"] + np.array([1.0, 0.5], dtype=np.float32)) * 500.0  # a 1000 x 1000 image
    np.savez(tmp_path / "px.npz", **{**src, "x2d": px})
    for cmd in ("refine", "score"):
        extra = ["--out", str(tmp_path / "o.npz")] if cmd == "refine" else []
        rc, _, err = _run(capsys, cmd, str(tmp_path / "px.npz"), "--weights", str(weights),
                          "--steps" if cmd == "refine" else "--top", "1", *extra,
                          "--no-progress")
        assert rc == 2
        line = _one_line_error(err, cmd)
        assert "--image-size W H" in line and "pixels" in line, line
        assert "pixels_to_screen" not in line, line
    # with --image-size the same file refines as the screen-frame one, x2d kept in pixels
    for name, extra in (("a", []), ("px", ["--image-size", "1000", "1000"])):
        rc, _, err = _run(capsys, "refine", str(tmp_path / f"{name}.npz"), "--out",
                          str(tmp_path / f"r_{name}.npz"), "--weights", str(weights),
                          "--steps", "2", "--no-progress", *extra)
        assert rc == 0, err
    with np.load(tmp_path / "r_a.npz") as a, np.load(tmp_path / "r_px.npz") as p:
        np.testing.assert_allclose(p["pred"], a["pred"], atol=1e-5)
        np.testing.assert_array_equal(p["x2d"], px)


def test_evaluate_reads_action_or_actions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _cli_file(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", pred=src["pred"], gt=src["gt"], actions=src["action"])
    for f in ("a.npz", "b.npz"):
        res = _evaluate(capsys, tmp_path / "m.json", str(tmp_path / f))
        assert set(res["per_action"]) == {"Walking", "Eating"}, f


# --------------------------------------------------------------------------- --format vp3d
@pytest.fixture(scope="module")
def vp3d(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A VideoPose3D file set of the embedded CMU clips, and its rows for two clips, every
    4th frame (the selection the CLI tests pass)."""
    from sealloss.data.vp3d import vp3d_pairs

    p2, p3, pc = cmu_vp3d_set(tmp_path_factory.mktemp("vp3d"))
    rows = vp3d_pairs(p2, p3, pc, subjects=["02_01", "131_03"], every=4)
    return {"p2": str(p2), "p3": str(p3), "cams": str(pc), "rows": rows,
            "sel": ["--subjects", "02_01", "131_03", "--every", "4"]}


def _vp3d_pred(vp3d: dict, path: Path, scale: float = 1.0, **extra: np.ndarray) -> np.ndarray:
    gt = vp3d["rows"]["y3d"]
    noise = np.random.default_rng(5).normal(scale=0.03, size=gt.shape).astype(np.float32)
    noise[:, 0] = 0
    pred = (gt + noise) * scale
    np.savez(path, pred=pred, **extra)
    return pred


def test_vp3d_refine_evaluate_score(vp3d: dict, tmp_path: Path, weights: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    rows = vp3d["rows"]
    pred = _vp3d_pred(vp3d, tmp_path / "pred.npz")
    base = [vp3d["p2"], "--format", "vp3d", "--vp3d-3d", vp3d["p3"], "--cameras", vp3d["cams"],
            *vp3d["sel"], "--pred", str(tmp_path / "pred.npz")]
    # evaluate straight from the VideoPose3D files
    m0 = _evaluate(capsys, tmp_path / "m0.json", *base)
    assert m0["count"] == rows["x2d"].shape[0]
    assert m0["summary"]["MPJPE"] == pytest.approx(_mpjpe_mm(pred, rows["y3d"]), rel=1e-4)
    assert set(m0["per_action"]) == {"walk", "hop"}
    # refine writes the CLI format with x2d (screen), gt and the reader's metadata
    rc, _, err = _run(capsys, "refine", *base, "--out", str(tmp_path / "r.npz"), "--weights",
                      str(weights), "--steps", "2", "--no-progress")
    assert rc == 0, err
    with np.load(tmp_path / "r.npz") as z:
        r = {k: z[k] for k in z.files}
    np.testing.assert_allclose(r["x2d"], rows["x2d"])
    np.testing.assert_allclose(r["gt"], rows["y3d"])
    np.testing.assert_array_equal(r["pred_input"], pred)
    for k in ("subject", "action", "trial", "camera", "seq_id", "frame", "res_w", "res_h"):
        np.testing.assert_array_equal(r[k], rows[k])
    m1 = _evaluate(capsys, tmp_path / "m1.json", str(tmp_path / "r.npz"))
    assert m1["summary"]["MPJPE"] == pytest.approx(_mpjpe_mm(r["pred"], rows["y3d"]), rel=1e-4)
    # the refined file is itself a row-aligned --pred file (its metadata is checked)
    rc, _, err = _run(capsys, "evaluate", *base[:-1], str(tmp_path / "r.npz"))
    assert rc == 0, err
    # score: the predictions against the ground truth's energies, or the ground truth itself
    rc, out, err = _run(capsys, "score", *base, "--weights", str(weights), "--out",
                        str(tmp_path / "s.npz"), "--no-progress")
    assert rc == 0, err
    assert "reference 'gt'" in out
    net = load_lossnet(weights)
    with torch.no_grad():
        want = net(torch.from_numpy(rows["x2d"]), torch.from_numpy(pred)).energy.numpy()
    with np.load(tmp_path / "s.npz") as z:
        np.testing.assert_allclose(z["energy"], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(z["subject"], rows["subject"])
        np.testing.assert_allclose(z["gt"], rows["y3d"])
    rc, out, err = _run(capsys, "score", *base[:-2], "--weights", str(weights), "--out",
                        str(tmp_path / "s_gt.npz"), "--no-progress")
    assert rc == 0, err
    with torch.no_grad():
        want = net(torch.from_numpy(rows["x2d"]), torch.from_numpy(rows["y3d"])).energy.numpy()
    with np.load(tmp_path / "s_gt.npz") as z:
        np.testing.assert_allclose(z["energy"], want, rtol=1e-5, atol=1e-6)


def test_vp3d_units_follow_the_predictions(vp3d: dict, tmp_path: Path, weights: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    pred_mm = _vp3d_pred(vp3d, tmp_path / "mm.npz", scale=1000.0)
    rc, _, err = _run(capsys, "refine", vp3d["p2"], "--format", "vp3d", "--vp3d-3d", vp3d["p3"],
                      "--cameras", vp3d["cams"], *vp3d["sel"], "--pred", str(tmp_path / "mm.npz"),
                      "--units", "mm", "--out", str(tmp_path / "r.npz"), "--weights",
                      str(weights), "--steps", "0", "--no-progress")
    assert rc == 0, err
    with np.load(tmp_path / "r.npz") as z:
        np.testing.assert_allclose(z["gt"], vp3d["rows"]["y3d"] * 1000, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(z["pred"], pred_mm, atol=1e-3)  # 0 steps: unchanged


def test_vp3d_bad_input(vp3d: dict, tmp_path: Path, weights: Path,
                        capsys: pytest.CaptureFixture) -> None:
    rows = vp3d["rows"]
    base = [vp3d["p2"], "--format", "vp3d", "--vp3d-3d", vp3d["p3"], "--cameras", vp3d["cams"],
            *vp3d["sel"]]
    # misaligned predictions: wrong row count, or metadata in another order
    np.savez(tmp_path / "short.npz", pred=rows["y3d"][:-1])
    rc, _, err = _run(capsys, "evaluate", *base, "--pred", str(tmp_path / "short.npz"))
    assert rc == 2 and "row-aligned" in _one_line_error(err, "evaluate")
    order = np.argsort(rows["frame"], kind="stable")
    np.savez(tmp_path / "shuffled.npz", pred=rows["y3d"][order], frame=rows["frame"][order])
    rc, _, err = _run(capsys, "evaluate", *base, "--pred", str(tmp_path / "shuffled.npz"))
    assert rc == 2 and "'frame' differs" in _one_line_error(err, "evaluate")
    # what a command needs
    rc, _, err = _run(capsys, "evaluate", *base)
    assert rc == 2 and "--pred FILE" in _one_line_error(err, "evaluate")
    rc, _, err = _run(capsys, "evaluate", vp3d["p2"], "--format", "vp3d", "--cameras",
                      vp3d["cams"], "--pred", str(tmp_path / "short.npz"))
    assert rc == 2 and "--vp3d-3d FILE" in _one_line_error(err, "evaluate")
    _vp3d_pred(vp3d, tmp_path / "pred.npz")
    rc, _, err = _run(capsys, "refine", *base, "--pred", str(tmp_path / "pred.npz"), "--out",
                      str(tmp_path / "o.npz"), "--image-size", "1000", "1000")
    assert rc == 2 and "--image-size does not apply" in _one_line_error(err, "refine")
    # VideoPose3D options without --format vp3d would be ignored: refused
    _cli_file(tmp_path / "a.npz")
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "a.npz"), "--vp3d-3d", vp3d["p3"])
    assert rc == 2 and "--format vp3d" in _one_line_error(err, "evaluate")
    # a file of another layout, through the CLI
    rc, _, err = _run(capsys, "evaluate", vp3d["p3"], "--format", "vp3d", "--vp3d-3d",
                      vp3d["p3"], "--cameras", vp3d["cams"], "--pred", str(tmp_path / "pred.npz"))
    assert rc == 2 and "no entry 'metadata'" in _one_line_error(err, "evaluate")
