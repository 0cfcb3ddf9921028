"""Resume: which shards are done, and whether they were written by this same build."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..config import Config
from ..dataset.folder import (
    shard_rows_path,
)
from ..dataset.webdataset import (
    FOLDER_FORMAT,
    SHARDS_FORMAT,
)
from ..errors import DatasetError

log = logging.getLogger(__name__)


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
    diff = [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k) and not k.startswith("limits.")
    ]  # limits do not change the bytes: raise one and resume
    if diff:
        raise DatasetError(f"{path}: this folder was built with another config ({'; '.join(diff[:5])}); use a new folder")
    before = previous.get("catalogs") or {}
    changed = [
        f"{name}: {before[name]['clips']} clips -> {now['clips']}, sha256 {before[name]['sha256'][:12]} -> {now['sha256'][:12]}"
        for name, now in (catalogs or {}).items()
        if name in before and before[name] != now
    ]
    if changed:
        raise DatasetError(
            f"{path}: a catalog changed since this folder was started ({'; '.join(changed)}); restore it or use a new folder"
        )


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
            row = json.loads(line) if line.strip() else None
        except ValueError as err:
            raise DatasetError(f"{path}: line 1: not JSON ({err}); delete this shard's rows file to redo it") from err
        if row is None:
            continue
        found = row.get("fingerprint")
        if found is not None and found != fingerprint:
            raise DatasetError(
                f"{path}: written by config {found}, this build is {fingerprint}; use a new folder (or delete the other build's shards)"
            )
        found_layout = SHARDS_FORMAT if "shard" in row else FOLDER_FORMAT
        if found_layout != layout:
            raise DatasetError(
                f"{path}: a shard of a {names[found_layout]} build, this build writes {names[layout]}; "
                "use a new folder (or delete the other build's shards)"
            )


def iter_shard_rows(out: Path, num_shards: int) -> Iterator[dict[str, Any]]:
    """Manifest rows of every shard in order (streamed, never all in memory)."""
    for shard in range(num_shards):
        with open(shard_rows_path(out, shard), encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
