#!/usr/bin/env python
"""Convolution throughput: the batched ``kernels.fft_convolve`` against a loop of ``scipy.signal.fftconvolve``.

One call convolves every source with its RIR at every microphone and keeps the first L samples:
``fft_convolve(dry (S, 1, L), rirs (S, M, K), L)``, against the loop one writes by hand,
``[fftconvolve(dry[s, 0], rirs[s, m])[:L] for s in range(S) for m in range(M)]``.

- ``scipy_loop``: that loop (scipy.fft, one thread).
- ``numpy``: ``fft_convolve(..., backend="numpy")`` (scipy.fft, one thread; overlap-add in blocks
  of 65536 samples once L > 4 blocks, i.e. for the 30 s signals).
- ``torch_cpu``: ``backend="torch"`` on the CPU with ``--torch-threads`` threads (default 1, as in
  build workers); ``torch_cuda``: on a GPU, float32, skipped (and said so) without one.

Shapes are every combination of ``--pairs`` (S x M), ``--signal-s`` and ``--rir-s`` at 16 kHz, on
Gaussian signals and exponentially decaying Gaussian RIRs. Each run is a fresh interpreter that
times every shape for one method (an untimed pass over all shapes, then the median of ``--calls`` calls);
runs are interleaved per repeat (loop, numpy, torch, ...), and a ratio is the median over repeats of
the ratio to the loop within a repeat. The first repeat also checks each method against the loop
(largest difference relative to the largest sample). Results: ``benchmarks/results/convolve.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "convolve.json"
RATE = 16000
METHODS = ("scipy_loop", "numpy", "torch_cpu", "torch_cuda")
Shape = tuple[int, int, int, int]  # S, M, L, K


def shapes(args: argparse.Namespace) -> list[Shape]:
    """Every (S, M, L, K) of the arguments, L and K in samples."""
    pairs = [tuple(int(v) for v in p.split("x")) for p in args.pairs]
    return [(s, m, round(sig * RATE), round(rir * RATE)) for (s, m), sig, rir in itertools.product(pairs, args.signal_s, args.rir_s)]


def inputs(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Dry signals ``(S, 1, L)`` and RIRs ``(S, M, K)`` (Gaussian, decaying 60 dB over K)."""
    s, m, length, taps = shape
    rng = np.random.default_rng(list(shape))
    decay = 10.0 ** (-3 * np.arange(taps) / taps)
    return rng.standard_normal((s, 1, length)), rng.standard_normal((s, m, taps)) * decay


def skip_reason(method: str) -> str | None:
    """Why ``method`` cannot run here, or None."""
    if method.startswith("torch"):
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        if method == "torch_cuda" and not torch.cuda.is_available():
            return "CUDA is not available on this machine"
    return None


def convolver(method: str, torch_threads: int) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """A function ``f(dry, rirs, L) -> (S, M, L)`` for ``method``."""
    if method == "scipy_loop":
        from scipy.signal import fftconvolve

        def loop(dry: np.ndarray, rirs: np.ndarray, length: int) -> np.ndarray:
            return np.stack([np.stack([fftconvolve(dry[s, 0], h)[:length] for h in rirs[s]]) for s in range(len(rirs))])

        return loop
    from audiosynth.dsp import kernels
    from audiosynth.dsp.backend import to_numpy

    if method.startswith("torch"):
        import torch

        torch.set_num_threads(torch_threads)
    backend, device = ("numpy", "cpu") if method == "numpy" else ("torch", "cuda" if method == "torch_cuda" else "cpu")
    # NumPy in and out, as a writer gets it: the transfer to and from the device is part of the cost
    return lambda dry, rirs, length: to_numpy(kernels.fft_convolve(dry, rirs, length, backend=backend, device=device))


def run_once(method: str, args: argparse.Namespace, check: bool) -> list[dict[str, Any]]:
    """Time ``method`` on every shape: one untimed pass over all shapes (imports, FFT plans, heap),
    then per shape the median of ``args.calls`` calls; with ``check``, also the largest difference
    to the loop's result, relative to the loop's largest sample."""
    convolve = convolver(method, args.torch_threads)
    for shape in shapes(args):
        convolve(*inputs(shape), shape[2])
    rows = []
    for shape in shapes(args):
        dry, rirs = inputs(shape)
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            out = convolve(dry, rirs, shape[2])
            times.append(time.perf_counter() - start)
        row: dict[str, Any] = {"shape": list(shape), "seconds": statistics.median(times)}
        if check:
            reference = convolver("scipy_loop", 1)(dry, rirs, shape[2])
            row["max_rel_diff"] = float(np.max(np.abs(out - reference)) / np.max(np.abs(reference)))
        rows.append(row)
    return rows


def run_in_child(method: str, args: argparse.Namespace, check: bool) -> list[dict[str, Any]]:
    """`run_once` in a fresh interpreter."""
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--calls",
        str(args.calls),
        "--torch-threads",
        str(args.torch_threads),
        "--pairs",
        *args.pairs,
        "--signal-s",
        *map(str, args.signal_s),
        "--rir-s",
        *map(str, args.rir_s),
    ] + (["--check"] if check else [])
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{method} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def summarize(runs: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Per shape and method: convolutions (pairs) per second and audio seconds per second (pairs x
    L / rate), medians over repeats, and the median ratio to the loop within a repeat with its range."""
    table = []
    for shape in sorted({tuple(r["shape"]) for r in runs}):
        s, m, length, taps = shape
        seconds = {(r["method"], r["repeat"]): r["seconds"] for r in runs if tuple(r["shape"]) == shape}
        repeats = sorted({k[1] for k in seconds})
        entry: dict[str, Any] = {"S": s, "M": m, "L_s": length / RATE, "K_s": taps / RATE}
        for method in methods:
            times = [seconds[method, k] for k in repeats]
            cell = {
                "conv_per_s": round(s * m / statistics.median(times), 2),
                "audio_s_per_s": round(s * m * length / RATE / statistics.median(times), 1),
            }
            if method != "scipy_loop":
                ratios = [seconds["scipy_loop", k] / seconds[method, k] for k in repeats]
                cell["vs_loop"] = {
                    "median": round(statistics.median(ratios), 2),
                    "min": round(min(ratios), 2),
                    "max": round(max(ratios), 2),
                }
            diffs = [r["max_rel_diff"] for r in runs if r["method"] == method and tuple(r["shape"]) == shape and "max_rel_diff" in r]
            cell.update({"max_rel_diff": diffs[0]} if diffs else {})
            entry[method] = cell
        table.append(entry)
    return table


def print_table(table: list[dict[str, Any]], methods: list[str], skipped: dict[str, str]) -> None:
    """Per shape and method: convolutions/s, audio-s/s and the ratio to the loop; skipped methods named."""
    print(f"\n{'S':>2} {'M':>2} {'L s':>4} {'K s':>4}  " + "".join(f"{m:<34}" for m in methods))
    for e in table:
        cells = [
            f"{e[m]['conv_per_s']:.1f} conv/s {e[m]['audio_s_per_s']:.0f} a-s/s"
            + (f" {e[m]['vs_loop']['median']:.2f}x" if "vs_loop" in e[m] else "")
            for m in methods
        ]
        print(f"{e['S']:>2} {e['M']:>2} {e['L_s']:>4.0f} {e['K_s']:>4.1f}  " + "".join(f"{c:<34}" for c in cells))
    for method, reason in skipped.items():
        print(f"{method}: skipped ({reason})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["1x1", "2x4", "4x8"], help="SxM: sources x microphones")
    parser.add_argument("--signal-s", type=float, nargs="+", default=[4.0, 30.0], help="dry signal lengths L (s, 16 kHz)")
    parser.add_argument("--rir-s", type=float, nargs="+", default=[0.5, 1.2], help="RIR lengths K (s)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods (scipy_loop is always run)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per method; medians are reported")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per shape in a run (their median is the run's time)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads for the torch backends")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--child", metavar="METHOD", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.child, args, args.check)))
        return
    methods = ["scipy_loop"] + [m for m in METHODS[1:] if m in args.methods]
    skipped = {m: reason for m in methods if (reason := skip_reason(m))}
    methods = [m for m in methods if m not in skipped]
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for method in methods:
            load = os.getloadavg()[0]  # others' work on a shared machine shows here
            for row in run_in_child(method, args, check=repeat == 0 and method != "scipy_loop"):
                runs.append({"method": method, "repeat": repeat, **row, "load_before": round(load, 2)})
            seconds = sum(r["seconds"] for r in runs if r["method"] == method and r["repeat"] == repeat)
            print(f"repeat {repeat} {method:<10} {seconds:7.3f} s over all shapes", flush=True)
    table = summarize(runs, methods)
    print_table(table, methods, skipped)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        **{n: metadata.version(n) for n in ("numpy", "scipy", "audiosynth")},
    }
    versions["torch"] = metadata.version("torch") if "torch_cpu" in methods else None
    result = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "child", "check")},
        "skipped": skipped,
        "table": table,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
