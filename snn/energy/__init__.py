"""Energy profiling: hardware-independent counts (:mod:`.counting`), energy targets with provenance
(:mod:`.targets`), measurements (:mod:`.measure`), a model run over a dataset (:mod:`.profile`, torch or the loihi
integer simulator) and the report (:mod:`.report`; the command ``snn profile`` in :mod:`.cli`)."""

from .counting import Counts, LayerCounts, count, register_counter
from .targets import Target, TargetError, builtin, estimate, load_yaml

__all__ = ["Counts", "LayerCounts", "count", "register_counter", "Target", "TargetError", "builtin", "estimate",
           "load_yaml"]
