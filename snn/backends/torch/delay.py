"""Integer synaptic delays in torch, ``y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i``, and the kernel of ir.DelayLinear.

Two paths give the same numbers (delays ``D`` in steps, inputs before the sequence are zero):

- *grouped* (:func:`plan_delay_groups`, :func:`grouped_delay_linear`): one matmul per distinct delay, shifted in
  time; each group keeps only the rows and columns that carry a synapse of that delay, as a dense block or a
  sparse CSR matrix. Cost: every input step times the groups' blocks, up to ``K`` dense layers for random delays.
- *scatter*, event-driven (:func:`plan_scatter`, :func:`scatter_delay_linear`): every nonzero input ``x[s, b, j]``
  adds ``x * W[:, j]`` to ``y[s + D[:, j], b, :]``, one ``index_add_`` per chunk of events (in time order). Cost:
  nonzero inputs times the nonzero weights of their column, independent of ``K``.

:func:`integer_delay_linear` takes the scatter path when the share of nonzero inputs is below ``SCATTER_BELOW``
(spike trains), the grouped one otherwise. The scatter path runs as the compiled kernel ``spikeforge::delay_scatter``
(``snn/kernels/csrc/delay.cpp``; then the threshold is ``COMPILED_SCATTER_BELOW``) where :func:`compiled_applies`,
in PyTorch (the reference and fallback) otherwise. ``with delay_path("scatter" | "grouped"):`` forces a path for the
code in the block (the front end's ``eval()`` mode and this backend both call :func:`integer_delay_linear`).
"""

from __future__ import annotations

import contextvars
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import torch

from ... import ir, kernels
from .simulator import register_kernel

__all__ = ["PATHS", "SCATTER_BELOW", "COMPILED_SCATTER_BELOW", "SPARSE_BELOW", "delay_path", "DelayGroup",
           "plan_delay_groups", "grouped_delay_linear", "ScatterPlan", "plan_scatter", "scatter_delay_linear",
           "compiled_applies", "compiled_scatter", "integer_delay_linear"]

PATHS = ("auto", "scatter", "grouped")
# "auto" scatters when fewer than this share of the inputs are nonzero: on CPU the scatter path beats the grouped
# path and a dense K-tap conv1d up to about this density (docs/benchmarks.md, "Delays", density rows).
SCATTER_BELOW = 0.2
# The same for the compiled scatter kernel (snn/kernels/csrc/delay.cpp), several times faster than the PyTorch one:
# it beats the grouped path up to high densities for per-synapse delays, up to about 30% for axonal delays
# (docs/delays.md).
COMPILED_SCATTER_BELOW = 0.5
# A delay group runs as a sparse CSR matmul when its synapses fill less than this share of its dense block:
# on CPU a sparse product costs about 20x a dense one per multiply-add.
SPARSE_BELOW = 0.05
# Scatter works through the events in chunks of at most this many (event, synapse) pairs (bounds memory).
SCATTER_CHUNK = 1 << 18

_PATH = contextvars.ContextVar("snn_delay_path", default="auto")


def _check_path(path) -> str:
    if path not in PATHS:
        raise ValueError(f"delay path: expected one of {list(PATHS)}, got {path!r}")
    return path


@contextmanager
def delay_path(path: str):
    """Within the block, :func:`integer_delay_linear` uses ``path`` (``auto`` | ``scatter`` | ``grouped``)."""
    token = _PATH.set(_check_path(path))
    try:
        yield
    finally:
        _PATH.reset(token)


@dataclass(frozen=True)
class DelayGroup:
    """The synapses of one delay: ``y[t, :, rows] += x[t - delay, :, cols] @ weight.T``.

    Attributes:
        delay: steps; rows / cols: output / input indices of the block (int64);
        weight: ``(len(rows), len(cols))``, dense or sparse CSR (zeros where a synapse has another delay).
    """

    delay: int
    rows: torch.Tensor
    cols: torch.Tensor
    weight: torch.Tensor


def plan_delay_groups(weight: torch.Tensor, delays: torch.Tensor, sparse_below: float = SPARSE_BELOW
                      ) -> list[DelayGroup]:
    """Splits ``weight`` ``(out, in)`` by the integer ``delays`` ``(out, in)`` into one block per distinct delay.

    Zero weights are dropped. A block is stored as sparse CSR when its synapses fill less than ``sparse_below``
    of it.
    """
    weight = weight.detach()
    groups = []
    live = weight != 0
    for d in torch.unique(delays[live]).tolist():
        mask = live & (delays == d)
        rows = mask.any(1).nonzero().squeeze(1)
        cols = mask.any(0).nonzero().squeeze(1)
        block = torch.where(mask, weight, torch.zeros_like(weight))[rows][:, cols]
        if int(mask.sum()) < sparse_below * block.numel():
            with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and tested here
                warnings.simplefilter("ignore", UserWarning)
                block = block.to_sparse_csr()
        groups.append(DelayGroup(int(d), rows, cols, block))
    return groups


def grouped_delay_linear(x: torch.Tensor, groups: list[DelayGroup], out_features: int,
                         bias: Optional[torch.Tensor] = None, history: int = 0) -> torch.Tensor:
    """``y_i[t] = sum_j W_ij x_j[t - d_ij] + b_i`` for a plan of :func:`plan_delay_groups`.

    ``x``: ``(history + T, B, in)``, the first ``history`` steps being earlier input (a stream's buffer; inputs
    before it count as zero). Returns ``(T, B, out)``.
    """
    total, batch = x.shape[:2]
    steps = total - history
    y = x.new_zeros(steps, batch, out_features)
    for g in groups:
        start = history - g.delay  # first input step feeding output step 0
        lo = max(0, -start)        # output steps before lo see only zeros
        if lo >= steps:
            continue
        src = x[start + lo: start + steps, :, :].index_select(2, g.cols)
        if g.weight.layout == torch.sparse_csr:
            part = (g.weight @ src.reshape(-1, len(g.cols)).t().contiguous()).t().reshape(steps - lo, batch, -1)
        else:
            part = src @ g.weight.t()
        if len(g.rows) == out_features:  # every output has a synapse of this delay: no scatter needed
            y[lo:] += part
        else:
            y[lo:].index_add_(2, g.rows, part)
    if bias is not None:
        y = y + bias
    return y


@dataclass(frozen=True)
class ScatterPlan:
    """Fan-out table of every input column, padded to the largest fan-out ``F`` with zero weights.

    Attributes:
        rows: ``(in, F)`` int64 output indices; weight: ``(in, F)``; delay: ``(in, F)`` int64 steps;
        out_features: number of outputs.
    """

    rows: torch.Tensor
    weight: torch.Tensor
    delay: torch.Tensor
    out_features: int


def plan_scatter(weight: torch.Tensor, delays: torch.Tensor) -> ScatterPlan:
    """The fan-out table of ``weight`` ``(out, in)`` and integer ``delays`` ``(out, in)``; zero weights dropped."""
    n_out, n_in = weight.shape
    cols, rows = (weight != 0).t().nonzero(as_tuple=True)  # live synapses, column by column
    fan = torch.bincount(cols, minlength=n_in)
    width = int(fan.max()) if n_in else 0
    slot = torch.arange(len(cols), device=weight.device) - (torch.cumsum(fan, 0) - fan)[cols]  # place in column
    table_rows = torch.zeros(n_in, width, dtype=torch.int64, device=weight.device)
    table_rows[cols, slot] = rows
    table_delay = torch.zeros_like(table_rows)
    table_delay[cols, slot] = delays[rows, cols]
    table_weight = weight.new_zeros(n_in, width).index_put((cols, slot), weight[rows, cols])
    return ScatterPlan(table_rows, table_weight, table_delay, n_out)


def scatter_delay_linear(x: torch.Tensor, plan: ScatterPlan, bias: Optional[torch.Tensor] = None,
                         history: int = 0) -> torch.Tensor:
    """Event-driven ``y_i[t] = sum_j W_ij x_j[t - d_ij] + b_i``: one ``index_add_`` per chunk of nonzero inputs.

    ``x``: ``(history + T, B, in)`` as in :func:`grouped_delay_linear`. Returns ``(T, B, out)``.
    """
    total, batch, n_in = x.shape
    out, fan = plan.out_features, plan.rows.shape[1]
    span = total + (int(plan.delay.max()) if plan.delay.numel() else 0)
    # buf[b, s + d] collects input step s delayed by d; rows before `history` and after the sequence are dropped.
    # Batch-major with events taken batch by batch, so the adds of a chunk stay within a few K x out windows.
    buf = x.new_zeros(batch * span * out)
    flat = x.transpose(0, 1).reshape(-1)
    events = flat.nonzero().squeeze(1)
    if fan:
        index_type = torch.int32 if buf.numel() < 2 ** 31 else torch.int64  # int32: half the memory traffic
        offset = (plan.delay * out + plan.rows).to(index_type)  # (in, F): synapse (j, f) from its input row
        chunk = max(1, SCATTER_CHUNK // fan)
        for lo in range(0, len(events), chunk):
            e = events[lo: lo + chunk]
            j, bs = e % n_in, e // n_in  # bs = b * total + s
            row = bs + (bs // total) * (span - total)  # b * span + s
            idx = offset.index_select(0, j).add_((row * out).to(index_type).unsqueeze(1))
            val = plan.weight.index_select(0, j).mul_(flat[e].unsqueeze(1))
            buf.index_add_(0, idx.view(-1), val.view(-1))
    y = buf.view(batch, span, out)[:, history:total].transpose(0, 1)
    return y + bias if bias is not None else y.contiguous()


def compiled_applies(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> bool:
    """Whether the compiled scatter kernel can run: kernels built, CPU float32 / float64, no gradient to carry (the
    compiled kernel has no backward)."""
    return (kernels.ops() is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and weight.dtype == x.dtype and weight.device == x.device and delays.device == x.device
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)))


def compiled_scatter(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor, history: int = 0
                     ) -> Optional[torch.Tensor]:
    """The scatter path without bias, compiled (``spikeforge::delay_scatter``); None where it does not apply
    (:func:`compiled_applies`)."""
    if not compiled_applies(x, weight, delays):
        return None
    return kernels.ops().delay_scatter(x, weight, delays.to(torch.int64), history)


def integer_delay_linear(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor,
                         bias: Optional[torch.Tensor] = None, history: int = 0, path: Optional[str] = None
                         ) -> torch.Tensor:
    """``y_i[t] = sum_j W_ij x_j[t - d_ij] + b_i`` on ``x`` ``(history + T, B, in)`` -> ``(T, B, out)``.

    ``weight`` and ``delays`` (steps, int64) are ``(out, in)``. ``path``: ``auto`` (scatter when fewer than
    ``SCATTER_BELOW`` of the inputs are nonzero, ``COMPILED_SCATTER_BELOW`` where the compiled kernel runs), ``scatter``
    or ``grouped``; None: the one set by :func:`delay_path` (default ``auto``). The scatter path runs compiled where
    :func:`compiled_applies`, in PyTorch otherwise.
    """
    path = _check_path(_PATH.get() if path is None else path)
    compiled = compiled_applies(x, weight, delays)
    if path == "auto":
        below = COMPILED_SCATTER_BELOW if compiled else SCATTER_BELOW
        path = "scatter" if int(torch.count_nonzero(x)) < below * x.numel() else "grouped"
    if path == "scatter" and compiled:
        y = compiled_scatter(x, weight, delays, history)
        return y + bias if bias is not None else y
    if path == "scatter":
        return scatter_delay_linear(x, plan_scatter(weight, delays), bias, history)
    return grouped_delay_linear(x, plan_delay_groups(weight, delays), weight.shape[0], bias, history)


@register_kernel(ir.DelayLinear)
def delay_linear(node: ir.DelayLinear, x: torch.Tensor) -> torch.Tensor:
    """``y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i`` on ``x`` ``(T, B, in)``; inputs before ``t = 0`` are zero."""
    w = torch.as_tensor(node.weight, dtype=x.dtype, device=x.device)
    d = torch.as_tensor(node.delay, dtype=torch.int64, device=x.device)
    bias = None if node.bias is None else torch.as_tensor(node.bias, dtype=x.dtype, device=x.device)
    return integer_delay_linear(x, w, d, bias)
