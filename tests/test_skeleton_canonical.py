import warnings

import pytest
import torch

from sealloss import (
    NonFiniteError,
    PoseShapeError,
    SkeletonMismatchError,
    UnitsWarning,
    get_skeleton,
    joint_map,
    list_skeletons,
)
from sealloss.pose.canonical import (
    from_canonical_3d,
    pixels_to_screen,
    screen_to_pixels,
    to_canonical_3d,
)
from sealloss.pose.kinematics import bone_lengths, bone_vectors, forward_kinematics
from sealloss.pose.skeleton import Skeleton


@pytest.mark.parametrize("name", ["h36m17", "h36m16", "mpi3dhp17", "humaneva15", "wholebody133"])
def test_presets_are_trees_with_symmetric_pairs(name):
    sk = get_skeleton(name)
    assert len(sk.bones) == sk.num_joints - 1
    hop = sk.hop_distance()
    assert hop.shape == (sk.num_joints, sk.num_joints)
    assert torch.equal(hop, hop.T)
    assert (hop.diagonal() == 0).all() and (hop >= 0).all()
    assert len(sk.symmetric_bone_pairs) >= 6
    assert sorted(sk.flip_permutation) == list(range(sk.num_joints))


def test_h36m17_derived_facts():
    sk = get_skeleton("h36m17")
    assert sk.root == 0
    assert sk.degrees[0] == 3 and sk.degrees[8] == 4 and sk.degrees[3] == 1
    hop = sk.hop_distance()
    assert hop[3, 6].item() == 6  # RFoot -> LFoot through Hip
    assert hop[16, 13].item() == 6  # RWrist -> LWrist through Thorax
    assert sk.max_hop == 8  # foot to wrist
    pairs = {(sk.bones[a][1], sk.bones[b][1]) for a, b in sk.symmetric_bone_pairs}
    assert pairs == {(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)}


def test_joint_maps_name_what_is_missing():
    m = joint_map("humaneva15", "h36m17")
    assert set(m.missing) == {"Spine", "Neck/Nose"}
    m2 = joint_map("mpii16", "h36m17")
    assert m2.missing == ("Neck/Nose",)
    x = torch.randn(2, 16, 2)
    out = m2.apply(x)
    assert torch.isnan(out[:, 9]).all()
    sk_m, sk_h = get_skeleton("mpii16"), get_skeleton("h36m17")
    assert torch.equal(out[:, sk_h.index("RWrist")], x[:, sk_m.index("RWrist")])
    with pytest.raises(SkeletonMismatchError, match="expected 16 joints"):
        m2.apply(torch.randn(2, 17, 2))


def test_unknown_and_bad_skeletons():
    with pytest.raises(SkeletonMismatchError, match="unknown skeleton"):
        get_skeleton("nope")
    with pytest.raises(SkeletonMismatchError, match="exactly one root"):
        Skeleton("bad", ("a", "b"), (-1, -1))
    assert "h36m17" in list_skeletons()


def test_canonical_round_trip_and_root_modes():
    y = torch.randn(4, 17, 3) * 300 + 1000  # mm, not root-relative
    c = to_canonical_3d(y, "h36m17", units="mm")
    assert torch.allclose(c[:, 0], torch.zeros(4, 3))
    back = from_canonical_3d(c, units="mm", root_position=y[:, :1])
    assert torch.allclose(back, y, atol=1e-3)
    yy = y.detach().requires_grad_(True)
    to_canonical_3d(yy, units="mm", root="detach").sum().backward()
    assert torch.all(yy.grad[:, 0] == 0)


def test_canonical_rejects_bad_input_with_clear_messages():
    with pytest.raises(PoseShapeError, match="must have 17 joints, got 16"):
        to_canonical_3d(torch.zeros(2, 16, 3))
    bad = torch.zeros(2, 17, 3)
    bad[0, 3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        to_canonical_3d(bad)
    with pytest.raises(PoseShapeError, match="2D pose was given where a 3D pose is expected"):
        to_canonical_3d(torch.zeros(2, 17, 2))
    with pytest.warns(UnitsWarning, match="millimetres"):
        to_canonical_3d(torch.randn(3, 17, 3) * 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_canonical_3d(torch.randn(3, 17, 3) * 0.4)


def test_screen_normalisation():
    xy = torch.tensor([[[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]]])
    uv = pixels_to_screen(xy, 1000, 1002)
    assert torch.allclose(uv[0, 0], torch.tensor([-1.0, -1.002]))
    assert torch.allclose(uv[0, 1], torch.tensor([1.0, 1.002]))
    assert torch.allclose(uv[0, 2], torch.tensor([0.0, 0.0]))
    assert torch.allclose(screen_to_pixels(uv, 1000, 1002), xy)


def test_forward_kinematics_round_trip():
    sk = get_skeleton("h36m17")
    y = torch.randn(5, 17, 3)
    y = y - y[:, :1]
    rebuilt = forward_kinematics(bone_vectors(y, sk), bone_lengths(y, sk), sk)
    assert torch.allclose(rebuilt, y, atol=1e-5)
