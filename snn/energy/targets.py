"""Energy targets: published per-operation constants (SPEC §7) turned into an *estimated* energy per inference.

A target is a linear model ``E = sum_k count_k * constant_k`` over the counts of :mod:`snn.energy.counting`, with
its constants (pJ), formula, source and caveats. A constant is a number, a ``[low, high]`` range (sources disagree,
or the value depends on what the model leaves open, e.g. the SRAM size), or a published minimum (``minimum: true``:
the estimate is a lower bound). Users add targets in YAML with the same fields as :data:`BUILTIN`::

    name: my-chip
    description: my accelerator at 22 nm
    source: datasheet v1, table 3
    caveats: [static power not included]
    memory_modelled: false
    constants: {synop: 5.0, update: [1.0, 2.0]}     # pJ
    terms: {effective_ops: synop, membrane_updates: update}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .counting import Counts, LayerCounts

# The counts a term can price, per layer (totals; divided by the number of samples for per-inference energy).
COUNT_KEYS = {
    "dense": lambda c: c.dense,
    "effective_macs": lambda c: c.macs,
    "effective_acs": lambda c: c.acs,
    "effective_ops": lambda c: c.macs + c.acs,
    "spikes": lambda c: float(c.spikes_per_step.sum()) if c.spikes_per_step is not None else 0.0,
    "membrane_updates": lambda c: c.updates,
    "active_updates": lambda c: c.active_updates,
    "idle_updates": lambda c: c.updates - c.active_updates,
    "state_updates": lambda c: c.state_updates,
}


class TargetError(ValueError):
    """A target definition is invalid; the message names the file and field."""


@dataclass
class Target:
    """One energy model. ``constants``: name -> (low, high) in pJ (equal for a single value); ``terms``: count key ->
    constant name; ``minimum``: the constants are published minimums (the estimate is a lower bound)."""

    name: str
    description: str
    source: str
    terms: dict[str, str]
    constants: dict[str, tuple[float, float]]
    caveats: list[str] = field(default_factory=list)
    memory_modelled: bool = False
    minimum: bool = False
    baseline: bool = False

    @property
    def formula(self) -> str:
        return "E = " + " + ".join(f"{k} x {c}" for k, c in self.terms.items())

    def layer_energy(self, c: LayerCounts) -> tuple[float, float]:
        """(low, high) energy in joules of layer ``c``'s totals."""
        lo = sum(COUNT_KEYS[k](c) * self.constants[n][0] for k, n in self.terms.items())
        hi = sum(COUNT_KEYS[k](c) * self.constants[n][1] for k, n in self.terms.items())
        return lo * 1e-12, hi * 1e-12


def _where(source: str, name: str) -> str:
    return f"{source}: target {name!r}" if name else source


def parse(spec: dict, source: str = "target") -> Target:
    """A :class:`Target` from a dict (as read from YAML); :class:`TargetError` names ``source`` and the field."""
    if not isinstance(spec, dict):
        raise TargetError(f"{source}: expected a mapping with name, description, source, constants, terms; got "
                          f"{type(spec).__name__}")
    name = spec.get("name")
    where = _where(source, name if isinstance(name, str) else "")
    for key in ("name", "description", "source"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise TargetError(f"{where}: {key}: expected a non-empty string, got {spec.get(key)!r}")
    known = {"name", "description", "source", "constants", "terms", "caveats", "memory_modelled", "minimum",
             "baseline"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise TargetError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    constants = spec.get("constants")
    if not isinstance(constants, dict) or not constants:
        raise TargetError(f"{where}: constants: expected a mapping of name -> pJ (a number or [low, high]), got "
                          f"{constants!r}")
    parsed = {}
    for cname, value in constants.items():
        pair = value if isinstance(value, (list, tuple)) else [value, value]
        ok = len(pair) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                    and v >= 0 for v in pair)
        if not ok or pair[0] > pair[1]:
            raise TargetError(f"{where}: constants.{cname}: expected a number >= 0 (pJ) or [low, high] with "
                              f"0 <= low <= high, got {value!r}")
        parsed[str(cname)] = (float(pair[0]), float(pair[1]))
    terms = spec.get("terms")
    if not isinstance(terms, dict) or not terms:
        raise TargetError(f"{where}: terms: expected a mapping of count -> constant name, got {terms!r}")
    for key, cname in terms.items():
        if key not in COUNT_KEYS:
            raise TargetError(f"{where}: terms.{key}: unknown count; expected one of {sorted(COUNT_KEYS)}")
        if cname not in parsed:
            raise TargetError(f"{where}: terms.{key}: constant {cname!r} is not in constants {sorted(parsed)}")
    caveats = spec.get("caveats", [])
    if not isinstance(caveats, list) or not all(isinstance(c, str) for c in caveats):
        raise TargetError(f"{where}: caveats: expected a list of strings, got {caveats!r}")
    flags = {}
    for key in ("memory_modelled", "minimum", "baseline"):
        flags[key] = spec.get(key, False)
        if not isinstance(flags[key], bool):
            raise TargetError(f"{where}: {key}: expected true or false, got {flags[key]!r}")
    return Target(name.strip(), spec["description"], spec["source"], dict(terms), parsed, list(caveats), **flags)


def load_yaml(path: str | Path) -> list[Target]:
    """Targets from a YAML file holding one target mapping or a list of them."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise TargetError(f"{p}: cannot read a target YAML file: {e}") from e
    items = data if isinstance(data, list) else [data]
    return [parse(item, f"{p} (item {i})" if isinstance(data, list) else str(p)) for i, item in enumerate(items)]


HOROWITZ = "Horowitz, ISSCC 2014, 45 nm, 0.9 V"
_NO_MEMORY = "memory access not modelled: weight and state reads can dominate (Dampfhoffer et al. 2023)"
_ANN = ("the equivalent ANN runs the same layers at every time step with every synapse multiplied (Dense); a "
        "static ANN doing one pass needs Dense / T, and a fair baseline is a log2(T+1)-bit quantised ANN "
        "(Yan et al. 2024)")

# SPEC §7 constants, pJ per operation.
BUILTIN: list[dict] = [
    {"name": "ANN FP32", "baseline": True, "description": "equivalent ANN, FP32 MACs on a CPU/GPU-class datapath",
     "source": HOROWITZ, "constants": {"e_mac_fp32": 4.6}, "terms": {"dense": "e_mac_fp32"},
     "caveats": [_ANN, _NO_MEMORY]},
    {"name": "ANN FP16", "baseline": True, "description": "equivalent ANN, FP16 MACs", "source": HOROWITZ,
     "constants": {"e_mac_fp16": 1.5}, "terms": {"dense": "e_mac_fp16"}, "caveats": [_ANN, _NO_MEMORY]},
    {"name": "ANN INT8", "baseline": True, "description": "equivalent ANN, INT8 MACs", "source": HOROWITZ,
     "constants": {"e_mac_int8": 0.23}, "terms": {"dense": "e_mac_int8"}, "caveats": [_ANN, _NO_MEMORY]},
    {"name": "SNN accelerator (AC)", "description": "the SNN on a digital accelerator: FP32 MACs for non-binary "
     "input (the encoding layer), FP32 ACs for spikes", "source": HOROWITZ + "; the common SNN estimate of SPEC §7",
     "constants": {"e_mac_fp32": 4.6, "e_ac_fp32": 0.9},
     "terms": {"effective_macs": "e_mac_fp32", "effective_acs": "e_ac_fp32"},
     "caveats": [_NO_MEMORY, "neuron updates not priced"]},
    {"name": "Loihi 1", "minimum": True, "description": "Intel Loihi 1: synaptic ops, neuron updates (active / idle) "
     "and in-tile spikes", "source": "Davies et al., IEEE Micro 2018 (pre-silicon, 0.75 V)",
     "constants": {"synop": 23.6, "update_active": 81.0, "update_idle": 52.0, "spike_in_tile": 1.7},
     "terms": {"effective_ops": "synop", "active_updates": "update_active", "idle_updates": "update_idle",
               "spikes": "spike_in_tile"},
     "caveats": ["Loihi 1 constants are pre-silicon minimums at 0.75 V: the estimate is a lower bound",
                 "tile hops (3.0 / 4.0 pJ E-W / N-S) not included: they depend on the placement",
                 "non-binary input is priced as synaptic ops: Loihi takes spikes or graded spikes only",
                 "static power and learning (120 pJ per synaptic update) not included"]},
    {"name": "TrueNorth", "description": "IBM TrueNorth: energy per synaptic event",
     "source": "Merolla et al., Science 2014", "constants": {"synaptic_event": 26.0},
     "terms": {"effective_ops": "synaptic_event"},
     "caveats": ["neuron updates, spike routing and static power not priced separately",
                 "TrueNorth has binary weights per axon type: the network would need retraining for it"]},
    {"name": "SpiNNaker 1", "description": "SpiNNaker 1 (ARM cores): energy per synaptic op",
     "source": "SPEC §7 (13.3 nJ per synaptic op)", "constants": {"synop": 13300.0},
     "terms": {"effective_ops": "synop"},
     "caveats": ["published per-synaptic-op energies for SpiNNaker 1 differ between sources and workloads; only "
                 "one is used here", "neuron updates not priced separately"]},
    {"name": "SpiNNaker 2", "description": "SpiNNaker 2 prototype (28 nm): synaptic ops and neuron updates",
     "source": "SPEC §7 (prototype measurements: 450 pJ per synaptic op, 2.19 nJ per neuron update)",
     "constants": {"synop": 450.0, "update": 2190.0},
     "terms": {"effective_ops": "synop", "membrane_updates": "update"},
     "caveats": ["prototype chip figures, not the production chip"]},
    {"name": "SNN + SRAM (Lemaire-style)", "memory_modelled": True,
     "description": "the AC accelerator plus memory: one 32-bit SRAM weight read per synaptic op, a read and a "
     "write of the membrane per neuron update, one 32-bit address read per spike",
     "source": HOROWITZ + " (SRAM 64-bit read 10 / 100 pJ at 8 KB / 1 MB, halved for 32 bits); after Lemaire et "
     "al. 2022", "constants": {"e_mac_fp32": 4.6, "e_ac_fp32": 0.9, "sram_32bit": [5.0, 50.0],
                               "sram_state": [10.0, 100.0]},
     "terms": {"effective_macs": "e_mac_fp32", "effective_acs": "e_ac_fp32", "effective_ops": "sram_32bit",
               "membrane_updates": "sram_state", "spikes": "sram_32bit"},
     "caveats": ["the range spans SRAM sizes from 8 KB to 1 MB: the memory a real chip uses depends on its layout",
                 "simplified from Lemaire et al. 2022: no DRAM (1.3-2.6 nJ per 64-bit access), no routing"]},
]


def builtin() -> list[Target]:
    """The SPEC §7 targets."""
    return [parse(spec, "built-in targets") for spec in BUILTIN]


@dataclass
class Estimate:
    """Energy per inference of one target: ``low`` / ``high`` (J), per layer (J, low) and the target itself."""

    target: Target
    low: float
    high: float
    per_layer: dict[str, float]

    def to_json(self) -> dict:
        t = self.target
        return {"target": t.name, "tag": "estimated", "baseline": t.baseline, "energy_J": self.low,
                "energy_J_range": [self.low, None if t.minimum else self.high], "lower_bound": t.minimum,
                "formula": t.formula, "constants_pJ": {k: list(v) for k, v in t.constants.items()},
                "source": t.source, "description": t.description, "caveats": t.caveats,
                "memory_modelled": t.memory_modelled}


def estimate(target: Target, counts: Counts) -> Estimate:
    """Energy per inference (J) of ``counts`` on ``target``."""
    n = max(counts.samples, 1)
    per = {c.name: target.layer_energy(c) for c in counts.layers}
    return Estimate(target, sum(v[0] for v in per.values()) / n, sum(v[1] for v in per.values()) / n,
                    {k: v[0] / n for k, v in per.items()})
