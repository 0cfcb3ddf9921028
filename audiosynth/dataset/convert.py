"""Convert a dataset between the folder layout and WebDataset tar shards, either way.

Audio bytes are copied, never re-encoded, and every row and tar member is checked
(`dataset.trust`) on the way. A conversion writes into a staging folder inside the output
folder and moves its files into place only when everything is written: one bad row, member or
a full disk, and nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import DatasetError
from ..io.files import TMP_SUFFIX, fsync_dir, jsonl_bytes, output_errors, write_atomic, write_file
from .folder import shard_name, shard_rows_path, write_shard_rows
from .rows import iter_manifest
from .trust import read_complete_build, read_dataset_file, read_rows, show
from .webdataset import (
    FOLDER_FORMAT,
    SHARDS_FORMAT,
    TarShardWriter,
    check_listed,
    check_tar_example,
    shard_urls,
    shards_index,
    tar_examples,
    tar_name,
)


def _batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _read_info(root: Path, expected: str) -> dict[str, Any]:
    info = read_complete_build(root)
    if info.get("format", FOLDER_FORMAT) != expected:
        raise DatasetError(f"{root}: format {info.get('format')!r}, expected {expected!r}")
    if expected == SHARDS_FORMAT and not isinstance((info.get("config") or {}).get("output", {}).get("shard_size"), int):
        raise DatasetError(f"{root / 'build.json'}: config.output.shard_size: missing or not an integer")
    return info


STAGING = ".audiosynth-staging"  # a conversion's files, moved into the output folder when all is done


@contextlib.contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A folder inside ``out`` to write a conversion into; its entries are moved into ``out`` (the
    manifest, then build.json, last) only when the body succeeds. On failure (a hostile member, a
    full disk) it is removed, and so is ``out`` if this made it: nothing is left written.
    ``out`` must be missing or empty (a staging folder left by a killed run is removed)."""
    made = not out.exists()
    if out.exists() and (not out.is_dir() or any(p.name != STAGING for p in out.iterdir())):
        raise DatasetError(f"{out}: exists and is not an empty folder; convert into a new folder")
    stage = out / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        yield stage
        for name in ("audio", "shards", "shards.json", "manifest.jsonl", "build.json"):
            if (stage / name).exists():
                os.replace(stage / name, out / name)
        stage.rmdir()
        fsync_dir(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


def folder_to_shards(
    dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], shard_size: int = 100, progress: bool = False
) -> dict[str, Any]:
    """Convert a complete folder dataset into tar shards of ``shard_size`` examples.

    Audio bytes are copied, not re-encoded. Every row is checked (`audiosynth.trust.check_row`)
    before anything is written; ``out_dir`` must be missing or empty. Returns the `shards.json` content."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    src, out = Path(dataset_dir), Path(out_dir)
    info = _read_info(src, FOLDER_FORMAT)
    with _staged(out) as stage:
        (stage / "shards").mkdir()
        tmp = stage / "manifest.jsonl"
        with output_errors(tmp), open(tmp, "wb") as manifest:
            rows_in = tqdm(
                read_rows(src, sharded=False),
                total=info.get("num_examples"),
                unit="ex",
                desc="shards",
                disable=not progress,
                dynamic_ncols=True,
            )
            for shard, rows in enumerate(_batched(rows_in, shard_size)):
                writer = TarShardWriter(stage / "shards" / tar_name(shard))
                try:
                    for row in rows:
                        where = f"{src / 'manifest.jsonl'} (id {row['id']})"
                        members = {
                            Path(rel).name: read_dataset_file(src, rel, where, f"audio.{role}") for role, rel in row["audio"].items()
                        }
                        new = {**row, "audio": {role: Path(rel).name for role, rel in row["audio"].items()}}
                        if "rttm" in row:
                            members[Path(row["rttm"]).name] = read_dataset_file(src, row["rttm"], where, "rttm")
                            new["rttm"] = Path(row["rttm"]).name
                        writer.add(new, members)
                        manifest.write(jsonl_bytes([{**new, "shard": f"shards/{tar_name(shard)}"}]))
                except BaseException:
                    writer.abort()
                    raise
                writer.commit()
        index = shards_index(iter_manifest(tmp))
        write_atomic(stage / "shards.json", json.dumps(index, indent=2).encode())
        write_atomic(stage / "build.json", json.dumps({**info, "format": SHARDS_FORMAT}, indent=2).encode())
    return index


def shards_to_folder(shards_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], progress: bool = False) -> int:
    """Convert a sharded dataset back into the folder layout; returns the number of examples.

    Folder shards follow the config's ``output.shard_size``, so a sharded build converts to
    exactly the files a folder build of the same config writes. Each example's row (``<id>.json``)
    and members are checked (`audiosynth.trust`); one bad member or row and nothing is left in
    ``out_dir`` (written into a staging folder inside it, moved into place at the end)."""
    src, out = Path(shards_dir), Path(out_dir)
    info = _read_info(src, SHARDS_FORMAT)
    size = int(info["config"]["output"]["shard_size"])
    urls = shard_urls(src)
    with _staged(out) as stage:
        count = _unpack(src, urls, stage, size, info, progress)
        tmp = stage / ("manifest.jsonl" + TMP_SUFFIX)
        with output_errors(tmp), open(tmp, "wb") as manifest:
            for shard in range(-(-count // size)):
                with open(shard_rows_path(stage, shard), encoding="utf-8") as handle:  # the rows less their fingerprint
                    manifest.write(jsonl_bytes({k: v for k, v in json.loads(line).items() if k != "fingerprint"} for line in handle))
        os.replace(tmp, stage / "manifest.jsonl")
        write_atomic(stage / "build.json", json.dumps({**info, "format": FOLDER_FORMAT}, indent=2).encode())
    return count


def _unpack(src: Path, urls: list[str], stage: Path, size: int, info: dict[str, Any], progress: bool) -> int:
    """Write every example of the tars ``urls`` of dataset ``src`` as folder files and shard rows
    under ``stage``; the examples must be the rows of ``src``'s manifest, in order."""
    (stage / "shards").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    count = 0
    stamp = {"fingerprint": info["fingerprint"]} if "fingerprint" in info else {}  # as a folder build's rows carry it
    bar = tqdm(total=info.get("num_examples"), unit="ex", desc="folder", disable=not progress, dynamic_ncols=True)
    expected = read_rows(src, sharded=True)  # the manifest: the tars must hold exactly its rows, in order
    for url in urls:
        for where, row, members in tar_examples(url):
            check_tar_example(where, row, members)
            check_listed(where, row, url, next(expected, None), src / "manifest.jsonl")
            row.pop("shard", None)
            bar.update()
            folder = f"audio/{shard_name(count // size)}"
            (stage / folder).mkdir(parents=True, exist_ok=True)
            for name, data in members.items():
                write_file(stage / folder / name, data)
            row["audio"] = {role: f"{folder}/{name}" for role, name in row["audio"].items()}
            if "rttm" in row:
                row["rttm"] = f"{folder}/{row['rttm']}"
            rows.append(row)
            count += 1
            if count % size == 0:
                write_shard_rows(stage, count // size - 1, [{**row, **stamp} for row in rows])
                rows.clear()
    left = next(expected, None)
    if left is not None:
        raise DatasetError(
            f"{src / 'manifest.jsonl'}: row {show(left['id'])} (shard {show(left['shard'])}) is in none of the tars "
            f"{', '.join(Path(u).name for u in urls)}"
        )
    bar.close()
    if rows:
        write_shard_rows(stage, count // size, [{**row, **stamp} for row in rows])
    return count
