#!/usr/bin/env python
"""Reverberant build throughput on the demo corpus: audiosynth against a pyroomacoustics loop.

Throughput: audio seconds of mixtures per wall second, pool start-up included. Every method renders
the Planner's scenes of one config (demo corpus, 3-6 s, 16 kHz FLAC PCM_16, RT60 0.2-1.2 s, one mic), W processes.

- ``reverb``: ``audiosynth.build.build``, ``reverb: {probability: 1, source: simulated, simulator:
  ism}``, default targets: five files an example (mix, clean, noise, clean_direct, clean_early).
- ``reverb_3files``: the same with ``targets: {direct: false, early: false}`` (mix, clean, noise).
- ``no_reverb``: the same build with ``reverb.probability: 0`` (mix, clean, noise).
- ``pra_loop``: per example what pyroomacoustics' documentation does: ``pra.ShoeBox`` with
  ``pra.inverse_sabine(rt60, room_dim)`` absorption and max_order, the speech as the source's
  signal, one microphone, ``room.simulate()``, noise at the SNR, three ``sf.write`` to paths; the
  same rooms, positions and RT60s as audiosynth's, on a spawn pool of W. It is slow: it renders
  ``--pra-examples`` of the scenes, spread evenly (every k-th).

Fresh interpreter per run, ``os.sync()`` first, runs interleaved; a ratio is the median over repeats
of the ratio within a repeat. RT60 labels (and pra_loop's RIRs) are checked against the RT60 asked.
"""

from __future__ import annotations

import argparse
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
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "reverb.json"
METHODS = ("reverb", "reverb_3files", "no_reverb", "pra_loop")
RATIOS = (("reverb", "pra_loop"), ("reverb", "no_reverb"), ("reverb_3files", "pra_loop"), ("reverb_3files", "no_reverb"))
Job = tuple[Any, ...]


def make_config(method: str, num_examples: int, shard_size: int, seed: int) -> Any:
    """The audiosynth config of ``method`` (``pra_loop`` plans with ``reverb``'s)."""
    from audiosynth.config import config_from_dict

    return config_from_dict(
        {
            "catalogs": {"speech": [str(DEMO / "speech.jsonl")], "noise": [str(DEMO / "noise.jsonl")]},
            "seed": seed,
            "num_examples": num_examples,
            "sample_rate": 16000,
            "duration_s": [3.0, 6.0],
            "reverb": {
                "probability": 0.0 if method == "no_reverb" else 1.0,
                "source": "simulated",
                "simulator": "ism",
                "room": {"rt60_s": [0.2, 1.2]},
            },
            "targets": {"direct": False, "early": False} if method == "reverb_3files" else {},
            "output": {"format": "flac", "subtype": "PCM_16", "shard_size": shard_size},
        }
    )


def pra_indices(num_examples: int, count: int) -> list[int]:
    """``count`` example indices spread evenly over ``range(num_examples)``."""
    return sorted({int(i) for i in np.linspace(0, num_examples, min(count, num_examples), endpoint=False)})


def plan_jobs(config: Any, out: str, indices: list[int]) -> list[Job]:
    """One tuple per example from the Planner's scenes: clips, length, SNR, room, positions, RT60."""
    from audiosynth.plan import Planner, load_catalogs

    catalogs = load_catalogs(config)
    clips, planner = catalogs.all(), Planner(config, catalogs)
    jobs = []
    for index in indices:
        scene = planner.scene(index)
        room, speech, noise = scene.room, scene.sources[0].segment, scene.noise
        assert room is not None and noise is not None and not noise.segment.loop, "the loop reads one noise segment"
        jobs.append(
            (
                out,
                scene.id,
                config.seed,
                scene.num_samples,
                noise.snr_db,
                str(clips.resolve(clips.by_id(speech.clip_id))),
                str(clips.resolve(clips.by_id(noise.segment.clip_id))),
                list(room.size_m),
                list(room.sources_m[0]),
                list(room.mics_m[0]),
                room.rt60_s,
            )
        )
    return jobs


def t20(rir: np.ndarray, rate: int) -> float:
    """RT60 (s) of a RIR from its Schroeder curve, -5 to -25 dB, as audiosynth's labels measure it."""
    tail = np.cumsum(rir[::-1] ** 2)[::-1]
    curve = 10 * np.log10(tail / tail[0] + 1e-20)
    start, stop = int(np.argmax(curve <= -5)), int(np.argmax(curve <= -25))
    return float(-60 / np.polyfit(np.arange(start, stop) / rate, curve[start:stop], 1)[0])


def pra_example(job: Job) -> tuple[float, float]:
    """The pyroomacoustics loop body for one example: ``(mixture duration s, RT60 of its RIR s)``."""
    import pyroomacoustics as pra

    out, name, seed, n, snr_db, speech_path, noise_path, size, source, mic, rt60 = job
    rng = np.random.default_rng([seed, int(name.rsplit("-", 1)[1])])
    (speech, rate), (noise, _) = sf.read(speech_path), sf.read(noise_path)
    start = int(rng.integers(0, len(noise) - n + 1))
    noise = noise[start : start + n]
    if len(speech) >= n:  # crop to the example; a shorter utterance starts at a random delay
        start = int(rng.integers(0, len(speech) - n + 1))
        speech = speech[start : start + n]
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=rate, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(source, signal=speech, delay=int(rng.integers(0, n - len(speech) + 1)) / rate)
    room.add_microphone(mic)
    room.simulate()
    reverberant = room.mic_array.signals[0, :n]
    clean = np.pad(reverberant, (0, n - len(reverberant)))  # cut or padded to the example
    noise = noise * np.sqrt(np.sum(clean**2) / (np.sum(noise**2) * 10 ** (snr_db / 10)))
    mix = clean + noise
    scale = min(1.0, 0.89 / np.max(np.abs(mix)))  # stay below full scale (-1 dBFS)
    for role, signal in (("mix", mix), ("clean", clean), ("noise", noise)):
        sf.write(f"{out}/{name}.{role}.flac", signal * scale, rate, subtype="PCM_16")
    return n / rate, t20(room.rir[0][0], rate)  # measuring the RIR costs < 0.1 % of the room


def rt60_check(measured: list[float], asked: list[float]) -> dict[str, Any]:
    """Fraction of measured/asked RT60 ratios within 10 %, their range, and the mean RT60 asked."""
    ratios = np.divide(measured, asked)
    return {
        "within_10pct": round(float(np.mean(np.abs(ratios - 1) <= 0.1)), 4),
        "count": len(ratios),
        "min_ratio": round(float(ratios.min()), 4),
        "max_ratio": round(float(ratios.max()), 4),
        "mean_asked_s": round(float(np.mean(asked)), 4),
    }


def run_once(method: str, args: argparse.Namespace, out: Path, workers: int) -> dict[str, Any]:
    """One timed run into the empty folder ``out``: audio seconds, wall seconds and the RT60 check."""
    from audiosynth.build import build  # imported before the clock starts

    config = make_config(method, args.num_examples, args.shard_size, args.seed)
    if method == "pra_loop":
        import pyroomacoustics  # noqa: F401  (before the clock, as audiosynth is)

        jobs = plan_jobs(config, str(out), pra_indices(args.num_examples, args.pra_examples))
        out.mkdir(parents=True)
    os.sync()  # start with nothing dirty: no method pays for another's writes
    start = time.perf_counter()
    if method != "pra_loop":
        seconds = build(config, out, workers=workers, progress=False).audio_hours * 3600
    elif workers == 1:
        results = list(map(pra_example, jobs))
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = list(pool.imap(pra_example, jobs, chunksize=1))  # rooms vary 100x in cost: no chunks
    wall = time.perf_counter() - start
    if method == "pra_loop":
        return {"audio_s": sum(r[0] for r in results), "wall_s": wall, "rt60": rt60_check([r[1] for r in results], [j[-1] for j in jobs])}
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()] if method != "no_reverb" else []
    check = rt60_check([r["labels"]["rt60_s"] for r in rows], [r["scene"]["room"]["rt60_s"] for r in rows]) if rows else None
    return {"audio_s": seconds, "wall_s": wall, "rt60": check}


def run_in_child(method: str, args: argparse.Namespace, out: Path, workers: int) -> dict[str, Any]:
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
        "--pra-examples",
        str(args.pra_examples),
        "--shard-size",
        str(args.shard_size),
        "--seed",
        str(args.seed),
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{method} W={workers} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def versions() -> dict[str, str]:
    """Versions of what the numbers depend on."""
    return {
        "python": platform.python_version(),
        "libsndfile": sf.__libsndfile_version__,
        **{name: metadata.version(name) for name in ("numpy", "scipy", "soundfile", "pyroomacoustics", "audiosynth")},
    }


def summarize(runs: list[dict[str, Any]], workers: list[int], methods: list[str]) -> dict[str, Any]:
    """Median and best throughput per (workers, method), and the ratios of `RATIOS`: the median over
    repeats of the ratio within a repeat (runs seconds apart), with its range."""
    summary: dict[str, Any] = {}
    for w in workers:
        rate = {(r["method"], r["repeat"]): r["audio_s_per_s"] for r in runs if r["workers"] == w}
        repeats = sorted({k[1] for k in rate})
        entry: dict[str, Any] = {
            m: {"median": statistics.median(v), "best": max(v)} for m in methods for v in [[rate[m, k] for k in repeats]]
        }
        for a, b in RATIOS:
            if a in methods and b in methods:
                ratios = [rate[a, k] / rate[b, k] for k in repeats]
                entry[f"{a}_over_{b}"] = {
                    "median": round(statistics.median(ratios), 3),
                    "min": round(min(ratios), 3),
                    "max": round(max(ratios), 3),
                }
        summary[str(w)] = entry
    return summary


def print_table(summary: dict[str, Any], checks: dict[str, Any]) -> None:
    """The results as a small text table, then the ratios against the goals and the RT60 checks."""
    print(f"\n{'W':>2}  {'method':<14} {'audio-s/s median':>17} {'best':>8}")
    for w, entry in summary.items():
        for m in [m for m in METHODS if m in entry]:
            print(f"{w:>2}  {m:<14} {entry[m]['median']:>17.1f} {entry[m]['best']:>8.1f}")
    goals = {"pra_loop": "goal >= 15x, aim 25x", "no_reverb": "goal >= 0.5x"}
    for w, entry in summary.items():
        for (a, b), r in [(ab, entry[f"{ab[0]}_over_{ab[1]}"]) for ab in RATIOS if f"{ab[0]}_over_{ab[1]}" in entry]:
            print(f"W={w}: {a}/{b} = {r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f}; {goals[b]})")
    for m, c in checks.items():
        print(
            f"{m}: RT60 within 10 % of the asked in {c['within_10pct']:.1%} of {c['count']} examples, "
            f"measured/asked {c['min_ratio']:.3f}-{c['max_ratio']:.3f}, mean asked {c['mean_asked_s']:.3f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--num-examples", type=int, default=200, help="examples per audiosynth run (the scenes planned)")
    parser.add_argument("--pra-examples", type=int, default=40, help="of those, how many (spread evenly) pra_loop renders")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to measure")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods to run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per (workers, method); medians are reported")
    parser.add_argument("--shard-size", type=int, default=50, help="audiosynth output.shard_size")
    parser.add_argument("--seed", type=int, default=0, help="config seed (the same scenes for every method)")
    parser.add_argument(
        "--out-dir", default=None, help="where to make the temporary output folder (removed afterwards); default: the system's"
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "W", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one run, in a process of its own; the result goes to stdout as JSON
        method, workers, out = args.child
        print(json.dumps(run_once(method, args, Path(out), int(workers))))
        return
    scratch = Path(tempfile.mkdtemp(prefix="bench_reverb_", dir=args.out_dir))
    runs: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    try:
        for repeat in range(args.repeats):
            for w in args.workers:
                for method in [m for m in METHODS if m in args.methods]:
                    out = scratch / f"{method}-w{w}-r{repeat}"
                    load = os.getloadavg()[0]  # others' work on a shared machine shows here
                    result = run_in_child(method, args, out, w)
                    shutil.rmtree(out)
                    seconds, wall = result["audio_s"], result["wall_s"]
                    if result["rt60"]:
                        checks.setdefault(method, result["rt60"])  # the same RIRs in every run
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
                        f"repeat {repeat} W={w} {method:<14} {seconds:8.1f} audio-s in {wall:6.2f} s = {seconds / wall:7.1f} audio-s/s",
                        flush=True,
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert len({round(r["audio_s"], 1) for r in runs if r["method"] != "pra_loop"}) <= 1, "audiosynth runs wrote different amounts of audio"
    summary = summarize(runs, args.workers, [m for m in METHODS if m in args.methods])
    print_table(summary, checks)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "out_dir", "child")},
        "pra_loop_indices": pra_indices(args.num_examples, args.pra_examples),
        "summary": summary,
        "rt60_check": checks,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
