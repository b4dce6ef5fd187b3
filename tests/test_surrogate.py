"""Surrogate gradients: Heaviside forward, and each backward equal to its closed form."""

import math

import pytest
import torch

import snn
from snn.surrogate import SURROGATES


def closed_form(kind: str, x: torch.Tensor, a: float) -> torch.Tensor:
    if kind == "atan":
        return (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)
    if kind == "fast_sigmoid":
        return 1 / (1 + a * x.abs()) ** 2
    if kind == "triangle":
        return torch.clamp(a * (1 - a * x.abs()), min=0)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", SURROGATES)
@pytest.mark.parametrize("slope", [0.5, 2.0, 25.0])
def test_backward_equals_closed_form(kind, slope):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    y = snn.surrogate(kind, slope)(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, closed_form(kind, x.detach(), slope), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", SURROGATES)
def test_forward_is_strict_heaviside(kind):
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0])
    assert snn.surrogate(kind)(x).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_triangle_integrates_to_one():
    a = 3.0
    x = torch.linspace(-1, 1, 200001, dtype=torch.float64)
    area = torch.trapezoid(snn.surrogate("triangle", a).derivative(x), x)
    assert abs(area.item() - 1.0) < 1e-6


def test_default_slopes():
    assert snn.surrogate("atan").slope == 2.0
    assert snn.surrogate("fast_sigmoid").slope == 25.0


@pytest.mark.parametrize("kind, slope", [("sigmoid", None), ("atan", 0.0), ("atan", -1.0), ("atan", float("nan"))])
def test_bad_surrogate(kind, slope):
    with pytest.raises(ValueError, match="surrogate"):
        snn.surrogate(kind, slope)
