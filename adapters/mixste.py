"""MixSTE (``JinluZhang1126/MixSTE``): seq2seq spatio-temporal transformer.

``MixSTE2``: ``(B, T, 17, 2) -> (B, T, 17, 3)`` (T = 243, 4 clips per 1024-frame batch; chunks
are edge-padded at sequence ends). The upstream loop calls
``loss_total.backward(loss_total.clone().detach())`` (gradient L * dL), so the energy must be
back-propagated on its own (``seal.energy_term(...).backward(retain_graph=True)``), never added
into ``loss_total`` (BACKBONES.md s.0.1 (5)).
"""

from __future__ import annotations

from . import register
from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["MixSTEAdapter"]


@register("mixste")
class MixSTEAdapter(VideoPose3DFamilyAdapter):
    name = "mixste"
    upstream = "JinluZhang1126/MixSTE"
    commit = "72a36be891a74892dd1a8611159a395ed33a7a01"
    layout = "seq2seq"
    script = "run.py"
    input_shape = "[B,T,17,2] (T=243)"
    output_shape = "[B,T,17,3] seq2seq"
