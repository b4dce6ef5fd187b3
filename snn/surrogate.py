"""Surrogate gradients for the spike non-linearity.

The forward pass is the Heaviside step ``H(x) = 1 if x > 0 else 0`` (strict, as Lava, Norse and snnTorch use);
the backward pass replaces its derivative, zero almost everywhere, by a smooth pseudo-derivative ``h(x)`` with a
``slope`` (sharpness) parameter:

=============  ==================================================  ===============
name           pseudo-derivative ``h(x)``                          default slope
=============  ==================================================  ===============
``atan``       ``(a / 2) / (1 + (pi / 2 * a * x)^2)``              ``a = 2``
``fast_sigmoid`` ``1 / (1 + a |x|)^2``  (SuperSpike)                ``a = 25``
``triangle``   ``a * max(0, 1 - a |x|)``                           ``a = 1``
=============  ==================================================  ===============

``x`` is the membrane potential minus the threshold (in the membrane's units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Surrogate", "SURROGATES", "surrogate", "spike"]


def _atan_grad(x: torch.Tensor, a: float) -> torch.Tensor:
    return (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)


def _fast_sigmoid_grad(x: torch.Tensor, a: float) -> torch.Tensor:
    return 1.0 / (1 + a * x.abs()) ** 2


def _triangle_grad(x: torch.Tensor, a: float) -> torch.Tensor:
    return a * torch.relu(1 - a * x.abs())


_GRADS: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float]] = {
    "atan": (_atan_grad, 2.0),
    "fast_sigmoid": (_fast_sigmoid_grad, 25.0),
    "triangle": (_triangle_grad, 1.0),
}
SURROGATES = tuple(_GRADS)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.kind, ctx.slope = kind, slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_fn = _GRADS[ctx.kind][0]
        return grad_out * grad_fn(x, ctx.slope), None, None


@dataclass(frozen=True)
class Surrogate:
    """A spike function: Heaviside forward, the named pseudo-derivative backward.

    Attributes:
        kind: one of ``SURROGATES``.
        slope: sharpness ``a`` of the pseudo-derivative (1 / membrane units).
    """

    kind: str = "atan"
    slope: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in _GRADS:
            raise ValueError(f"surrogate: expected one of {list(SURROGATES)}, got {self.kind!r}")
        if not (isinstance(self.slope, (int, float)) and math.isfinite(self.slope) and self.slope > 0):
            raise ValueError(f"surrogate slope: expected a finite number > 0, got {self.slope!r}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFunction.apply(x, self.kind, float(self.slope))

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The pseudo-derivative ``h(x)`` used in the backward pass."""
        return _GRADS[self.kind][0](x, float(self.slope))


def surrogate(kind: str | Surrogate = "atan", slope: float | None = None) -> Surrogate:
    """Builds a :class:`Surrogate` by name; ``slope=None`` takes the kind's default."""
    if isinstance(kind, Surrogate):
        return kind if slope is None else Surrogate(kind.kind, slope)
    if kind not in _GRADS:
        raise ValueError(f"surrogate: expected one of {list(SURROGATES)}, got {kind!r}")
    return Surrogate(kind, _GRADS[kind][1] if slope is None else slope)


def spike(x: torch.Tensor, kind: str = "atan", slope: float | None = None) -> torch.Tensor:
    """Heaviside of ``x`` with the named surrogate gradient."""
    return surrogate(kind, slope)(x)
