"""Word and phone alignments beside a corpus: read, attach to the catalogued clips by id, fitted to their audio.

Three formats, each matched to a clip by its id (the utterance id), with times in seconds relative
to the clip's start:

- CTM (Kaldi, NIST): lines ``<utt-id> <channel> <start_s> <duration_s> <word> [<confidence> ...]``;
  ``;;`` lines are comments, the channel and the columns after the word are ignored. The first
  column must be the utterance id with times relative to the utterance (what Kaldi writes before
  ``convert_ctm`` turns them into recording times): a CTM of recording ids and recording times
  matches no clip of a segmented corpus. A CTM whose file name holds ``phone`` (``phones.ctm``,
  Kaldi's ``ali-to-phones --ctm-output``) holds phones; any other, words.
- Praat TextGrid (long or short text format, UTF-8 or UTF-16), one per utterance named
  ``<utt-id>.TextGrid`` as the Montreal Forced Aligner writes them (e.g. the LibriSpeech MFA
  alignments of Lugosch et al.): the interval tier named ``words`` (or ``word``) gives the words,
  ``phones`` (or ``phone``) the phones; MFA 1's ``<speaker> - words`` names count too. Times are
  the grid's as written (MFA's grids start at 0, the utterance's start).
- LibriSpeech ``<speaker>-<chapter>.alignment.txt`` (the condensed MFA alignments of CorentinJ's
  librispeech-alignments): lines ``<utt-id> ",WORD,,WORD," "0.490,0.890,..."``, the words and the
  END time of each; a word starts where the one before ends; empty words are silences.

Silences (empty labels) are dropped; every other label is kept as written (``sil``, ``sp``, ``spn``,
``<unk>``...). Malformed input never stops cataloguing and never costs a clip its audio: the
entry it belongs to is skipped (a CTM utterance with one bad line loses all its words, a TextGrid
that does not parse is skipped whole, an ``.alignment.txt`` line is skipped) and listed in
`Alignments.problems` as ``file:line: what``, which the pipeline logs. After the scan, `fit`
clips the alignments of each clip to its audio: ends within `SLACK_S` past the end are cut to the
end, an alignment ending further out (it is not this audio's) is dropped from the clip.

Pure Python (no NumPy): the LibriSpeech walker reads ``.alignment.txt`` files beside the corpus.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Clip
from ..errors import CatalogError
from ..names import has_control
from .sources import Candidate, files_below

Interval = tuple[str, float, float]  # label, start s, end s (from the clip's start)
FIELDS = ("words", "phones")
SLACK_S = 0.01  # an alignment may end this far past its clip's audio (what `Clip.from_dict` accepts)
SUFFIXES = (".ctm", ".textgrid", ".alignment.txt")  # the files a folder is searched for (case-insensitive)


@dataclass
class Alignments:
    """Alignments by utterance id (``words`` and ``phones``: id -> sorted intervals), the number of
    ``files`` read, and the ``problems`` met (``file:line: what``, each an entry skipped)."""

    words: dict[str, tuple[Interval, ...]] = field(default_factory=dict)
    phones: dict[str, tuple[Interval, ...]] = field(default_factory=dict)
    files: int = 0
    problems: list[str] = field(default_factory=list)
    _where: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)  # (field, id) -> the file it came from

    def ids(self) -> set[str]:
        """Every utterance id with words or phones."""
        return set(self.words) | set(self.phones)

    def add(self, name: str, utt: str, intervals: list[Interval], where: str) -> None:
        """Add one utterance's ``name`` (words or phones), sorted by start; an utterance already
        given that field by another file keeps the first (a problem is noted)."""
        table = getattr(self, name)
        if utt in table:
            self.problems.append(f"{where}: {utt}: {name} already read from {self._where[(name, utt)]}; kept those")
            return
        table[utt] = tuple(sorted(intervals, key=lambda x: x[1]))
        self._where[(name, utt)] = where

    def merge(self, other: Alignments) -> None:
        """Add everything of ``other`` (read from other files)."""
        for name in FIELDS:
            for utt, intervals in getattr(other, name).items():
                self.add(name, utt, list(intervals), other._where[(name, utt)])
        self.files += other.files
        self.problems += other.problems


class _Malformed(Exception):
    """An entry that cannot be read: ``line`` (1-based) and what is wrong."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


def _time(text: str, line: int, what: str) -> float:
    """A time in seconds (finite, >= 0), rounded to the microsecond."""
    try:
        value = float(text)
    except ValueError:
        raise _Malformed(line, f"{what} is not a number (got {text[:40]!r})") from None
    if not math.isfinite(value) or value < 0:
        raise _Malformed(line, f"{what} must be a finite number >= 0 (got {text[:40]!r})")
    return round(value, 6)


def _label(text: str, line: int) -> str | None:
    """A label stripped, None for a silence (empty); one with a control character is malformed."""
    text = text.strip()
    if has_control(text):
        raise _Malformed(line, f"label {text[:40]!r} holds a control character")
    return text or None


def _read(path: Path) -> str:
    """A text file's content: UTF-16 with a BOM (Praat writes it for non-ASCII labels), else UTF-8.
    Raises `OSError` for a path that is no regular file (a FIFO would block, a device never end)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(f"{path} is not a regular file")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


# --------------------------------------------------------------------------- CTM


def read_ctm(path: str | os.PathLike[str]) -> Alignments:
    """A CTM file: every utterance's words (phones, when the file name holds ``phone``)."""
    path = Path(path)
    name = "phones" if "phone" in path.name.lower() else "words"
    out = Alignments(files=1)
    found: dict[str, list[Interval]] = {}
    bad: dict[str, int] = {}  # utterance -> its first malformed line
    for number, line in enumerate(_read(path).splitlines(), start=1):
        cols = line.split()
        if not cols or cols[0].startswith(";;"):
            continue
        try:
            if len(cols) < 5:
                raise _Malformed(number, f"a CTM line has <utt-id> <channel> <start> <duration> <word> (got {len(cols)} columns)")
            start = _time(cols[2], number, "the start")
            end = round(start + _time(cols[3], number, "the duration"), 6)
            label = _label(cols[4], number)
        except _Malformed as err:
            if cols[0] not in bad:
                out.problems.append(f"{path}:{err.line}: {err.what}; utterance {cols[0]} is left without {name}")
                bad[cols[0]] = number
            continue
        found.setdefault(cols[0], [])
        if label is not None:
            found[cols[0]].append((label, start, end))
    for utt, intervals in found.items():
        if utt not in bad:
            out.add(name, utt, intervals, str(path))
    return out


# --------------------------------------------------------------------------- TextGrid

# A string ("" is a quote inside), a <flag>, an unterminated quote, a number, a [bracket] or !comment,
# a keyword, anything else: Praat's text format reads the strings, flags and numbers and skips the rest.
_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"|(<[A-Za-z]+>)|(")|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])|\[[^\]\n]*\]|![^\n]*|[A-Za-z_][\w?]*|\S'
)


class _Tokens:
    """The strings, flags and numbers of a TextGrid, in order, each with its line."""

    def __init__(self, text: str) -> None:
        newlines = [m.start() for m in re.finditer("\n", text)]
        self.items: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(text):
            line = bisect.bisect_left(newlines, m.start()) + 1
            if m.group(3) is not None:
                raise _Malformed(line, "a string without its closing quote")
            for kind, group in (("string", 1), ("flag", 2), ("number", 4)):
                if m.group(group) is not None:
                    value = m.group(group).replace('""', '"') if kind == "string" else m.group(group)
                    self.items.append((kind, value, line))
        self.next = 0

    def take(self, kind: str, what: str) -> tuple[str, int]:
        """The next token, which must be of ``kind``: its text and line."""
        if self.next >= len(self.items):
            last = self.items[-1][2] if self.items else 1
            raise _Malformed(last, f"the file ends where {what} should be")
        got, value, line = self.items[self.next]
        if got != kind:
            raise _Malformed(line, f"expected {what} (a {kind}), got the {got} {value[:40]!r}")
        self.next += 1
        return value, line

    def time(self, what: str) -> float:
        value, line = self.take("number", what)
        return _time(value, line, what)

    def count(self, what: str) -> int:
        value, line = self.take("number", what)
        if not value.isdigit():
            raise _Malformed(line, f"{what} must be a whole number >= 0 (got {value!r})")
        return int(value)


def _tier_field(name: str) -> str | None:
    """The field a tier gives (words, phones) by its name, else None; ``<speaker> - words`` counts."""
    name = name.rsplit(" - ", 1)[-1].strip().lower()
    return "words" if name in ("words", "word") else "phones" if name in ("phones", "phone") else None


def read_textgrid(path: str | os.PathLike[str]) -> Alignments:
    """A Praat TextGrid (text format, long or short): its words and phones tiers, for the utterance
    named by the file (``<utt-id>.TextGrid``)."""
    path = Path(path)
    utt = path.name[: -len(".textgrid")] if path.name.lower().endswith(".textgrid") else path.stem
    out = Alignments(files=1)
    try:
        tiers = _parse_textgrid(_read(path))
    except _Malformed as err:
        out.problems.append(f"{path}:{err.line}: {err.what}; utterance {utt} is left without words and phones")
        return out
    if not tiers:
        out.problems.append(f"{path}:1: no interval tier named words or phones; utterance {utt} is left without words and phones")
    for name, intervals in tiers.items():
        out.add(name, utt, intervals, str(path))
    return out


def _parse_textgrid(text: str) -> dict[str, list[Interval]]:
    """The words and phones interval tiers of a TextGrid's text (silences dropped)."""
    tokens = _Tokens(text)
    file_type, line = tokens.take("string", "the file type")
    if not file_type.startswith("ooTextFile"):
        binary = " (a binary TextGrid: save it as a text file)" if file_type.startswith("ooBinaryFile") else ""
        raise _Malformed(line, f"not a Praat text file{binary}")
    object_class, line = tokens.take("string", "the object class")
    if not object_class.startswith("TextGrid"):
        raise _Malformed(line, f"not a TextGrid (object class {object_class[:40]!r})")
    tokens.time("the grid's xmin")
    tokens.time("the grid's xmax")
    flag, line = tokens.take("flag", "<exists> or <absent>")
    size = tokens.count("the number of tiers") if flag == "<exists>" else 0
    out: dict[str, list[Interval]] = {}
    for _ in range(size):
        tier_class, line = tokens.take("string", "a tier's class")
        name = _tier_field(tokens.take("string", "a tier's name")[0])
        tokens.time("a tier's xmin")
        tokens.time("a tier's xmax")
        intervals: list[Interval] = []
        if tier_class == "IntervalTier":
            for _ in range(tokens.count("the number of intervals")):
                start = tokens.time("an interval's xmin")
                end_text, end_line = tokens.take("number", "an interval's xmax")
                end = _time(end_text, end_line, "an interval's xmax")
                if end < start:
                    raise _Malformed(end_line, f"an interval ends ({end:g} s) before it starts ({start:g} s)")
                text_value, text_line = tokens.take("string", "an interval's text")
                label = _label(text_value, text_line)
                if label is not None:
                    intervals.append((label, start, end))
        elif tier_class == "TextTier":  # points: skipped
            for _ in range(tokens.count("the number of points")):
                tokens.time("a point's time")
                tokens.take("string", "a point's mark")
            continue
        else:
            raise _Malformed(line, f"unknown tier class {tier_class[:40]!r}")
        if name is not None and name not in out:
            out[name] = intervals
    return out


# --------------------------------------------------------------------------- LibriSpeech .alignment.txt

_ALIGNMENT_LINE = re.compile(r'^(\S+)\s+"([^"]*)"\s+"([^"]*)"\s*$')


def read_librispeech_alignment(path: str | os.PathLike[str]) -> Alignments:
    """A ``<speaker>-<chapter>.alignment.txt``: every utterance's words."""
    path = Path(path)
    out = Alignments(files=1)
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            match = _ALIGNMENT_LINE.match(line)
            if match is None:
                raise _Malformed(number, 'a line is <utt-id> "<words, comma-separated>" "<end times, comma-separated>"')
            words, ends = match.group(2).split(","), match.group(3).split(",")
            if len(words) != len(ends):
                raise _Malformed(number, f"{len(words)} words but {len(ends)} end times")
            intervals, start = [], 0.0
            for word, text in zip(words, ends, strict=True):
                end = _time(text, number, "an end time")
                if end < start:
                    raise _Malformed(number, f"the end times go back ({end:g} s after {start:g} s)")
                label = _label(word, number)
                if label is not None:
                    intervals.append((label, start, end))
                start = end
        except _Malformed as err:
            out.problems.append(f"{path}:{err.line}: {err.what}; utterance {line.split()[0]} is left without words")
            continue
        out.add("words", match.group(1), intervals, str(path))
    return out


# --------------------------------------------------------------------------- finding, attaching, fitting


def _reader(path: Path) -> Callable[[Path], Alignments] | None:
    """The reader of an alignment file by its name, or None."""
    name = path.name.lower()
    if name.endswith(".textgrid"):
        return read_textgrid
    if name.endswith(".alignment.txt"):
        return read_librispeech_alignment
    if "ctm" in name:
        return read_ctm
    return None


def read_alignments(path: str | os.PathLike[str]) -> Alignments:
    """The alignments of a file (its format by its name: ``*.TextGrid``, ``*.alignment.txt``, a
    name holding ``ctm``) or of every ``*.ctm``, ``*.TextGrid`` and ``*.alignment.txt`` file below
    a folder (links followed, sorted: the first file to give an utterance a field wins). Raises
    `CatalogError` when the path is neither, is no alignment file, or a folder holds none."""
    path = Path(path).expanduser()
    if path.is_file():
        reader = _reader(path)
        if reader is None:
            raise CatalogError(f"{path}: not an alignment file (expected a *.ctm, *.TextGrid or *.alignment.txt file, or a folder of them)")
        try:
            return reader(path)
        except OSError as err:
            raise CatalogError(f"{path}: cannot read the alignments ({err})") from None
    if not path.is_dir():
        raise CatalogError(f"{path}: alignments must be a *.ctm, *.TextGrid or *.alignment.txt file or a folder of them")
    found = files_below(path, SUFFIXES)
    if not found:
        raise CatalogError(f"{path}: no *.ctm, *.TextGrid or *.alignment.txt files found below it")
    out = Alignments()
    for file in found:
        reader = _reader(file)
        assert reader is not None  # found by its suffix
        try:
            out.merge(reader(file))
        except OSError as err:
            out.problems.append(f"{file}:1: cannot read it ({err})")
    return out


def attach(candidates: list[Candidate], alignments: Alignments) -> tuple[list[Candidate], list[str]]:
    """Candidates given the words and phones of their id (replacing those the source had), and the
    alignment ids that match no candidate (sorted)."""
    out = []
    for audio, clip in candidates:
        words, phones = alignments.words.get(clip.id, clip.words), alignments.phones.get(clip.id, clip.phones)
        out.append((audio, dataclasses.replace(clip, words=words, phones=phones) if (words, phones) != (clip.words, clip.phones) else clip))
    return out, sorted(alignments.ids() - {clip.id for _, clip in candidates})


def fit(clip: Clip) -> tuple[Clip, list[str]]:
    """``clip`` (its duration known) with words and phones that lie within its audio: times up to
    `SLACK_S` past the end are cut to it; an alignment ending further out is dropped. Returns the
    clip and a note per alignment dropped."""
    changes: dict[str, tuple[Interval, ...] | None] = {}
    notes = []
    end = clip.duration
    for name in FIELDS:
        intervals: tuple[Interval, ...] | None = getattr(clip, name)
        if not intervals:
            continue
        last = max(x[2] for x in intervals)
        if last > end + SLACK_S:
            changes[name] = None
            notes.append(f"clip {clip.id}: its {name} end at {last:g} s, past its {end:g} s of audio; catalogued without {name}")
        elif last > end:
            changes[name] = tuple((label, min(a, end), min(b, end)) for label, a, b in intervals)
    if not changes:
        return clip, notes
    return dataclasses.replace(clip, words=changes.get("words", clip.words), phones=changes.get("phones", clip.phones)), notes
