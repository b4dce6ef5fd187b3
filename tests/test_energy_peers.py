"""Energy counts against the peers: NeuroBench 2.3.0's metrics on snnTorch twins of our networks, and SpikingJelly
2.0.0's ``op_counter`` where its definitions coincide with ours (docs/energy.md says where they differ)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from snn import ir
from snn.backends.torch import build
from snn.energy import count

snntorch = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel  # noqa: E402

T, B = 12, 5


class _Twin(nn.Module):
    """An snnTorch network: synapse modules with a ``Leaky`` (zero reset, no reset delay) after each. Weights and
    inputs are multiples of 1/8, the decays 1/2 and 3/4 and the threshold off that grid, so both networks compute
    the same spikes whatever the order of their float32 sums."""

    def __init__(self, synapses, betas, threshold):
        super().__init__()
        self.layers = nn.ModuleList()
        for syn, beta in zip(synapses, betas):
            self.layers.append(syn)
            self.layers.append(snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism="zero",
                                              reset_delay=False, init_hidden=True))
        self.layers[-1].output = True

    def reset(self):
        """Called by NeuroBench's ``SNNTorchModel`` before each batch (``snntorch.utils.reset`` finds no neurons
        inside a ModuleList)."""
        for layer in self.layers:
            if isinstance(layer, snntorch.SpikingNeuron):
                layer.reset_mem()

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1](x)


class _ConvTwin(_Twin):
    def forward(self, x):
        x = self.layers[1](self.layers[0](x))
        x = self.layers[2](x.flatten(1))
        return self.layers[3](x)


def _dyadic(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t * 8) / 8


def _zero_some(layer: nn.Module, share: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(_dyadic(layer.weight * 4))
        layer.bias.copy_(_dyadic(layer.bias))
        layer.weight[torch.rand(layer.weight.shape, generator=g) < share] = 0


def _ir_of(twin, input_shape, dt=1.0):
    """The IR of ``twin``: each synapse, then a LIF with ``tau_mem = -dt / ln(beta)`` (a Flatten after a conv)."""
    nodes, shape = {}, tuple(input_shape)
    syns = [m for m in twin.layers if not isinstance(m, snntorch.SpikingNeuron)]
    lifs = [m for m in twin.layers if isinstance(m, snntorch.SpikingNeuron)]
    for i, (syn, lif) in enumerate(zip(syns, lifs)):
        w, b = syn.weight.detach().numpy(), syn.bias.detach().numpy()
        node = ir.Conv2d(w, b, shape[1:], syn.stride, syn.padding) if isinstance(syn, nn.Conv2d) else ir.Linear(w, b)
        shape = node.output_shape
        nodes[f"syn{i}"] = node
        nodes[f"lif{i}"] = ir.LIF(np.full(shape, -dt / math.log(float(lif.beta))), np.full(shape, float(lif.threshold)),
                                  "zero", dt)
        if len(shape) > 1:
            nodes[f"flat{i}"] = ir.Flatten(shape)
            shape = (math.prod(shape),)
    return ir.Graph.chain(nodes, input_shape, dt)


def _neurobench(twin, x):
    """NeuroBench's metrics on ``x`` (T, B, ...) given as (B, T, ...) batches, and the twin's spikes."""
    data = torch.utils.data.TensorDataset(x.transpose(0, 1), torch.zeros(x.shape[1]))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    bench = Benchmark(SNNTorchModel(twin), loader, [], [],
                      [[ConnectionSparsity], [SynapticOperations, ActivationSparsity]])
    return bench.run(quiet=True)


def _check_same_dynamics(twin, graph, batches):
    for x in batches:
        theirs = SNNTorchModel(twin)(x.transpose(0, 1)).transpose(0, 1)
        ours = build(graph).run(x).output
        assert theirs.sum() > 5, "the test must exercise spiking"
        assert torch.equal(ours, theirs), "the twin networks must spike alike for the counts to be comparable"


def _compare(twin, graph, x):
    batches = [x[:, :2], x[:, 2:4], x[:, 4:]]  # the batches of NeuroBench's loader
    _check_same_dynamics(twin, graph, batches)
    sim = build(graph)
    ours = count(graph, batches, run=lambda b: sim.run(b, record=True).records).neurobench()
    theirs = _neurobench(twin, x)
    for key in ("Dense", "Effective_MACs", "Effective_ACs"):
        assert ours["SynapticOperations"][key] == pytest.approx(theirs["SynapticOperations"][key], rel=1e-12), key
    assert ours["SynapticOperations"]["Effective_ACs"] > 0 and ours["SynapticOperations"]["Effective_MACs"] > 0
    assert round(ours["ConnectionSparsity"], 4) == theirs["ConnectionSparsity"]
    # NeuroBench averages the per-batch sparsity weighted by batch size: the share over every output
    assert ours["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)


def test_mlp_counts_equal_neurobench():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(20, 16), nn.Linear(16, 4)
    _zero_some(fc1, 0.3, 1)
    _zero_some(fc2, 0.2, 2)
    twin = _Twin([fc1, fc2], [0.5, 0.75], 0.53)
    x = _dyadic(torch.rand(T, B, 20) * 0.8)
    x[x < 0.4] = 0  # zero inputs cost nothing in the effective counts
    _compare(twin, _ir_of(twin, (20,)), x)


def test_conv_counts_equal_neurobench():
    torch.manual_seed(1)
    conv, fc = nn.Conv2d(2, 3, 3, stride=1, padding=1), nn.Linear(3 * 6 * 6, 5)
    _zero_some(conv, 0.25, 3)
    _zero_some(fc, 0.0, 4)
    twin = _ConvTwin([conv, fc], [0.5, 0.75], 0.53)
    x = _dyadic(torch.rand(T, B, 2, 6, 6))
    x[x < 0.5] = 0
    _compare(twin, _ir_of(twin, (2, 6, 6)), x)


def _spikingjelly_counts(graph, x):
    op = pytest.importorskip("spikingjelly.activation_based.op_counter")
    synop, mac = op.SynOpCounter(), op.MACCounter()
    sim = build(graph)
    with op.DispatchCounterMode([synop, mac]):
        sim.run(x)
    return synop.get_total(), mac.get_total()


def test_synops_equal_spikingjelly_on_spike_input_without_zero_weights():
    # SpikingJelly's SynOps are spikes x fan-out of every weight (zero weights included) and only for {0, 1} input:
    # equal to our Effective ACs when no weight is zero and the input is spikes. The recurrent layer's mm is counted.
    torch.manual_seed(2)
    g = ir.Graph.chain({
        "fc1": ir.Linear(np.random.default_rng(0).normal(0.6, 0.3, (12, 10))),
        "lif1": ir.LIF(np.full(12, 10.0), np.full(12, 1.0), "subtract", 1.0,
                       np.random.default_rng(1).uniform(0.05, 0.3, (12, 12))),
        "fc2": ir.Linear(np.random.default_rng(2).normal(0.5, 0.3, (3, 12))),
        "li": ir.LI(np.full(3, 20.0), 1.0)}, (10,), 1.0)
    x = (torch.rand(T, B, 10) < 0.3).float()
    ours = count(g, [x]).neurobench()["SynapticOperations"]
    synops, macs = _spikingjelly_counts(g, x)
    assert ours["Effective_MACs"] == macs == 0
    assert ours["Effective_ACs"] * B == synops > 0  # ours per sample, SpikingJelly's per run


def test_encoding_layer_macs_equal_spikingjelly_dense_macs():
    # A non-binary input: SpikingJelly counts the layer's dense MACs (m x n x k) = our Dense of that layer; with every
    # input nonzero and no zero weight our Effective MACs equal it too.
    g = ir.Graph.chain({"fc": ir.Linear(np.random.default_rng(3).normal(1.0, 0.2, (6, 8))),
                        "lif": ir.LIF(np.full(6, 5.0), np.full(6, 1.0), "zero", 1.0)}, (8,), 1.0)
    x = torch.rand(T, B, 8) + 0.1
    c = count(g, [x])
    synops, macs = _spikingjelly_counts(g, x)
    assert macs == c.layers[0].dense == c.layers[0].macs == T * B * 6 * 8
    assert synops == 0
