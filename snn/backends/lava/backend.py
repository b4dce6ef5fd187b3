"""The callables the three registered backends build: IR graph -> float tensors in, float tensors out."""

from __future__ import annotations

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
    float units. ``model.last_seconds``: wall time of the last call.
    """

    def __init__(self, net: LavaNet, engine: str, device: str | torch.device = "cpu"):
        self.net, self.engine, self.device = net, engine, torch.device(device)
        self.last_seconds = 0.0

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The backend's own output values (integers for fixed point)."""
        if self.engine == "intsim":
            return intsim.simulate(self.net, x, device=self.device).output
        res = runtime.run(self.net, x.detach().cpu().numpy())
        self.last_seconds = res.seconds
        return torch.as_tensor(res.output)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.raw(x).to(torch.float32)
        if self.net.graded_output and self.net.precision == "fixed_pt":
            out = out / self.net.out_scale
        return out.to(x.device)
