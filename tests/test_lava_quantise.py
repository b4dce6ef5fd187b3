"""Quantisation never collapses silently: each loss beyond the tolerance is an error (a warning with lossy=True)
naming the layer, the front-end parameter and the precision lost; range errors name front-end parameters."""

import math
import warnings

import numpy as np
import pytest

from snn import ir
from snn.backends.lava import lowering, quantize
from snn.backends.lava.quantize import QuantConfig, QuantisationError, QuantisationWarning


def graph(*, w1=1.0, rec=None, threshold=1.0, tau_mem=10.0, bias=None, seed=0):
    rng = np.random.default_rng(seed)
    return ir.Graph.chain({
        "fc1": ir.Linear(rng.normal(0, 0.5, (16, 8)) * w1, bias),
        "lif1": ir.LIF(np.full(16, tau_mem), np.full(16, threshold), "zero", 1.0, rec),
        "fc2": ir.Linear(rng.normal(0, 0.5, (3, 16))),
        "out": ir.LI(np.full(3, 20.0), 1.0)}, (8,), 1.0)


def cuba(tau_syn, dt=1.0):
    return ir.Graph.chain({"fc": ir.Linear(np.array([[1.0], [0.5]])),
                           "cuba": ir.CubaLIF(np.full(2, 20.0), np.ones(2), "zero", dt, tau_syn=np.full(2, tau_syn))},
                          (1,), dt)


def q(g, **cfg):
    return quantize.quantize(lowering.lower(g), QuantConfig(**cfg))


def test_huge_weights_do_not_quantise_the_threshold_to_zero():
    with pytest.raises(QuantisationError, match=r"layer 'lif1': threshold 1 against weights of 'fc1' up to .* "
                                                r"rounds to 0 \(relative error 100.0%\)"):
        q(graph(w1=1e6))


def test_recurrent_weights_do_not_zero_the_feed_forward_ones():
    rec = np.random.default_rng(1).normal(0, 0.5, (16, 16)) * 1e4
    with pytest.raises(QuantisationError, match=r"layer 'lif1': weights of 'fc1': relative RMS error 100.0% .* "
                                                r"128 of 128 nonzero weights rounded to 0 .*recurrent ones are"):
        q(graph(rec=rec))


def test_tiny_threshold_is_not_silently_coarse():
    g = graph(threshold=1e-4)
    with pytest.raises(QuantisationError, match=r"layer 'lif1': threshold 0.0001 .*relative error"):
        q(g)
    with pytest.warns(QuantisationWarning, match=r"'lif1': threshold 0.0001"):
        net = q(g, lossy=True)
    # the reported error is the real one: |vth - threshold S| / (threshold S), recomputed here
    l1 = net.layers[0]
    s = 254 / np.abs(g.nodes["fc1"].weight).max() * 2.0 ** l1.synapse.weight_exp
    assert l1.synapse.weight_exp == 7 and abs(l1.neuron.vth - 1e-4 * s) / (1e-4 * s) > 0.05


def test_long_tau_mem_is_not_silently_no_leak():
    with pytest.raises(QuantisationError, match=r"layer 'lif1': tau_mem = 1e\+05 ms at dt = 1 ms: .*no leak"):
        q(graph(tau_mem=1e5))


def test_tau_syn_errors_name_tau_syn_not_du():
    with pytest.raises(QuantisationError, match=r"layer 'cuba': tau_syn = 1e\+05 ms") as e:
        q(cuba(1e5))
    assert "du" not in str(e.value).replace("dt", "")
    with pytest.warns(QuantisationWarning, match="tau_syn"):
        net = q(cuba(1e5), lossy=True)
    assert net.layers[0].neuron.du == 0  # the slowest decay Loihi has (du = -1 does not exist)


@pytest.mark.parametrize("tau", [500.0, 900.0, 1500.0, 3000.0])
def test_time_constant_error_is_the_steady_state_gain_error(tau):
    """Relative error of 1 / (1 - decay), recomputed independently; the tolerance decides error or not."""
    d = 1 - math.exp(-1.0 / tau)
    rel = abs(4096 * d / round(4096 * d) - 1)
    if rel > 0.05:
        with pytest.raises(QuantisationError, match=rf"{rel:.1%}".replace(".", r"\.")):
            q(graph(tau_mem=tau))
    else:
        q(graph(tau_mem=tau))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = q(graph(tau_mem=tau), tolerance=min(0.99, rel + 0.01))
    assert net.layers[0].neuron.dv == round(4096 * d)


def test_tiny_weights_name_the_weights_not_vth():
    with pytest.raises(QuantisationError, match=r"layer 'lif1': weights of 'fc1': expected the largest weight "
                                                r"above threshold / .*scale the weights up") as e:
        q(graph(w1=1e-6))
    assert "vth" not in str(e.value)


def test_bias_out_of_range_names_the_bias_in_thresholds():
    with pytest.raises(QuantisationError, match=r"layer 'lif1': bias of 'fc1': expected \|bias\| <= .*got 50 = 50 "
                                                r"thresholds per step"):
        q(graph(bias=np.full(16, 50.0)))


def test_delay_error_names_the_neuron_layer_and_the_synapse():
    d = np.zeros((16, 8), int)
    d[0, 0] = 70
    g = ir.Graph.chain({"dl": ir.DelayLinear(np.ones((16, 8)), d),
                        "lif1": ir.LIF(np.full(16, 10.0), np.ones(16), "zero", 1.0)}, (8,), 1.0)
    with pytest.raises(ValueError, match=r"layer 'lif1' \(LIF\), input synapse 'dl': delay: expected at most 63 "
                                         r"steps .*got 70"):
        lowering.lower(g)


@pytest.mark.parametrize("seed", range(4))
def test_ordinary_networks_pass_without_a_warning(seed):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = q(graph(seed=seed, rec=rng.normal(0, 0.3, (16, 16)), tau_mem=float(rng.uniform(2, 200)),
                      bias=rng.normal(0, 0.05, 16)))
    assert 2 ** 11 < net.layers[0].neuron.vth <= 2 ** 12
    q(cuba(5.0))


def test_quant_config_is_checked():
    with pytest.raises(ValueError, match="tolerance"):
        QuantConfig(tolerance=0.0)
    assert issubclass(QuantisationError, ValueError)


def test_snn_export_refuses_a_lossy_model_unless_asked(tmp_path, capsys):
    from snn.cli import main

    ir.save(graph(tau_mem=1e5), tmp_path / "m.h5")
    assert main(["export", str(tmp_path / "m.h5"), "--out", str(tmp_path / "a")]) == 2
    assert "layer 'lif1': tau_mem = 1e+05 ms" in capsys.readouterr().err and not (tmp_path / "a").exists()
    with pytest.warns(QuantisationWarning, match="tau_mem"):
        assert main(["export", str(tmp_path / "m.h5"), "--out", str(tmp_path / "b"), "--lossy"]) == 0
    assert (tmp_path / "b" / "network.net").is_file()
