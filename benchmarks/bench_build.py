#!/usr/bin/env python
"""Build throughput on the demo corpus: audiosynth against a hand-written loop and an I/O floor.

Throughput is audio seconds per wall second: the total duration of the written mixtures
divided by the wall time of the whole run (process pool start-up included). Every method
writes the same examples (the Planner's scenes: same clips, durations and SNRs) as three
16 kHz FLAC PCM_16 files each (mix, clean, noise), with the same number of processes.

- ``audiosynth``: ``audiosynth.build.build(config, out, workers=W)``.
- ``plain_loop``: what a user writes by hand: ``sf.read`` the whole speech clip and the whole
  noise file, pick a noise segment with NumPy, crop/pad the speech, scale the noise to the
  SNR, mix, ``sf.write`` three float arrays to paths (libsndfile converts and fsyncs each).
- ``io_floor``: only the reads and writes: the scene's speech and noise segments read as
  int16, three FLAC files of the right lengths encoded in memory and written (no fsync).
- ``baseline`` (with ``--baseline TREE``): ``audiosynth`` imported from another checkout ``TREE``
  (e.g. ``git worktree add /tmp/old <commit>``), so that an old and a new render path are measured
  in the same session, interleaved.

Each run is a fresh interpreter (imports done before the clock starts), so that no run inherits
another's heap or module state. Runs are interleaved and repeated; a ratio is the median over
repeats of the ratio within one repeat. Run ``python benchmarks/bench_build.py --help``; results go to
``benchmarks/results/build.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

# audiosynth is imported inside functions only, so that the spawned workers of the two
# baselines import NumPy and soundfile and nothing else.
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "build.json"
METHODS = ("audiosynth", "plain_loop", "io_floor")
Job = tuple[Any, ...]


def make_config(num_examples: int, shard_size: int, seed: int) -> Any:
    """The benchmark's audiosynth config: demo corpus, 3-6 s, no reverb, FLAC PCM_16."""
    from audiosynth.config import config_from_dict

    return config_from_dict(
        {
            "catalogs": {"speech": [str(DEMO / "speech.jsonl")], "noise": [str(DEMO / "noise.jsonl")]},
            "seed": seed,
            "num_examples": num_examples,
            "sample_rate": 16000,
            "duration_s": [3.0, 6.0],
            "reverb": {"probability": 0.0},
            "output": {"format": "flac", "subtype": "PCM_16", "shard_size": shard_size},
        }
    )


def plan_jobs(config: Any, out: str) -> list[Job]:
    """One tuple per example from the Planner's scenes (paths resolved, no randomness left)."""
    from audiosynth.plan import Planner, load_catalogs

    catalogs = load_catalogs(config)
    clips, planner = catalogs.all(), Planner(config, catalogs)
    jobs = []
    for index in range(config.num_examples):
        scene = planner.scene(index)
        assert scene.noise is not None and not scene.noise.segment.loop, "the I/O floor reads noise segments without wrapping"
        speech, noise = scene.sources[0].segment, scene.noise.segment
        jobs.append(
            (
                out,
                scene.id,
                config.seed,
                scene.num_samples,
                scene.noise.snr_db,
                str(clips.resolve(clips.by_id(speech.clip_id))),
                speech.offset,
                speech.length,
                speech.onset,
                str(clips.resolve(clips.by_id(noise.clip_id))),
                noise.offset,
            )
        )
    return jobs


def plain_example(job: Job) -> float:
    """The hand-written loop body for one example; returns the mixture's duration (s)."""
    out, name, seed, n, snr_db, speech_path, _, _, _, noise_path, _ = job
    rng = np.random.default_rng([seed, int(name.rsplit("-", 1)[1])])
    speech, rate = sf.read(speech_path)
    noise, _ = sf.read(noise_path)
    start = int(rng.integers(0, len(noise) - n + 1))
    noise = noise[start : start + n]
    if len(speech) >= n:
        start = int(rng.integers(0, len(speech) - n + 1))
        speech = speech[start : start + n]
    else:
        before = int(rng.integers(0, n - len(speech) + 1))
        speech = np.pad(speech, (before, n - len(speech) - before))
    noise = noise * np.sqrt(np.sum(speech**2) / (np.sum(noise**2) * 10 ** (snr_db / 10)))
    mix = speech + noise
    scale = min(1.0, 0.89 / np.max(np.abs(mix)))  # stay below full scale (-1 dBFS)
    for role, signal in (("mix", mix), ("clean", speech), ("noise", noise)):
        sf.write(f"{out}/{name}.{role}.flac", signal * scale, rate, subtype="PCM_16")
    return n / rate


def read_frames(path: str, offset: int, frames: int) -> np.ndarray:
    """Exactly ``frames`` int16 frames of a mono file from ``offset``."""
    with sf.SoundFile(path) as handle:
        handle.seek(offset)
        return handle.read(frames, dtype="int16")


def floor_example(job: Job) -> float:
    """The reads and writes of one example and nothing else; returns the mixture's duration (s)."""
    out, name, _, n, _, speech_path, offset, length, onset, noise_path, noise_offset = job
    clean = np.zeros(n, dtype=np.int16)
    speech = read_frames(speech_path, offset, length)[: n - onset]
    clean[onset : onset + len(speech)] = speech
    noise = read_frames(noise_path, noise_offset, n)
    for role, signal in (("mix", noise), ("clean", clean), ("noise", noise)):
        buffer = io.BytesIO()
        sf.write(buffer, signal, 16000, format="FLAC", subtype="PCM_16")
        with open(f"{out}/{name}.{role}.flac", "wb") as handle:
            handle.write(buffer.getvalue())
    return n / 16000


def run_loop(body: Callable[[Job], float], config: Any, out: Path, workers: int, chunk: int) -> float:
    """Plan the jobs, then run ``body`` over them inline (1 worker) or on a spawn pool."""
    jobs = plan_jobs(config, str(out))
    if workers == 1:
        return sum(map(body, jobs))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return sum(pool.imap_unordered(body, jobs, chunksize=chunk))


def run_once(method: str, config: Any, out: Path, workers: int, chunk: int) -> tuple[float, float]:
    """One timed run into the empty folder ``out``: ``(audio seconds, wall seconds)``."""
    from audiosynth.build import build  # imported before the clock starts, as for the loops

    os.sync()  # start with nothing dirty: no method pays for another's writes
    start = time.perf_counter()
    if method in ("audiosynth", "baseline"):
        seconds = build(config, out, workers=workers, progress=False).audio_hours * 3600
    else:
        out.mkdir(parents=True)
        seconds = run_loop(plain_example if method == "plain_loop" else floor_example, config, out, workers, chunk)
    return seconds, time.perf_counter() - start


def run_in_child(method: str, args: argparse.Namespace, out: Path, workers: int) -> tuple[float, float]:
    """`run_once` in a fresh interpreter, so that no run inherits another's heap or caches."""
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        str(workers),
        str(out),
        "--num-examples",
        str(args.num_examples),
        "--shard-size",
        str(args.shard_size),
        "--seed",
        str(args.seed),
    ]
    env = {**os.environ, "PYTHONPATH": str(args.baseline if method == "baseline" else ROOT)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"{method} W={workers} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout)
    return result["audio_s"], result["wall_s"]


def versions() -> dict[str, str]:
    """Versions of what the numbers depend on."""
    import audiosynth

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "audiosynth": audiosynth.__version__,
    }


def summarize(runs: list[dict[str, Any]], workers: list[int], methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """Median and best throughput per (workers, method), and audiosynth's ratio to each baseline:
    the median over repeats of the ratio within a repeat (runs seconds apart, so slow drifts of
    a shared machine cancel), with its range."""
    summary: dict[str, Any] = {}
    for w in workers:
        rate = {(r["method"], r["repeat"]): r["audio_s_per_s"] for r in runs if r["workers"] == w}
        repeats = sorted({k[1] for k in rate})
        entry: dict[str, Any] = {}
        for m in methods:
            values = [rate[m, k] for k in repeats]
            entry[m] = {"median": statistics.median(values), "best": max(values)}
        for m in (m for m in methods if m != "audiosynth"):
            ratios = [rate["audiosynth", k] / rate[m, k] for k in repeats]
            entry[f"audiosynth_over_{m}"] = {
                "median": round(statistics.median(ratios), 3),
                "min": round(min(ratios), 3),
                "max": round(max(ratios), 3),
            }
        summary[str(w)] = entry
    return summary


def print_table(summary: dict[str, Any]) -> None:
    """The results as a small text table, then the ratios against the goals."""
    print(f"\n{'W':>2}  {'method':<11} {'audio-s/s median':>17} {'best':>8}")
    for w, entry in summary.items():
        for m in (m for m in entry if not m.startswith("audiosynth_over_")):
            print(f"{w:>2}  {m:<11} {entry[m]['median']:>17.0f} {entry[m]['best']:>8.0f}")
    for w, entry in summary.items():
        a, b = entry["audiosynth_over_plain_loop"], entry["audiosynth_over_io_floor"]
        print(
            f"W={w}: audiosynth/plain_loop = {a['median']:.2f}x ({a['min']:.2f}-{a['max']:.2f}; goal >= 1.8x)   "
            f"audiosynth/io_floor = {b['median']:.0%} ({b['min']:.0%}-{b['max']:.0%}; goal >= 85%)"
        )
        if "audiosynth_over_baseline" in entry:
            c = entry["audiosynth_over_baseline"]
            print(f"W={w}: audiosynth/baseline = {c['median']:.3f}x ({c['min']:.3f}-{c['max']:.3f}; not slower: >= 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--num-examples", type=int, default=300, help="examples per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to measure")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per (workers, method); medians are reported")
    parser.add_argument("--shard-size", type=int, default=50, help="audiosynth output.shard_size (also the loops' pool chunk)")
    parser.add_argument("--seed", type=int, default=0, help="config seed (the same examples for every method)")
    parser.add_argument(
        "--out-dir", default=None, help="where to make the temporary output folder (removed afterwards); default: the system's"
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="TREE",
        help="also measure audiosynth imported from this other checkout (method 'baseline')",
    )
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "W", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one run, in a process of its own; the result goes to stdout as JSON
        method, workers, out = args.child
        seconds, wall = run_once(
            method, make_config(args.num_examples, args.shard_size, args.seed), Path(out), int(workers), args.shard_size
        )
        print(json.dumps({"audio_s": seconds, "wall_s": wall}))
        return
    methods = METHODS + (("baseline",) if args.baseline else ())
    scratch = Path(tempfile.mkdtemp(prefix="bench_build_", dir=args.out_dir))
    runs: list[dict[str, Any]] = []
    try:
        for repeat in range(args.repeats):
            for w in args.workers:
                for method in methods:
                    out = scratch / f"{method}-w{w}-r{repeat}"
                    load = os.getloadavg()[0]  # others' work on a shared machine shows here
                    seconds, wall = run_in_child(method, args, out, w)
                    shutil.rmtree(out)
                    runs.append(
                        {
                            "method": method,
                            "workers": w,
                            "repeat": repeat,
                            "audio_s": round(seconds, 3),
                            "wall_s": round(wall, 4),
                            "audio_s_per_s": round(seconds / wall, 1),
                            "load_before": round(load, 2),
                        }
                    )
                    print(
                        f"repeat {repeat} W={w} {method:<11} {seconds:8.1f} audio-s in {wall:6.2f} s = {seconds / wall:7.1f} audio-s/s",
                        flush=True,
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert len({round(r["audio_s"], 1) for r in runs}) == 1, "methods wrote different amounts of audio"
    summary = summarize(runs, args.workers, methods)
    print_table(summary)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("json", "out_dir", "child")},
        "summary": summary,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
