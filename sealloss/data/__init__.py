"""Real-data loaders: Human3.6M, HumanEva-I, MPI-INF-3DHP, H3WB, VideoPose3D's Human3.6M files
(:mod:`.vp3d`), BVH mocap and the embedded CMU set, all returning *pairs dicts* of numpy arrays
in sealloss's canonical frames (2D in the normalised screen frame, 3D camera-frame
root-relative metres; see :mod:`.h36m`).

Nothing is downloaded: pass ``root=`` or set ``$SEALLOSS_DATA``. Only the small CMU-derived
set (:func:`load_embedded`) ships with the package.
"""

from .bvh import (
    BVH_MAPPINGS,
    BVHClip,
    BVHMapping,
    BVHParseError,
    bvh_forward_kinematics,
    bvh_to_h36m17,
    detect_mapping,
    load_bvh,
    parse_bvh,
    render_virtual_cameras,
)
from .cameras import (
    Camera,
    camera_to_world,
    load_h36m_cameras,
    look_at_camera,
    project_camera_points,
    project_points,
    world_to_camera,
)
from .embedded import EMBEDDED_FILE, load_embedded
from .h3wb import h3wb_pairs, load_h3wb_json, load_h3wb_npz
from .h36m import (
    ACTIONS,
    CAMERA_ORDER,
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    H36MData,
    NeckNoseRule,
    SegmentRule,
    canonical_action,
    fit_neck_nose_rule,
    fit_spine_rule,
    h36m_detected_pairs,
    h36m_input_pairs,
    h36m_pairs,
    h36m_sh_detections,
    load_h36m,
    to_screen,
)
from .humaneva import (
    H36M17Correspondence,
    humaneva_as_h36m17,
    humaneva_cameras,
    humaneva_pairs,
    to_h36m17_eval,
)
from .mpi3dhp import mpi3dhp_pairs, mpi3dhp_to_h36m17
from .paths import ENV_VAR, find_data_file, resolve_data_root
from .vp3d import load_vp3d_2d, load_vp3d_3d, vp3d_pairs
from .windows import sliding_windows, video_bounds, window_index

__all__ = [
    "ENV_VAR",
    "resolve_data_root",
    "find_data_file",
    "Camera",
    "world_to_camera",
    "camera_to_world",
    "project_points",
    "project_camera_points",
    "look_at_camera",
    "load_h36m_cameras",
    "TRAIN_SUBJECTS",
    "TEST_SUBJECTS",
    "ACTIONS",
    "CAMERA_ORDER",
    "canonical_action",
    "H36MData",
    "load_h36m",
    "h36m_pairs",
    "SegmentRule",
    "NeckNoseRule",
    "fit_neck_nose_rule",
    "fit_spine_rule",
    "h36m_sh_detections",
    "h36m_detected_pairs",
    "h36m_input_pairs",
    "to_screen",
    "sliding_windows",
    "window_index",
    "video_bounds",
    "humaneva_pairs",
    "humaneva_cameras",
    "humaneva_as_h36m17",
    "to_h36m17_eval",
    "H36M17Correspondence",
    "BVHClip",
    "BVHMapping",
    "BVHParseError",
    "BVH_MAPPINGS",
    "parse_bvh",
    "load_bvh",
    "bvh_forward_kinematics",
    "bvh_to_h36m17",
    "detect_mapping",
    "render_virtual_cameras",
    "mpi3dhp_pairs",
    "mpi3dhp_to_h36m17",
    "load_vp3d_2d",
    "load_vp3d_3d",
    "vp3d_pairs",
    "h3wb_pairs",
    "load_h3wb_json",
    "load_h3wb_npz",
    "EMBEDDED_FILE",
    "load_embedded",
]
