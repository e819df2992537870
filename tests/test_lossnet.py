"""Loss-nets: invariances, paths (dense vs message passing), shapes, dtypes, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sealloss.errors import NonFiniteError, PoseShapeError, SkeletonMismatchError
from sealloss.nn import (
    EdgePattern,
    EnergyOutput,
    GraphormerLossNet,
    HopBias,
    MLPLossNet,
    SkeletonAttention,
    hop_codes,
    poses_to_batch,
)
from sealloss.pose.canonical import CanonicalSpec
from sealloss.pose.skeleton import get_skeleton

torch.set_num_threads(1)

H36M = get_skeleton("h36m17")
HE15 = get_skeleton("humaneva15")


def _poses(n: int, j: int = 17, dtype=torch.float32, seed: int = 0, lead=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n,) if lead is None else tuple(lead)
    x = (torch.randn(*shape, j, 2, generator=g) * 0.2).to(dtype)
    y = (torch.randn(*shape, j, 3, generator=g) * 0.3 + torch.tensor([0.1, -0.2, 4.0])).to(dtype)
    return x, y


def _net(dtype=torch.float32, seed: int = 0, **kw) -> GraphormerLossNet:
    torch.manual_seed(seed)
    net = GraphormerLossNet(**kw).to(dtype)
    with torch.no_grad():  # make every part matter: non-zero hop bias, O(1) heads
        nn.init.normal_(net.hop_bias.table.weight, std=1.0)
        nn.init.normal_(net.token_head.weight, std=0.5)
        nn.init.normal_(net.joint_head.weight, std=0.5)
    return net.eval()


# --------------------------------------------------------------------------- building blocks
def test_hop_codes_and_buckets_hand_values():
    codes = hop_codes(H36M)
    assert codes.shape == (18, 18)
    # Hip(0) -> Head(10): Hip-Spine-Thorax-Neck/Nose-Head = 4 hops; RFoot(3) -> LWrist(13):
    # RFoot-RKnee-RHip-Hip-Spine-Thorax-LShoulder-LElbow-LWrist = 8 hops
    assert codes[1 + 0, 1 + 10] == 4 and codes[1 + 3, 1 + 13] == 8
    assert codes[0, 0] == -3 and codes[0, 5] == -1 and codes[5, 0] == -2
    assert torch.equal(codes[1:, 1:], codes[1:, 1:].T)
    hb = HopBias(heads=2, max_hop=8)
    got = hb.bucket(torch.tensor([0, 3, 8, 12, -1, -2, -3]))
    assert got.tolist() == [0, 3, 8, 8, 9, 10, 11]
    assert repr(hb) == "HopBias(heads=2, max_hop=8)"


def test_attention_hand_computed_both_paths():
    """q = k = 0 and v = identity: the output is softmax(bias) @ x."""
    att = SkeletonAttention(2, heads=1).double()
    with torch.no_grad():
        att.qkv.weight.zero_()
        att.qkv.bias.zero_()
        att.qkv.weight[4:6] = torch.eye(2)
        att.out.weight.copy_(torch.eye(2))
        att.out.bias.zero_()
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    bias = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]], dtype=torch.float64)
    want = torch.tensor([[[0.25, 1.5], [0.5, 1.0]]], dtype=torch.float64)
    torch.testing.assert_close(att(x, bias=bias), want)
    # graph form: edges j -> i with bias b(i, j)
    src = torch.tensor([0, 1, 0, 1])
    dst = torch.tensor([0, 0, 1, 1])
    eb = bias[0][dst, src].unsqueeze(-1)
    torch.testing.assert_close(att(x[0], torch.stack([src, dst]), eb), want[0])
    assert repr(att) == "SkeletonAttention(2, heads=1)"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_dense_equals_message_passing(dtype):
    torch.manual_seed(1)
    att = SkeletonAttention(16, heads=4).to(dtype)
    b, n = 3, 6
    x = torch.randn(b, n, 16, dtype=dtype)
    bias = torch.randn(4, n, n, dtype=dtype)
    dense = att(x, bias=bias)
    dst = torch.arange(n).repeat_interleave(n)
    src = torch.arange(n).repeat(n)
    off = (n * torch.arange(b)).view(b, 1, 1)
    ei = (torch.stack([src, dst]).unsqueeze(1) + off.view(1, b, 1)).reshape(2, -1)
    eb = bias[:, dst, src].T.repeat(b, 1)
    mp = att(x.reshape(b * n, 16), ei, eb).view(b, n, 16)
    torch.testing.assert_close(dense, mp, atol=1e-5, rtol=1e-5)


def test_param_count_and_repr():
    net = GraphormerLossNet()
    assert 0.1e6 <= net.num_parameters <= 0.3e6
    assert "skeleton='h36m17'" in repr(net)
    assert isinstance(net(*_poses(2)), EnergyOutput)


def test_refuses_non_smooth_activation():
    with pytest.raises(ValueError, match="smooth"):
        GraphormerLossNet(activation="relu")


# --------------------------------------------------------------------------- shapes
def test_batch_shapes_and_bt_equals_flat():
    net = _net()
    x, y = _poses(0, lead=(2, 3))
    out = net(x, y, per_joint=True)
    assert out.energy.shape == (2, 3) and out.per_joint.shape == (2, 3, 17)
    flat = net(x.reshape(6, 17, 2), y.reshape(6, 17, 3), per_joint=True)
    torch.testing.assert_close(out.energy.reshape(6), flat.energy, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.per_joint.reshape(6, 17), flat.per_joint, atol=1e-5, rtol=0)
    assert net(x, y).per_joint is None
    torch.testing.assert_close(net.energy(x, y), out.energy)


def test_per_joint_sums_to_energy():
    net = _net(torch.float64)
    out = net(*_poses(4, dtype=torch.float64), per_joint=True)
    torch.testing.assert_close(out.per_joint.sum(-1), out.energy, atol=1e-12, rtol=0)


def test_empty_batch():
    net = _net()
    x, y = _poses(0)
    y.requires_grad_(True)
    out = net(x, y, per_joint=True)
    assert out.energy.shape == (0,) and out.per_joint.shape == (0, 17)
    out.energy.sum().backward()  # still connected to the input
    assert y.grad is not None and y.grad.shape == (0, 17, 3)


def test_single_pose_without_batch_dim():
    net = _net()
    x, y = _poses(3)
    e = net(x[0], y[0]).energy
    assert e.shape == ()
    torch.testing.assert_close(e, net(x, y).energy[0], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- invariances
@pytest.mark.parametrize("make", [_net, lambda dtype: MLPLossNet().to(dtype)])
def test_translation_invariance(make):
    net = make(dtype=torch.float64)
    x, y = _poses(4, dtype=torch.float64)
    e = net.energy(x, y)
    e3 = net.energy(x, y + torch.tensor([1.5, -0.7, 3.0], dtype=torch.float64))
    e2 = net.energy(x + torch.tensor([0.3, -0.4], dtype=torch.float64), y)
    torch.testing.assert_close(e3, e, atol=1e-10, rtol=0)
    torch.testing.assert_close(e2, e, atol=1e-10, rtol=0)
    # and the energy does depend on the pose
    assert (net.energy(x, y * 1.3) - e).abs().min() > 1e-6


def test_structural_features_see_a_joint_swap_without_hop_bias():
    net = _net(torch.float64)
    x, y = _poses(3, dtype=torch.float64)
    swap = list(range(17))
    swap[3], swap[10] = 10, 3
    with torch.no_grad():
        net.encoder.joint_embedding.weight.zero_()
        net.hop_bias.table.weight.zero_()
    assert (net.energy(x[:, swap], y[:, swap]) - net.energy(x, y)).abs().min() > 1e-4


def test_structural_features_values():
    from sealloss.nn.encodings import joint_features

    sk = H36M
    y = torch.zeros(1, 17, 3, dtype=torch.float64)
    y[0, 1] = torch.tensor([0.1, 0.0, 0.0])  # RHip 0.1 m from Hip
    y[0, 4] = torch.tensor([-0.12, 0.0, 0.0])  # LHip 0.12 m
    x = torch.zeros(1, 17, 2, dtype=torch.float64)
    par = torch.tensor([p if p >= 0 else j for j, p in enumerate(sk.parents)])
    mir = torch.tensor(sk.flip_permutation)
    f = joint_features(x, y, par, mir, "structural", coord_scale=10.0, eps=0.0)
    assert f.shape == (1, 17, 12)
    torch.testing.assert_close(f[0, 1, 5:8], torch.tensor([1.0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(f[0, 1, 10], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(f[0, 4, 10], torch.tensor(1.2, dtype=torch.float64))
    torch.testing.assert_close(f[0, 1, 11], torch.tensor(-0.2, dtype=torch.float64))
    torch.testing.assert_close(f[0, 4, 11], torch.tensor(0.2, dtype=torch.float64))
    assert f[0, 0].abs().sum() == 0  # root: zero bone, itself as mirror


def test_permuting_joints_uses_the_hop_bias():
    """With identity embeddings off, only the hop bias can tell a degree-preserving joint swap.

    Swapping RFoot (3) and Head (10) keeps every degree but not the hop distances; the
    left/right flip is a graph automorphism, so the hop bias cannot see it. Positions-only
    features, so that the encoder's parent/mirror features do not see the swap either.
    """
    net = _net(torch.float64, features="positions")
    x, y = _poses(3, dtype=torch.float64)
    swap = list(range(17))
    swap[3], swap[10] = 10, 3
    flip = list(H36M.flip_permutation)
    e = net.energy(x, y)
    # with identity embeddings: both permutations change the energy
    assert (net.energy(x[:, swap], y[:, swap]) - e).abs().min() > 1e-4
    assert (net.energy(x[:, flip], y[:, flip]) - e).abs().min() > 1e-4
    with torch.no_grad():
        net.encoder.joint_embedding.weight.zero_()
    e = net.energy(x, y)
    assert (net.energy(x[:, swap], y[:, swap]) - e).abs().min() > 1e-4
    torch.testing.assert_close(net.energy(x[:, flip], y[:, flip]), e, atol=1e-9, rtol=0)
    with torch.no_grad():
        net.hop_bias.table.weight.zero_()
    e = net.energy(x, y)
    torch.testing.assert_close(net.energy(x[:, swap], y[:, swap]), e, atol=1e-9, rtol=0)


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", ["graphormer", "mlp"])
def test_energy_gradient_finite_nonzero_and_zero_on_root(kind):
    net = _net() if kind == "graphormer" else MLPLossNet()
    x, y = _poses(5)
    y.requires_grad_(True)
    (g,) = torch.autograd.grad(net.energy(x, y).sum(), y)
    assert torch.isfinite(g).all()
    assert torch.equal(g[:, H36M.root], torch.zeros_like(g[:, 0]))
    others = g[:, [j for j in range(17) if j != H36M.root]]
    assert (others.norm(dim=-1) > 0).all()


def test_gradcheck_float64():
    # root="detach" makes the analytic root gradient zero on purpose (numerically it is not)
    spec = CanonicalSpec(root="subtract")
    net = _net(torch.float64, width=16, heads=2, layers=1, spec=spec)
    x, y = _poses(2, dtype=torch.float64)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda yy: net.energy(x, yy), (y,), eps=1e-6, atol=1e-5)


# --------------------------------------------------------------------------- paths
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dense_equals_message_passing_full_net(dtype):
    net = _net(dtype)
    x, y = _poses(6, dtype=dtype)
    y1 = y.clone().requires_grad_(True)
    y2 = y.clone().requires_grad_(True)
    d = net(x, y1, per_joint=True)
    m = net.forward_graph(poses_to_batch(x, y2, "h36m17"), per_joint=True)
    torch.testing.assert_close(m.energy, d.energy, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m.per_joint.view(6, 17), d.per_joint, atol=1e-5, rtol=1e-5)
    (g1,) = torch.autograd.grad(d.energy.sum(), y1)
    (g2,) = torch.autograd.grad(m.energy.sum(), y2)
    torch.testing.assert_close(g2, g1, atol=1e-5, rtol=1e-5)
    assert torch.equal(g2[:, 0], torch.zeros_like(g2[:, 0]))


def test_dense_equals_message_passing_with_other_specs():
    for spec in (CanonicalSpec(units_3d="mm", root="subtract"), CanonicalSpec(root="zero")):
        net = _net(torch.float64, spec=spec)
        x, y = _poses(3, dtype=torch.float64)
        if spec.units_3d == "mm":
            y = y * 1000
        d = net.energy(x, y)
        m = net.forward_graph(poses_to_batch(x, y, "h36m17")).energy
        torch.testing.assert_close(m, d, atol=1e-9, rtol=0)


def test_mixed_skeleton_batch_matches_each_alone():
    net = _net(torch.float64, extra_skeletons=["humaneva15"])
    assert "Pelvis" in net.joint_vocab and net.joint_vocab.count("LHip") == 1
    xa, ya = _poses(3, dtype=torch.float64, seed=1)
    xb, yb = _poses(2, j=15, dtype=torch.float64, seed=2)
    batch = poses_to_batch([xa, xb], [ya, yb], ["h36m17", "humaneva15"])
    assert batch.num_graphs == 5 and batch.num_nodes == 3 * 18 + 2 * 16
    out = net.forward_graph(batch, per_joint=True)
    assert out.energy.shape == (5,) and out.per_joint.shape == (3 * 17 + 2 * 15,)
    torch.testing.assert_close(out.energy[:3], net.energy(xa, ya), atol=1e-9, rtol=0)
    alone = net.forward_graph(poses_to_batch(xb, yb, "humaneva15")).energy
    torch.testing.assert_close(out.energy[3:], alone, atol=1e-9, rtol=0)
    slow = net.forward_graph(batch, fused=False).energy
    torch.testing.assert_close(slow, out.energy, atol=1e-9, rtol=0)
    for g in range(2):  # one graph alone
        one = net.forward_graph(poses_to_batch(xb[g : g + 1], yb[g : g + 1], HE15)).energy
        torch.testing.assert_close(out.energy[3 + g], one[0], atol=1e-9, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_and_pyg_message_passing_agree_with_dense_incl_parameter_grads(dtype):
    """The three paths give the same energies, dE/dy and loss-net parameter gradients."""
    net = _net(dtype, width=32, layers=2)
    x, y = _poses(4, dtype=dtype)
    names = [n for n, _ in net.named_parameters()]
    runs = []
    for path in ("dense", "fused", "pyg"):
        yy = y.clone().requires_grad_(True)
        if path == "dense":
            e = net.energy(x, yy)
        else:
            e = net.forward_graph(poses_to_batch(x, yy, "h36m17"), fused=path == "fused").energy
        grads = torch.autograd.grad((e * torch.arange(1.0, 5.0, dtype=dtype)).sum(), [yy] + [
            p for _, p in net.named_parameters()
        ], allow_unused=True)
        runs.append((e, grads))
    for e, grads in runs[1:]:
        torch.testing.assert_close(e, runs[0][0], atol=1e-5, rtol=1e-5)
        for name, g, g0 in zip(["y"] + names, grads, runs[0][1]):
            if g0 is None:
                assert g is None or not g.any(), name
                continue
            torch.testing.assert_close(g, g0, atol=1e-5, rtol=1e-4, msg=name)
    hop_grad = runs[1][1][1 + names.index("hop_bias.table.weight")]
    assert hop_grad.abs().sum() > 0  # the bias is trained through the fused path too


def test_pyg_path_is_twice_differentiable():
    net = _net(torch.float64, width=16, heads=2, layers=1)
    x, y = _poses(2, dtype=torch.float64)
    y = y.requires_grad_(True)
    e = net.forward_graph(poses_to_batch(x, y, "h36m17"), fused=False).energy
    (g,) = torch.autograd.grad(e.sum(), y, create_graph=True)
    (gd,) = torch.autograd.grad(net.energy(x, y).sum(), y, create_graph=True)
    (h1,) = torch.autograd.grad(g.square().sum(), y)
    (h2,) = torch.autograd.grad(gd.square().sum(), y)
    torch.testing.assert_close(h1, h2, atol=1e-8, rtol=1e-6)


def test_edge_pattern_unsorted_edges_and_transpose():
    """Shuffled edges: the pattern sorts them and the fused layer still matches propagate."""
    torch.manual_seed(3)
    att = SkeletonAttention(8, heads=2).double()
    n = 5
    src = torch.tensor([0, 1, 2, 3, 4, 0, 2, 4, 1, 3, 0])
    dst = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
    perm = torch.randperm(src.numel())
    ei = torch.stack([src, dst])[:, perm]
    pat = EdgePattern.from_edge_index(ei, n, heads=2)
    assert pat.order is not None and pat.crow.tolist()[:6] == [0, 2, 4, 6, 8, 11]
    vals = torch.arange(1.0, 1.0 + src.numel(), dtype=torch.float64)
    dense_t = pat.matrix(torch.cat([vals, vals]), transpose=True).to_dense()[:n, :n]
    torch.testing.assert_close(dense_t, pat.matrix(torch.cat([vals, vals])).to_dense()[:n, :n].T)
    x = torch.randn(n, 8, dtype=torch.float64, requires_grad=True)
    eb = torch.randn(src.numel(), 2, dtype=torch.float64)
    a = att(x, ei, eb, pattern=pat)
    b = att(x, ei, eb)
    torch.testing.assert_close(a, b)
    (ga,) = torch.autograd.grad(a.square().sum(), x)
    (gb,) = torch.autograd.grad(b.square().sum(), x)
    torch.testing.assert_close(ga, gb)
    with pytest.raises(ValueError, match="heads"):
        SkeletonAttention(8, heads=4).double()(x, ei, eb, pattern=pat)


def test_unknown_skeleton_in_graph_batch():
    net = _net()
    x, y = _poses(2, j=15)
    with pytest.raises(SkeletonMismatchError, match="extra_skeletons"):
        net.forward_graph(poses_to_batch(x, y, "humaneva15"))


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("kind", ["graphormer", "mlp"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(kind, dtype):
    net = _net() if kind == "graphormer" else MLPLossNet()
    x, y = _poses(4, dtype=dtype)
    y.requires_grad_(True)
    e = net.energy(x, y)
    assert e.dtype == torch.float32
    ref = net.energy(x.float(), y.detach().float())
    torch.testing.assert_close(e, ref, atol=1e-5, rtol=1e-5)
    (g,) = torch.autograd.grad(e.sum(), y)
    assert g.dtype == dtype and torch.isfinite(g.float()).all()


def test_float64_module_returns_float64():
    net = _net(torch.float64)
    assert net.energy(*_poses(2)).dtype == torch.float64


# --------------------------------------------------------------------------- errors
def test_input_errors_name_the_problem():
    net = _net()
    x, y = _poses(2)
    with pytest.raises(PoseShapeError, match="17 joints"):
        net(x[:, :15], y[:, :15])
    with pytest.raises(PoseShapeError, match="swapped"):
        net(y, x)
    bad = y.clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        net(x, bad)
    with pytest.raises(PoseShapeError, match="pixels"):
        net(x * 1000, y)
    with pytest.raises(PoseShapeError, match="batch shape"):
        net(x[:1], y)


# --------------------------------------------------------------------------- MLP
def test_mlp_same_interface():
    net = MLPLossNet(width=32, blocks=1)
    x, y = _poses(0, lead=(2, 3))
    out = net(x, y, per_joint=True)
    assert out.energy.shape == (2, 3) and out.per_joint is None
    torch.testing.assert_close(
        out.energy.reshape(6), net.energy(x.reshape(6, 17, 2), y.reshape(6, 17, 3))
    )
    assert net.config["kind"] == "mlp" and net.config["width"] == 32


# --------------------------------------------------------------------------- benchmark smoke
def test_speed_benchmark_runs(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "lossnet_speed.py"
    spec = importlib.util.spec_from_file_location("lossnet_speed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out_file = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        out = mod.main(["--batches", "4", "--repeats", "1", "--out", str(out_file)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads(out_file.read_text())
    assert saved["ratios"]["4"].keys() == {"mp_fused/dense", "mp_pyg/dense", "mlp/dense"}
    assert saved["results"]["4"]["dense"]["median_ms"] == out["results"]["4"]["dense"]["median_ms"]
    assert set(saved["results"]["4"]) == {"dense", "mp_fused", "mp_pyg", "mlp", "batch_build"}
