"""WebDataset shards: the tar layout, written in a build and read back (converting to and from
the folder layout: `dataset.convert`).

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

import contextlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..io.files import (
    TMP_SUFFIX,
    fsync_dir,
    output_errors,
    write_atomic,
)
from ..render.mix import Rendered
from .folder import (
    example_files,
    example_row,
    shard_name,
    write_shard_rows,
)
from .rows import iter_manifest
from .trust import (
    check_member,
    check_member_name,
    check_row,
    show,
)

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
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - the writer's: closed by commit or abort
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - likewise
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
        with contextlib.suppress(OSError):
            self._file.close()
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
    """Paths of the tars of a sharded dataset folder, in order (from shards.json, else a glob);
    a shards.json naming anything but a plain file name under ``shards/`` is refused."""
    root = Path(dataset)
    index = root / "shards.json"
    if index.exists():
        where = str(index)
        try:
            entries = json.loads(index.read_text(encoding="utf-8"))["shards"]
            names = [e["name"] for e in entries]
        except (ValueError, KeyError, TypeError) as err:
            raise DatasetError(f"{index}: not a shards index (a JSON object with shards[].name): {err}") from err
        return [str(root / "shards" / check_member_name(name, where, "shards[].name")) for name in names]
    tars = sorted((root / "shards").glob("shard-*.tar")) or sorted(root.glob("*.tar"))
    if not tars:
        raise DatasetError(f"{root}: no tar shards found")
    return [str(p) for p in tars]


def iter_tar_examples(path: str | os.PathLike[str]) -> Iterator[tuple[dict[str, Any], dict[str, bytes]]]:
    """``(row, members)`` of each example of one tar, streamed in order (row from ``<id>.json``,
    unchecked: see `check_tar_example`). A link, device, unsafe or duplicate member name, an
    example whose members are not consecutive, a missing or unreadable ``<id>.json`` or tar
    raise a one-line `DatasetError` naming the tar and member."""
    for _, row, members in tar_examples(path):
        yield row, members


def tar_examples(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any, dict[str, bytes]]]:
    """`iter_tar_examples` with ``where`` (``TAR: member <id>.json``) first."""
    key, members = None, {}  # type: ignore[var-annotated]
    done: set[str] = set()  # keys of the examples already yielded

    def example() -> tuple[str, Any, dict[str, bytes]]:
        name = f"{key}.json"
        where = f"{path}: member {name}"
        if name not in members:
            raise DatasetError(f"{path}: example {key!r} has no member {name}")
        try:
            row = json.loads(members.pop(name))
        except ValueError as err:
            raise DatasetError(f"{where}: not JSON ({err})") from err
        return where, row, members

    try:
        with tarfile.open(path, mode="r|") as tar:
            for info in tar:
                if not check_member(info, str(path)):
                    continue
                name_key = member_key(info.name)
                if key is not None and name_key != key:
                    yield example()
                    done.add(key)
                    members = {}
                if info.name in members or name_key in done:
                    why = (
                        "a second member of that name"
                        if info.name in members
                        else "its example's other members came earlier (not consecutive)"
                    )
                    raise DatasetError(f"{path}: member {show(info.name)}: {why}")
                key = name_key
                handle = tar.extractfile(info)
                members[info.name] = handle.read() if handle else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetError(f"{path}: unreadable tar ({err})") from err
    if key is not None:
        yield example()


def check_tar_example(where: str, row: Any, members: dict[str, bytes]) -> dict[str, Any]:
    """``row`` (an example's ``<id>.json``) if it is a safe sharded row (`audiosynth.trust.check_row`)
    naming exactly the example's ``members``; else `DatasetError` naming ``where`` (``TAR: member <id>.json``)."""
    check_row(row, Path("."), where, sharded=True)  # its audio and rttm: member names <id>.<...>
    named = {*row["audio"].values(), *([row["rttm"]] if "rttm" in row else [])}
    for name in sorted(set(members) ^ named):
        why = "not named by the example's row" if name in members else "named by the row but not in the tar"
        raise DatasetError(f"{where} (id {row['id']}): member {show(name)}: {why}")
    return row


def check_listed(where: str, row: dict[str, Any], tar: str, listed: dict[str, Any] | None, manifest: Path) -> None:
    """Refuse a checked tar example ``row`` of tar ``tar`` that is not ``listed``, the next row of
    ``manifest`` (its id and shard, and every field but ``shard``, must agree)."""
    if listed is None or listed["id"] != row["id"] or Path(listed["shard"]).name != Path(tar).name:
        found = f"{show(listed['id'])} in {show(listed['shard'])}" if listed else "no more rows"
        raise DatasetError(f"{where} (id {row['id']}): not the next row of {manifest} (found {found})")
    fields = sorted(k for k in {*row, *listed} - {"shard"} if row.get(k) != listed.get(k))
    if fields:
        raise DatasetError(f"{where} (id {row['id']}): differs from its row in {manifest} in {', '.join(fields)}")
