"""The Python examples in the README and the foundation docs run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/architecture.md", "docs/neurons.md"]


def _blocks(page):
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page):
    blocks = _blocks(page)
    assert blocks, f"{page} has no python example"
    for code in blocks:
        exec(compile(code, page, "exec"), {"__name__": "docs_example"})
