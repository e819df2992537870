"""KTPFormer (``JihuaPeng/KTPFormer``): kinematics/trajectory prior transformer, seq2seq.

``KTPFormer(adj, adj_temporal, ...)``: ``(B, T, 17, 2) -> (B, T, 17, 3)`` (T = 243, 8 clips per
batch at stride 128). Same data pipeline and loss-scaled backward as MixSTE: the energy gets its
own ``backward(retain_graph=True)``.
"""

from __future__ import annotations

import torch

from .family_vp3d import VideoPose3DFamilyAdapter

__all__ = ["KTPFormerAdapter", "clone_module_outputs"]


class KTPFormerAdapter(VideoPose3DFamilyAdapter):
    """Adapter for KTPFormer (``JihuaPeng/KTPFormer``): seq2seq over 243-frame clips.

    Input ``[B, T, 17, 2]`` screen-normalised 2D (H36M-17 order), output/target
    ``[B, T, 17, 3]`` camera-frame metres, root-relative (the target's slot 0 holds the
    trajectory until the loop zeroes it). Arguments as :class:`VideoPose3DFamilyAdapter`
    (``pad`` is ignored for seq2seq). Upstream scales every gradient by the loss value, so the
    patch back-propagates ``seal.energy_term(...)`` on its own (see ``examples/ktpformer``).
    """
    name = "ktpformer"
    upstream = "JihuaPeng/KTPFormer"
    commit = "b961951a2856dfa631b71bb1058ebebb7fc9acee"
    layout = "seq2seq"
    script = "run_ktpformer.py"
    input_shape = "[B,T,17,2] (T=243)"
    output_shape = "[B,T,17,3] seq2seq"


#: upstream modules whose ReLU output the model then changes in place (``x += pos_embed``)
INPLACE_AFTER_RELU = ("KPA", "StackedTPA")


def clone_module_outputs(
    model: torch.nn.Module, class_names: tuple[str, ...] = INPLACE_AFTER_RELU
) -> list[torch.utils.hooks.RemovableHandle]:
    """Make KTPFormer trainable on torch >= 1.9 without editing its model file.

    At the pinned commit the model adds the positional embedding **in place** to the output of
    a ReLU (``x = self.kpa(x); x += ...`` and the same after ``self.tpa``), which autograd
    rejects at backward ("modified by an inplace operation"; upstream issues KTPFormer#15 and
    #23, reported working only on torch 1.8.0). A forward hook that returns a copy of those
    modules' outputs gives the same values and a valid graph; parameters and ``state_dict``
    are untouched. Returns the hook handles (``handle.remove()`` undoes it).
    """
    handles = []
    for module in model.modules():
        if type(module).__name__ in class_names:
            handles.append(module.register_forward_hook(lambda _m, _inp, out: out.clone()))
    return handles
