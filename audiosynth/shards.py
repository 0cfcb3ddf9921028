"""WebDataset shards: writing them in a build, and converting folder datasets to and from them.

Layout of a sharded dataset::

    OUT/build.json                 as for a folder dataset, with "format": "audiosynth-webdataset"
    OUT/manifest.jsonl             one row per example; audio paths are tar member names,
                                   "shard" names the tar holding the example
    OUT/shards.json                per tar: name, number of examples, total duration (s)
    OUT/shards/shard-SSSSS.tar     members <id>.<role>.flac (or .wav), <id>.json (the row), <id>.rttm
    OUT/shards/SSSSS.jsonl         the shard's rows: its completion marker (as for folders)

Tars are deterministic (members in index order, names sorted within an example, mtime 0,
uid/gid 0, empty owner names, mode 0644), so the same build gives the same bytes. A tar is
written under a temporary name, synced and renamed; the shard's rows file is written after it.
Only Python's `tarfile` is used here: the `webdataset` package is needed only to read.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm import tqdm

from .errors import DatasetError
from .render import Rendered
from .validate import iter_manifest
from .writers import (TMP_SUFFIX, output_errors, example_files, example_row, fsync_dir, jsonl_bytes, shard_name, shard_rows_path,
                      write_atomic, write_shard_rows)

FOLDER_FORMAT = "audiosynth-folder"
SHARDS_FORMAT = "audiosynth-webdataset"


def tar_name(shard: int) -> str:
    """File name of tar shard ``shard`` (``shard-SSSSS.tar``)."""
    return f"shard-{shard_name(shard)}.tar"


def member_key(name: str) -> str:
    """The example key of a tar member (everything before the first dot, as webdataset splits)."""
    return name.split(".", 1)[0]


class TarShardWriter:
    """Writes one tar shard example by example; the tar gets its final name only in `commit`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + TMP_SUFFIX)
        self._file = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)
        self.num_examples = 0
        self.duration = 0.0

    def add(self, row: dict[str, Any], members: dict[str, bytes]) -> None:
        """Add one example: ``members`` (name -> bytes) plus ``<id>.json`` holding ``row``."""
        members = {**members, f"{row['id']}.json": json.dumps(row, ensure_ascii=False).encode("utf-8")}
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with output_errors(self.tmp):
                self._tar.addfile(info, io.BytesIO(members[name]))
        self.num_examples += 1
        self.duration += float(row["duration"])

    def abort(self) -> None:
        """Close and remove the temporary tar (after a failure, maybe a full disk: closing may fail too)."""
        try:
            self._file.close()
        except OSError:
            pass
        self.tmp.unlink(missing_ok=True)

    def commit(self) -> dict[str, Any]:
        """Close, sync and rename the tar; returns its `shards.json` entry."""
        with output_errors(self.tmp):
            self._tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        return {"name": self.path.name, "num_examples": self.num_examples, "duration": round(self.duration, 6)}


class WebDatasetShardWriter:
    """Writes one build shard as ``shards/shard-SSSSS.tar`` (same interface as `FolderShardWriter`)."""

    def __init__(self, out_dir: str | os.PathLike[str], shard: int, audio_format: str = "flac", subtype: str = "PCM_16") -> None:
        self.out_dir = Path(out_dir)
        self.shard = shard
        self.audio_format = audio_format
        self.subtype = subtype
        self.writer = TarShardWriter(self.out_dir / "shards" / tar_name(shard))
        self.rows: list[dict[str, Any]] = []

    def add(self, rendered: Rendered) -> dict[str, Any]:
        """Encode one example into the tar; returns its manifest row."""
        members, names, rttm = example_files(rendered, self.audio_format, self.subtype)
        row = example_row(rendered, names, rttm)
        self.writer.add(row, members)
        row = {**row, "shard": f"shards/{tar_name(self.shard)}"}
        self.rows.append(row)
        return row

    def abort(self) -> None:
        """Remove the unfinished tar (after a failure)."""
        self.writer.abort()

    def commit(self) -> Path:
        """Rename the tar into place, then write the shard's rows file (the completion marker)."""
        self.writer.commit()
        return write_shard_rows(self.out_dir, self.shard, self.rows)


def shards_index(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The `shards.json` content from manifest rows carrying a "shard" key (in order)."""
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = Path(row["shard"]).name
        entry = entries.setdefault(name, {"name": name, "num_examples": 0, "duration": 0.0})
        entry["num_examples"] += 1
        entry["duration"] += float(row["duration"])
    shards = [{**e, "duration": round(e["duration"], 6)} for e in entries.values()]
    return {"format": SHARDS_FORMAT, "num_examples": sum(e["num_examples"] for e in shards), "shards": shards}


def write_shards_index(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``shards.json`` from ``manifest.jsonl`` of a sharded dataset."""
    out = Path(out_dir)
    path = out / "shards.json"
    write_atomic(path, json.dumps(shards_index(iter_manifest(out / "manifest.jsonl")), indent=2).encode())
    return path


def shard_urls(dataset: str | os.PathLike[str]) -> list[str]:
    """Paths of the tars of a sharded dataset folder, in order (from shards.json, else a glob)."""
    root = Path(dataset)
    index = root / "shards.json"
    if index.exists():
        return [str(root / "shards" / e["name"]) for e in json.loads(index.read_text())["shards"]]
    tars = sorted((root / "shards").glob("shard-*.tar")) or sorted(root.glob("*.tar"))
    if not tars:
        raise DatasetError(f"{root}: no tar shards found")
    return [str(p) for p in tars]


def _batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _read_info(root: Path, expected: str) -> dict[str, Any]:
    path = root / "build.json"
    if not path.exists():
        raise DatasetError(f"{root}: no build.json")
    info = json.loads(path.read_text())
    if info.get("status") != "complete" or not (root / "manifest.jsonl").exists():
        raise DatasetError(f"{root}: the build is not complete")
    if info.get("format", FOLDER_FORMAT) != expected:
        raise DatasetError(f"{root}: format {info.get('format')!r}, expected {expected!r}")
    return info


def folder_to_shards(dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], shard_size: int = 100,
                     progress: bool = False) -> dict[str, Any]:
    """Convert a complete folder dataset into tar shards of ``shard_size`` examples.

    Audio bytes are copied, not re-encoded. Returns the `shards.json` content."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    src, out = Path(dataset_dir), Path(out_dir)
    info = _read_info(src, FOLDER_FORMAT)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    tmp = out / ("manifest.jsonl" + TMP_SUFFIX)
    with open(tmp, "wb") as manifest:
        rows_in = tqdm(iter_manifest(src / "manifest.jsonl"), total=info.get("num_examples"), unit="ex", desc="shards",
                       disable=not progress, dynamic_ncols=True)
        for shard, rows in enumerate(_batched(rows_in, shard_size)):
            writer = TarShardWriter(out / "shards" / tar_name(shard))
            for row in rows:
                members = {Path(rel).name: (src / rel).read_bytes() for rel in row["audio"].values()}
                new = {**row, "audio": {role: Path(rel).name for role, rel in row["audio"].items()}}
                if "rttm" in row:
                    members[Path(row["rttm"]).name] = (src / row["rttm"]).read_bytes()
                    new["rttm"] = Path(row["rttm"]).name
                writer.add(new, members)
                manifest.write(jsonl_bytes([{**new, "shard": f"shards/{tar_name(shard)}"}]))
            writer.commit()
    os.replace(tmp, out / "manifest.jsonl")
    write_shards_index(out)
    write_atomic(out / "build.json", json.dumps({**info, "format": SHARDS_FORMAT}, indent=2).encode())
    return json.loads((out / "shards.json").read_text())


def iter_tar_examples(path: str | os.PathLike[str]) -> Iterator[tuple[dict[str, Any], dict[str, bytes]]]:
    """``(row, members)`` of each example of one tar, streamed in order (row from ``<id>.json``)."""
    key, members = None, {}  # type: ignore[var-annotated]
    with tarfile.open(path, mode="r|") as tar:
        for info in tar:
            if not info.isfile():
                continue
            name_key = member_key(info.name)
            if key is not None and name_key != key:
                yield json.loads(members.pop(f"{key}.json")), members
                members = {}
            key = name_key
            handle = tar.extractfile(info)
            members[info.name] = handle.read() if handle else b""
    if key is not None:
        yield json.loads(members.pop(f"{key}.json")), members


def shards_to_folder(shards_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], progress: bool = False) -> int:
    """Convert a sharded dataset back into the folder layout; returns the number of examples.

    Folder shards follow the config's ``output.shard_size``, so a sharded build converts to
    exactly the files a folder build of the same config writes."""
    src, out = Path(shards_dir), Path(out_dir)
    info = _read_info(src, SHARDS_FORMAT)
    size = int(info["config"]["output"]["shard_size"])
    (out / "shards").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    count = 0

    stamp = {"fingerprint": info["fingerprint"]} if "fingerprint" in info else {}  # as a folder build's rows carry it

    def flush_rows(shard: int) -> None:
        write_shard_rows(out, shard, [{**row, **stamp} for row in rows])
        rows.clear()

    bar = tqdm(total=info.get("num_examples"), unit="ex", desc="folder", disable=not progress, dynamic_ncols=True)
    for url in shard_urls(src):
        for row, members in iter_tar_examples(url):
            bar.update()
            folder = f"audio/{shard_name(count // size)}"
            (out / folder).mkdir(parents=True, exist_ok=True)
            for name, data in members.items():
                (out / folder / name).write_bytes(data)
            row["audio"] = {role: f"{folder}/{name}" for role, name in row["audio"].items()}
            if "rttm" in row:
                row["rttm"] = f"{folder}/{row['rttm']}"
            rows.append(row)
            count += 1
            if count % size == 0:
                flush_rows(count // size - 1)
    bar.close()
    if rows:
        flush_rows(count // size)
    tmp = out / ("manifest.jsonl" + TMP_SUFFIX)
    with open(tmp, "wb") as manifest:
        for shard in range(-(-count // size)):
            with open(shard_rows_path(out, shard), encoding="utf-8") as handle:  # the rows less their fingerprint
                manifest.write(jsonl_bytes({k: v for k, v in json.loads(line).items() if k != "fingerprint"} for line in handle))
    os.replace(tmp, out / "manifest.jsonl")
    fsync_dir(out)
    write_atomic(out / "build.json", json.dumps({**info, "format": FOLDER_FORMAT}, indent=2).encode())
    return count
