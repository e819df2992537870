"""One test (or more) per row of the bad-input table in docs/RELIABILITY.md.

Each row must end in a clear error naming the problem, or in a documented recovery (a skipped
step with a warning and a counter) that never poisons the pose-net.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from sealloss.data.embedded import load_embedded
from sealloss.errors import (
    NonFiniteError,
    PoseShapeError,
    SkeletonMismatchError,
    UnitsWarning,
    WeightsFileError,
)
from sealloss.io.weights import load_lossnet, save_lossnet
from sealloss.nn import GraphormerLossNet, LossNet, MLPLossNet
from sealloss.training.settings import build_wrapper
from sealloss.training.wrapper import AlternatingWrapper

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """64 real (2D screen, 3D root-relative metres) H36M-17 pairs from the embedded CMU set."""
    d = load_embedded("train")
    idx = torch.arange(0, d["x2d"].shape[0], d["x2d"].shape[0] // 64)[:64]
    return torch.from_numpy(d["x2d"])[idx], torch.from_numpy(d["y3d"])[idx]


def _lossnet(seed: int = 0) -> GraphormerLossNet:
    torch.manual_seed(seed)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1)


def _posenet(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(34, 32), torch.nn.GELU(), torch.nn.Linear(32, 51),
        torch.nn.Unflatten(1, (17, 3)),
    )


def _wrapper(net: LossNet | None = None, **kw) -> AlternatingWrapper:
    kw.setdefault("log_every", 10**9)
    # these tests exercise a loss-net trained alongside, scoring the whole batch
    kw.setdefault("mode", "dynamic")
    kw.setdefault("score_fraction", 1.0)
    if kw.get("lam", "auto") == "auto":
        kw.setdefault("target_force_ratio", 0.1)
    if kw["mode"] == "static":
        kw.pop("lossnet_batch", None)
    return build_wrapper(lossnet=net if net is not None else _lossnet(), **kw)


def _params(m: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def _mpjpe(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y_hat - y).norm(dim=-1).mean()


# --------------------------------------------------------------------------- NaN / Inf
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_2d_input_is_a_clear_error(pairs, bad):
    x, y = pairs[0][:4].clone(), pairs[1][:4]
    x[1, 3, 0] = bad
    seal = _wrapper()
    with pytest.raises(NonFiniteError, match=r"x2d \(2D input\) contains (NaN|Inf)"):
        seal(torch.tensor(0.1), x, y + 0.01, y)
    with pytest.raises(NonFiniteError, match="2D input contains"):
        seal.lossnet.energy(x, y)
    assert seal.steps == 0 and seal.lossnet_updates == 0  # nothing ran before the error


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_nonfinite_3d_target_is_a_clear_error(pairs, bad):
    x, y = pairs[0][:4], pairs[1][:4].clone()
    y[2, 5, 1] = bad
    with pytest.raises(NonFiniteError, match=r"y_gt \(3D target\) contains (NaN|Inf)"):
        _wrapper()(torch.tensor(0.1), x, pairs[1][:4], y)


def test_nonfinite_prediction_skips_the_step_without_touching_the_lossnet(pairs):
    """A diverged (or fp16-overflowed) prediction: skip with a warning and a counter."""
    x, y = pairs[0][:8], pairs[1][:8]
    seal = _wrapper()
    before = _params(seal.lossnet)
    y_hat = (y + 0.02).clone().requires_grad_(True)
    bad = y_hat * torch.tensor([1.0, float("nan")] + [1.0] * 6).view(8, 1, 1)
    with pytest.warns(RuntimeWarning, match="non-finite prediction y_hat"):
        term = seal.energy_term(torch.tensor(0.1), x, bad, y)
    assert float(term.detach()) == 0.0
    term.backward()  # a skipped term still accepts backward() (separate-backward loops)
    assert seal.skipped_energy_steps == 1 and seal.skipped_lossnet_steps == 1
    assert seal.stats["skipped_energy_steps"] == 1.0
    assert seal.lossnet_updates == 0 and _same(before, _params(seal.lossnet))
    # the next good batch trains normally
    term = seal.energy_term(torch.tensor(0.1), x, y + 0.02, y)
    assert seal.lossnet_updates == 1 and torch.isfinite(term) and float(term.detach()) != 0.0
    assert seal.skipped_energy_steps == 1


def test_nonfinite_energy_skips_the_term_and_never_poisons_the_posenet(pairs):
    """Table row "non-finite energy during training": the pose-net step equals the plain step."""
    x, y = pairs
    net = _lossnet()
    with torch.no_grad():
        net.token_head.bias.fill_(float("inf"))  # every energy is +inf
    seal = _wrapper(net, lam=0.1)
    frozen = _params(net)
    model_a, model_b = _posenet(1), _posenet(1)
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(2):
            pa = model_a(x)
            loss = seal(_mpjpe(pa, y), x, pa, y)
            opt_a.zero_grad()
            loss.backward()
            opt_a.step()
            pb = model_b(x)
            opt_b.zero_grad()
            _mpjpe(pb, y).backward()
            opt_b.step()
    msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
    assert sum("non-finite loss-net loss" in m for m in msgs) == 2
    assert sum("non-finite energy" in m for m in msgs) == 2
    assert seal.skipped_energy_steps == 2 and seal.skipped_lossnet_steps == 2
    assert _same(_params(model_a), _params(model_b))  # exactly the plain run
    assert all(torch.isfinite(p).all() for p in model_a.parameters())
    # the loss-net was not stepped on a non-finite loss
    assert _same(frozen, _params(net))


# --------------------------------------------------------------------------- shapes
def test_wrong_joint_count_is_a_clear_error(pairs):
    x, y = pairs[0][:4, :16], pairs[1][:4, :16]
    with pytest.raises(PoseShapeError, match=r"16 joints but the skeleton 'h36m17' has 17"):
        _wrapper()(torch.tensor(0.1), x, y, y)
    with pytest.raises(PoseShapeError, match="must have 17 joints, got 16"):
        _lossnet().energy(x, y)


def test_swapped_2d_and_3d_are_named(pairs):
    x, y = pairs[0][:4], pairs[1][:4]
    with pytest.raises(PoseShapeError, match="swapped"):
        _lossnet().energy(y, x)
    with pytest.raises(PoseShapeError, match="swapped"):
        _wrapper()(torch.tensor(0.1), y, x, y)
    with pytest.raises(PoseShapeError, match="swapped"):  # 2D target and prediction
        _wrapper()(torch.tensor(0.1), x, x, x)


def test_pixels_instead_of_screen_frame_is_a_clear_error(pairs):
    x, y = pairs[0][:4], pairs[1][:4]
    with pytest.raises(PoseShapeError, match="pixels"):
        _wrapper()(torch.tensor(0.1), (x + 1) * 500, y + 0.01, y)


def test_millimetres_error_in_wrapper_and_warning_in_lossnet(pairs):
    x, y = pairs[0][:4], pairs[1][:4]
    with pytest.raises(PoseShapeError, match="millimetres"):
        _wrapper()(torch.tensor(0.1), x, y * 1000, y * 1000)
    with pytest.warns(UnitsWarning, match="millimetres"):
        _lossnet().energy(x, y * 1000)
    with warnings.catch_warnings():  # metres pass silently
        warnings.simplefilter("error")
        _lossnet().energy(x, y)


# --------------------------------------------------------------------------- batch sizes
def test_batch_of_one_trains(pairs):
    x, y = pairs[0][:1], pairs[1][:1]
    seal = _wrapper(score_fraction=0.5, lossnet_batch=4)
    before = _params(seal.lossnet)
    y_hat = (y + 0.03).requires_grad_(True)
    loss = seal(_mpjpe(y_hat, y), x, y_hat, y)
    loss.backward()
    assert seal.lossnet_updates == 1 and not _same(before, _params(seal.lossnet))
    assert torch.isfinite(loss) and torch.isfinite(y_hat.grad).all()
    st = seal.stats
    assert st["scored"] == 1 and st["skipped_energy_steps"] == 0
    assert all(
        st[k] == st[k] for k in ("energy_pred", "energy_gap", "force_ratio", "lossnet_loss")
    )  # finite, not NaN
    assert st["gap_snr"] != st["gap_snr"]  # std of one gap is undefined: NaN, documented


def test_empty_batch_is_a_no_op(pairs):
    x, y = pairs[0][:0], pairs[1][:0]
    seal = _wrapper()
    before = _params(seal.lossnet)
    y_hat = y.clone().requires_grad_(True)
    term = seal.energy_term(torch.tensor(0.25), x, y_hat, y)
    assert float(term.detach()) == 0.0
    term.backward()
    assert seal.steps == 1 and seal.lossnet_updates == 0 and _same(before, _params(seal.lossnet))
    assert seal.skipped_energy_steps == 0 and seal.skipped_lossnet_steps == 0
    assert float(seal(torch.tensor(0.25), x, y_hat, y).detach()) == 0.25
    assert seal.lossnet.energy(x, y).shape == (0,)


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(pairs, dtype):
    x, y = pairs[0][:8], pairs[1][:8]
    y_hat32 = y + 0.02 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    net = _lossnet()
    e32 = net.energy(x, y_hat32)
    e16 = net.energy(x.to(dtype), y_hat32.to(dtype))
    assert e16.dtype == torch.float32 and torch.isfinite(e16).all()
    assert torch.allclose(e16, e32, atol=0.02 * float(e32.detach().abs().max()) + 1e-3)

    grads = {}
    for dt in (torch.float32, dtype):
        seal = _wrapper(_lossnet(), lam=0.5, mode="static")
        yh = y_hat32.detach().to(dt).requires_grad_(True)
        loss = seal(_mpjpe(yh, y.to(dt)), x.to(dt), yh, y.to(dt))
        assert loss.dtype == dt and torch.isfinite(loss)
        loss.backward()
        assert yh.grad.dtype == dt and torch.isfinite(yh.grad).all()
        grads[dt] = yh.grad.float()
    g32, g16 = grads[torch.float32], grads[dtype]
    cos = torch.nn.functional.cosine_similarity(g32.flatten(), g16.flatten(), dim=0)
    assert cos > 0.99


def test_integer_inputs_are_refused(pairs):
    x, y = pairs[0][:4], pairs[1][:4]
    with pytest.raises(PoseShapeError, match="floating"):
        _lossnet().energy(x, (y * 1000).long())


# --------------------------------------------------------------------------- devices
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_inputs_on_another_device_than_the_lossnet(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    net = _lossnet()  # stays on CPU
    e_cpu = net.energy(x, y + 0.01)
    e = net.energy(x.cuda(), (y + 0.01).cuda())
    assert e.device.type == "cuda" and torch.allclose(e.cpu(), e_cpu, atol=1e-5)
    seal = _wrapper(net)
    y_hat = (y + 0.01).cuda().requires_grad_(True)
    loss = seal(_mpjpe(y_hat, y.cuda()), x.cuda(), y_hat, y.cuda())
    loss.backward()
    assert loss.device.type == "cuda" and y_hat.grad.device.type == "cuda"
    assert torch.isfinite(y_hat.grad).all() and seal.lossnet_updates == 1


def test_inputs_keep_their_device_and_dtype_when_the_lossnet_differs(pairs):
    """CPU stand-in of the device row: the loss-net in float64 receives float32 inputs and
    returns on the input's side, through the same cast path as a device move."""
    x, y = pairs[0][:8], pairs[1][:8]
    net = _lossnet().double()
    y_hat = (y + 0.01).requires_grad_(True)
    e = net.energy(x, y_hat)
    assert e.dtype == torch.float64 and e.device == y_hat.device
    e.sum().backward()
    assert y_hat.grad.dtype == torch.float32 and torch.isfinite(y_hat.grad).all()
    seal = _wrapper(net)
    y_hat = (y + 0.01).requires_grad_(True)
    loss = seal(_mpjpe(y_hat, y), x, y_hat, y)
    loss.backward()
    assert loss.dtype == torch.float32 and y_hat.grad.dtype == torch.float32
    assert seal.lossnet_updates == 1 and next(net.parameters()).dtype == torch.float64


# --------------------------------------------------------------------------- weights files
@pytest.fixture()
def weights_file(tmp_path):
    path = tmp_path / "net.safetensors"
    save_lossnet(_lossnet(), path)
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "truncated"),
        ("flip", "checksum"),
        ("empty", "truncated"),
        ("garbage", "truncated or not a safetensors file|corrupt"),
    ],
)
def test_truncated_or_corrupt_weights_are_clear_errors(weights_file, damage, message):
    blob = weights_file.read_bytes()
    if damage == "truncate":
        blob = blob[: len(blob) * 2 // 3]
    elif damage == "flip":
        b = bytearray(blob)
        b[-100] ^= 0x40
        blob = bytes(b)
    elif damage == "empty":
        blob = b""
    else:
        blob = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + bytes(64)
    weights_file.write_bytes(blob)
    with pytest.raises(WeightsFileError, match=message):
        build_wrapper(lossnet=str(weights_file), mode="warm")
    with pytest.raises(WeightsFileError, match=message):
        load_lossnet(weights_file, expect_kind="graphormer")


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsFileError, match="no loss-net weights file"):
        build_wrapper(lossnet=str(tmp_path / "absent.safetensors"), mode="static")


def test_weights_for_another_skeleton(tmp_path, pairs):
    path = tmp_path / "humaneva.safetensors"
    torch.manual_seed(0)
    save_lossnet(MLPLossNet("humaneva15", width=16, blocks=1), path)
    with pytest.raises(SkeletonMismatchError, match="humaneva15"):
        build_wrapper(lossnet=str(path), mode="static", skeleton="h36m17")
    with pytest.raises(SkeletonMismatchError, match="made for skeleton 'humaneva15'"):
        load_lossnet(path, expect_skeleton="h36m17")
    seal = build_wrapper(lossnet=str(path), mode="static")  # no skeleton given: its own
    with pytest.raises(PoseShapeError, match="17 joints but the skeleton 'humaneva15' has 15"):
        seal(torch.tensor(0.1), pairs[0][:4], pairs[1][:4], pairs[1][:4])


# --------------------------------------------------------------------------- call context
def test_validation_call_under_no_grad_changes_nothing(pairs):
    x, y = pairs[0][:8], pairs[1][:8]
    seal = _wrapper(lam=0.5, score_fraction=0.5)
    seal(torch.tensor(0.1), x, (y + 0.02).requires_grad_(True), y)  # one training call
    state = seal.state_dict()
    with torch.no_grad():
        out = seal(torch.tensor(0.1), x, y + 0.02, y)
        e = seal.lossnet.energy(x, y + 0.02).mean()
    assert torch.allclose(out, 0.1 + 0.5 * e)
    after = seal.state_dict()
    assert after["energy"]["steps"] == state["energy"]["steps"] == 1
    assert torch.equal(after["generator"], state["generator"])
    assert _same(list(after["lossnet"].values()), list(state["lossnet"].values()))
