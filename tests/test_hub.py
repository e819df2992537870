"""Weights I/O: round trips, atomic writes, refusals with clear messages, the registry."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from sealloss.errors import SkeletonMismatchError, WeightsFileError
from sealloss.io import weights as hub
from sealloss.io.weights import (
    PRETRAINED,
    build_lossnet,
    list_pretrained,
    load_lossnet,
    read_metadata,
    save_lossnet,
)
from sealloss.nn import GraphormerLossNet, MLPLossNet
from sealloss.pose.canonical import CanonicalSpec
from sealloss.pose.skeleton import Skeleton

torch.set_num_threads(1)


def _poses(n: int, j: int = 17, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n, j, 2, generator=g) * 0.2).to(dtype), (
        torch.randn(n, j, 3, generator=g) * 0.3
    ).to(dtype)


def _graphormer(**kw) -> GraphormerLossNet:
    torch.manual_seed(0)
    net = GraphormerLossNet(width=32, heads=4, layers=2, **kw)
    with torch.no_grad():
        torch.nn.init.normal_(net.hop_bias.table.weight)
    return net


@pytest.fixture
def saved(tmp_path):
    net = _graphormer()
    path = tmp_path / "net.safetensors"
    hub.save_lossnet(net, path)
    return net, path


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "make",
    [
        lambda: _graphormer(extra_skeletons=["humaneva15"]),
        lambda: MLPLossNet(width=64, blocks=1, spec=CanonicalSpec(units_3d="mm")),
        lambda: _graphormer().double(),
    ],
)
def test_save_load_bit_exact(tmp_path, make):
    net = make().eval()
    path = save_lossnet(net, tmp_path / "sub" / "w.safetensors")
    assert os.listdir(path.parent) == ["w.safetensors"]  # no temp file left behind
    back = load_lossnet(path)
    assert type(back) is type(net) and not back.training
    assert back.dtype == net.dtype and back.config == net.config
    assert back.spec == net.spec and back.skeleton.same_structure(net.skeleton)
    x, y = _poses(5, dtype=net.dtype)
    if net.spec.units_3d == "mm":
        y = y * 1000
    assert torch.equal(back.energy(x, y), net.energy(x, y))
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)


def test_metadata_fields(saved):
    net, path = saved
    meta = read_metadata(path)
    assert meta["format"] == "sealloss-lossnet" and meta["format_version"] == "2"
    assert meta["kind"] == "graphormer" and meta["config"] == json.loads(json.dumps(net.config))
    assert meta["skeleton"]["name"] == "h36m17" and meta["canonical"]["root"] == "detach"
    assert meta["dtype"] == "float32" and len(meta["sha256"]) == 64
    assert "sealloss_version" in meta


def test_custom_skeleton_round_trip(tmp_path):
    sk = Skeleton("stick5", ("root", "a", "b", "c", "d"), (-1, 0, 1, 0, 3), (1, 2), (3, 4))
    net = GraphormerLossNet(sk, width=16, heads=2, layers=1)
    hub.save_lossnet(net, tmp_path / "s.safetensors")
    back = hub.load_lossnet(tmp_path / "s.safetensors", expect_skeleton=sk,
                            expect_kind="graphormer")
    x, y = _poses(3, j=5)
    assert torch.equal(back.energy(x, y), net.energy(x, y))


def test_build_lossnet_from_config():
    net = _graphormer()
    again = build_lossnet(net.config)
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    mlp = build_lossnet({"kind": "mlp", "skeleton": "humaneva15", "width": 8, "blocks": 1})
    assert isinstance(mlp, MLPLossNet) and mlp.skeleton.name == "humaneva15"
    assert mlp.inp.in_features == 15 * 5
    with pytest.raises(ValueError, match="unknown loss-net kind"):
        build_lossnet({"kind": "resnet"})


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    first = _graphormer()
    hub.save_lossnet(first, path)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(hub.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        hub.save_lossnet(MLPLossNet(), path)
    assert path.read_bytes() == before  # old file intact
    assert os.listdir(tmp_path) == ["w.safetensors"]  # temp file removed


# --------------------------------------------------------------------------- refusals
def test_missing_file(tmp_path):
    with pytest.raises(WeightsFileError, match="no loss-net weights file"):
        load_lossnet(tmp_path / "nope.safetensors")


def test_wrong_skeleton(saved):
    _, path = saved
    with pytest.raises(SkeletonMismatchError, match="h36m17.*not 'humaneva15'"):
        load_lossnet(path, expect_skeleton="humaneva15")
    assert load_lossnet(path, expect_skeleton="h36m17").skeleton.name == "h36m17"


def test_wrong_kind(saved, tmp_path):
    _, path = saved
    with pytest.raises(WeightsFileError, match="holds a 'graphormer' loss-net, expected 'mlp'"):
        hub.load_lossnet(path, expect_kind="mlp")
    with pytest.raises(WeightsFileError, match="expected 'mlp'"):
        load_lossnet(path, expect_kind="mlp")
    assert isinstance(hub.load_lossnet(path), GraphormerLossNet)


@pytest.mark.parametrize("keep", [4, 100, -10])
def test_truncated(saved, tmp_path, keep):
    _, path = saved
    blob = path.read_bytes()
    bad = tmp_path / "trunc.safetensors"
    bad.write_bytes(blob[:keep])
    with pytest.raises(WeightsFileError, match="truncated"):
        load_lossnet(bad)


def test_corrupt_data_fails_checksum(saved, tmp_path):
    _, path = saved
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0xFF
    bad = tmp_path / "flip.safetensors"
    bad.write_bytes(bytes(blob))
    with pytest.raises(WeightsFileError, match="checksum"):
        load_lossnet(bad)


def test_corrupt_header(saved, tmp_path):
    _, path = saved
    blob = bytearray(path.read_bytes())
    blob[9:20] = b"\x00garbage!!\xff"
    bad = tmp_path / "hdr.safetensors"
    bad.write_bytes(bytes(blob))
    with pytest.raises(WeightsFileError, match="corrupt"):
        load_lossnet(bad)


def test_plain_safetensors_and_old_format(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    with pytest.raises(WeightsFileError, match="without sealloss loss-net metadata"):
        load_lossnet(plain)
    old = tmp_path / "old.safetensors"
    save_file({"w": torch.zeros(3)}, str(old), metadata={"format": "sealloss-lossnet"})
    with pytest.raises(WeightsFileError, match="format_version"):
        load_lossnet(old)
    newer = tmp_path / "new.safetensors"
    meta = {"format": "sealloss-lossnet", "format_version": "99"}
    save_file({"w": torch.zeros(3)}, str(newer), metadata=meta)
    with pytest.raises(WeightsFileError, match="upgrade sealloss"):
        load_lossnet(newer)


# --------------------------------------------------------------------------- registry
def test_registry_names():
    avail = list_pretrained()
    assert set(avail) == set(PRETRAINED) and {"h36m17", "h36m17-graphormer"} <= set(avail)
    with pytest.raises(WeightsFileError, match="registered"):
        load_lossnet("no-such-name")


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_every_registered_name(name):
    if list_pretrained()[name]:
        net = load_lossnet(name, expect_skeleton=name.split("-")[0])
        x, y = _poses(2, j=net.skeleton.num_joints)
        assert torch.isfinite(net.energy(x, y)).all()
    else:
        with pytest.raises(WeightsFileError, match="registered but its weights are not installed"):
            load_lossnet(name)
