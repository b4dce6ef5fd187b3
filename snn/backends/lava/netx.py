"""Export of a fixed-point :class:`LavaNet` in the lava-dl netx HDF5 format (SPEC §4), plus a JSON manifest, and
the reader that loads such an export back into a :class:`LavaNet`.

Default layout of ``network.net``: what lava-dl 0.6.0's ``netx.hdf5.Network`` reads and runs with spikeforge's
meaning (checked against the real lava-dl in ``tests/test_netx_lavadl.py``)::

    layer/0                  type "input", shape [n_in]
    layer/<i>  (i >= 1)      type "dense" (or "dense_rec" with weight_rec (n, n)), shape [n_out], inFeatures,
                             outFeatures, weight (out, in), [delay (out, in) 0..62], bias (n_out,) (bias_exp = 6),
                             neuron/{type "CUBA", iDecay = du + 1, vDecay = dv, vThMant = vth, refDelay, gradedSpike}

netx has no weight exponent (it re-derives one from the integer weights), so the weights are the integers a Dense
adds at exponent 0; a layer that lava-dl would run with other weights is refused. The LI readout is a CUBA neuron
with ``vThMant = 2**17``: lava-dl's own non-spiking integrator, which never fires because Lava clips ``v`` to
``2**23 - 1 < 2**17 << 6``; its graded value is that neuron's ``v`` (the network's out port carries no spikes).
A subtract reset has no netx equivalent and is refused. ``extensions=True`` writes spikeforge's own layout instead
(``weightExp``, ``recurrentWeight``, neuron types ``LI`` and ``CUBA_SUBTRACT``), which only :func:`read` loads.

``manifest.json`` holds what the HDF5 file does not (shapes, ``dt`` in ms, ``out_scale``, latency, provenance), a
per-layer summary :func:`read` cross-checks against the file, and the SHA-256 of ``network.net`` and of the
manifest's own content, so a changed byte is an error, never a silently different network. The directory is
written to a temporary sibling and renamed into place: a crash never leaves a half-written export.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import h5py
import numpy as np

from ... import _io
from .intsim import effective_weights
from .network import LavaNet, Layer
from .quantize import BIAS_EXP, validate

NET_FILE, MANIFEST = "network.net", "manifest.json"
FORMAT = "lava-dl netx hdf5"
FORMAT_EXT = "lava-dl netx hdf5 + spikeforge extensions (readable by spikeforge only)"
LEGACY_FORMAT = "lava-dl netx hdf5 (+ spikeforge fields)"  # spikeforge < issue 15: extension layout, no hashes
NETX_MAX_DELAY = 62  # lava-dl 0.6.0 clamps longer delays (netx/hdf5.py)
NEVER_FIRES = 2 ** 17  # lava-dl's non-spiking integrator threshold: v (<= 2^23 - 1) never exceeds NEVER_FIRES << 6
GRADED_INPUT_BITS = 24
_EXT_TYPES = {"lif": "CUBA", "lif_subtract": "CUBA_SUBTRACT", "readout": "LI"}
_EXT_KINDS = {v: k for k, v in _EXT_TYPES.items()}
_MAX_ELEMENTS = 10 ** 8  # largest dataset the reader loads (a Conv2d unrolls to at most 5e7 synapses)


class NetxFormatError(ValueError):
    """A netx export (``network.net`` or ``manifest.json``) is malformed or the two disagree; names file and field."""


# --- writer --------------------------------------------------------------------------------------------------------

def _netx_mismatch(parts: list[np.ndarray]) -> str | None:
    """Why lava-dl 0.6.0 would not add exactly ``parts @ s`` (integer weights at exponent 0; the feed-forward and
    recurrent matrices, which ``netx.utils.optimize_weight_bits`` scales jointly before Lava's Dense clips and
    truncates each one) or None when it would. netx shifts the weights left by ``b`` bits, uses weight exponent
    ``-b`` and ``8 - b - n`` weight bits (``n``: common trailing zero bits, less one when the signs are mixed)."""
    w = np.concatenate([p.ravel() for p in parts]).astype(np.int64)
    lo, hi = int(w.min()), int(w.max())
    if lo == hi == 0:
        return "every weight is 0 (netx divides by the largest weight)"
    signed = not (hi < 0 or lo >= 0)
    if signed and (hi > 254 or lo < -256):
        return f"mixed-sign weights {lo}..{hi}: netx clips them to -256..254"
    if signed:
        scale = min(127 / hi if hi > 0 else math.inf, -128 / lo)
    else:
        scale = -256 / lo if hi < 0 else 255 / hi
    b = math.floor(math.log2(scale)) + signed
    if b < 0:
        return f"weights {lo}..{hi} exceed the 8-bit range netx scales into (it would shift by {b} bits)"
    zeros = next(k for k in range(8, -1, -1) if not np.any(w % (1 << k)))
    bits = 8 - b - (zeros - signed)
    for p in parts:
        q = p.astype(np.int64) << b
        if not q.any():  # zeros survive any clip and shift
            continue
        mixed = q.min() < 0 < q.max()
        lo_q, hi_q = (-256, 255) if mixed else (0, 255) if q.min() >= 0 else (-255, 0)  # Lava's clip per matrix
        cut = 8 - bits + int(mixed)  # bits Lava truncates
        if cut < 0 or q.min() < lo_q or q.max() > hi_q or np.any(q % (1 << cut)):
            return f"weights {lo}..{hi}: Lava would truncate netx's {bits}-bit weights"
    return None


def _netx_weights(layer: Layer) -> tuple[np.ndarray, np.ndarray | None]:
    """The integer weights (exponent 0) netx must read for ``layer`` to add what spikeforge adds; ValueError if none
    exist (the error names the layer)."""
    out = []
    for label, syn in (("weight", layer.synapse), ("recurrent weight", layer.recurrent)):
        if syn is None:
            out.append(None)
            continue
        w = effective_weights(syn.weight)
        if syn.weight_exp < 0 and np.any(w % (1 << -syn.weight_exp)):
            raise ValueError(f"netx export: layer {layer.name!r}: {label}: exponent {syn.weight_exp} floors each "
                             f"step's sum, which netx (no weight exponent) cannot express; expected a network "
                             f"quantised for netx (QuantConfig(netx=True), the `snn export` default)")
        out.append(w << syn.weight_exp if syn.weight_exp >= 0 else w >> -syn.weight_exp)
    why = _netx_mismatch([w for w in out if w is not None])
    if why:
        raise ValueError(f"netx export: layer {layer.name!r}: {why}; expected a network quantised for netx "
                         f"(QuantConfig(netx=True), the `snn export` default)")
    return out[0], out[1]


def _check_netx(net: LavaNet) -> None:
    for i, layer in enumerate(net.layers, start=1):
        kind, where = layer.neuron.kind, f"netx export: layer {layer.name!r}"
        if kind == "lif_subtract":
            raise ValueError(f"{where}: reset 'subtract' cannot be expressed in lava-dl netx (its CUBA neuron resets "
                             f"v to 0); train with reset 'zero', or export with extensions (spikeforge-only file)")
        if kind not in ("lif", "readout"):
            raise ValueError(f"{where}: neuron kind {kind!r} has no lava-dl netx neuron type (expected lif, readout)")
        if kind == "readout" and i != len(net.layers):
            raise ValueError(f"{where}: a readout must be the last layer (its v is the network's graded output)")
        if layer.synapse.max_delay > NETX_MAX_DELAY:
            raise ValueError(f"{where}: delay {layer.synapse.max_delay} steps: lava-dl netx clamps delays to "
                             f"{NETX_MAX_DELAY}; expected at most {NETX_MAX_DELAY}")
        if layer.recurrent is not None and layer.synapse.delay is not None:
            raise ValueError(f"{where}: a recurrent layer with delays cannot be expressed in lava-dl netx (it gives "
                             f"the recurrent synapse the feed-forward delays and no weight exponent)")


def _write_h5(net: LavaNet, path: Path, extensions: bool) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g["type"], g["shape"] = "input", np.array([net.n_in])
        for i, layer in enumerate(net.layers, start=1):
            g = f.create_group(f"layer/{i}")
            syn, nr, rec = layer.synapse, layer.neuron, layer.recurrent
            g["shape"] = np.array([nr.n])
            g["inFeatures"], g["outFeatures"] = syn.weight.shape[1], syn.weight.shape[0]
            if extensions:
                g["type"], w, w_rec = "dense", syn.weight, None if rec is None else rec.weight
                g["weightExp"] = int(syn.weight_exp)
                if rec is not None:
                    g["recurrentWeight"] = rec.weight.astype(np.int32)
            else:
                w, w_rec = _netx_weights(layer)
                g["type"] = "dense" if rec is None else "dense_rec"
                if rec is not None:
                    g["weight_rec"] = w_rec.astype(np.int32)
            g["weight"] = w.astype(np.int32)
            g["bias"] = np.asarray(nr.bias_mant, dtype=np.int32)
            if syn.delay is not None:
                g["delay"] = syn.delay.astype(np.int32)
            n = g.create_group("neuron")
            readout = nr.kind == "readout"
            n["type"] = _EXT_TYPES[nr.kind] if extensions else "CUBA"
            n["iDecay"], n["vDecay"] = int(nr.du) + 1, int(nr.dv)
            n["vThMant"] = NEVER_FIRES if readout and not extensions else int(nr.vth)
            n["refDelay"], n["gradedSpike"] = 1, readout and extensions


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _content_hash(manifest: dict) -> str:
    rest = {k: v for k, v in manifest.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _manifest(net: LavaNet, source: str, extensions: bool, net_sha: str) -> dict:
    from ... import __version__

    if extensions:
        note = ("readable by spikeforge only (snn.backends.lava.netx.read): lava-dl netx does not know the neuron "
                "types LI and CUBA_SUBTRACT and ignores weightExp and recurrentWeight")
    else:
        bits = GRADED_INPUT_BITS if net.layers[0].synapse.graded else 0
        note = (f"lava-dl netx.hdf5.Network(network.net, input_message_bits={bits}) runs this file as spikeforge "
                f"does (input_message_bits=0 suffices for 0/1 spike inputs)")
        if net.graded_output:
            note += ("; the last layer is the LI readout, a CUBA neuron that never fires: read its membrane "
                     "(net.layers[-1].neuron.v) and divide by out_scale for float units")
    m = {"format": FORMAT_EXT if extensions else FORMAT, "note": note, "spikeforge": __version__,
         "source": str(source), "precision": net.precision, "dt_ms": float(net.dt),
         "input_shape": list(net.input_shape), "output_shape": list(net.output_shape),
         "input_message_bits": GRADED_INPUT_BITS if net.layers[0].synapse.graded else 0,
         "out_scale": float(net.out_scale), "latency_steps": net.latency, "bias_exp": BIAS_EXP,
         "layers": [{"name": la.name, "kind": la.neuron.kind,
                     "neuron": _EXT_TYPES[la.neuron.kind] if extensions else "CUBA",
                     "in": int(la.synapse.weight.shape[1]), "out": int(la.neuron.n),
                     "max_delay": la.synapse.max_delay, "recurrent": la.recurrent is not None} for la in net.layers]}
    m["sha256"] = {NET_FILE: net_sha, MANIFEST: _content_hash(m)}
    return m


def export(net: LavaNet, out_dir: str | os.PathLike, *, source: str = "", overwrite: bool = False,
           extensions: bool = False) -> Path:
    """Writes ``out_dir/network.net`` and ``out_dir/manifest.json`` atomically; returns ``out_dir``.

    By default the file is one lava-dl netx runs with the same meaning, and a layer it cannot express is a
    ValueError naming the layer. ``extensions=True``: spikeforge's own layout (subtract reset, any weight exponent,
    delays up to 63), readable by :func:`read` only, as the manifest says."""
    if net.precision != "fixed_pt":
        raise ValueError(f"netx export: expected a fixed_pt (quantised) network, got {net.precision}")
    validate(net)
    if any(layer.neuron.bias_exp != BIAS_EXP for layer in net.layers):
        raise ValueError(f"netx export: expected bias_exp {BIAS_EXP} on every layer (netx's convention)")
    if not extensions:
        _check_netx(net)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise ValueError(f"netx export: {out} exists and is not an empty directory (pass overwrite=True to replace it)")
    with _io.atomic_dir(out, overwrite=overwrite) as tmp:
        _write_h5(net, tmp / NET_FILE, extensions)
        manifest = _manifest(net, source, extensions, _sha256(tmp / NET_FILE))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out


# --- reader --------------------------------------------------------------------------------------------------------

def read(path: str | os.PathLike) -> LavaNet:
    """Loads an export directory (or its ``network.net``) back into a fixed-point :class:`LavaNet`.

    Every malformed file, and every disagreement between ``manifest.json`` and ``network.net``, is a
    :class:`NetxFormatError` naming the file and the field."""
    from ._netx_read import read_export

    p = Path(path)
    if not p.exists():
        raise NetxFormatError(f"netx reader: {p}: does not exist (expected an export directory or its {NET_FILE})")
    net_file, manifest_file = (p / NET_FILE, p / MANIFEST) if p.is_dir() else (p, p.parent / MANIFEST)
    return read_export(net_file, manifest_file)
