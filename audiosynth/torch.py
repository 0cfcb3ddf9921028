"""PyTorch datasets over audiosynth data: stored folders, WebDataset shards, or rendered on the fly.

Every dataset yields dicts ``{"id": str, <role>: float32 tensor (channels, samples), "labels": dict}``
for the requested roles; `collate_pad` batches them. Needs torch (and webdataset for
`ShardDataset`); the rest of audiosynth does not import this module.

The training-time pipeline renders on the training device instead: DataLoader workers only plan
and load (`LoadedDataset`: clips read and resampled, catalog RIRs), and the main process mixes
each batch with `audiosynth.render.render_batch` on the device (`DeviceRenderer`), so rooms,
convolution, gains and labels run where the model does. `OnTheFlyLoader` wraps both into an
iterable of ready batches ``{role: (B, M, N) tensor on the device, "lengths", "labels", "id"}``.
With `set_epoch`, item ``i`` of epoch ``e`` is drawn from ``(seed, e, i)`` (dynamic mixing: new
mixtures every epoch, reproducibly); epoch 0 is the built dataset.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from .config import Config
from .dataset.trust import dataset_file, read_build_info, read_rows
from .dataset.webdataset import (
    SHARDS_FORMAT,
    check_tar_example,
    shard_urls,
    tar_examples,
)
from .errors import DatasetError
from .io.audio import read_dataset_audio

if TYPE_CHECKING:
    from .build.worker import _Draws
    from .render.load import LoadedScene

Item = dict[str, Any]


def _tensor(data: np.ndarray) -> torch.Tensor:
    """``(frames, channels)`` samples -> float32 tensor ``(channels, frames)``."""
    return torch.from_numpy(np.ascontiguousarray(data.T, dtype=np.float32))


def decode_audio(data: bytes) -> torch.Tensor:
    """Decode FLAC/WAV bytes to a float32 tensor ``(channels, samples)`` with soundfile."""
    samples, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return _tensor(samples)


class StoredDataset(Dataset):
    """Map-style dataset over a folder dataset's ``manifest.jsonl``.

    With ``crop_s``, item ``i`` is a random ``crop_s`` window (the same for every role of the
    example's length; shorter examples are zero-padded), drawn from ``(seed, epoch, i)``: call
    `set_epoch` before each epoch for new crops (workers see it when the loader's iterator is
    created, so not with ``persistent_workers=True``). Roles of another length (enrollment)
    are returned whole.

    Every row is checked (`audiosynth.trust.check_row`). A role that some rows lack raises
    `DatasetError` naming them (count and first ids), unless ``fallback`` names a role to read
    in its place, e.g. ``fallback={"clean_dry": "clean"}``: the reverberant image where an
    example has no dry target (the item still holds it under ``"clean_dry"``)."""

    def __init__(
        self,
        dataset_dir: str | os.PathLike[str],
        roles: Sequence[str] = ("mix", "clean"),
        split: str | None = None,
        crop_s: float | None = None,
        seed: int = 0,
        fallback: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(dataset_dir)
        if read_build_info(self.root).get("format") == SHARDS_FORMAT:
            raise DatasetError(f"{self.root}: a sharded dataset; use ShardDataset")
        self.roles = tuple(roles)
        self.fallback = dict(fallback or {})
        self.crop_s = crop_s
        self.seed = seed
        self.epoch = 0
        self.rows = []
        missing: dict[str, list[str]] = {}
        for r in read_rows(self.root, sharded=False):
            if split is not None and r["split"] != split:
                continue
            audio = _pick_roles(r, self.roles, self.fallback, missing)
            self.rows.append(
                {
                    "id": r["id"],
                    "audio": audio,
                    "labels": r["labels"],
                    "duration": r["duration"],
                    "sample_rate": r["sample_rate"],
                    "num_channels": r.get("num_channels", 1),
                    "frames": round(r["duration"] * r["sample_rate"]),
                }
            )
        _refuse_missing(self.root / "manifest.jsonl", missing, len(self.rows), self.fallback)

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Item:
        row = self.rows[index]
        item: Item = {"id": row["id"], "labels": row["labels"]}
        start, length = _crop(self.crop_s, self.seed, self.epoch, index, row["sample_rate"], row["frames"])
        where = f"{self.root / 'manifest.jsonl'} (id {row['id']})"
        for role in self.roles:
            path = dataset_file(self.root, row["audio"][role], where, f"audio.{role}")  # no FIFO, folder or loop
            item[role] = _read_crop(path, row, role, where, start, length)
        return item


def _crop(crop_s: float | None, seed: int, epoch: int, index: int, rate: int, frames: int) -> tuple[int, int | None]:
    """``(start, length)`` of the crop of example ``index`` (``(0, None)``: whole), a random window
    of ``crop_s`` seconds drawn from ``(seed, epoch, index)``."""
    if crop_s is None:
        return 0, None
    length = round(crop_s * rate)
    rng = np.random.default_rng([seed, epoch, index])
    return int(rng.integers(0, max(0, frames - length) + 1)), length


def _read_crop(source: Path | bytes, row: Any, role: str, where: str, start: int, length: int | None) -> torch.Tensor:
    """One role of a stored example, its ``length`` frames from ``start`` zero-padded (whole
    without a length, and always for an enrollment, which has its own length)."""
    whole = length is None or role == "enrollment"
    audio = read_dataset_audio(source, row, role, where, start=0 if whole else start, length=None if whole else length)
    data = audio.data if whole or length is None else np.pad(audio.data, ((0, length - audio.data.shape[0]), (0, 0)))
    return _tensor(data)


class ShardDataset(IterableDataset):
    """Iterable dataset over WebDataset tar shards (a sharded dataset folder or a list of URLs).

    Shards are split across distributed ranks, then DataLoader workers, so each example is
    seen once per epoch when there are at least ranks x workers shards. With
    ``shuffle_buffer > 0`` the shard order and the examples (through a buffer of that size)
    are shuffled, seeded by ``(seed, epoch)``; call `set_epoch` before each epoch.

    With ``crop_s``, each example is a random ``crop_s`` window, the same for every role (shorter
    examples zero-padded; an enrollment is returned whole), drawn from ``(seed, epoch, index)``
    where ``index`` is the example's index in the dataset (its row's ``scene.index``), so an
    example gets the same window whatever the shard order, shuffle or worker that reads it, and
    the same as `StoredDataset` over the whole folder of the same build gives it.

    Tars are read by `audiosynth.shards.tar_examples` and every example is checked
    (`audiosynth.shards.check_tar_example`): a link, unsafe or duplicate member, a bad row, an
    unreadable tar or audio member raise `DatasetError` naming the tar and member."""

    def __init__(
        self,
        urls_or_dir: str | os.PathLike[str] | Sequence[str],
        roles: Sequence[str] = ("mix", "clean"),
        shuffle_buffer: int = 0,
        seed: int = 0,
        split: str | None = None,
        fallback: dict[str, str] | None = None,
        crop_s: float | None = None,
    ) -> None:
        if isinstance(urls_or_dir, (str, os.PathLike)) and Path(urls_or_dir).is_dir():
            self.urls = shard_urls(urls_or_dir)
        elif isinstance(urls_or_dir, (str, os.PathLike)):
            self.urls = [str(urls_or_dir)]
        else:
            self.urls = [str(u) for u in urls_or_dir]
        self.roles = tuple(roles)
        self.fallback = dict(fallback or {})  # as StoredDataset's
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.split = split
        self.crop_s = crop_s
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle and the crops of ``epoch``."""
        self.epoch = epoch

    def _decode(self, where: str, row: Any, members: dict[str, bytes]) -> Item | None:
        """The item of one tar example (``where``: ``TAR: member <id>.json``), None when not in ``split``."""
        check_tar_example(where, row, members)
        if self.split is not None and row["split"] != self.split:
            return None
        missing: dict[str, list[str]] = {}
        audio = _pick_roles(row, self.roles, self.fallback, missing)
        _refuse_missing(Path(where), missing, 1, self.fallback)
        item: Item = {"id": row["id"], "labels": row["labels"]}
        start, length = 0, None
        if self.crop_s is not None:
            index = row["scene"].get("index")
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise DatasetError(f"{where}: scene.index {index!r}: not an example index (crop_s draws the window from it)")
            start, length = _crop(
                self.crop_s, self.seed, self.epoch, index, row["sample_rate"], round(row["duration"] * row["sample_rate"])
            )
        for role, name in audio.items():
            item[role] = _read_crop(members[name], row, role, where, start, length)  # as StoredDataset's: checked against the row
        return item

    def __iter__(self) -> Iterator[Item]:
        import webdataset as wds

        urls = list(self.urls)
        stages: list[Any] = []
        if self.shuffle_buffer > 0:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(urls)
            worker = get_worker_info()
            rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() else 0
            rng = random.Random(f"{self.seed}-{self.epoch}-{rank}-{worker.id if worker else 0}")
            stages.append(wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer, rng=rng))
        # webdataset splits and shuffles; the tars are read by audiosynth's checked reader (no link,
        # unsafe or duplicate member, one-line errors naming the tar and member)
        pipeline = wds.DataPipeline(wds.SimpleShardList(urls), wds.split_by_node, wds.split_by_worker, _tar_samples, *stages)
        for where, row, members in pipeline:
            item = self._decode(where, row, members)
            if item is not None:
                yield item


def _tar_samples(shards: Iterator[dict[str, Any]]) -> Iterator[tuple[str, Any, dict[str, bytes]]]:
    """Pipeline stage: the ``(where, row, members)`` of every example of each shard ``{"url": ...}``."""
    for shard in shards:
        yield from tar_examples(shard["url"])


def _pick_roles(row: dict[str, Any], roles: Sequence[str], fallback: dict[str, str], missing: dict[str, list[str]]) -> dict[str, str]:
    """Role -> file of one row for ``roles`` (a ``fallback`` role where the role is absent);
    records the row's id under each role it cannot give in ``missing``."""
    audio = {}
    for role in roles:
        source = role if role in row["audio"] else fallback.get(role)
        if source in row["audio"]:
            audio[role] = row["audio"][source]
        else:
            missing.setdefault(role, []).append(row["id"])
    return audio


def _refuse_missing(where: Path, missing: dict[str, list[str]], rows: int, fallback: dict[str, str]) -> None:
    """`DatasetError` naming, per role some rows lack, how many rows and the first ids."""
    if not missing:
        return
    parts = [
        (f"role {role!r} (or its fallback {fallback[role]!r})" if role in fallback else f"role {role!r}")
        + f": missing in {len(ids)} of {rows} row(s) (first: {', '.join(ids[:3])})"
        for role, ids in missing.items()
    ]
    raise DatasetError(
        f"{where}: {'; '.join(parts)}; ask for roles every row has, or pass "
        f"fallback={{{next(iter(missing))!r}: <a role they have, e.g. 'clean'>}}"
    )


_LIMITS: dict[str, Any] = {}  # this process's one-thread settings: {"pid": pid set once, "controller": (pid, controller)}


def _one_thread(user_api: str | None = None) -> contextlib.AbstractContextManager[Any]:
    """One BLAS (and OpenMP) thread while rendering, as build's workers: threaded sums differ in
    the last bit, and the bytes must not. Entering ``threadpool_limits`` scans every loaded library
    (~0.5 ms), so in a DataLoader worker the limit is set once for the process's life (it is
    audiosynth's process); in the caller's own process (``num_workers=0``, or the main process of
    the pipeline) it holds for the call only, through a controller made once per process.
    ``user_api="blas"`` leaves OpenMP (torch's threads) alone."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    pid = os.getpid()
    if get_worker_info() is not None:
        if _LIMITS.get("pid") != pid:
            threadpool_limits(limits=1)
            _LIMITS["pid"] = pid
        return contextlib.nullcontext()
    if _LIMITS.get("controller", (None,))[0] != pid:
        _LIMITS["controller"] = (pid, ThreadpoolController())
    return _LIMITS["controller"][1].limit(limits=1, user_api=user_api)


CLIP_CACHE_MB = 256.0  # default memory, per process, for decoded clips when rendering on the fly


class _ConfigState:
    """A config's planner, clips and clip cache, made lazily once per process (never pickled: a
    worker makes its own). ``clip_cache_mb``: the `ClipCache` budget (0: every segment read from its file)."""

    def __init__(self, config: Config, clip_cache_mb: float) -> None:
        if not clip_cache_mb >= 0:
            raise ValueError(f"clip_cache_mb {clip_cache_mb}: must be >= 0")
        self.config_json = config.model_dump_json()
        self.num_examples = config.num_examples
        self.clip_cache_mb = clip_cache_mb
        self._state: tuple[int, Any, Any, Config, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_state": None}

    @contextlib.contextmanager
    def get(self, epoch: int) -> Iterator[tuple[Any, Any, Config]]:
        """``(planner, clips, config)`` of this process, the planner drawing ``epoch``; within the
        block segments come from this process's clip cache, on one BLAS thread (as build's workers: the same bytes)."""
        from .render.load import ClipCache, active_cache

        if self._state is None or self._state[0] != os.getpid():
            from .plan.planner import Planner
            from .plan.pools import load_catalogs
            from .render import mix  # noqa: F401  (the renderer's libraries loaded before the thread controller looks)

            if get_worker_info() is not None:  # a DataLoader worker, as a build worker: freed memory kept for the next item
                from .build.worker import keep_freed_memory

                keep_freed_memory()
            config = Config.model_validate_json(self.config_json)
            catalogs = load_catalogs(config)
            cache = ClipCache(int(self.clip_cache_mb * 2**20)) if self.clip_cache_mb else None
            self._state = (os.getpid(), Planner(config, catalogs), catalogs.all(), config, cache)
        _, planner, clips, config, cache = self._state
        planner.epoch = epoch
        with _one_thread(), active_cache(cache):
            yield planner, clips, config


def _epoch_index(key: int | tuple[int, int], epoch: int, num_examples: int) -> tuple[int, int]:
    """``(epoch, index)`` of a dataset key: an index (of the dataset's current epoch) or an ``(epoch, index)`` pair."""
    if isinstance(key, tuple):
        epoch, index = key
    else:
        index = key
    if not 0 <= index < num_examples:
        raise IndexError(index)
    if epoch < 0:
        raise ValueError(f"epoch {epoch}: must be >= 0")
    return int(epoch), int(index)


class OnTheFlyDataset(Dataset):
    """Map-style dataset rendering item ``i`` from ``config`` and its catalogs, in the worker.

    Item ``i`` equals example ``i`` of ``build(config, ...)`` sample for sample (the rendered
    signals are already on the output subtype's grid), also when a clip is bad: the example is
    re-drawn as the build re-draws it (`audiosynth.build.render_example`). The catalogs and the
    `Planner` are loaded lazily, once per process.

    Dynamic mixing: after ``set_epoch(e)`` item ``i`` is drawn from ``(seed, e, i)``
    (`audiosynth.plan.item_rng`): every epoch new mixtures, the same ones for the same seed; epoch 0
    is the built dataset. Workers see the epoch when the loader's iterator is created (not with
    ``persistent_workers=True``); ``dataset[(e, i)]`` asks for an epoch explicitly.

    ``clip_cache_mb``: memory per process (each DataLoader worker its own) for clips decoded whole
    and kept (`audiosynth.render.load.ClipCache`): the same samples, each file decoded once while
    it fits; 0 reads every segment from its file."""

    def __init__(self, config: Config, roles: Sequence[str] = ("mix", "clean"), clip_cache_mb: float = CLIP_CACHE_MB) -> None:
        self._config = _ConfigState(config, clip_cache_mb)
        self.num_examples = config.num_examples
        self.roles = tuple(roles)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the items of ``epoch`` (0: the built dataset)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        from .build.worker import render_example

        epoch, index = _epoch_index(key, self.epoch, self.num_examples)
        with self._config.get(epoch) as (planner, clips, config):
            rendered, _ = render_example(planner, index, clips, config)  # bad clips re-drawn, as in the build
        item: Item = {"id": rendered.scene.id, "labels": rendered.labels}
        for role in self.roles:
            item[role] = torch.from_numpy(rendered.audio[role].astype(np.float32))
        return item


# -- the training-time pipeline: I/O in the workers, mixing on the training device ---------------


@dataclass
class LoadedExample:
    """Example ``index`` of ``epoch`` planned and loaded by a worker (draw ``attempt``), ready to
    mix: what `LoadedDataset` yields and `DeviceRenderer` renders. ``draws`` carries the bad clips
    met so far, so that a draw the renderer refuses is re-drawn as the build re-draws it."""

    index: int
    epoch: int
    attempt: int
    loaded: LoadedScene
    draws: _Draws


class LoadedDataset(Dataset):
    """Map-style dataset of loaded examples: item ``i`` is example ``i`` of the current epoch
    planned and its audio read (clips resampled to the output rate and placed, catalog RIRs,
    refusals of bad clips re-drawn as the build does): all the I/O, none of the mixing. Batch it
    with ``collate_fn=collate_loaded`` and mix it with a `DeviceRenderer` in the main process.

    Epochs as `OnTheFlyDataset`'s: `set_epoch`, or ``dataset[(e, i)]`` (what `EpochSampler`
    gives: the epoch travels with the index, so persistent workers follow it too). ``clip_cache_mb``
    as `OnTheFlyDataset`'s."""

    def __init__(self, config: Config, clip_cache_mb: float = CLIP_CACHE_MB) -> None:
        self._config = _ConfigState(config, clip_cache_mb)
        self.num_examples = config.num_examples
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the items of ``epoch`` (0: the built dataset)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, key: int | tuple[int, int]) -> LoadedExample:
        from .build.worker import _Draws

        epoch, index = _epoch_index(key, self.epoch, self.num_examples)
        draws = _Draws(index)
        with self._config.get(epoch) as (planner, clips, config):
            attempt, loaded = draws.load_next(planner, clips, config.output.subtype)
        return LoadedExample(index, epoch, attempt, loaded, draws)


def collate_loaded(batch: list[LoadedExample]) -> list[LoadedExample]:
    """``collate_fn`` for `LoadedDataset`: the loaded examples as a list (the renderer batches them)."""
    return list(batch)


class DeviceRenderer:
    """Mixes a list of `LoadedExample` on ``device`` in one `audiosynth.render.render_batch` call
    and returns the batch ``{role: float32 (B, M, N) on device, "lengths": {role: (B,) long on device},
    "labels": [dict], "id": [str], "index": [int]}``, every role zero-padded to the longest example.

    Each example equals what the build writes (``backend="numpy"``: sample for sample; ``"torch"``:
    within the torch backend's rounding of the float64 path, i.e. one PCM step at most). A draw the
    renderer refuses (its noise too close to the grid's rounding at its final level, an unreadable
    enrollment) is re-drawn here as the build re-draws it. ``fallback`` as `StoredDataset`'s: a role to
    return where an example lacks one (``{"clean_direct": "clean"}`` for a dry example)."""

    def __init__(
        self,
        config: Config,
        roles: Sequence[str] = ("mix", "clean"),
        device: str | torch.device = "cpu",
        backend: str = "torch",
        fallback: dict[str, str] | None = None,
    ) -> None:
        self._config = _ConfigState(config, 0)  # re-draws are rare: read from the files
        self.roles = tuple(roles)
        self.device = torch.device(device)
        self.backend = backend
        self.fallback = dict(fallback or {})

    def render(self, examples: Sequence[LoadedExample]) -> list[Any]:
        """The `Rendered` of each example (signals as arrays of the backend), refusals re-drawn."""
        from .errors import AudioError
        from .render.mix import render_batch

        device = str(self.device)
        done: dict[int, Any] = {}
        pending = list(enumerate(examples))
        while pending:
            with _one_thread("blas"):  # NumPy's sums in one thread, as the build's; torch keeps its threads
                results = render_batch([e.loaded for _, e in pending], self.backend, device)
            refused = []
            for (k, e), result in zip(pending, results, strict=True):
                if isinstance(result, AudioError):
                    e.draws.refused(e.loaded.scene, e.attempt, result)
                    with self._config.get(e.epoch) as (planner, clips, config):
                        e.attempt, e.loaded = e.draws.load_next(planner, clips, config.output.subtype)
                    refused.append((k, e))
                else:
                    done[k] = result
            pending = refused
        return [done[k] for k in range(len(examples))]

    def __call__(self, examples: Sequence[LoadedExample]) -> dict[str, Any]:
        rendered = self.render(examples)
        out: dict[str, Any] = {
            "id": [r.scene.id for r in rendered],
            "index": [e.index for e in examples],
            "labels": [r.labels for r in rendered],
            "lengths": {},
        }
        for role in self.roles:
            signals = []
            for r in rendered:
                source = role if role in r.audio else self.fallback.get(role)
                if source not in r.audio:
                    raise DatasetError(
                        f"example {r.scene.id}: no role {role!r} (it has {', '.join(r.audio)}); "
                        f"ask for roles every example has, or pass fallback={{{role!r}: <a role it has>}}"
                    )
                signals.append(_on_device(r.audio[source], self.device))
            out[role], out["lengths"][role] = _pad_batch(signals, role)
        return out


def _on_device(x: Any, device: torch.device) -> torch.Tensor:
    """A rendered signal as a float32 tensor on ``device`` (a backend tensor stays on its device: no host trip)."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)


def _pad_batch(signals: list[torch.Tensor], role: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, M, N_max)`` zero-padded and the lengths ``(B,)``, on the signals' device."""
    channels = {x.shape[0] for x in signals}
    if len(channels) > 1:
        raise DatasetError(f"role {role!r}: examples of {sorted(channels)} channels in one batch")
    device = signals[0].device
    lengths = [x.shape[-1] for x in signals]
    padded = torch.zeros((len(signals), signals[0].shape[0], max(lengths)), dtype=torch.float32, device=device)
    for k, x in enumerate(signals):
        padded[k, :, : x.shape[-1]] = x
    return padded, torch.tensor(lengths, dtype=torch.long, device=device)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for every example once, in order or (``shuffle``) in an order
    seeded by ``(seed, epoch)``; the epoch goes with each index to the workers, so `set_epoch`
    works with ``persistent_workers=True`` too."""

    def __init__(self, num_examples: int, shuffle: bool = False, seed: int = 0) -> None:
        self.num_examples = num_examples
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_examples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = list(range(self.num_examples))
        if self.shuffle:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        return iter([(self.epoch, i) for i in order])


class OnTheFlyLoader:
    """Ready batches rendered on the training device: an iterable to loop over each epoch.

    A `DataLoader` over `LoadedDataset` (``num_workers`` processes doing the I/O, ``batch_size``
    examples a batch, `EpochSampler` order) whose batches the main process mixes with a
    `DeviceRenderer` on ``device``: each batch is ``{role: (B, M, N) float32 on device,
    "lengths": {role: (B,)}, "labels", "id", "index"}``. ``set_epoch(e)`` before each epoch draws
    new mixtures (dynamic mixing, from ``(seed, e, i)``); epoch 0 is the built dataset. Other
    keyword arguments go to the DataLoader (``prefetch_factor``, ``persistent_workers``, ...);
    ``clip_cache_mb`` is each worker's memory for decoded clips (`OnTheFlyDataset`)::

        loader = OnTheFlyLoader(config, roles=("mix", "clean"), batch_size=8, device="cuda", num_workers=4)
        for epoch in range(10):
            loader.set_epoch(epoch)
            for batch in loader:
                loss = criterion(model(batch["mix"]), batch["clean"])
    """

    def __init__(
        self,
        config: Config,
        roles: Sequence[str] = ("mix", "clean"),
        batch_size: int = 8,
        device: str | torch.device = "cpu",
        backend: str = "torch",
        num_workers: int = 0,
        shuffle: bool = False,
        seed: int = 0,
        fallback: dict[str, str] | None = None,
        clip_cache_mb: float = CLIP_CACHE_MB,
        **loader_kwargs: Any,
    ) -> None:
        self.dataset = LoadedDataset(config, clip_cache_mb)
        self.sampler = EpochSampler(len(self.dataset), shuffle, seed)
        self.renderer = DeviceRenderer(config, roles, device, backend, fallback)
        self.loader = DataLoader(
            self.dataset, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers, collate_fn=collate_loaded, **loader_kwargs
        )

    def set_epoch(self, epoch: int) -> None:
        """Draw (and, with ``shuffle``, order) the examples of ``epoch``."""
        if epoch < 0:
            raise ValueError(f"epoch {epoch}: must be >= 0")
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for examples in self.loader:
            yield self.renderer(examples)


def collate_pad(batch: list[Item]) -> dict[str, Any]:
    """Batch items: each role zero-padded to the longest in the batch, ``(batch, channels, samples)``;
    ``lengths[role]`` holds the true lengths; ``id`` and ``labels`` become lists."""
    roles = [k for k, v in batch[0].items() if isinstance(v, torch.Tensor)]
    out: dict[str, Any] = {"id": [b["id"] for b in batch], "labels": [b["labels"] for b in batch], "lengths": {}}
    for role in roles:
        lengths = torch.tensor([b[role].shape[-1] for b in batch], dtype=torch.long)
        padded = torch.zeros(len(batch), batch[0][role].shape[0], int(lengths.max()), dtype=batch[0][role].dtype)
        for k, b in enumerate(batch):
            padded[k, :, : b[role].shape[-1]] = b[role]
        out[role] = padded
        out["lengths"][role] = lengths
    return out
