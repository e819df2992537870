"""Shared harness of the per-backbone smoke runners (``examples/<backbone>/smoke.py``).

A runner imports the upstream **model class** from a user's checkout (never the upstream training
script), builds inputs of the upstream shapes through the adapter's ``to_upstream_*`` from a
small slice of real motion, and runs a few CPU training steps through the adapter and
:class:`sealloss.AlternatingWrapper`. The motion is, by default (``--data embedded``), the CMU
clips shipped inside sealloss (``sealloss.data.embedded``: H36M-17, four virtual cameras), so a
runner needs no download; ``--data FOLDER`` reads Human3.6M from ``FOLDER/h36m/`` in this
repository's own 10 Hz format instead (research data, not distributed). It checks, on the first
batch:

- the wrapper with ``lam=0`` leaves the backbone's gradients equal to the plain loss's;
- the wrapper with ``lam>0`` changes them (the energy term reaches the backbone);
- the energy's gradient on the predicted root joint is zero (METHOD.md s.7).

Nothing here is part of the ``sealloss`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
STUBS = EXAMPLES / "_stubs"
EMBEDDED = "embedded"  # --data value: the CMU clips shipped in sealloss (no download)


# --------------------------------------------------------------------------- setup
def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None,
    **defaults: object,
) -> argparse.Namespace:
    """Common flags (``--upstream``, ``--data``, ``--steps`` ...); ``extra`` adds more."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--upstream", type=Path, required=True, help="checkout of the pinned commit")
    ap.add_argument("--data", default=EMBEDDED,
                    help="'embedded' (default): the CMU clips shipped in sealloss, no download; "
                         "or a folder holding h36m/ in this repository's 10 Hz format")
    ap.add_argument("--steps", type=int, default=3, help="training steps after the checks")
    ap.add_argument("--batch", type=int, default=int(defaults.get("batch", 4)))
    ap.add_argument("--frames", type=int, default=int(defaults.get("frames", 27)),
                    help="window / clip length")
    ap.add_argument("--lam", type=float, default=0.1, help="energy weight for the checks")
    ap.add_argument("--lossnet", default=None,
                    help="loss-net name or path (default: a fresh untrained loss-net)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if not args.upstream.is_dir():
        ap.error(f"--upstream {args.upstream} is not a directory")
    return args


def require(*modules: str, backbone: str) -> None:
    """Exit with a one-line ``pip install`` hint when a package the upstream model modules import
    (and that has no stand-in under ``_stubs/``) is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"FAIL {backbone}: the upstream modules this runner imports need "
                 f"{', '.join(missing)}: pip install {' '.join(missing)}")


def add_upstream(path: Path) -> Path:
    """Put the checkout first on ``sys.path`` (its ``common``/``lib``/``model`` packages)."""
    path = path.resolve()
    sys.path.insert(0, str(path))
    return path


def ensure_importable(*modules: str) -> list[str]:
    """Import each module; where that fails, fall back to our stand-in under ``_stubs/``.

    Returns the names that use the stand-in.
    """
    stubbed = []
    for mod in modules:
        try:
            found = importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - timm can fail with RuntimeError via torchvision
            for key in [k for k in sys.modules if k == mod or k.startswith(mod + ".")]:
                del sys.modules[key]
            if str(STUBS) not in sys.path:
                sys.path.insert(0, str(STUBS))
            found = importlib.import_module(mod)
        if str(STUBS) in str(getattr(found, "__file__", "")):
            stubbed.append(mod)
    return stubbed


def commit_of(path: Path) -> str:
    """The checkout's HEAD commit (``"unknown"`` outside git)."""
    with contextlib.suppress(OSError):
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=False)
        if out.returncode == 0:
            return out.stdout.strip()
    return "unknown"


# --------------------------------------------------------------------------- data
@dataclass
class Slice:
    """A small Human3.6M slice in canonical frames, plus what 2.5D labels need."""

    x2d: np.ndarray  # (N, 17, 2) screen
    y3d: np.ndarray  # (N, 17, 3) root-relative metres
    root_cam: np.ndarray  # (N, 3) metres
    focal: np.ndarray  # (N,) mean focal length, pixels
    res_w: np.ndarray  # (N,)
    index: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.int64))


def load_slice(data: str | Path, frames: int, subjects=("S1",), actions=("Walking", "Eating"),
               cameras=(0, 1)) -> Slice:
    """GT-projected pairs of a few sequences and the ``(M, frames)`` windows over them.

    ``data`` is :data:`EMBEDDED` (the CMU clips shipped in sealloss; ``subjects`` and
    ``actions`` do not apply) or a folder holding ``h36m/``.
    """
    if str(data) == EMBEDDED:
        return embedded_slice(frames, cameras)
    from sealloss.data.h36m import CAMERA_ORDER, h36m_pairs, load_h36m
    from sealloss.data.windows import window_index

    ds = load_h36m(data)
    pairs = h36m_pairs(list(subjects), cameras=list(cameras), actions=list(actions), dataset=ds)
    focal = np.array([ds.cameras[s][CAMERA_ORDER[c]].f.mean()
                      for s, c in zip(pairs["subject"], pairs["camera"])])
    idx = window_index(pairs, frames, stride=max(1, frames // 3), pad="edge")
    return Slice(pairs["x2d"], pairs["y3d"], pairs["root_cam"], focal,
                 pairs["res_w"].astype(np.float64), idx)


def embedded_slice(frames: int, cameras=(0, 1)) -> Slice:
    """The embedded CMU pairs (all six clips, the given virtual cameras) as a :class:`Slice`."""
    from sealloss.data.embedded import EMBEDDED_FILE, load_embedded
    from sealloss.data.windows import window_index

    pairs = load_embedded(split=None)
    keep = np.isin(pairs["camera"], list(cameras))
    pairs = {k: v[keep] for k, v in pairs.items()}
    with np.load(EMBEDDED_FILE) as z:
        cam_f = z["cam_f"]  # (clips, cameras, 2) pixels
    focal = cam_f[pairs["seq_id"], pairs["camera"]].mean(-1).astype(np.float64)
    idx = window_index(pairs, frames, stride=max(1, frames // 3), pad="edge")
    return Slice(pairs["x2d"], pairs["y3d"], pairs["root_cam"], focal,
                 pairs["res_w"].astype(np.float64), idx)


def pick(sl: Slice, batch: int, gen: np.random.Generator) -> np.ndarray:
    """``(batch, frames)`` row indices of random windows."""
    return sl.index[gen.choice(sl.index.shape[0], size=batch, replace=False)]


def two_point_five_d(sl: Slice, rows: np.ndarray) -> np.ndarray:
    """MotionBERT-style 2.5D labels ``(..., 17, 3)``: screen-normalised x, y of the projection,
    depth scaled by ``f / Z_root`` and ``2 / res_w`` (BACKBONES.md s.11.5)."""
    xy = sl.x2d[rows]
    depth = sl.y3d[rows][..., 2] + sl.root_cam[rows][..., None, 2]  # camera z, metres
    z_px = depth * (sl.focal[rows] / sl.root_cam[rows][..., 2])[..., None]
    z = z_px * 2.0 / sl.res_w[rows][..., None]
    return np.concatenate([xy, z[..., None]], axis=-1).astype(np.float32)


def window_batches(
    sl: Slice, adapter, batch: int, gen: np.random.Generator,
    target: Literal["clip", "centre", "2.5d"] = "clip", centre: int = 0,
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A ``batches`` for :func:`run`: each call draws ``batch`` random windows (:func:`pick`)
    and returns them in the upstream layout.

    ``x`` is ``adapter.to_upstream_2d`` of the windows' 2D ``(B, T, 17, 2)``; ``y`` by
    ``target``:

    - ``"clip"`` (seq2seq): ``adapter.to_upstream_3d`` of the windows' 3D, ``(B, T, 17, 3)``;
    - ``"centre"``: ``adapter.to_upstream_3d`` of frame ``centre`` of each window,
      ``(B, 1, 17, 3)``;
    - ``"2.5d"`` (the MotionBERT family): :func:`two_point_five_d` labels of the windows made
      root-relative as the upstream loop does before the hook, ``(B, T, 17, 3)``.
    """
    if target not in ("clip", "centre", "2.5d"):
        raise ValueError(f"target must be 'clip', 'centre' or '2.5d', got {target!r}")

    def batches() -> tuple[torch.Tensor, torch.Tensor]:
        rows = pick(sl, batch, gen)  # (B, T)
        x = adapter.to_upstream_2d(torch.from_numpy(sl.x2d[rows]))
        if target == "clip":
            y = adapter.to_upstream_3d(torch.from_numpy(sl.y3d[rows]))
        elif target == "centre":
            y = adapter.to_upstream_3d(torch.from_numpy(sl.y3d[rows[:, centre]]))[:, None]
        else:
            y = torch.from_numpy(two_point_five_d(sl, rows))
            y = y - y[..., 0:1, :]
        return x, y

    return batches


# --------------------------------------------------------------------------- checks
def grad_vector(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel())
                      for p in model.parameters()])


@dataclass
class Report:
    backbone: str
    commit: str
    params: int
    x_shape: tuple
    y_shape: tuple
    rel_change: float = float("nan")
    lam0_equal: bool = False
    root_grad: float = float("nan")
    losses: list = field(default_factory=list)
    step_s: float = float("nan")
    stubs: list = field(default_factory=list)

    def ok(self) -> bool:
        return self.lam0_equal and self.rel_change > 1e-6 and self.root_grad == 0.0

    def line(self) -> str:
        verdict = "PASS" if self.ok() else "FAIL"
        return (f"{verdict} {self.backbone}@{self.commit[:8]}: params {self.params / 1e6:.2f}M, "
                f"x {list(self.x_shape)} -> y {list(self.y_shape)}; lam=0 grads equal plain: "
                f"{self.lam0_equal}; lam>0 changes grads by {self.rel_change:.2e} (relative L2); "
                f"energy grad on root {self.root_grad:.1e}; {len(self.losses)} steps, "
                f"loss {self.losses[0]:.4f} -> {self.losses[-1]:.4f}, {self.step_s:.2f} s/step"
                + (f"; stand-ins: {', '.join(self.stubs)}" if self.stubs else ""))


def build_wrapper(adapter, lam: float, lossnet, frames_per_clip):
    from sealloss.training.energy_term import EnergyTerm
    from sealloss.training.lossnet_trainer import LossNetTrainer
    from sealloss.training.wrapper import AlternatingWrapper

    return AlternatingWrapper(lossnet, trainer=LossNetTrainer(), adapter=adapter, lam=lam,
                              energy=EnergyTerm(frames_per_clip=frames_per_clip))


def run(
    *,
    backbone: str,
    args: argparse.Namespace,
    model: torch.nn.Module,
    adapter,
    batches: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    pattern: str = "add",
    frames_per_clip: int | None = None,
    stubs: list | None = None,
    lr: float = 1e-4,
) -> Report:
    """Checks on the first batch, then ``args.steps`` training steps.

    Args:
        batches: returns a fresh upstream-layout ``(x, y)`` batch on each call (``y`` as the
            upstream loop holds it where the patch calls the wrapper).
        loss_fn: the upstream supervised loss ``(pred, y) -> scalar``.
        pattern: ``"add"`` (``loss = seal(loss, ...)``) or ``"backward"`` (MixSTE/KTPFormer:
            ``seal.energy_term(loss * loss.detach(), ...).backward(retain_graph=True)`` before
            the upstream ``loss.backward(loss.clone().detach())``).
    """
    torch.manual_seed(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    lossnet = None if str(args.lossnet).lower() == "none" else args.lossnet

    def backward(seal, loss, x, pred, y):
        if pattern == "add":
            (seal(loss, x, pred, y) if seal is not None else loss).backward()
        else:  # L * L.detach() has the L * dL gradient that the next line applies
            if seal is not None:
                seal.energy_term(loss * loss.detach(), x, pred, y).backward(retain_graph=True)
            loss.backward(loss.clone().detach())

    model.train()
    x, y = batches()
    rep = Report(backbone, commit_of(args.upstream), sum(p.numel() for p in model.parameters()),
                 tuple(x.shape), tuple(y.shape), stubs=stubs or [])
    pred = model(x)  # one forward, three backward passes over the same graph
    loss = loss_fn(pred, y)
    grads = {}
    for tag, lam in (("plain", None), ("lam0", 0.0), ("lam", args.lam)):
        model.zero_grad(set_to_none=True)
        seal = None if lam is None else build_wrapper(adapter, lam, lossnet,
                                                      frames_per_clip)
        loss_again = loss_fn(pred, y)
        if pattern == "add":
            total = seal(loss_again, x, pred, y) if seal is not None else loss_again
            total.backward(retain_graph=True)
        else:
            if seal is not None:
                seal.energy_term(loss_again * loss_again.detach(), x, pred, y).backward(
                    retain_graph=True)
            loss_again.backward(loss_again.clone().detach(), retain_graph=True)
        grads[tag] = grad_vector(model)
        if tag == "lam":
            energy = seal.energy_term(loss_fn(pred, y), x, pred, y)
            g_pred = torch.autograd.grad(energy, pred, retain_graph=True, allow_unused=True)[0]
            if g_pred is None or adapter.layout == "flat":
                rep.root_grad = 0.0  # flat outputs carry no root joint
            else:
                rep.root_grad = g_pred[..., 0, :].abs().max().item()
    rep.lam0_equal = bool(torch.allclose(grads["lam0"], grads["plain"], rtol=1e-5, atol=1e-10))
    rep.rel_change = ((grads["lam"] - grads["plain"]).norm() / grads["plain"].norm()).item()
    del loss, pred

    seal = build_wrapper(adapter, args.lam, lossnet, frames_per_clip)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        x, y = batches()
        pred = model(x)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(pred, y)
        rep.losses.append(loss.item())
        backward(seal, loss, x, pred, y)
        optimizer.step()
    rep.step_s = (time.perf_counter() - t0) / max(args.steps, 1)
    return rep


def finish(rep: Report) -> None:
    print(rep.line())
    sys.exit(0 if rep.ok() else 1)
