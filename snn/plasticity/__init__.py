"""Learning rules that are not backpropagation: trace STDP and the NALSM astrocyte that sets its depression rate."""

from .astrocyte import astrocyte_step
from .stdp import stdp_update, trace_step

__all__ = ["trace_step", "stdp_update", "astrocyte_step"]
