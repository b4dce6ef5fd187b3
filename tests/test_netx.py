"""netx export and reader without Lava: what the default export refuses, the reader's error for every malformed file
or manifest (naming the file and the field), the manifest cross-check, and hypothesis fuzzing of both files."""

import hashlib
import json
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snn import ir
from snn.backends.lava import lowering, netx, quantize
from snn.backends.lava.network import LavaNet

NET, MAN = "network.net", "manifest.json"


def graph(seed=0, reset="zero", delay=None, recurrent=True):
    rng = np.random.default_rng(seed)
    fc1 = (ir.DelayLinear(rng.normal(0, 0.5, (6, 5)), delay) if delay is not None
           else ir.Linear(rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.05, 6)))
    rec = rng.normal(0, 0.3, (6, 6)) if recurrent else None
    return ir.Graph.chain({"fc1": fc1, "lif1": ir.LIF(np.full(6, 6.0), np.full(6, 1.0), reset, 1.0, rec),
                           "fc2": ir.Linear(rng.normal(0, 0.5, (3, 6))),
                           "out": ir.LI(np.full(3, 12.0), 1.0)}, (5,), 1.0)


def fixed(g, netx_quant=True):
    return quantize.quantize(lowering.lower(g), quantize.QuantConfig(netx=netx_quant))


def assert_same(a: LavaNet, b: LavaNet):
    assert (a.input_shape, a.output_shape, a.precision, a.dt, a.out_scale) == \
           (b.input_shape, b.output_shape, b.precision, b.dt, b.out_scale)
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        assert x.name == y.name
        for s, t in ((x.synapse, y.synapse), (x.recurrent, y.recurrent)):
            assert (s is None) == (t is None)
            if s is not None:
                np.testing.assert_array_equal(s.weight, t.weight)
                assert (s.weight_exp, s.graded, s.max_delay) == (t.weight_exp, t.graded, t.max_delay)
                assert (s.delay is None) == (t.delay is None)
                if s.delay is not None:
                    np.testing.assert_array_equal(s.delay, t.delay)
        n, m = x.neuron, y.neuron
        assert (n.kind, n.n, n.du, n.dv, n.vth, n.bias_exp) == (m.kind, m.n, m.du, m.dv, m.vth, m.bias_exp)
        np.testing.assert_array_equal(n.bias_mant, m.bias_mant)


def rehash(out):
    """Rewrites manifest.json's SHA-256 fields after a deliberate edit (computed here with hashlib directly)."""
    m = json.loads((out / MAN).read_text())
    if isinstance(m, dict) and isinstance(m.get("sha256"), dict):
        rest = {k: v for k, v in m.items() if k != "sha256"}
        m["sha256"] = {NET: hashlib.sha256((out / NET).read_bytes()).hexdigest(),
                       MAN: hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
                       .hexdigest()}
    (out / MAN).write_text(json.dumps(m))


def edit_manifest(out, fn):
    m = json.loads((out / MAN).read_text())
    fn(m)
    (out / MAN).write_text(json.dumps(m))
    rehash(out)


def edit_h5(out, fn):
    with h5py.File(out / NET, "r+") as f:
        fn(f)
    rehash(out)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A default export (recurrent LIF + readout) and the network it holds."""
    out = netx.export(fixed(graph()), tmp_path_factory.mktemp("orig") / "exp", source="test")
    return out, netx.read(out)


@pytest.fixture
def copy(original, tmp_path):
    return shutil.copytree(original[0], tmp_path / "exp")


# --- export ---------------------------------------------------------------------------------------------------------

def test_default_export_round_trips_exactly_and_says_who_reads_it(tmp_path):
    net = fixed(graph(delay=np.random.default_rng(0).integers(0, 62, (6, 5)), recurrent=False))
    back = netx.read(netx.export(net, tmp_path / "a"))
    assert_same(back, net)
    m = json.loads((tmp_path / "a" / MAN).read_text())
    assert m["format"] == "lava-dl netx hdf5" and "netx.hdf5.Network" in m["note"] and "neuron.v" in m["note"]
    with h5py.File(tmp_path / "a" / NET) as f:  # what lava-dl reads: CUBA, no spikeforge fields
        assert f["layer/2/neuron/type"][()] == b"CUBA" and f["layer/2/neuron/vThMant"][()] == 2 ** 17
        assert not {"weightExp", "recurrentWeight"} & set(f["layer/1"])
    rec = fixed(graph())
    back = netx.read(netx.export(rec, tmp_path / "r"))
    assert_same(back, rec)
    with h5py.File(tmp_path / "r" / NET) as f:
        assert f["layer/1/type"][()] == b"dense_rec" and f["layer/1/weight_rec"].shape == (6, 6)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_export_folder_and_files_follow_the_umask(tmp_path, umask):
    import os

    old = os.umask(umask)
    try:
        out = netx.export(fixed(graph()), tmp_path / "e")
        netx.export(fixed(graph(seed=1)), out, overwrite=True)  # the replacing path too
    finally:
        os.umask(old)
    for p in (out, out / NET, out / MAN):
        want = (0o777 if p.is_dir() else 0o666) & ~umask
        assert p.stat().st_mode & 0o777 == want, f"{p}: {oct(p.stat().st_mode & 0o777)}, expected {oct(want)}"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["e"]  # no temporary or old folder left behind


@pytest.mark.parametrize("case,match", [
    ("subtract", r"layer 'lif1': reset 'subtract' cannot be expressed in lava-dl netx"),
    ("delay63", r"layer 'lif1': delay 63 steps: lava-dl netx clamps delays to 62"),
    ("rec_delay", r"layer 'lif1': a recurrent layer with delays cannot be expressed"),
    ("exponent", r"layer 'lif1': mixed-sign weights .*: netx clips them .*QuantConfig\(netx=True\)"),
])
def test_default_export_refuses_what_netx_cannot_express(tmp_path, case, match):
    d = np.zeros((6, 5), dtype=np.int64)
    d[0, 0] = 63 if case == "delay63" else 1
    g = graph(reset="subtract" if case == "subtract" else "zero", delay=d if "delay" in case else None,
              recurrent=case != "delay63")
    net = fixed(g, netx_quant=case != "exponent")
    with pytest.raises(ValueError, match=match):
        netx.export(net, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    out = netx.export(net, tmp_path / "ext", extensions=True)  # spikeforge's own layout takes it, and says so
    assert "readable by spikeforge only" in json.loads((out / MAN).read_text())["format"]
    assert_same(netx.read(out), net)


def test_netx_quantisation_has_exponent_zero_and_folds_a_negative_one():
    rng = np.random.default_rng(1)
    g = ir.Graph.chain({"fc": ir.Linear(rng.normal(0, 0.01, (4, 3))),  # tiny weights: exponent < 0 by default
                        "lif": ir.LIF(np.full(4, 5.0), np.full(4, 1.0), "zero", 1.0)}, (3,), 1.0)
    default, folded = fixed(g, False), fixed(g, True)
    assert default.layers[0].synapse.weight_exp < 0 and folded.layers[0].synapse.weight_exp == 0
    assert folded.layers[0].neuron.vth == default.layers[0].neuron.vth  # same scale S = m 2^e
    np.testing.assert_allclose(folded.layers[0].synapse.weight,
                               default.layers[0].synapse.weight * 2.0 ** default.layers[0].synapse.weight_exp, atol=1)


# --- reader: every malformed file names the file and the field -------------------------------------------------------

def _drop_layer(m):
    m["layers"].pop()
    m["latency_steps"] -= 1


BAD_MANIFESTS = [
    (lambda m: m.pop("dt_ms"), r"manifest.json: dt_ms: missing"),
    (lambda m: m.update(extra=1), r"manifest.json: extra: unknown field"),
    (lambda m: m.update(dt_ms="1"), r"manifest.json: dt_ms: expected a finite number > 0"),
    (lambda m: m.update(out_scale=float("nan")), r"manifest.json: out_scale: expected a finite number > 0"),
    (lambda m: m["layers"][0].pop("out"), r"manifest.json: layers\[0\].out: missing"),
    (lambda m: m["layers"].__setitem__(1, 5), r"manifest.json: layers\[1\]: expected an object"),
    (_drop_layer, r"manifest.json: layers: lists 1 layers; network.net has 2"),
    (lambda m: m["layers"][0].update({"in": 9}), r"manifest.json: layers\[0\].in: 9; layer/1 has 5"),
    (lambda m: m["layers"][1].update(out=4), r"manifest.json: layers\[1\].out: 4; layer/2 has 3"),
    (lambda m: m["layers"][0].update(recurrent=False), r"layers\[0\].recurrent: false; layer/1 has true"),
    (lambda m: m["layers"][1].update(kind="lif"), r"layers\[1\].kind: \"lif\"; layer/2 has \"readout\""),
    (lambda m: m["layers"][0].update(max_delay=3), r"layers\[0\].max_delay: 3; layer/1 has 0"),
    (lambda m: m.update(input_shape=[2, 3]), r"input_shape: \[2, 3\] \(6 inputs\); layer/0 has 5"),
    (lambda m: m.update(output_shape=[4]), r"output_shape: \[4\] \(4 outputs\); the last layer has 3"),
    (lambda m: m.update(format="netx v9"), r"manifest.json: format: expected one of"),
    (lambda m: m.update(latency_steps=7), r"latency_steps: expected the number of layers, 2"),
]


@pytest.mark.parametrize("fn,match", BAD_MANIFESTS)
def test_malformed_manifest_names_file_and_field(copy, fn, match):
    edit_manifest(copy, fn)
    with pytest.raises(ValueError, match=match):
        netx.read(copy)


def _set(path, value):
    def fn(f):
        del f[path]
        f[path] = value
    return fn


BAD_FILES = [
    (lambda f: f["layer/1/neuron"].__delitem__("vThMant"), r"network.net: layer/1/neuron/vThMant: missing"),
    (lambda f: f["layer"].__delitem__("2"), r"manifest.json: layers: lists 2 layers; network.net has 1"),
    (lambda f: f["layer/1"].__delitem__("neuron"), r"network.net: layer/1/neuron: missing"),
    (lambda f: f["layer/1"].create_dataset("wgtExp", data=3), r"network.net: layer/1/wgtExp: unknown field"),
    (_set("layer/1/weight", np.zeros((5, 6), np.int32)), r"layer/1/weight: expected shape \(6, 5\), got \(5, 6\)"),
    (_set("layer/1/weight", np.full((6, 5), 0.5)), r"layer/1/weight: expected integers"),
    (_set("layer/2/neuron/type", "LI"), r"layer/2/neuron/type: expected one of \['CUBA'\], got 'LI'"),
    (_set("layer/1/neuron/iDecay", "x"), r"layer/1/neuron/iDecay: expected integers"),
    (_set("layer/1/neuron/vDecay", 5000), r"layer/1/neuron/vDecay: expected values in 0..4095, got 5000..5000"),
    (_set("layer/1/neuron/vThMant", 2 ** 17), r"layer/1/neuron/vThMant: 131072 \(a readout that never fires\)"),
    (_set("layer/1/type", "conv"), r"layer/1/type: expected one of \['dense', 'dense_rec'\], got 'conv'"),
    (_set("layer/1/neuron", 3), r"layer/1/neuron: expected a group, got a dataset"),
    (_set("layer/0/type", "dense"), r"layer/0/type: expected one of \['input'\]"),
    (_set("layer/1/bias", np.zeros(5, np.int32)), r"layer/1/bias: expected shape \(6,\)"),
    (_set("layer/1/shape", np.array([10 ** 8] * 3)), r"layer/1/shape: expected 1 to 3 positive sizes, at most"),
    (_set("layer/1/weight_rec", np.full((6, 6), 1000, np.int32)), r"layer/1/weight_rec: weights 1000..1000"),
]


@pytest.mark.parametrize("fn,match", BAD_FILES)
def test_malformed_hdf5_names_file_and_field(copy, fn, match):
    edit_h5(copy, fn)
    with pytest.raises(ValueError, match=match):
        netx.read(copy)


def test_unreadable_inputs_name_the_file(copy, tmp_path):
    (copy / MAN).write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest.json: expected the export's JSON manifest"):
        netx.read(copy)
    with pytest.raises(ValueError, match=r"nowhere: does not exist"):
        netx.read(tmp_path / "nowhere")
    assert issubclass(netx.NetxFormatError, ValueError)


def test_changed_bytes_are_caught_by_the_hashes(copy, original):
    data = bytearray((copy / NET).read_bytes())
    data[len(data) // 2] ^= 0x10
    (copy / NET).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"network.net: does not match the SHA-256 in .*manifest.json"):
        netx.read(copy)
    shutil.copy(original[0] / NET, copy / NET)
    (copy / MAN).write_text((copy / MAN).read_text().replace('"dt_ms": 1.0', '"dt_ms": 2.0'))
    with pytest.raises(ValueError, match=r"manifest.json: sha256: the manifest's content does not match"):
        netx.read(copy)


def test_exports_written_before_the_hashes_still_load(tmp_path):
    """A manifest of the earlier spikeforge layout (no hashes, no note) reads as the extension layout it is."""
    net = fixed(graph(reset="subtract"), False)
    out = netx.export(net, tmp_path / "old", extensions=True)

    def legacy(m):
        for k in ("note", "input_message_bits", "sha256"):
            m.pop(k)
        for la in m["layers"]:
            la.pop("kind")
        m["format"] = netx.LEGACY_FORMAT

    edit_manifest(out, legacy)
    assert_same(netx.read(out), net)


# --- fuzzing --------------------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(which=st.sampled_from([NET, MAN]), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                                    st.integers(1, 255)), min_size=1, max_size=4))
def test_fuzz_flipped_bytes_read_back_equal_or_fail_clearly(original, tmp_path_factory, which, flips):
    out = shutil.copytree(original[0], tmp_path_factory.mktemp("flip") / "exp")
    data = bytearray((out / which).read_bytes())
    for pos, mask in flips:
        data[int(pos * len(data))] ^= mask
    (out / which).write_bytes(bytes(data))
    try:
        back = netx.read(out)
    except netx.NetxFormatError:
        return
    assert_same(back, original[1])


def _paths(f):
    items = []
    f.visit(items.append)
    return sorted(items)


JUNK = st.one_of(st.integers(-2 ** 40, 2 ** 40), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                 st.lists(st.integers(-300, 300), min_size=0, max_size=7),
                 st.lists(st.lists(st.integers(-300, 300), min_size=3, max_size=3), min_size=1, max_size=7))


@FUZZ
@given(index=st.integers(0, 10 ** 6), action=st.sampled_from(["delete", "replace", "add"]), value=JUNK)
def test_fuzz_edited_hdf5_reads_a_valid_network_or_fails_clearly(original, tmp_path_factory, index, action, value):
    """Deliberate edits (hashes rewritten): a missing, unknown or retyped field is a NetxFormatError, never a
    KeyError/TypeError; an edit that happens to be valid reads a network that passes every range check."""
    out = shutil.copytree(original[0], tmp_path_factory.mktemp("h5") / "exp")

    def mutate(f):
        path = _paths(f)[index % len(_paths(f))]
        if action == "add":
            target = path if isinstance(f[path], h5py.Group) else path.rsplit("/", 1)[0]
            f[f"{target}/fuzz"] = np.asarray(value) if not isinstance(value, str) else value
            return
        del f[path]
        if action == "replace":
            f[path] = np.asarray(value) if not isinstance(value, str) else value

    edit_h5(out, mutate)
    try:
        back = netx.read(out)
    except netx.NetxFormatError:
        return
    quantize.validate(back)


MANIFEST_JUNK = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 2 ** 40), st.text(max_size=5),
                                       st.floats(allow_nan=False)),
                             lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                             max_leaves=6)


@FUZZ
@given(index=st.integers(0, 10 ** 6), action=st.sampled_from(["delete", "replace"]), value=MANIFEST_JUNK)
def test_fuzz_edited_manifest_reads_or_fails_clearly(original, tmp_path_factory, index, action, value):
    out = shutil.copytree(original[0], tmp_path_factory.mktemp("man") / "exp")

    def mutate(m):
        slots = [(m, k) for k in m if k != "sha256"] + [(la, k) for la in m["layers"] for k in la]
        obj, key = slots[index % len(slots)]
        if action == "delete":
            del obj[key]
        else:
            obj[key] = value

    edit_manifest(out, mutate)
    try:
        back = netx.read(out)
    except netx.NetxFormatError:
        return
    quantize.validate(back)
    assert len(back.layers) == len(original[1].layers)
