"""Build a dataset: pre-flight, then render shards on a process pool, resumably.

Shards (``output.shard_size`` consecutive examples) are the unit of work, of resume and of
output. A shard is done when ``shards/SSSSS.jsonl`` exists; a rerun skips done shards and
redoes the others, which gives the same bytes because every example depends only on
``(config, seed, index)``.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import json
import logging
import math
import multiprocessing
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from . import __version__
from .config import SPLITS, Config
from . import kernels
from .errors import ConfigError, DatasetError
from .plan import Catalogs, Planner, load_catalogs
from .render import render
from .validate import row_speakers
from .shards import FOLDER_FORMAT, SHARDS_FORMAT, WebDatasetShardWriter, write_shards_index
from .writers import FolderShardWriter, example_files, jsonl_bytes, shard_rows_path, write_atomic

log = logging.getLogger(__name__)

LABEL_DEFINITIONS = {
    "snr_db": "10*log10(sum(speech^2) / sum(noise^2)) over all samples of the written files, speech = mix - noise (the clean image(s))",
    "mix_dbfs": "RMS level of the written mixture over all samples, dB re full scale",
    "mix_peak_dbfs": "peak absolute sample of the written mixture, dBFS",
    "noise_dbfs": "RMS level of the written noise over all samples, dBFS",
    "clean_dbfs": "RMS level of the written clean image over all samples, dBFS",
    "gain_db": "common gain applied to the mixture and every target to stay below output.peak_dbfs (0 when none)",
    "rt60_s": "RT60 of the RIR applied, from its Schroeder decay (T20: -5 to -25 dB, extrapolated to 60 dB)",
    "text": "the clip's transcript, present only when the whole utterance is inside the example",
}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Estimate:
    """What a build will produce and cost, from rendering a few examples."""

    num_examples: int
    audio_hours: float
    disk_bytes: float
    seconds: float

    def format(self) -> str:
        return (
            f"estimate: {self.num_examples} examples, {self.audio_hours:.2f} h of mixtures, "
            f"~{self.disk_bytes / 1e6:.1f} MB on disk, ~{self.seconds:.1f} s"
        )


@dataclass
class BuildSummary:
    """What a build did (printed by the CLI)."""

    out_dir: str
    num_examples: int
    num_built: int
    num_skipped: int
    audio_hours: float
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    excluded_speech: dict[str, int] = field(default_factory=dict)

    def format(self) -> str:
        rate = self.num_built / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"built {self.num_built} examples ({self.num_skipped} already done) in {self.seconds:.1f} s "
            f"({rate:.1f} examples/s); {self.num_examples} in all, {self.audio_hours:.3f} h -> {self.out_dir}",
        ]
        for name in SPLITS:
            use = self.usage.get(name, {})
            if self.counts.get(name):
                lines.append(
                    f"  {name:5s}: {self.counts[name]} examples, {len(use.get('speakers', []))} speakers, "
                    f"noise clips {use.get('noise_clips', [])}, RIRs {use.get('rirs', [])}, simulated rooms {use.get('simulated_rooms', 0)}"
                )
        if self.excluded_speech:
            lines.append(f"  speech clips excluded before planning: {self.excluded_speech}")
        return "\n".join(lines)


def estimate(planner: Planner, clips_catalog: Any, num_probe: int = 3) -> Estimate:
    """Render and encode a few examples in-process to estimate hours, disk size and single-worker time.

    The probes' own durations are used: with several talkers or sessions an example's length
    comes from its utterances, not from ``duration_s``."""
    config = planner.config
    probe = [planner.scene(int(i)) for i in np.linspace(0, config.num_examples - 1, min(num_probe, config.num_examples)).astype(int)]
    start = time.perf_counter()
    probe_bytes, probe_seconds = 0, 0.0
    for scene in probe:
        rendered = render(scene, clips_catalog, config.output.subtype, backend=config.backend, device=config.device)
        files, _, _ = example_files(rendered, config.output.format, config.output.subtype)
        probe_bytes += sum(len(data) for data in files.values())
        probe_seconds += scene.duration
    elapsed = time.perf_counter() - start
    total_seconds = config.num_examples * probe_seconds / len(probe)
    return Estimate(config.num_examples, total_seconds / 3600, probe_bytes / probe_seconds * total_seconds, elapsed / probe_seconds * total_seconds)


# -- worker side --------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(config_json: str) -> None:
    config = Config.model_validate_json(config_json)
    catalogs = load_catalogs(config)
    _WORKER.update(config=config, planner=Planner(config, catalogs), clips=catalogs.all())


def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    An example allocates and frees a few arrays of ~0.5 MB. With glibc's default, dynamic
    thresholds the top of the heap is given back after most examples and page-faulted in
    again by the next one (~230 faults an example; a 2-worker build ran ~12% faster without
    them). Fixed thresholds (M_TRIM_THRESHOLD 64 MiB, M_MMAP_THRESHOLD 32 MiB, its maximum)
    stop that. Only in the build's own worker processes, never in the caller's (workers=1);
    a no-op without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD


def _init_pool_worker(config_json: str) -> None:
    _keep_freed_memory()
    _init_worker(config_json)


def build_shard(out_dir: str, shard: int, format: str = "folder") -> tuple[int, int, float]:
    """Render and write shard ``shard`` (in a worker set up by `_init_worker`) as a folder
    shard or, with ``format="webdataset"``, a tar. Returns ``(shard, examples, audio seconds)``."""
    config: Config = _WORKER["config"]
    planner: Planner = _WORKER["planner"]
    size = config.output.shard_size
    writer_class = WebDatasetShardWriter if format == "webdataset" else FolderShardWriter
    writer = writer_class(out_dir, shard, config.output.format, config.output.subtype)
    seconds = 0.0
    for index in range(shard * size, min(config.num_examples, (shard + 1) * size)):
        scene = planner.scene(index)
        writer.add(render(scene, _WORKER["clips"], config.output.subtype, backend=config.backend, device=config.device))
        seconds += scene.duration
    writer.commit()
    return shard, len(writer.rows), seconds


# -- driver side --------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import scipy
    import soxr

    return {
        "audiosynth": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "soxr": soxr.__version__,
    }


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for key, value in d.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_same_build(out: Path, config: Config, format: str = FOLDER_FORMAT) -> None:
    """Refuse to resume into a folder started with another config or format; name the differences."""
    path = out / "build.json"
    if not path.exists():
        return
    previous = json.loads(path.read_text())
    if previous.get("format", FOLDER_FORMAT) != format:
        raise DatasetError(f"{path}: this folder holds a {previous.get('format')!r} build, not {format!r}; use a new folder")
    old, new = _flatten(previous.get("config", {})), _flatten(config.to_dict())
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diff:
        raise DatasetError(f"{path}: this folder was built with another config ({'; '.join(diff[:5])}); use a new folder")


def iter_shard_rows(out: Path, num_shards: int) -> Iterator[dict[str, Any]]:
    """Manifest rows of every shard in order (streamed, never all in memory)."""
    for shard in range(num_shards):
        with open(shard_rows_path(out, shard), encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def _finish(out: Path, config: Config, num_shards: int) -> tuple[dict[str, int], dict[str, Any], float]:
    """Write manifest.jsonl from the shards and gather counts and per-split usage."""
    counts = {name: 0 for name in SPLITS}
    usage = {name: {"speakers": set(), "noise_clips": set(), "rirs": set(), "simulated_rooms": 0} for name in SPLITS}
    seconds = 0.0
    tmp = out / "manifest.jsonl.partial"
    with open(tmp, "wb") as handle:
        for row in iter_shard_rows(out, num_shards):
            handle.write(jsonl_bytes([row]))
            split, labels, scene = row["split"], row["labels"], row["scene"]
            counts[split] += 1
            seconds += row["duration"]
            usage[split]["speakers"].update(row_speakers(row))
            if labels.get("noise_clip"):
                usage[split]["noise_clips"].add(labels["noise_clip"])
            usage[split]["rirs"].update(s["rir_clip"] for s in scene["sources"] if s.get("rir_clip"))
            usage[split]["simulated_rooms"] += scene.get("room") is not None
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out / "manifest.jsonl")
    plain = {n: {k: sorted(map(str, v)) if isinstance(v, set) else v for k, v in u.items()} for n, u in usage.items()}
    return counts, plain, seconds


def build(config: Config, out_dir: str | os.PathLike[str], *, workers: int | None = None, progress: bool = True, dry_run: bool = False,
          format: str = "folder") -> BuildSummary | Estimate:
    """Build the dataset of ``config`` into ``out_dir`` (or only estimate it with ``dry_run``).

    Args:
        config: a validated config (its seed and num_examples included).
        out_dir: the dataset folder; an unfinished build there is resumed.
        workers: processes (default: the number of cores); 1 renders in this process.
        progress: show a progress bar.
        dry_run: stop after the pre-flight check and the estimate.
        format: "folder" (audio files) or "webdataset" (one tar per shard, see `audiosynth.shards`).
    """
    if format not in ("folder", "webdataset"):
        raise ConfigError(f"format: {format!r} is not 'folder' or 'webdataset'")
    layout = SHARDS_FORMAT if format == "webdataset" else FOLDER_FORMAT
    try:
        kernels.check_backend(config.backend, config.device)
    except ValueError as err:
        raise ConfigError(f"backend/device: {err}") from err
    catalogs: Catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)  # pre-flight: raises PreflightError with the reason
    workers = max(1, workers or os.cpu_count() or 1)
    if dry_run or log.isEnabledFor(logging.INFO):  # the estimate renders a few examples: only when shown
        est = estimate(planner, catalogs.all())
        log.info("%s with %d worker(s): ~%.0f s", est.format(), workers, est.seconds / workers)
        if dry_run:
            return Estimate(est.num_examples, est.audio_hours, est.disk_bytes, est.seconds / workers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_same_build(out, config, layout)
    info = {"format": layout, "version": 1, "status": "running", "config": config.to_dict(),
            "fingerprint": config.fingerprint(), "seed": config.seed, "num_examples": config.num_examples,
            "versions": _versions(), "label_definitions": LABEL_DEFINITIONS}
    write_atomic(out / "build.json", json.dumps(info, indent=2).encode())
    num_shards = math.ceil(config.num_examples / config.output.shard_size)
    todo = [k for k in range(num_shards) if not shard_rows_path(out, k).exists()]
    size = config.output.shard_size
    done_examples = config.num_examples - sum(min(size, config.num_examples - k * size) for k in todo)
    start = time.perf_counter()
    bar = tqdm(total=config.num_examples, initial=done_examples, unit="ex", disable=not progress, desc="build", dynamic_ncols=True)
    built_seconds = 0.0
    try:
        for shard, count, seconds in _run_shards(config, str(out), todo, workers, format):
            built_seconds += seconds
            bar.update(count)
            bar.set_postfix_str(f"{built_seconds / 3600:.3f} h audio")
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    counts, usage, total_seconds = _finish(out, config, num_shards)
    if format == "webdataset":
        write_shards_index(out)
    info.update(status="complete", counts=counts, audio_hours=round(total_seconds / 3600, 6), usage=usage,
                excluded_speech=dict(planner.excluded))
    write_atomic(out / "build.json", json.dumps(info, indent=2).encode())
    return BuildSummary(str(out), config.num_examples, config.num_examples - done_examples, done_examples,
                        total_seconds / 3600, elapsed, counts, usage, dict(planner.excluded))


def _run_shards(config: Config, out: str, shards: list[int], workers: int, format: str = "folder") -> Iterator[tuple[int, int, float]]:
    """Run `build_shard` for each shard, inline or on a process pool; yields as they finish."""
    if not shards:
        return
    config_json = config.model_dump_json()
    if workers == 1 or len(shards) == 1:
        from threadpoolctl import threadpool_limits

        _init_worker(config_json)
        with threadpool_limits(limits=1):  # as in the pool's workers: threaded BLAS sums differ in the last bit
            for shard in shards:
                yield build_shard(out, shard, format)
        return
    for var in _THREAD_VARS:  # one BLAS/FFT thread per worker process
        os.environ.setdefault(var, "1")
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(min(workers, len(shards)), mp_context=context, initializer=_init_pool_worker, initargs=(config_json,)) as pool:
        futures = [pool.submit(build_shard, out, shard, format) for shard in shards]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
