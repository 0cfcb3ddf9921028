"""The worker side of a build: set up once per process, then render and write one shard."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
from typing import Any

from ..dataset.folder import (
    FolderShardWriter,
    shard_lock,
    shard_rows_path,
    write_shard_rejects,
)
from ..dataset.webdataset import (
    WebDatasetShardWriter,
)
from ..plan.planner import Planner
from ..plan.pools import load_catalogs
from ..render.mix import Rendered, render
from ..config import Config
from ..errors import AudioError, CropError, DatasetError, Interrupted

log = logging.getLogger(__name__)


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
