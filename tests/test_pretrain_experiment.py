"""Pretraining and the paired-experiment harness on tiny synthetic data (fast)."""

import pytest
import torch

from sealloss.demo.experiment import (
    ArmConfig,
    EvalSet,
    TrainConfig,
    epoch_order,
    evaluate_model,
    train_arm,
)
from sealloss.nn import GraphormerLossNet
from sealloss.pose.kinematics import forward_kinematics
from sealloss.pose.skeleton import get_skeleton
from sealloss.training.pretrain import (
    PretrainConfig,
    format_ranking_table,
    pretrain_lossnet,
    ranking_report,
)


def _poses(n: int, seed: int = 0):
    """Random but human-sized poses with fixed bone lengths, and a fake 2D projection."""
    g = torch.Generator().manual_seed(seed)
    sk = get_skeleton("h36m17")
    lengths = torch.full((n, len(sk.bones)), 0.25)
    dirs = torch.randn(n, len(sk.bones), 3, generator=g)
    y = forward_kinematics(dirs, lengths, sk)
    x = y[..., :2] / (y[..., 2:] + 5.0) * 2.0
    return x, y


def test_pretraining_learns_to_rank_gt_above_noise():
    x, y = _poses(256)
    cfg = PretrainConfig(model={"width": 16, "layers": 1, "heads": 2}, steps=60, batch_size=32,
                         num_negatives=4, hard_fraction=0.0, lr=3e-3)
    net, hist = pretrain_lossnet(x, y, cfg)
    assert hist[-1]["train_rank_acc"] > hist[0]["train_rank_acc"]
    xt, yt = _poses(64, seed=1)
    rep = ranking_report(net, xt, yt, sizes_mm=(40.0,), k=2)
    assert set(rep) >= {"gaussian", "bone_direction", "bone_length", "bone_length_one_side",
                        "limb_swap", "limb_flip_depth"}
    assert rep["bone_length_one_side"]["40mm"] > 0.6  # learned something beyond chance
    assert "| gaussian |" in format_ranking_table(rep)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(50, 3, 1), epoch_order(50, 3, 1))
    assert not torch.equal(epoch_order(50, 3, 1), epoch_order(50, 3, 2))
    assert not torch.equal(epoch_order(50, 3, 1), epoch_order(50, 4, 1))


def test_train_arm_plain_and_seal_are_paired_and_scored():
    x, y = _poses(128)
    cfg = TrainConfig(epochs=1, batch_size=32, width=32, blocks=1)
    sets = {"t": EvalSet(x[:32], y[:32])}
    plain = train_arm(ArmConfig("plain"), x, y, cfg, seed=0)
    plain2 = train_arm(ArmConfig("plain"), x, y, cfg, seed=0)
    for a, b in zip(plain.model.state_dict().values(), plain2.model.state_dict().values()):
        assert torch.equal(a, b)  # deterministic with a seed
    seal = train_arm(
        ArmConfig("seal", seal=True, seal_kwargs={
            "lossnet": GraphormerLossNet(width=16, layers=1, heads=2), "lam": "auto"}),
        x, y, cfg, seed=0)
    assert seal.seal_state is not None and seal.seal_state["energy"]["steps"] == 4
    ev = evaluate_model(seal.model, sets)
    assert ev["t"]["MPJPE"] > 0 and "LSE" in ev["t"]
    assert any("seal_force_ratio" in h for h in seal.history)


def test_h36m_pretraining_refuses_overlapping_subjects():
    from sealloss.training.pretrain import PretrainConfig, run_h36m_pretraining

    with pytest.raises(ValueError, match="overlap"):
        run_h36m_pretraining(PretrainConfig(steps=1), data_root="/nonexistent",
                             train_subjects=("S1", "S8"), test_subjects=("S8",))


def test_epoch_hook_scores_each_epoch_without_changing_training():
    x, y = _poses(128)
    cfg = TrainConfig(epochs=3, batch_size=32, width=32, blocks=1)
    sets = {"t": EvalSet(x[:32], y[:32])}
    seen = []

    def hook(epoch, model):
        seen.append(epoch)
        return {"MPJPE": evaluate_model(model, sets)["t"]["MPJPE"]}

    with_hook = train_arm(ArmConfig("plain"), x, y, cfg, seed=1, on_epoch_end=hook)
    without = train_arm(ArmConfig("plain"), x, y, cfg, seed=1)
    assert seen == [0, 1, 2]
    assert [e["epoch"] for e in with_hook.epochs] == [0, 1, 2] and without.epochs == []
    for a, b in zip(with_hook.model.state_dict().values(), without.model.state_dict().values()):
        assert torch.equal(a, b)  # scoring between epochs leaves training bit-identical
    last = evaluate_model(with_hook.model, sets)["t"]["MPJPE"]
    assert with_hook.epochs[-1]["MPJPE"] == pytest.approx(last)


def test_interleaved_step_times_times_every_arm_and_leaves_global_rng():
    from sealloss.demo.experiment import interleaved_step_times

    x, y = _poses(96)
    cfg = TrainConfig(epochs=1, batch_size=32, width=32, blocks=1)
    arms = [ArmConfig("plain"), ArmConfig("explicit", w_bone=0.1, w_sym=0.1),
            ArmConfig("seal", seal=True, seal_kwargs={
                "lossnet": GraphormerLossNet(width=16, layers=1, heads=2), "mode": "static"})]
    state = torch.get_rng_state()
    times = interleaved_step_times(arms, x, y, cfg, seed=0, steps=4, warmup=1)
    assert torch.equal(state, torch.get_rng_state())
    assert set(times) == {"plain", "explicit", "seal"}
    assert all(len(t) == 4 and all(v > 0 for v in t) for t in times.values())


def test_interleaved_times_rotates_the_order_and_skips_warmup_rounds():
    from sealloss.demo.experiment import interleaved_times

    calls: list[tuple[str, int]] = []
    prepared: list[int] = []
    steps = {n: (lambda i, n=n: calls.append((n, i))) for n in ("a", "b", "c")}
    times = interleaved_times(steps, rounds=3, warmup=1, before_round=prepared.append)
    assert prepared == [0, 1, 2, 3]
    assert [n for n, _ in calls] == list("abc" "bca" "cab" "abc")
    assert all(len(t) == 3 for t in times.values())  # the warm-up round is not timed
    with pytest.raises(ValueError, match="rounds"):
        interleaved_times({}, rounds=3)


def test_ratio_summary_pairs_rounds_and_refuses_unpaired_timings():
    from sealloss.demo.experiment import ratio_summary

    r = ratio_summary([2.0, 3.0, 8.0], [1.0, 1.0, 2.0])  # per-round ratios 2, 3, 4
    assert r["ratio_min"] == 2.0 and r["ratio_median"] == 3.0 and r["ratio_max"] == 4.0
    assert r["ratio_of_medians"] == pytest.approx(3.0 / 1.0)
    with pytest.raises(ValueError, match="paired"):
        ratio_summary([1.0], [1.0, 2.0])
