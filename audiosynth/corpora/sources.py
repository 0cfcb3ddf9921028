"""The registry of corpus sources (one layout on disk each) and what their walkers share.

A source is one small module of this package defining a walker (a corpus tree -> candidates: audio
path + a `Clip` template still without path, duration and rate) and a `Source` naming it; it is
registered with `register` in ``corpora/__init__.py``. `catalog_corpus` then scans and writes the
candidates of whichever source it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Clip
from ..errors import CatalogError

Candidate = tuple[Path, Clip]  # audio file, row with path/duration/rate still to fill in
Walk = Callable[[Path, str, str | None, str], list[Candidate]]  # (root, corpus, kind, mic) -> candidates

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
    }
)
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}


@dataclass(frozen=True)
class Source:
    """One corpus layout `catalog_corpus` can read.

    ``walk(root, corpus, kind, mic)`` lists the candidates below ``root``; ``kind`` is the user's
    kind, else ``default_kind`` (None: the walker decides per file); ``mic`` is the VCTK microphone
    (other sources ignore it). ``description`` says what the source expects below ROOT, on one line
    (``{mic}`` stands for the microphone). ``needs_kind``: the user must give a kind.
    ``corpus_from_root``: the catalog's corpus is named after ROOT's folder, not after the source.
    """

    name: str
    description: str
    walk: Walk
    default_kind: str | None = None
    needs_kind: bool = False
    corpus_from_root: bool = False


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add ``source`` to `SOURCES` (its name must be new); return it."""
    if source.name in SOURCES:
        raise CatalogError(f"a corpus source named {source.name!r} is already registered")
    SOURCES[source.name] = source
    return source


def candidate(audio: Path, **fields: Any) -> Candidate:
    """A candidate for ``audio`` whose row has ``fields`` (path, duration and rate filled in after the scan)."""
    return audio, Clip(path="", duration=0.0, sample_rate=0, **fields)


def subdirs(folder: Path) -> list[Path]:
    """Visible folders directly in ``folder``, sorted ([] when ``folder`` is not a folder)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` by name; broken links are kept (they become rejects)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and not p.is_dir())


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
