"""VideoPose3D (``facebookresearch/VideoPose3D``): temporal convolutions, centre-frame output.

Training uses ``TemporalModelOptimized1f``: ``(B, F, 17, 2) -> (B, 1, 17, 3)`` with
``F = 2 * pad + 1`` (27/81/243). The matching 2D frame is ``pad + causal_shift`` (not ``F // 2``
with ``--causal``). Build with ``get("videopose3d", pad=pad, causal_shift=causal_shift)``.
"""

from __future__ import annotations

from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["VideoPose3DAdapter"]


class VideoPose3DAdapter(VideoPose3DFamilyAdapter):
    """Adapter for VideoPose3D (``facebookresearch/VideoPose3D``): temporal convolutions.

    Input ``[B, F, J, 2]`` screen-normalised 2D (F = 2 * pad + 1; J = 17 in H36M-17 order, or
    16 in MPII order for the Stacked-Hourglass file with ``keypoints_2d="mpii16"``), output
    ``[B, 1, 17, 3]`` camera-frame metres, root-relative, for the frame ``pad + causal_shift``
    (the target's slot 0 holds the trajectory until the loop zeroes it). Arguments (``pad``,
    ``causal_shift``, ``keypoints_2d``) as :class:`VideoPose3DFamilyAdapter`.
    """
    name = "videopose3d"
    upstream = "facebookresearch/VideoPose3D"
    commit = "1afb1ca0f1237776518469876342fc8669d3f6a9"
    layout = "center"
    script = "run.py"
    input_shape = "[B,F,17,2] (F=2*pad+1; SH: 16 joints)"
    output_shape = "[B,1,17,3] centre frame"
    joint_order = "H36M-17 (SH 2D: MPII-16)"
