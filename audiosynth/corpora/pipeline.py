"""Catalogue corpora and other tools' manifests into catalog JSONL files.

One place per step:

1. a source's walker (`sources.SOURCES`, one module per layout or manifest format) turns a corpus
   tree or a manifest into candidates (audio path + a `Clip` template) and rejected rows;
2. ``_confine`` rejects manifest paths outside the folders the user named (``outside_root``);
3. ``_check_all`` opens and fully scans every file once in a process pool (`scan.check_audio_file`,
   or `scan.check_pieces` for the segments and channels of a file);
4. alignments given with ``alignments=`` (`alignments`: CTM, TextGrid, LibriSpeech ``.alignment.txt``)
   are attached to the candidates by clip id before the scan, and fitted to each clip's audio after it;
5. ``catalog_corpus`` writes the accepted clips and the rejects JSONL (atomically, `writers.write_atomic`).

A bad file never stops cataloguing: it becomes a reject row ``{"path", "reason", "detail"}``
whose reason is one of `REJECT_REASONS`. RIRs (kind ``rir``, from the source or ``--kind``; each
channel piece too) must also have a measurable decay (`kernels.measure_rt60`), and a RIR's
``room`` is its parent folder (``room_from``) unless the source names it.
A new source is one module defining its walker and `Source`, registered in ``corpora/__init__``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..catalog import KINDS, Clip, relative_audio_path
from ..errors import AudioError, CatalogError
from ..io.files import jsonl_bytes, write_atomic
from ..names import MAX_TEXT, show
from . import alignments as aligned
from .scan import Piece, check_audio_file, check_pieces
from .sources import SOURCES, Candidate, Rejected, WalkOptions
from .text import normalize_clip, text_normalizer

logger = logging.getLogger(__name__)

ROOM_FROM = ("parent", "none")

_Checked = tuple[str | None, str, int, int, int, list[list[float]] | None]  # reject reason (None: fine), detail, ...


@dataclass(frozen=True)
class CatalogSummary:
    """What `catalog_corpus` wrote."""

    layout: str
    root: str
    output: str
    rejects_path: str
    num_clips: int
    num_rejected: int
    total_duration_s: float
    rejects_by_reason: dict[str, int]
    alignments: str | None = None  # what the alignments given gave, on one line (None: none given)

    def format(self) -> str:
        """A short human summary (several lines)."""
        lines = [
            f"{self.layout} corpus at {self.root}",
            f"  catalogued {self.num_clips} clips ({self.total_duration_s / 3600:.2f} h) -> {self.output}",
            f"  rejected {self.num_rejected} files -> {self.rejects_path}",
        ]
        lines += [f"    {reason}: {count}" for reason, count in sorted(self.rejects_by_reason.items())]
        lines += [f"  alignments: {self.alignments}"] if self.alignments else []
        return "\n".join(lines)


# --------------------------------------------------------------------------- checking every file


_Job = tuple[str, list[Piece] | None, bool]  # a file, its pieces to check (None: the whole file, once), whether RIRs


def _check_path(job: _Job, **limits: Any) -> list[_Checked]:
    """Pool worker: per piece of the file (one result for a whole file) ``(None, "", frames, rate,
    channels, active)`` or ``(reason, detail, 0, 0, 0, None)``; never raises. RIRs are also
    checked for a measurable decay."""
    path, pieces, rir = job
    limits = {**limits, "kind": "rir" if rir else None}
    try:
        if pieces is None:
            return [(None, "", *check_audio_file(path, activity=True, **limits))]
        return [
            (r.reason, r.detail, 0, 0, 0, None) if isinstance(r, AudioError) else (None, "", *r)
            for r in check_pieces(path, pieces, **limits)
        ]
    except AudioError as err:
        return [(err.reason, err.detail, 0, 0, 0, None)] * len(pieces or [None])
    except Exception as err:  # noqa: BLE001 - a bad file must never crash cataloguing
        return [("unreadable", f"{type(err).__name__}: {err}", 0, 0, 0, None)] * len(pieces or [None])


def _check_all(jobs: list[_Job], workers: int, progress: bool, limits: dict[str, Any]) -> list[list[_Checked]]:
    """`_check_path` over every file, in order, in a process pool fed in chunks."""
    check = partial(_check_path, **limits)
    bar: dict[str, Any] = {"total": len(jobs), "disable": not progress, "unit": "file", "desc": "checking audio"}
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        return list(tqdm(map(check, jobs), **bar))
    chunksize = max(1, min(256, math.ceil(len(jobs) / (workers * 16))))
    with ProcessPoolExecutor(workers) as pool:  # the platform's start method: works from any __main__
        return list(tqdm(pool.map(check, jobs, chunksize=chunksize), **bar))


def _piece(clip: Clip) -> Piece | None:
    """The piece of its file a candidate's template names, or None for the whole file."""
    if not clip.duration and clip.is_whole_file:
        return None
    return clip.offset or 0.0, clip.duration or math.inf, clip.channel


def _jobs(candidates: list[Candidate]) -> tuple[list[_Job], list[tuple[int, int]]]:
    """One job per file (its pieces together: a long recording is decoded once), and where each
    candidate's result is: ``(job, piece)``."""
    index: dict[str, int] = {}
    jobs: list[_Job] = []
    where = []
    for audio, clip in candidates:
        piece = _piece(clip)
        key = f"{audio}\0{piece is None}\0{clip.kind == 'rir'}"
        if key not in index:
            index[key] = len(jobs)
            jobs.append((str(audio), None if piece is None else [], clip.kind == "rir"))
        pieces = jobs[index[key]][1]
        if pieces is None:
            where.append((index[key], 0))
        else:
            where.append((index[key], len(pieces)))
            pieces.append(piece)  # type: ignore[arg-type]
    return jobs, where


def _confine(candidates: list[Candidate], roots: list[Path]) -> tuple[list[Candidate], list[dict[str, str]]]:
    """Candidates whose audio lies below one of ``roots`` (links resolved), and reject rows for the others."""
    real = [os.path.realpath(r) for r in roots]
    inside, rejects = [], []
    for audio, clip in candidates:
        target = os.path.realpath(audio)
        if any(os.path.commonpath([target, r]) == r for r in real):
            inside.append((audio, clip))
        else:
            named = ", ".join(str(r) for r in roots)
            detail = f"{target} is outside the folders named ({named}); pass --audio-root DIR for its folder, or --allow-outside"
            rejects.append({"path": _printable(str(audio)), "reason": "outside_root", "detail": detail})
    return inside, rejects


def _with_rooms(candidates: list[Candidate], root: Path, room_from: str) -> list[Candidate]:
    """RIR candidates with ``room`` set to their folder relative to ``root`` (``room_from='parent'``)
    unless the source named the room; ``'none'``: every room unset."""
    out = []
    for audio, clip in candidates:
        if room_from == "none" or clip.kind != "rir" or clip.room is not None:
            out.append((audio, dataclasses.replace(clip, room=None) if room_from == "none" else clip))
            continue
        try:
            folder = audio.parent.relative_to(root).as_posix()
        except ValueError:  # a manifest's file elsewhere: a room of its own
            folder = "."
        out.append((audio, dataclasses.replace(clip, room=folder) if folder != "." else clip))
    return out


# --------------------------------------------------------------------------- writing


def catalog_corpus(
    layout: str,
    root: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    kind: str | None = None,
    workers: int | None = None,
    min_duration_s: float = 0.1,
    max_channels: int = 1,
    rejects_path: str | os.PathLike[str] | None = None,
    mic: str = "mic1",
    progress: bool = True,
    corpus: str | None = None,
    silence_dbfs: float = -60.0,
    room_from: str = "parent",
    audio_roots: tuple[str | os.PathLike[str], ...] = (),
    allow_outside: bool = False,
    allow_commands: bool = False,
    text_norm: str | None = None,
    alignments: str | os.PathLike[str] | None = None,
) -> CatalogSummary:
    """Catalogue the corpus at ``root`` (laid out as ``layout``) into the JSONL ``output``.

    Every file is opened and scanned; unusable ones go to ``rejects_path`` (default
    ``<output stem>.rejects.jsonl``, always written). ``kind`` is required for ``folder`` and
    overrides the layout's kind otherwise. A RIR's ``room`` is, with ``room_from='parent'``, its
    folder relative to ``root`` (RIRs side by side in one folder are positions of one room; a RIR
    directly in ``root`` has no room: a room of its own), unless the source names rooms itself;
    ``'none'`` leaves every room unset. A manifest's audio paths must lie below ROOT (its folder,
    for a manifest file) or one of ``audio_roots`` unless ``allow_outside``; ``allow_commands`` lets
    a Kaldi ``wav.scp`` run its pipe commands. ``text_norm`` (`text.TEXT_NORMS`, or
    ``module:function``) normalizes every transcript, the corpus's kept as ``original_text``
    (None: the texts as the source gives them, e.g. LibriTTS's normalized text with its original).
    ``alignments`` (a CTM / TextGrid / ``.alignment.txt`` file or a folder of them, `alignments`)
    gives clips words and phones by clip id (utterance ids; times from the clip's start).
    Raises `CatalogError` for a bad layout or arguments.
    """
    source = SOURCES.get(layout)
    if source is None:
        raise CatalogError(f"unknown layout {layout!r}; expected one of {', '.join(SOURCES)}")
    if kind is not None and kind not in KINDS:
        raise CatalogError(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if room_from not in ROOM_FROM:
        raise CatalogError(f"room_from must be one of {', '.join(ROOM_FROM)} (got {room_from!r})")
    root, output = Path(root).expanduser(), Path(output).expanduser()
    expected = source.description.replace("{mic}", mic)
    as_file = root.is_file() and (source.root_is_file or source.accepts_file)
    if not (as_file or (root.is_dir() and not source.root_is_file)):
        what = "a manifest file" if source.root_is_file else "a folder or a manifest file" if source.accepts_file else "a folder"
        raise CatalogError(f"{root}: not {what} (layout {layout!r} expects {expected})")
    rejects_path = Path(rejects_path) if rejects_path is not None else output.with_name(f"{output.stem}.rejects.jsonl")
    folder = root.parent if as_file else root
    corpus = corpus or ((root.stem if as_file else root.resolve().name) if source.corpus_from_root else layout)
    normalize = text_normalizer(text_norm) if text_norm is not None else None
    given = aligned.read_alignments(alignments) if alignments is not None else None  # a bad path fails before the walk

    if kind is None and source.needs_kind:
        raise CatalogError(f"layout {layout!r} needs a kind (one of {', '.join(KINDS)})")
    roots = tuple(Path(r).expanduser() for r in audio_roots)
    for extra in roots:
        if not extra.is_dir():
            raise CatalogError(f"{extra}: --audio-root is not a folder")
    options = WalkOptions(corpus, kind or source.default_kind, mic, roots, allow_commands, output.parent / f"{output.stem}.audio")
    walked = source.walk(root, options)
    rejects = [{"path": r.path, "reason": r.reason, "detail": r.detail} for r in walked if isinstance(r, Rejected)]
    candidates = _with_rooms([c for c in walked if not isinstance(c, Rejected)], folder, room_from)
    if not candidates and not rejects:
        raise CatalogError(f"{root}: no audio files found for layout {layout!r}; expected {expected}")
    if source.reads_paths and not allow_outside:
        candidates, outside = _confine(candidates, [folder, *roots, options.audio_dir])
        rejects += outside
    not_utf8 = "the path is not valid UTF-8 (a catalog is JSON text)"
    rejects += [
        {"path": _printable(os.path.abspath(audio)), "reason": "bad_name", "detail": not_utf8}
        for audio, _ in candidates
        if not _utf8(str(audio))
    ]
    candidates = [(audio, clip) for audio, clip in candidates if _utf8(str(audio))]
    seen: dict[str, Path] = {}
    for audio, clip in candidates:
        if clip.id in seen:
            raise CatalogError(f"{root}: clip id {clip.id!r} would be used by both {seen[clip.id]} and {audio}")
        seen[clip.id] = audio
    unmatched = 0
    if given is not None:
        candidates, unmatched = _attach(candidates, given)
    logger.info("%s: checking %d audio files (%s layout)", root, len(candidates), layout)

    limits = {
        "min_duration_s": min_duration_s,
        "max_channels": max_channels,
        "silence_dbfs": silence_dbfs,
    }
    jobs, where = _jobs(candidates)
    results = _check_all(jobs, workers or os.cpu_count() or 1, progress, limits)

    clips, unfit = [], []
    for (audio, template), (job, piece) in zip(candidates, where, strict=True):
        reason, detail, frames, rate, channels, active = results[job][piece]
        if reason is not None:
            logger.debug("rejected %s: %s (%s)", audio, reason, detail)
            segment = "" if _piece(template) is None else f" (clip {template.id})"
            rejects.append({"path": os.path.abspath(audio), "reason": reason, "detail": detail + segment})
            continue
        clip = dataclasses.replace(
            template,
            path=relative_audio_path(audio, output.parent),
            duration=frames / rate,
            sample_rate=rate,
            num_channels=channels,
            active=None if template.kind == "rir" or active is None else tuple((a, b) for a, b in active),
        )
        clip, notes = aligned.fit(clip)
        unfit += notes
        clip = normalize_clip(clip, normalize) if normalize is not None else clip
        refused = _refused(clip)
        if refused is not None:  # a row read_catalog (or a dataset's validation) would refuse: a speaker or id from elsewhere
            rejects.append({"path": os.path.abspath(audio), "reason": "bad_row", "detail": f"clip {show(clip.id)}: {refused}"})
            continue
        clips.append(clip)
    clips.sort(key=lambda clip: clip.id)
    rejects.sort(key=lambda row: row["path"])
    if unfit:
        for note in unfit:
            logger.debug("%s", note)
        logger.warning("%d alignments end past their clip's audio and were dropped (the clips are kept), e.g. %s", len(unfit), unfit[0])
    for path in (output, rejects_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    again = "Free some space and catalogue again"  # a full disk: OutputError naming the file, nothing left behind
    write_atomic(output, jsonl_bytes(clip.to_dict() for clip in clips), again)
    write_atomic(rejects_path, jsonl_bytes(rejects), again)

    by_reason: dict[str, int] = {}
    for row in rejects:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    summary = CatalogSummary(
        layout=layout,
        root=str(root),
        output=str(output),
        rejects_path=str(rejects_path),
        num_clips=len(clips),
        num_rejected=len(rejects),
        total_duration_s=sum(clip.duration for clip in clips),
        rejects_by_reason=dict(sorted(by_reason.items())),
        alignments=None if given is None else _aligned_summary(clips, given, unmatched, len(unfit)),
    )
    if rejects:
        logger.warning(
            "%s: rejected %d of %d clips (%s); see %s",
            root,
            len(rejects),
            len(rejects) + len(clips),
            ", ".join(f"{r}: {n}" for r, n in summary.rejects_by_reason.items()),
            rejects_path,
        )
    logger.info("%s: catalogued %d clips (%.2f h) -> %s", root, len(clips), summary.total_duration_s / 3600, output)
    return summary


def _attach(candidates: list[Candidate], given: aligned.Alignments) -> tuple[list[Candidate], int]:
    """Candidates with the alignments of their ids, and how many alignments match no clip; one warning line for the malformed entries
    skipped and one for the alignments that match no clip (never an error)."""
    for problem in given.problems:
        logger.debug("alignment skipped: %s", problem)
    if given.problems:
        logger.warning(
            "%d malformed alignment entries skipped (their clips get no words from them), e.g. %s", len(given.problems), given.problems[0]
        )
    candidates, unmatched = aligned.attach(candidates, given)
    if unmatched:
        shown = ", ".join(unmatched[:3]) + (", ..." if len(unmatched) > 3 else "")
        logger.warning("%d alignments match no clip id (%s): they are not used", len(unmatched), shown)
    return candidates, len(unmatched)


def _aligned_summary(clips: list[Clip], given: aligned.Alignments, unmatched: int, dropped: int) -> str:
    """The summary's alignments line."""
    words, phones = sum(c.words is not None for c in clips), sum(c.phones is not None for c in clips)
    line = f"words for {words} clips, phones for {phones}, from {given.files} files"
    extra = [(unmatched, "matched no clip"), (len(given.problems), "malformed (skipped)"), (dropped, "past the audio's end (dropped)")]
    return line + "".join(f"; {n} {what}" for n, what in extra if n)


def _refused(clip: Clip) -> str | None:
    """Why `read_catalog` would refuse the row of ``clip`` (or a dataset's validation, its text or
    id: longer than `names.MAX_TEXT`), on one line; None when it takes it."""
    for name in ("id", "text", "original_text"):
        value = getattr(clip, name)
        if value is not None and len(value) > MAX_TEXT:
            return f"'{name}' is longer than {MAX_TEXT} characters"
    try:
        Clip.from_dict(clip.to_dict())
    except CatalogError as err:
        return str(err)
    return None


def _utf8(text: str) -> bool:
    """Whether a path (decoded by the OS with surrogate escapes) is valid UTF-8 text."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _printable(path: str) -> str:
    """A path that is not UTF-8, with its bad bytes as ``\\xNN`` escapes (JSON-safe)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
