"""No library code touches torch's global random generator (the style guide forbids global state;
``pretrain_lossnet`` once called ``torch.manual_seed``). Before the fix the pretraining test
failed; the other two already passed."""

from __future__ import annotations

import torch

from sealloss.training.pretrain import PretrainConfig, pretrain_lossnet


def _state() -> torch.Tensor:
    return torch.random.get_rng_state().clone()


def _pairs(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    y = torch.randn(n, 17, 3, generator=g) * 0.2
    y[:, 0] = 0
    return torch.randn(n, 17, 2, generator=g) * 0.3, y


def test_pretraining_leaves_the_global_generator_alone():
    x, y = _pairs()
    torch.manual_seed(1234)
    before = _state()
    cfg = PretrainConfig(kind="mlp", model={"width": 16, "blocks": 1}, steps=3, batch_size=8,
                         num_negatives=2, hard_fraction=0.0)
    pretrain_lossnet(x, y, cfg)
    assert torch.equal(before, _state())


def test_pretraining_is_still_seeded_by_its_config():
    x, y = _pairs()
    cfg = PretrainConfig(kind="mlp", model={"width": 16, "blocks": 1}, steps=3, batch_size=8,
                         num_negatives=2, hard_fraction=0.0)
    a, _ = pretrain_lossnet(x, y, cfg)
    torch.manual_seed(99)  # whatever the caller's stream, the same net
    b, _ = pretrain_lossnet(x, y, cfg)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


def test_refinement_and_the_demo_trainer_leave_the_global_generator_alone():
    from sealloss.demo.experiment import ArmConfig, TrainConfig, train_arm
    from sealloss.nn import MLPLossNet
    from sealloss.posthoc.refinement import refine

    x, y = _pairs()
    torch.manual_seed(7)
    net = MLPLossNet("h36m17", width=8, blocks=1)
    before = _state()
    refine(net, x, y, steps=2)
    train_arm(ArmConfig("plain"), x, y, TrainConfig(epochs=1, width=16, batch_size=16), seed=0)
    assert torch.equal(before, _state())
