#!/usr/bin/env python
"""Device/channel effects: audio-seconds per second per core of each effect alone and of a full
chain, and a build with a typical chain against the same build without it, in one run.

- ``effects``: each registered effect's ``apply`` on 4 s of 16 kHz noise with parameters drawn by
  its default settings (a new draw each call), one thread; a linear one on two rows (an image and
  the noise, stacked in one call as the renderer does), a non-linear one on the mixture (one row);
  ``chain``: all of them but the codec in their natural order (the goal's "without Opus/AMR"),
  ``chain_with_codec``: all of them (the codec drawn among all its codecs).
- ``build``: ``build(config, workers=1)`` of ``--num-examples`` demo examples (3-6 s, no reverb,
  FLAC) with ``channel`` off and with a typical chain (probability 0.7, 1-3 steps of every
  effect), interleaved, medians of ``--repeats``; the ratio is with / without.

Goal (issue 15): >= 500 audio-s/s per core for chains without Opus/AMR; the build with a typical
chain >= 0.7x the build without. Results: ``benchmarks/results/effects.json``.

    python benchmarks/bench_effects.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "effects.json"
RATE = 16000


def effect_rates(seconds: float, calls: int) -> dict[str, float]:
    """Audio-s/s of each effect, and of the whole chain, on one thread."""
    from threadpoolctl import threadpool_limits

    from audiosynth.effects import EFFECTS

    rng = np.random.default_rng(0)
    x = 0.1 * rng.standard_normal((2, int(seconds * RATE)))  # an image and the noise
    out: dict[str, float] = {}
    with threadpool_limits(limits=1):
        ordered = sorted(EFFECTS.values(), key=lambda e: e.stage)
        chains = {"chain": [e for e in ordered if e.name != "codec"], "chain_with_codec": ordered}
        for name, known in [*sorted(EFFECTS.items()), *((n, None) for n in chains)]:
            start = time.perf_counter()
            for _ in range(calls):
                steps = [known] if known is not None else chains[name]
                y = x
                for step in steps:
                    params = step.draw(rng, step.settings(), RATE)
                    y = step.apply(params, y, RATE) if step.linear else np.concatenate([y[:1], step.apply(params, y[:1] + y[1:], RATE)])
            out[name] = calls * seconds / (time.perf_counter() - start)
    return out


def build_config(num_examples: int, chained: bool) -> Any:
    from audiosynth.config import config_from_dict

    data: dict[str, Any] = {
        "catalogs": {k: [str(DEMO / f"{k}.jsonl")] for k in ("speech", "noise")},
        "seed": 0,
        "num_examples": num_examples,
        "duration_s": [3.0, 6.0],
        "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
    }
    if chained:
        data["channel"] = {
            "probability": 0.7,
            "steps": [1, 3],
            "effects": {"mic_response": {}, "band_limit": {}, "clipping": {}, "packet_loss": {}},
        }
    return config_from_dict(data)


def build_rate(num_examples: int, chained: bool) -> float:
    from audiosynth.build import build

    out = Path(tempfile.mkdtemp(prefix="bench_effects_"))
    try:
        start = time.perf_counter()
        summary = build(build_config(num_examples, chained), out / "ds", workers=1, progress=False)
        return summary.audio_hours * 3600 / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-examples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40, help="calls per effect (4 s each)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    rates = [effect_rates(4.0, args.calls) for _ in range(args.repeats)]
    effects = {name: round(statistics.median(r[name] for r in rates), 1) for name in rates[0]}
    builds: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(args.repeats):
        for name in builds:
            builds[name].append(build_rate(args.num_examples, name == "with"))
    ratios = [w / wo for w, wo in zip(builds["with"], builds["without"], strict=True)]
    print("audio-s/s per core, each effect alone and the chain (linear: image and noise in one call):")
    for name, rate in effects.items():
        print(f"  {name:14s} {rate:10.1f}")
    print(f"build without a chain {statistics.median(builds['without']):.1f} audio-s/s, with a typical chain "
          f"{statistics.median(builds['with']):.1f}: {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
    result = {
        "date": date.today().isoformat(),
        "command": "python benchmarks/bench_effects.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "effects_audio_s_per_s": effects,
        "build_audio_s_per_s": {k: [round(v, 1) for v in vs] for k, vs in builds.items()},
        "build_ratio": {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
