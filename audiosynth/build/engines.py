"""Engines: who runs `audiosynth.build.build_shard` for each shard. The layer is thin on purpose.

- ``pool`` (default): a local process pool (``spawn``); 1 worker renders in this process.
- ``dask``: Dask distributed, on the scheduler at ``address`` or on a LocalCluster of
  ``workers`` single-threaded processes (SLURM / Kubernetes users reach a scheduler through
  dask-jobqueue / dask-kubernetes). Failed tasks are retried by Dask.
- ``ray``: Ray, on the cluster at ``address`` or on a local instance of ``workers`` CPUs.
  Tasks whose worker dies are retried by Ray.

Every engine runs the same per-shard task and writes the same files: a shard depends only on
``(config, seed, shard)``, so any engine and worker count gives the same bytes. Distributed
workers need audiosynth installed and the catalogs' audio and the output folder on a shared
filesystem, at the same paths.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import multiprocessing
import multiprocessing.util
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import ConfigError, Interrupted
from .interrupt import StopFlag
from .worker import (
    _WORKER,
    _init_pool_worker,
    _init_worker,
    build_shard,
    run_shard_task,
)

ENGINES = ("pool", "dask", "ray")
RETRIES = 2  # attempts after the first, for a failed shard task on dask / ray
ShardResult = tuple[int, int, float]  # (shard, examples, audio seconds)
_ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"), "1")


POLL_S = 0.1  # how often a driver waiting for shards looks at its stop flag
JOIN_S = 5.0  # how long an idle pool worker may take to exit once every shard has ended
_LAUNCHED: list[subprocess.Popen[bytes]] = []  # kept referenced: multiprocessing waits for these children itself


@contextlib.contextmanager
def _children_in_own_session() -> Iterator[None]:
    """Processes that multiprocessing starts meanwhile (the pool's workers, its resource tracker) get
    a session of their own, so the Ctrl-C of a terminal, sent to its foreground process group, never
    reaches them, not even while their interpreter starts (where it would print a traceback and kill
    the pool): the driver alone decides, and stops them through an event. They still die with the
    driver (PR_SET_PDEATHSIG). Wraps ``multiprocessing.util.spawnv_passfds`` (POSIX) for the duration."""
    original = getattr(multiprocessing.util, "spawnv_passfds", None)
    if original is None or os.name != "posix":
        yield
        return

    def spawn(path: str | bytes, args: Sequence[Any], passfds: Sequence[int]) -> int:  # typeshed's signature
        child = subprocess.Popen(
            args, executable=path, pass_fds=tuple(sorted(map(int, passfds))), start_new_session=True, restore_signals=False
        )
        _LAUNCHED.append(child)
        return child.pid

    multiprocessing.util.spawnv_passfds = spawn
    try:
        yield
    finally:
        multiprocessing.util.spawnv_passfds = original


def run_shards(
    engine: str,
    config_json: str,
    out: str,
    shards: Iterable[int],
    workers: int,
    format: str = "folder",
    address: str | None = None,
    catalogs_key: str = "",
    stop: StopFlag | None = None,
) -> Iterator[ShardResult]:
    """Run the shard task for each of ``shards`` (an iterable, read as work is handed out) on
    ``engine``; yields results as shards finish. ``catalogs_key`` (the catalogs' fingerprints) makes
    reused distributed workers reload changed catalogs. Once ``stop`` is set no shard is started;
    the process pool's and the in-process shards stop after their example in progress (removing
    their temporary files), Dask's and Ray's pending tasks are cancelled, and the results of the
    shards finished meanwhile are still yielded."""
    if engine not in ENGINES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if address and engine == "pool":
        raise ConfigError("--address needs --engine dask or ray (the process pool is local)")
    stop = stop or StopFlag()
    shards = iter(shards)
    first = list(itertools.islice(shards, max(2, workers)))  # no more workers than shards
    if not first:
        return
    shards = itertools.chain(first, shards)
    if engine == "pool":  # a fresh pool loads the catalogs itself
        yield from _pool(config_json, out, shards, min(workers, len(first)), format, stop)
        return
    run = _dask if engine == "dask" else _ray
    yield from run(config_json, out, list(shards), workers, format, address, catalogs_key, stop)


def _pool(config_json: str, out: str, shards: Iterator[int], workers: int, format: str, stop: StopFlag) -> Iterator[ShardResult]:
    if workers == 1:
        from threadpoolctl import threadpool_limits

        _init_worker(config_json, worker_process=False)
        _WORKER["stop"] = stop
        try:
            with threadpool_limits(limits=1):  # as in the pool's workers: threaded BLAS sums differ in the last bit
                for shard in shards:
                    if stop.is_set():
                        return
                    try:
                        result = build_shard(out, shard, format)
                    except Interrupted:
                        return
                    yield result
        finally:
            _WORKER.pop("stop", None)
        return
    for var, value in _ONE_THREAD.items():  # one BLAS/FFT thread per worker process
        os.environ.setdefault(var, value)
    context = multiprocessing.get_context("spawn")
    window = 2 * workers  # shards handed out at a time: memory stays bounded for any number of shards
    with _children_in_own_session():
        worker_stop = context.Event()
        pool = cf.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_pool_worker, initargs=(config_json, os.getpid(), worker_stop)
        )
        pending = _submit(pool, shards, window, out, format, stop)
        processes = list(pool._processes.values())  # private, but the only handle on the workers (all started by now)
    try:
        while pending:
            done, pending = cf.wait(pending, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            if stop.is_set():
                worker_stop.set()
            for future in done:
                try:
                    result = future.result()
                except Interrupted:
                    continue
                except cf.BrokenExecutor:
                    if _stopped(stop):
                        continue
                    raise
                yield result
            if not stop.is_set():
                pending |= _submit(pool, shards, window - len(pending), out, format, stop)
    finally:
        worker_stop.set()  # on any exit (an error, the consumer gone): the running shards stop after their example
        for future in pending:
            future.cancel()
        cf.wait(pending)
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # every shard has ended: a worker left waiting (when another one died) is ended
            process.join(timeout=JOIN_S)
            if process.is_alive():
                process.kill()


def _stopped(stop: StopFlag) -> bool:
    """Whether Ctrl-C asked to stop, once a SIGINT that came with a pool failure has been handled: a
    worker being forked as Ctrl-C comes dies of it (it cannot ignore it yet), which is then the stop."""
    if not stop.is_set():
        time.sleep(POLL_S)  # the main thread: Python runs the handler meanwhile
    return stop.is_set()


def _submit(pool: cf.ProcessPoolExecutor, shards: Iterator[int], count: int, out: str, format: str, stop: StopFlag) -> set[cf.Future]:
    """Submit the next ``count`` shards (none once the pool broke because of a Ctrl-C: as a worker
    starts, that shows as a broken pool or, in a race with the pool's own thread, a closed pipe)."""
    try:
        return {pool.submit(build_shard, out, shard, format) for shard in itertools.islice(shards, max(0, count))}
    except (cf.BrokenExecutor, OSError):
        if _stopped(stop):
            return set()
        raise


def _missing(engine: str, extra: str) -> ConfigError:
    return ConfigError(f"engine: {engine!r} needs {extra}: pip install 'audiosynth[{engine}]'")


def _dask(
    config_json: str, out: str, shards: list[int], workers: int, format: str, address: str | None, catalogs_key: str, stop: StopFlag
) -> Iterator[ShardResult]:
    try:
        import dask
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise _missing("dask", "dask.distributed") from err
    cluster = None
    if not address:  # the workers' statistical profiler samples every thread's stack each 10 ms: costly here, not needed
        with dask.config.set({"distributed.worker.profile.enabled": False}), _children_in_own_session():  # Ctrl-C: the driver stops them
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=_ONE_THREAD)
    client = Client(address or cluster)
    try:
        futures = [
            client.submit(
                run_shard_task,
                config_json,
                out,
                shard,
                format,
                catalogs_key,
                pure=False,
                retries=RETRIES,
                key=f"audiosynth-shard-{shard}-{os.getpid()}",
            )
            for shard in shards
        ]
        ready = as_completed(futures)
        while not ready.is_empty() and not stop.is_set():
            batch = ready.next_batch(block=False)
            for future in batch:
                yield future.result()
            if not batch:
                time.sleep(POLL_S)
    finally:
        if stop.is_set():
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(
    config_json: str, out: str, shards: list[int], workers: int, format: str, address: str | None, catalogs_key: str, stop: StopFlag
) -> Iterator[ShardResult]:
    try:
        import ray
    except ImportError as err:
        raise _missing("ray", "ray") from err
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": _ONE_THREAD},
            configure_logging=False,
        )
    try:
        shard_task: Callable[[str, str, int, str, str], ShardResult] = run_shard_task  # every argument given (ray's overloads)
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(shard_task)
        pending = [task.remote(config_json, out, shard, format, catalogs_key) for shard in shards]
        while pending and not stop.is_set():
            done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            for ref in done:
                yield ray.get(ref)
    finally:
        for ref in pending if stop.is_set() else ():
            ray.cancel(ref)
        if started:
            ray.shutdown()
