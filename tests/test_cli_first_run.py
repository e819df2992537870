"""A researcher's first run: wrong units refused, ignored options refused, messages in the
command line's words, no traceback without matplotlib, the API where the README says it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sealloss.cli.main import main

J = 17
_MPL = ("matplotlib", "matplotlib.figure", "matplotlib.lines", "matplotlib.image",
        "mpl_toolkits", "mpl_toolkits.mplot3d")


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str, command: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sealloss {command}: error: "), lines[0]
    return lines[0]


def _metre_poses(n: int = 6, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    y = g.normal(scale=0.2, size=(n, J, 3)).astype(np.float32)
    return y - y[:, :1]


@pytest.fixture()
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every matplotlib import fail, as in an environment without it."""
    for name in _MPL:
        monkeypatch.setitem(sys.modules, name, None)


# --------------------------------------------------------------------------- units
def test_metre_data_read_as_millimetres_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    gt = _metre_poses()
    np.savez(tmp_path / "p.npz", pred=gt + 0.01, gt=gt)
    rc, out, err = _run(capsys, "evaluate", str(tmp_path / "p.npz"), "--units", "mm")
    assert rc == 2 and "MPJPE" not in out
    line = _one_line(err, "evaluate")
    assert "--units mm" in line and "look like metres: pass --units m" in line
    rc, out, _ = _run(capsys, "evaluate", str(tmp_path / "p.npz"), "--units", "m")
    assert rc == 0 and "MPJPE" in out


@pytest.mark.parametrize(("factor", "given", "wanted"), [
    (1000.0, "m", "mm"), (100.0, "m", "cm"), (100.0, "mm", "cm"), (1000.0, "cm", "mm"),
    (1.0, "cm", "m"),
])
def test_every_wrong_unit_is_named(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   factor: float, given: str, wanted: str) -> None:
    gt = _metre_poses() * factor  # metres -> the data's real unit
    np.savez(tmp_path / "p.npz", pred=gt, gt=gt)
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "p.npz"), "--units", given)
    assert rc == 2
    assert f"pass --units {wanted}" in _one_line(err, "evaluate")
    rc, _, _ = _run(capsys, "evaluate", str(tmp_path / "p.npz"), "--units", given,
                    "--no-units-check")
    assert rc == 0


def test_score_refuses_wrong_units(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    y = _metre_poses(4)
    x2d = np.random.default_rng(1).uniform(-0.4, 0.4, size=(4, J, 2)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x2d=x2d, y3d=y)
    rc, _, err = _run(capsys, "score", str(tmp_path / "s.npz"), "--weights", "h36m17",
                      "--units", "mm", "--no-progress")
    assert rc == 2 and "--units m" in _one_line(err, "score")


# --------------------------------------------------------------------------- --data-root
@pytest.mark.parametrize("command", ["demo", "pretrain"])
def test_data_root_without_h36m_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            command: str) -> None:
    rc, _, err = _run(capsys, command, "--data-root", str(tmp_path), "--quick", "--no-progress",
                      "--out", str(tmp_path / ("o" if command == "demo" else "o.safetensors")))
    assert rc == 2
    line = _one_line(err, command)
    assert "--data-root" in line and "--data h36m" in line
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.safetensors").exists()


def test_data_messages_use_the_command_line_words(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    for root in (tmp_path / "absent", tmp_path):  # a missing folder; a folder without files
        rc, _, err = _run(capsys, "demo", "--data", "h36m", "--data-root", str(root),
                          "--quick", "--no-progress", "--out", str(tmp_path / "o"))
        assert rc == 2
        line = _one_line(err, "demo")
        assert "root=" not in line and "--data-root" in line


# --------------------------------------------------------------------------- no matplotlib
def test_demo_without_matplotlib_writes_results_and_one_note(
        tmp_path: Path, capsys: pytest.CaptureFixture, no_matplotlib: None) -> None:
    out_dir = tmp_path / "demo"
    rc, out, err = _run(capsys, "demo", "--quick", "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    assert "Traceback" not in out + err
    notes = [ln for ln in out.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "matplotlib" in notes[0]
    res = json.loads((out_dir / "results.json").read_text())
    assert set(res["metrics"]) == {"plain", "SEAL", "plain + refine"} and res["notes"]
    assert not list(out_dir.glob("*.png"))
    assert "MPJPE" in out  # the table was printed


def test_score_plot_without_matplotlib(tmp_path: Path, capsys: pytest.CaptureFixture,
                                       no_matplotlib: None) -> None:
    y = _metre_poses(5)
    x2d = np.random.default_rng(1).uniform(-0.4, 0.4, size=(5, J, 2)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x2d=x2d, y3d=y)
    rc, out, err = _run(capsys, "score", str(tmp_path / "s.npz"), "--weights", "h36m17",
                        "--out", str(tmp_path / "scores.npz"), "--plot",
                        str(tmp_path / "worst.png"), "--no-progress")
    assert rc == 0 and "Traceback" not in out + err
    assert (tmp_path / "scores.npz").is_file() and not (tmp_path / "worst.png").exists()
    notes = [ln for ln in out.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "matplotlib" in notes[0]


# --------------------------------------------------------------------------- score flag
def test_score_flags_a_share_of_the_batch_not_nearly_all(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """Predictions with a realistic error sit above nearly all ground-truth energies; the
    default flag still picks out only the least plausible 5 %."""
    g = np.random.default_rng(0)
    gt = _metre_poses(40)
    pred = gt + g.normal(scale=0.05, size=gt.shape).astype(np.float32)
    x2d = g.uniform(-0.4, 0.4, size=(40, J, 2)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x2d=x2d, pred=pred, gt=gt)
    rc, _, _ = _run(capsys, "score", str(tmp_path / "s.npz"), "--weights", "h36m17",
                    "--out", str(tmp_path / "o.npz"), "--no-progress")
    assert rc == 0
    s = np.load(tmp_path / "o.npz")
    assert s["flagged"].sum() == 2  # 5 % of 40
    rc, _, _ = _run(capsys, "score", str(tmp_path / "s.npz"), "--weights", "h36m17",
                    "--flag", "reference", "--out", str(tmp_path / "r.npz"), "--no-progress")
    assert rc == 0
    r = np.load(tmp_path / "r.npz")
    assert (r["flagged"] == r["reference_flagged"]).all()


# --------------------------------------------------------------------------- info, API
def test_info_tells_how_the_shipped_weights_were_trained(capsys: pytest.CaptureFixture) -> None:
    rc, out, _ = _run(capsys, "info", "h36m17", "--json")
    assert rc == 0
    info = json.loads(out)
    assert "S1, S5, S6, S7, S8" in info["trained_on"] and "S9/S11" in info["trained_on"]
    assert "research" in info["terms"] and "Human3.6M" in info["terms"]
    rc, out, _ = _run(capsys, "info")
    assert rc == 0 and "research use only" in out and "score_fraction=0.25" in out


def test_api_where_the_readme_says_it_is() -> None:
    """In a fresh interpreter: ``import sealloss`` does not load the adapters, and
    ``sealloss.adapters.get`` / ``sealloss.load_lossnet`` work after it."""
    code = (
        "import sys, sealloss\n"
        "assert 'sealloss.adapters' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
        "a = sealloss.adapters.get('videopose3d')\n"
        "assert type(a).__doc__ and type(a).__name__ == 'VideoPose3DAdapter'\n"
        "net = sealloss.load_lossnet('h36m17')\n"
        "assert net.num_parameters > 0 and 'sealloss.io.weights' in sys.modules\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_every_adapter_class_has_a_docstring() -> None:
    import sealloss.adapters as adapters

    for name in adapters.available():
        cls = adapters.ADAPTERS[name]
        assert cls.__doc__ and cls.__doc__ != adapters.base.Adapter.__doc__, name
