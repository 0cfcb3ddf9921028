#!/usr/bin/env python
"""Batched mixing: examples per second of `render_batch` in batches against one scene at a time.

Scenes come from the demo corpus through the Planner (``--case``): ``reverb`` (denoising, one
talker in a simulated room, 1 microphone, 3-5 s) and ``array`` (two talkers and noise in a
simulated room, a 4-microphone circular array, 3-5 s). Every method mixes the same scenes:

- ``numpy_1`` (the baseline): NumPy, `render_batch` of one scene at a time (a build today).
- ``numpy_B``: NumPy in batches of ``--batch`` (a loop per scene inside: the same bits).
- ``torch_scene``: torch CPU, the per-scene path (`mix._mix` per scene, the path before batching).
- ``torch_1``: torch CPU, `render_batch` of one scene at a time (the batched path, batches of one).
- ``torch_B``: torch CPU in batches of ``--batch`` (one convolution call per transform length).

Loading (file reads, CPU) is done before the clock; the rooms are simulated once before the
clock too (``mix._simulate`` then returns them): this measures the mixing alone (convolution,
gains, limiting, quantization, labels, the hand-off to NumPy); the room simulator has its own
benchmark (``bench_gpu.py``). Methods are interleaved and repeated; a ratio is the median over
repeats of the ratio to ``numpy_1`` within one repeat. Results go to ``benchmarks/results/mix.json``.
No GPU here: CUDA is not measured (``--device cuda`` runs the torch methods there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "mix.json"
ROOM = {"rt60_s": [0.2, 0.8], "distance_m": [0.7, 2.0]}
CASES: dict[str, dict[str, Any]] = {
    "reverb": {"reverb": {"probability": 1.0, "source": "simulated", "room": ROOM}},
    "array": {
        "task": "separation",
        "talkers": {"count": [2, 2], "sir_db": [-5, 5]},
        "reverb": {
            "probability": 1.0,
            "source": "simulated",
            "room": {**ROOM, "array": {"type": "circular", "num_mics": 4, "radius_m": 0.05}},
        },
    },
}


def scenes_of(case: str, count: int) -> tuple[list[Any], Any]:
    from audiosynth.config import config_from_dict
    from audiosynth.plan.planner import Planner
    from audiosynth.plan.pools import load_catalogs

    data = {
        "catalogs": {"speech": [str(DEMO / "speech.jsonl")], "noise": [str(DEMO / "noise.jsonl")]},
        "num_examples": count,
        "duration_s": [3.0, 5.0],
        "snr_db": [0, 15],
        "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
        "output": {"format": "flac", "subtype": "PCM_16"},
        **CASES[case],
    }
    config = config_from_dict(data)
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    return [planner.scene(i) for i in range(count)], catalogs.all()


def run(method: str, scenes: list[Any], clips: Any, batch: int, device: str, rooms: dict[str, list[Any]]) -> float:
    """Seconds to mix ``scenes`` by ``method`` (loading and rooms outside the clock)."""
    from audiosynth.dsp.backend import get_backend
    from audiosynth.render import mix
    from audiosynth.render.load import load_scene

    name = "numpy" if method.startswith("numpy") else "torch"
    xp = get_backend(name, "cpu" if name == "numpy" else device)
    size = 1 if method.endswith("_1") or method == "torch_scene" else batch
    loaded = [load_scene(scene, clips, "PCM_16") for scene in scenes]
    key = f"{name}:{xp.device}"
    if key not in rooms:
        rooms[key] = [mix._simulate([scene.on(xp)], xp)[0] for scene in loaded]
        loaded = [load_scene(scene, clips, "PCM_16") for scene in scenes]
    simulated = iter(rooms[key])
    real = mix._simulate
    mix._simulate = lambda batch_, _xp: [next(simulated) for _ in batch_]  # type: ignore[assignment]
    try:
        _sync(xp)
        start = time.perf_counter()
        if method == "torch_scene":
            for scene, room in zip(loaded, rooms[key], strict=True):
                result = mix._mix(scene.on(xp), room, xp)
                result.to_numpy()  # type: ignore[union-attr]
        else:
            for k in range(0, len(loaded), size):
                mix.rendered_to_numpy(mix.render_batch(loaded[k : k + size], xp))
        _sync(xp)
        return time.perf_counter() - start
    finally:
        mix._simulate = real  # type: ignore[assignment]


def _sync(xp: Any) -> None:
    if xp.name == "torch" and xp.device.startswith("cuda"):
        xp.m.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--case", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--examples", type=int, default=48, help="scenes mixed per run")
    parser.add_argument("--batch", type=int, default=16, help="scenes per render_batch call of the batched methods")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per method; medians are reported")
    parser.add_argument("--device", default="cpu", help="device of the torch methods")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    methods = ["numpy_1", "numpy_B", "torch_scene", "torch_1", "torch_B"]
    table: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    for case in args.case:
        scenes, clips = scenes_of(case, args.examples)
        rooms: dict[str, list[Any]] = {}
        for method in methods:  # warm-up: imports, FFT plans, the rooms
            run(method, scenes[: args.batch], clips, args.batch, args.device, {})
        seconds: dict[str, list[float]] = {m: [] for m in methods}
        for repeat in range(args.repeats):
            for method in methods:
                s = run(method, scenes, clips, args.batch, args.device, rooms)
                seconds[method].append(s)
                runs.append({"case": case, "method": method, "repeat": repeat, "seconds": s})
                print(f"{case:<7} repeat {repeat} {method:<12} {args.examples / s:8.1f} examples/s", flush=True)
        audio_s = sum(scene.duration for scene in scenes)
        table[case] = {
            m: {
                "examples_per_s": round(args.examples / statistics.median(seconds[m]), 2),
                "audio_s_per_s": round(audio_s / statistics.median(seconds[m]), 1),
                "ratio_to_numpy_1": round(statistics.median(b / s for b, s in zip(seconds["numpy_1"], seconds[m], strict=True)), 3),
            }
            for m in methods
        }
    print(f"\n{'case':<8}{'method':<14}{'examples/s':>12}{'audio s/s':>12}{'x numpy_1':>11}")
    for case, rows in table.items():
        for m, row in rows.items():
            name = m.replace("_B", f"_{args.batch}")
            print(f"{case:<8}{name:<14}{row['examples_per_s']:>12}{row['audio_s_per_s']:>12}{row['ratio_to_numpy_1']:>11}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "table": table,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
