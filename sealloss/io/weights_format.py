"""The loss-net weights file format: metadata constants, the checksum, reading and verifying a
file, and validating its metadata (see :mod:`sealloss.io.weights` for the format description and the
save/load API built on this)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsFileError
from ..nn.base import LossNet
from ..pose.canonical import CanonicalSpec
from ..pose.skeleton import Skeleton

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
