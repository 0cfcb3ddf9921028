"""The worker side of a build: set up once per process, then render and write one shard."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ..config import Config
from ..dataset.folder import (
    FolderShardWriter,
    shard_lock,
    shard_rows_path,
    write_shard_rejects,
)
from ..dataset.webdataset import (
    WebDatasetShardWriter,
)
from ..dsp.backend import get_backend
from ..errors import AudioError, ConfigError, CropError, DatasetError, Interrupted
from ..plan.planner import Planner
from ..plan.pools import load_catalogs
from ..render.load import ClipCache, LoadedScene, active_cache, load_scene
from ..render.mix import Rendered, render_batch, rendered_to_numpy
from ..scene import Scene

log = logging.getLogger(__name__)


_WORKER: dict[str, Any] = {}


def _init_worker(config_json: str, *, worker_process: bool = True) -> None:
    """Set this process up for the build of ``config_json``: config, catalogs, planner. In a worker
    process whatever fails is a `ConfigError` that says so (the driver, which did the same, passed)."""
    try:
        config = Config.model_validate_json(config_json)
        catalogs = load_catalogs(config)
        planner = Planner(config, catalogs)
    except Exception as err:
        if not worker_process:
            raise
        detail = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        hint = (  # the config the driver validated fails here only when what it names was registered elsewhere
            " (a worker imports the config's modules afresh: a task registered only under "
            "`if __name__ == '__main__'` is unknown there; register it at import time)"
            if isinstance(err, pydantic.ValidationError)
            else ""
        )
        raise ConfigError(f"a worker process could not set up the build: {detail[:800]}{hint}") from None
    _WORKER.update(
        config=config,
        planner=planner,
        clips=catalogs.all(),
        fingerprint=config.fingerprint(),
        render_batch=render_batch_size(config, catalogs),
        clip_cache=ClipCache(BUILD_CLIP_CACHE_MB << 20),
    )


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    An example allocates and frees a few arrays of ~0.5 MB. With glibc's default, dynamic
    thresholds the top of the heap is given back after most examples and page-faulted in
    again by the next one (~230 faults an example; a 2-worker build ran ~12% faster without
    them). Fixed thresholds (M_TRIM_THRESHOLD 64 MiB, M_MMAP_THRESHOLD 32 MiB, its maximum)
    stop that. Only in the build's own worker processes and in DataLoader workers of
    `audiosynth.torch`, never in the caller's (workers=1, ``num_workers=0``); a no-op without glibc."""
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
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_pool_worker(config_json: str, parent_pid: int, stop: Any = None) -> None:
    """A pool worker ignores SIGINT (it runs in a session of its own, see `engines`, so a terminal's
    Ctrl-C does not reach it anyway): the driver decides, and sets ``stop`` (an event read between examples)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    keep_freed_memory()
    _WORKER["stop"] = stop
    try:
        _init_worker(config_json)
    except ConfigError as err:  # raised by the first shard this worker is given: one line in the driver, no broken pool
        _WORKER["setup_error"] = err


MAX_DRAWS = 20  # draws of one example before a build gives up on it (every one used a bad clip)
BUILD_CLIP_CACHE_MB = 128  # per build worker: clips that come back (reused noises, RIRs, utterances) decoded once, the same bytes
RENDER_BATCH = 1  # examples of a shard mixed in one `render_batch` call on NumPy: there a batch is a loop
# (per-scene transforms keep today's bits), and one example at a time keeps the memory bound of `limits.check_memory`
DEVICE_RENDER_BATCH = 16  # the same with the torch backend (CPU or CUDA): one batched call per transform length,
# capped so that the batch's estimated memory stays within limits.max_example_memory_gb (`render_batch_size`)


def render_batch_size(config: Config, catalogs: Any = None) -> int:
    """Examples of a shard rendered together: `RENDER_BATCH` on NumPy; with torch
    `DEVICE_RENDER_BATCH`, fewer when that many examples of the config's largest size would need
    more than ``limits.max_example_memory_gb`` (`limits.example_memory`; ``catalogs`` None: no cap)."""
    if config.backend != "torch":
        return RENDER_BATCH
    if catalogs is None:
        return DEVICE_RENDER_BATCH
    from .limits import GB, example_memory

    cost = example_memory(config, catalogs)[0]
    return max(1, min(DEVICE_RENDER_BATCH, int(config.limits.max_example_memory_gb * GB // max(cost, 1.0))))


@dataclass
class _Draws:
    """The draws of one example so far: the next attempt, the bad clips met, one reject row per refusal."""

    index: int
    attempt: int = 0
    bad: set[str] = field(default_factory=set)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def refused(self, scene: Scene, attempt: int, err: AudioError) -> None:
        """Record that draw ``attempt`` (``scene``) read a bad clip or crop; re-raise an error of no clip."""
        if err.clip_id is None:
            raise err
        if not isinstance(err, CropError):  # a bad crop only re-draws; a bad clip is not drawn again
            self.bad.add(err.clip_id)
        self.rejects.append(
            {"example": scene.id, "attempt": attempt, "clip": err.clip_id, "path": err.path, "reason": err.reason, "detail": err.detail}
        )

    def load_next(self, planner: Planner, clips: Any, subtype: str) -> tuple[int, LoadedScene]:
        """The next draw that names no bad clip, loaded: ``(attempt, loaded scene)``; draws that
        fail to load are recorded. `DatasetError` after `MAX_DRAWS` draws."""
        while self.attempt < MAX_DRAWS:
            attempt, self.attempt = self.attempt, self.attempt + 1
            scene = planner.scene(self.index, attempt)
            if scene.clip_ids() & self.bad:
                continue
            try:
                return attempt, load_scene(scene, clips, subtype)
            except AudioError as err:
                self.refused(scene, attempt, err)
        met = sorted({(r["clip"], r["reason"]) for r in self.rejects})
        first = next(r for r in self.rejects if (r["clip"], r["reason"]) == met[0])
        seen = f"{first['clip']!r} ({first['reason']}: {first['detail']})" + "".join(f", {c!r} ({why})" for c, why in met[1:8])
        raise DatasetError(
            f"example {self.index}: all {MAX_DRAWS} draws read a bad clip or crop: {seen}"
            f"{f' and {len(met) - 8} more' if len(met) > 8 else ''}; fix or re-catalog the corpus"
        )


def render_examples(planner: Planner, indices: Sequence[int], clips: Any, config: Config) -> list[tuple[Rendered, list[dict[str, Any]]]]:
    """Render examples ``indices`` in batches on the config's backend, re-drawing each
    (`Planner.scene` attempts 1, 2, ...) while a clip it reads turns out bad. Returns per example
    its rendering (NumPy signals: the hand-off to the writer) and one reject row per bad clip met.
    A bad crop (`CropError`, e.g. a silent stretch of a noise file) is recorded and re-drawn the
    same way, but the clip stays drawable: only a bad clip is excluded from the example's later draws.

    The draws depend only on the example and on which of its clips are bad, never on other
    examples or on the batch, so any worker count, engine or batch gives the same bytes."""
    backend = get_backend(config.backend, config.device)
    draws = [_Draws(index) for index in indices]
    done: dict[int, Rendered] = {}
    pending = draws
    while pending:
        loaded = [(d, *d.load_next(planner, clips, config.output.subtype)) for d in pending]
        results = render_batch([scene for _, _, scene in loaded], backend)
        pending = []
        for (d, attempt, scene), result in zip(loaded, results, strict=True):
            if isinstance(result, AudioError):
                d.refused(scene.scene, attempt, result)
                pending.append(d)
        for (d, _, _), result in zip(loaded, rendered_to_numpy(results), strict=True):  # one transfer a batch
            if isinstance(result, Rendered):
                done[d.index] = result
    return [(done[d.index], d.rejects) for d in draws]


def render_example(planner: Planner, index: int, clips: Any, config: Config) -> tuple[Rendered, list[dict[str, Any]]]:
    """`render_examples` of one example: its rendering and its reject rows."""
    return render_examples(planner, [index], clips, config)[0]


def build_shard(out_dir: str, shard: int, format: str = "folder", batch_size: int | None = None) -> tuple[int, int, float]:
    """Render and write shard ``shard`` (in a worker set up by `_init_worker`) as a folder
    shard or, with ``format="webdataset"``, a tar, its examples rendered ``batch_size`` at a time
    (default `render_batch_size`: 1 on NumPy). A thread encodes and writes each batch while the
    next one renders (`_Writing`); the examples are written in order, so the bytes are those of a
    build that renders and writes one example at a time. Segments come from this worker's
    `ClipCache` (`BUILD_CLIP_CACHE_MB`): the same samples as read from the files.
    Returns ``(shard, examples, audio seconds)``.
    On any failure, and when ``_WORKER["stop"]`` is set before an example (Ctrl-C: raises
    `Interrupted`), the shard's temporary files are removed; a later build redoes it. Its rows carry
    the config's fingerprint."""
    if "setup_error" in _WORKER:
        raise _WORKER["setup_error"]
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

        def write(batch: list[tuple[Rendered, list[dict[str, Any]]]]) -> None:
            nonlocal seconds
            for rendered, met in batch:
                rejects.extend(met)
                writer.add(rendered)
                seconds += rendered.scene.duration

        try:
            indices = range(shard * size, min(config.num_examples, (shard + 1) * size))
            batch_size = batch_size or _WORKER.get("render_batch") or render_batch_size(config)
            with _Writing() as writing, active_cache(_WORKER.get("clip_cache")):
                for start in range(0, len(indices), batch_size):
                    if stop is not None and stop.is_set():
                        raise Interrupted(f"shard {shard}: stopped by Ctrl-C before example {indices[start]}")
                    writing.submit(write, render_examples(planner, indices[start : start + batch_size], _WORKER["clips"], config))
            for row in writer.rows:
                row["fingerprint"] = _WORKER["fingerprint"]  # which config wrote it (dropped from the manifest)
            write_shard_rejects(out_dir, shard, rejects)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return shard, len(writer.rows), seconds


class _Writing:
    """Runs the writes (encoding and files) of a shard's batches in order, in a thread of its own:
    the next batch renders meanwhile (at most one batch waits); libsndfile's encoder and the file
    system calls release the GIL. Leaving waits for the last write; a write's error is raised by
    the next `submit` or on leaving."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="audiosynth-writer")
        self.pending: Future[None] | None = None

    def __enter__(self) -> _Writing:
        return self

    def submit(self, write: Callable[[Any], None], batch: Any) -> None:
        if self.pending is not None:
            self.pending.result()
        self.pending = self.pool.submit(write, batch)

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        try:
            if self.pending is not None:
                if kind is None:
                    self.pending.result()
                else:  # already failing: let the write finish (the shard is then removed), keep the first error
                    wait([self.pending])
        finally:
            self.pool.shutdown(wait=True)


def run_shard_task(config_json: str, out_dir: str, shard: int, format: str = "folder", catalogs_key: str = "") -> tuple[int, int, float]:
    """`build_shard` as a self-contained task for a distributed engine: sets up this worker
    process for ``config_json`` once (as the process pool's initializer does), renders with
    one BLAS thread (threaded sums differ in the last bit), and writes the shard. The process is
    the engine's worker, so these settings stay for its life."""
    key = (config_json, catalogs_key)  # a reused worker reloads when the config or a catalog's content changed
    if _WORKER.get("key") != key:
        from threadpoolctl import threadpool_limits

        keep_freed_memory()
        threadpool_limits(limits=1)  # for the rest of this worker process: set once (each call scans every loaded library)
        _init_worker(config_json)
        _WORKER["key"] = key
    return build_shard(out_dir, shard, format)
