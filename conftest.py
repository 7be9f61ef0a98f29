"""pytest set-up shared by the unit tests and the nbval notebook run.

- stderr (tqdm progress bars, warnings) is never compared against stored outputs;
- kernels started by nbval inherit CNNLIB_DATA, a fixed hash seed and a passive OpenMP
  wait policy from here.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("CNNLIB_DATA", str(ROOT / "data"))
os.environ.setdefault("PYTHONHASHSEED", "0")
# Idle OpenMP threads sleep instead of spinning: `make test-notebooks` runs two kernels
# at a time on two cores, and a spinning pool steals the other kernel's core. Only the
# wait changes, not thread counts, so no stored output depends on it. Set here, the one
# place every pytest run (make test-notebooks, make bench, a plain pytest) goes through.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
# nbval is the harness here: notebooks check their own claims with asserts.
os.environ.setdefault("CNNLIB_UNDER_TEST", "1")


def pytest_collectstart(collector):
    # nbval's notebook collector has `skip_compare`; leave stderr out of comparison.
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)
