"""The recommended settings, per 2D input kind: the constants every entry point's defaults follow.

:class:`~sealloss.training.wrapper.AlternatingWrapper` and its parts, the flat-settings builder
(:func:`sealloss.training.settings.build_wrapper`), the Lightning ``SealCallback``, the
``--seal*`` flags of the example patches (:mod:`sealloss.adapters.hooks`) and the SEAL arm of
``sealloss demo`` all default to :data:`TRAIN` of their input kind (``inputs="gt"`` unless told:
:data:`RECOMMENDED`); refinement's defaults are :data:`REFINE` (checked by
``tests/test_defaults.py``).

Why these settings (Human3.6M, chosen on S8, scored once on S9/S11; docs/results):

- ``"gt"`` (GT-projected 2D, :data:`RECOMMENDED`): the shipped pretrained loss-net
  (``"h36m17"``), frozen (``mode="static"``), with ``lam="auto"`` holding the energy's pull at
  0.3 of the supervised pull and scoring a random quarter of each batch: the row the S8 ablation
  chose (best structure for no MPJPE cost, and the cheapest: no loss-net updates).
- ``"detected"`` (a 2D detector's output): the paper's alternating scheme warm-started from the
  detection-conditioned ``"h36m17-sh-refiner"`` (margin objective, margin 20 x the task cost,
  loss-net Adam 1e-4 on batches of 64 every 2nd step; the S8-free weights this arm was chosen
  with, while refinement now uses ``"h36m17-sh-oof-refiner"``), the arm the S8 detection fronts
  chose (``bench/results/fronts/fronts_sh.md``): S9/S11 SH-2D MPJPE -0.43 +- 0.28 mm (-0.6 %), BSLE
  -8.1 % over 3 seeds (``bench/results/sh/gain_sh_final.md``); every frozen loss-net raised S8
  MPJPE on detections.

The module imports nothing heavy, so reading it costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "RECOMMENDED",
    "TRAIN",
    "recommended",
    "train_defaults",
    "SHIPPED_WEIGHTS_CARD",
    "DSM_WEIGHTS_CARD",
    "SH_REFINER_CARD",
    "SH_OOF_REFINER_CARD",
    "WEIGHTS_CARDS",
    "INPUT_KINDS",
    "REFINE",
    "CLIP",
    "clip_defaults",
    "refine_defaults",
]

#: The 2D input kinds training and refinement know: ``"gt"`` (GT-projected 2D, the pose's own
#: projection) and ``"detected"`` (a 2D detector's output, e.g. Stacked Hourglass or CPN).
INPUT_KINDS: tuple[str, ...] = ("gt", "detected")

#: The recommended, measured training setting for GT-projected 2D (read-only; ``TRAIN["gt"]``).
#: Keys are flat wrapper settings (:func:`sealloss.training.settings.build_wrapper`); the parts'
#: own defaults read them too, so ``AlternatingWrapper()`` is this setting.
RECOMMENDED: MappingProxyType[str, Any] = MappingProxyType({
    "lossnet": "h36m17",
    "mode": "static",
    "lam": "auto",
    "target_force_ratio": 0.3,
    "score_fraction": 0.25,
})

#: The recommended training setting per 2D input kind (:data:`INPUT_KINDS`; read-only): what
#: ``build_wrapper(inputs=...)``, ``SealCallback(inputs=...)`` and the patches'
#: ``--seal-inputs`` give by default. See the module doc for where each was measured.
TRAIN: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType({
    "gt": RECOMMENDED,
    "detected": MappingProxyType({
        "lossnet": "h36m17-sh-refiner",
        "mode": "warm",
        "lam": "auto",
        "target_force_ratio": 0.3,
        "score_fraction": 0.25,
        "lossnet_lr": 1e-4,
        "update_every": 2,
        "lossnet_batch": 64,
        "objective": "margin",
        "margin": 20.0,
    }),
})


def train_defaults(inputs: str = "gt") -> MappingProxyType[str, Any]:
    """The recommended training setting of one 2D input kind (:data:`TRAIN`).

    Raises:
        ValueError: ``inputs`` is not one of :data:`INPUT_KINDS`.
    """
    return _of_kind(TRAIN, inputs, "the model is trained on")


def recommended(inputs: str = "gt", **overrides: Any) -> dict[str, Any]:
    """A mutable copy of the recommended setting of ``inputs`` (:data:`TRAIN`), with
    ``overrides`` applied (unknown keys are kept: :func:`sealloss.training.settings.build_wrapper`
    checks them)."""
    return {**train_defaults(inputs), **overrides}


#: What ``sealloss info`` prints about the shipped weights (``"h36m17"``, file
#: ``sealloss/weights/h36m17-graphormer.safetensors``); the numbers come from
#: ``bench/results/pretrain_h36m17.json`` in the source repository.
SHIPPED_WEIGHTS_CARD: MappingProxyType[str, str] = MappingProxyType({
    "trained_on": (
        "Human3.6M training subjects S1, S5, S6, S7, S8, all 4 cameras, every 2nd 10 Hz frame: "
        "146,724 (GT-projected 2D, camera-frame 3D) pairs; no test subject (S9/S11), "
        "HumanEva or 2D detection was used"
    ),
    "objective": (
        "NCE ranking (temperature 0.1) of the ground truth against 8 synthetic negatives per "
        "pose (joint noise, bone rotations, bone-length changes, limb swaps, depth flips, 10 % "
        "hard negatives), energy regulariser 1e-3; Adam 1e-3 decayed to 5e-5, batch 64, "
        "600 steps, seed 0, 22 min on 2 CPU threads"
    ),
    "command": "python bench/pretrain_h36m.py --data-root <folder> --steps 600",
    "inputs": "GT-projected 2D (screen frame); 3D root-relative metres",
    "use": (
        "the training loss (AlternatingWrapper's default); not the recommended critic: it "
        "misses the ranking bar on bone-direction changes (68.6 % at 20 mm on S9/S11; score "
        "GT-2D poses with h36m17-dsm); not a refiner (descent on it raises MPJPE)"
    ),
    "terms": (
        "derived from Human3.6M, whose licence allows non-commercial academic research only: "
        "use these weights for research only, and only if you may use Human3.6M yourself; for "
        "anything else pretrain your own loss-net on data you may use (sealloss pretrain)"
    ),
})


#: The card of the score-matching weights (``"h36m17-dsm"``, file
#: ``sealloss/weights/h36m17-mlp-dsm.safetensors``); numbers from
#: ``bench/results/landscape/`` in the source repository.
DSM_WEIGHTS_CARD: MappingProxyType[str, str] = MappingProxyType({
    "trained_on": (
        "Human3.6M training subjects S1, S5, S6, S7, S8, all 4 cameras, every 2nd 10 Hz frame: "
        "146,724 (GT-projected 2D, camera-frame 3D) pairs; no test subject (S9/S11), "
        "HumanEva or 2D detection was used; settings chosen on S8 with a copy trained on "
        "S1/S5/S6/S7"
    ),
    "objective": (
        "conditional denoising score matching (noise 5-150 mm per coordinate, log-uniform, "
        "non-root joints): sigma * dE/dy at y* + sigma * eps matches eps; energy regulariser "
        "1e-3; MLP loss-net width 512, 2 blocks; Adam 1e-3 on a 12,000-step decay to 5e-5, "
        "stopped after 8,259 steps (where the time-capped S8 validation run stopped), batch 128, "
        "seed 0"
    ),
    "command": (
        "python bench/pretrain_h36m.py --data-root <folder> --objective dsm --negatives 0 "
        "--hard-fraction 0 --batch-size 128 --steps 12000 --stop-after 8259 --kind mlp "
        "--mlp-width 512 --mlp-blocks 2 --threads 1"
    ),
    "inputs": "GT-projected 2D (screen frame); 3D root-relative metres",
    "use": (
        "test-time refinement of predictions made from GT 2D (sealloss refine --inputs gt) and "
        "the critic for GT 2D (sealloss score): >= 99.3 % at 20 mm for every negative kind and "
        "the truth below the plain prediction in 99.7 % of S9/S11 poses (its S8-free copy: "
        "99.9 % on S8); on detected 2D it makes predictions worse (use h36m17-sh-oof-refiner); "
        "not a training-loss recommendation: the recommended training setting uses h36m17"
    ),
    "terms": SHIPPED_WEIGHTS_CARD["terms"],
})

#: The card of the detected-2D refiner (``"h36m17-sh-refiner"``, file
#: ``sealloss/weights/h36m17-sh-refiner.safetensors``); numbers from ``bench/results/sh/`` in the
#: source repository.
SH_REFINER_CARD: MappingProxyType[str, str] = MappingProxyType({
    "trained_on": (
        "Human3.6M S1, S5, S6, S7 (not S8: these are the S8-free weights the detected-2D choice "
        "was made with), all 4 cameras, every 2nd 10 Hz frame: (Stacked-Hourglass 2D "
        "detections, camera-frame 3D) pairs, plus out-of-fold predictions of those pairs by "
        "plain SimpleBaselines trained on the other three subjects' detections (10 epochs over "
        "every 2nd frame; out-of-fold MPJPE 82.6-98.7 mm); no S8, S9/S11, HumanEva or GT 2D"
    ),
    "objective": (
        "conditional denoising score matching (noise 5-150 mm) plus gradient matching at the "
        "out-of-fold predictions (dE/dy there points from the truth to the prediction, scaled by "
        "its size), energy regulariser 1e-3; MLP loss-net width 512, 2 blocks; Adam 1e-3 on a "
        "12,000-step decay, stopped after 6,000 steps, batch 128, seed 0"
    ),
    "command": (
        "python bench/crossfit_h36m.py --data-root <folder> --inputs sh --subjects S1 S5 S6 S7 "
        "--every 2 --out bench/cache/crossfit_sh_val && python bench/pretrain_h36m.py "
        "--data-root <folder> --validate --inputs sh --objective dsm --grad-weight 1.0 "
        "--crossfit bench/cache/crossfit_sh_val --negatives 0 --hard-fraction 0 --batch-size 128 "
        "--steps 12000 --stop-after 6000 --kind mlp --mlp-width 512 --mlp-blocks 2 --threads 1"
    ),
    "inputs": "detected 2D (Stacked-Hourglass detections, screen frame); 3D root-relative metres",
    "use": (
        "the warm start of the recommended training setting for detections (TRAIN['detected']: "
        "the alternating scheme retrains it on the current predictions), chosen with these "
        "S8-free weights; the detected-2D refiner until round 5 of bench/clip_refinement.py "
        "(now h36m17-sh-oof-refiner); not a critic: it prefers real predictions to the truth "
        "(S8: the truth has the lower energy than the plain prediction in only 1.8 % of poses), "
        "so do not use it to score, nor frozen as a training loss (it raised S8 MPJPE on "
        "detections)"
    ),
    "terms": SHIPPED_WEIGHTS_CARD["terms"],
})

#: The card of the detected-2D refiner (``"h36m17-sh-oof-refiner"``, file
#: ``sealloss/weights/h36m17-sh-oof-refiner.safetensors``): the recipe chosen on S8 by round 5 of
#: ``bench/clip_refinement.py`` (``bench/results/clips/val_sh_round5_*.md``), retrained on S1-S8;
#: numbers from ``bench/results/sh/`` in the source repository.
SH_OOF_REFINER_CARD: MappingProxyType[str, str] = MappingProxyType({
    "trained_on": (
        "Human3.6M S1, S5, S6, S7, S8, all 4 cameras, every 2nd 10 Hz frame: 146,724 "
        "(Stacked-Hourglass 2D detections, camera-frame 3D) pairs, plus out-of-fold predictions "
        "of those pairs by plain SimpleBaselines trained on the other four subjects' detections "
        "at the headline budget (10 epochs over every 10 Hz frame; out-of-fold MPJPE "
        "74.9-91.0 mm); no S9/S11, HumanEva or GT 2D; the recipe was chosen on S8 with a copy "
        "trained on S1/S5/S6/S7"
    ),
    "objective": SH_REFINER_CARD["objective"],
    "command": (
        "python bench/crossfit_h36m.py --data-root <folder> --inputs sh --subjects S1 S5 S6 S7 "
        "S8 --every 1 --out bench/cache/crossfit_sh_headline && python bench/pretrain_h36m.py "
        "--data-root <folder> --inputs sh --objective dsm --grad-weight 1.0 --crossfit "
        "bench/cache/crossfit_sh_headline --negatives 0 --hard-fraction 0 --batch-size 128 "
        "--steps 12000 --stop-after 6000 --kind mlp --mlp-width 512 --mlp-blocks 2 --threads 1"
    ),
    "inputs": SH_REFINER_CARD["inputs"],
    "use": (
        "test-time refinement of predictions made from detected 2D (sealloss refine --inputs "
        "detected, refine(..., inputs='detected')), with each pose's bone lengths starting at "
        "the training subjects' mean: a refiner, not a critic: its S8-free copy gives the "
        "truth the lower energy than the plain prediction in only 4.5 % of S8 poses "
        "(synthetic negatives: >= 86 % at 20 mm), so do not use it to score, nor frozen as a "
        "training loss"
    ),
    "terms": SHIPPED_WEIGHTS_CARD["terms"],
})

#: Registered name -> card, for ``sealloss info``.
WEIGHTS_CARDS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType({
    "h36m17": SHIPPED_WEIGHTS_CARD,
    "h36m17-graphormer": SHIPPED_WEIGHTS_CARD,
    "h36m17-dsm": DSM_WEIGHTS_CARD,
    "h36m17-sh-refiner": SH_REFINER_CARD,
    "h36m17-sh-oof-refiner": SH_OOF_REFINER_CARD,
})

#: Defaults of test-time refinement (:func:`sealloss.refine`, ``sealloss refine``), per 2D input
#: kind: the weights and the descent setting chosen on Human3.6M S8 (``bench/lossnet_landscape.py``
#: for ``"gt"``: lowest S8 MPJPE over lr x pull x steps; see docs/results). ``pose_terms``
#: (optional): :class:`~sealloss.posthoc.clip_refinement.ClipSettings` fields applied to each pose
#: alone (its own bone lengths from the prior, its 2D term). ``steps = 0`` means
#: that no refiner we measured improved that input kind on S8: refinement then returns the input.
REFINE: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType({
    # chosen on S8 by bench/lossnet_landscape.py. Round 4 of bench/clip_refinement.py chose
    # per-pose terms on S8 GT 2D too (S8 MPJPE 48.8 against 53.4; val_gt_round4.md), but they are
    # not the default: the shipped prior is Human3.6M's, and on the CMU clips the demo refines it
    # doubled the error of noisy GT-2D poses (59 -> 121 mm; tests/test_refine.py). Opt in with
    # refine(..., lr=5e-4, clip=ClipSettings(w2d=1000.0, smooth=0.0, prior=<your data's mean
    # bone lengths>)).
    "gt": MappingProxyType({"weights": "h36m17-dsm", "steps": 30, "lr": 1e-3, "pull": 100.0}),
    # weights, descent and per-pose terms (each pose's bone lengths start at the training prior,
    # its 2D term holds it to its detection) chosen on S8 detections by round 5 of
    # bench/clip_refinement.py among five refiners (S8 MPJPE 66.4 against 67.5 for the previous
    # h36m17-sh-refiner and 74.8 unrefined): bench/results/clips/val_sh_round5_*.md; the GT-2D
    # refiner made detection-trained predictions 6.5 % worse on S9/S11
    "detected": MappingProxyType({"weights": "h36m17-sh-oof-refiner", "steps": 30, "lr": 5e-4,
                                  "pull": 100.0,
                                  "pose_terms": MappingProxyType({"w2d": 1000.0, "smooth": 0.0,
                                                                  "prior_weight": 1.0})}),
})


#: The clip terms of clip refinement per 2D input kind
#: (:meth:`sealloss.posthoc.clip_refinement.ClipSettings.recommended`, ``sealloss refine
#: --clip-key``), chosen on S8 (every 4th clip, a lifter trained on S1/S5/S6/S7 with that kind of
#: 2D, the kind's refiner weights and descent setting; ``bench/results/clips/val_sh_round3.md``
#: and ``val_gt_round3.md``; re-chosen for detections with ``h36m17-sh-oof-refiner``'s S8-free
#: copy, same terms: ``val_sh_round4_oof.md``): 2D-consistency weight, smoothness (per m^2/s;
#: it needs frame indices: without them the CLI turns it off and says so), the log-lengths'
#: learning rate (``None``: the bone vectors') and the weight of the bone-length prior where the
#: clip's lengths start (1: the training subjects' mean lengths, :mod:`sealloss.pose.priors`).
CLIP: MappingProxyType[str, MappingProxyType[str, float | None]] = MappingProxyType({
    "gt": MappingProxyType({"w2d": 0.0, "smooth": 1000.0, "length_lr": None,
                            "prior_weight": 1.0}),
    "detected": MappingProxyType({"w2d": 3000.0, "smooth": 1000.0, "length_lr": None,
                                  "prior_weight": 1.0}),
})


def clip_defaults(inputs: str = "gt") -> MappingProxyType[str, float | None]:
    """The clip terms of one 2D input kind (:data:`CLIP`).

    Raises:
        ValueError: ``inputs`` is not one of :data:`INPUT_KINDS`.
    """
    return _of_kind(CLIP, inputs, "the poses were predicted from")


def refine_defaults(inputs: str = "gt") -> MappingProxyType[str, Any]:
    """The refinement defaults of one 2D input kind (:data:`REFINE`).

    Raises:
        ValueError: ``inputs`` is not one of :data:`INPUT_KINDS`.
    """
    return _of_kind(REFINE, inputs, "the poses were predicted from")


def _of_kind(table: Mapping[str, Any], inputs: str, role: str) -> Any:
    """``table[inputs]``, or a ``ValueError`` naming the input kinds and what ``inputs`` is
    (``role``: e.g. "the model is trained on")."""
    if inputs not in table:
        raise ValueError(f"inputs must be one of {INPUT_KINDS} (the kind of 2D {role}), got "
                         f"{inputs!r}")
    return table[inputs]
