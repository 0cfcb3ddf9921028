"""Peak memory of rendering and encoding one example, against `audiosynth.limits`' cost model.

    python benchmarks/bench_memory.py [--minutes 1 5 15] [--speakers 4]

Each case runs in a fresh process: a diarization session of the demo corpus (the longest
examples audiosynth makes), with and without a simulated room, rendered by the build's
`render_example` and encoded as FLAC. Prints the peak RSS above the process's baseline, the
bytes per sample and per written signal (what `limits.DRY_FACTOR` / `REVERB_FACTOR` times 8
bytes model), and the model's estimate for the same config.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def _case(minutes: float, speakers: int, reverb: float) -> dict:
    from audiosynth.build.limits import example_memory
    from audiosynth.build.worker import render_example
    from audiosynth.config import config_from_dict
    from audiosynth.dataset.folder import example_files
    from audiosynth.plan import Planner, demo_dir, load_catalogs

    demo = demo_dir()
    config = config_from_dict(
        {
            "task": "diarization",
            "num_examples": 1,
            "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
            "catalogs": {"speech": [str(demo / "speech.jsonl")], "noise": [str(demo / "noise.jsonl")]},
            "session": {"duration_s": [60 * minutes, 60 * minutes], "speakers": [speakers, speakers]},
            "reverb": {"probability": reverb, "room": {"rt60_s": [0.7, 0.7]}},
            "targets": {"direct": False, "early": False},
            "limits": {"max_example_memory_gb": 1000},
        }
    )
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rendered, _ = render_example(planner, 0, catalogs.all(), config)
    example_files(rendered, "flac", "PCM_16")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    samples, signals = rendered.scene.num_samples, len(rendered.audio)
    return {
        "minutes": minutes,
        "speakers": speakers,
        "reverb": reverb,
        "seconds": rendered.scene.duration,
        "peak_mb": peak / 1e6,
        "bytes_per_sample_signal": peak / (samples * signals),
        "model_mb": example_memory(config, catalogs)[0] / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0, 15.0])
    parser.add_argument("--speakers", type=int, default=4)
    parser.add_argument("--case", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.case[0], int(args.case[1]), args.case[2])))
        return
    print("minutes reverb  seconds  peak MB  bytes/sample/signal  model MB")
    for minutes in args.minutes:
        for reverb in (0.0, 1.0):
            out = subprocess.run(
                [sys.executable, __file__, "--case", str(minutes), str(args.speakers), str(reverb)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(out)
            print(
                f"{minutes:7g} {reverb:6g} {r['seconds']:8.0f} {r['peak_mb']:8.0f} "
                f"{r['bytes_per_sample_signal']:20.1f} {r['model_mb']:9.0f}"
            )


if __name__ == "__main__":
    main()
