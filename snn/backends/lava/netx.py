"""Export of a fixed-point :class:`LavaNet` in the lava-dl netx HDF5 format (SPEC §4), plus a JSON manifest, and
the reader that loads such a file back into a :class:`LavaNet`.

Layout (``network.net``)::

    layer/0                  type "input", shape [n_in]
    layer/<i>  (i >= 1)      type "dense", shape [n_out], inFeatures, outFeatures, weight (out, in) int,
                             delay (out, in) int (DelayDense only), bias (n_out,) = bias_mant (bias_exp = 6),
                             weightExp, [recurrentWeight (n, n)]        <- spikeforge additions netx ignores
                             neuron/{type, iDecay = du + 1, vDecay = dv, vThMant = vth, refDelay = 1, gradedSpike}
Neuron ``type``: "CUBA" (Lava LIF, zero reset: what netx runs), "CUBA_SUBTRACT" (SubtractLIF) and "LI" (readout)
are spikeforge's; netx proper reads only "CUBA". ``manifest.json`` holds what the HDF5 file does not: input/output
shapes, ``dt`` (ms), ``out_scale``, latency, provenance. The directory is written to a temporary sibling and renamed
into place: a crash never leaves a half-written export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .network import LavaNet, Layer, Neuron, Synapse
from .quantize import BIAS_EXP, validate

NET_FILE, MANIFEST = "network.net", "manifest.json"
_TYPES = {"lif": "CUBA", "lif_subtract": "CUBA_SUBTRACT", "readout": "LI"}
_KINDS = {v: k for k, v in _TYPES.items()}


def _write_h5(net: LavaNet, path: Path) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g["type"], g["shape"] = "input", np.array([net.n_in])
        for i, layer in enumerate(net.layers, start=1):
            g = f.create_group(f"layer/{i}")
            syn, nr = layer.synapse, layer.neuron
            g["type"] = "dense"
            g["shape"] = np.array([nr.n])
            g["inFeatures"], g["outFeatures"] = syn.weight.shape[1], syn.weight.shape[0]
            g["weight"] = syn.weight.astype(np.int32)
            g["weightExp"] = int(syn.weight_exp)
            g["bias"] = np.asarray(nr.bias_mant, dtype=np.int32)
            if syn.delay is not None:
                g["delay"] = syn.delay.astype(np.int32)
            if layer.recurrent is not None:
                g["recurrentWeight"] = layer.recurrent.weight.astype(np.int32)
            n = g.create_group("neuron")
            n["type"] = _TYPES[nr.kind]
            n["iDecay"], n["vDecay"], n["vThMant"] = int(nr.du) + 1, int(nr.dv), int(nr.vth)
            n["refDelay"], n["gradedSpike"] = 1, nr.kind == "readout"


def export(net: LavaNet, out_dir: str | os.PathLike, *, source: str = "", overwrite: bool = False) -> Path:
    """Writes ``out_dir/network.net`` and ``out_dir/manifest.json`` atomically; returns ``out_dir``."""
    if net.precision != "fixed_pt":
        raise ValueError(f"netx export: expected a fixed_pt (quantised) network, got {net.precision}")
    validate(net)
    if any(layer.neuron.bias_exp != BIAS_EXP for layer in net.layers):
        raise ValueError(f"netx export: expected bias_exp {BIAS_EXP} on every layer (netx's convention)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise ValueError(f"netx export: {out} exists and is not an empty directory (pass overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_h5(net, tmp / NET_FILE)
        from ... import __version__

        manifest = {"format": "lava-dl netx hdf5 (+ spikeforge fields)", "spikeforge": __version__,
                    "source": str(source), "precision": net.precision, "dt_ms": net.dt,
                    "input_shape": list(net.input_shape), "output_shape": list(net.output_shape),
                    "out_scale": net.out_scale, "latency_steps": net.latency, "bias_exp": BIAS_EXP,
                    "layers": [{"name": la.name, "neuron": _TYPES[la.neuron.kind], "in": la.synapse.weight.shape[1],
                                "out": la.neuron.n, "max_delay": la.synapse.max_delay,
                                "recurrent": la.recurrent is not None} for la in net.layers]}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        for p in tmp.iterdir():
            with open(p, "rb+") as fh:
                os.fsync(fh.fileno())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def _scalar(g, key):
    v = g[key][()]
    return v.decode() if isinstance(v, bytes) else v


def read(path: str | os.PathLike) -> LavaNet:
    """Loads an export directory (or its ``network.net``) back into a fixed-point :class:`LavaNet`."""
    p = Path(path)
    net_file, manifest_file = (p / NET_FILE, p / MANIFEST) if p.is_dir() else (p, p.parent / MANIFEST)
    try:
        manifest = json.loads(manifest_file.read_text())
        f = h5py.File(net_file, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"netx reader: {p}: expected an export directory with {NET_FILE} and {MANIFEST}: {e}") \
            from None
    layers = []
    with f:
        n_layers = len(f["layer"])
        if n_layers < 2 or _scalar(f["layer/0"], "type") != "input":
            raise ValueError(f"netx reader: {net_file}: expected layer/0 of type 'input' and at least one more layer")
        for i, name in zip(range(1, n_layers), (la["name"] for la in manifest["layers"])):
            g = f[f"layer/{i}"]
            if _scalar(g, "type") != "dense":
                raise ValueError(f"netx reader: layer {i}: type {_scalar(g, 'type')!r} is not supported (dense only)")
            n = g["neuron"]
            kind = _KINDS.get(_scalar(n, "type"))
            if kind is None:
                raise ValueError(f"netx reader: layer {i}: neuron type {_scalar(n, 'type')!r}: expected {list(_KINDS)}")
            syn = Synapse(np.asarray(g["weight"], dtype=np.int64),
                          np.asarray(g["delay"], dtype=np.int64) if "delay" in g else None,
                          int(_scalar(g, "weightExp")) if "weightExp" in g else 0, graded=i == 1)
            rec = Synapse(np.asarray(g["recurrentWeight"], dtype=np.int64), None, syn.weight_exp) \
                if "recurrentWeight" in g else None
            neuron = Neuron(kind, int(np.asarray(g["shape"]).prod()), int(_scalar(n, "iDecay")) - 1,
                            int(_scalar(n, "vDecay")), int(_scalar(n, "vThMant")),
                            np.asarray(g["bias"], dtype=np.int64), BIAS_EXP)
            layers.append(Layer(name, syn, neuron, rec))
    net = LavaNet(layers, tuple(manifest["input_shape"]), tuple(manifest["output_shape"]), "fixed_pt",
                  float(manifest["dt_ms"]), float(manifest["out_scale"]))
    validate(net)
    return net
