"""Files written so that a crash or a full disk never leaves a wrong one: atomic replace, fsync, clear errors."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputError

TMP_SUFFIX = ".partial"
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def sync_filesystem(path: Path) -> None:
    """Flush every pending write of the filesystem holding ``path`` (syncfs; sync elsewhere)."""
    if _libc is not None and hasattr(_libc, "syncfs"):
        fd = os.open(path, os.O_RDONLY)
        try:
            _libc.syncfs(fd)
        finally:
            os.close(fd)
    else:
        os.sync()


def fsync_dir(path: Path) -> None:
    """Make renames inside folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
RESUME = "Free some space and run the same build again: it resumes where it stopped"


@contextlib.contextmanager
def output_errors(path: Path, remedy: str = RESUME) -> Iterator[None]:
    """Turn a failed write to ``path`` into an `OutputError` naming it (disk full: one clear line
    ending with ``remedy``)."""
    try:
        yield
    except OSError as err:
        if err.errno in _FULL:
            free = shutil.disk_usage(path.parent if path.parent.exists() else ".").free / 1e6
            raise OutputError(f"{path}: no space left on the device ({err.strerror}; {free:.0f} MB free). {remedy}") from err
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from err


def write_file(path: Path, data: bytes, *, sync: bool = False, remedy: str = RESUME) -> None:
    """Write ``data`` to ``path``; on failure nothing is left at ``path`` and `OutputError` names it."""
    with output_errors(path, remedy):
        try:
            with open(path, "wb") as handle:
                _write_all(handle, data)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise


def _write_all(handle: Any, data: bytes) -> None:
    handle.write(data)


def write_atomic(path: Path, data: bytes, remedy: str = RESUME) -> None:
    """Write ``data`` to ``path`` via a temporary name, fsync, rename."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    write_file(tmp, data, sync=True, remedy=remedy)
    os.replace(tmp, path)


def jsonl_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    """Rows as JSON lines (stable key order as given)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
