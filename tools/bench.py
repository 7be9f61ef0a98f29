#!/usr/bin/env python3
"""Measure the course's speed targets on this machine (``make bench``).

Figures, each measured ``--repeat`` times, reported as median and spread (min-max):

- every numbered notebook under nbval, as `make test-notebooks` runs them, in one pytest
  run (target: none over 120 s, all together at most 480 s);
- the training targets the notebooks report in a ``BENCH`` dict (test accuracy and
  training seconds): LeNet on MNIST (>= 99.0 % within 30 s) and the best small modern
  CNN on Fashion-MNIST (>= 91 % within 120 s);
- cnnlib's vectorized NumPy convolution, forward + backward, against
  ``torch.nn.functional.conv2d`` with autograd on a LeNet-sized and a VGG-block-sized
  layer (target: at most 3x), in the same run;
- with ``--setup``: a fresh clone to the first notebook running (target: 180 s).

Results go to ``build/bench/results.md`` and ``results.json`` with the CPU count and the
package versions. This is a benchmark, not a test: nothing here fails a build.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"


def nbval_args() -> list[str]:
    """The options of `make test-notebooks`: $NBVAL_ARGS (set by `make bench`), else the
    Makefile's ``NBVAL :=`` line, so that the Makefile stays the one place they are written."""
    if "NBVAL_ARGS" in os.environ:
        return os.environ["NBVAL_ARGS"].split()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("NBVAL :="):
            return line.split(":=", 1)[1].split()
    raise SystemExit("no NBVAL := line in the Makefile; run `make bench`")


# IPython startup file for the kernels nbval starts: after every cell, a notebook's BENCH dict
# (test accuracy and training seconds, set by notebooks 05 and 10) is written to
# $CNNLIB_BENCH_DIR/<kernel pid>.json. Nothing is printed, so nbval's comparisons are untouched.
KERNEL_STARTUP = """\
def _cnnlib_bench_hook():
    import json, os
    ip = get_ipython()

    def dump(result=None):
        bench = ip.user_ns.get("BENCH")
        if isinstance(bench, dict) and bench:
            with open(os.path.join(os.environ["CNNLIB_BENCH_DIR"], f"{os.getpid()}.json"), "w") as f:
                json.dump(bench, f)

    ip.events.register("post_run_cell", dump)


_cnnlib_bench_hook()
del _cnnlib_bench_hook
"""


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def _notebook_cases(junit_xml: Path):
    """(notebook name, testcase element) for every notebook cell in pytest's JUnit XML."""
    import re
    import xml.etree.ElementTree as ET

    if not junit_xml.exists():  # pytest died before writing it
        return
    for case in ET.parse(junit_xml).iter("testcase"):
        match = re.search(r"(\d\d_\w+)\.ipynb", case.get("classname", ""))  # notebooks.05_lenet_mnist.ipynb
        if match:
            yield match.group(1), case


def notebook_seconds(junit_xml: Path) -> dict[str, float]:
    """Seconds per notebook from pytest's JUnit XML: the sum of its cells' test times."""
    seconds: dict[str, float] = {}
    for name, case in _notebook_cases(junit_xml):
        seconds[name] = seconds.get(name, 0.0) + float(case.get("time", 0))
    return seconds


def notebook_failures(junit_xml: Path) -> dict[str, list[str]]:
    """Failed or erroring cells per notebook from pytest's JUnit XML: {notebook: [cell names]}."""
    failed: dict[str, list[str]] = {}
    for name, case in _notebook_cases(junit_xml):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.setdefault(name, []).append(case.get("name", "?"))
    return failed


def missing_datasets(root: Path) -> list[str]:
    """The datasets the notebooks train on whose raw files are not under ``root``."""
    return [d for d in ("MNIST", "FashionMNIST") if not any((root / d / "raw").glob("*-ubyte*"))]


def run_notebooks_nbval(paths: list[Path], tmp: Path) -> tuple[float, dict[str, float], dict, int, dict]:
    """All notebooks under nbval, as `make test-notebooks` runs them, in one pytest run.

    Returns (wall seconds, seconds per notebook, BENCH dicts merged, pytest exit code,
    failed cells per notebook)."""
    startup = tmp / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-cnnlib-bench.py").write_text(KERNEL_STARTUP)
    bench_dir = tmp / "bench"
    bench_dir.mkdir()
    xml = tmp / "nbval.xml"
    env = dict(os.environ, IPYTHONDIR=str(tmp / "ipython"), CNNLIB_BENCH_DIR=str(bench_dir))
    cmd = [sys.executable, "-m", "pytest", *nbval_args(), "-q",
           f"--junitxml={xml}", *map(str, paths)]
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    wall = time.perf_counter() - start
    bench: dict = {}
    for f in sorted(bench_dir.glob("*.json")):
        bench.update(json.loads(f.read_text()))
    return wall, notebook_seconds(xml), bench, code, notebook_failures(xml)


def bench_notebooks(repeat: int) -> dict:
    """Every numbered notebook under nbval, ``repeat`` times: wall time in all, time per
    notebook, and the training figures the notebooks report in ``BENCH``."""
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    walls, per_nb, benches, failed, failed_nbs = [], {}, [], 0, {}
    for run in range(1, repeat + 1):
        with tempfile.TemporaryDirectory() as tmp:
            wall, seconds, bench, code, failures = run_notebooks_nbval(paths, Path(tmp))
        walls.append(wall)
        benches.append(bench)
        failed += code != 0
        for name, cells in failures.items():
            failed_nbs.setdefault(name, sorted(set(cells)))
        for name, sec in seconds.items():
            per_nb.setdefault(name, []).append(sec)
        what = f" (FAILED: {', '.join(failures) or f'pytest exit {code}'})" if code else ""
        print(f"  run {run}: {wall:.0f} s under nbval{what}; {bench}", flush=True)
    training: dict = {}
    for key in sorted({k for b in benches for k in b}):
        for field in ("test_acc", "train_seconds"):
            vals = [b[key][field] for b in benches if key in b and field in b[key]]
            if vals:
                training.setdefault(key, {})[field] = stats(vals)
    return {"wall": stats(walls), "failed_runs": failed, "failed_notebooks": failed_nbs,
            "per_notebook": {name: stats(v) for name, v in sorted(per_nb.items())}, "training": training}


def bench_conv(repeat: int) -> dict:
    import torch
    import torch.nn.functional as F

    from cnnlib.ops import im2col

    layers = {
        "LeNet conv1 (64,1,28,28) 6x5x5 p2": ((64, 1, 28, 28), (6, 1, 5, 5), 2),
        "LeNet conv2 (64,6,14,14) 16x5x5": ((64, 6, 14, 14), (16, 6, 5, 5), 0),
        "VGG block (8,64,56,56) 64x3x3 p1": ((8, 64, 56, 56), (64, 64, 3, 3), 1),
    }
    rng = np.random.default_rng(0)
    out = {}
    for name, (xs, ws, pad) in layers.items():
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        b = rng.standard_normal(ws[0], dtype=np.float32)

        def numpy_step():
            y, cache = im2col.conv2d_forward(x, w, b, padding=pad)
            im2col.conv2d_backward(np.ones_like(y), cache)

        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))

        def torch_step():
            y = F.conv2d(tx, tw, tb, padding=pad)
            y.backward(torch.ones_like(y))

        def timeit(fn, n=5):
            fn()  # warm-up
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                runs.append((time.perf_counter() - start) / n)
            return runs

        tn, tt = timeit(numpy_step), timeit(torch_step)
        ratios = [a / b for a, b in zip(tn, tt)]
        out[name] = {"numpy_s": stats(tn), "torch_s": stats(tt), "ratio": stats(ratios)}
        print(f"  {name}: numpy {statistics.median(tn)*1e3:.1f} ms, torch {statistics.median(tt)*1e3:.1f} ms, "
              f"ratio {statistics.median(ratios):.2f}", flush=True)
    return out


def bench_setup(repeat: int) -> dict:
    """Fresh clone -> `make setup` -> notebook 00 runs.

    Each run starts with an empty uv cache, so packages come from the package index (or the
    wheel folders pip is configured with), not from an earlier run."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "course"
            start = time.perf_counter()
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            data = clone / "data"
            for d in ("MNIST", "FashionMNIST"):
                if (ROOT / "data" / d).exists():
                    shutil.copytree(ROOT / "data" / d, data / d)
            env = dict(os.environ, UV_CACHE_DIR=str(Path(tmp) / "uv-cache"))
            subprocess.run(["make", "-C", str(clone), "setup"], check=True, capture_output=True, env=env)
            subprocess.run([str(clone / ".venv/bin/python"), str(clone / "tools/build_notebook.py"),
                            str(clone / "notebooks/00_setup_and_tour.ipynb")], check=True, capture_output=True)
            runs.append(time.perf_counter() - start)
            print(f"  fresh clone to first notebook: {runs[-1]:.0f} s", flush=True)
    return {"seconds": stats(runs)}


def fmt(s: dict, scale: float = 1.0, unit: str = "s", digits: int = 1) -> str:
    return (f"{s['median']*scale:.{digits}f} {unit} ({s['min']*scale:.{digits}f}-{s['max']*scale:.{digits}f})").strip()


def report(res: dict) -> str:
    lines = [f"# Benchmark ({res['machine']['cpus']} CPUs, {res['machine']['processor']}, torch {res['versions']['torch']})",
             "", "Median (min-max) of the runs.", "", "| figure | measured | target | met |", "|---|---|---|---|"]
    nbs = res.get("notebooks")
    if nbs:
        for name, sec in nbs["per_notebook"].items():
            ok = sec["median"] <= 120
            lines.append(f"| notebook {name} under nbval | {fmt(sec)} | <= 120 s | {'yes' if ok else 'NO'} |")
        wall = nbs["wall"]
        ok = wall["median"] <= 480 and not nbs["failed_runs"]
        note = f", {nbs['failed_runs']} run(s) FAILED" if nbs["failed_runs"] else ""
        lines.append(f"| all notebooks under nbval (one pytest run{note}) | {fmt(wall, digits=0)} | <= 480 s | "
                     f"{'yes' if ok else 'NO'} |")
        targets = {"lenet": (0.990, 30), "modern_cnn": (0.91, 120)}
        for key, b in nbs["training"].items():
            acc_t, sec_t = targets.get(key, (None, None))
            if "test_acc" in b:
                ok = acc_t is None or b["test_acc"]["median"] >= acc_t
                lines.append(f"| {key} test accuracy | {fmt(b['test_acc'], 100, '%', 2)} | "
                             f">= {acc_t*100 if acc_t else '-'} % | {'yes' if ok else 'NO'} |")
            if "train_seconds" in b:
                ok = sec_t is None or b["train_seconds"]["median"] <= sec_t
                lines.append(f"| {key} training time | {fmt(b['train_seconds'])} | <= {sec_t} s | "
                             f"{'yes' if ok else 'NO'} |")
    for name, c in res.get("conv", {}).items():
        ok = c["ratio"]["median"] <= 3
        lines.append(f"| NumPy conv fwd+bwd / torch, {name} | {fmt(c['ratio'], 1, 'x', 2)} "
                     f"({c['numpy_s']['median']*1e3:.1f} vs {c['torch_s']['median']*1e3:.1f} ms) | <= 3x | "
                     f"{'yes' if ok else 'NO'} |")
    if "setup" in res:
        s = res["setup"]["seconds"]
        lines.append(f"| fresh clone to first notebook | {fmt(s, digits=0)} | <= 180 s | "
                     f"{'yes' if s['median'] <= 180 else 'NO'} |")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each figure (default 3)")
    ap.add_argument("--only", choices=["notebooks", "conv", "setup"], action="append",
                    help="measure only these (repeatable); default: notebooks and conv")
    ap.add_argument("--setup", action="store_true", help="also time a fresh clone to the first notebook")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    parts = args.only or (["notebooks", "conv"] + (["setup"] if args.setup else []))
    os.environ.setdefault("CNNLIB_DATA", str(ROOT / "data"))
    if "notebooks" in parts and (missing := missing_datasets(Path(os.environ["CNNLIB_DATA"]))):
        print(f"bench: {', '.join(missing)} not found under {os.environ['CNNLIB_DATA']} "
              "(every notebook would fail); see data/README.md", file=sys.stderr)
        return 2
    res: dict = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "versions": {p: version(p) for p in ("torch", "torchvision", "numpy", "nbval")},
    }
    if "conv" in parts:
        print("NumPy vs torch convolution:")
        res["conv"] = bench_conv(max(args.repeat, 5))
    if "notebooks" in parts:
        print("Notebooks:")
        res["notebooks"] = bench_notebooks(args.repeat)
    if "setup" in parts:
        print("Set-up:")
        res["setup"] = bench_setup(args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    md = report(res)
    (args.out / "results.md").write_text(md)
    print()
    print(md)
    print(f"written to {args.out}/results.md and results.json")
    nbs = res.get("notebooks")
    if nbs and nbs["failed_runs"]:
        where = "; ".join(f"{n}: {', '.join(c)}" for n, c in nbs["failed_notebooks"].items()) or "see the log above"
        print(f"bench: {nbs['failed_runs']} notebook run(s) FAILED ({where})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
