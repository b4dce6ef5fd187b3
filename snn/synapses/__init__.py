"""Synapses applied to whole sequences ``(T, B, ...)`` or single steps ``(B, ...)``."""

from .conv import Conv2d
from .delay import AxonalDelayedLinear, DelayedLinear, SigmaSchedule
from .linear import Flatten, Linear

__all__ = ["Linear", "Conv2d", "Flatten", "DelayedLinear", "AxonalDelayedLinear", "SigmaSchedule"]
