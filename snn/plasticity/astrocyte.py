"""The NALSM astrocyte (Ivanov & Michmizos 2021; SPEC §2): one global variable ``A`` that sets the STDP depression
rate from the balance of liquid and input activity, per step::

    A <- A + (w_A (sum of liquid spikes - sum of input spikes) + 0.15 - A) / 100

More liquid than input activity raises ``A`` (more depression of excitatory synapses), less lowers it; NALSM uses
``w_A = 0.015`` for 1000 neurons and 0.0075 for 8000.
"""

from __future__ import annotations

import torch

BASELINE = 0.15
TAU_STEPS = 100.0


def astrocyte_step(a: torch.Tensor, liquid_spikes: torch.Tensor, input_spikes: torch.Tensor, w_a: float
                   ) -> torch.Tensor:
    """The new ``A`` ``(B,)`` from the step's liquid ``(B, n)`` and input ``(B, n_in)`` spikes."""
    drive = w_a * (liquid_spikes.sum(-1) - input_spikes.sum(-1))
    return a + (drive + BASELINE - a) / TAU_STEPS
