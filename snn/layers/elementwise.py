"""Stateless elementwise layers (NIR's ``Scale`` and ``Threshold``), with their lowerings and rebuilds.

    Scale      y_t = scale * x_t                  per feature, any finite gain
    Threshold  y_t = H(x_t - threshold)           1 where x_t > threshold, else 0; a surrogate gradient in backward

Threshold is a memoryless spike function: a spiking layer without a membrane (e.g. binarising an ANN activation).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks, ir
from ..lower import _expect_shape, _np, register_lowering
from ..rebuild import _t, register_rebuild
from ..surrogate import surrogate as make_surrogate

__all__ = ["Scale", "Threshold"]


def _per_feature(name: str, value, shape: tuple[int, ...], where: str) -> torch.Tensor:
    """A finite scalar or tensor broadcast to ``shape`` (torch's default dtype)."""
    t = torch.as_tensor(value).to(torch.get_default_dtype())
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{where}: {name}: expected finite values, got {value!r}")
    try:
        return t.expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"{where}: {name}: expected a scalar or a tensor broadcastable to {shape}, "
                         f"got shape {tuple(t.shape)}") from None


class Scale(nn.Module):
    """``y = scale * x`` elementwise over features of ``shape``; ``scale`` scalar or per feature, trainable when
    ``learn_scale``. ``forward(x (T, B, *shape)) -> y`` (also takes one step ``(B, *shape)``)."""

    def __init__(self, shape, scale=1.0, *, learn_scale: bool = False) -> None:
        super().__init__()
        self.shape = _checks.shape_tuple("shape", shape)
        s = _per_feature("scale", scale, self.shape, "Scale")
        if learn_scale:
            self.scale = nn.Parameter(s)
        else:
            self.register_buffer("scale", s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-len(self.shape):]) != self.shape:
            raise ValueError(f"Scale: input: expected trailing feature shape {self.shape}, got {tuple(x.shape)}")
        return x * self.scale

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Threshold(nn.Module):
    """``y = H(x - threshold)`` elementwise over features of ``shape`` (no state); ``threshold`` scalar or per feature
    (any finite value), trainable when ``learn_threshold``; ``surrogate`` / ``slope`` as :class:`snn.LIF`.
    ``forward(x (T, B, *shape)) -> spikes`` (also takes one step ``(B, *shape)``)."""

    def __init__(self, shape, threshold=1.0, *, learn_threshold: bool = False, surrogate: str = "atan",
                 slope: float | None = None) -> None:
        super().__init__()
        self.shape = _checks.shape_tuple("shape", shape)
        th = _per_feature("threshold", threshold, self.shape, "Threshold")
        if learn_threshold:
            self.threshold = nn.Parameter(th)
        else:
            self.register_buffer("threshold", th)
        self.spike_fn = make_surrogate(surrogate, slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-len(self.shape):]) != self.shape:
            raise ValueError(f"Threshold: input: expected trailing feature shape {self.shape}, got {tuple(x.shape)}")
        return self.spike_fn(x - self.threshold)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, surrogate={self.spike_fn.kind}(slope={self.spike_fn.slope})"


@register_lowering(Scale)
def _lower_scale(m: Scale, shape) -> ir.Scale:
    _expect_shape(m, m.shape, shape)
    return ir.Scale(_np(m.scale))


@register_lowering(Threshold)
def _lower_threshold(m: Threshold, shape) -> ir.Threshold:
    _expect_shape(m, m.shape, shape)
    return ir.Threshold(_np(m.threshold))


@register_rebuild(ir.Scale)
def _rebuild_scale(node: ir.Scale) -> Scale:
    return Scale(tuple(node.scale.shape), _t(node.scale))


@register_rebuild(ir.Threshold)
def _rebuild_threshold(node: ir.Threshold) -> Threshold:
    return Threshold(tuple(node.threshold.shape), _t(node.threshold))
