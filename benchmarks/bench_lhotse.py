#!/usr/bin/env python
"""audiosynth against Lhotse, side by side on the demo corpus, one process, the same examples.

Every method renders the Planner's scenes of one config (``data_manifests/demo``, 3-6 s, 16 kHz,
``--num-examples`` examples, default 300): the same speech segment at the same onset, the same
noise segment at the same SNR, the same catalog RIR or room seed. Four cases:

- ``write`` (1): audiosynth ``build(config, out, workers=1)``, no reverb: mix, clean, noise as
  FLAC PCM_16. Lhotse: ``MonoCut.truncate`` / ``pad`` / ``mix(noise, snr=)`` -> ``MixedCut``;
  ``load_audio(mixed=False)`` (the tracks, gains applied), their sum the mix; the three files
  written with soundfile (FLAC PCM_16).
- ``write_room`` (2): the same build with a fresh simulated room per example (``reverb:
  simulated``, targets off: 3 files). Lhotse: the same with ``MonoCut.reverb_rir(None,
  room_rng_seed=)``, its fast random RIR generator, a fresh room per example (needs torchaudio).
- ``fly_reverb`` (3): ``OnTheFlyDataset(config)[i]`` for every i (mix, clean, noise; a catalog
  RIR per example, targets off). Lhotse: per item the MixedCut built and loaded, the speech
  through ``reverb_rir(rir_recording)`` (``ReverbWithImpulseResponse``).
- ``fly`` (4): ``OnTheFlyDataset(config)[i]``, no reverb. Lhotse: per item the MixedCut built
  and loaded.

For (3) and (4) the training pipeline is timed too (``audiosynth_loader``: ``OnTheFlyLoader``,
batches of 8, ``num_workers=0`` so one process, NumPy backend), reported beside the per-item
dataset; the goal ratio uses the per-item dataset, the same access pattern as Lhotse's. Both
render on the fly with their default clip cache (clips decoded once and kept, 256 MB a process;
Lhotse decodes each segment from its file every time); ``audiosynth_nocache`` is the dataset with
``clip_cache_mb=0``, reading every segment from its file as Lhotse does, shown beside them.

What differs, and how: audiosynth does more per example (speech at a drawn level, peak limiting
to -1 dBFS, PCM quantization with ``mix == clean + noise`` exact, labels measured: SNR, levels,
RT60/DRR/C50 for reverberant ones); Lhotse mixes at the clip's own level and measures nothing.
Lhotse's recordings (``Recording.from_file``, a header read each) and audiosynth's catalogs are
loaded before the clock, and one item of each on-the-fly method is rendered before it (first-use
costs: Lhotse's audio backend, audiosynth's planner); a build's run includes its pre-flight and its durable writes (one
``syncfs`` a shard), Lhotse's writes are soundfile's. Each run is a fresh interpreter after
``os.sync()``; runs are interleaved (each case: audiosynth, Lhotse) and repeated; a ratio is the
median over repeats of the ratio within a repeat. Threads: audiosynth renders on one (as a build
worker); Lhotse gets one torch thread too (``--lhotse-threads``, 0 for torch's default, here 2):
with two, its reverberant cases ran 5-9x slower on this shared 2-core machine (OpenMP threads
waiting on each other under load) than with one, which would flatter audiosynth. Lhotse's reverberation by a generated room
needs torchaudio; where ``import torchaudio`` fails, case (2) runs audiosynth only and says so.
Every run has glibc keep freed memory for reuse (``MALLOC_ENV``: what audiosynth's build and
DataLoader workers set for themselves; given to Lhotse's runs alike). Results: ``benchmarks/results/lhotse.json``.

    python benchmarks/bench_lhotse.py                       # 300 examples, 3 repeats
    python benchmarks/bench_lhotse.py --repeats 5 --cases fly fly_reverb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
RESULTS = ROOT / "benchmarks" / "results" / "lhotse.json"
CASES = ("write", "write_room", "fly_reverb", "fly")
# glibc keeps freed memory for reuse in every run, audiosynth's and Lhotse's alike (what audiosynth's
# build and DataLoader workers set for themselves, `keep_freed_memory`): both allocate ~0.5 MB arrays
# per item, which glibc's defaults give back to the OS and page-fault in again
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(64 << 20), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}
ROLES = ("mix", "clean", "noise")


def make_config(case: str, num_examples: int) -> Any:
    from audiosynth.config import config_from_dict

    reverb: dict[str, Any] = {"probability": 0.0}
    if case == "write_room":
        reverb = {"probability": 1.0, "source": "simulated", "simulator": "ism", "room": {"rt60_s": [0.2, 0.8]}}
    elif case == "fly_reverb":
        reverb = {"probability": 1.0, "source": "catalog"}
    return config_from_dict(
        {
            "catalogs": {k: [str(DEMO / f"{k}.jsonl")] for k in ("speech", "noise", "rirs")},
            "seed": 0,
            "num_examples": num_examples,
            "sample_rate": 16000,
            "duration_s": [3.0, 6.0],
            "reverb": reverb,
            "targets": {"direct": False, "early": False},
            "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
        }
    )


def torchaudio_available() -> bool:
    try:
        import torchaudio  # noqa: F401
    except Exception:  # noqa: BLE001  (any failure to import it: missing, or built for another torch)
        return False
    return True


# -- Lhotse ----------------------------------------------------------------------------------


class LhotseScenes:
    """The Planner's scenes as Lhotse cuts: ``cut(i)`` builds example i's MixedCut."""

    def __init__(self, case: str, num_examples: int) -> None:
        from lhotse import Recording

        from audiosynth.plan.planner import Planner
        from audiosynth.plan.pools import load_catalogs

        config = make_config(case, num_examples)
        catalogs = load_catalogs(config)
        planner = Planner(config, catalogs)
        clips = catalogs.all()
        self.case = case
        self.rate = config.sample_rate
        self.scenes = [planner.scene(i) for i in range(num_examples)]
        ids = {c for s in self.scenes for c in s.clip_ids()}
        self.recordings = {i: Recording.from_file(str(clips.resolve(clips.by_id(i))), recording_id=i) for i in sorted(ids)}

    def cut(self, index: int) -> Any:
        scene, rate = self.scenes[index], self.rate
        source = scene.sources[0]
        seg = source.segment
        total = scene.num_samples / rate
        speech = self.recordings[seg.clip_id].to_cut().truncate(offset=seg.offset / rate, duration=seg.length / rate)
        if self.case == "fly_reverb":
            assert source.rir_clip is not None
            speech = speech.reverb_rir(self.recordings[source.rir_clip])
        elif self.case == "write_room":
            speech = speech.reverb_rir(None, room_rng_seed=scene.room.seed if scene.room else index, source_rng_seed=index)
        if seg.onset:
            speech = speech.pad(duration=speech.duration + seg.onset / rate, direction="left")
        speech = speech.pad(duration=total, direction="right")
        if scene.noise is None:
            return speech
        nseg = scene.noise.segment
        noise_rec = self.recordings[nseg.clip_id]
        length = min(nseg.length, noise_rec.num_samples - nseg.offset)
        noise = noise_rec.to_cut().truncate(offset=nseg.offset / rate, duration=length / rate)
        return speech.mix(noise, snr=scene.noise.snr_db, preserve_id="left")

    def tracks(self, index: int) -> tuple[Any, Any, Any]:
        """``(mix, clean, noise)`` of example i, each ``(1, N)`` float32."""
        cut = self.cut(index)
        n = self.scenes[index].num_samples
        if not hasattr(cut, "tracks"):  # no noise in this scene
            clean = cut.load_audio()[:, :n]
            return clean, clean, clean * 0
        tracks = cut.load_audio(mixed=False)  # (tracks, channels, N): each track with its gain
        clean, noise = tracks[0][:, :n], tracks[1][:, :n]
        return clean + noise, clean, noise


def run_lhotse(case: str, num_examples: int, out: Path, threads: int) -> dict[str, Any]:
    import soundfile as sf
    import torch

    if threads > 0:
        torch.set_num_threads(threads)  # Lhotse convolves and mixes with torch

    scenes = LhotseScenes(case, num_examples)
    audio_s = sum(s.duration for s in scenes.scenes)
    scenes.tracks(0)  # Lhotse's first-use costs (audio backend, torch) before the clock, as audiosynth's catalogs
    start = time.perf_counter()
    if case.startswith("write"):
        for i, scene in enumerate(scenes.scenes):
            for role, x in zip(ROLES, scenes.tracks(i), strict=True):
                sf.write(out / f"{scene.id}.{role}.flac", x.T, scenes.rate, subtype="PCM_16")
    else:
        for i in range(num_examples):
            scenes.tracks(i)
    return {"seconds": time.perf_counter() - start, "audio_s": audio_s}


# -- audiosynth ------------------------------------------------------------------------------


def run_audiosynth(case: str, num_examples: int, out: Path, loader: bool = False, cache_mb: float = 256.0) -> dict[str, Any]:
    import torch

    from audiosynth.torch import OnTheFlyDataset, OnTheFlyLoader

    config = make_config(case, num_examples)
    if case.startswith("write"):
        from audiosynth.build import build

        start = time.perf_counter()
        summary = build(config, out / "ds", workers=1, progress=False)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "audio_s": summary.audio_hours * 3600}
    torch.set_num_threads(1)
    if loader:
        batches = OnTheFlyLoader(config, roles=ROLES, batch_size=8, backend="numpy", num_workers=0)
        batches.renderer.render([batches.dataset[0]])  # catalogs and planner loaded before the clock
        start = time.perf_counter()
        audio_s = sum(float(b["lengths"]["mix"].sum()) for b in batches) / config.sample_rate
        return {"seconds": time.perf_counter() - start, "audio_s": audio_s}
    dataset = OnTheFlyDataset(config, roles=ROLES, clip_cache_mb=cache_mb)
    dataset[0]  # catalogs and planner loaded before the clock
    start = time.perf_counter()
    audio_s = sum(dataset[i]["mix"].shape[-1] for i in range(num_examples)) / config.sample_rate
    return {"seconds": time.perf_counter() - start, "audio_s": audio_s}


def run_once(method: str, case: str, num_examples: int, out: Path, lhotse_threads: int = 1) -> dict[str, Any]:
    if method == "lhotse":
        return run_lhotse(case, num_examples, out, lhotse_threads)
    cache_mb = 0.0 if method == "audiosynth_nocache" else 256.0
    return run_audiosynth(case, num_examples, out, loader=method == "audiosynth_loader", cache_mb=cache_mb)


def spawn(method: str, case: str, num_examples: int, lhotse_threads: int) -> dict[str, Any]:
    os.sync()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--run", method, case, tmp, "--num-examples", str(num_examples)]
        cmd += ["--lhotse-threads", str(lhotse_threads)]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **MALLOC_ENV}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} {case} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(method=method, case=case, load_before=round(load, 2), audio_s_per_s=result["audio_s"] / result["seconds"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-examples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--lhotse-threads", type=int, default=1, help="torch threads of the Lhotse runs (audiosynth renders on one); 0: torch's default"
    )
    parser.add_argument("--run", nargs=3, metavar=("METHOD", "CASE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        method, case, out = args.run
        print(json.dumps(run_once(method, case, args.num_examples, Path(out), args.lhotse_threads)))
        return

    import lhotse

    has_torchaudio = torchaudio_available()
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for case in args.cases:
            methods = ["audiosynth"] + (["audiosynth_loader", "audiosynth_nocache"] if case.startswith("fly") else [])
            methods += ["lhotse"] if case != "write_room" or has_torchaudio else []
            for method in methods:
                result = spawn(method, case, args.num_examples, args.lhotse_threads)
                result["repeat"] = repeat
                runs.append(result)
                print(f"  repeat {repeat} {case:10s} {method:17s} {result['audio_s_per_s']:8.1f} audio-s/s", flush=True)

    def of(case: str, method: str) -> list[float]:
        return [r["audio_s_per_s"] for r in runs if r["case"] == case and r["method"] == method]

    table = []
    for case in args.cases:
        row: dict[str, Any] = {"case": case}
        for method in ("audiosynth", "audiosynth_loader", "audiosynth_nocache", "lhotse"):
            if of(case, method):
                row[method] = round(statistics.median(of(case, method)), 1)
        for method in ("audiosynth", "audiosynth_loader", "audiosynth_nocache"):
            if of(case, "lhotse") and of(case, method):
                ratios = [a / b for a, b in zip(of(case, method), of(case, "lhotse"), strict=True)]
                row[f"{method}_over_lhotse"] = {
                    "median": round(statistics.median(ratios), 2),
                    "min": round(min(ratios), 2),
                    "max": round(max(ratios), 2),
                }
        if case == "write_room" and not has_torchaudio:
            row["lhotse"] = "not run: torchaudio cannot be imported (Lhotse's room generator needs it)"
        table.append(row)

    print(f"\n{args.num_examples} examples, one process, median of {args.repeats}; audio seconds per wall second")
    print(f"{'case':12s} {'audiosynth':>11s} {'loader':>9s} {'no cache':>9s} {'lhotse':>9s}  {'ratio (range)':>22s}  loader, no cache")
    for row in table:
        lh = row.get("lhotse")
        ratio = row.get("audiosynth_over_lhotse")
        others = [row.get(f"audiosynth_{m}_over_lhotse") for m in ("loader", "nocache")]
        print(
            f"{row['case']:12s} {row['audiosynth']:11.1f} {row.get('audiosynth_loader', float('nan')):9.1f} "
            f"{row.get('audiosynth_nocache', float('nan')):9.1f} {lh if isinstance(lh, float) else float('nan'):9.1f}  "
            + (f"{ratio['median']:6.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else f"{'n/a':>22s}")
            + "".join(f"   {r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})" for r in others if r)
        )
        if isinstance(lh, str):
            print(f"{'':12s} lhotse {lh}")
    import numpy
    import soundfile

    result = {
        "date": date.today().isoformat(),
        "command": "python benchmarks/bench_lhotse.py " + " ".join(sys.argv[1:]),
        "num_examples": args.num_examples,
        "repeats": args.repeats,
        "lhotse_threads": args.lhotse_threads,
        "versions": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "soundfile": soundfile.__version__,
            "lhotse": lhotse.__version__,
            "torchaudio": has_torchaudio,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "table": table,
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
