"""Dense synapses with learnable delays (DCLS method, SPEC §3): ``DelayedLinear`` and ``AxonalDelayedLinear``.

Use them where spike timing carries the information (e.g. SHD): each synapse learns *when* its input arrives as
well as how strongly. Training spreads every delay over ``K`` taps with a Gaussian of width ``sigma`` (computed over
the active inputs only for spike trains when the compiled kernels are built: :mod:`snn.synapses.delay_events`) that
the trainer anneals each epoch (:class:`SigmaSchedule`, via ``epoch_end``) from ``K//2`` down to 0.23; positions are
clamped to ``[-(K//2), K//2]`` after each optimiser step (``after_optimizer_step``) and live in the parameter
``positions`` (give it its own optimiser group, e.g. ``match: positions``). In ``eval()`` mode, in streaming
``step`` at evaluation, and when lowered to the IR, the layer uses integer delays ``d = K//2 - round(P)`` and sigma 0:
``I_i[t] = sum_j W_ij x_j[t - d_ij] + b_i``, computed event by event for spike trains (see
:mod:`snn.backends.torch.delay`). The equations are in :mod:`snn.synapses.delay_functional`.

Both layers are stateful only in streaming mode: the state is the last ``K - 1`` inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from torch import nn

from .. import _checks
from ..backends.torch.delay import integer_delay_linear
from ..neurons.base import Stateful
from . import delay_functional as D
from .delay_events import gaussian_delay_auto

__all__ = ["SigmaSchedule", "DelayState", "DelayedLinear", "AxonalDelayedLinear", "check_max_delay"]


@dataclass(frozen=True)
class SigmaSchedule:
    """Exponential annealing of the kernel width (steps), as the paper's recipe.

    ``sigma(epoch, num_epochs) = sigma_init * (sigma_final / sigma_init) ** min(epoch / E, 1)`` with
    ``E = max(1, floor(anneal_fraction * num_epochs))``: sigma is multiplied by the same factor after each of the
    first ``E`` epochs, then stays at ``sigma_final``. ``epoch`` counts finished epochs (0 = before training).
    """

    sigma_init: float
    sigma_final: float = 0.23
    anneal_fraction: float = 0.25

    def __post_init__(self) -> None:
        _checks.positive("sigma_init", self.sigma_init, where="SigmaSchedule")
        _checks.positive("sigma_final", self.sigma_final, where="SigmaSchedule")
        if not 0 < self.anneal_fraction <= 1:
            raise ValueError(f"SigmaSchedule: anneal_fraction: expected a number in (0, 1], "
                             f"got {self.anneal_fraction!r}")

    def __call__(self, epoch: int, num_epochs: int) -> float:
        span = max(1, math.floor(self.anneal_fraction * num_epochs))
        frac = min(max(epoch, 0) / span, 1.0)
        return self.sigma_init * (self.sigma_final / self.sigma_init) ** frac


class DelayState(NamedTuple):
    """Streaming state of a delay layer: ``history``, the last ``K - 1`` inputs ``(K - 1, B, in)``, oldest first."""

    history: torch.Tensor


def check_max_delay(max_delay, where: str) -> int:
    """``max_delay`` (``K``, taps) must be an odd int >= 1."""
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay < 1 or max_delay % 2 == 0:
        raise ValueError(f"{where}: max_delay: expected an odd integer >= 1 (the number of taps K; delays "
                         f"0..K-1 steps), got {max_delay!r}")
    return max_delay


class _DelayBase(Stateful):
    """Shared parameters, schedule hooks, state handling and checks of the delay layers."""

    def __init__(self, in_features: int, out_features: int, max_delay: int, position_shape: tuple[int, ...],
                 bias: bool, sigma_init: Optional[float], sigma_final: float) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: {arg}: expected a positive int, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        self.max_delay = check_max_delay(max_delay, name)
        init = float(max(max_delay // 2, sigma_final)) if sigma_init is None else sigma_init
        self.schedule = SigmaSchedule(init, sigma_final)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.positions = nn.Parameter(torch.empty(position_shape))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("sigma", torch.tensor(self.schedule.sigma_init))
        self.reset_parameters()

    @property
    def shape(self) -> tuple[int]:
        """The input feature shape ``(in,)`` (how :func:`snn.lower` infers a model's input)."""
        return (self.in_features,)

    @property
    def limit(self) -> int:
        """Positions lie in ``[-limit, limit]``, ``limit = K // 2``."""
        return self.max_delay // 2

    def reset_parameters(self) -> None:
        """Weights and bias uniform in ``+-1/sqrt(in)`` (as ``nn.Linear``), positions uniform over the whole range,
        sigma back to its initial value."""
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        nn.init.uniform_(self.positions, -self.limit, self.limit)
        self.sigma.fill_(self.schedule.sigma_init)

    # --- trainer hooks (snn.train.Trainer calls them on every module that has them) ---------------------------------

    def after_optimizer_step(self) -> None:
        """Clamps positions into ``[-(K//2), K//2]``."""
        with torch.no_grad():
            self.positions.clamp_(-self.limit, self.limit)

    def epoch_end(self, epoch: int, num_epochs: int) -> None:
        """Sets sigma for the next epoch from :attr:`schedule` (``epoch`` finished epochs, from 1)."""
        self.sigma.fill_(self.schedule(epoch, num_epochs))

    def delays(self) -> torch.Tensor:
        """Integer delays ``K//2 - round(P)`` (steps), of the positions' shape."""
        return D.integer_delays(self.positions, self.max_delay)

    # --- state and checks -------------------------------------------------------------------------------------------

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> DelayState:
        return DelayState(torch.zeros(self.max_delay - 1, batch_size, self.in_features, device=device, dtype=dtype))

    def _with_history(self, x: torch.Tensor, state: Optional[DelayState]) -> torch.Tensor:
        name = type(self).__name__
        if state is None:
            state = self.initial_state(x.shape[-2], x.device, x.dtype)
        expected = (self.max_delay - 1, x.shape[-2], self.in_features)
        if not isinstance(state, DelayState) or tuple(state.history.shape) != expected:
            got = tuple(state.history.shape) if isinstance(state, DelayState) else type(state).__name__
            raise ValueError(f"{name}: state: expected DelayState with history of shape {expected}, got {got}")
        return torch.cat([state.history.to(x.dtype), x if x.dim() == 3 else x.unsqueeze(0)])

    def _next_state(self, full: torch.Tensor) -> DelayState:
        return DelayState(full[full.shape[0] - (self.max_delay - 1):])

    def forward(self, x: torch.Tensor, state: Optional[DelayState] = None) -> tuple[torch.Tensor, DelayState]:
        """``x`` ``(T, B, in)`` -> ``(T, B, out)``; Gaussian kernel in training mode, integer delays in eval."""
        _checks.input_tensor(x, (self.in_features,), leading=2, where=type(self).__name__)
        full = self._with_history(x, state)
        run = self._train_forward if self.training else self._integer_forward
        return run(full), self._next_state(full)

    def step(self, x: torch.Tensor, state: Optional[DelayState] = None) -> tuple[torch.Tensor, DelayState]:
        """One step ``(B, in)`` -> ``(B, out)``; same numbers as :meth:`forward` step by step."""
        _checks.input_tensor(x, (self.in_features,), leading=1, where=type(self).__name__)
        full = self._with_history(x, state)
        run = self._train_forward if self.training else self._integer_forward
        return run(full)[0], self._next_state(full)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        p = state_dict.get(prefix + "positions")
        if isinstance(p, torch.Tensor) and p.numel() and bool((p.abs() > self.limit + 1e-6).any()):
            raise ValueError(f"{type(self).__name__}: positions: loaded values must lie in [-{self.limit}, "
                             f"{self.limit}] for max_delay={self.max_delay}, got range [{p.min().item():g}, "
                             f"{p.max().item():g}]")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay} (steps), "
                f"sigma={self.sigma.item():.3g}, bias={self.bias is not None}")


class DelayedLinear(_DelayBase):
    """Dense synapses with one learnable weight and one learnable delay per synapse.

    Args:
        in_features, out_features: layer sizes.
        max_delay: ``K``, odd number of taps; delays range over ``0 .. K-1`` steps of ``dt``.
        bias: add a learnable bias (the paper uses none).
        sigma_init: initial Gaussian width (steps); default ``K // 2`` as the paper. sigma is not trained.
        sigma_final: width reached after a quarter of the epochs (steps, default 0.23).

    Parameters: ``weight`` ``(out, in)``, ``positions`` ``(out, in)`` (steps, delay = ``K//2 - P``), ``bias``.
    ``forward(x (T, B, in), state=None) -> (y (T, B, out), state)``; ``step(x (B, in), state) -> (y (B, out), state)``.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = 25, *, bias: bool = False,
                 sigma_init: Optional[float] = None, sigma_final: float = 0.23) -> None:
        super().__init__(in_features, out_features, max_delay, (out_features, in_features), bias, sigma_init,
                         sigma_final)

    def kernel(self) -> torch.Tensor:
        """The ``(out, in, K)`` Gaussian kernel at the current sigma."""
        return D.gaussian_kernel(self.weight, self.positions, self.sigma, self.max_delay)

    def _train_forward(self, full: torch.Tensor) -> torch.Tensor:
        return gaussian_delay_auto(full, self.weight, self.positions, self.sigma, self.max_delay, self.bias)

    def _integer_forward(self, full: torch.Tensor) -> torch.Tensor:
        return integer_delay_linear(full, self.weight, self.delays(), self.bias, history=self.max_delay - 1)


class AxonalDelayedLinear(_DelayBase):
    """Dense synapses whose delays are per input channel (axonal): ``y_i[t] = sum_j W_ij x_j[t - d_j] + b_i``.

    Same arguments as :class:`DelayedLinear`; ``positions`` has shape ``(in,)``. Training delays every channel with
    its own Gaussian (a depthwise convolution) and then applies the weights; evaluation shifts each channel by its
    integer delay, so inference costs one dense matmul.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = 25, *, bias: bool = False,
                 sigma_init: Optional[float] = None, sigma_final: float = 0.23) -> None:
        super().__init__(in_features, out_features, max_delay, (in_features,), bias, sigma_init, sigma_final)

    def kernel(self) -> torch.Tensor:
        """The ``(in, 1, K)`` per-channel Gaussian kernel (unit weight) at the current sigma."""
        ones = torch.ones_like(self.positions)
        return D.gaussian_kernel(ones, self.positions, self.sigma, self.max_delay).unsqueeze(1)

    def _train_forward(self, full: torch.Tensor) -> torch.Tensor:
        delayed = D.delay_conv(full, self.kernel(), groups=self.in_features)
        return nn.functional.linear(delayed, self.weight, self.bias)

    def _integer_forward(self, full: torch.Tensor) -> torch.Tensor:
        delayed = D.shift_channels(full, self.delays(), history=self.max_delay - 1)
        return nn.functional.linear(delayed, self.weight, self.bias)
