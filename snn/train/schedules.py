"""Optimiser with parameter groups, and per-batch learning-rate schedules.

Parameters whose name ends with a group's ``match`` (first matching group wins) get that group's ``lr``,
``weight_decay`` and ``schedule``; the rest form the default group. Schedules are multipliers of a group's peak lr
as a function of the step ``k`` of ``K`` total steps:

- ``constant``: 1
- ``cosine``:   ``(1 + cos(pi k / K)) / 2``
- ``onecycle``: cosine warm-up from ``1/25`` to 1 over the first ``pct_start * K`` steps, then cosine annealing to
  ``1/25e4`` at step ``K - 1`` (the curve of ``torch.optim.lr_scheduler.OneCycleLR``, without momentum cycling)
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .config import OptimConfig

ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 25.0, 1e4


def _cos(a: float, b: float, frac: float) -> float:
    """Cosine interpolation from ``a`` (frac 0) to ``b`` (frac 1)."""
    return b + (a - b) * (1 + math.cos(math.pi * min(max(frac, 0.0), 1.0))) / 2


def lr_factor(kind: str, step: int, total: int, pct_start: float = 0.25) -> float:
    """The schedule multiplier at ``step`` of ``total`` (see the module docstring)."""
    total = max(total, 1)
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        return _cos(1.0, 0.0, step / total)
    if kind == "onecycle":
        peak = max(pct_start * total - 1, 1.0)  # the step at the peak, placed as OneCycleLR places it
        start, end = 1 / ONECYCLE_DIV, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        if step <= peak:
            return _cos(start, 1.0, step / peak)
        return _cos(1.0, end, (step - peak) / max(total - 1 - peak, 1.0))
    raise ValueError(f"optim.schedule: expected constant, cosine or onecycle, got {kind!r}")


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Torch param groups: one per configured group that matches something, then the rest."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = []
    taken: set[str] = set()
    for g in cfg.param_groups:
        params = [p for n, p in named if n.endswith(g["match"]) and n not in taken]
        taken |= {n for n, _ in named if n.endswith(g["match"])}
        if not params:
            raise ValueError(f"optim.param_groups: match {g['match']!r} selects no parameter; names are "
                             f"{[n for n, _ in named]}")
        groups.append({"params": params, "name": g["match"],
                       "lr": cfg.lr if g["lr"] is None else g["lr"],
                       "weight_decay": cfg.weight_decay if g["weight_decay"] is None else g["weight_decay"],
                       "schedule": g["schedule"] or cfg.schedule})
    rest = [p for n, p in named if n not in taken]
    if rest:
        groups.append({"params": rest, "name": "default", "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                       "schedule": cfg.schedule})
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int):
    """``(optimizer, scheduler)``; step the scheduler once per optimiser step."""
    groups = param_groups(model, cfg)
    schedules = [g.pop("schedule") for g in groups]
    if cfg.name == "adam":
        opt = torch.optim.Adam(groups, lr=cfg.lr)
    elif cfg.name == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
    elif cfg.name == "adamax":
        opt = torch.optim.Adamax(groups, lr=cfg.lr)
    else:
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
    lambdas = [partial(_factor, kind, total_steps, cfg.pct_start) for kind in schedules]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambdas)


def _factor(kind: str, total: int, pct_start: float, step: int) -> float:
    return lr_factor(kind, step, total, pct_start)
