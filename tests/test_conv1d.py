"""snn.Conv1d: front end, IR node, torch backend and rebuild against an explicit-window numpy convolution."""

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.torch.simulator import build


def _reference(x: np.ndarray, w: np.ndarray, b, stride, padding, dilation, groups) -> np.ndarray:
    """conv1d of ``(N, C, L)`` written out window by window over the zero-padded input."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    c_out, c_in, k = w.shape
    length = (x.shape[2] - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((x.shape[0], c_out, length))
    for o in range(c_out):
        g = o // (c_out // groups)
        for j in range(length):
            window = x[:, g * c_in:(g + 1) * c_in, j * stride:j * stride + dilation * (k - 1) + 1:dilation]
            out[:, o, j] = (window * w[o]).sum(axis=(1, 2)) + (0 if b is None else b[o])
    return out


@pytest.mark.parametrize("kwargs", [dict(stride=1, padding=0, dilation=1, groups=1, bias=True),
                                    dict(stride=2, padding=2, dilation=2, groups=2, bias=False)])
def test_conv1d_matches_the_reference_on_every_path(kwargs):
    torch.manual_seed(0)
    m = snn.Conv1d(4, 6, 3, **kwargs).double()
    x = torch.randn(5, 2, 4, 11, dtype=torch.float64)
    b = None if m.bias is None else m.bias.detach().numpy()
    ref = _reference(x.flatten(0, 1).numpy(), m.weight.detach().numpy(), b, kwargs["stride"], kwargs["padding"],
                     kwargs["dilation"], kwargs["groups"]).reshape(5, 2, 6, -1)
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.step(x[0])[0].detach().numpy(), ref[0], rtol=1e-12, atol=1e-12)
    graph = snn.lower(m, (4, 11))
    node = graph.nodes["conv1d"]
    assert isinstance(node, ir.Conv1d) and graph.output_shape == ref.shape[2:]
    np.testing.assert_allclose(build(graph, dtype=torch.float64)(x).numpy(), ref, rtol=1e-5, atol=1e-5)
    rebuilt = snn.rebuild(graph)
    with torch.no_grad():
        assert torch.equal(rebuilt(x.float())[0], build(graph)(x.float()))


def test_conv1d_bad_input_and_parameters_are_named():
    with pytest.raises(ValueError, match=r"Conv1d: input: expected shape \(T, B, C, L\) with C = 2"):
        snn.Conv1d(2, 3, 3)(torch.zeros(4, 1, 3, 8))
    with pytest.raises(ValueError, match="Conv1d: padding: expected integer zero padding"):
        snn.Conv1d(2, 3, 3, padding="same")
    with pytest.raises(ValueError, match=r"lower: Conv1d expects input shape \(C=2, L\)"):
        snn.lower(snn.Conv1d(2, 3, 3), (2, 3, 8))
    with pytest.raises(ValueError, match="Conv1d: input_len: a length-2 input gives an empty output"):
        ir.Conv1d(np.ones((3, 2, 3)), None, 2)
    with pytest.raises(ValueError, match=r"Conv1d: bias: expected shape \(3,\)"):
        ir.Conv1d(np.ones((3, 2, 3)), np.ones(2), 8)


def test_conv1d_ir_file_round_trip(tmp_path):
    torch.manual_seed(1)
    graph = snn.lower(snn.Sequential(snn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2), snn.LIF((3, 4))), (2, 9))
    ir.save(graph, tmp_path / "g.h5")
    loaded = ir.load(tmp_path / "g.h5")
    node, back = graph.nodes["conv1d_0"], loaded.nodes["conv1d_0"]
    assert (back.input_len, back.stride, back.padding, back.dilation, back.groups) == (9, 2, 1, 2, 1)
    assert np.array_equal(back.weight, node.weight) and np.array_equal(back.bias, node.bias)
