"""One recommended setting per 2D input kind (sealloss.defaults.TRAIN; "gt" is RECOMMENDED) is
the default of every entry point: the wrapper and build_wrapper, the Lightning callback's hooks,
the example patches' --seal* flags and the demo; the detected one reaches every entry point
through its ``inputs`` switch and builds the trainer the S8 fronts chose."""

from __future__ import annotations

import argparse
import inspect

import pytest

import sealloss
from sealloss.defaults import RECOMMENDED, TRAIN, recommended

#: RECOMMENDED key -> the example flags' argparse destination
FLAG_DEST = {
    "lossnet": "seal_lossnet",
    "mode": "seal_mode",
    "lam": "seal_lambda",
    "target_force_ratio": "seal_force_ratio",
    "score_fraction": "seal_score_fraction",
}


def test_the_recommended_setting_is_the_measured_one() -> None:
    assert dict(RECOMMENDED) == {"lossnet": "h36m17", "mode": "static", "lam": "auto",
                                 "target_force_ratio": 0.3, "score_fraction": 0.25}
    with pytest.raises(TypeError):
        RECOMMENDED["mode"] = "dynamic"  # type: ignore[index]
    assert recommended(mode="dynamic")["mode"] == "dynamic" and RECOMMENDED["mode"] == "static"
    assert sealloss.RECOMMENDED is RECOMMENDED


def test_wrapper_defaults() -> None:
    from sealloss.training.energy_term import EnergyTerm
    from sealloss.training.lam import LambdaController
    from sealloss.training.settings import build_wrapper

    params = inspect.signature(sealloss.AlternatingWrapper.__init__).parameters
    assert params["lossnet"].default == RECOMMENDED["lossnet"]
    assert params["lam"].default == RECOMMENDED["lam"]
    assert params["trainer"].default is None and RECOMMENDED["mode"] == "static"
    score = inspect.signature(EnergyTerm.__init__).parameters["score_fraction"].default
    target = inspect.signature(LambdaController.__init__).parameters["target"].default
    assert (score, target) == (RECOMMENDED["score_fraction"], RECOMMENDED["target_force_ratio"])
    seal = build_wrapper()  # the flat settings default to RECOMMENDED
    assert seal.trainer is None and seal.energy.score_fraction == RECOMMENDED["score_fraction"]
    assert seal.lam_control.target == RECOMMENDED["target_force_ratio"]


def _trainer_fingerprint(seal) -> tuple:
    """What decides a training step's SEAL term: mode, loss-net, trainer and lambda settings."""
    t = seal.trainer
    trainer = None if t is None else (
        type(t.optimizer).__name__, t.optimizer.param_groups[0]["lr"], repr(t.objective), t.k,
        t.update_every, t.batch)
    lam = seal.lam_control
    return (type(seal.lossnet).__name__, seal.lossnet.config, trainer, lam.kind, lam.value,
            lam.target, seal.energy.score_fraction)


def test_the_detected_setting_is_the_measured_one() -> None:
    """The arm the S8 detection fronts chose (bench/h36m_fronts.py, family dynamic-sh, lr 1e-4)."""
    assert TRAIN["gt"] is RECOMMENDED
    assert dict(TRAIN["detected"]) == {
        "lossnet": "h36m17-sh-refiner", "mode": "warm", "lam": "auto",
        "target_force_ratio": 0.3, "score_fraction": 0.25, "lossnet_lr": 1e-4,
        "update_every": 2, "lossnet_batch": 64, "objective": "margin", "margin": 20.0}
    assert recommended("detected", lam=0.1)["lam"] == 0.1
    with pytest.raises(ValueError, match="inputs must be one of"):
        recommended("cpn")


def test_build_wrapper_per_input_kind() -> None:
    from sealloss.training.settings import build_wrapper

    detected = build_wrapper(inputs="detected")
    assert detected.mode == "dynamic" and detected.trainer is not None  # warm: a trained start
    assert detected.trainer.optimizer.param_groups[0]["lr"] == 1e-4
    assert (detected.trainer.batch, detected.trainer.update_every) == (64, 2)
    assert detected.trainer.objective.ranking == "margin"
    assert detected.trainer.objective.margin == 20.0
    # the same wrapper as the fronts' arm, which passed every key explicitly
    assert _trainer_fingerprint(detected) == _trainer_fingerprint(
        build_wrapper(**TRAIN["detected"]))
    assert _trainer_fingerprint(build_wrapper(inputs="gt")) == _trainer_fingerprint(
        build_wrapper())
    # a caller's choice makes the preset's dependent keys moot instead of being refused
    assert build_wrapper(inputs="detected", mode="static").trainer is None
    assert build_wrapper(inputs="detected", lam=0.1).lam_control.value == 0.1
    assert build_wrapper(inputs="detected", objective="nce").trainer.objective.ranking == "nce"
    # ... but the caller's own ignored keys are still refused
    with pytest.raises(ValueError, match="lossnet_lr would be ignored"):
        build_wrapper(inputs="detected", mode="static", lossnet_lr=1e-3)


def test_callback_defaults() -> None:
    from sealloss.integrations.lightning import SealHooks
    from sealloss.training.settings import build_wrapper

    assert SealHooks().settings == dict(RECOMMENDED)
    hooks = SealHooks(inputs="detected", lam=0.2)
    assert hooks.settings == {**TRAIN["detected"], "lam": 0.2}

    class Module:  # the hooks' conventions, no Lightning
        device = None

        def training_step(self, batch, batch_idx):
            raise AssertionError("not called")

    module = Module()
    hooks.on_fit_start(None, module)
    hooks.on_fit_end(None, module)
    assert _trainer_fingerprint(hooks.wrapper) == _trainer_fingerprint(
        build_wrapper(inputs="detected", lam=0.2))
    with pytest.raises(ValueError, match="inputs must be one of"):
        SealHooks(inputs="cpn")


@pytest.mark.parametrize("inputs", ["gt", "detected"])
def test_example_patch_flags_give_the_recommended_setting(inputs: str) -> None:
    from sealloss.adapters.hooks import add_arguments, from_args, seal_settings

    from sealloss.training.settings import build_wrapper

    args = add_arguments(argparse.ArgumentParser()).parse_args(["--seal", "--seal-inputs", inputs])
    assert seal_settings(args) == (inputs, {})  # unset flags: the kind's recommended values
    seal = from_args(args, None, "videopose3d")
    assert _trainer_fingerprint(seal) == _trainer_fingerprint(build_wrapper(inputs=inputs))
    assert (seal.trainer is None) == (TRAIN[inputs]["mode"] == "static")


def test_example_patch_flags_override() -> None:
    from sealloss.adapters.hooks import add_arguments, seal_settings

    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--seal-inputs", "detected", "--seal-mode", "static", "--seal-lambda", "0.5",
         "--seal-lossnet", "none"])
    assert seal_settings(args) == ("detected", {"mode": "static", "lam": 0.5, "lossnet": None})


class _Stop(Exception):
    pass


def test_demo_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The demo's SEAL arm, as the command line builds it by default, gets RECOMMENDED."""
    import sealloss.demo.experiment
    from sealloss.cli.main import build_parser
    from sealloss.demo.baselines import SimpleBaseline
    from sealloss.demo.experiment import TrainResult
    from sealloss.demo.runner import DemoConfig, run_demo

    assert DemoConfig().seal_mode == RECOMMENDED["mode"]
    assert build_parser().parse_args(["demo"]).seal_mode == RECOMMENDED["mode"]
    seen = []

    def fake_train_arm(arm, *args, **kwargs):
        seen.append(arm)
        if arm.seal:
            raise _Stop
        return TrainResult(model=SimpleBaseline("h36m17", 8, 1, 0.0), step_time_s=0.0,
                           history=[], seal_state=None)

    monkeypatch.setattr(sealloss.demo.experiment, "train_arm", fake_train_arm)
    with pytest.raises(_Stop):
        run_demo(DemoConfig(out=str(tmp_path), quick=True))
    assert seen[-1].seal and seen[-1].seal_kwargs == dict(RECOMMENDED)


@pytest.mark.parametrize("inputs", ["gt", "detected"])
def test_clip_terms_per_input_kind_are_shared_by_api_and_cli(inputs: str) -> None:
    import numpy as np

    from sealloss.cli.main import build_parser
    from sealloss.cli.refine import _clip_options
    from sealloss.defaults import CLIP
    from sealloss.posthoc.clip_refinement import ClipSettings

    st = ClipSettings.recommended(inputs)
    assert {k: getattr(st, k) for k in CLIP[inputs]} == dict(CLIP[inputs])
    args = build_parser().parse_args(["refine", "p.npz", "--out", "o.npz", "--inputs", inputs,
                                      "--clip-key", "seq"])
    n = 4
    arrays = {"seq": np.zeros(n, dtype=np.int64), "frame": np.arange(n)}
    assert _clip_options(args, arrays, n)["clip"] == st
    assert CLIP["gt"] != CLIP["detected"]  # chosen apart on S8 (val_gt_round3, val_sh_round3)
