"""Energy profiling: hardware-independent counts (:mod:`.counting`), energy targets with provenance
(:mod:`.targets`), measurements (:mod:`.measure`) and the report (:mod:`.report`, ``snn profile``)."""

from .counting import Counts, LayerCounts, count, register_counter
from .targets import Target, TargetError, builtin, estimate, load_yaml

__all__ = ["Counts", "LayerCounts", "count", "register_counter", "Target", "TargetError", "builtin", "estimate",
           "load_yaml"]
