"""The callables the three registered backends build: IR graph -> float tensors in, float tensors out."""

from __future__ import annotations

import warnings

import torch

from ... import ir
from . import intsim, runtime
from .lowering import lower
from .network import LavaNet
from .quantize import QuantConfig, quantize


def prepare(graph: ir.Graph, precision: str, quant: QuantConfig | None = None) -> LavaNet:
    """Lowers (and for ``fixed_pt`` quantises) ``graph``; errors name the layer that does not fit."""
    net = lower(graph)
    return quantize(net, quant) if precision == "fixed_pt" else net


class LavaModel:
    """Runs a :class:`LavaNet` on Lava (``runtime``) or on the integer simulator (``intsim``).

    ``model(x)``: ``x`` (T, B, *in) tensor -> (T, B, *out) float tensor aligned with the torch backend. Spikes are
    0/1; a graded (LI readout) output is the membrane, for integer networks divided by ``net.out_scale`` back to
    float units. ``model.last_seconds``: wall time of the last call. ``model.overflow``: for fixed point, the
    per-layer :class:`.intsim.Overflow` counts summed over the calls since the last :meth:`warn_overflow` (counted
    by the integer simulator, which is bit-exact with Lava: a ``lava-fixed`` call runs it beside Lava to count).
    """

    def __init__(self, net: LavaNet, engine: str, device: str | torch.device = "cpu"):
        self.net, self.engine = net, engine
        self.device = intsim.check_device(device) if engine == "intsim" else torch.device(device)
        self.last_seconds = 0.0
        self.overflow: dict[str, intsim.Overflow] = {}

    def _count(self, x: torch.Tensor) -> torch.Tensor:
        res = intsim.simulate(self.net, x, device=self.device)
        for name, c in res.overflow.items():
            self.overflow[name] = self.overflow.get(name, intsim.Overflow()) + c
        return res.output

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The backend's own output values (integers for fixed point)."""
        if self.engine == "intsim":
            return self._count(x)
        res = runtime.run(self.net, x.detach().cpu().numpy())
        self.last_seconds = res.seconds
        if self.net.precision == "fixed_pt":
            self._count(x)
        return torch.as_tensor(res.output)

    @property
    def backend(self) -> str:
        """The registered backend name this model runs as."""
        return "loihi" if self.engine == "intsim" else ("lava-fixed" if self.net.precision == "fixed_pt" else "lava")

    def warn_overflow(self) -> dict[str, intsim.Overflow]:
        """Issues an :class:`.intsim.IntegerOverflowWarning` naming every layer that wrapped or saturated since the
        last call, and returns those counts (then starts counting afresh)."""
        counts, self.overflow = self.overflow, {}
        msg = intsim.overflow_message(counts, self.backend)
        if msg:
            warnings.warn(msg, intsim.IntegerOverflowWarning, stacklevel=2)
        return counts

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.raw(x).to(torch.float32)
        if self.net.graded_output and self.net.precision == "fixed_pt":
            out = out / self.net.out_scale
        return out.to(x.device)
