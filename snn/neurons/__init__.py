"""Neuron models: pure step functions on explicit state, and thin ``nn.Module`` wrappers."""

from .base import Stateful
from .adaptive import AdLIF, AdLIFState, adlif_sequence, adlif_step
from .astro import AstroLIF, AstroLIFDynamics, AstroLIFState, astro_lif_sequence, astro_lif_step
from .elm import ELM, BranchELM, ELMState, elm_sequence, elm_step
from .lif import IF, LI, LIF, CubaLIF, LIFDynamics, LIFState, LIState, li_sequence, li_step, lif_sequence, lif_step

__all__ = ["Stateful", "LIF", "CubaLIF", "LI", "LIFState", "LIState", "LIFDynamics",
           "lif_step", "lif_sequence", "li_step", "li_sequence",
           "IF", "AdLIF", "AdLIFState", "adlif_step", "adlif_sequence",
           "ELM", "BranchELM", "ELMState", "elm_step", "elm_sequence",
           "AstroLIF", "AstroLIFState", "AstroLIFDynamics", "astro_lif_step", "astro_lif_sequence"]
