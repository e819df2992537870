"""PoseFormer (``zczcwh/PoseFormer``): spatial-temporal transformer, centre-frame output.

``PoseTransformer``: ``(B, F, 17, 2) -> (B, 1, 17, 3)`` with F = 9/27/81; the matching 2D frame is
``F // 2``. The upstream loop deletes ``inputs_2d`` right after the forward, so the example patch
keeps a reference before that line.
"""

from __future__ import annotations

from . import register
from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["PoseFormerAdapter"]


@register("poseformer")
class PoseFormerAdapter(VideoPose3DFamilyAdapter):
    name = "poseformer"
    upstream = "zczcwh/PoseFormer"
    commit = "a908b29adca354b2e0acd36606229ca19b6a5e3c"
    layout = "center"
    script = "run_poseformer.py"
    input_shape = "[B,F,17,2] (F=9/27/81)"
    output_shape = "[B,1,17,3] centre frame"
