#!/usr/bin/env python
"""RIR simulation throughput: audiosynth.rir against pyroomacoustics, in RIRs per second.

One RIR is one (source, microphone) pair; every method simulates a 6x5x3 m room at 16 kHz
with 4 sources and 4 microphones, for each RT60, ``--repeats`` times (interleaved), and the
median wall time of a call is reported, with its ratio to pyroomacoustics' ISM.

- ``pra_ism``: ``simulate_pra(method="ism")``: pyroomacoustics ShoeBox, max_order from
  ``pra.inverse_sabine`` (its documented recipe), one thread.
- ``pra_hybrid``: ``simulate_pra(method="hybrid")``: ISM to order 3 + ray tracing.
- ``ism_numpy`` / ``ism_torch_cpu`` / ``ism_torch_cuda``: ``simulate_ism`` (default: images of
  the first 80 ms + diffuse tail; ``--full-ism``: images up to pyroomacoustics' order, no tail,
  like for like with ``pra_ism``). CUDA is skipped, with a note, where it is not available.

Each method is called once untimed first (imports, caches). Results are merged into
``benchmarks/results/rir.json`` under the mode ("tail" or "full_ism").
Run ``python benchmarks/bench_rir.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from audiosynth.acoustics import ism as rir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "rir.json"
SIZE = (6.0, 5.0, 3.0)
SOURCES = ((1.2, 1.0, 1.6), (4.8, 1.3, 1.2), (2.0, 4.0, 1.7), (5.0, 3.9, 1.4))
MICS = ((2.9, 2.4, 1.2), (2.95, 2.4, 1.2), (3.0, 2.4, 1.2), (3.05, 2.4, 1.2))  # 5 cm linear array
FS = 16000
METHODS = ("pra_ism", "pra_hybrid", "ism_numpy", "ism_torch_cpu", "ism_torch_cuda")


def simulator(method: str, full_ism: bool) -> Callable[..., Any] | str:
    """A function ``f(sources, mics, rt60)`` for ``method``, or the reason it cannot run here."""
    early = {"early_s": None} if full_ism else {}
    if method.startswith("pra_"):
        kind = method[4:]
        return lambda s, m, rt: rir.simulate_pra(SIZE, s, m, FS, rt60_s=rt, method=kind)
    if method == "ism_numpy":
        return lambda s, m, rt: rir.simulate_ism(SIZE, s, m, FS, rt60_s=rt, **early)
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if method == "ism_torch_cpu":
        return lambda s, m, rt: rir.simulate_ism(SIZE, s, m, FS, rt60_s=rt, backend="torch", **early)
    if not torch.cuda.is_available():
        return "CUDA is not available on this machine"

    def on_cuda(s: Any, m: Any, rt: float) -> Any:
        out = rir.simulate_ism(SIZE, s, m, FS, rt60_s=rt, backend="torch", device="cuda", **early)
        torch.cuda.synchronize()
        return out

    return on_cuda


def timed(fn: Callable[..., Any], rt60: float) -> float:
    """Wall seconds of one call with all sources and microphones."""
    start = time.perf_counter()
    fn(SOURCES, MICS, rt60)
    return time.perf_counter() - start


def versions() -> dict[str, Any]:
    """What the numbers depend on."""
    import pyroomacoustics

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyroomacoustics": pyroomacoustics.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "processor": platform.processor(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rt60", type=float, nargs="+", default=[0.3, 0.7, 1.2], help="RT60s to simulate (s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per (method, RT60); the median is reported")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods to measure")
    parser.add_argument("--full-ism", action="store_true", help="simulate_ism without the tail (early_s=None): all images")
    parser.add_argument("--json", type=Path, default=RESULTS, help="results file (merged by mode)")
    args = parser.parse_args()
    pairs = len(SOURCES) * len(MICS)
    runnable: dict[str, Callable[..., Any]] = {}
    for method in args.methods:
        fn = simulator(method, args.full_ism)
        if isinstance(fn, str):
            print(f"note: skipping {method}: {fn}")
            continue
        fn(SOURCES[:1], MICS[:1], 0.3)  # warm-up: imports, lazy initialisation
        runnable[method] = fn
    times: dict[tuple[str, float], list[float]] = {(m, rt): [] for m in runnable for rt in args.rt60}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every method
        for rt60 in args.rt60:
            for method, fn in runnable.items():
                times[method, rt60].append(timed(fn, rt60))
    rows = []
    for rt60 in args.rt60:
        reference = statistics.median(times["pra_ism", rt60]) if ("pra_ism", rt60) in times else None
        for method in runnable:
            median = statistics.median(times[method, rt60])
            rows.append(
                {
                    "method": method,
                    "rt60_s": rt60,
                    "median_s": median,
                    "rirs_per_s": pairs / median,
                    "vs_pra_ism": None if reference is None else reference / median,
                    "runs_s": times[method, rt60],
                }
            )
    mode = "full_ism" if args.full_ism else "tail"
    print(f"\n{mode}: 6x5x3 m room, {FS} Hz, {len(SOURCES)} sources x {len(MICS)} mics, median of {args.repeats}")
    print(f"{'method':<16}{'RT60 s':>8}{'median s':>11}{'RIRs/s':>10}{'x pra_ism':>11}")
    for row in rows:
        ratio = "-" if row["vs_pra_ism"] is None else f"{row['vs_pra_ism']:.2f}"
        print(f"{row['method']:<16}{row['rt60_s']:>8.1f}{row['median_s']:>11.4f}{row['rirs_per_s']:>10.1f}{ratio:>11}")
    report = json.loads(args.json.read_text()) if args.json.exists() else {}
    report[mode] = {
        "date": date.today().isoformat(),
        "room_m": SIZE,
        "sample_rate": FS,
        "sources": len(SOURCES),
        "mics": len(MICS),
        "repeats": args.repeats,
        "versions": versions(),
        "results": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
