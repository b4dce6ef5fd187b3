"""Runs every ``benchmarks/bench_*.py`` in turn (``make bench``); each writes its section of docs/benchmarks.md."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    if subprocess.run([sys.executable, str(script)], cwd=here).returncode:
        failed.append(script.name)
sys.exit(f"failed: {failed}" if failed else 0)
