"""Mozilla Common Voice: ``ROOT/<locale>/`` (``cv-corpus-17.0-2024-03-15/en/``), or ROOT itself
being one locale's folder, with ``clips/*.mp3`` and the Corpora Creator's TSVs: ``train.tsv``,
``dev.tsv``, ``test.tsv``, ``validated.tsv`` (and ``invalidated.tsv``, ``other.tsv``).

Each TSV has a header naming its columns: ``client_id``, ``path``, ``sentence``, ``up_votes``,
``down_votes``, ``age``, ``gender``, ``accents`` (``accent`` in older releases), then from release 5
``locale`` and ``segment``, from 13 ``variant``, from 17 ``sentence_id`` and ``sentence_domain``;
columns are found by name. A clip's split is its file's (train, dev, test); a clip only in
``validated.tsv`` has no split. Clips only in ``invalidated.tsv`` (voted down) or ``other.tsv``
(not yet voted on) are not catalogued.

speaker = ``client_id`` (a hex hash; one that is no safe name becomes ``cv-`` + its SHA-1),
language = ``locale`` (else the one in the clip's name ``common_voice_<locale>_<n>``, else the
folder's name), text = ``sentence``, gender from ``male`` / ``female`` or ``male_masculine`` /
``female_feminine`` (the other answers: unknown), tags ``age:<age>``, ``accent:<accent>`` (the
``accents`` are ``|``-separated) and ``variant:<variant>``.

The TSVs are written without CSV quoting (a sentence's quotes are its own, and some are
unbalanced), so each line is one row, read with the csv module's ``QUOTE_NONE``; a field wholly in
CSV quotes with its inner quotes doubled (``"She said ""hi""."``, as older releases wrote some) is
unquoted. A row without a path, with another number of columns than the header, or whose mp3 is
missing is a reject naming the TSV file and line; the mp3 paths are confined to ROOT by the pipeline.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..names import NAME
from .sources import GENDERS, Candidate, Rejected, Source, WalkOptions, candidate, read_csv, subdirs

SPLIT_FILES = (("train.tsv", "train"), ("dev.tsv", "dev"), ("test.tsv", "test"), ("validated.tsv", None))
NOT_CATALOGUED = ("invalidated.tsv", "other.tsv")
_CLIP_NAME = re.compile(r"common_voice_(.+)_\d+")


@dataclass(frozen=True)
class _Row:
    where: str  # TSV:line
    fields: dict[str, str]
    split: str | None


def walk_commonvoice(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every validated clip of every locale folder below ROOT (or of ROOT)."""
    locales = [root] if _is_locale(root) else [d for d in subdirs(root) if _is_locale(d)]
    out: list[Candidate | Rejected] = []
    for folder in locales:
        out += _walk_locale(folder, options)
    return out


def _is_locale(folder: Path) -> bool:
    return (folder / "clips").is_dir() or any((folder / name).is_file() for name, _ in SPLIT_FILES)


def _walk_locale(folder: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """One locale: the rows of its split TSVs (first file wins for a clip), then validated.tsv's others."""
    out: list[Candidate | Rejected] = []
    rows: dict[str, _Row] = {}
    for name, split in SPLIT_FILES:
        for row in _read_tsv(folder / name, split):
            if isinstance(row, Rejected):
                out.append(row)
            else:
                rows.setdefault(row.fields["path"], row)
    for path, row in rows.items():
        audio = folder / "clips" / (path if Path(path).suffix else f"{path}.mp3")
        if not audio.is_file():
            out.append(Rejected(row.where, "unreadable", f"its clip clips/{path} does not exist (or is not a file)"))
            continue
        out.append(_candidate(audio, row, folder.name, options))
    return out


def _read_tsv(path: Path, split: str | None) -> list[_Row | Rejected]:
    """The rows of one TSV (missing file: none), as ``column -> value``; bad lines are rejects."""
    if not path.is_file():
        return []
    lines = read_csv(path, delimiter="\t", quoting=csv.QUOTE_NONE)
    first = next(lines, None)
    if first is None:
        return []
    header = [] if isinstance(first[1], Rejected) else [h.strip().lower() for h in first[1]]
    if "path" not in header:
        return [Rejected(f"{path}:1", "bad_row", f"the header names no 'path' column (got {'|'.join(header)[:80]!r})")]
    out: list[_Row | Rejected] = []
    for number, cols in lines:
        if isinstance(cols, Rejected):
            out.append(cols)
            continue
        if not any(c.strip() for c in cols):
            continue
        where = f"{path}:{number}"
        if len(cols) != len(header):  # a cut line, or a tab inside a sentence: the columns cannot be trusted
            out.append(Rejected(where, "bad_row", f"{len(cols)} columns, the header has {len(header)}"))
            continue
        fields = {name: _unquote(value.strip()) for name, value in zip(header, cols, strict=True)}
        if not fields["path"] or "\0" in fields["path"]:
            out.append(Rejected(where, "bad_row", "'path' is empty"))
            continue
        out.append(_Row(where, fields, split))
    return out


def _unquote(value: str) -> str:
    """A field wholly in CSV quotes with every inner quote doubled -> its text; anything else as it is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if inner.replace('""', "").count('"') == 0:
            return inner.replace('""', '"')
    return value


def _locale_of(stem: str) -> str | None:
    """The locale in a clip's name (``common_voice_sv-SE_200`` -> ``sv-SE``), or None."""
    match = _CLIP_NAME.fullmatch(stem)
    return match.group(1) if match else None


def _speaker(client_id: str) -> str | None:
    """``client_id`` when it is a safe name, else ``cv-`` + its SHA-1 (stable); None when empty."""
    if not client_id:
        return None
    if NAME.fullmatch(client_id):
        return client_id
    return "cv-" + hashlib.sha1(client_id.encode("utf-8")).hexdigest()


def _candidate(audio: Path, row: _Row, folder: str, options: WalkOptions) -> Candidate:
    f = row.fields
    accents = f.get("accents", f.get("accent", ""))
    tags = [f"age:{f['age']}"] if f.get("age") else []
    tags += [f"accent:{a.strip()}" for a in accents.split("|") if a.strip()]
    tags += [f"variant:{f['variant']}"] if f.get("variant") else []
    return candidate(
        audio,
        id=audio.stem,
        kind=options.kind,
        speaker=_speaker(f.get("client_id", "")),
        text=" ".join(f.get("sentence", "").split()) or None,
        language=f.get("locale") or _locale_of(audio.stem) or folder,
        gender=GENDERS.get(f.get("gender", "").lower()),
        split=row.split,
        tags=tuple(tags),
        corpus=options.corpus,
    )


SOURCE = Source(
    name="commonvoice",
    description="ROOT/<locale>/ (or ROOT itself) with clips/*.mp3 and train.tsv, dev.tsv, test.tsv, validated.tsv",
    walk=walk_commonvoice,
    default_kind="speech",
    reads_paths=True,
)
