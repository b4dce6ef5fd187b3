"""Every kind of default netx export loads in lava-dl 0.6.0's ``netx.hdf5.Network`` (the Loihi 2 deployment loader)
and runs there with the same spikes and readout membrane as spikeforge's ``lava-fixed`` runtime on a few samples.

lava-dl imports torchvision at import time (only its object-detection code uses it). PyPI's torchvision for torch
2.13 is a CUDA build that cannot be imported beside the CPU torch here ("operator torchvision::nms does not exist"),
so when no working torchvision is installed the module is replaced by an empty stand-in: netx never calls it.
OpenCV is the real ``opencv-python-headless`` (Makefile ``peers`` step)."""

import contextlib
import io
import json
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snn import ir
from snn.backends.lava import lowering, netx, quantize, runtime

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lava_dl():
    from snn.backends.lava.compat import import_lava

    import_lava()
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or the CUDA build beside CPU torch: netx does not use it
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        tv = types.ModuleType("torchvision")
        tv.ops, tv.transforms = types.ModuleType("torchvision.ops"), types.ModuleType("torchvision.transforms")
        sys.modules.update({"torchvision": tv, "torchvision.ops": tv.ops, "torchvision.transforms": tv.transforms})
    from lava.lib.dl import netx as lava_netx

    return lava_netx


def run_lava_dl(lava_netx, export_dir, x, input_bits):
    """Runs ``x`` (T, B, n_in) through lava-dl's Network built from the export, samples back to back with every
    layer's state reset between them (as spikeforge's runtime does); returns (T, B, n_out) output spikes or, for a
    readout, the last neuron's ``v``."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io import sink, source
    from lava.proc.io.reset import PyResetFixed, Reset
    from lava.proc.monitor.models import PyMonitorModel
    from lava.proc.monitor.process import Monitor

    net = lava_netx.hdf5.Network(net_config=str(export_dir / netx.NET_FILE), input_message_bits=input_bits)
    T, B, n_in = x.shape
    L = len(net.layers)
    W = T + L
    data = np.zeros((n_in, B, W), dtype=np.int32)
    data[:, :, :T] = x.transpose(2, 1, 0)
    src = source.RingBuffer(data=data.reshape(n_in, B * W))
    src.s_out.connect(net.inp)
    pm = {src: source.PySendModelFixed}
    for j, block in enumerate(net.layers, start=1):
        vars_ = [(block.synapse.a_buff, j - 2), (block.neuron.u, j - 1), (block.neuron.v, j - 1)]
        if hasattr(block, "synapse_rec"):
            vars_.append((block.synapse_rec.a_buff, j - 1))
        for var, offset in vars_:
            r = Reset(reset_value=0, interval=W, offset=offset % W)
            r.connect_var(var)
            pm[r] = PyResetFixed
    readout = json_manifest(export_dir)["layers"][-1]["kind"] == "readout"
    n_out = net.out.shape[0]
    if readout:
        mon = Monitor()
        mon.probe(net.layers[-1].neuron.v, B * W)
        pm[mon] = PyMonitorModel
    else:
        snk = sink.RingBuffer(shape=(n_out,), buffer=B * W)
        net.out.connect(snk.a_in)
        pm[snk] = sink.PyReceiveModelFixed
    try:
        net.run(condition=RunSteps(num_steps=B * W), run_cfg=Loihi2SimCfg(select_tag="fixed_pt",
                                                                          exception_proc_model_map=pm))
        if readout:
            out = mon.get_data()[net.layers[-1].neuron.name]["v"].reshape(B, W, n_out)[:, L:L + T].transpose(1, 0, 2)
        else:
            out = np.asarray(snk.data.get()).reshape(n_out, B, W)[:, :, L:L + T].transpose(2, 1, 0)
    finally:
        net.stop()
    return out


def json_manifest(export_dir):
    return json.loads((export_dir / netx.MANIFEST).read_text())


def readout_graph(rng):
    """Linear + bias -> recurrent LIF -> Linear -> LI readout (the `make demo` shape, plus recurrence)."""
    return ir.Graph.chain({
        "fc1": ir.Linear(rng.normal(0, 0.6, (12, 7)), rng.normal(0, 0.05, 12)),
        "lif1": ir.LIF(np.full(12, 6.0), np.full(12, 1.0), "zero", 1.0, rng.normal(0, 0.3, (12, 12))),
        "fc2": ir.Linear(rng.normal(0, 0.6, (4, 12))),
        "out": ir.LI(np.full(4, 12.0), 1.0)}, (7,), 1.0)


def delay_graph(rng):
    """DelayLinear -> CubaLIF -> Linear -> LIF: delays, a current decay and a spiking output."""
    return ir.Graph.chain({
        "d1": ir.DelayLinear(rng.normal(0.1, 0.5, (10, 7)), rng.integers(0, 6, (10, 7))),
        "cuba": ir.CubaLIF(np.full(10, 8.0), np.full(10, 0.7), "zero", 1.0, tau_syn=np.full(10, 3.0)),
        "fc2": ir.Linear(rng.normal(0.2, 0.6, (5, 10))),
        "lif2": ir.LIF(np.full(5, 5.0), np.full(5, 0.8), "zero", 1.0)}, (7,), 1.0)


@pytest.mark.parametrize("make,counts", [(readout_graph, True), (delay_graph, False)])
def test_default_export_runs_in_lava_dl_like_lava_fixed(lava_dl, tmp_path, make, counts):
    rng = np.random.default_rng(3)
    net = quantize.quantize(lowering.lower(make(rng)), quantize.QuantConfig(netx=True))
    out = netx.export(net, tmp_path / "exp")
    x = rng.integers(0, 3, (14, 3, 7)) if counts else (rng.random((14, 3, 7)) < 0.4).astype(np.int64)
    ours = runtime.run(net, x).output
    theirs = run_lava_dl(lava_dl, out, x, netx.GRADED_INPUT_BITS if counts else 0)
    np.testing.assert_array_equal(theirs, ours)
    assert np.abs(ours).sum() > 0 and (counts or 0 < ours.mean() < 1)  # real activity, not all-zero outputs


def test_extension_types_are_what_lava_dl_rejects(lava_dl, tmp_path):
    """The spikeforge-only layout really is unreadable by lava-dl (its manifest says so): the readout's LI type."""
    net = quantize.quantize(lowering.lower(readout_graph(np.random.default_rng(1))))
    out = netx.export(net, tmp_path / "ext", extensions=True)
    assert "spikeforge only" in json_manifest(out)["format"]
    with pytest.raises(AttributeError):  # netx/hdf5.py knows no neuron type "LI"
        lava_dl.hdf5.Network(net_config=str(out / netx.NET_FILE))


def _matrix(rows, cols):
    ranges = st.sampled_from([(-300, 300), (0, 300), (-300, 0), (-128, 127), (0, 0)])
    return st.tuples(ranges, st.integers(0, 4)).flatmap(lambda r: st.lists(st.integers(*r[0]), min_size=rows * cols, max_size=rows * cols).map(
            lambda v: (np.array(v, dtype=np.int64).reshape(rows, cols) >> r[1]) << r[1]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), rows=st.integers(1, 4), cols=st.integers(1, 4), recurrent=st.booleans())
def test_weight_check_agrees_with_lava_dl_scaling(lava_dl, data, rows, cols, recurrent):
    """The export's model of netx's weight handling against lava-dl's own optimize_weight_bits and lava-nc's clip
    and truncation: a layer passes exactly when lava-dl adds the file's integer weights unchanged."""
    import warnings

    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    parts = [data.draw(_matrix(rows, cols))] + ([data.draw(_matrix(rows, rows))] if recurrent else [])
    joint = np.hstack(parts)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            w, bits, exp, _ = lava_dl.utils.optimize_weight_bits(joint)
    except (OverflowError, ValueError):  # every weight 0: netx divides by the largest weight
        exact = False
    else:
        exact, col = True, 0
        for p in parts:
            q = w[:, col:col + p.shape[1]]
            col += p.shape[1]
            mode = determine_sign_mode(q)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = truncate_weights(clip_weights(q, mode, 8), mode, bits).astype(np.int64)
            exact &= bool(np.array_equal(q, p << -exp) if exp <= 0 else np.array_equal(q << exp, p))
    assert (netx._netx_mismatch(parts) is None) == exact, (parts, bits, exact)
