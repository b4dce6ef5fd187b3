"""ELM on Lava: the custom floating-point process matches the torch backend; fixed point is refused clearly."""

import numpy as np
import pytest
import torch

import snn
from snn.backends.lava import backend, lowering, runtime
from snn.backends.lava.quantize import QuantisationError


def _graph(branch: bool, with_linear: bool, update: str):
    torch.manual_seed(1)
    kw = dict(memory_units=5, tau_m_init=(2.0, 60.0), update=update, dt=2.0)
    elm = snn.BranchELM(8, 3, branches=3, synapses_per_branch=4, routing_seed=2, **kw) if branch \
        else snn.ELM(8, 3, **kw)
    with torch.no_grad():
        elm.w_s.add_(torch.randn_like(elm.w_s))
        elm.mlp_in.weight.mul_(2)
    layers = ([snn.Linear(6, 8)] if with_linear else []) + [elm]
    return snn.lower(snn.Sequential(*layers)), (6 if with_linear else 8)


@pytest.mark.parametrize("branch, with_linear, update", [(False, False, "v1"), (True, True, "v2")])
def test_lava_float_elm_matches_the_torch_backend(branch, with_linear, update):
    graph, n_in = _graph(branch, with_linear, update)
    x = np.random.default_rng(0).random((12, 2, n_in)) * (np.random.default_rng(1).random((12, 2, n_in)) < 0.5)
    ref = snn.backends.get("torch").build(graph, dtype=torch.float64)(torch.tensor(x)).numpy()
    net = lowering.lower(graph)
    assert net.layers[-1].neuron.kind == "elm" and net.graded_output
    out = runtime.run(net, x).output
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    if branch:  # the registered backend, as `snn run --backend lava` uses it
        lava = snn.backends.get("lava").build(graph)(torch.tensor(x, dtype=torch.float32))
        np.testing.assert_allclose(lava.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_fixed_point_elm_is_refused_naming_the_layer():
    """lava-fixed, loihi and netx export (which needs a quantised network) all go through quantisation."""
    graph, _ = _graph(True, True, "v1")
    with pytest.raises(QuantisationError, match=r"layer 'elm_1' \(ELM\): fixed point is not supported"):
        backend.prepare(graph, "fixed_pt")

