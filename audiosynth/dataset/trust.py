"""One validation of untrusted dataset input: manifest rows, build.json, tar members, output folders.

A dataset folder or a WebDataset tar may come from anywhere. Every reader (validate, report,
export, shards, the torch datasets) takes its rows through `read_rows` / `check_row` and its
tar members through `check_member`, so nothing read from a dataset can name a file outside it
or inject a line into a toolkit's manifest:

- ids, splits and speaker names match `NAME` (example ids `ID`: no dot, as a tar member's key
  ends at its first dot); audio roles match `ROLE`; texts and clip ids hold no control
  character and are at most `MAX_TEXT` characters long;
- every path a row gives (``audio`` values, ``rttm``, ``shard``) is relative, made of `NAME`
  components (so no ``..``, no hidden file, no whitespace) and resolves, symlinks followed,
  inside the dataset folder; in a sharded dataset ``audio`` and ``rttm`` are member names
  ``<id>.<...>`` of the example's own tar;
- tar members are regular files with `NAME` names (no folder part); links and devices are refused.

Anything else raises :class:`~audiosynth.errors.DatasetError` in one line naming the file,
the line (and row id) or member, and the field.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..io.files import TMP_SUFFIX
from ..names import ID, MAX_TEXT, NAME, ROLE, has_control, show

MAX_PATH = 1024  # characters of a path in a row
MAX_DURATION_S = 1e7
MAX_MEMBER_BYTES = 4 << 30  # a tar member is read into memory whole
Row = dict[str, Any]


def _refuse(where: str, field: str, value: Any, why: str) -> DatasetError:
    return DatasetError(f"{where}: {field} {show(value)}: {why}")


def check_name(value: Any, where: str, field: str, pattern: re.Pattern[str] = NAME) -> str:
    """``value`` if it is a string fully matching ``pattern``, else `DatasetError`."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _refuse(where, field, value, f"not a safe name ({pattern.pattern})")
    return value


def check_text(value: Any, where: str, field: str, *, optional: bool = True) -> str | None:
    """A transcript-like string: no control character (newline, tab, NUL, ...), bounded length."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or has_control(value):
        raise _refuse(where, field, value, f"not a string of at most {MAX_TEXT} characters without control characters")
    return value


def check_number(value: Any, where: str, field: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise _refuse(where, field, value, f"not a number in [{low}, {high}]")
    return float(value)


def inside(root: Path, rel: str) -> bool:
    """Whether ``root/rel`` resolves (symlinks followed) inside ``root``."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, rel))
    return target.startswith(base.rstrip(os.sep) + os.sep)


def check_path(value: Any, root: Path, where: str, field: str) -> str:
    """A path a row gives: relative, `NAME` components, resolving inside ``root``."""
    if isinstance(value, str) and (value.startswith("/") or os.path.isabs(value)):
        raise _refuse(where, field, value, "an absolute path (a row's paths are relative, inside the dataset)")
    if not isinstance(value, str) or not value or len(value) > MAX_PATH:
        raise _refuse(where, field, value, f"not a relative path of at most {MAX_PATH} characters")
    for part in value.split("/"):
        if not NAME.fullmatch(part):
            raise _refuse(where, field, value, f"path component {show(part)} is not a safe name (no '..', no absolute path)")
    if not inside(root, value):
        raise _refuse(where, field, value, "resolves outside the dataset folder (a symlink leading out?)")
    return value


def dataset_file(root: Path, rel: str, where: str, field: str) -> Path:
    """``root/rel``, a file a checked row names (`check_path`), if it is a regular file; else
    `DatasetError` naming ``where``, ``field`` and the file. Checked with ``stat`` before anything
    opens it: a FIFO would block the reader forever, a device never end, a folder or a symlink
    loop fail with a bare OS or libsndfile error."""
    path = Path(root) / rel
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise _refuse(where, field, rel, f"missing file {path}") from None
    except OSError as err:  # a symlink loop, no permission
        raise _refuse(where, field, rel, f"cannot read {path} ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        raise _refuse(where, field, rel, f"{path} is not a regular file (mode {stat.filemode(mode)}: a folder, FIFO or device)")
    return path


def read_dataset_file(root: Path, rel: str, where: str, field: str) -> bytes:
    """The bytes of `dataset_file` ``root/rel``; an I/O error is a `DatasetError` naming it."""
    path = dataset_file(root, rel, where, field)
    try:
        return path.read_bytes()
    except OSError as err:
        raise _refuse(where, field, rel, f"cannot read {path} ({err.strerror or err})") from err


def check_member_name(name: Any, where: str, field: str = "member") -> str:
    """A tar member name: one `NAME` (no folder part, no ``..``, not absolute)."""
    if not isinstance(name, str) or len(name) > 255 or not NAME.fullmatch(name):
        raise DatasetError(f"{where}: {field} {show(name)}: not a safe tar member name (a plain file name, no '/' or '..')")
    return name


def check_member(info: tarfile.TarInfo, where: str) -> bool:
    """Whether tar member ``info`` is a file to read (False: a safely named folder, skipped);
    refuses links, devices and unsafe names (of folders too)."""
    check_member_name(info.name, where)
    if info.isdir():
        return False
    if not info.isfile():
        raise _refuse(where, "member", info.name, "not a regular file (link or device)")
    if info.size > MAX_MEMBER_BYTES:
        raise _refuse(where, "member", info.name, f"{info.size} bytes, over the {MAX_MEMBER_BYTES} a member may have")
    return True


def _check_talker(seg: Any, where: str, field: str, keys: tuple[str, ...]) -> None:
    if not isinstance(seg, dict) or any(k not in seg for k in keys):
        raise _refuse(where, field, seg, f"not an object with keys {', '.join(keys)}")
    check_name(seg["role"], where, f"{field}.role", ROLE)
    if seg.get("speaker") is not None:
        check_name(seg["speaker"], where, f"{field}.speaker")
    check_number(seg["start"], where, f"{field}.start", 0, MAX_DURATION_S)
    check_number(seg["end"], where, f"{field}.end", 0, MAX_DURATION_S)
    check_text(seg.get("text"), where, f"{field}.text")
    check_text(seg.get("clip"), where, f"{field}.clip")


def check_row(row: Any, root: Path, where: str, *, sharded: bool = False) -> Row:
    """``row`` if it is a well-formed, safe manifest row of the dataset in ``root``; else
    `DatasetError` naming ``where`` (e.g. ``manifest.jsonl:12``), the row id and the field.

    ``sharded``: audio and RTTM are members of the row's tar (``<id>.<...>`` names), not paths."""
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: not a JSON object")
    for key in ("id", "split", "duration", "sample_rate", "audio", "labels", "scene"):
        if key not in row:
            raise DatasetError(f"{where}: no {key!r} field")
    row_id = check_name(row["id"], where, "id", ID)
    where = f"{where} (id {row_id})"
    check_name(row["split"], where, "split")
    check_number(row["duration"], where, "duration", 0, MAX_DURATION_S)
    if not isinstance(row["sample_rate"], int) or isinstance(row["sample_rate"], bool) or not 0 < row["sample_rate"] <= 10_000_000:
        raise _refuse(where, "sample_rate", row["sample_rate"], "not a positive integer")
    if "num_channels" in row and (not isinstance(row["num_channels"], int) or not 0 < row["num_channels"] <= 1024):
        raise _refuse(where, "num_channels", row["num_channels"], "not a positive integer")
    audio = row["audio"]
    if not isinstance(audio, dict) or not audio:
        raise _refuse(where, "audio", audio, "not an object of role -> file")
    files = {f"audio.{check_name(role, where, 'audio role', ROLE)}": rel for role, rel in audio.items()}
    if "rttm" in row:
        files["rttm"] = row["rttm"]
    for field, rel in files.items():
        if sharded:
            check_member_name(rel, where, field)
            if not rel.startswith(f"{row_id}."):
                raise _refuse(where, field, rel, "not a member of this example (<id>.<...>)")
        else:
            check_path(rel, root, where, field)
    if "shard" in row:
        check_path(row["shard"], root, where, "shard")
    labels, scene = row["labels"], row["scene"]
    if not isinstance(labels, dict):
        raise _refuse(where, "labels", labels, "not an object")
    if not isinstance(scene, dict) or not isinstance(scene.get("sources", []), list):
        raise _refuse(where, "scene", scene, "not an object with a list of sources")
    for k, source in enumerate(scene.get("sources", [])):
        if not isinstance(source, dict) or "role" not in source:
            raise _refuse(where, f"scene.sources[{k}]", source, "not an object with a role")
        check_name(source["role"], where, f"scene.sources[{k}].role", ROLE)
    if labels.get("speech_clip") and not scene.get("sources"):
        raise _refuse(where, "scene.sources", scene.get("sources"), "empty, but labels.speech_clip names a talker")
    for key in ("speaker", "target_speaker"):
        if labels.get(key) is not None:
            check_name(labels[key], where, f"labels.{key}")
    for key in ("text", "speech_clip", "noise_clip", "enrollment_clip"):
        check_text(labels.get(key), where, f"labels.{key}")
    for key, keys in (("segments", ("role", "speaker", "clip", "start", "end")), ("activity", ("role", "speaker", "start", "end"))):
        items = labels.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise _refuse(where, f"labels.{key}", items, "not a list")
        for k, seg in enumerate(items):
            _check_talker(seg, where, f"labels.{key}[{k}]", keys)
    if isinstance(labels.get("sir_db"), dict):
        for role in labels["sir_db"]:
            check_name(role, where, "labels.sir_db role", ROLE)
    return row


def parse_json(text: str, where: str, what: str) -> Any:
    """``json.loads(text)``; malformed JSON, or JSON nested too deeply for the parser (a
    RecursionError), raises `DatasetError` ``where: <what> (...)``."""
    try:
        return json.loads(text)
    except ValueError as err:
        raise DatasetError(f"{where}: {what} ({err})") from err
    except RecursionError as err:
        raise DatasetError(f"{where}: {what} (JSON nested too deeply)") from err


def manifest_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, parsed JSON or a DatasetError)`` per non-empty line of ``path`` (``where`` is
    ``path:line``, lines split at newlines); a line that is not UTF-8 or not JSON (a truncated
    manifest, a nesting bomb) gives the error, not a traceback."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; an open error is told apart from a read error
    except OSError as err:
        raise DatasetError(f"{path}: cannot read ({err.strerror or err})") from err
    with handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield where, DatasetError(f"{where}: not UTF-8 ({err.reason} at byte {err.start})")
                continue
            if not line.strip():
                continue
            try:
                yield where, parse_json(line, where, "not a JSON row")
            except DatasetError as err:
                yield where, err


def read_rows(root: str | os.PathLike[str], *, sharded: bool | None = None, problems: list[str] | None = None) -> Iterator[Row]:
    """The checked rows of ``root/manifest.jsonl``, streamed. A bad line raises `DatasetError`
    (``path:line (id X): field ...: why``); with ``problems`` given, its message is appended
    there and the line skipped; so is an empty manifest. ``sharded`` defaults to build.json's format."""
    root = Path(root)
    if sharded is None:
        sharded = read_build_info(root).get("format") == "audiosynth-webdataset"
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: missing (not a built dataset, or the build did not complete)")
    seen_ids: set[str] = set()
    lines = 0
    for where, row in manifest_lines(manifest):
        lines += 1
        try:
            if isinstance(row, DatasetError):
                raise row
            check_row(row, root, where, sharded=sharded)
            if sharded and "shard" not in row:
                raise DatasetError(f"{where} (id {row['id']}): no 'shard' field in a sharded dataset's row")
            if row["id"] in seen_ids:
                raise DatasetError(f"{where}: duplicate id {row['id']!r}")
            seen_ids.add(row["id"])
        except DatasetError as err:
            if problems is None:
                raise
            problems.append(str(err))
            continue
        yield row
    if not lines:  # a build has at least one example: an empty manifest is a truncated one
        empty = DatasetError(f"{manifest}: empty (no row; a built dataset has at least one example)")
        if problems is None:
            raise empty
        problems.append(str(empty))


def read_build_info(root: str | os.PathLike[str], *, required: bool = False) -> dict[str, Any]:
    """``root/build.json`` as a dict ({} when absent and not ``required``); a file that is not a
    JSON object raises `DatasetError` naming it."""
    path = Path(root) / "build.json"
    if not path.is_file():
        if required:
            raise DatasetError(f"{path}: missing (not an audiosynth dataset)")
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (ValueError, OSError) as err:
        raise DatasetError(f"{path}: not a readable JSON file ({err})") from err
    info = parse_json(text, str(path), "not a readable JSON file")
    if not isinstance(info, dict):
        raise DatasetError(f"{path}: not a JSON object")
    return info


def read_complete_build(root: str | os.PathLike[str]) -> dict[str, Any]:
    """``root/build.json`` of a complete build (status ``complete``, manifest.jsonl present), for
    the readers that convert a whole dataset; else `DatasetError` naming the file at fault."""
    info = read_build_info(root, required=True)
    if info.get("status") != "complete":
        raise _refuse(
            str(Path(root) / "build.json"),
            "status",
            info.get("status"),
            "not 'complete' (the build did not finish: resume it with the same command)",
        )
    manifest = Path(root) / "manifest.jsonl"
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: missing (the build did not complete)")
    return info


def check_output_dir(out: str | os.PathLike[str]) -> None:
    """Refuse to build into a filesystem root, the home folder, a file, or a non-empty folder that
    is not an audiosynth dataset (no build.json). A missing or empty folder, or a dataset (resumed),
    is fine."""
    path = Path(os.path.realpath(os.path.expanduser(out)))
    if path.parent == path:
        raise DatasetError(f"{out}: a filesystem root; build into a new folder")
    if path == Path(os.path.realpath(os.path.expanduser("~"))):
        raise DatasetError(f"{out}: the home folder; build into a new folder")
    if path.exists() and not path.is_dir():
        raise DatasetError(f"{out}: not a folder")
    if (path / "build.json").is_file():
        read_build_info(path)  # a dataset, resumed: its build.json must at least be a JSON object
    elif path.is_dir() and any(path.iterdir()) and not _build_leftovers(path):
        raise DatasetError(f"{out}: not empty and not an audiosynth dataset (no build.json); build into a new or empty folder")


BUILD_ENTRIES = frozenset({"audio", "shards", ".locks", "manifest.jsonl", "rejects.jsonl", "shards.json", "report"})


def _build_leftovers(path: Path) -> bool:
    """Whether folder ``path`` holds only what a build writes: shards included (a build whose
    build.json was deleted: it is resumed, and its done shards' config fingerprints checked), or
    only the ``build.json.partial`` of a build that is starting there (another build, this instant)."""
    names = {entry.name for entry in os.scandir(path)}
    if names == {"build.json" + TMP_SUFFIX}:
        return True
    return "shards" in names and all(name in BUILD_ENTRIES or name.endswith(TMP_SUFFIX) for name in names)


def check_token(value: str, where: str, field: str) -> str:
    """A field of a whitespace-separated line (Kaldi, RTTM): no whitespace, no control character."""
    if not value or any(c.isspace() for c in value) or has_control(value):
        raise _refuse(where, field, value, "holds whitespace or a control character (a Kaldi/RTTM field cannot)")
    return value
