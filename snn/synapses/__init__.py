"""Synapses applied to whole sequences ``(T, B, ...)`` or single steps ``(B, ...)``."""

from .conv import Conv2d
from .delay import AxonalDelayedLinear, DelayedLinear, SigmaSchedule
from .linear import Flatten, Linear
from .pool import AvgPool2d, SumPool2d

__all__ = ["Linear", "Conv2d", "Flatten", "DelayedLinear", "AxonalDelayedLinear", "SigmaSchedule", "SumPool2d", "AvgPool2d"]
