"""MotionAGFormer (``TaatiTeam/MotionAGFormer``): attention + graph, seq2seq in 2.5D units.

``MotionAGFormer``: ``(B, T, 17, 3) -> (B, T, 17, 3)`` (T = 27/81/243, 16 clips per batch); the
same data reader and units as MotionBERT (:mod:`.family_motionbert`). With ``add_velocity`` the
input has 5 channels (x, y, conf, vx, vy); :meth:`inputs_2d` keeps (x, y).
"""

from __future__ import annotations

from .family_motionbert import MotionBERTFamilyAdapter

__all__ = ["MotionAGFormerAdapter"]


class MotionAGFormerAdapter(MotionBERTFamilyAdapter):
    """Adapter for MotionAGFormer (``TaatiTeam/MotionAGFormer``): MotionBERT's data pipeline.

    Input ``[B, T, 17, 3]`` (x, y, confidence; T = 27, 81 or 243), output/target
    ``[B, T, 17, 3]`` in 2.5D image units (about 2.27 m per unit), seq2seq, H36M-17 order.
    Arguments (``scale``, ``unit_m``, ``ref_bone_m``, ``channels``) as
    :class:`MotionBERTFamilyAdapter`.
    """
    name = "motionagformer"
    upstream = "TaatiTeam/MotionAGFormer"
    commit = "4756fd1eb7cc73f0e991f091ff2280e030ab85f3"
    script = "train.py"
    input_shape = "[B,T,17,3] (x,y,conf; T=27/81/243)"
    output_shape = "[B,T,17,3] seq2seq"
