"""PoseFormerV2 (``QitaoZhao/PoseFormerV2``): frequency-domain transformer, centre-frame output.

``PoseTransformerV2``: ``(B, F, 17, 2) -> (B, 1, 17, 3)``; the model keeps ``frame-kept`` centre
frames plus ``coeff-kept`` DCT coefficients internally, and the matching 2D frame is ``F // 2``.
"""

from __future__ import annotations

from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["PoseFormerV2Adapter"]


class PoseFormerV2Adapter(VideoPose3DFamilyAdapter):
    """Adapter for PoseFormerV2 (``QitaoZhao/PoseFormerV2``): a 2D window in, its centre out.

    Input ``[B, F, 17, 2]`` screen-normalised 2D (F = 27, 81 or 243; H36M-17 order), output
    ``[B, 1, 17, 3]`` camera-frame metres, root-relative, for the centre frame (the target's
    slot 0 holds the trajectory until the loop zeroes it). Arguments (``pad``,
    ``causal_shift``, ``keypoints_2d``) as :class:`VideoPose3DFamilyAdapter`.
    """
    name = "poseformerv2"
    upstream = "QitaoZhao/PoseFormerV2"
    commit = "008036a66048e2dcb6fcf8d5b05a705ad1d2f392"
    layout = "center"
    script = "run_poseformer.py"
    input_shape = "[B,F,17,2] (F=27/81/243)"
    output_shape = "[B,1,17,3] centre frame"
