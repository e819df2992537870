"""One recommended setting (sealloss.defaults.RECOMMENDED) is the default of every entry point:
the wrapper, the Lightning callback's hooks, the example patches' --seal* flags and the demo."""

from __future__ import annotations

import argparse
import inspect

import pytest

import sealloss
from sealloss.defaults import RECOMMENDED, recommended

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


def test_callback_defaults() -> None:
    from sealloss.integrations.lightning import SealHooks

    params = inspect.signature(SealHooks.__init__).parameters
    assert {k: params[k].default for k in RECOMMENDED} == dict(RECOMMENDED)
    hooks = SealHooks()
    got = {"lossnet": hooks.lossnet, "mode": hooks.mode, "lam": hooks.lam,
           **{k: hooks.wrapper_kwargs[k] for k in ("target_force_ratio", "score_fraction")}}
    assert got == dict(RECOMMENDED)


def test_example_patch_flag_defaults() -> None:
    from sealloss.adapters.hooks import add_arguments

    args = add_arguments(argparse.ArgumentParser()).parse_args([])
    assert {k: getattr(args, d) for k, d in FLAG_DEST.items()} == dict(RECOMMENDED)


def test_example_patch_wrapper_gets_the_recommended_setting() -> None:
    from sealloss.adapters.hooks import add_arguments, from_args

    seal = from_args(add_arguments(argparse.ArgumentParser()).parse_args(["--seal"]), None,
                     "videopose3d")
    assert seal.mode == "static" and seal.energy.score_fraction == RECOMMENDED["score_fraction"]
    assert seal.lam_control.target == RECOMMENDED["target_force_ratio"]


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
