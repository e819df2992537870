# One concept past 400 lines: the loss-net weights file: format, checksum, save, load, names.
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
(:data:`KNOWN_V1_RELEASES`), or with ``trust_v1_metadata=True``.

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

import hashlib
import importlib
import inspect
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import SkeletonMismatchError, WeightsFileError
from ..nn.base import LossNet
from ..pose.canonical import CanonicalSpec
from ..pose.checks import check_module_finite
from ..pose.skeleton import Skeleton, get_skeleton
from .atomic import atomic_write

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
    "h36m17-sh-oof-refiner": "h36m17-sh-oof-refiner.safetensors",
}

_DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float64,
                                                       torch.float16, torch.bfloat16)}


# --------------------------------------------------------------------------- format
FORMAT = "sealloss-lossnet"
FORMAT_VERSION = 2
#: format versions this sealloss reads (1: checksum of the tensor data only)
READ_VERSIONS = (1, 2)

#: The version-1 files released with sealloss: sha256 of the tensor data (a v1 file's own
#: ``sha256``) -> sha256 of the canonical JSON of its metadata without ``sha256``. A v1 checksum
#: does not cover the metadata, so anyone can edit a v1 file's units or ``coord_scale`` (or
#: relabel a v2 file as v1 and recompute the data digest); a v1 file therefore loads only when
#: its metadata is byte for byte that of a known release, unless the caller vouches for it
#: (``trust_v1_metadata=True``). The shipped files are version 2 since issue 23.
KNOWN_V1_RELEASES: dict[str, str] = {
    # h36m17-graphormer.safetensors as shipped in sealloss 0.1.0 (format_version 1)
    "8a78e16eb3a641fd46d8cdba39160448647af8b4b19d6b279f9833c635dfb5f3":
        "ec57dcf854f88382c5d7e7c5fc209aacdfd0cfec6f77c5ffc687f20b7920a724",
}


class _LossNetKinds(Mapping[str, type[LossNet]]):
    """kind -> loss-net class, importing a class only when it is looked up (the graph loss-net
    needs torch-geometric; an MLP file should not load it)."""

    _where = {"graphormer": ("graphormer", "GraphormerLossNet"), "mlp": ("mlp", "MLPLossNet")}

    def __getitem__(self, kind: str) -> type[LossNet]:
        module, name = self._where[kind]
        return getattr(importlib.import_module(f"..nn.{module}", __package__), name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


LOSSNET_KINDS: Mapping[str, type[LossNet]] = _LossNetKinds()


def _state_tensors(net: LossNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}


def _split(blob: bytes) -> tuple[dict[str, Any], bytes]:
    """(parsed safetensors header, data section) of a well-formed file."""
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n].decode("utf-8")), blob[8 + n :]


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _digest(version: int, header: dict[str, Any], data: bytes) -> str:
    """The ``sha256`` field for ``format_version`` ``version``.

    Version 1: the tensor data section. Version 2: a domain tag, the metadata without
    ``sha256``, the tensor table and the data section, so no byte that loading uses is
    unchecked.
    """
    if version == 1:
        return hashlib.sha256(data).hexdigest()
    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != "sha256"}
    table = {k: v for k, v in header.items() if k != "__metadata__"}
    h = hashlib.sha256(b"sealloss-lossnet/2\0")
    h.update(_canonical_json(meta))
    h.update(b"\0")
    h.update(_canonical_json(table))
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def metadata_digest(meta: Mapping[str, str]) -> str:
    """sha256 of a file's metadata without its ``sha256`` field, as canonical JSON."""
    return hashlib.sha256(
        _canonical_json({k: v for k, v in meta.items() if k != "sha256"})).hexdigest()


def _read_verified(path: Path, trust_v1_metadata: bool = False) -> tuple[bytes, dict[str, str]]:
    """File bytes and metadata, after checking the header, the sizes and the checksum (and,
    for a version-1 file, that its unverifiable metadata is a known release's, unless
    ``trust_v1_metadata``)."""
    if not path.is_file():
        raise WeightsFileError(f"no loss-net weights file at {str(path)!r}")
    blob = path.read_bytes()
    where = f"weights file {str(path)!r}"
    if len(blob) < 8:
        raise WeightsFileError(f"{where} is truncated ({len(blob)} bytes, no safetensors header)")
    n = int.from_bytes(blob[:8], "little")
    if 8 + n > len(blob):
        raise WeightsFileError(
            f"{where} is truncated or not a safetensors file: header claims {n} bytes but the "
            f"file has {len(blob)}"
        )
    try:
        header = json.loads(blob[8 : 8 + n].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as e:
        raise WeightsFileError(f"{where} is corrupt: unreadable safetensors header ({e})") from None
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (KeyError, TypeError, ValueError, IndexError):
        raise WeightsFileError(f"{where} is corrupt: malformed tensor table in header") from None
    data_len = len(blob) - 8 - n
    need = max(ends, default=0)
    if need > data_len:
        raise WeightsFileError(
            f"{where} is truncated: tensors need {need} data bytes, file holds {data_len}"
        )
    if need < data_len:
        raise WeightsFileError(f"{where} is corrupt: {data_len - need} unexpected trailing bytes")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsFileError(
            f"{where} is a safetensors file without sealloss loss-net metadata (format "
            f"{FORMAT!r}); it cannot rebuild a loss-net. Save loss-nets with "
            "sealloss.io.weights.save_lossnet / LossNet.save"
        )
    try:
        version = int(meta.get("format_version", ""))
    except (TypeError, ValueError):
        version = -1
    if version not in READ_VERSIONS:
        newer = version > FORMAT_VERSION
        raise WeightsFileError(
            f"{where} has format_version {meta.get('format_version')!r}; this sealloss reads "
            f"versions {list(READ_VERSIONS)}"
            + (" (upgrade sealloss)" if newer else " (old or unknown)")
        )
    missing = [k for k in ("kind", "config", "skeleton", "canonical", "sha256") if k not in meta]
    if missing:
        raise WeightsFileError(f"{where} lacks metadata fields {missing}")
    bad = sorted(k for k, v in meta.items() if not isinstance(v, str))
    if bad:
        raise WeightsFileError(f"{where} has non-string metadata fields {bad}")
    if _digest(version, header, blob[8 + n :]) != meta["sha256"]:
        what = "tensor data" if version == 1 else "metadata, tensor table and data"
        raise WeightsFileError(
            f"{where} is corrupt or was edited: checksum (sha256) does not match (it covers "
            f"the {what})"
        )
    if version == 1 and not trust_v1_metadata and (
        KNOWN_V1_RELEASES.get(meta["sha256"]) != metadata_digest(meta)
    ):
        raise WeightsFileError(
            f"{where} is format_version 1, whose checksum covers the tensor data only: its "
            "metadata (units, coord_scale, skeleton, config) cannot be verified, and this file "
            "is not a known sealloss release (or its metadata was edited). If you wrote it "
            "yourself, check sealloss.io.weights.read_metadata(path, trust_v1_metadata=True) and "
            "re-save it as version 2: save_lossnet(load_lossnet(path, trust_v1_metadata=True), "
            "new_path)"
        )
    return blob, meta


def _decode_metadata(
    meta: dict[str, str], kind: str, where: str
) -> tuple[dict[str, Any], Skeleton, CanonicalSpec]:
    """Decode and validate ``config``, ``skeleton`` and ``canonical`` of a weights file.

    Raises :class:`WeightsFileError` naming the metadata field (and the config key) at fault:
    invalid JSON, wrong types, unknown config keys, an invalid skeleton or canonical spec.
    Hyper-parameter ranges are checked by the loss-net constructors (ValueError naming the
    argument, turned into a WeightsFileError by :func:`load_lossnet`).
    """
    decoded: dict[str, Any] = {}
    for field in ("config", "skeleton", "canonical"):
        try:
            decoded[field] = json.loads(meta[field], parse_constant=_no_constant)
        except ValueError as e:
            raise WeightsFileError(
                f"{where}: metadata field {field!r} is not valid JSON ({e})"
            ) from None
        if not isinstance(decoded[field], dict):
            raise WeightsFileError(
                f"{where}: metadata field {field!r} must be a JSON object, got "
                f"{type(decoded[field]).__name__}"
            )
    config = decoded["config"]
    if "kind" in config and config["kind"] != kind:
        raise WeightsFileError(
            f"{where}: config field 'kind' is {config['kind']!r} but metadata field 'kind' is "
            f"{kind!r}"
        )
    params = inspect.signature(LOSSNET_KINDS[kind].__init__).parameters
    allowed = {p for p in params if p not in ("self", "skeleton", "spec")}
    unknown = sorted(set(config) - allowed - {"kind", "skeleton", "spec"})
    if unknown:
        raise WeightsFileError(
            f"{where}: unknown config fields {unknown} for a {kind!r} loss-net; known: "
            f"{sorted(allowed)}"
        )
    for key, value in config.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise WeightsFileError(f"{where}: config field {key!r} is not finite ({value!r})")
    try:
        skeleton = Skeleton.from_dict(decoded["skeleton"])
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise WeightsFileError(f"{where}: metadata field 'skeleton' is invalid ({e})") from None
    try:
        spec = CanonicalSpec.from_dict(decoded["canonical"])
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsFileError(f"{where}: metadata field 'canonical' is invalid ({e})") from None
    return config, skeleton, spec


def check_tensor_table(
    header: Mapping[str, Any], expected: Mapping[str, torch.Tensor], where: str
) -> None:
    """Compare a file's tensor table (names, shapes; nothing loaded) with the tensors of the
    architecture its config describes (``expected``, e.g. built on the ``meta`` device, so
    nothing is allocated either): refuse before the real net is allocated.

    Raises:
        WeightsFileError: missing, unexpected or differently shaped tensors, naming them.
    """
    table = {k: tuple(v.get("shape", ())) for k, v in header.items()
             if k != "__metadata__" and isinstance(v, Mapping)}
    want = {k: tuple(t.shape) for k, t in expected.items()}
    missing, unexpected = sorted(set(want) - set(table)), sorted(set(table) - set(want))
    shapes = [f"{k}: file {table[k]}, config {want[k]}" for k in sorted(set(want) & set(table))
              if table[k] != want[k]]
    if missing or unexpected or shapes:
        parts = ([f"missing {missing[:5]}"] if missing else []) + (
            [f"unexpected {unexpected[:5]}"] if unexpected else []) + shapes[:5]
        raise WeightsFileError(
            f"{where}: its tensors do not match the architecture its config describes "
            f"({'; '.join(parts)}); refused before building the net"
        )


def check_tensors_finite(state: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse NaN/Inf in a weights file's tensors (naming the first such tensor)."""
    for k, t in state.items():
        if t.is_floating_point() and t.numel() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise WeightsFileError(
                f"{where}: tensor {k!r} holds {bad} NaN/Inf values of {t.numel()}: the loss-net "
                "was saved after diverging, or the file is damaged"
            )


def _no_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


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
    from ..version import __version__

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
