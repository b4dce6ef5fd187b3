"""Loihi fixed-point helpers shared by the custom process models (numpy; SPEC §4)."""

from __future__ import annotations

import numpy as np

UV_MAX = 2 ** 23       # u and v are 24-bit signed
DECAY_UNITY = 4096     # du and dv are 12-bit
ACT_SHIFT = 6          # a_in, bias and vth are aligned to the 24-bit state by << 6


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """``trunc0(x * (4096 - d) / 4096)`` in 64-bit, rounding toward zero."""
    p = x.astype(np.int64) * (DECAY_UNITY - int(d))
    return (np.sign(p) * (np.abs(p) >> 12)).astype(np.int64)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Wraps a current that left (-2^23, 2^23] once, as Loihi's 24-bit u register does."""
    return np.where(x > UV_MAX, x - 2 * UV_MAX, np.where(x <= -UV_MAX, x + 2 * UV_MAX, x))


def current(u: np.ndarray, a_in: np.ndarray, du: int) -> np.ndarray:
    """``u = wrap24(trunc0(u (4096 - du - 1) / 4096) + (a_in << 6))``."""
    return wrap24(decay(u, int(du) + 1) + (a_in.astype(np.int64) << ACT_SHIFT))


def voltage(v: np.ndarray, u: np.ndarray, dv: int, bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``v = clip(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2^23 - 1))``."""
    bias = np.left_shift(bias_mant.astype(np.int64), bias_exp.astype(np.int64))
    return np.clip(decay(v, dv) + u + bias, -(UV_MAX - 1), UV_MAX - 1)
