"""Loihi fixed-point helpers shared by the custom process models (numpy; SPEC §4).

They follow lava-nc 0.10.0's ``PyLifModelBitAcc`` to the bit, its ``int32`` overflows included: the input shift and
the sums wrap at 32 bits, ``u`` is wrapped once into 24 bits, ``v`` is clipped.
"""

from __future__ import annotations

import numpy as np

UV_MAX = 2 ** 23       # u and v are 24-bit signed
DECAY_UNITY = 4096     # du and dv are 12-bit
ACT_SHIFT = 6          # a_in, bias and vth are aligned to the 24-bit state by << 6


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement 32-bit wrap of int64 values (Lava computes these sums in int32)."""
    return ((x.astype(np.int64) + 2 ** 31) & (2 ** 32 - 1)) - 2 ** 31


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """``trunc0(x * (4096 - d) / 4096)`` in 64-bit, rounding toward zero."""
    p = x.astype(np.int64) * (DECAY_UNITY - int(d))
    return (np.sign(p) * (np.abs(p) >> 12)).astype(np.int64)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Wraps a current that left (-2^23, 2^23] once, as Lava's LIF does (a 24-bit register wraps further)."""
    return np.where(x > UV_MAX, x - 2 * UV_MAX, np.where(x <= -UV_MAX, x + 2 * UV_MAX, x))


def current(u: np.ndarray, a_in: np.ndarray, du: int) -> np.ndarray:
    """``u = wrap24(wrap32(trunc0(u (4096 - du - 1) / 4096) + (a_in << 6)))``."""
    return wrap24(wrap32(decay(u, int(du) + 1) + (a_in.astype(np.int64) << ACT_SHIFT)))


def voltage(v: np.ndarray, u: np.ndarray, dv: int, bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``v = clip(wrap32(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp)), +-(2^23 - 1))``."""
    bias = np.left_shift(bias_mant.astype(np.int64), bias_exp.astype(np.int64))
    return np.clip(wrap32(decay(v, dv) + u.astype(np.int64) + bias), -(UV_MAX - 1), UV_MAX - 1)
