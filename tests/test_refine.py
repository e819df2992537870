"""Test-time refinement and its ground-truth-free rivals."""

from __future__ import annotations

import pytest
import torch

from sealloss.errors import NonFiniteError, PoseShapeError
from sealloss.metrics.functional import lse
from sealloss.nn import MLPLossNet
from sealloss.pose.kinematics import bone_lengths, bone_vectors
from sealloss.pose.skeleton import get_skeleton
from sealloss.posthoc.refinement import (
    refine,
    sequence_median_bones,
    set_bone_lengths,
    symmetrise_bones,
)

torch.set_num_threads(1)
SK = get_skeleton("h36m17")


def _poses(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 17, 2, generator=g) * 0.3
    y = torch.randn(n, 17, 3, generator=g) * 0.2 + torch.tensor([0.0, 0.0, 4.0])
    return x, y


class _Pull(MLPLossNet):
    """Energy ||y - target||^2 (root-relative): descent must move towards the target."""

    def __init__(self, target):
        super().__init__("h36m17", width=4, blocks=0)
        self.target = target

    def _energy(self, x2d, y3d, per_joint):
        return (y3d - self.target).pow(2).sum((-1, -2)), None


def test_refine_moves_non_root_joints_down_the_energy_and_keeps_the_root():
    x, y = _poses()
    target = torch.zeros(17, 3)
    net = _Pull(target)
    r = refine(net, x, y, steps=50, lr=0.01, pull=0.0, snapshots=(0, 10, 50), clip=False)
    assert torch.equal(r.poses[:, 0], y[:, 0])
    assert (r.energy_after < r.energy_before).all()
    assert torch.equal(r.snapshots[0], y) and torch.equal(r.snapshots[50], r.poses)
    assert r.ms_per_1000 > 0
    # batch size does not change the result (each pose has its own Adam moments)
    r2 = refine(net, x, y, steps=50, lr=0.01, pull=0.0, batch_size=3, clip=False)
    torch.testing.assert_close(r2.poses, r.poses)


def test_pull_keeps_poses_near_the_prediction_and_zero_steps_is_identity():
    x, y = _poses()
    net = _Pull(torch.zeros(17, 3))
    free = refine(net, x, y, steps=40, lr=0.01, pull=0.0)
    held = refine(net, x, y, steps=40, lr=0.01, pull=1e4)
    assert (held.poses - y).norm() < (free.poses - y).norm()
    assert torch.equal(refine(net, x, y, steps=0).poses, y)


def test_refine_leaves_the_lossnet_untouched():
    x, y = _poses()
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=16, blocks=1).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    refine(net, x, y, steps=3)
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize(
    "kw, match",
    [({"steps": -1}, "steps"), ({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr"),
     ({"pull": -1.0}, "pull"), ({"batch_size": 0}, "batch_size"),
     ({"snapshots": (5,), "steps": 2}, "snapshots")],
)
def test_refine_bad_options(kw, match):
    x, y = _poses()
    with pytest.raises(ValueError, match=match):
        refine(_Pull(torch.zeros(17, 3)), x, y, **kw)


def test_refine_bad_inputs():
    x, y = _poses()
    net = _Pull(torch.zeros(17, 3))
    with pytest.raises(PoseShapeError):
        refine(net, x[:, :16], y)
    y = y.clone()
    y[0, 3, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        refine(net, x, y)


def test_symmetrise_keeps_directions_and_the_root_and_zeroes_lse():
    _, y = _poses()
    s = symmetrise_bones(y, SK)
    assert float(lse(s, SK)) < 1e-4
    torch.testing.assert_close(s[:, 0], y[:, 0])
    u0 = torch.nn.functional.normalize(bone_vectors(y, SK), dim=-1)
    u1 = torch.nn.functional.normalize(bone_vectors(s, SK), dim=-1)
    torch.testing.assert_close(u1, u0, atol=1e-5, rtol=1e-5)


def test_set_bone_lengths_round_trip():
    _, y = _poses()
    torch.testing.assert_close(set_bone_lengths(y, bone_lengths(y, SK), SK), y, atol=1e-5,
                               rtol=1e-5)


def test_sequence_median_bones_is_constant_within_a_sequence():
    _, y = _poses(10)
    groups = torch.tensor([0] * 6 + [1] * 4)
    out = sequence_median_bones(y, groups, SK, symmetric=False)
    lengths = bone_lengths(out, SK)
    for gid in (0, 1):
        sel = lengths[groups == gid]
        torch.testing.assert_close(sel, sel[:1].expand_as(sel), atol=1e-5, rtol=1e-5)
        want = bone_lengths(y[groups == gid], SK).median(0).values
        torch.testing.assert_close(sel[0], want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="groups"):
        sequence_median_bones(y, groups[:3], SK)


def _npz(tmp_path, scale=1.0):
    import numpy as np

    x, y = _poses(12)
    p = tmp_path / "preds.npz"
    np.savez(p, x2d=x.numpy(), pred=(y * scale).numpy())
    return p, y


def test_cli_refine_writes_refined_poses_in_the_input_units(tmp_path, capsys):
    import numpy as np

    from sealloss.cli.main import main

    p, y = _npz(tmp_path, 1000.0)
    out = tmp_path / "out" / "refined.npz"
    rc = main(["refine", str(p), "--out", str(out), "--units", "mm", "--steps", "2",
               "--no-progress", "--no-pose-terms"])
    assert rc == 0
    z = np.load(out)
    assert z["refined"].shape == (12, 17, 3) and z["energy_after"].shape == (12,)
    np.testing.assert_allclose(z["refined"][:, 0], y[:, 0].numpy() * 1000, rtol=1e-5)
    # Adam moves a coordinate by at most about lr per step
    assert np.abs(z["refined"] - y.numpy() * 1000).max() < 2 * 2e-3 * 1000 + 0.05
    assert "ms per 1,000 poses" in capsys.readouterr().out


def test_cli_refine_refuses_wrong_units_and_unwritable_output(tmp_path, capsys):
    from sealloss.cli.main import main

    p, _ = _npz(tmp_path, 1000.0)
    assert main(["refine", str(p), "--out", str(tmp_path / "r.npz"), "--no-progress"]) == 2
    assert "--units mm" in capsys.readouterr().err
    assert main(["refine", str(p), "--out", str(tmp_path / "r.txt"), "--units", "mm"]) == 2
    assert ".npz" in capsys.readouterr().err
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        import os

        if os.access(tmp_path / "ro", os.W_OK):  # root ignores permissions
            pytest.skip("running as a user who can write anywhere")
        assert main(["refine", str(p), "--out", str(tmp_path / "ro" / "r.npz"),
                     "--units", "mm"]) == 2
        assert "cannot be written" in capsys.readouterr().err
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_shipped_score_matching_weights_point_at_the_truth_on_unseen_data():
    """On the embedded CMU test clip (another dataset, a person never seen), the gradient of
    ``h36m17-dsm`` at noisy poses points at the truth far better than the ranking-trained
    ``h36m17``, and refinement with the shipped defaults removes a good part of the noise."""
    from sealloss import load_lossnet
    from sealloss.data.embedded import load_embedded
    from sealloss.defaults import REFINE

    d = load_embedded("test")
    x, y = torch.from_numpy(d["x2d"][::4]), torch.from_numpy(d["y3d"][::4])
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(y.shape, generator=g) * 0.04
    noise[:, 0] = 0
    yn = y + noise
    cos = {}
    for name in ("h36m17", "h36m17-dsm"):
        net = load_lossnet(name)
        yy = yn.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net.energy(x, yy).sum(), yy)
        a, b = -grad.flatten(1), (y - yn).flatten(1)
        cos[name] = float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean())
    assert cos["h36m17-dsm"] > 0.45 and cos["h36m17-dsm"] > cos["h36m17"] + 0.2, cos
    r = refine(None, x, yn)  # the GT-2D defaults: REFINE["gt"]
    assert REFINE["gt"]["steps"] > 0
    before = float((yn - y).norm(dim=-1).mean())
    after = float((r.poses - y).norm(dim=-1).mean())
    assert after < 0.9 * before, (before, after)


def test_python_and_cli_refinement_share_one_set_of_defaults_per_input_kind():
    """``refine()``'s defaults are those of ``sealloss refine`` (they once differed: lr 2e-3 and
    pull 0 in Python, lr 1e-3 and pull 100 on the CLI), for every input kind."""
    import inspect

    from sealloss.cli.main import build_parser
    from sealloss.defaults import INPUT_KINDS, REFINE, refine_defaults

    sig = inspect.signature(refine)
    assert all(sig.parameters[k].default is None for k in ("steps", "lr", "pull"))
    assert set(REFINE) == set(INPUT_KINDS) == {"gt", "detected"}
    for kind in INPUT_KINDS:
        args = build_parser().parse_args(["refine", "p.npz", "--out", "o.npz", "--inputs", kind])
        from sealloss.cli.refine import resolved_settings

        rec = refine_defaults(kind)
        assert resolved_settings(args) == {k: rec[k] for k in ("weights", "steps", "lr", "pull")}
    with pytest.raises(ValueError, match="inputs"):
        refine_defaults("cpn")


def test_refine_fills_unset_options_from_the_input_kind():
    x, y = _poses()
    net = _Pull(torch.zeros(17, 3))
    from sealloss.defaults import REFINE

    got = refine(net, x, y, inputs="gt")
    want = refine(net, x, y, steps=REFINE["gt"]["steps"], lr=REFINE["gt"]["lr"],
                  pull=REFINE["gt"]["pull"])
    assert torch.equal(got.poses, want.poses)
    det = REFINE["detected"]
    from sealloss.posthoc.clip_refinement import ClipSettings

    assert torch.equal(refine(net, x, y, inputs="detected").poses,
                       refine(net, x, y, steps=det["steps"], lr=det["lr"], pull=det["pull"],
                              clip=ClipSettings(**det["pose_terms"])).poses)


def test_cli_no_pose_terms_is_plain_descent_and_refused_with_clips(tmp_path, capsys):
    """--no-pose-terms turns off the input kind's per-pose terms (detected: the prior's bone
    lengths move the joints at once) and is refused with --clip-key (clips have their own)."""
    import numpy as np

    from sealloss.cli.main import main

    p, y = _npz(tmp_path, 1000.0)
    outs = {}
    for flag in ([], ["--no-pose-terms"]):
        out = tmp_path / f"r{len(flag)}.npz"
        assert main(["refine", str(p), "--out", str(out), "--units", "mm", "--steps", "2",
                     "--inputs", "detected", "--no-progress", *flag]) == 0
        outs[len(flag)] = np.abs(np.load(out)["pred"] - y.numpy() * 1000).max()
    assert outs[1] < 2 * 5e-4 * 1000 * 2 + 0.05 < outs[0]  # plain: at most ~lr per step
    capsys.readouterr()
    assert main(["refine", str(p), "--out", str(tmp_path / "c.npz"), "--units", "mm",
                 "--clip-key", "seq", "--no-pose-terms", "--no-progress"]) == 2
    assert "--no-pose-terms applies without --clip-key" in capsys.readouterr().err
