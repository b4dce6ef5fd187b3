"""The Python examples in the README and the foundation docs run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/architecture.md", "docs/neurons.md", "docs/nir.md", "docs/encoders.md", "docs/energy.md",
         "docs/elm.md", "docs/astrocytes.md", "docs/performance.md"]


def _blocks(page):
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


def _registries():
    import importlib

    from snn import ir
    from snn.backends.torch import simulator

    lowering = importlib.import_module("snn.lower")  # the module, not the function snn.lower
    return ir.NODE_TYPES, lowering.LOWERINGS, simulator.NODE_KERNELS, simulator.TRACE_KERNELS


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page):
    blocks = _blocks(page)
    assert blocks, f"{page} has no python example"
    # an example may register a node type, a lowering or a kernel (architecture.md does): they are removed after
    # it, so that later tests in this process see only the project's own
    before = [set(r) for r in _registries()]
    try:
        for code in blocks:
            exec(compile(code, page, "exec"), {"__name__": "docs_example"})
    finally:
        for registry, keys in zip(_registries(), before):
            for key in set(registry) - keys:
                del registry[key]


def _section(page, title):
    """The text of the section headed ``title`` (up to the next heading of the same or a higher level)."""
    text = (ROOT / page).read_text()
    level = re.search(rf"^(#+) {re.escape(title)}$", text, flags=re.M)
    assert level, f"{page} has no section {title!r}"
    rest = text[level.end():]
    end = re.search(rf"^#{{1,{len(level.group(1))}}} ", rest, flags=re.M)
    return rest[:end.start()] if end else rest


def _table_rows(text, header):
    lines = text[text.index(header):].splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]


def test_architecture_ir_table_matches_the_lowering_registry():
    import dataclasses

    import torch
    from torch import nn

    import snn
    from snn import ir
    from snn.lower import LOWERINGS

    samples = {  # one small instance and its input shape per registered module type
        snn.Linear: (lambda: snn.Linear(3, 2), (3,)), snn.Conv2d: (lambda: snn.Conv2d(1, 2, 3), (1, 5, 5)),
        snn.Flatten: (lambda: snn.Flatten((2, 3)), (2, 3)), snn.LIF: (lambda: snn.LIF(3), (3,)),
        snn.CubaLIF: (lambda: snn.CubaLIF(3), (3,)), snn.LI: (lambda: snn.LI(3), (3,)),
        snn.DelayedLinear: (lambda: snn.DelayedLinear(3, 2, 5), (3,)),
        snn.AxonalDelayedLinear: (lambda: snn.AxonalDelayedLinear(3, 2, 5), (3,)),
        snn.SequenceBatchNorm: (lambda: snn.SequenceBatchNorm(3).eval(), (3,)),
        snn.SequenceDropout: (lambda: snn.SequenceDropout(0.2), (3,)),
        nn.Dropout: (lambda: nn.Dropout(0.2), (3,)), nn.Identity: (lambda: nn.Identity(), (3,)),
        snn.IF: (lambda: snn.IF(3), (3,)), snn.AdLIF: (lambda: snn.AdLIF(3), (3,)),
        snn.SumPool2d: (lambda: snn.SumPool2d(2), (1, 4, 4)), snn.AvgPool2d: (lambda: snn.AvgPool2d(2), (1, 4, 4)),
        snn.ELM: (lambda: snn.ELM(3, 2, memory_units=4), (3,)),
        snn.BranchELM: (lambda: snn.BranchELM(3, 2, memory_units=4, branches=2, synapses_per_branch=2), (3,)),
        snn.AstroLIF: (lambda: snn.AstroLIF(4, groups=2, key_size=3), (4,)),
        snn.CubaLI: (lambda: snn.CubaLI(3), (3,)), snn.Integrator: (lambda: snn.Integrator(3), (3,)),
        snn.Scale: (lambda: snn.Scale(3), (3,)), snn.Threshold: (lambda: snn.Threshold(3), (3,)),
        snn.Conv1d: (lambda: snn.Conv1d(2, 3, 3), (2, 8)),
    }
    rows = _table_rows(_section("docs/architecture.md", "The IR"), "| front-end module | IR node |")
    documented = {}
    for modules, node in rows:
        match = re.match(r"`(\w+)\(([^)]*)\)`", node)
        assert match or node.startswith("nothing"), f"IR table: cannot read the node cell {node!r}"
        for name in re.findall(r"`([\w.]+)`", modules):
            owner, attr = name.split(".")
            documented[{"snn": snn, "nn": nn}[owner].__dict__[attr]] = match and (match.group(1), match.group(2))
    registered = {t for t in LOWERINGS if t.__module__.startswith(("snn.", "torch."))}
    assert set(documented) == registered, "the IR table and snn.lower's registry list different modules"
    torch.manual_seed(0)
    for module_type, entry in documented.items():
        make, shape = samples[module_type]
        node = LOWERINGS[module_type](make(), shape)
        assert (type(node).__name__ if node is not None else None) == (entry and entry[0]), module_type
        if entry:
            fields = {f.name for f in dataclasses.fields(ir.NODE_TYPES[entry[0]])}
            listed = {f.strip() for f in entry[1].split(",")} - {"..."}
            assert listed <= fields, f"IR table: {entry[0]} has no field(s) {listed - fields}"


def test_architecture_backends_are_the_registered_ones():
    import snn

    listed = re.findall(r"^- `([\w-]+)` \(", _section("docs/architecture.md", "Backends"), flags=re.M)
    assert sorted(listed) == sorted(b.name for b in snn.backends.available())


def test_architecture_folder_map_names_real_files_and_every_package():
    block = re.search(r"```\n(snn/.*?)\ntests/", _section("docs/architecture.md", "Folder map"), flags=re.S).group(1)
    named = set(re.findall(r"\b[\w.]+\.py\b|\b\w+/(?=\s)", block)) - {"snn/"}
    files = {p.name for p in (ROOT / "snn").rglob("*.py")} | {p.name + "/" for p in (ROOT / "snn").rglob("*")
                                                               if p.is_dir() and p.name != "__pycache__"}
    assert named <= files, f"not in snn/: {sorted(named - files)}"
    packages = {p.parent.name + "/" for p in (ROOT / "snn").glob("*/__init__.py")}
    packages |= {p.parent.name + "/" for p in (ROOT / "snn" / "backends").glob("*/__init__.py")}
    modules = {p.name for p in (ROOT / "snn").glob("*.py")} - {"__main__.py"}
    assert packages | modules <= named, f"missing from the folder map: {sorted((packages | modules) - named)}"


def test_backend_modules_import_no_front_end():
    # docs/architecture.md: a backend reads only the IR; only its command-line code loads checkpoints.
    import ast

    front_end = {"neurons", "synapses", "layers", "container", "lower", "models", "surrogate", "train"}
    for path in (ROOT / "snn" / "backends").rglob("*.py"):
        if path.name in ("cli.py", "demo.py"):
            continue
        package = list(path.relative_to(ROOT).parent.parts)
        imported = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
                if node.module:
                    imported.append(f"{base}.{node.module}" if base else node.module)
                else:
                    imported += [f"{base}.{a.name}" for a in node.names]
        bad = [m for m in imported if m.startswith("snn.") and m.split(".")[1] in front_end]
        assert not bad, f"{path.relative_to(ROOT)} imports front-end modules {bad}"
