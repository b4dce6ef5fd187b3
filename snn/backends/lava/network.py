"""The Lava-side network description shared by lowering, quantisation, the runtime, the integer simulator and netx.

A :class:`LavaNet` is a chain of :class:`Layer` s, each one synapse stage (``Dense`` or ``DelayDense``) feeding one
neuron process, optionally with a recurrent ``Dense`` from the neuron's spikes back to its input. Parameters are in
Lava's own units: float Lava vars for ``precision="floating_pt"``, Loihi integers for ``"fixed_pt"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

PRECISIONS = ("floating_pt", "fixed_pt")


@dataclass
class Synapse:
    """``a = weight @ s`` (``weight`` (out, in)); ``delay`` (out, in) integer steps or None (plain ``Dense``).

    Fixed point: ``weight`` are 8-bit mantissas and ``a`` is shifted by ``weight_exp`` (``<<`` if > 0, else ``>>``).
    ``graded``: the input carries numbers (``num_message_bits=24``), not spikes. ``source``: the IR node(s) the
    weights come from (``"conv1+fc1"``, ``"lif1.recurrent_weight"``), for messages.
    """

    weight: np.ndarray
    delay: Optional[np.ndarray] = None
    weight_exp: int = 0
    graded: bool = False
    source: str = ""

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay is not None and self.delay.size else 0


@dataclass
class Neuron:
    """Lava neuron parameters for ``n`` neurons of kind ``kind`` (a key of ``lowering.NEURON_KINDS``).

    ``du``, ``dv``: current and voltage decay (float: fraction lost per step; fixed: 12-bit, decay
    ``(4096 - du - 1) / 4096`` and ``(4096 - dv) / 4096``); ``vth``: threshold (fixed: compared to ``v`` after
    ``<< 6``); ``bias_mant`` (n,), ``bias_exp``: bias added to ``v`` each step (fixed: ``bias_mant << bias_exp``);
    ``extra``: kind-specific parameters.
    """

    kind: str
    n: int
    du: float
    dv: float
    vth: float
    bias_mant: np.ndarray
    bias_exp: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Layer:
    """One synapse stage plus its neurons; ``name``: the IR neuron node this layer comes from."""

    name: str
    synapse: Synapse
    neuron: Neuron
    recurrent: Optional[Synapse] = None


@dataclass
class LavaNet:
    """A chain of layers. ``input_shape``: the IR graph's input feature shape (flattened for Lava);
    ``output_shape``: the graph's output feature shape; ``out_scale``: a graded (readout) output in float units is
    the Lava value divided by ``out_scale`` (1 for floating point); ``dt`` in ms."""

    layers: list[Layer]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    precision: str
    dt: float
    out_scale: float = 1.0

    @property
    def n_in(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def latency(self) -> int:
        """Steps Lava's output lags the torch backend: one per synapse stage (a ``Dense`` sends next step)."""
        return len(self.layers)

    @property
    def graded_output(self) -> bool:
        from .lowering import NEURON_KINDS

        return not NEURON_KINDS[self.layers[-1].neuron.kind].spiking
