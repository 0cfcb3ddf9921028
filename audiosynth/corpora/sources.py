"""The registry of corpus sources (one layout on disk each) and what their walkers share.

A source is one small module of this package defining a walker (a corpus tree or a manifest ->
candidates: audio path + a `Clip` template still without path and rate, and `Rejected` rows for
what it cannot read) and a `Source` naming it; it is registered with `register` in
``corpora/__init__.py``. `catalog_corpus` then scans and writes the candidates of whichever source
it is asked for.

A template with a ``duration`` (> 0), an ``offset`` or a ``channel`` is a piece of its file (a
segment of a long recording, one channel of several): the scan checks that piece, not the file.
A source whose paths come from a manifest (``reads_paths``) has them checked against the folders
the user named (`WalkOptions.audio_roots`) by the pipeline, not by the walker.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Clip
from ..errors import CatalogError
from ..registry import Registry

Candidate = tuple[Path, Clip]  # audio file, row with path/rate (and duration, for a whole file) still to fill in


@dataclass(frozen=True)
class Rejected:
    """A manifest row or file a walker cannot use: a reject row of the catalog (``reason`` in `scan.REJECT_REASONS`)."""

    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class WalkOptions:
    """What a walker is told: the catalog's ``corpus`` name, the user's ``kind`` (else the source's
    default), the VCTK ``mic``, the folders manifest paths may lie in besides ROOT
    (``audio_roots``), whether manifest shell commands may run (``allow_commands``: Kaldi pipes),
    and ``audio_dir``: where a source writes audio it has to decode (a Hugging Face dataset's bytes)."""

    corpus: str
    kind: str | None = None
    mic: str = "mic1"
    audio_roots: tuple[Path, ...] = ()
    allow_commands: bool = False
    audio_dir: Path = Path("audio")


Walk = Callable[[Path, WalkOptions], "Sequence[Candidate | Rejected]"]

AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
        ".sph",
        ".nist",
        ".m4a",  # these three: decoded with PyAV (the codecs extra), io.codecs.AV_SUFFIXES
        ".aac",
        ".webm",
    }
)
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male", "female_feminine": "female", "male_masculine": "male"}
# A split's name as corpora and tools write it (``train-clean-100``, ``dev93``, ``validation.clean``,
# ``eval2000``, ``Testing``): one of these words at its start, not followed by a letter.
SPLIT_WORDS = {
    "training": "train",
    "train": "train",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "development": "dev",
    "dev": "dev",
    "testing": "test",
    "test": "test",
    "evaluation": "test",
    "eval": "test",
}
_SPLIT_WORD = re.compile(rf"^({'|'.join(sorted(SPLIT_WORDS, key=len, reverse=True))})(?![a-z])", re.IGNORECASE)
LIBRI_SUBSET = re.compile(r"^(train|dev|test)(?:[-_].*)?$")  # LibriSpeech / LibriTTS subsets: train-clean-100, dev-other
MAX_SECONDS = 1e9  # a manifest's time past this (31 years) is no time: 1e308 s would overflow sample counts
MAX_LINE_CHARS = 16 << 20  # a manifest line longer than this is a bad row (a gzip bomb must not fill memory)
_COUNT = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Source:
    """One corpus layout `catalog_corpus` can read.

    ``walk(root, options)`` lists the candidates of ``root`` (a folder, or a manifest file when
    ``root_is_file``, or either when ``accepts_file``; paths are then confined to its folder);
    ``options.kind`` is the user's kind, else ``default_kind`` (None: the walker
    decides per file). ``description`` says what the source expects at ROOT, on one line (``{mic}``
    stands for the VCTK microphone). ``needs_kind``: the user must give a kind.
    ``corpus_from_root``: the catalog's corpus is named after ROOT, not after the source.
    ``reads_paths``: audio paths come from a manifest, and must lie below ROOT's folder or an
    audio root unless the user allows paths outside.
    """

    name: str
    description: str
    walk: Walk
    default_kind: str | None = None
    needs_kind: bool = False
    corpus_from_root: bool = False
    reads_paths: bool = False
    root_is_file: bool = False
    accepts_file: bool = False  # ROOT may be a folder or one manifest file of it


SOURCES: Registry[Source] = Registry("corpus source", CatalogError, "a {kind} named {name!r} is already registered")


def register(source: Source) -> Source:
    """Add ``source`` to `SOURCES` (its name must be new); return it."""
    return SOURCES.add(source.name, source)


def candidate(audio: Path, **fields: Any) -> Candidate:
    """A candidate for ``audio`` whose row has ``fields`` (path, rate and, unless a ``duration`` makes
    it a segment, duration filled in after the scan)."""
    return audio, Clip(**{"path": "", "duration": 0.0, "sample_rate": 0, **fields})


def subdirs(folder: Path) -> list[Path]:
    """Visible folders directly in ``folder``, sorted ([] when ``folder`` is not a folder)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` by name; broken links are kept (they become rejects)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and not p.is_dir())


def split_of(name: str) -> str | None:
    """The split (train|dev|test) a folder, file or part name says by its first word (`SPLIT_WORDS`), or None."""
    match = _SPLIT_WORD.match(name)
    return SPLIT_WORDS[match.group(1).lower()] if match else None


def finite_number(text: str | None) -> bool:
    """Whether ``text`` is a finite number (``"17"``, ``"-0.5"``, not ``"inf"`` or ``"nan"``)."""
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False


def files_below(folder: Path, suffixes: Iterable[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Files anywhere below ``folder`` whose names end in one of ``suffixes`` (any case; audio files
    by default), links followed (each folder once: a link loop ends), hidden ones skipped, sorted by path."""
    ends = tuple(s.lower() for s in suffixes)
    out: list[Path] = []
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        try:
            here = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (here.st_dev, here.st_ino) in visited:
            dirnames[:] = []
            continue
        visited.add((here.st_dev, here.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / n for n in filenames if not n.startswith(".") and n.lower().endswith(ends)]
    return sorted(out)


def read_text(path: Path) -> str | None:
    """A transcript file's text on one line, or None when missing or blank."""
    if not path.is_file():
        return None
    return " ".join(path.read_text(encoding="utf-8", errors="replace").split()) or None


def read_table(path: Path) -> dict[str, list[str]]:
    """First whitespace-separated column -> the other columns (missing file -> {})."""
    if not path.is_file():
        return {}
    rows = (line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return {cols[0]: cols[1:] for cols in rows if cols}


def regular_file(path: Path) -> Path:
    """``path`` if it is a regular file (links followed), else a `CatalogError` naming it: a FIFO
    would block a reader forever, a device (``/dev/zero``) never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise CatalogError(f"{path}: cannot read it ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        raise CatalogError(f"{path}: not a regular file (mode {stat.filemode(mode)})")
    return path


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | Rejected]]:
    """``(line number, row)`` of a JSON-lines manifest, gzipped when its name ends in ``.gz``; a
    line that is no JSON object (or is longer than `MAX_LINE_CHARS`) is a `Rejected` ``bad_row``
    naming the file and line. A path that is no regular file is a `CatalogError`."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(regular_file(path), "rt", encoding="utf-8", errors="replace") as handle:
            number = 0
            while line := handle.readline(MAX_LINE_CHARS + 1):
                number += 1
                if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                    while (rest := handle.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                        pass  # the rest of the line, skipped a bounded piece at a time
                    yield number, Rejected(f"{path}:{number}", "bad_row", f"the line is longer than {MAX_LINE_CHARS} characters")
                    continue
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as err:  # ValueError: bad JSON, or a number of over 4300 digits
                    why = "nested too deeply" if isinstance(err, RecursionError) else getattr(err, "msg", None) or str(err)[:80]
                    yield number, Rejected(f"{path}:{number}", "bad_row", f"invalid JSON ({why})")
                    continue
                if not isinstance(row, dict):
                    yield (
                        number,
                        Rejected(f"{path}:{number}", "bad_row", f"a manifest line must be a JSON object (got {type(row).__name__})"),
                    )
                    continue
                yield number, row
    except (OSError, EOFError) as err:  # a cut gzip stream
        raise CatalogError(f"{path}: cannot read the manifest ({err})") from None


def read_csv(path: Path, **dialect: Any) -> Iterator[tuple[int, list[str] | Rejected]]:
    """``(line number, cells)`` of a CSV / TSV file (``dialect``: `csv.reader`'s options); a row the
    csv module cannot read (a cell over its field size limit) is a `Rejected` ``bad_row`` naming
    the file and line, and the rows after it are still read."""
    with open(regular_file(path), encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, **dialect)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield reader.line_num, Rejected(f"{path}:{reader.line_num}", "bad_row", f"cannot read the row ({err})")
                continue
            yield reader.line_num, row


def count(text: str) -> int | None:
    """A whole number >= 0 written in (at most 9) ASCII digits, else None (``int`` takes ``'٣'``
    but fails on ``'²'``, or on 5000 digits)."""
    return int(text) if _COUNT.fullmatch(text) else None


def channel_count(path: Path) -> int:
    """The channel count in an audio file's header; 1 when it is no regular file (a FIFO is never
    opened) or its header cannot be read (the scan then rejects it, saying why)."""
    import soundfile as sf  # here, not at import: the registry loads without soundfile

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return 1
        return int(sf.info(str(path)).channels)
    except Exception:  # noqa: BLE001 - any unreadable header: the scan rejects the file with its reason
        return 1


def manifest_audio(base: Path, value: Any) -> Path | None:
    """A manifest's audio path (relative ones against ``base``, the manifest's folder), or None when it is no path."""
    if not isinstance(value, str) or not value or "\0" in value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def seconds(value: Any) -> float | None:
    """A manifest's time in seconds: a number from 0 to `MAX_SECONDS` (numbers as strings too), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= MAX_SECONDS and not isinstance(value, bool) else None


def unique_ids(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates whose ids are made unique: a repeated id gets ``-<start ms>`` of its segment,
    then ``-<n>`` (the first stays as it is). Order is kept."""
    seen: dict[str, int] = {}
    for _, clip in candidates:
        seen[clip.id] = seen.get(clip.id, 0) + 1
    out, used = [], set()
    for audio, clip in candidates:
        new = clip.id
        if seen[clip.id] > 1 and clip.offset:
            new = f"{clip.id}-{round(clip.offset * 1000):07d}"
        n = 1
        while new in used:
            n += 1
            new = f"{clip.id}-{n}"
        used.add(new)
        out.append((audio, dataclasses.replace(clip, id=new) if new != clip.id else clip))
    return out
