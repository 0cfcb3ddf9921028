#!/usr/bin/env python
"""Distinct-room RIR throughput: the batched room simulator against the per-scene path and torchrir.

Every room of a run is its own: size 3-9 x 3-7 x 2.4-3.5 m, 16 kHz, a 4-microphone line array
(5 cm), 2-3 sources, RT60 drawn from 0.2-1.2 s (case ``drawn``) or fixed at 0.7 s (case
``rt60_0.7``). One RIR is one (source, microphone) pair; a method's figure is RIRs per second
over the whole set of rooms (median of ``--repeats`` interleaved runs), and its ratio to the
per-scene NumPy loop measured in the same run.

- ``numpy_loop``: `simulate_ism` room by room (the per-scene path), NumPy.
- ``numpy_batch``: `simulate_ism_batch` of all rooms (``--batch`` rooms a call), NumPy.
- ``torch_loop`` / ``torch_batch``: the same on torch, ``--device`` (cpu, or cuda where present;
  CUDA is synchronized before the clock stops).
- ``torchrir_loop``: torchrir (pip) room by room on the same device: ``Room.shoebox`` with
  ``estimate_beta_from_t60`` walls, images up to the same early time
  (``estimate_image_counts_from_tmax(early_s)``, its per-axis half-widths), its diffuse tail
  after ``tdiff = early_s``, the same RIR length and 81-tap fractional delays (its sinc LUT
  default). Skipped with a note where torchrir is not installed.

All simulators' settings: early part 80 ms, RIR length 1.1 RT60 + the longest direct path (as
`simulate_ism` chooses it). Results go to ``benchmarks/results/gpu.json`` (section ``rirs``).

Other sections (the pipeline's mixtures per second) plug in with `add_section`: a function
``(args) -> list of rows`` (`Row`), called after the RIR section, printed in the same table
and saved under its name in the same JSON. Run ``python benchmarks/bench_gpu.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from audiosynth.acoustics import ism

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"
FS = 16000
EARLY_S = 0.08
METHODS = ("numpy_loop", "numpy_batch", "torch_loop", "torch_batch", "torchrir_loop")


class Row(TypedDict):
    """One line of the table: ``rate`` items (``unit``) per second, ``ratio`` to the section's baseline."""

    section: str
    case: str
    method: str
    unit: str
    rate: float
    ratio: float | None
    baseline: str
    median_s: float
    runs_s: list[float]


SECTIONS: list[tuple[str, Callable[[argparse.Namespace], list[Row]]]] = []


def add_section(name: str, rows: Callable[[argparse.Namespace], list[Row]]) -> None:
    """Register another section (e.g. the pipeline's mixtures per second): ``rows(args)`` is
    called after the RIR section; its rows join the table and ``gpu.json`` under ``name``."""
    SECTIONS.append((name, rows))


def draw_rooms(count: int, rt60: float | None, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct rooms as `simulate_ism_batch` specs (``rt60`` None: drawn from 0.2-1.2 s)."""
    rng = np.random.default_rng(seed)
    rooms = []
    for i in range(count):
        size = rng.uniform([3.0, 3.0, 2.4], [9.0, 7.0, 3.5])
        centre = rng.uniform(1.0, size - 1.0)
        mics = [centre + np.array([0.05 * (k - 1.5), 0.0, 0.0]) for k in range(4)]
        sources = [rng.uniform(0.5, size - 0.5) for _ in range(int(rng.integers(2, 4)))]
        rt = float(rng.uniform(0.2, 1.2)) if rt60 is None else rt60
        rooms.append(
            {
                "size_m": tuple(size.tolist()),
                "sources_m": [tuple(s.tolist()) for s in sources],
                "mics_m": [tuple(m.tolist()) for m in mics],
                "rt60_s": max(rt, 1.05 * ism.min_rt60(size)),
                "early_s": EARLY_S,
                "tail_seed": seed * 100_000 + i,
            }
        )
    return rooms


def _length(room: dict[str, Any]) -> int:
    """`simulate_ism`'s RIR length (samples) for ``room``."""
    direct = ism.direct_delays(room["sources_m"], room["mics_m"], FS)
    return math.ceil(1.1 * room["rt60_s"] * FS + direct.max()) + ism.FD_HALF + 1


def method_runner(method: str, device: str, batch: int) -> Callable[[list[dict[str, Any]]], Any] | str:
    """A function simulating a list of rooms with ``method``, or the reason it cannot run here."""
    sync: Callable[[], None] = lambda: None  # noqa: E731
    if method.startswith(("torch", "torchrir")):
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                return "CUDA is not available on this machine"
            sync = torch.cuda.synchronize
    backend = "numpy" if method.startswith("numpy") else "torch"
    dev = "cpu" if backend == "numpy" else device
    if method.endswith("_loop") and not method.startswith("torchrir"):

        def loop(rooms: list[dict[str, Any]]) -> Any:
            out = [ism.simulate_ism(sample_rate=FS, backend=backend, device=dev, **room) for room in rooms]
            sync()
            return out

        return loop
    if method.endswith("_batch"):

        def batched(rooms: list[dict[str, Any]]) -> Any:
            out = [h for lo in range(0, len(rooms), batch) for h in ism.simulate_ism_batch(rooms[lo : lo + batch], FS, backend, dev)]
            sync()
            return out

        return batched
    try:
        import torchrir
        from torchrir.config import SimulationConfig
        from torchrir.sim import simulate
        from torchrir.util.acoustics import estimate_beta_from_t60, estimate_image_counts_from_tmax
    except ImportError:
        return "torchrir is not installed (pip install torchrir)"

    def torchrir_loop(rooms: list[dict[str, Any]]) -> Any:
        out = []
        for room in rooms:
            size = torch.tensor(room["size_m"], dtype=torch.float32)
            beta = estimate_beta_from_t60(size, t60=room["rt60_s"])
            scene = torchrir.StaticScene(
                room=torchrir.Room.shoebox(size=size, fs=FS, beta=beta, device=device),
                sources=torchrir.Source.from_positions(torch.tensor(room["sources_m"], dtype=torch.float32, device=device)),
                mics=torchrir.MicrophoneArray.from_positions(torch.tensor(room["mics_m"], dtype=torch.float32, device=device)),
            )
            nb_img = tuple(int(n) for n in estimate_image_counts_from_tmax(EARLY_S, size).tolist())
            config = SimulationConfig(nb_img=nb_img, nsample=_length(room), tdiff=EARLY_S, seed=room["tail_seed"], device=device)
            out.append(simulate(scene, config).rirs)
        sync()
        return out

    return torchrir_loop


def rir_rows(args: argparse.Namespace) -> list[Row]:
    """The RIR section: every method on each case, interleaved repeats."""
    cases = {"drawn": draw_rooms(args.rooms, None, args.seed), "rt60_0.7": draw_rooms(args.rooms, 0.7, args.seed + 1)}
    runners: dict[str, Callable[[list[dict[str, Any]]], Any]] = {}
    for method in args.methods:
        runner = method_runner(method, args.device, args.batch)
        if isinstance(runner, str):
            print(f"note: skipping {method}: {runner}")
            continue
        runner(cases["drawn"][:2])  # warm-up: imports, caches, kernels
        runners[method] = runner
    times: dict[tuple[str, str], list[float]] = {(c, m): [] for c in cases for m in runners}
    for _ in range(args.repeats):  # interleaved: a slow spell of the (shared) machine hits every method
        for case, rooms in cases.items():
            for method, runner in runners.items():
                start = time.perf_counter()
                runner(rooms)
                times[case, method].append(time.perf_counter() - start)
    rows: list[Row] = []
    for case, rooms in cases.items():
        pairs = sum(len(r["sources_m"]) * len(r["mics_m"]) for r in rooms)
        base = statistics.median(times[case, "numpy_loop"]) if (case, "numpy_loop") in times else None
        for method in runners:
            median = statistics.median(times[case, method])
            rows.append(
                Row(
                    section="rirs",
                    case=case,
                    method=method if method.startswith("numpy") else f"{method}[{args.device}]",
                    unit="RIRs",
                    rate=pairs / median,
                    ratio=None if base is None else base / median,
                    baseline="numpy_loop",
                    median_s=median,
                    runs_s=times[case, method],
                )
            )
    return rows


# ---- the training pipeline: finished mixtures per second ----------------------------------------


def mixture_config(backend: str, device: str, num_examples: int, seed: int) -> Any:
    """Two talkers plus noise in a fresh simulated room per example, a 4-mic circular array, 16 kHz,
    3-4 s: the demo corpus (`configs/denoising_demo.yaml`) with these changes."""
    import yaml

    from audiosynth.config import config_from_dict

    path = ROOT / "configs" / "denoising_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(
        task="separation",
        talkers={"count": [2, 2]},
        num_examples=num_examples,
        seed=seed,
        duration_s=[3.0, 4.0],
        backend=backend,
        device=device,
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
        targets={"direct": False, "early": False},
    )
    data["reverb"] = {**data["reverb"], "probability": 1.0, "source": "simulated"}
    data["reverb"]["room"] = {**data["reverb"]["room"], "rt60_s": [0.2, 1.2], "array": {"type": "circular", "num_mics": 4}}
    return config_from_dict(data, base_dir=path.parent)


def mixture_rows(args: argparse.Namespace) -> list[Row]:
    """Finished 4-channel two-talker-plus-noise mixtures per second: the training pipeline
    (`audiosynth.torch.OnTheFlyLoader`, no encoding) on NumPy and torch, against the reverberant
    build of the same config (1 worker, FLAC encoding), in audio-seconds per second."""
    import shutil
    import tempfile

    from audiosynth.build import build
    from audiosynth.torch import OnTheFlyLoader

    n = args.mixtures
    runs: dict[str, list[float]] = {"build[numpy]": [], "pipeline[numpy]": [], f"pipeline[torch:{args.device}]": []}
    seconds = 0.0
    for repeat in range(args.repeats):
        for method in runs:
            backend = "torch" if "torch" in method else "numpy"
            config = mixture_config(backend, args.device if backend == "torch" else "cpu", n, args.seed + repeat)
            start = time.perf_counter()
            if method.startswith("build"):
                out = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
                try:
                    summary = build(config, out / "ds", workers=1, progress=False)
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                total = float(getattr(summary, "audio_hours", 0.0)) * 3600.0
            else:
                device = args.device if backend == "torch" else "cpu"
                loader = OnTheFlyLoader(config, roles=("mix", "s1", "s2", "noise"), batch_size=8, device=device, backend=backend)
                total = 0.0
                for batch in loader:
                    total += float(batch["lengths"]["mix"].sum()) / config.sample_rate
            runs[method].append(time.perf_counter() - start)
            seconds = total or seconds
    base = statistics.median(runs["build[numpy]"])
    return [
        Row(
            section="mixtures",
            case="2tlk+n,4mic",
            method=method,
            unit="audio-s",
            rate=seconds / statistics.median(times),
            ratio=base / statistics.median(times),
            baseline="build[numpy]",
            median_s=statistics.median(times),
            runs_s=times,
        )
        for method, times in runs.items()
    ]


def versions() -> dict[str, Any]:
    """What the numbers depend on."""
    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()}
    info["machine"] = platform.machine()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    try:
        import torchrir

        info["torchrir"] = getattr(torchrir, "__version__", "installed")
    except ImportError:
        pass
    return info


def print_table(rows: Sequence[Row]) -> None:
    print(f"\n{'section':<10}{'case':<12}{'method':<26}{'per s':>12}  {'unit':<12}{'x baseline':>11}")
    for row in rows:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        print(f"{row['section']:<10}{row['case']:<12}{row['method']:<26}{row['rate']:>12.1f}  {row['unit']:<12}{ratio:>11}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device of the torch and torchrir methods (cpu, cuda)")
    parser.add_argument("--rooms", type=int, default=24, help="distinct rooms per case")
    parser.add_argument("--batch", type=int, default=64, help="rooms per simulate_ism_batch call")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per (case, method); the median is reported")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads on the CPU (NumPy runs on one)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="results file (merged by section)")
    parser.add_argument("--mixtures", type=int, default=48, help="examples per run of the mixtures section (0: skip it)")
    args = parser.parse_args(argv)
    if args.mixtures and ("mixtures", mixture_rows) not in SECTIONS:
        add_section("mixtures", mixture_rows)
    if args.torch_threads and not args.device.startswith("cuda"):
        try:
            import torch

            torch.set_num_threads(args.torch_threads)
        except ImportError:
            pass
    rows = rir_rows(args)
    sections = {"rirs": rows}
    for name, extra in SECTIONS:
        sections[name] = extra(args)
        rows = rows + sections[name]
    print_table(rows)
    report = json.loads(args.json.read_text()) if args.json.exists() else {}
    for name, section_rows in sections.items():
        report[name] = {
            "date": date.today().isoformat(),
            "device": args.device,
            "rooms": args.rooms,
            "batch": args.batch,
            "repeats": args.repeats,
            "versions": versions(),
            "rows": section_rows,
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nsaved {args.json}")


if __name__ == "__main__":
    main()
