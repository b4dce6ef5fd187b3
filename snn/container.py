"""``Sequential``: a chain of synapses and neurons with explicit state."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from .neurons.base import Stateful
from .neurons.lif import LIF
from .synapses.linear import Linear


def _hooked(module: nn.Module) -> bool:
    """Whether calling ``module`` would run hooks (its own or global ones): a fused pair skips the calls."""
    from torch.nn.modules import module as torch_module

    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks or torch_module._global_forward_hooks
                or torch_module._global_forward_pre_hooks or torch_module._global_backward_hooks
                or torch_module._global_backward_pre_hooks)


class Sequential(nn.Sequential):
    """Runs its modules in order on a whole sequence or one step.

    ``forward(x (T, B, ...), state=None) -> (y (T, B, ...), state)`` where ``state`` is a tuple with one entry per
    module (``None`` for stateless ones); ``step(x (B, ...), state=None)`` does one time step. Pass the returned
    state back in to continue a stream.
    """

    def forward(self, x: torch.Tensor, state: Optional[Sequence[Any]] = None) -> tuple[torch.Tensor, tuple]:
        return self._run(x, state, stepping=False)

    def step(self, x: torch.Tensor, state: Optional[Sequence[Any]] = None) -> tuple[torch.Tensor, tuple]:
        return self._run(x, state, stepping=True)

    def _run(self, x, state, stepping: bool):
        modules = list(self)
        if state is not None and len(state) != len(modules):
            raise ValueError(f"Sequential: state: expected a sequence of {len(modules)} entries (one per module), "
                             f"got {len(state)}")
        new_state = []
        skip = False
        for i, m in enumerate(modules):
            if skip:  # the LIF already ran fused with the Linear before it
                skip = False
                continue
            s = None if state is None else state[i]
            fused = None
            if (not stepping and type(m) is Linear and i + 1 < len(modules) and isinstance(modules[i + 1], LIF)
                    and not _hooked(m) and not _hooked(modules[i + 1])):
                fused = modules[i + 1].forward_after(m, x, None if state is None else state[i + 1])
            if fused is not None:
                x, s = fused
                new_state += [None, s]
                skip = True
                continue
            if stepping:
                if not hasattr(m, "step"):
                    raise ValueError(f"Sequential: module {i} ({type(m).__name__}) has no step(); "
                                     "use snn modules to stream one step at a time")
                x, s = m.step(x, s)
            elif isinstance(m, (Stateful, Sequential)):
                x, s = m(x, s)
            else:
                x = m(x)
            new_state.append(s)
        return x, tuple(new_state)
