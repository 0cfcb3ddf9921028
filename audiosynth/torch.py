"""PyTorch datasets over audiosynth data: stored folders, WebDataset shards, or rendered on the fly.

Every dataset yields dicts ``{"id": str, <role>: float32 tensor (channels, samples), "labels": dict}``
for the requested roles; `collate_pad` batches them. Needs torch (and webdataset for
`ShardDataset`); the rest of audiosynth does not import this module.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

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
        start, length = 0, None
        if self.crop_s is not None:
            length = round(self.crop_s * row["sample_rate"])
            rng = np.random.default_rng([self.seed, self.epoch, index])
            start = int(rng.integers(0, max(0, row["frames"] - length) + 1))
        where = f"{self.root / 'manifest.jsonl'} (id {row['id']})"
        for role in self.roles:
            path = dataset_file(self.root, row["audio"][role], where, f"audio.{role}")  # no FIFO, folder or loop
            whole = length is None or role == "enrollment"  # an enrollment has its own length: returned whole
            audio = read_dataset_audio(path, row, role, where, start=0 if whole else start, length=None if whole else length)
            data = audio.data if whole else np.pad(audio.data, ((0, length - audio.data.shape[0]), (0, 0)))
            item[role] = _tensor(data)
        return item


class ShardDataset(IterableDataset):
    """Iterable dataset over WebDataset tar shards (a sharded dataset folder or a list of URLs).

    Shards are split across distributed ranks, then DataLoader workers, so each example is
    seen once per epoch when there are at least ranks x workers shards. With
    ``shuffle_buffer > 0`` the shard order and the examples (through a buffer of that size)
    are shuffled, seeded by ``(seed, epoch)``; call `set_epoch` before each epoch.

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
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of ``epoch``."""
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
        for role, name in audio.items():
            item[role] = _tensor(read_dataset_audio(members[name], row, role, where).data)  # as StoredDataset's: checked against the row
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


class OnTheFlyDataset(Dataset):
    """Map-style dataset rendering item ``i`` from ``config`` and its catalogs, in the worker.

    Item ``i`` equals example ``i`` of ``build(config, ...)`` sample for sample (the rendered
    signals are already on the output subtype's grid), also when a clip is bad: the example is
    re-drawn as the build re-draws it (`audiosynth.build.render_example`). The catalogs and the
    `Planner` are loaded lazily, once per process."""

    def __init__(self, config: Config, roles: Sequence[str] = ("mix", "clean")) -> None:
        self.config_json = config.model_dump_json()
        self.num_examples = config.num_examples
        self.roles = tuple(roles)
        self._state: tuple[int, Any, Any, Config] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_state": None}

    def _worker_state(self) -> tuple[int, Any, Any, Config]:
        if self._state is None or self._state[0] != os.getpid():
            from .plan.planner import Planner
            from .plan.pools import load_catalogs

            config = Config.model_validate_json(self.config_json)
            catalogs = load_catalogs(config)
            self._state = (os.getpid(), Planner(config, catalogs), catalogs.all(), config)
        return self._state

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, index: int) -> Item:
        from .build.worker import render_example

        if not 0 <= index < self.num_examples:
            raise IndexError(index)
        _, planner, clips, config = self._worker_state()
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # one BLAS thread, as build's workers: the same bytes
            rendered, _ = render_example(planner, index, clips, config)  # bad clips re-drawn, as in the build
        item: Item = {"id": rendered.scene.id, "labels": rendered.labels}
        for role in self.roles:
            item[role] = torch.from_numpy(rendered.audio[role].astype(np.float32))
        return item


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
