"""MotionBERT (``Walter0807/MotionBERT``), 3D pose task: DSTformer, seq2seq in 2.5D units.

``DSTformer``: ``(B, T, 17, 3) -> (B, T, 17, 3)`` (T = 243, 32 clips per batch); input channels
(x, y, confidence). See :mod:`.family_motionbert` for units and the scale policy.
"""

from __future__ import annotations

from .family_motionbert import MotionBERTFamilyAdapter

__all__ = ["MotionBERTAdapter"]


class MotionBERTAdapter(MotionBERTFamilyAdapter):
    """Adapter for MotionBERT (``Walter0807/MotionBERT``): 2.5D units, confidence channel.

    Input ``[B, T, 17, 3]`` (x, y, confidence; T = 243), output/target ``[B, T, 17, 3]`` in
    2.5D image units (about 2.27 m per unit), seq2seq, H36M-17 order. Arguments (``scale``,
    ``unit_m``, ``ref_bone_m``, ``channels``) as :class:`MotionBERTFamilyAdapter`.
    """
    name = "motionbert"
    upstream = "Walter0807/MotionBERT"
    commit = "dccfe7b14a7f09aae2e27a16d951cb4c6f6e62f6"
    script = "train.py"
    input_shape = "[B,T,17,3] (x,y,conf; T=243)"
    output_shape = "[B,T,17,3] seq2seq"
