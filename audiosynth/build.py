"""Build a dataset: pre-flight, then render shards on a process pool, resumably.

Shards (``output.shard_size`` consecutive examples) are the unit of work, of resume and of
output. A shard is done when ``shards/SSSSS.jsonl`` exists; a rerun skips done shards and
redoes the others, which gives the same bytes because every example depends only on
``(config, seed, index)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from . import __version__
from .config import SPLITS, Config
from . import kernels
from .errors import AudioError, ConfigError, CropError, DatasetError, Interrupted
from .limits import check_early_s, check_memory
from .plan import Catalogs, Planner, load_catalogs
from .render import Rendered, render
from .validate import row_speakers
from .shards import FOLDER_FORMAT, SHARDS_FORMAT, WebDatasetShardWriter, write_shards_index
from .trust import check_output_dir
from .writers import (FolderShardWriter, example_files, folder_lock, jsonl_bytes, output_errors, shard_lock, shard_rejects_path,
                      shard_rows_path, write_atomic, write_shard_rejects)

log = logging.getLogger(__name__)

LABEL_DEFINITIONS = {
    "snr_db": "10*log10(sum(speech^2) / sum(noise^2)) over all samples of the written files, speech = mix - noise (the clean image(s))",
    "mix_dbfs": "RMS level of the written mixture over all samples, dB re full scale",
    "mix_peak_dbfs": "peak absolute sample of the written mixture, dBFS",
    "noise_dbfs": "RMS level of the written noise over all samples, dBFS",
    "clean_dbfs": "RMS level of the written clean image over all samples, dBFS",
    "gain_db": "common gain applied to the mixture, its images and noise (and every target) to stay below output.peak_dbfs (0 when none)",
    "speech_level_dbfs": "RMS of the first talker's written image over the samples its utterance spans (the drawn level + gain_db)",
    "<target>_gain_db": "a target's own gain on top of gain_db (<= 0) so that it stays below output.peak_dbfs",
    "activity_overlap_ratio": "speech overlap: time with two or more talkers active over time with one or more, activity measured on the written images",
    "rt60_s": "RT60 of the RIR applied, from its Schroeder decay (T20: -5 to -25 dB, extrapolated to 60 dB), "
              "a noise floor truncated first (Lundeby); null when it cannot be measured",
    "rt60_reason": "present when rt60_s or rt60_t30_s is null: silent, single_impulse or shallow_decay",
    "text": "the clip's transcript, present only when the whole utterance is inside the example",
}


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
    rejected_clips: dict[str, int] = field(default_factory=dict)  # reason -> clips found bad while rendering

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
        if self.rejected_clips:
            lines.append(f"  clips rejected while rendering (examples re-drawn): {self.rejected_clips}; see rejects.jsonl")
        return "\n".join(lines)


PROBE_BUDGET_S = 60.0  # seconds of audio an estimate renders, at most, in all its probes


def estimate(planner: Planner, clips_catalog: Any, num_probe: int = 3) -> Estimate:
    """Render and encode a few examples in-process to estimate hours, disk size and single-worker time.

    The probes' own durations are used: with several talkers or sessions an example's length
    comes from its utterances, not from ``duration_s``. Probes planned longer than
    `PROBE_BUDGET_S` in all are rendered from a copy of the config with sessions (or
    ``duration_s``) cut to fit the budget, and their cost per second of audio is scaled to the
    planned durations: a dry run renders at most that budget (or one utterance per probe, where
    a single utterance is longer)."""
    config = planner.config
    probe = [int(i) for i in np.linspace(0, config.num_examples - 1, min(num_probe, config.num_examples)).astype(int)]
    planned = [planner.scene(index).duration for index in probe]  # planning only: cheap
    cap = PROBE_BUDGET_S / len(probe)
    if sum(planned) > PROBE_BUDGET_S:
        longest = max(clip.duration for clip in planner.catalogs.speech)
        planner = Planner(_shortened(config, cap, longest), planner.catalogs)
    start = time.perf_counter()
    probe_bytes, probe_seconds, rendered_seconds = 0, 0.0, 0.0
    for index, planned_s in zip(probe, planned):
        rendered, _ = render_example(planner, index, clips_catalog, planner.config)  # bad clips re-drawn, as in the build
        files, _, _ = example_files(rendered, config.output.format, config.output.subtype)
        probe_bytes += sum(len(data) for data in files.values())
        rendered_seconds += rendered.scene.duration
        probe_seconds += rendered.scene.duration if planner.config is config else planned_s
    elapsed = time.perf_counter() - start
    total_seconds = config.num_examples * probe_seconds / len(probe)
    return Estimate(config.num_examples, total_seconds / 3600, probe_bytes / rendered_seconds * total_seconds,
                    elapsed / rendered_seconds * total_seconds)


def _shortened(config: Config, seconds: float, longest_clip_s: float) -> Config:
    """``config`` with examples (sessions) at most ``seconds`` long, for probes of a dry run (a
    session ends after the turn that passes its length: that turn and a pause are kept room for)."""
    from .config import MIN_DURATION_S

    data = config.to_dict()
    if config.task == "diarization":
        pause = [min(p, seconds / 8) for p in config.session.pause_s]
        length = max(MIN_DURATION_S, seconds - longest_clip_s - 2 * pause[1])
        data["session"].update(duration_s=[min(d, length) for d in config.session.duration_s], pause_s=pause)
    else:
        data["duration_s"] = [min(d, seconds) for d in config.duration_s]
    return Config.model_validate(data)


# -- Ctrl-C -------------------------------------------------------------------------------
class StopFlag:
    """A request to stop, set by Ctrl-C (see `sigint_stops`), read between examples and shards."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@contextlib.contextmanager
def sigint_stops(hard_exit: bool = True) -> Iterator[StopFlag]:
    """While the body runs, Ctrl-C (SIGINT) only sets the yielded flag, so no `KeyboardInterrupt` can
    land inside C code's callbacks (soundfile encodes FLAC through cffi callbacks, which print and
    swallow exceptions and leave a wrong file). With ``hard_exit`` a second Ctrl-C ends the process
    at once (status 130), as safe as kill -9. The previous handler is restored after. Outside the main
    thread no handler can be installed: the body runs as it is, and the flag stays unset."""
    stop = StopFlag()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set() and hard_exit:
            os.write(2, b"interrupted again: stopping at once; the shard in progress is redone on resume\n")
            os._exit(130)
        if not stop.is_set() and hard_exit:
            os.write(2, b"interrupt: stopping after the example in progress (Ctrl-C again to stop at once)\n")
        stop.set()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


# -- worker side --------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(config_json: str) -> None:
    config = Config.model_validate_json(config_json)
    catalogs = load_catalogs(config)
    _WORKER.update(config=config, planner=Planner(config, catalogs), clips=catalogs.all(), fingerprint=config.fingerprint())


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


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel kill this worker when the build process dies (even by SIGKILL), so
    that no orphan keeps writing into a folder that a resumed build is writing too; and exit now
    if the build died before this ran."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_pool_worker(config_json: str, parent_pid: int, stop: Any = None) -> None:
    """A pool worker ignores SIGINT (it runs in a session of its own, see `engines`, so a terminal's
    Ctrl-C does not reach it anyway): the driver decides, and sets ``stop`` (an event read between examples)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    _keep_freed_memory()
    _init_worker(config_json)
    _WORKER["stop"] = stop


MAX_DRAWS = 20  # draws of one example before a build gives up on it (every one used a bad clip)


def render_example(planner: Planner, index: int, clips: Any, config: Config) -> tuple[Rendered, list[dict[str, Any]]]:
    """Render example ``index``, re-drawing it (`Planner.scene` attempts 1, 2, ...) while a clip
    it reads turns out bad. Returns the rendering and one reject row per bad clip met. A bad
    crop (`CropError`, e.g. a silent stretch of a noise file) is recorded and re-drawn the same
    way, but the clip stays drawable: only a bad clip is excluded from the example's later draws.

    The draws depend only on the example and on which of its clips are bad, never on other
    examples, so any worker count or engine gives the same bytes."""
    bad: set[str] = set()
    rejects: list[dict[str, Any]] = []
    for attempt in range(MAX_DRAWS):
        scene = planner.scene(index, attempt)
        if scene.clip_ids() & bad:
            continue
        try:
            return render(scene, clips, config.output.subtype, backend=config.backend, device=config.device), rejects
        except AudioError as err:
            if err.clip_id is None:
                raise
            if not isinstance(err, CropError):  # a bad crop only re-draws; a bad clip is not drawn again
                bad.add(err.clip_id)
            rejects.append({"example": scene.id, "attempt": attempt, "clip": err.clip_id, "path": err.path,
                            "reason": err.reason, "detail": err.detail})
    met = sorted({(r["clip"], r["reason"]) for r in rejects})
    first = next(r for r in rejects if (r["clip"], r["reason"]) == met[0])
    seen = f"{first['clip']!r} ({first['reason']}: {first['detail']})" + "".join(f", {c!r} ({why})" for c, why in met[1:8])
    raise DatasetError(f"example {index}: all {MAX_DRAWS} draws read a bad clip or crop: {seen}"
                       f"{f' and {len(met) - 8} more' if len(met) > 8 else ''}; fix or re-catalog the corpus")


def build_shard(out_dir: str, shard: int, format: str = "folder") -> tuple[int, int, float]:
    """Render and write shard ``shard`` (in a worker set up by `_init_worker`) as a folder
    shard or, with ``format="webdataset"``, a tar. Returns ``(shard, examples, audio seconds)``.
    On any failure, and when ``_WORKER["stop"]`` is set before an example (Ctrl-C: raises
    `Interrupted`), the shard's temporary files are removed; a later build redoes it. Its rows carry
    the config's fingerprint."""
    config: Config = _WORKER["config"]
    planner: Planner = _WORKER["planner"]
    stop = _WORKER.get("stop")
    size = config.output.shard_size
    with shard_lock(out_dir, shard):
        done = shard_rows_path(out_dir, shard)
        if done.exists():  # another attempt finished it while this one waited
            rows = [json.loads(line) for line in done.read_text(encoding="utf-8").splitlines()]
            return shard, len(rows), sum(row["duration"] for row in rows)
        writer_class = WebDatasetShardWriter if format == "webdataset" else FolderShardWriter
        writer = writer_class(out_dir, shard, config.output.format, config.output.subtype)
        seconds, rejects = 0.0, []
        try:
            for index in range(shard * size, min(config.num_examples, (shard + 1) * size)):
                if stop is not None and stop.is_set():
                    raise Interrupted(f"shard {shard}: stopped by Ctrl-C before example {index}")
                rendered, met = render_example(planner, index, _WORKER["clips"], config)
                rejects += met
                writer.add(rendered)
                seconds += rendered.scene.duration
            for row in writer.rows:
                row["fingerprint"] = _WORKER["fingerprint"]  # which config wrote it (dropped from the manifest)
            write_shard_rejects(out_dir, shard, rejects)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return shard, len(writer.rows), seconds


def run_shard_task(config_json: str, out_dir: str, shard: int, format: str = "folder", catalogs_key: str = "") -> tuple[int, int, float]:
    """`build_shard` as a self-contained task for a distributed engine: sets up this worker
    process for ``config_json`` once (as the process pool's initializer does), renders with
    one BLAS thread (threaded sums differ in the last bit), and writes the shard. The process is
    the engine's worker, so these settings stay for its life."""
    key = (config_json, catalogs_key)  # a reused worker reloads when the config or a catalog's content changed
    if _WORKER.get("key") != key:
        from threadpoolctl import threadpool_limits

        _keep_freed_memory()
        threadpool_limits(limits=1)  # for the rest of this worker process: set once (each call scans every loaded library)
        _init_worker(config_json)
        _WORKER["key"] = key
    return build_shard(out_dir, shard, format)


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


def catalog_fingerprints(config: Config) -> dict[str, dict[str, Any]]:
    """Per catalog file of ``config``: its sha256 and number of clips (rows), to notice a change."""
    out = {}
    for path in (*config.catalogs.speech, *config.catalogs.noise, *config.catalogs.rirs):
        digest, rows = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            for line in handle:
                digest.update(line)
                rows += bool(line.strip())
        out[str(path)] = {"sha256": digest.hexdigest(), "clips": rows}
    return out


def check_same_build(out: Path, config: Config, format: str = FOLDER_FORMAT, catalogs: dict[str, dict[str, Any]] | None = None) -> None:
    """Refuse to resume into a folder started with another config, format or catalog content; name the differences."""
    path = out / "build.json"
    if not path.exists():
        return
    previous = json.loads(path.read_text())
    if previous.get("format", FOLDER_FORMAT) != format:
        raise DatasetError(f"{path}: this folder holds a {previous.get('format')!r} build, not {format!r}; use a new folder")
    old, new = _flatten(previous.get("config", {})), _flatten(config.to_dict())
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and not k.startswith("limits.")]  # limits do not change the bytes: raise one and resume
    if diff:
        raise DatasetError(f"{path}: this folder was built with another config ({'; '.join(diff[:5])}); use a new folder")
    before = previous.get("catalogs") or {}
    changed = [f"{name}: {before[name]['clips']} clips -> {now['clips']}, sha256 {before[name]['sha256'][:12]} -> {now['sha256'][:12]}"
               for name, now in (catalogs or {}).items() if name in before and before[name] != now]
    if changed:
        raise DatasetError(f"{path}: a catalog changed since this folder was started ({'; '.join(changed)}); "
                           "restore it or use a new folder")


def done_shards(out: Path) -> set[int]:
    """Indices of the shards whose rows file ``OUT/shards/SSSSS.jsonl`` exists: one listing of the
    folder, never a stat per shard that could exist."""
    try:
        with os.scandir(out / "shards") as entries:
            return {int(e.name[:-6]) for e in entries if e.name.endswith(".jsonl") and e.name[:-6].isascii() and e.name[:-6].isdigit()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def todo_shards(out: Path, num_examples: int, shard_size: int) -> tuple[Iterator[int], list[int], int]:
    """``(shards to do, lazily in order; done shards; examples they hold)`` of a build of
    ``num_examples`` in shards of ``shard_size``; costs one listing of ``OUT/shards``."""
    num_shards = math.ceil(num_examples / shard_size)
    done = sorted(k for k in done_shards(out) if k < num_shards)
    done_set = set(done)
    done_examples = sum(min(shard_size, num_examples - k * shard_size) for k in done)
    return (k for k in range(num_shards) if k not in done_set), done, done_examples


def check_shard_fingerprints(out: Path, done: Iterable[int], fingerprint: str, layout: str = FOLDER_FORMAT) -> None:
    """Refuse done shards written by another config (their rows carry its fingerprint; rows of an
    older audiosynth carry none and pass) or in another format (a tar shard's rows name their tar)."""
    names = {FOLDER_FORMAT: "folder", SHARDS_FORMAT: "webdataset"}
    for shard in done:
        path = shard_rows_path(out, shard)
        with open(path, encoding="utf-8") as handle:
            line = handle.readline()
        try:
            found = json.loads(line).get("fingerprint") if line.strip() else None
        except ValueError as err:
            raise DatasetError(f"{path}: line 1: not JSON ({err}); delete this shard's rows file to redo it") from err
        if found is not None and found != fingerprint:
            raise DatasetError(f"{path}: written by config {found}, this build is {fingerprint}; "
                               "use a new folder (or delete the other build's shards)")
        found_layout = SHARDS_FORMAT if line.strip() and "shard" in json.loads(line) else FOLDER_FORMAT
        if line.strip() and found_layout != layout:
            raise DatasetError(f"{path}: a shard of a {names[found_layout]} build, this build writes {names[layout]}; "
                               "use a new folder (or delete the other build's shards)")


def iter_shard_rows(out: Path, num_shards: int) -> Iterator[dict[str, Any]]:
    """Manifest rows of every shard in order (streamed, never all in memory)."""
    for shard in range(num_shards):
        with open(shard_rows_path(out, shard), encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def _finish(out: Path, config: Config, num_shards: int) -> tuple[dict[str, int], dict[str, Any], float]:
    """Write manifest.jsonl from the shards (their rows less the fingerprint, which must be this
    config's) and gather counts and per-split usage."""
    fingerprint = config.fingerprint()
    counts = {name: 0 for name in SPLITS}
    usage = {name: {"speakers": set(), "noise_clips": set(), "rirs": set(), "simulated_rooms": 0} for name in SPLITS}
    seconds = 0.0
    tmp = out / "manifest.jsonl.partial"
    with output_errors(tmp), open(tmp, "wb") as handle:
        for row in iter_shard_rows(out, num_shards):
            if row.pop("fingerprint", fingerprint) != fingerprint:
                raise DatasetError(f"{out / 'shards'}: example {row['id']} was written by another config, this build is {fingerprint}; "
                                   "use a new folder")
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


def build(config: Config, out_dir: str | os.PathLike[str], *, workers: int | None = None, progress: bool = True, dry_run: bool = False,
          format: str = "folder", engine: str = "pool", address: str | None = None) -> BuildSummary | Estimate:
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
        return _build(config, out_dir, stop, workers=workers, progress=progress, dry_run=dry_run, format=format, engine=engine,
                      address=address)


def _interrupted(done: int, num_shards: int) -> Interrupted:
    return Interrupted(f"interrupted: {done} of {num_shards} shards done, rerun the same command to resume")


def _build(config: Config, out_dir: str | os.PathLike[str], stop: StopFlag, *, workers: int | None, progress: bool, dry_run: bool,
           format: str, engine: str, address: str | None) -> BuildSummary | Estimate:
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
    info = {"format": layout, "version": 1, "status": "running", "config": config.to_dict(),
            "fingerprint": config.fingerprint(), "catalogs": catalogs_used, "seed": config.seed, "num_examples": config.num_examples,
            "versions": _versions(), "label_definitions": LABEL_DEFINITIONS}
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
        for shard, count, seconds in run_shards(engine, config.model_dump_json(), str(out), todo, workers, format, address,
                                                json.dumps(catalogs_used, sort_keys=True), stop=stop):
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
        info.update(status="complete", counts=counts, audio_hours=round(total_seconds / 3600, 6), usage=usage,
                    excluded_speech=dict(planner.excluded), rejected_clips=rejects)
        write_atomic(out / "build.json", json.dumps(info, indent=2).encode())
    return BuildSummary(str(out), config.num_examples, config.num_examples - done_examples, done_examples,
                        total_seconds / 3600, elapsed, counts, usage, dict(planner.excluded), rejects)
