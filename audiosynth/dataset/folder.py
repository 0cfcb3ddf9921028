"""Writers: the only code that touches a dataset's output folder.

Folder layout::

    OUT/build.json                    config, seed, versions, label definitions, counts
    OUT/manifest.jsonl                one row per example, written when the build completes
    OUT/audio/SSSSS/<id>.<role>.flac  audio of shard SSSSS
    OUT/shards/SSSSS.jsonl            the shard's manifest rows: its completion marker

A shard's files are encoded in memory, written under temporary names, made durable with
one filesystem sync, then renamed; the shard's rows are renamed into ``shards/`` last. A
file with a final name is therefore always complete, and a shard without rows is redone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..io.audio import encode
from ..io.files import (
    TMP_SUFFIX,
    fsync_dir,
    jsonl_bytes,
    sync_filesystem,
    write_atomic,
    write_file,
)
from ..render.mix import Rendered


@contextlib.contextmanager
def shard_lock(out_dir: str | os.PathLike[str], shard: int) -> Iterator[None]:
    """Hold ``OUT/.locks/SSSSS`` exclusively (``flock``) while shard ``shard`` is written, so that a
    second attempt at it (an engine's retry, a task left running) waits instead of writing the same
    temporary files. The body must leave the shard done (its rows file written) or raise; the lock
    file is removed when it is done (a later comer, locking the removed file or a new one, finds
    the rows and writes nothing). A no-op where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(out_dir) / ".locks" / shard_name(shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
            path.unlink(missing_ok=True)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def folder_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder ``out_dir`` itself (no lock file is added), so that
    two builds of one folder start and finish one at a time. A no-op where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def rttm_text(recording: str, activity: list[dict[str, Any]]) -> str:
    """RTTM lines (``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``); a file
    id or speaker holding whitespace or a control character is refused (`DatasetError`)."""
    from .trust import check_token

    check_token(recording, "RTTM", "file id")
    for row in activity:
        check_token(row["speaker"] or row["role"], f"RTTM of {recording}", "speaker")
    return "".join(
        f"SPEAKER {recording} 1 {row['start']:.3f} {row['end'] - row['start']:.3f} <NA> <NA> {row['speaker'] or row['role']} <NA> <NA>\n"
        for row in activity
    )


def shard_name(shard: int) -> str:
    return f"{shard:05d}"


def shard_rows_path(out_dir: str | os.PathLike[str], shard: int) -> Path:
    """``OUT/shards/SSSSS.jsonl``: the rows of shard ``shard``, written last (its completion marker)."""
    return Path(out_dir) / "shards" / f"{shard_name(shard)}.jsonl"


def shard_rejects_path(out_dir: str | os.PathLike[str], shard: int) -> Path:
    """``OUT/shards/SSSSS.rejects.jsonl``: clips found bad while rendering shard ``shard``."""
    return Path(out_dir) / "shards" / f"{shard_name(shard)}.rejects.jsonl"


def write_shard_rejects(out_dir: str | os.PathLike[str], shard: int, rejects: list[dict[str, Any]]) -> None:
    """Write (or, with none, remove) a shard's rejects file; before its rows file, which marks it done."""
    path = shard_rejects_path(out_dir, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    if rejects:
        write_atomic(path, jsonl_bytes(rejects))
    else:
        path.unlink(missing_ok=True)


def write_shard_rows(out_dir: str | os.PathLike[str], shard: int, rows: Iterable[dict[str, Any]]) -> Path:
    """Write a shard's rows file atomically; returns its path."""
    path = shard_rows_path(out_dir, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, jsonl_bytes(rows))
    return path


def example_files(rendered: Rendered, audio_format: str, subtype: str) -> tuple[dict[str, bytes], dict[str, str], str | None]:
    """One example's files, encoded: ``(name -> bytes, role -> name, RTTM name or None)``.

    Names are ``<id>.<role>.<format>`` for every audio role and ``<id>.rttm`` for a
    diarization session, the same in a folder and in a tar shard."""
    rendered, scene = rendered.to_numpy(), rendered.scene  # the hand-off: signals leave the render backend here
    names = {role: f"{scene.id}.{role}.{audio_format}" for role in rendered.audio}
    files = {names[role]: encode(signal, scene.sample_rate, audio_format, subtype) for role, signal in rendered.audio.items()}
    rttm = None
    if "activity" in rendered.labels:
        rttm = f"{scene.id}.rttm"
        files[rttm] = rttm_text(scene.id, rendered.labels["activity"]).encode("utf-8")
    return files, names, rttm


def example_row(rendered: Rendered, audio: dict[str, str], rttm: str | None = None) -> dict[str, Any]:
    """The manifest row of one rendered example, its audio (and RTTM) at the given paths."""
    scene = rendered.scene
    return {
        "id": scene.id,
        "split": scene.split,
        "duration": scene.duration,
        "sample_rate": scene.sample_rate,
        "num_channels": int(rendered.audio["mix"].shape[0]),
        "audio": audio,
        **({"rttm": rttm} if rttm is not None else {}),
        "labels": rendered.labels,
        "scene": scene.to_dict(),
    }


class FolderShardWriter:
    """Writes one shard of a folder dataset; nothing is visible until `commit`."""

    def __init__(self, out_dir: str | os.PathLike[str], shard: int, audio_format: str = "flac", subtype: str = "PCM_16") -> None:
        self.out_dir = Path(out_dir)
        self.shard = shard
        self.audio_format = audio_format
        self.subtype = subtype
        self.audio_dir = self.out_dir / "audio" / shard_name(shard)
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.audio_dir.glob(f"*{TMP_SUFFIX}"):
            stale.unlink()
        self.pending: list[Path] = []
        self.rows: list[dict[str, Any]] = []

    def add(self, rendered: Rendered) -> dict[str, Any]:
        """Encode and stage one example's files; returns its manifest row."""
        files, names, rttm = example_files(rendered, self.audio_format, self.subtype)
        for name, data in files.items():
            tmp = self.audio_dir / (name + TMP_SUFFIX)
            self.pending.append(tmp)
            write_file(tmp, data)
        prefix = f"audio/{shard_name(self.shard)}/"
        row = example_row(rendered, {role: prefix + name for role, name in names.items()}, rttm and prefix + rttm)
        self.rows.append(row)
        return row

    def abort(self) -> None:
        """Remove the shard's temporary files (after a failure): nothing half-written stays."""
        for tmp in self.pending:
            tmp.unlink(missing_ok=True)

    def commit(self) -> Path:
        """Make the shard durable and visible: one sync, renames, then its rows file."""
        sync_filesystem(self.audio_dir)
        for tmp in self.pending:
            os.replace(tmp, tmp.with_name(tmp.name[: -len(TMP_SUFFIX)]))
        fsync_dir(self.audio_dir)
        return write_shard_rows(self.out_dir, self.shard, self.rows)
