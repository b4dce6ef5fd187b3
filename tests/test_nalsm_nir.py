"""NIR export of the frozen NALSM liquid (Linear + LIF, the refractory period kept for spikeforge with a warning)
and of the AM-SU-style unit (an error naming the node)."""

import pytest
import torch

import snn
import snn.models
from snn import ir
from snn.backends.nir import NIRConventionWarning, NIRError
from snn.nalsm import Liquid, LiquidConfig, to_ir


def test_frozen_liquid_exports_as_linear_and_lif_and_reads_back(tmp_path):
    liq = Liquid(8, LiquidConfig(side=3, seed=2))
    x = (torch.rand(40, 2, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    liq.run(x, "astro")
    graph = to_ir(liq)
    with pytest.warns(NIRConventionWarning, match=r"node 'liquid': NIR's LIF has no refractory period; refractory=2"):
        g = snn.export_nir(graph, tmp_path / "liquid.nir")
    assert {type(n).__name__ for n in g.nodes.values()} == {"Input", "Linear", "LIF", "Output"}
    back = snn.import_nir(tmp_path / "liquid.nir").graph
    node = back.nodes["liquid"]
    assert type(node) is ir.RefractoryLIF and node.refractory == 2 and node.recurrent_weight is not None
    want = snn.backends.get("torch").build(graph, dtype=torch.float64)(x.double())
    assert want.sum() > 10
    assert torch.equal(snn.backends.get("torch").build(back, dtype=torch.float64)(x.double()), want)


def test_astro_unit_export_is_an_error_naming_the_node():
    net = snn.models.build({"type": "astro", "hidden": [4], "groups": 1, "key_size": 2}, (3,), 2)
    with pytest.raises(NIRError, match=r"node 'astrolif_1': IR node type AstroLIF has no NIR mapping"):
        snn.export_nir(snn.lower(net))
