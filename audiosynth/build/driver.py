"""Build a dataset: pre-flight, then render shards on a process pool, resumably.

Shards (``output.shard_size`` consecutive examples) are the unit of work, of resume and of
output. A shard is done when ``shards/SSSSS.jsonl`` exists; a rerun skips done shards and
redoes the others, which gives the same bytes because every example depends only on
``(config, seed, index)``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .. import __version__
from ..config import SPLITS, Config
from ..dataset.folder import (
    folder_lock,
    shard_rejects_path,
)
from ..dataset.rows import row_speakers
from ..dataset.trust import check_output_dir
from ..dataset.webdataset import (
    FOLDER_FORMAT,
    SHARDS_FORMAT,
    write_shards_index,
)
from ..dsp import kernels
from ..errors import ConfigError, DatasetError, Interrupted
from ..io.files import jsonl_bytes, output_errors, write_atomic
from ..plan.planner import Planner
from ..plan.pools import Catalogs, load_catalogs
from ..render.labels import LABEL_DEFINITIONS
from .estimate import Estimate, estimate
from .interrupt import StopFlag, sigint_stops
from .limits import check_early_s, check_memory
from .resume import (
    catalog_fingerprints,
    check_same_build,
    check_shard_fingerprints,
    done_shards,
    iter_shard_rows,
    todo_shards,
)

log = logging.getLogger(__name__)


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
    rejected_clips: dict[str, int] = field(default_factory=dict)  # reason -> clips found bad while rendering

    def format(self) -> str:
        rate = self.num_built / self.seconds if self.seconds > 0 else 0.0
        lines = [
            (
                f"built {self.num_built} examples ({self.num_skipped} already done) in {self.seconds:.1f} s "
                f"({rate:.1f} examples/s); {self.num_examples} in all, {self.audio_hours:.3f} h -> {self.out_dir}"
            ),
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
        if self.rejected_clips:
            lines.append(f"  clips rejected while rendering (examples re-drawn): {self.rejected_clips}; see rejects.jsonl")
        return "\n".join(lines)


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


def _finish(out: Path, config: Config, num_shards: int) -> tuple[dict[str, int], dict[str, Any], float]:
    """Write manifest.jsonl from the shards (their rows less the fingerprint, which must be this
    config's) and gather counts and per-split usage."""
    fingerprint = config.fingerprint()
    counts = dict.fromkeys(SPLITS, 0)
    usage: dict[str, dict[str, Any]] = {
        name: {"speakers": set(), "noise_clips": set(), "rirs": set(), "simulated_rooms": 0} for name in SPLITS
    }
    seconds = 0.0
    tmp = out / "manifest.jsonl.partial"
    with output_errors(tmp), open(tmp, "wb") as handle:
        for row in iter_shard_rows(out, num_shards):
            if row.pop("fingerprint", fingerprint) != fingerprint:
                raise DatasetError(
                    f"{out / 'shards'}: example {row['id']} was written by another config, this build is {fingerprint}; use a new folder"
                )
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


def _gather_rejects(out: Path, num_shards: int) -> dict[str, int]:
    """Merge the shards' render-time rejects into ``OUT/rejects.jsonl`` (shard order); returns the
    number of distinct bad clips per reason."""
    rows = []
    with os.scandir(out / "shards") as entries:  # one listing, not a stat per shard
        present = {e.name for e in entries if e.name.endswith(".rejects.jsonl")}
    for shard in range(num_shards) if present else ():
        path = shard_rejects_path(out, shard)
        if path.name in present:
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows:
        write_atomic(out / "rejects.jsonl", jsonl_bytes(rows))
    else:
        (out / "rejects.jsonl").unlink(missing_ok=True)
    clips = {row["clip"]: row["reason"] for row in rows}
    return dict(sorted(Counter(clips.values()).items()))


def build(
    config: Config,
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: bool = True,
    dry_run: bool = False,
    format: str = "folder",
    engine: str = "pool",
    address: str | None = None,
) -> BuildSummary | Estimate:
    """Build the dataset of ``config`` into ``out_dir`` (or only estimate it with ``dry_run``).

    Args:
        config: a validated config (its seed and num_examples included).
        out_dir: the dataset folder; an unfinished build there is resumed.
        workers: processes (default: the number of cores); 1 renders in this process.
        progress: show a progress bar.
        dry_run: stop after the pre-flight check and the estimate.
        format: "folder" (audio files) or "webdataset" (one tar per shard, see `audiosynth.shards`).
        engine: "pool" (local processes), "dask" or "ray" (see `audiosynth.engines`): the same bytes.
        address: the Dask scheduler or Ray cluster to use (default: a local one of ``workers``).

    Ctrl-C (SIGINT, in the main thread) stops the build after the example in progress: that
    shard's temporary files are removed and `Interrupted` is raised; a second Ctrl-C ends the
    process at once (as kill -9 would). The caller's SIGINT handler is restored on return.
    """
    with sigint_stops() as stop:
        return _build(
            config, out_dir, stop, workers=workers, progress=progress, dry_run=dry_run, format=format, engine=engine, address=address
        )


def _interrupted(done: int, num_shards: int) -> Interrupted:
    return Interrupted(f"interrupted: {done} of {num_shards} shards done, rerun the same command to resume")


def _build(
    config: Config,
    out_dir: str | os.PathLike[str],
    stop: StopFlag,
    *,
    workers: int | None,
    progress: bool,
    dry_run: bool,
    format: str,
    engine: str,
    address: str | None,
) -> BuildSummary | Estimate:
    from .engines import ENGINES, run_shards

    if format not in ("folder", "webdataset"):
        raise ConfigError(f"format: {format!r} is not 'folder' or 'webdataset'")
    if engine not in ENGINES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    layout = SHARDS_FORMAT if format == "webdataset" else FOLDER_FORMAT
    check_output_dir(out_dir)  # not /, ~, or a non-empty folder that is no dataset; before anything is written, dry run too
    try:
        kernels.check_backend(config.backend, config.device)
    except ValueError as err:
        raise ConfigError(f"backend/device: {err}") from err
    catalogs: Catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)  # pre-flight: raises PreflightError with the reason
    check_early_s(config)  # pre-flight: a simulated room must be simulable at this sample rate
    check_memory(config, catalogs)  # pre-flight: the largest example must fit limits.max_example_memory_gb
    workers = max(1, workers or os.cpu_count() or 1)
    if dry_run or log.isEnabledFor(logging.INFO):  # the estimate renders a few examples: only when shown
        est = estimate(planner, catalogs.all())
        log.info("%s with %d worker(s): ~%.0f s", est.format(), workers, est.seconds / workers)
        if stop.is_set():
            raise _interrupted(0, math.ceil(config.num_examples / config.output.shard_size))
        if dry_run:
            return Estimate(est.num_examples, est.audio_hours, est.disk_bytes, est.seconds / workers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalogs_used = catalog_fingerprints(config)
    num_shards = math.ceil(config.num_examples / config.output.shard_size)
    info = {
        "format": layout,
        "version": 1,
        "status": "running",
        "config": config.to_dict(),
        "fingerprint": config.fingerprint(),
        "catalogs": catalogs_used,
        "seed": config.seed,
        "num_examples": config.num_examples,
        "versions": _versions(),
        "label_definitions": LABEL_DEFINITIONS,
    }
    with folder_lock(out):  # another build of this folder may be starting or finishing
        check_same_build(out, config, layout, catalogs_used)
        todo, done, done_examples = todo_shards(out, config.num_examples, config.output.shard_size)
        check_shard_fingerprints(out, done, config.fingerprint(), layout)  # build.json may have been deleted
        if stop.is_set():
            raise _interrupted(len(done), num_shards)
        write_atomic(out / "build.json", json.dumps(info, indent=2).encode())
    start = time.perf_counter()
    bar = tqdm(total=config.num_examples, initial=done_examples, unit="ex", disable=not progress, desc="build", dynamic_ncols=True)
    built_seconds = 0.0
    try:
        for _shard, count, seconds in run_shards(
            engine, config.model_dump_json(), str(out), todo, workers, format, address, json.dumps(catalogs_used, sort_keys=True), stop=stop
        ):
            built_seconds += seconds
            bar.update(count)
            bar.set_postfix_str(f"{built_seconds / 3600:.3f} h audio")
    finally:
        bar.close()
    if stop.is_set():
        raise _interrupted(len(done_shards(out) & set(range(num_shards))), num_shards)
    elapsed = time.perf_counter() - start
    with folder_lock(out):  # two builds finishing together: one at a time, the same result
        counts, usage, total_seconds = _finish(out, config, num_shards)
        rejects = _gather_rejects(out, num_shards)
        shutil.rmtree(out / ".locks", ignore_errors=True)  # every shard is done: a late attempt finds its rows, not a lock
        if format == "webdataset":
            write_shards_index(out)
        info.update(
            status="complete",
            counts=counts,
            audio_hours=round(total_seconds / 3600, 6),
            usage=usage,
            excluded_speech=dict(planner.excluded),
            rejected_clips=rejects,
        )
        write_atomic(out / "build.json", json.dumps(info, indent=2).encode())
    return BuildSummary(
        str(out),
        config.num_examples,
        config.num_examples - done_examples,
        done_examples,
        total_seconds / 3600,
        elapsed,
        counts,
        usage,
        dict(planner.excluded),
        rejects,
    )
