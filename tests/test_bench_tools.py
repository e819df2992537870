"""The benchmark helpers: every named SEAL variant builds a working wrapper; the ablation's
paired summary and merge are right (pure functions on result dicts, no data needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from h36m_ablation import merge, summarise  # noqa: E402
from seal_variants import VARIANTS, seal_variant  # noqa: E402

from sealloss.demo.baselines import SimpleBaseline  # noqa: E402
from sealloss.demo.experiment import TrainConfig  # noqa: E402
from sealloss.training.settings import build_wrapper


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_builds_and_steps(name):
    cfg = TrainConfig(epochs=1, batch_size=8)
    desc, kw = seal_variant(name, seed=0, n_train=64, cfg=cfg)
    assert desc
    torch.manual_seed(0)
    model = SimpleBaseline(width=16, blocks=1, dropout=0.0)
    seal = build_wrapper(**kw)
    x = torch.randn(8, 17, 2) * 0.3
    y = torch.randn(8, 17, 3) * 0.2
    pred = model(x)
    loss = seal((pred - y).norm(dim=-1).mean(), x, pred, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert seal.lossnet_updates == (0 if kw.get("mode") == "static" else kw.get("k", 1))


def test_unknown_variant_is_named():
    with pytest.raises(KeyError, match="nope"):
        seal_variant("nope", 0, 64, TrainConfig())


def _run(mpjpe, lse=10.0, bsle=20.0, t=0.1):
    return {"eval": {"MPJPE": mpjpe, "P-MPJPE": mpjpe, "LSE": lse, "BSLE": bsle},
            "step_time_s": t, "seal": {"alignment": 0.1, "force_ratio": 0.3, "lam": 1e-4}}


def test_summary_is_paired_per_seed():
    blob = {"runs": {"plain/0": _run(70.0), "plain/1": _run(80.0),
                     "base/0": _run(71.0, lse=8.0, t=0.2), "base/1": _run(79.0, lse=9.0, t=0.3)},
            "descriptions": {"base": "b"}}
    (row,) = summarise(blob)
    assert row["MPJPE"]["per_seed"] == [1.0, -1.0]
    assert row["MPJPE"]["diff"] == 0.0
    assert row["LSE"]["diff"] == pytest.approx(-1.5)
    assert row["step_ratio"] == pytest.approx(2.5)


def test_merge_checks_that_plain_runs_agree():
    a = {"runs": {"plain/0": _run(70.0), "base/0": _run(71.0)}, "descriptions": {}, "meta": {}}
    b = {"runs": {"plain/0": _run(70.0), "nce/0": _run(72.0)}, "descriptions": {}, "meta": {}}
    merged = merge([a, b])
    assert set(merged["runs"]) == {"plain/0", "base/0", "nce/0"}
    b["runs"]["plain/0"] = _run(70.5)
    with pytest.raises(ValueError, match="plain/0 differs"):
        merge([a, b])


def _semi_args(tmp_path):
    from types import SimpleNamespace

    from sealloss.io.weights import save_lossnet
    from sealloss.nn import MLPLossNet

    torch.manual_seed(0)
    path = save_lossnet(MLPLossNet(width=16), tmp_path / "net.safetensors")
    base = dict(lossnet=str(path), refine_steps=[5], refine_lr=2e-3, force_ratio=[0.3],
                w_sym=[0.1], validate=True, arms=["plain", "self", "median-teacher",
                                                  "seal-teacher", "seal-teacher-r2"])
    return SimpleNamespace(**base)


def test_semi_teachers_use_only_the_teachers_2d_and_predictions(tmp_path):
    from h36m_semisupervised import arms, pseudo_labels

    from sealloss.io.weights import load_lossnet
    from sealloss.pose.kinematics import bone_lengths

    args = _semi_args(tmp_path)
    names = [a["name"] for a in arms(args)]
    assert names == ["plain", "self", "median-teacher", "seal-teacher k=5",
                     "seal-teacher-r2 k=5"]
    gen = torch.Generator().manual_seed(0)
    x_u = torch.randn(12, 17, 2, generator=gen) * 0.3
    teacher = torch.randn(12, 17, 3, generator=gen) * 0.2
    teacher = teacher - teacher[:, :1]
    groups = torch.tensor([0] * 6 + [1] * 6)
    by_name = {a["name"]: a for a in arms(args)}
    assert pseudo_labels(by_name["self"], args, teacher, x_u, groups) is teacher
    med = pseudo_labels(by_name["median-teacher"], args, teacher, x_u, groups)
    lengths = bone_lengths(med, "h36m17")
    assert torch.allclose(lengths[:6], lengths[:1].expand(6, -1), atol=1e-5)
    assert not torch.allclose(lengths[0], lengths[6])  # one median per sequence
    refined = pseudo_labels(by_name["seal-teacher k=5"], args, teacher, x_u, groups)
    net = load_lossnet(args.lossnet)
    with torch.no_grad():
        assert net.energy(x_u, refined).mean() < net.energy(x_u, teacher).mean()
    assert torch.equal(refined[:, 0], teacher[:, 0])  # the root never moves
