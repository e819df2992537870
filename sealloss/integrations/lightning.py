"""PyTorch Lightning callback that adds SEAL to a LightningModule's training step.

``pip install 'sealloss[lightning]'``. Lightning is imported only when :class:`SealCallback` is
first accessed; the hook logic lives in :class:`SealHooks`, which needs no Lightning.

The module's ``training_step`` returns a dict with the loss and the three tensors SEAL needs
(the key names are configurable)::

    class Lifter(L.LightningModule):
        def training_step(self, batch, batch_idx):
            x2d, y3d = batch
            y_hat = self(x2d)
            loss = (y_hat - y3d).norm(dim=-1).mean()
            return {"loss": loss, "x2d": x2d, "y_hat": y_hat, "y_gt": y3d}

    trainer = L.Trainer(callbacks=[SealCallback()])

The defaults are the recommended, measured setting of the 2D the module trains on
(:data:`sealloss.defaults.TRAIN`; ``inputs="gt"``, the default: the shipped ``"h36m17"``
loss-net, frozen, ``lam="auto"`` at force ratio 0.3, scoring a quarter of each batch;
``SealCallback(inputs="detected")``: the alternating scheme warm-started from
``"h36m17-sh-refiner"``); pass ``lossnet=None, mode="dynamic"`` to train a fresh loss-net
alongside.

During ``fit`` the callback wraps the module's ``training_step``: after the original step it
runs the loss-net update(s) and returns ``loss + lam * mean E(x2d, y_hat)``
(:class:`~sealloss.training.wrapper.AlternatingWrapper`), drops the three tensors from the output
and
logs the diagnostics under ``seal/``. The loss-net is not a sub-module of the LightningModule
(the pose optimizer never sees it); it lives on the module's device and its weights, optimizer
and auto-lambda state go into Lightning checkpoints through the callback's ``state_dict``.
Automatic optimization only: with manual optimization call :attr:`SealHooks.wrapper` yourself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..defaults import train_defaults
from ..errors import SealLossError

__all__ = ["SealHooks", "SealCallbackError"]  # and SealCallback, built on first access

_LOGGED = ("lam", "energy_pred", "energy_gap", "force_ratio", "alignment", "lossnet_loss")


#: the ``lossnet`` default: the recommended loss-net of the input kind (``None`` means a fresh one)
_RECOMMENDED: Any = object()


class SealCallbackError(SealLossError, RuntimeError):
    """The LightningModule does not follow the callback's conventions."""


class SealHooks:
    """The callback's logic, independent of Lightning (see the module doc).

    Every default is the recommended setting of ``inputs`` (:data:`sealloss.defaults.TRAIN`).

    Args:
        lossnet: a :class:`~sealloss.nn.LossNet`, a weights path or registered name, or ``None``
            for a fresh graph-transformer loss-net (with ``mode="dynamic"``); by default the
            recommended one (``"h36m17"`` for ``inputs="gt"``).
        inputs: the 2D the module trains on: ``"gt"`` (GT-projected, the default) or
            ``"detected"`` (a detector's output); it picks the defaults.
        keys: names of the 2D input, prediction and target in the ``training_step`` output.
        log_prefix: prefix of the logged diagnostics (``None``: no logging).
        **settings: any flat wrapper setting of :func:`sealloss.training.settings.build_wrapper`
            (``lam``, ``mode``, ``target_force_ratio``, ``score_fraction``, ``k``, ``adapter``,
            ``seed`` ...); those not given are the recommended ones, and a setting that would
            be ignored is refused (when the wrapper is built, at fit start).

    Attributes:
        settings: the effective flat settings (the recommended ones of ``inputs`` with the given
            ones applied), for display; the wrapper is built from ``inputs`` and the given ones.
    """

    def __init__(
        self,
        lossnet: Any = _RECOMMENDED,
        *,
        inputs: str = "gt",
        keys: tuple[str, str, str] = ("x2d", "y_hat", "y_gt"),
        log_prefix: str | None = "seal/",
        **settings: Any,
    ) -> None:
        if len(keys) != 3:
            raise ValueError(f"keys must name (2D input, prediction, target), got {keys!r}")
        preset = train_defaults(inputs)  # raises on an unknown kind, before any fit
        if lossnet is not _RECOMMENDED:
            settings["lossnet"] = lossnet
        self.inputs = inputs
        self.given = dict(settings)
        self.settings = {**preset, **settings}
        self.keys = tuple(keys)
        self.log_prefix = log_prefix
        self.wrapper: Any = None  # AlternatingWrapper, built at fit start
        self._pending_state: dict[str, Any] | None = None
        self._patched: Any = None  # (module, had an instance attribute, original step)

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not getattr(pl_module, "automatic_optimization", True):
            raise SealCallbackError(
                "SealCallback needs automatic optimization; with manual optimization call "
                "callback.wrapper(loss, x2d, y_hat, y_gt) in training_step before "
                "manual_backward"
            )
        if self.wrapper is None:
            from ..training.settings import build_wrapper

            self.wrapper = build_wrapper(inputs=self.inputs,
                                         **{"device": getattr(pl_module, "device", None),
                                            **self.given})
        else:
            self.wrapper.lossnet.to(getattr(pl_module, "device", "cpu"))
        if self._pending_state is not None:
            self.wrapper.load_state_dict(self._pending_state)
            self._pending_state = None
        self._patch(pl_module)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._unpatch()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._unpatch()

    def state_dict(self) -> dict[str, Any]:
        if self.wrapper is None:
            return dict(self._pending_state or {})
        return self.wrapper.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if not state_dict:
            return
        if self.wrapper is None:
            self._pending_state = dict(state_dict)
        else:
            self.wrapper.load_state_dict(state_dict)

    # ------------------------------------------------------------------ the step
    def _patch(self, pl_module: Any) -> None:
        if self._patched is not None:
            return
        had = "training_step" in vars(pl_module)
        original = pl_module.training_step

        def training_step(*args: Any, **kwargs: Any) -> Any:
            return self._add_seal(pl_module, original(*args, **kwargs))

        pl_module.training_step = training_step
        self._patched = (pl_module, had, original)

    def _unpatch(self) -> None:
        if self._patched is None:
            return
        module, had, original = self._patched
        if had:
            module.training_step = original
        else:
            vars(module).pop("training_step", None)
        self._patched = None

    def _add_seal(self, pl_module: Any, out: Any) -> Any:
        if out is None:  # Lightning skips the batch
            return out
        kx, kp, kt = self.keys
        if not isinstance(out, Mapping) or "loss" not in out or any(
            k not in out for k in self.keys
        ):
            got = sorted(out) if isinstance(out, Mapping) else type(out).__name__
            raise SealCallbackError(
                f"with SealCallback, training_step must return a dict with 'loss', {kx!r}, "
                f"{kp!r} and {kt!r} (2D input, prediction with its graph, target); got {got}"
            )
        loss = self.wrapper(out["loss"], out[kx], out[kp], out[kt])
        rest = {k: v for k, v in out.items() if k not in self.keys and k != "loss"}
        if self.log_prefix is not None and hasattr(pl_module, "log"):
            stats = self.wrapper.stats
            for k in _LOGGED:
                v = stats.get(k, math.nan)
                if math.isfinite(v):
                    pl_module.log(f"{self.log_prefix}{k}", v, on_step=True, on_epoch=False)
        return {**rest, "loss": loss}


def _build_callback_class() -> type:
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback  # type: ignore[no-redef]
        except ImportError:
            raise ImportError(
                "SealCallback needs PyTorch Lightning: pip install 'sealloss[lightning]' (or "
                "lightning>=2.0)"
            ) from None

    class SealCallback(SealHooks, Callback):  # type: ignore[misc, valid-type]
        __doc__ = "Lightning callback adding SEAL to ``training_step``. " + (
            SealHooks.__doc__ or ""
        )

    SealCallback.__module__ = __name__
    return SealCallback


_CACHE: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name == "SealCallback":
        if name not in _CACHE:
            _CACHE[name] = _build_callback_class()
        return _CACHE[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
