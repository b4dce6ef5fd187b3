"""Argument and tensor validation shared by the front end: every failure is a ValueError naming the argument,
what was expected and what was given."""

from __future__ import annotations

import math
from typing import Sequence

import torch

RESET_MODES = ("subtract", "zero", "none")


def positive(name: str, value, *, where: str = "") -> None:
    """Checks that a number or every element of a tensor is finite and > 0."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, torch.Tensor):
        if not torch.is_floating_point(value):
            raise ValueError(f"{prefix}{name}: expected a floating-point tensor, got dtype {value.dtype}")
        if not bool(torch.isfinite(value).all()) or not bool((value > 0).all()):
            raise ValueError(f"{prefix}{name}: expected every value finite and > 0, got min {value.min().item():g}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{prefix}{name}: expected a finite number > 0, got {value!r}")


def reset_mode(value: str, *, where: str = "") -> str:
    if value not in RESET_MODES:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}reset: expected one of {list(RESET_MODES)}, got {value!r}")
    return value


def shape_tuple(name: str, shape) -> tuple[int, ...]:
    """Normalises an int or a sequence of ints to a shape tuple of positive sizes."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape) if isinstance(shape, Sequence) else None
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ValueError(f"{name}: expected a positive int or a tuple of positive ints, got {shape!r}")
    return dims


def input_tensor(x, feature_shape: tuple[int, ...], *, leading: int, where: str, name: str = "input") -> None:
    """Checks ``x`` is a floating tensor of shape ``(*leading dims, *feature_shape)``.

    ``leading`` is 2 for whole sequences ``(T, B, ...)`` and 1 for single steps ``(B, ...)``.
    """
    layout = "(T, B, " if leading == 2 else "(B, "
    expected = layout + ", ".join(map(str, feature_shape)) + ")"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{where}: {name}: expected a tensor of shape {expected}, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{where}: {name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != leading + len(feature_shape) or tuple(x.shape[leading:]) != tuple(feature_shape):
        raise ValueError(f"{where}: {name}: expected shape {expected}, got {tuple(x.shape)}")
