"""PoseFormer (``zczcwh/PoseFormer``): spatial-temporal transformer, centre-frame output.

``PoseTransformer``: ``(B, F, 17, 2) -> (B, 1, 17, 3)`` with F = 9/27/81; the matching 2D frame is
``F // 2``. The upstream loop deletes ``inputs_2d`` right after the forward, so the example patch
keeps a reference before that line.
"""

from __future__ import annotations

from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["PoseFormerAdapter"]


class PoseFormerAdapter(VideoPose3DFamilyAdapter):
    """Adapter for PoseFormer (``zczcwh/PoseFormer``): a 2D window in, its centre frame out.

    Input ``[B, F, 17, 2]`` screen-normalised 2D (F = 9, 27 or 81; H36M-17 order), output
    ``[B, 1, 17, 3]`` camera-frame metres, root-relative, for the centre frame (the target's
    slot 0 holds the trajectory until the loop zeroes it). Arguments (``pad``,
    ``causal_shift``, ``keypoints_2d``) as :class:`VideoPose3DFamilyAdapter`.
    """
    name = "poseformer"
    upstream = "zczcwh/PoseFormer"
    commit = "a908b29adca354b2e0acd36606229ca19b6a5e3c"
    layout = "center"
    script = "run_poseformer.py"
    input_shape = "[B,F,17,2] (F=9/27/81)"
    output_shape = "[B,1,17,3] centre frame"
