#!/usr/bin/env python
"""Scaling and memory of a build: 2 workers vs 1, Dask and Ray vs the process pool, peak RSS for N vs 10 N.

Every run builds the same config (demo corpus, 3-6 s, no reverb, FLAC, shards of 50) into a fresh
folder, in a fresh interpreter started after ``os.sync()``; throughput is audio seconds per wall
second of the whole ``build()`` call (pool, cluster or Ray start-up included). While a run goes,
the parent samples the resident memory of the run's whole process tree (driver, pool workers, Dask
nannies and workers, Ray's raylet and workers) every 20 ms with psutil: the peak of the tree's sum
and the peak of its largest process. Runs are interleaved and repeated; a ratio is the median over
repeats of the ratio within a repeat.

- ``pool-1``: ``build(config, out, workers=1)`` (renders in the caller's process)
- ``pool-2``: ``workers=2`` on the process pool
- ``dask-2``: ``engine="dask"``: a LocalCluster of 2 single-threaded worker processes
- ``ray-2``: ``engine="ray"``: a local Ray instance of 2 CPUs
- memory: ``pool-2`` at ``--num-examples`` N and 10 N
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
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
METHODS = {"pool-1": ("pool", 1), "pool-2": ("pool", 2), "dask-2": ("dask", 2), "ray-2": ("ray", 2)}


def make_config(num_examples: int, shard_size: int, seed: int) -> Any:
    from audiosynth.config import config_from_dict

    return config_from_dict(
        {
            "catalogs": {"speech": [str(DEMO / "speech.jsonl")], "noise": [str(DEMO / "noise.jsonl")]},
            "seed": seed,
            "num_examples": num_examples,
            "sample_rate": 16000,
            "duration_s": [3.0, 6.0],
            "output": {"format": "flac", "subtype": "PCM_16", "shard_size": shard_size},
        }
    )


def child(method: str, out: Path, num_examples: int, shard_size: int, seed: int) -> None:
    """One build in this process; prints ``{"audio_s", "wall_s"}``."""
    from audiosynth.build import build

    engine, workers = METHODS[method]
    config = make_config(num_examples, shard_size, seed)
    start = time.perf_counter()
    summary = build(config, out, workers=workers, progress=False, engine=engine)
    wall = time.perf_counter() - start
    print(json.dumps({"audio_s": summary.audio_hours * 3600, "wall_s": wall}))


def run(method: str, out: Path, num_examples: int, args: argparse.Namespace) -> dict[str, float]:
    """A run in a child process while sampling its process tree's memory."""
    import psutil

    os.sync()
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        str(out),
        "--num-examples",
        str(num_examples),
        "--shard-size",
        str(args.shard_size),
        "--seed",
        str(args.seed),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            rss = []
        if rss:
            peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss))
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    if proc.returncode:
        sys.exit(f"{method} N={num_examples} failed:\n{stderr}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "peak_rss_tree_mb": peak_sum / 2**20, "peak_rss_process_mb": peak_one / 2**20}


def ratio(runs: list[dict[str, Any]], a: str, b: str, key: str) -> dict[str, float]:
    """Median (and range) over repeats of ``key`` of run ``a`` / run ``b`` (names ``method@N``) within a repeat."""
    pick = {(r["name"], r["repeat"]): r[key] for r in runs}
    values = [pick[a, k] / pick[b, k] for k in sorted({r["repeat"] for r in runs})]
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--num-examples", type=int, default=150, help="N: the memory runs use N and 10 N; throughput runs 10 N")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="throughput runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--shard-size", type=int, default=50, help="output.shard_size")
    parser.add_argument("--seed", type=int, default=0, help="config seed")
    parser.add_argument("--out-dir", default=None, help="where to make the temporary output folder (removed afterwards)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.num_examples, args.shard_size, args.seed)
        return
    small, large = args.num_examples, 10 * args.num_examples
    plan = [(m, large) for m in args.methods] + [("pool-2", small)]
    scratch = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=args.out_dir))
    runs: list[dict[str, Any]] = []
    try:
        for repeat in range(args.repeats):
            for method, n in plan:
                out = scratch / f"{method}-{n}-r{repeat}"
                load = os.getloadavg()[0]
                result = run(method, out, n, args)
                shutil.rmtree(out)
                rate = result["audio_s"] / result["wall_s"]
                runs.append(
                    {
                        "name": f"{method}@{n}",
                        "method": method,
                        "num_examples": n,
                        "repeat": repeat,
                        **{k: round(v, 3) for k, v in result.items()},
                        "audio_s_per_s": round(rate, 1),
                        "load_before": round(load, 2),
                    }
                )
                print(
                    f"repeat {repeat} {method:<7} N={n:<5} {result['audio_s']:8.1f} audio-s "
                    f"in {result['wall_s']:6.2f} s = {rate:7.1f} audio-s/s; "
                    f"peak RSS tree {result['peak_rss_tree_mb']:6.0f} MB, largest process {result['peak_rss_process_mb']:5.0f} MB",
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary: dict[str, Any] = {"throughput": {}, "ratios": {}}
    for method, n in plan:
        rows = [r for r in runs if r["name"] == f"{method}@{n}"]
        summary["throughput"][f"{method}@{n}"] = {
            "audio_s_per_s": statistics.median(r["audio_s_per_s"] for r in rows),
            "peak_rss_tree_mb": statistics.median(r["peak_rss_tree_mb"] for r in rows),
            "peak_rss_process_mb": statistics.median(r["peak_rss_process_mb"] for r in rows),
        }
    goals = [
        ("pool-2", "pool-1", "audio_s_per_s", ">= 1.8"),
        ("dask-2", "pool-2", "audio_s_per_s", ">= 0.9"),
        ("ray-2", "pool-2", "audio_s_per_s", "none set"),
    ]
    for a, b, key, goal in goals:
        if a in args.methods and b in args.methods:
            summary["ratios"][f"{a}/{b}"] = {**ratio(runs, f"{a}@{large}", f"{b}@{large}", key), "goal": goal}
    for key in ("peak_rss_tree_mb", "peak_rss_process_mb"):
        summary["ratios"][f"pool-2 {key} 10N/N"] = {**ratio(runs, f"pool-2@{large}", f"pool-2@{small}", key), "goal": "< 1.2"}
    print()
    for name, value in summary["ratios"].items():
        print(f"{name:<36} {value['median']:.3f} ({value['min']:.3f}-{value['max']:.3f}; goal {value['goal']})")
    import dask
    import numpy

    import audiosynth

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "dask": dask.__version__,
        "audiosynth": audiosynth.__version__,
    }
    try:
        import ray

        versions["ray"] = ray.__version__
    except ImportError:
        pass
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "versions": versions,
                "settings": {k: v for k, v in vars(args).items() if k not in ("json", "out_dir", "child")},
                "summary": summary,
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
