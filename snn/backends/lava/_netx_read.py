"""Reads a netx export (see :mod:`.netx`): checks ``manifest.json`` field by field and against its SHA-256, then
``network.net`` against its SHA-256 (before HDF5 parses a byte), then every HDF5 group, dataset and value, then the
manifest's layer summary against the file. Every failure is a :class:`NetxFormatError` naming the file and field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np

from .intsim import effective_weights
from .lowering import MAX_DELAY
from .netx import (_EXT_KINDS, _MAX_ELEMENTS, FORMAT, FORMAT_EXT, GRADED_INPUT_BITS, LEGACY_FORMAT, MANIFEST,
                   NET_FILE, NETX_MAX_DELAY, NEVER_FIRES, NetxFormatError, _content_hash, _sha256)
from .network import LavaNet, Layer, Neuron, Synapse
from .quantize import BIAS_EXP, VTH_RANGE, validate


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS = {  # name -> (test, what is expected)
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "positive": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
                 "a finite number > 0"),
    "shape": (lambda v: isinstance(v, list) and 0 < len(v) <= 8 and all(_is_int(d) and d > 0 for d in v),
              "a list of 1 to 8 positive integers"),
    "list": (lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
}
_MANIFEST = {"format": "str", "note": "str", "spikeforge": "str", "source": "str", "precision": "str",
             "dt_ms": "positive", "input_shape": "shape", "output_shape": "shape", "input_message_bits": "int",
             "out_scale": "positive", "latency_steps": "int", "bias_exp": "int", "layers": "list", "sha256": "dict"}
_LAYER = {"name": "str", "kind": "str", "neuron": "str", "in": "int", "out": "int", "max_delay": "int",
          "recurrent": "bool"}
_NEW_ONLY = {"note", "input_message_bits", "sha256", "kind"}  # absent from LEGACY_FORMAT manifests


def _fields(obj, spec: dict, where: str, err, legacy: bool) -> dict:
    if not isinstance(obj, dict):
        raise err(where.rstrip(".") or "top level", f"expected an object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(spec))
    if unknown:
        raise err(f"{where}{unknown[0]}", f"unknown field; expected only {sorted(spec)}")
    for key, check in spec.items():
        if key not in obj:
            if legacy and key in _NEW_ONLY:
                continue
            raise err(f"{where}{key}", "missing")
        test, expected = _CHECKS[check]
        if not test(obj[key]):
            raise err(f"{where}{key}", f"expected {expected}, got {json.dumps(obj[key])[:80]}")
    return obj


def _load_manifest(path: Path) -> dict:
    def err(field, msg):
        return NetxFormatError(f"netx reader: {path}: {field}: {msg}")

    try:
        text = path.read_bytes().decode("utf-8")
        m = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise NetxFormatError(f"netx reader: {path}: expected the export's JSON manifest ({MANIFEST} beside "
                              f"{NET_FILE}): {e}") from None
    if not isinstance(m, dict):
        raise err("top level", f"expected an object, got {type(m).__name__}")
    fmt = m.get("format")
    if fmt not in (FORMAT, FORMAT_EXT, LEGACY_FORMAT):
        raise err("format", f"expected one of {[FORMAT, FORMAT_EXT, LEGACY_FORMAT]}, got {json.dumps(fmt)[:80]}")
    legacy = fmt == LEGACY_FORMAT
    if not legacy:
        sha = m.get("sha256")
        if not isinstance(sha, dict) or sorted(sha) != sorted((NET_FILE, MANIFEST)) or \
                not all(isinstance(v, str) for v in sha.values()):
            raise err("sha256", f"expected {{{NET_FILE!r}: hex, {MANIFEST!r}: hex}}, got {json.dumps(sha)[:120]}")
        if _content_hash(m) != sha[MANIFEST]:
            raise err("sha256", "the manifest's content does not match its SHA-256: edited or corrupted after export")
    _fields(m, _MANIFEST, "", err, legacy)
    for i, layer in enumerate(m["layers"], start=1):
        _fields(layer, _LAYER, f"layers[{i - 1}].", err, legacy)
    checks = [("precision", m["precision"] == "fixed_pt", "'fixed_pt'"),
              ("bias_exp", m["bias_exp"] == BIAS_EXP, str(BIAS_EXP)),
              ("input_message_bits", 0 <= m.get("input_message_bits", 0) <= GRADED_INPUT_BITS,
               f"0..{GRADED_INPUT_BITS}"),
              ("latency_steps", m["latency_steps"] == len(m["layers"]), f"the number of layers, {len(m['layers'])}")]
    for field, ok, expected in checks:
        if not ok:
            raise err(field, f"expected {expected}, got {json.dumps(m[field])}")
    names = [la["name"] for la in m["layers"]]
    if len(set(names)) != len(names):
        raise err("layers", f"expected distinct layer names, got {names}")
    return m


class _H5:
    """Typed access to one HDF5 file; ``at`` is the field being read (for the error of a failing h5py call)."""

    def __init__(self, path: Path):
        self.path, self.at = path, "/"

    def err(self, field: str, msg: str) -> NetxFormatError:
        return NetxFormatError(f"netx reader: {self.path}: {field}: {msg}")

    def group(self, parent, key: str, field: str, required: set, optional: set | None) -> h5py.Group:
        self.at = field
        if key not in parent:
            raise self.err(field, "missing group")
        g = parent[key]
        if not isinstance(g, h5py.Group):
            raise self.err(field, "expected a group, got a dataset")
        missing = sorted(required - set(g))
        if missing:
            raise self.err(f"{field}/{missing[0]}", "missing")
        unknown = [] if optional is None else sorted(set(g) - required - optional)
        if unknown:
            raise self.err(f"{field}/{unknown[0]}", f"unknown field; expected only {sorted(required | optional)}")
        return g

    def dataset(self, g: h5py.Group, key: str, field: str, shape: tuple | None) -> np.ndarray:
        self.at = field = f"{field}/{key}"
        d = g[key]
        if not isinstance(d, h5py.Dataset):
            raise self.err(field, "expected a dataset, got a group")
        if shape is not None and tuple(d.shape) != shape:
            raise self.err(field, f"expected shape {shape}, got {tuple(d.shape)}")
        if d.size > _MAX_ELEMENTS:
            raise self.err(field, f"expected at most {_MAX_ELEMENTS} elements, got {d.size}")
        return d[()]

    def string(self, g, key: str, field: str, allowed) -> str:
        v = self.dataset(g, key, field, None)
        v = v.decode("ascii", "replace") if isinstance(v, bytes) else v
        if not isinstance(v, str) or v not in allowed:
            raise self.err(f"{field}/{key}", f"expected one of {sorted(allowed)}, got {str(v)[:60]!r}")
        return v

    def ints(self, g, key: str, field: str, shape: tuple | None, lo: int, hi: int) -> np.ndarray:
        v = np.asarray(self.dataset(g, key, field, shape))
        if v.dtype.kind not in "iubf" or (v.dtype.kind == "f" and not np.all(np.isfinite(v) & (v == np.round(v)))):
            raise self.err(f"{field}/{key}", f"expected integers, got dtype {v.dtype} {str(v.ravel()[:4])}")
        if v.size and (v.min() < lo or v.max() > hi):
            raise self.err(f"{field}/{key}", f"expected values in {lo}..{hi}, got {v.min()}..{v.max()}")
        return v.astype(np.int64)

    def scalar(self, g, key: str, field: str, lo: int, hi: int) -> int:
        return int(self.ints(g, key, field, (), lo, hi))

    def size(self, g, field: str) -> int:
        """The product of ``shape`` (1 to 3 positive sizes)."""
        shape = self.ints(g, "shape", field, None, 1, _MAX_ELEMENTS)
        n = math.prod(int(s) for s in shape.ravel())
        if shape.ndim != 1 or not 1 <= shape.size <= 3 or n > _MAX_ELEMENTS:
            raise self.err(f"{field}/shape", f"expected 1 to 3 positive sizes, at most {_MAX_ELEMENTS} in all, "
                                             f"got {shape.tolist()}")
        return n


def _from_netx(w: np.ndarray, h: _H5, field: str) -> tuple[np.ndarray, int]:
    """Weights netx adds at exponent 0 as spikeforge's (8-bit Lava mantissa, exponent) pair that adds the same."""
    for k in (0, 1):
        if np.array_equal(effective_weights(w << k), w << k):
            return w << k, -k
    raise h.err(field, f"weights {w.min()}..{w.max()}: expected integers Lava's 8-bit Dense adds exactly "
                       f"(mixed signs: -256..254 even, or -128..127)")


def _layer(f, i: int, n_in: int, ext: bool, graded: bool, last: bool, h: _H5) -> tuple[Layer, str]:
    field = f"layer/{i}"
    g = h.group(f["layer"], str(i), field, {"type"}, None)  # the type decides the other fields
    kind_t = h.string(g, "type", field, {"dense"} if ext else {"dense", "dense_rec"})
    rec_key = "recurrentWeight" if ext else "weight_rec"
    optional = {"inFeatures", "outFeatures", "bias", "delay"} | ({"weightExp", rec_key} if ext else set())
    h.group(f["layer"], str(i), field, {"type", "shape", "weight", "neuron"} | (
        {rec_key} if kind_t == "dense_rec" else set()), optional)
    n = h.size(g, field)
    for key, expected in (("inFeatures", n_in), ("outFeatures", n)):
        if key in g:
            h.scalar(g, key, field, expected, expected)
    w = h.ints(g, "weight", field, (n, n_in), -2 ** 31, 2 ** 31 - 1)
    bias = h.ints(g, "bias", field, (n,), -2 ** 31, 2 ** 31 - 1) if "bias" in g else np.zeros(n, dtype=np.int64)
    delay = h.ints(g, "delay", field, (n, n_in), 0, MAX_DELAY if ext else NETX_MAX_DELAY) if "delay" in g else None
    w_rec = h.ints(g, rec_key, field, (n, n), -2 ** 31, 2 ** 31 - 1) if rec_key in g else None
    if ext:
        e = h.scalar(g, "weightExp", field, -2 ** 31, 2 ** 31 - 1) if "weightExp" in g else 0
        syn = Synapse(w, delay, e, graded)
        rec = None if w_rec is None else Synapse(w_rec, None, e)
    else:
        w, e = _from_netx(w, h, f"{field}/weight")
        syn = Synapse(w, delay, e, graded)
        if w_rec is not None:
            w_rec, e_rec = _from_netx(w_rec, h, f"{field}/{rec_key}")
        rec = None if w_rec is None else Synapse(w_rec, None, e_rec)
    nf = f"{field}/neuron"
    ng = h.group(g, "neuron", nf, {"type", "iDecay", "vDecay", "vThMant"}, {"refDelay", "gradedSpike"})
    ntype = h.string(ng, "type", nf, set(_EXT_KINDS) if ext else {"CUBA"})
    du = h.scalar(ng, "iDecay", nf, 1, 4096) - 1
    dv = h.scalar(ng, "vDecay", nf, 0, 4095)
    vth = h.scalar(ng, "vThMant", nf, 0, NEVER_FIRES)
    for key, hi in (("refDelay", 2 ** 31 - 1), ("gradedSpike", 1)):  # netx and Lava's LIF ignore both
        if key in ng:
            h.scalar(ng, key, nf, 0, hi)
    if ext:
        kind = _EXT_KINDS[ntype]
    elif vth == NEVER_FIRES:  # lava-dl's non-spiking integrator: spikeforge's readout
        if not last:
            raise h.err(f"{nf}/vThMant", f"{NEVER_FIRES} (a readout that never fires) is only valid on the last "
                                         f"layer; expected at most {VTH_RANGE[1]}")
        kind, vth = "readout", 0
    else:
        kind = "lif"
    return Layer("", syn, Neuron(kind, n, du, dv, vth, bias, BIAS_EXP), rec), ntype


def _read_h5(path: Path, m: dict, ext: bool) -> tuple[list[Layer], list[str], int]:
    h = _H5(path)
    try:
        with h5py.File(path, "r") as f:
            if set(f) != {"layer"} or not isinstance(f["layer"], h5py.Group):
                raise h.err("/", f"expected exactly the group 'layer', got {sorted(f)}")
            keys = sorted(f["layer"])
            if keys != sorted(str(i) for i in range(len(keys))) or len(keys) < 2:
                raise h.err("layer", f"expected groups 0..N (N >= 1), got {keys[:10]}")
            g0 = h.group(f["layer"], "0", "layer/0", {"type", "shape"}, set())
            h.string(g0, "type", "layer/0", {"input"})
            n_in = prev = h.size(g0, "layer/0")
            graded = m.get("input_message_bits", GRADED_INPUT_BITS) > 0
            layers, types = [], []
            for i in range(1, len(keys)):
                layer, ntype = _layer(f, i, prev, ext, graded and i == 1, i == len(keys) - 1, h)
                layers.append(layer)
                types.append(ntype)
                prev = layer.neuron.n
    except NetxFormatError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
        raise h.err(h.at, f"cannot be read as netx HDF5: {type(e).__name__}: {e}") from None
    return layers, types, n_in


def _cross_check(m: dict, layers: list[Layer], types: list[str], n_in: int, net_file: Path, man: Path) -> None:
    def err(field, msg):
        return NetxFormatError(f"netx reader: {man}: {field}: {msg} ({net_file.name})")

    if len(m["layers"]) != len(layers):
        raise err("layers", f"lists {len(m['layers'])} layers; {net_file.name} has {len(layers)}")
    if math.prod(m["input_shape"]) != n_in:
        raise err("input_shape", f"{m['input_shape']} ({math.prod(m['input_shape'])} inputs); layer/0 has {n_in}")
    n_out = layers[-1].neuron.n
    if math.prod(m["output_shape"]) != n_out:
        raise err("output_shape", f"{m['output_shape']} ({math.prod(m['output_shape'])} outputs); the last layer "
                                  f"has {n_out}")
    for i, (entry, layer, ntype) in enumerate(zip(m["layers"], layers, types)):
        found = {"kind": layer.neuron.kind, "neuron": ntype, "in": int(layer.synapse.weight.shape[1]),
                 "out": layer.neuron.n, "max_delay": layer.synapse.max_delay, "recurrent": layer.recurrent is not None}
        for key, value in found.items():
            if key in entry and entry[key] != value:
                raise err(f"layers[{i}].{key}", f"{json.dumps(entry[key])}; layer/{i + 1} has {json.dumps(value)}")
        layer.name = entry["name"]


def read_export(net_file: Path, manifest_file: Path) -> LavaNet:
    m = _load_manifest(manifest_file)
    if m["format"] != LEGACY_FORMAT:
        try:
            digest = _sha256(net_file)
        except OSError as e:
            raise NetxFormatError(f"netx reader: {net_file}: cannot be read: {e}") from None
        if digest != m["sha256"][NET_FILE]:
            raise NetxFormatError(f"netx reader: {net_file}: does not match the SHA-256 in {manifest_file}: "
                                  f"changed or corrupted after export")
    layers, types, n_in = _read_h5(net_file, m, m["format"] != FORMAT)
    _cross_check(m, layers, types, n_in, net_file, manifest_file)
    net = LavaNet(layers, tuple(m["input_shape"]), tuple(m["output_shape"]), "fixed_pt", float(m["dt_ms"]),
                  float(m["out_scale"]))
    try:
        validate(net)
    except ValueError as e:
        raise NetxFormatError(f"netx reader: {net_file}: {e}") from None
    return net
