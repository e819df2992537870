"""Named SEAL settings shared by the ablation (bench/h36m_ablation.py) and the gain benchmark
(bench/h36m_gain.py ``--seal-variant``): each is the gain benchmark's original SEAL arm
(``base``) with one thing changed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sealloss.demo.experiment import TrainConfig, steps_per_epoch
from sealloss.negatives import (
    BoneDirectionNoise,
    BoneLengthNoise,
    GaussianNoise,
    HardNegatives,
    LimbSwap,
    NegativeMixer,
    default_negatives,
)
from sealloss.nn import GraphormerLossNet, MLPLossNet

#: an override value that removes the key from the base settings (a setting the variant makes
#: meaningless: build_wrapper refuses a key that would be ignored)
UNSET = object()
#: the base's loss-net training keys, removed by the static variants
_NO_TRAINER = {k: UNSET for k in ("update_every", "lossnet_batch", "num_negatives", "objective",
                                  "margin", "lossnet_lr")}


def base_kwargs(seed: int) -> dict:
    """The gain benchmark's SEAL arm (bench/h36m_gain.py defaults)."""
    torch.manual_seed(10_000 + seed)
    return {
        "lossnet": GraphormerLossNet("h36m17", width=32, layers=2, heads=4),
        "lam": "auto",
        "target_force_ratio": 0.3,
        "mode": "dynamic",
        "score_fraction": 0.25,
        "update_every": 2,
        "lossnet_batch": 64,
        "num_negatives": 2,
        "objective": "margin",
        "margin": 20.0,
        "lossnet_lr": 1e-3,
    }


def total_steps(n_train: int, cfg: TrainConfig) -> int:
    """Optimizer steps of a whole training run over ``n_train`` pairs."""
    return steps_per_epoch(n_train, cfg) * cfg.epochs


def _ramp(total: int, peak: float) -> Callable[[int], float]:
    def lam(step: int) -> float:
        return peak * min(1.0, step / max(1, total // 2))

    return lam


def _struct_negatives() -> NegativeMixer:
    return NegativeMixer(
        [
            (BoneDirectionNoise("h36m17", angle_rad=(0.05, 0.25)), 1.0),
            (BoneLengthNoise("h36m17", scale=(0.03, 0.15), side="one"), 1.0),
            (LimbSwap("h36m17"), 0.5),
        ]
    )


def _seeded(factory: Callable[[], object], seed: int) -> object:
    torch.manual_seed(10_000 + seed)
    return factory()


# (seed s, total steps n, pretrained weights w) -> the wrapper kwargs to change
Overrides = Callable[[int, int, str], dict]

_TABLE: dict[str, tuple[str, Overrides]] = {
    "base": ("auto lambda (force ratio 0.3), dynamic, margin, default negatives x2",
             lambda s, n, w: {}),
    "lam-fixed-2e-4": ("fixed lambda 2e-4 (the auto controller's typical value)",
                       lambda s, n, w: {"lam": 2e-4, "target_force_ratio": UNSET}),
    "lam-fixed-1e-3": ("fixed lambda 1e-3 (SEAL reference code's MLP value)",
                       lambda s, n, w: {"lam": 1e-3, "target_force_ratio": UNSET}),
    "lam-ramp": ("lambda ramped linearly 0 -> 2e-4 over the first half",
                 lambda s, n, w: {"lam": _ramp(n, 2e-4), "target_force_ratio": UNSET}),
    "force-0.1": ("auto lambda, force ratio 0.1", lambda s, n, w: {"target_force_ratio": 0.1}),
    "force-1.0": ("auto lambda, force ratio 1.0", lambda s, n, w: {"target_force_ratio": 1.0}),
    "neg-pred-only": ("negatives: the pose-net's predictions only",
                      lambda s, n, w: {"num_negatives": 0, "negatives": None}),
    "neg-gauss": ("negatives: predictions + Gaussian joint noise only",
                  lambda s, n, w: {"negatives": GaussianNoise("h36m17", (0.005, 0.025))}),
    "neg-struct": ("negatives: predictions + bone direction/length + limb swap (no Gaussian)",
                   lambda s, n, w: {"negatives": _struct_negatives()}),
    "neg-hard": ("negatives: default mix moved 3 steps down the energy (hard)",
                 lambda s, n, w: {"negatives": HardNegatives(
                     default_negatives("h36m17"), steps=3, step_size=0.01)}),
    "neg-x4": ("4 synthetic negatives per sample instead of 2",
               lambda s, n, w: {"num_negatives": 4}),
    "k2": ("k = 2 loss-net steps per update", lambda s, n, w: {"k": 2}),
    "update-every-1": ("loss-net updated every step (not every 2nd)",
                       lambda s, n, w: {"update_every": 1}),
    "lossnet-64x4": ("Graphormer width 64, 4 layers (vs 32, 2)",
                     lambda s, n, w: {"lossnet": _seeded(lambda: GraphormerLossNet(
                         "h36m17", width=64, layers=4, heads=4), s)}),
    "mlp": ("MLP loss-net (width 256, 2 blocks)",
            lambda s, n, w: {"lossnet": _seeded(lambda: MLPLossNet(
                "h36m17", width=256, blocks=2), s)}),
    "nce": ("NCE ranking objective instead of margin",
            lambda s, n, w: {"objective": "nce", "margin": UNSET}),
    "cost-bone": ("margin task cost MPJPE + bone-length error",
                  lambda s, n, w: {"task_cost": "mpjpe+bone"}),
    "static-pretrained": ("pretrained loss-net (S8-free on validation), frozen (static)",
                          lambda s, n, w: {"lossnet": w, "mode": "static", **_NO_TRAINER}),
    "warm-pretrained": ("pretrained loss-net (S8-free on validation), fine-tuned (warm)",
                        lambda s, n, w: {"lossnet": w, "mode": "warm"}),
    "static-cheap": ("pretrained, frozen (static), scoring 1/8 of the batch",
                     lambda s, n, w: {"lossnet": w, "mode": "static", "score_fraction": 0.125,
                                      **_NO_TRAINER}),
    "cheap": ("cheaper: score 1/8 of the batch, update every 4th step, loss-net batch 32",
              lambda s, n, w: {"score_fraction": 0.125, "update_every": 4,
                                   "lossnet_batch": 32}),
}

def _authors_recipe(seed: int) -> dict:
    """The first author's public experiment recipe, reimplemented from its description: a
    graph-transformer loss-net (width 256, 8 heads, depth 4) trained dynamically on the ground
    truth against the pose-net's detached predictions only, margin ``ratio * MPJPE`` (our margin
    10 energy units per metre), fixed lambda 1e-4 (they use 1e-5 to 1e-3 by backbone), AdamW
    lr 1e-4, one loss-net step per batch on the whole batch, no energy regulariser."""
    torch.manual_seed(10_000 + seed)
    net = GraphormerLossNet("h36m17", width=256, layers=4, heads=8)
    return {
        "lossnet": net, "mode": "dynamic", "lam": 1e-4, "negatives": None, "num_negatives": 0,
        "objective": "margin", "margin": 10.0, "energy_reg": 0.0, "update_every": 1,
        "lossnet_batch": None, "score_fraction": 1.0,
        "lossnet_optimizer": torch.optim.AdamW(net.parameters(), lr=1e-4),
        "lossnet_lr": UNSET, "target_force_ratio": UNSET,
    }


_TABLE["authors-recipe"] = (
    "the authors' public recipe: Graphormer 256x4 (8 heads), dynamic on predictions only, "
    "margin, fixed lambda 1e-4, AdamW 1e-4, one step per batch",
    lambda s, n, w: _authors_recipe(s),
)

VARIANTS = tuple(_TABLE)


def seal_variant(
    name: str, seed: int, n_train: int, cfg: TrainConfig, pretrained: str = "h36m17"
) -> tuple[str, dict]:
    """(description, flat wrapper settings) of a named variant: :func:`base_kwargs` plus its
    changes (an :data:`UNSET` change removes a base key the variant makes meaningless).

    ``pretrained``: the loss-net weights of the static and warm variants (a registered name or a
    path). On S8 validation use weights pretrained without S8 (``bench/pretrain_h36m.py
    --validate``); the shipped ``h36m17`` weights saw S8.
    """
    if name not in _TABLE:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    desc, overrides = _TABLE[name]
    kw = base_kwargs(seed)
    kw.update(overrides(seed, total_steps(n_train, cfg), pretrained))
    return desc, {k: v for k, v in kw.items() if v is not UNSET}
