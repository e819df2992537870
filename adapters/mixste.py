"""MixSTE (``JinluZhang1126/MixSTE``): seq2seq spatio-temporal transformer.

``MixSTE2``: ``(B, T, 17, 2) -> (B, T, 17, 3)`` (T = 243, 4 clips per 1024-frame batch; chunks
are edge-padded at sequence ends). The upstream loop calls
``loss_total.backward(loss_total.clone().detach())`` (gradient L * dL), so the energy must be
back-propagated on its own (``seal.energy_term(...).backward(retain_graph=True)``), never added
into ``loss_total`` (BACKBONES.md s.0.1 (5)).
"""

from __future__ import annotations

from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["MixSTEAdapter"]


class MixSTEAdapter(VideoPose3DFamilyAdapter):
    """Adapter for MixSTE (``JinluZhang1126/MixSTE``): seq2seq over 243-frame clips.

    Input ``[B, T, 17, 2]`` screen-normalised 2D (H36M-17 order), output/target
    ``[B, T, 17, 3]`` camera-frame metres, root-relative (the target's slot 0 holds the
    trajectory until the loop zeroes it). Arguments as :class:`VideoPose3DFamilyAdapter`
    (``pad`` is ignored for seq2seq). Upstream scales every gradient by the loss value, so the
    patch back-propagates ``seal.energy_term(...)`` on its own (see ``examples/mixste``).
    """
    name = "mixste"
    upstream = "JinluZhang1126/MixSTE"
    commit = "72a36be891a74892dd1a8611159a395ed33a7a01"
    layout = "seq2seq"
    script = "run.py"
    input_shape = "[B,T,17,2] (T=243)"
    output_shape = "[B,T,17,3] seq2seq"
