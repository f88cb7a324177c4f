"""Imported first by every benchmark script.

Run as a script, a benchmark's folder comes first on sys.path, and
``benchmarks/payments.py`` or ``benchmarks/biometrics.py`` would shadow the
packages of the same names: put the repository root there instead.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
