"""ELM / Branch-ELM through the IR: lowering, the torch backend against the front end, save/load, bad nodes."""

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends import torch as torch_backend


def _model(branch: bool, update: str = "v1"):
    torch.manual_seed(0)
    kw = dict(memory_units=8, tau_m_init=(2.0, 80.0), update=update, dt=2.0)
    elm = snn.BranchELM(12, 3, branches=4, synapses_per_branch=5, routing_seed=3, **kw) if branch \
        else snn.ELM(12, 3, **kw)
    with torch.no_grad():
        elm.w_s.add_(torch.randn_like(elm.w_s))  # some negative: relu'd on both sides
    return snn.Sequential(snn.Linear(6, 12), elm)


@pytest.mark.parametrize("branch", [False, True])
@pytest.mark.parametrize("update", ["v1", "v2"])
def test_torch_backend_reproduces_the_front_end_and_survives_save_load(branch, update, tmp_path):
    model = _model(branch, update).eval()
    graph = snn.lower(model)
    node = graph.nodes["1"] if "1" in graph.nodes else list(graph.nodes.values())[-1]
    assert isinstance(node, ir.ELM) and node.update == update and node.dt == 2.0
    assert (node.routing is not None) == branch
    x = torch.rand(25, 4, 6)
    with torch.no_grad():
        expected, _ = model(x)
    out = torch_backend.build(graph)(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    ir.save(graph, tmp_path / "elm.h5")
    loaded = ir.load(tmp_path / "elm.h5")
    (name,) = [k for k, v in loaded.nodes.items() if isinstance(v, ir.ELM)]
    back = loaded.nodes[name]
    assert back.update == update and back.synapses_per_branch == node.synapses_per_branch
    if branch:
        assert back.routing.dtype == np.int64 and np.array_equal(back.routing, model[1].routing.numpy())
    torch.testing.assert_close(torch_backend.build(loaded)(x), out, rtol=0, atol=0)


def _node_kwargs(**over):
    d_m, h, n = 3, 4, 5
    kw = dict(in_features=n, synapse_weight=np.ones(n), routing=None, synapses_per_branch=1, tau_s=5.0,
              tau_m=np.full(d_m, 10.0), lam=5.0, update="v1", mlp_weight1=np.zeros((h, n + d_m)),
              mlp_bias1=np.zeros(h), mlp_weight2=np.zeros((d_m, h)), mlp_bias2=np.zeros(d_m),
              readout_weight=np.zeros((2, d_m)), readout_bias=np.zeros(2), dt=1.0)
    kw.update(over)
    return kw


@pytest.mark.parametrize("over, match", [
    (dict(synapse_weight=-np.ones(5)), "synapse_weight: expected values >= 0"),
    (dict(synapse_weight=np.ones(6)), "without routing expected 5 synapses"),
    (dict(routing=np.array([0, 1, 2, 3, 5])), "routing: expected 5 integers in 0..4"),
    (dict(routing=np.zeros(5)), "routing"),
    (dict(synapses_per_branch=2), "does not divide"),
    (dict(tau_m=np.array([1.0, 0.0, 2.0])), "tau_m"),
    (dict(update="v9"), "update"),
    (dict(tau_s=-1.0), "tau_s"),
    (dict(mlp_weight1=np.zeros((4, 7))), r"mlp_weight1: expected shape \(4, 8\)"),
    (dict(readout_weight=np.zeros((2, 4))), "readout_weight"),
])
def test_bad_elm_nodes_are_refused(over, match):
    with pytest.raises(ValueError, match=match):
        ir.ELM(**_node_kwargs(**over))


def test_lowering_names_a_shape_mismatch():
    with pytest.raises(ValueError, match=r"ELM expects input shape \(5,\)"):
        snn.lower(snn.Sequential(snn.Linear(3, 4), snn.ELM(5, 2, memory_units=2)))
