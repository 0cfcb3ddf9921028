"""Catalogs: JSONL files of `Clip` rows describing source audio (speech, noise, RIRs).

A catalog row's field names are a public contract::

    {"id": ..., "path": ..., "kind": "speech"|"noise"|"rir", "duration": s,
     "sample_rate": Hz, "num_channels": n, "speaker": ..., "text": ..., "language": ...,
     "gender": ..., "split": ..., "tags": [...], "corpus": ..., "active": [[start_s, end_s], ...], "room": ...,
     "offset": s, "channel": c, "words": [[word, start_s, end_s], ...], "phones": [[phone, start_s, end_s], ...],
     "original_text": ...}

``room`` (RIRs only, optional) names the room a RIR was measured or simulated in: RIRs that
share it are positions of one room. A RIR without it is a room of its own.
``path`` is relative to the catalog file when the audio lies below it, absolute otherwise.
``active`` (optional, speech and noise, measured by ``audiosynth catalog``): where the clip is
active, as sorted, disjoint ``[start, end]`` intervals in seconds (see `corpora.check_audio_file`).
``offset`` (optional): the clip is the ``duration`` seconds of the file from ``offset`` seconds (a
segment of a long recording, e.g. a Kaldi ``segments`` line or a Lhotse supervision); every time of
the row (``active``, ``words``, ``phones``) is relative to the clip's start. ``channel`` (optional):
the clip is that channel (0-based) of a multi-channel file (``num_channels`` is then 1).
``words`` / ``phones`` (optional): alignments as sorted ``[label, start, end]`` triples.
``original_text``: the transcript as the corpus gave it, when a text normalization changed it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import reprlib
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from .errors import CatalogError

KINDS = ("speech", "noise", "rir")
_TIMED = ("active", "words", "phones")  # fields of (start, end) or (label, start, end) tuples
_REQUIRED = ("id", "path", "kind", "duration", "sample_rate", "num_channels")


@dataclass(frozen=True)
class Clip:
    """One source audio file (or a whole file's worth of one utterance / noise / RIR)."""

    id: str
    path: str
    kind: str
    duration: float
    sample_rate: int
    num_channels: int = 1
    speaker: str | None = None
    text: str | None = None
    language: str | None = None
    gender: str | None = None
    split: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    corpus: str | None = None
    active: tuple[tuple[float, float], ...] | None = None  # active intervals (s), None when not measured
    room: str | None = None
    offset: float | None = None  # s into the file (None: the clip starts the file)
    channel: int | None = None  # the file's channel the clip is (None: all its channels)
    words: tuple[tuple[str, float, float], ...] | None = None  # (word, start_s, end_s) from the clip's start
    phones: tuple[tuple[str, float, float], ...] | None = None  # (phone, start_s, end_s) from the clip's start
    original_text: str | None = None  # the corpus's transcript, when normalization changed it

    @property
    def num_samples(self) -> int:
        """Length in samples at the clip's own rate."""
        return round(self.duration * self.sample_rate)

    @property
    def start_frame(self) -> int:
        """Where the clip starts in its file (frames at the clip's rate)."""
        return round((self.offset or 0.0) * self.sample_rate)

    @property
    def is_whole_file(self) -> bool:
        """Whether the clip is all of its file (not a segment, not one channel of several)."""
        return not self.offset and self.channel is None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON; optional fields that are unknown are left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "tags" and not value):
                continue
            out[f.name] = list(value) if f.name == "tags" else [list(a) for a in value] if f.name in _TIMED else value
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "") -> Clip:
        """Build a Clip from a catalog row; errors name ``where`` and the field."""
        prefix = f"{where}: " if where else ""
        if not isinstance(row, dict):
            raise CatalogError(f"{prefix}a catalog row must be a JSON object (got {type(row).__name__})")
        for name in _REQUIRED:
            if name not in row:
                raise CatalogError(f"{prefix}missing required field '{name}'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(row) - known)
        if unknown:
            raise CatalogError(f"{prefix}unknown field '{unknown[0]}'")
        if row["kind"] not in KINDS:
            raise CatalogError(f"{prefix}'kind' must be one of {', '.join(KINDS)} (got {row['kind']!r})")
        for name in ("sample_rate", "num_channels"):
            value = row[name]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise CatalogError(f"{prefix}'{name}' must be a positive int (got {value!r})")
        duration = row["duration"]
        if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not 0 < duration < math.inf:
            raise CatalogError(f"{prefix}'duration' must be a positive number of seconds (got {duration!r})")
        for name in ("id", "path"):
            if not isinstance(row[name], str) or not row[name]:
                raise CatalogError(f"{prefix}'{name}' must be a non-empty string (got {row[name]!r})")
        if row.get("room") is not None and (not isinstance(row["room"], str) or not row["room"]):
            raise CatalogError(f"{prefix}'room' must be a non-empty string (got {row['room']!r})")
        for name in ("text", "language", "gender", "split", "corpus", "original_text"):
            if row.get(name) is not None and not isinstance(row[name], str):
                raise CatalogError(f"{prefix}'{name}' must be a string or null (got {type(row[name]).__name__} {_short(row[name])})")
        tags = row.get("tags", ())
        if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
            raise CatalogError(f"{prefix}'tags' must be a list of strings (got {tags!r})")
        _check_names(row, prefix)
        active = row.get("active")
        if active is not None:
            active = _active_intervals(active, float(duration), prefix)
        offset = row.get("offset")
        if offset is not None and (not isinstance(offset, (int, float)) or isinstance(offset, bool) or not 0 <= offset < math.inf):
            raise CatalogError(f"{prefix}'offset' must be a number of seconds >= 0 (got {_short(offset)})")
        channel = row.get("channel")
        if channel is not None and (not isinstance(channel, int) or isinstance(channel, bool) or channel < 0 or row["num_channels"] != 1):
            raise CatalogError(f"{prefix}'channel' must be an int >= 0, with num_channels 1 (got {_short(channel)})")
        timed = {name: _alignment(row[name], float(duration), name, prefix) for name in ("words", "phones") if row.get(name) is not None}
        return cls(
            **{
                **row,
                "duration": float(duration),
                "tags": tuple(tags),
                "active": active,
                **({"offset": float(offset)} if offset is not None else {}),
                **timed,
            }
        )


def _short(value: Any, limit: int = 60) -> str:
    """A bounded ``repr`` for a message (a huge or deeply nested value must not make a huge one)."""
    text = reprlib.repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _active_intervals(value: Any, duration: float, prefix: str) -> tuple[tuple[float, float], ...]:
    """A row's ``active`` field checked: sorted, disjoint ``[start, end]`` pairs within the clip."""

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x

    if not isinstance(value, list) or not all(isinstance(a, list) and len(a) == 2 and all(map(number, a)) for a in value):
        raise CatalogError(f"{prefix}'active' must be a list of [start_s, end_s] pairs (got {str(value)[:80]})")
    ends = [0.0] + [float(x) for a in value for x in a]
    if any(b < a for a, b in pairwise(ends)) or any(a >= b for a, b in value) or ends[-1] > duration + 0.01:
        raise CatalogError(f"{prefix}'active' intervals must be sorted, disjoint and within the clip's {duration:g} s")
    return tuple((float(a), float(b)) for a, b in value)


def _alignment(value: Any, duration: float, name: str, prefix: str) -> tuple[tuple[str, float, float], ...]:
    """A row's ``words`` or ``phones`` checked: ``[label, start, end]`` triples, sorted by start,
    each with start <= end, within the clip (10 ms of slack), labels without control characters."""
    from .names import has_control

    def triple(x: Any) -> bool:
        return (
            isinstance(x, list)
            and len(x) == 3
            and isinstance(x[0], str)
            and bool(x[0])
            and not has_control(x[0])
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t < math.inf for t in x[1:])
        )

    if not isinstance(value, list) or not all(map(triple, value)):
        raise CatalogError(f"{prefix}'{name}' must be a list of [label, start_s, end_s] (got {_short(value)})")
    starts = [float(x[1]) for x in value]
    if starts != sorted(starts) or any(x[1] > x[2] for x in value) or any(x[2] > duration + 0.01 for x in value):
        raise CatalogError(f"{prefix}'{name}' must be sorted by start, each start <= end, within the clip's {duration:g} s")
    return tuple((str(x[0]), float(x[1]), float(x[2])) for x in value)


def _check_names(row: dict[str, Any], prefix: str) -> None:
    """A speaker name in the safe name set, no control character in an id or text: what the
    readers of a built dataset accept (`audiosynth.trust`), refused here before any build."""
    from .names import NAME, has_control, show

    speaker = row.get("speaker")
    if speaker is not None and (not isinstance(speaker, str) or not NAME.fullmatch(speaker)):
        raise CatalogError(f"{prefix}'speaker' must be a name matching {NAME.pattern} (got {show(speaker)})")
    for name in ("id", "text"):
        if isinstance(row.get(name), str) and has_control(row[name]):
            raise CatalogError(f"{prefix}'{name}' holds a control character (got {show(row[name])})")


class Catalog(Sequence[Clip]):
    """An ordered, id-indexed list of clips whose paths are resolved against ``root``."""

    def __init__(self, clips: Iterable[Clip], root: str | os.PathLike[str] = ".", name: str = "") -> None:
        self.clips: tuple[Clip, ...] = tuple(clips)
        self.root = Path(root)
        self.name = name
        self._by_id: dict[str, Clip] = {}
        for clip in self.clips:
            if clip.id in self._by_id:
                raise CatalogError(f"{name or 'catalog'}: duplicate clip id {clip.id!r}")
            self._by_id[clip.id] = clip

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Clip:  # type: ignore[override]
        return self.clips[index]

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def by_id(self, clip_id: str) -> Clip:
        """The clip with this id (KeyError names the catalog)."""
        try:
            return self._by_id[clip_id]
        except KeyError:
            raise KeyError(f"clip id {clip_id!r} is not in catalog {self.name or self.root}") from None

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._by_id

    def resolve(self, clip: Clip) -> Path:
        """Absolute path of a clip's audio."""
        path = Path(clip.path)
        return path if path.is_absolute() else (self.root / path)

    def of_kind(self, kind: str) -> Catalog:
        """A catalog of only the clips of ``kind``."""
        return Catalog((c for c in self.clips if c.kind == kind), self.root, self.name)

    @classmethod
    def merge(cls, catalogs: Sequence[Catalog]) -> Catalog:
        """One catalog of several, with each clip's path made absolute."""
        # realpath: a symlink loop stays as it is
        clips = [dataclasses.replace(c, path=os.path.realpath(cat.resolve(c))) for cat in catalogs for c in cat]
        return cls(clips, "/", ",".join(cat.name for cat in catalogs))


def iter_catalog_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)`` of a JSONL file lazily; bad JSON names file and line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CatalogError(f"{path}:{number}: not UTF-8 text ({err.reason} at byte {err.start} of the line)") from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                raise CatalogError(f"{path}:{number}: invalid JSON ({err.msg})") from err
            except RecursionError:  # json decodes nested arrays and objects recursively
                raise CatalogError(f"{path}:{number}: invalid JSON (nested too deeply)") from None


def read_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Read a catalog JSONL; every error names the file and line."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found") from None
    except OSError as err:  # a symlink loop, no permission
        raise CatalogError(f"{path}: cannot read the catalog ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block, a folder is not a catalog
        raise CatalogError(f"{path}: not a regular file (a catalog is a JSONL file)")
    clips = [Clip.from_dict(row, f"{path}:{n}") for n, row in iter_catalog_rows(path)]
    return Catalog(clips, os.path.realpath(path.parent), str(path))


def relative_audio_path(audio: str | os.PathLike[str], catalog_dir: str | os.PathLike[str]) -> str:
    """The path to store for ``audio``: relative to the catalog's folder when below it."""
    audio = Path(os.path.realpath(audio))  # unlike Path.resolve, never raises on a symlink loop
    base = Path(os.path.realpath(catalog_dir))
    try:
        return audio.relative_to(base).as_posix()
    except ValueError:
        return str(audio)


def write_catalog(clips: Iterable[Clip], path: str | os.PathLike[str]) -> int:
    """Write clips as JSONL atomically (temporary name, then rename); returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as handle:
        for clip in clips:
            handle.write(json.dumps(clip.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count
