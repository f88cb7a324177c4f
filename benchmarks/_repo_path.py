"""Imported first by every benchmark script.

Run as a script, a benchmark's folder comes first on sys.path, and
``benchmarks/payments.py`` or ``benchmarks/biometrics.py`` would shadow the
packages of the same names: put the repository root there instead. The folder
stays on the path, last, so a process spawned from a benchmark (which starts
from this sys.path and imports the script again) still finds this module.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != BENCHMARKS)]
sys.path.append(str(BENCHMARKS))
