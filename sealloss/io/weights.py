"""Loss-net weights I/O: safetensors files that rebuild their own loss-net, and named weights.

A weights file is a plain safetensors file whose string metadata holds everything needed to
rebuild the net:

=================== ==========================================================
``format``          ``"sealloss-lossnet"``
``format_version``  integer, :data:`FORMAT_VERSION`
``kind``            ``"graphormer"`` or ``"mlp"``
``config``          JSON of :attr:`LossNet.config` (kind, skeleton, spec, hparams)
``skeleton``        JSON of :meth:`Skeleton.to_dict`
``canonical``       JSON of :meth:`CanonicalSpec.to_dict`
``dtype``           parameter dtype, e.g. ``"float32"``
``sha256``          hex digest (detects corruption and edits, see below)
``sealloss_version`` version that wrote the file
=================== ==========================================================

Checksum: in ``format_version`` 2 (written now), ``sha256`` covers the metadata (every field
but ``sha256``, as canonical JSON), the tensor table (names, dtypes, shapes, offsets) and the
tensor data, so an edited ``coord_scale``, unit or skeleton is refused like a flipped weight.
Version 1 files (the first shipped weights, re-issued as version 2 with identical tensors) are
still read, but their ``sha256`` covers the tensor data only, so their metadata is untrusted: a
v1 file loads only when its metadata is that of a known release
(:data:`~sealloss.io.weights_format.KNOWN_V1_RELEASES`), or with ``trust_v1_metadata=True``.

Loading validates every metadata and config field (types, ranges, known names) and raises
:class:`~sealloss.errors.WeightsFileError` naming the field, builds the net from the metadata
(:func:`build_lossnet`) and then calls ``load_state_dict(strict=True)``; nothing is unpickled.
Before the net is allocated, the architecture the config describes is built on the ``meta``
device (no memory) and its tensor names and shapes are compared with the file's tensor table,
so an edited config (``width=8192, blocks=128``) is a clear refusal, not a 4 GB allocation
failure. Tensors with NaN/Inf are refused on load, and :func:`save_lossnet` refuses to write a
net with non-finite weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import SkeletonMismatchError, WeightsFileError
from ..nn.base import LossNet
from ..pose.checks import check_module_finite
from ..pose.skeleton import Skeleton, get_skeleton
from .atomic import atomic_write
from .weights_format import (  # noqa: F401  (re-exported: private names kept importable here)
    FORMAT,
    FORMAT_VERSION,
    LOSSNET_KINDS,
    READ_VERSIONS,
    _canonical_json,
    _decode_metadata,
    _digest,
    _LossNetKinds,
    _no_constant,
    _read_verified,
    _split,
    _state_tensors,
    check_tensor_table,
    check_tensors_finite,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LOSSNET_KINDS",
    "PRETRAINED",
    "WEIGHTS_DIR",
    "build_lossnet",
    "save_lossnet",
    "load_lossnet",
    "read_metadata",
    "list_pretrained",
    "pretrained_path",
]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"  # sealloss/weights/

#: name -> file name in :data:`WEIGHTS_DIR` (package data; shipped files are listed by
#: :func:`list_pretrained`).
PRETRAINED: dict[str, str] = {
    "h36m17": "h36m17-graphormer.safetensors",
    "h36m17-graphormer": "h36m17-graphormer.safetensors",
    "h36m17-dsm": "h36m17-mlp-dsm.safetensors",
    "h36m17-sh-refiner": "h36m17-sh-refiner.safetensors",
}

_DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float64,
                                                       torch.float16, torch.bfloat16)}


# --------------------------------------------------------------------------- build
def build_lossnet(config: dict[str, Any]) -> LossNet:
    """A fresh (randomly initialised) loss-net from a config dict.

    ``config["kind"]`` is ``"graphormer"`` or ``"mlp"``; ``"skeleton"`` is a preset name or a
    :meth:`Skeleton.to_dict` dict (default ``"h36m17"``); ``"spec"`` an optional
    :meth:`CanonicalSpec.to_dict` dict; the other keys are the constructor's arguments.
    ``build_lossnet(net.config)`` rebuilds the same architecture.
    """
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"loss-net config must be a dict with a 'kind' key, got {config!r}")
    kind = config["kind"]
    try:
        cls = LOSSNET_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown loss-net kind {kind!r}; kinds: {sorted(LOSSNET_KINDS)}"
        ) from None
    return cls.from_config(config)




# --------------------------------------------------------------------------- save
def save_lossnet(net: LossNet, path: str | os.PathLike) -> Path:
    """Write ``net``'s weights and config to ``path`` (safetensors, ``format_version`` 2),
    atomically.

    The file is written to a temporary file in the same directory, flushed and fsynced, then
    moved over ``path`` with :func:`os.replace` (:func:`sealloss.io.atomic.atomic_write`), so a
    crash never leaves a half-written file under the final name; a killed save's orphaned
    temporary file is removed by the next save to that path. Returns the path.

    Raises:
        TypeError: ``net`` is not a :class:`LossNet`.
        NonFiniteError: a parameter or buffer holds NaN/Inf (nothing is written).
    """
    from .. import __version__

    if not isinstance(net, LossNet):
        raise TypeError(f"save_lossnet expects a LossNet, got {type(net).__name__}")
    check_module_finite(net, f"save_lossnet: the loss-net (nothing written to {str(path)!r})")
    path = Path(path)
    tensors = _state_tensors(net)
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": net.kind,
        "config": json.dumps(net.config, sort_keys=True),
        "skeleton": json.dumps(net.skeleton.to_dict(), sort_keys=True),
        "canonical": json.dumps(net.spec.to_dict(), sort_keys=True),
        "dtype": str(net.dtype).removeprefix("torch."),
        "sealloss_version": str(__version__),
    }
    header, data = _split(st_save(tensors, meta))
    digest = _digest(FORMAT_VERSION, header, data)
    blob = st_save(tensors, {**meta, "sha256": digest})
    header, data = _split(blob)
    if _digest(FORMAT_VERSION, header, data) != digest:  # pragma: no cover
        raise WeightsFileError("safetensors serialisation is not deterministic; file not written")
    return atomic_write(path, blob)


# --------------------------------------------------------------------------- read
def read_metadata(
    path_or_name: str | os.PathLike, trust_v1_metadata: bool = False
) -> dict[str, Any]:
    """Verified, decoded metadata of a weights file (config, skeleton and spec as dicts).

    A version-1 file that is not a known release is refused unless ``trust_v1_metadata``
    (its metadata cannot be verified; see the module docstring)."""
    path = _resolve(path_or_name)
    _, meta = _read_verified(path, trust_v1_metadata=trust_v1_metadata)
    out: dict[str, Any] = dict(meta)
    for k in ("config", "skeleton", "canonical"):
        try:
            out[k] = json.loads(meta[k], parse_constant=_no_constant)
        except ValueError:
            raise WeightsFileError(
                f"weights file {str(path)!r}: metadata field {k!r} is not valid JSON"
            ) from None
    return out


# --------------------------------------------------------------------------- names
def pretrained_path(name: str) -> Path:
    """Where the registered weights ``name`` live (the file may be absent)."""
    try:
        return WEIGHTS_DIR / PRETRAINED[name]
    except KeyError:
        raise WeightsFileError(
            f"no pretrained loss-net named {name!r}; registered: {sorted(PRETRAINED)}"
        ) from None


def list_pretrained() -> dict[str, bool]:
    """Registered names -> whether their file is installed."""
    return {name: pretrained_path(name).is_file() for name in sorted(PRETRAINED)}


def _resolve(path_or_name: str | os.PathLike) -> Path:
    p = Path(path_or_name)
    if p.is_file():
        return p
    if isinstance(path_or_name, str) and path_or_name in PRETRAINED:
        reg = pretrained_path(path_or_name)
        if not reg.is_file():
            raise WeightsFileError(
                f"pretrained loss-net {path_or_name!r} is registered but its weights are not "
                f"installed (expected {str(reg)!r}); train one with sealloss pretraining or pass "
                "the path of a saved file"
            )
        return reg
    raise WeightsFileError(
        f"no loss-net weights file at {str(p)!r} and no registered name {str(path_or_name)!r} "
        f"(registered: {sorted(PRETRAINED)})"
    )


# --------------------------------------------------------------------------- load
def load_lossnet(
    path_or_name: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    expect_skeleton: Skeleton | str | None = None,
    expect_kind: str | None = None,
    trust_v1_metadata: bool = False,
) -> LossNet:
    """Rebuild a loss-net from a weights file or a registered name.

    Args:
        path_or_name: a file written by :func:`save_lossnet`, or a name of :data:`PRETRAINED`.
        map_location: device of the returned net.
        expect_skeleton: refuse weights made for another skeleton.
        expect_kind: refuse weights of another kind (``"graphormer"`` or ``"mlp"``).
        trust_v1_metadata: load a version-1 file that is not a known release anyway (its
            metadata is not covered by its checksum: only for files you wrote yourself).

    Returns:
        The loss-net in eval mode, in the dtype it was saved in.

    Raises:
        WeightsFileError: missing, truncated or corrupt file; no or unsupported format metadata;
            wrong kind; tensors not matching the architecture (checked before allocating it);
            NaN/Inf in a tensor; a version-1 file whose metadata is not a known release's.
        SkeletonMismatchError: the weights were made for another skeleton than
            ``expect_skeleton``.
    """
    path = _resolve(path_or_name)
    blob, meta = _read_verified(path, trust_v1_metadata=trust_v1_metadata)
    where = f"weights file {str(path)!r}"
    kind = meta["kind"]
    if kind not in LOSSNET_KINDS:
        raise WeightsFileError(f"{where} holds an unknown loss-net kind {kind!r}")
    if expect_kind is not None and kind != expect_kind:
        raise WeightsFileError(f"{where} holds a {kind!r} loss-net, expected {expect_kind!r}")
    config, skeleton, spec = _decode_metadata(meta, kind, where)
    if expect_skeleton is not None:
        want = get_skeleton(expect_skeleton)
        if not want.same_structure(skeleton):
            raise SkeletonMismatchError(
                f"{where} was made for skeleton {skeleton.name!r} ({skeleton.num_joints} joints), "
                f"not {want.name!r} ({want.num_joints} joints)"
            )
    dtype = _DTYPES.get(meta.get("dtype", "float32"))
    if dtype is None:
        raise WeightsFileError(
            f"{where} has an unsupported metadata field 'dtype' {meta.get('dtype')!r}; "
            f"supported: {sorted(_DTYPES)}"
        )
    config = {**config, "kind": kind, "skeleton": skeleton.to_dict(), "spec": spec.to_dict()}
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            shape_net = build_lossnet(config)
    except (TypeError, ValueError) as e:
        raise WeightsFileError(f"{where} has an invalid config field: {e}") from None
    check_tensor_table(_split(blob)[0], shape_net.state_dict(), where)
    del shape_net
    try:
        net = build_lossnet(config)
    except (TypeError, ValueError) as e:
        raise WeightsFileError(f"{where} has an invalid config field: {e}") from None
    net = net.to(dtype)
    try:
        state = st_load(blob)
    except Exception as e:  # safetensors raises its own SafetensorError
        raise WeightsFileError(f"{where} is corrupt: {e}") from None
    check_tensors_finite(state, where)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsFileError(
            f"{where}: tensors do not match the {kind!r} architecture in its config: {e}"
        ) from None
    return net.to(map_location).eval()
