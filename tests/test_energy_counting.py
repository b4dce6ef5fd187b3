"""Energy counts against hand-computed values on tiny networks (every number below is worked out in the comments)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from snn import ir
from snn.backends.torch import simulator
from snn.energy import count

TAU = 1e9  # ms: beta = exp(-1/TAU) ~ 1, so the hand computation can ignore the leak


def _lif(n, threshold, recurrent=None):
    return ir.LIF(np.full(n, TAU), np.full(n, threshold), "zero", 1.0, recurrent)


def _two_layer():
    # W1 nonzeros per input column: 3, 2, 2, 1; W2 per column: 1, 0, 2. Zeros: 4 of 12 and 3 of 6.
    w1 = np.array([[1, 0, 2, 0], [0.5, 0.5, 0, 0], [1, 1, 1, 1]])
    w2 = np.array([[1, 0, 1], [0, 0, 1]])
    return ir.Graph.chain({"fc1": ir.Linear(w1), "lif1": _lif(3, 0.9), "fc2": ir.Linear(w2), "lif2": _lif(2, 0.9)},
                          (4,), 1.0)


def test_two_layer_network_hand_counts():
    # step 0 [0.5, 0, 0, 2] (not binary): inputs 0 and 3 are active -> 3 + 1 = 4 MACs; W1 x = [0.5, 0.25, 2.5],
    #   lif1 spikes [0, 0, 1] -> fc2 reads one spike on column 2 -> 2 ACs; fc2 gives [1, 1] -> lif2 spikes [1, 1].
    # step 1 [1, 1, 0, 0] (binary): 3 + 2 = 5 ACs; v1 = [1.5, 1.25, 2] -> spikes [1, 1, 1] -> 1 + 0 + 2 = 3 ACs;
    #   fc2 gives [2, 1] -> lif2 spikes [1, 1].
    # step 2 zeros: nothing.
    x = torch.tensor([[0.5, 0, 0, 2], [1, 1, 0, 0], [0, 0, 0, 0]]).reshape(3, 1, 4)
    c = count(_two_layer(), [x])
    nb = c.neurobench()
    assert nb["SynapticOperations"] == {"Effective_MACs": 4, "Effective_ACs": 5 + 2 + 3, "Dense": 3 * (12 + 6)}
    lif1, lif2 = c.layers[1], c.layers[3]
    assert lif1.spikes_per_step.tolist() == [1, 3, 0] and lif2.spikes_per_step.tolist() == [2, 2, 0]
    assert lif1.spikes_per_neuron.tolist() == [1, 1, 2]
    assert nb["ActivationSparsity"] == pytest.approx((5 + 2) / 15)  # 9 + 6 outputs, 4 + 4 spikes
    assert nb["MembraneUpdates"] == 15
    assert lif1.active_updates + lif2.active_updates == 3 + 3 + 2 + 2  # neurons with nonzero input, steps 0 and 1
    assert nb["ConnectionSparsity"] == pytest.approx(7 / 18)
    assert nb["Footprint"] == 4 * (12 + 6 + 3 + 3 + 2 + 2)  # float32 weights, tau_mem and threshold
    assert any("'fc1'" in w and "MACs" in w for w in c.warnings) and len(c.warnings) == 1


def test_batches_add_up_and_are_per_sample():
    x = torch.tensor([[0.5, 0, 0, 2], [1, 1, 0, 0], [0, 0, 0, 0]]).reshape(3, 1, 4)
    once = count(_two_layer(), [x]).neurobench()
    twice = count(_two_layer(), [x.repeat(1, 2, 1), x]).neurobench()
    assert twice["SynapticOperations"] == once["SynapticOperations"]
    assert twice["MembraneUpdates"] == once["MembraneUpdates"]


def test_delay_layer_reads_the_delayed_input():
    # out 0: w = [1, 2], delays [0, 2]: x_0 is active at t = 0, 2 -> 2 ops; x_1[t - 2] at t = 2, 3 reads x_1[0],
    #   x_1[1] = 1, 1 -> 2 ops. out 1: w = [0, 1], delays [1, 3]: the zero weight costs nothing; x_1[t - 3] at t = 3
    #   reads x_1[0] -> 1 op. Effective 5, Dense 4 steps x 4 synapses.
    node = ir.DelayLinear(np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[0, 2], [1, 3]]))
    g = ir.Graph.chain({"d": node}, (2,), 1.0)
    x = torch.tensor([[1, 1], [0, 1], [1, 0], [0, 0]], dtype=torch.float32).reshape(4, 1, 2)
    syn = count(g, [x]).neurobench()["SynapticOperations"]
    assert syn == {"Effective_MACs": 0, "Effective_ACs": 5, "Dense": 16}


def test_recurrent_weights_count_the_previous_steps_spikes():
    # neuron 0 receives neuron 1's spikes (W_rec[0, 1] = 1). Input [[0, 1], [0, 1], [0, 0]], threshold 0.5:
    # t0 spikes [0, 1]; t1 input [0 + 1, 1] -> [1, 1]; t2 input [0 + 1, 0] -> [1, 0]. Recurrent ops: at t1 and t2
    # neuron 1's previous spike reaches one nonzero weight -> 2 ACs; Dense 3 steps x 4 weights.
    g = ir.Graph.chain({"r": _lif(2, 0.5, np.array([[0.0, 1.0], [0.0, 0.0]]))}, (2,), 1.0)
    x = torch.tensor([[0, 1], [0, 1], [0, 0]], dtype=torch.float32).reshape(3, 1, 2)
    c = count(g, [x])
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 2, "Dense": 12}
    (r,) = c.layers
    assert r.spikes_per_step.tolist() == [1, 2, 1]
    assert r.active_updates == 1 + 2 + 1 and r.updates == 6


def test_conv_counts_in_frame_taps_only():
    # 3x3 frame, 2x2 kernel with one zero, padding 1 -> 4x4 output. Per axis the in-frame taps of the 4 outputs
    # are 1, 2, 2, 1 (6) -> Dense 36 per step. Every pixel meets every tap once: 7 nonzero pixels x 3 nonzero taps.
    w = np.array([[[[1.0, 2.0], [0.0, 3.0]]]])
    g = ir.Graph.chain({"c": ir.Conv2d(w, None, (3, 3), padding=(1, 1)), "f": ir.Flatten((1, 4, 4))}, (1, 3, 3),
                       1.0)
    x = torch.full((2, 1, 1, 3, 3), 0.5)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 2, 1] = 0
    c = count(g, [x])
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 7 * 3 + 9 * 3, "Effective_ACs": 0,
                                                    "Dense": 2 * 36}
    assert c.layers[1].kind == "shape"


@dataclass(eq=False)
class _Square(ir.Node):
    n: int

    @property
    def input_shape(self):
        return (self.n,)

    output_shape = input_shape


def test_unknown_layer_is_reported_not_counted(monkeypatch):
    monkeypatch.setitem(simulator.NODE_KERNELS, _Square, lambda node, x: x * x)
    g = ir.Graph.chain({"fc": ir.Linear(np.ones((2, 2))), "sq": _Square(2)}, (2,), 1.0)
    c = count(g, [torch.ones(2, 1, 2)])
    assert c.layers[1].kind == "not counted"
    assert any("'sq'" in w and "not counted" in w for w in c.warnings)


def test_empty_split_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        count(_two_layer(), [])


def test_batches_of_different_lengths_add_step_by_step():
    # the first two steps of the hand-counted input as a second, shorter batch: lif1 spiked [1, 3] on them
    x = torch.tensor([[0.5, 0, 0, 2], [1, 1, 0, 0], [0, 0, 0, 0]]).reshape(3, 1, 4)
    c = count(_two_layer(), [x, x[:2]])
    lif1 = c.layers[1]
    assert c.steps == 3 and lif1.sample_steps == 3 + 2
    assert lif1.spikes_per_step.tolist() == [2, 6, 0]
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 4, "Effective_ACs": 10, "Dense": 54 - 9}


def test_if_and_refractory_lif_count_as_lif():
    # IF, threshold 0.5, W_rec[0, 1] = 1, input [[0, 1], [0, 1], [0, 0]]: as the recurrent LIF test, no leak -> t0
    # spikes [0, 1]; t1 v = [1, 1] -> [1, 1]; t2 v = [1, 0] -> [1, 0] (zero reset). Recurrent: 2 ACs, Dense 12.
    g = ir.Graph.chain({"r": ir.IF(np.full(2, 0.5), "zero", np.array([[0.0, 1.0], [0.0, 0.0]]))}, (2,), 1.0)
    x = torch.tensor([[0, 1], [0, 1], [0, 0]], dtype=torch.float32).reshape(3, 1, 2)
    c = count(g, [x])
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 2, "Dense": 12}
    assert c.layers[0].spikes_per_step.tolist() == [1, 2, 1] and c.layers[0].updates == 6
    assert c.layers[0].active_updates == 4 and not c.warnings
    # RefractoryLIF, 2 steps refractory, threshold 0.5, input 1 every step for 5 steps: spikes at t0 and t3; every
    # neuron-step is an update (5) and active (input 1); 3 of 5 outputs are zero.
    g = ir.Graph.chain({"r": ir.RefractoryLIF(np.full(1, TAU), np.full(1, 0.5), "zero", 1.0, None, 2)}, (1,), 1.0)
    c = count(g, [torch.ones(5, 1, 1)])
    (r,) = c.layers
    assert r.kind == "neuron" and r.spikes_per_step.tolist() == [1, 0, 0, 1, 0]
    assert (r.updates, r.active_updates) == (5, 5) and c.neurobench()["ActivationSparsity"] == pytest.approx(3 / 5)


def test_pools_count_one_addition_per_in_frame_tap():
    # SumPool2d 2x2, stride 1 on a 3x3 frame -> 2x2 windows of 4 taps: Dense 16 per step. A pixel lies in 1 (corner),
    # 2 (edge) or 4 (centre) windows; spikes at (0, 0) and (1, 1) -> 1 + 4 = 5 ACs.
    g = ir.Graph.chain({"p": ir.SumPool2d((1, 3, 3), (2, 2), (1, 1))}, (1, 3, 3), 1.0)
    x = torch.zeros(1, 1, 1, 3, 3)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = 1
    c = count(g, [x])
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 5, "Dense": 16}
    assert c.layers[0].kind == "synapse" and not c.warnings
    # AvgPool2d 2x2, stride 2, padding 1 on 2 channels of 3x3 -> 2x2 windows; per axis the windows hold 1 and 2
    # in-frame pixels, so every pixel is read once: Dense 2 x 9 per step. Input 0.5 but one pixel 0 -> 17 MACs.
    g = ir.Graph.chain({"p": ir.AvgPool2d((2, 3, 3), (2, 2), (2, 2), (1, 1))}, (2, 3, 3), 1.0)
    x = torch.full((2, 1, 2, 3, 3), 0.5)
    x[1, 0, 1, 2, 2] = 0
    c = count(g, [x])
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 18 + 17, "Effective_ACs": 0, "Dense": 2 * 18}
    assert any("'p'" in w and "MACs" in w for w in c.warnings)


def test_adlif_adds_one_adaptation_update_per_neuron_step():
    # 3 neurons, 4 steps: MembraneUpdates 12 and 12 adaptation updates; W_rec[2, 0] = 1 reads neuron 0's spikes.
    # tau_mem = dt (alpha = 1/e), a = b = 0 (w stays 0): u = alpha u + 0.63 x, threshold 0.1. Input x0 = 1 every step,
    # x1 = x2 = 0: neuron 0 spikes every step (u = 0.63, zero reset), so neuron 2 receives 1 from t1 on and spikes at
    # t1..t3. Recurrent ACs: 1 per step from t1 -> 3; Dense 4 x 9. Active updates: neuron 0 x 4 + neuron 2 x 3 = 7.
    n = 3
    w_rec = np.zeros((n, n))
    w_rec[2, 0] = 1
    node = ir.AdLIF(np.ones(n), np.ones(n), np.full(n, 0.1), np.zeros(n), np.zeros(n), "zero", 1.0, w_rec)
    x = torch.zeros(4, 1, n)
    x[:, 0, 0] = 1
    c = count(ir.Graph.chain({"a": node}, (n,), 1.0), [x])
    (a,) = c.layers
    assert a.spikes_per_step.tolist() == [1, 2, 2, 2]
    assert c.neurobench()["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 3, "Dense": 36}
    assert (a.updates, a.active_updates, a.state_updates) == (12, 7, 12)


def test_elm_counts_synapses_mlp_readout_and_its_state():
    # 2 inputs, synapse weights [1, 0], one synapse per branch (2 branches), 1 memory unit, 1 hidden unit;
    # W1 = [[1, 0, 0]] over [b0, b1, kappa_m m], W2 = [[1]], W_y = [[2]], biases 0. Input [[0, 1], [1, 0], [0, 0]].
    # Synapses: only x0 at t1 meets a nonzero weight -> 1 AC; Dense 3 x 2.
    # t0: b = 0, m_prev = 0 -> W1 input 0, h = 0, m = 0 -> no MACs. t1: b = [1, 0] -> W1 column 0 (1 weight), h = 1
    # -> W2 (1), m = g 1.7159 tanh(2/3) != 0 -> W_y (1). t2: b = [kappa_s, 0] -> column 0 (1); kappa_m m != 0 but its
    # column 2 holds no nonzero weight; h, m nonzero -> 1 + 1. MACs 3 + 3 = 6; Dense 3 x (3 + 1 + 1).
    node = ir.ELM(2, np.array([1.0, 0.0]), None, 1, 5.0, np.array([10.0]), 1.0, "v1", np.array([[1.0, 0, 0]]),
                  np.zeros(1), np.array([[1.0]]), np.zeros(1), np.array([[2.0]]), np.zeros(1), 1.0)
    x = torch.tensor([[0, 1], [1, 0], [0, 0]], dtype=torch.float32).reshape(3, 1, 2)
    c = count(ir.Graph.chain({"elm": node}, (2,), 1.0), [x])
    nb = c.neurobench()
    assert nb["SynapticOperations"] == {"Effective_MACs": 6, "Effective_ACs": 1, "Dense": 6 + 15}
    (e,) = c.layers
    assert e.kind == "neuron" and not c.warnings
    assert (e.updates, e.active_updates, e.state_updates) == (3, 3, 6)  # memory x 3 steps; 2 branch traces x 3
    assert nb["ActivationSparsity"] == pytest.approx(1 / 3)  # y = 2 m: zero at t0 only
    assert nb["ConnectionSparsity"] == pytest.approx(3 / 7)  # zeros: 1 synapse, 2 in W1, of 2 + 3 + 1 + 1
    assert nb["Footprint"] == 4 * (2 + 1 + 3 + 1 + 1 + 1 + 1 + 1)


def test_astro_lif_counts_key_value_query_and_astrocyte_state():
    # n = 2 neurons, one domain (m = 2), d_k = 1: K = [1, 0], V = [[1, 0], [0, 0]], Q = [0, 1], Lambda 0.5, c = 1.
    # Input [[1, 0], [0, 1], [0, 0]]. K, V, Q columns hold 2 (x0) and 1 (x1) nonzero weights -> 2 + 1 = 3 ACs; Dense
    # 3 x (2 + 4 + 2). k = [1, 0, 0], v = [[1, 0], 0, 0], q = [0, 1, 0]: v k^T has 1 nonzero product at t0; H = [1, 0]
    # then decays ([0.5, 0], [0.25, 0]): H q has 1 nonzero product at t1 -> 2 MACs; Dense 2 x 3 x (m d_k = 2).
    # Spikes (threshold 0.5, no leak): t0 u = [1, 0] -> [1, 0]; t1 u = [0, 1], o = H q = [0.5, 0] -> [0, 1]; t2 none.
    node = ir.AstroLIF(np.full(2, TAU), np.full(2, 0.5), 1.0, np.array([[0.5]]), np.array([[[1.0, 0.0]]]),
                       np.array([[[1.0, 0.0], [0.0, 0.0]]]), np.array([[[0.0, 1.0]]]), "none")
    x = torch.tensor([[1, 0], [0, 1], [0, 0]], dtype=torch.float32).reshape(3, 1, 2)
    c = count(ir.Graph.chain({"a": node}, (2,), 1.0), [x])
    nb = c.neurobench()
    assert nb["SynapticOperations"] == {"Effective_MACs": 2, "Effective_ACs": 3, "Dense": 24 + 12}
    (a,) = c.layers
    assert a.spikes_per_step.tolist() == [1, 1, 0] and not c.warnings
    assert (a.updates, a.active_updates, a.state_updates) == (6, 2, 6)
    assert nb["ConnectionSparsity"] == pytest.approx(5 / 8)


def test_conv1d_scale_and_the_nir_readouts_hand_counts():
    # Conv1d: L = 4, kernel [1, 0, 2], padding 1 -> output o reads positions o - 1, o, o + 1 through taps 0, 1, 2;
    # in-frame taps per output 2, 3, 3, 2 -> Dense 10 per step. The spike at p = 0 reaches o = 0 by tap 1 (weight 0)
    # and o = 1 by tap 0 (weight 1): 1 op; the spike at p = 3 reaches o = 2 by tap 2 (weight 2) and o = 3 by tap 1
    # (weight 0): 1 op. 2 ACs.
    w = np.array([[[1.0, 0.0, 2.0]]])
    g = ir.Graph.chain({"c": ir.Conv1d(w, None, 4, padding=1), "f": ir.Flatten((1, 4))}, (1, 4), 1.0)
    x = torch.tensor([1.0, 0, 0, 1]).reshape(1, 1, 1, 4)
    assert count(g, [x]).neurobench()["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 2, "Dense": 10}
    # Scale [2, 0, 1] on 2 steps of [1, 1, 0] (binary): gains 2 and 0 meet inputs 1, 1 -> 1 op per step (2 ACs);
    # Threshold 0.5 then spikes on [2, 0, 0] -> 1 spike per step; 3 comparisons per step, 1 active (nonzero input).
    g = ir.Graph.chain({"s": ir.Scale(np.array([2.0, 0.0, 1.0])), "t": ir.Threshold(np.full(3, 0.5)),
                        "i": ir.Integrator((3,))}, (3,), 1.0)
    x = torch.tensor([[1.0, 1, 0], [1, 1, 0]]).reshape(2, 1, 3)
    c = count(g, [x])
    nb = c.neurobench()
    assert nb["SynapticOperations"] == {"Effective_MACs": 0, "Effective_ACs": 2, "Dense": 6}
    assert c.layers[1].spikes_per_step.tolist() == [1, 1] and c.layers[1].active_updates == 2
    assert nb["MembraneUpdates"] == 3 * 2 + 3 * 2  # threshold comparisons + integrator updates
    assert c.layers[2].state_updates == 0
    # CubaLI: 2 neurons x 3 steps -> 6 membrane updates and 6 synaptic-current updates
    g = ir.Graph.chain({"r": ir.CubaLI(np.full(2, 10.0), np.full(2, 5.0), 1.0)}, (2,), 1.0)
    c = count(g, [torch.ones(3, 1, 2)])
    assert c.neurobench()["MembraneUpdates"] == 6 and c.layers[0].state_updates == 6 and not c.warnings


def test_every_ir_node_type_has_a_counter():
    # issue 11: every layer type the project has is counted (a new IR node type registers a counter and a docs row)
    from snn.energy.counting import COUNTERS

    assert sorted(name for name, cls in ir.NODE_TYPES.items() if cls not in COUNTERS) == []
