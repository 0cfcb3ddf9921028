"""Kaldi's RIRS_NOISES (OpenSLR 28, ``rirs_noises.zip``): ``ROOT[/RIRS_NOISES]/`` with

- ``simulated_rirs/{smallroom,mediumroom,largeroom}/rir_list`` and ``<size>/Room001/Room001-00001.wav``
  (OpenSLR 26's ``simulated_rirs_16k`` / ``simulated_rirs_8k`` read the same way);
- ``real_rirs_isotropic_noises/rir_list`` and ``noise_list`` (RWCP, REVERB 2014 and AIR RIRs, many of
  them multi-channel, and the isotropic noises recorded in their rooms);
- ``pointsource_noises/noise_list`` (MUSAN free-sound noises).

The lists are the index, in the format of Kaldi's ``steps/data/reverberate_data_dir.py``:
``--rir-id ID --room-id ROOM [--receiver-position-id R] [--source-position-id S] [--rt60 T] [--drr D]
[--probability P] LOCATION`` and ``--noise-id ID --noise-type isotropic|point-source [--bg-fg-type
background|foreground] [--room-linkage ROOM] [--probability P] LOCATION``. LOCATION is a path relative
to the corpus folder's parent (``RIRS_NOISES/...``; the first part is taken as the corpus folder,
whatever it was renamed to: DNS ships it as ``SLR28/``), or a ``sox PATH -t wav - remix N |`` pipe
naming channel N of PATH (read directly, never run). ``--channel N`` (0-based) and ``--bg-fg`` are
read too.

Rows: a RIR's ``room`` is its ``--room-id``, so that every position of one room is drawn together;
a multi-channel RIR file named whole becomes one mono clip per channel (``<rir-id>-ch<k>``, channel
``k``, the same room): its channels are microphone positions of one room. A noise stays whole (a
multi-channel isotropic noise needs ``catalog --max-channels N``, and a build's ``noise_channels``),
tagged ``isotropic`` / ``point-source``, ``background`` / ``foreground`` and, when linked to a room,
``room:<ROOM>``. Tags also keep the category (``simulated_rirs``, ``smallroom``...), ``rt60:``,
``drr:``, ``receiver:`` and ``source:``. A line that cannot be parsed is a ``bad_row`` reject, a file
it names that is missing is ``unreadable`` (both naming ``list:line``); a pipe other than ``sox ...
remix N`` is ``command``. An audio file no list names is left out; a category without a list is
walked by name instead (``<size>/<RoomNNN>/*.wav`` RIRs of room ``<size>-<RoomNNN>``, ``*noise*``
files of ``real_rirs_isotropic_noises`` noises, the rest RIRs of a room of their own; every file of
``pointsource_noises`` a noise).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .sources import (
    Candidate,
    Rejected,
    Source,
    WalkOptions,
    audio_files,
    candidate,
    channel_count,
    count,
    finite_number,
    subdirs,
    unique_ids,
)

SIMULATED = re.compile(r"^simulated_rirs(?:_\d+k)?$")
REAL = "real_rirs_isotropic_noises"
POINT = "pointsource_noises"
SIZES = ("smallroom", "mediumroom", "largeroom")
_SOX_REMIX = re.compile(r"^sox\s+(?P<path>\S+)\s+(?:.*\s)?remix\s+(?P<channel>[0-9]{1,9})\s*\|$")
_LIST_FLAGS = {
    "--rir-id": "id",
    "--noise-id": "id",
    "--room-id": "room",
    "--room-linkage": "linkage",
    "--noise-type": "noise_type",
    "--bg-fg-type": "bg_fg",
    "--bg-fg": "bg_fg",
    "--receiver-position-id": "receiver",
    "--source-position-id": "source",
    "--rt60": "rt60",
    "--rt-60": "rt60",
    "--drr": "drr",
    "--cte": "cte",
    "--probability": "probability",
    "--channel": "channel",
}
_NUMERIC = ("rt60", "drr", "cte", "probability")


def is_corpus(folder: Path) -> bool:
    """Whether ``folder`` holds RIRS_NOISES categories (or is OpenSLR 26's simulated set)."""
    names = {d.name for d in subdirs(folder)}
    return bool(names & {REAL, POINT}) or any(SIMULATED.match(n) for n in names) or bool(names & set(SIZES))


def corpus_root(root: Path) -> Path:
    """The folder holding the categories: ``root`` itself, or ``root/RIRS_NOISES``."""
    return root / "RIRS_NOISES" if not is_corpus(root) and (root / "RIRS_NOISES").is_dir() else root


@dataclass(frozen=True)
class ListRow:
    """One parsed line of a ``rir_list`` / ``noise_list``: its options and the audio file it names."""

    where: str
    audio: Path
    options: dict[str, str] = field(default_factory=dict)
    channel: int | None = None


def parse_list(path: Path, top: Path) -> list[ListRow | Rejected]:
    """The rows of a Kaldi ``rir_list`` / ``noise_list`` at ``path``, locations resolved against the
    corpus folder ``top`` (see `locate`); bad lines are `Rejected` naming ``path:line``."""
    out: list[ListRow | Rejected] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        row = _parse_line(line, where, top)
        out.append(row)
    return out


def _parse_line(line: str, where: str, top: Path) -> ListRow | Rejected:
    """One list line -> `ListRow`, or a `Rejected` naming the field that is wrong."""
    try:
        tokens = shlex.split(line)
    except ValueError as err:
        return Rejected(where, "bad_row", f"cannot split the line ({err})")
    options: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            if not eq:
                if i + 1 >= len(tokens):
                    return Rejected(where, "bad_row", f"option '{name}' has no value")
                value, i = tokens[i + 1], i + 1
            if name in _LIST_FLAGS:
                options[_LIST_FLAGS[name]] = value
            i += 1
            continue
        rest = tokens[i:]
        break
    if "id" not in options:
        return Rejected(where, "bad_row", "no '--rir-id' / '--noise-id'")
    for name in _NUMERIC:
        if name in options and not finite_number(options[name]):
            return Rejected(where, "bad_row", f"'--{name}' is not a number (got {options[name]!r})")
    channel = None
    if "channel" in options:
        channel = count(options["channel"])
        if channel is None:
            return Rejected(where, "bad_row", f"'--channel' must be an int >= 0 (got {options['channel'][:40]!r})")
    if not rest:
        return Rejected(where, "bad_row", "no audio location after the options")
    location = " ".join(rest)
    if len(rest) > 1 or location.endswith("|"):
        remix = _SOX_REMIX.match(location)
        if remix is None or int(remix["channel"]) < 1:
            return Rejected(where, "command", f"a pipe other than 'sox PATH ... remix N |' is not read: {location[:120]!r}")
        location, channel = remix["path"], int(remix["channel"]) - 1
    audio = locate(location, top)
    if audio is None:
        return Rejected(where, "bad_row", f"the location is no path (got {location[:120]!r})")
    return ListRow(where, audio, options, channel)


def locate(location: str, top: Path) -> Path | None:
    """A list's audio location as a path: absolute as it is; relative to the corpus folder's parent,
    its first part read as the corpus folder ``top`` (renamed or not), or as a category of ``top``
    when it starts with one."""
    if not location or "\0" in location:
        return None
    path = Path(location)
    if path.is_absolute():
        return path
    parts = path.parts
    if parts[0] in (REAL, POINT) or SIMULATED.match(parts[0]) or parts[0] in SIZES:
        return top.joinpath(*parts)
    return top.joinpath(*parts[1:]) if len(parts) > 1 else top / parts[0]


def _category_tags(audio: Path, top: Path) -> tuple[str, ...]:
    """The category folders between ``top`` and the file (``simulated_rirs``, ``smallroom``)."""
    try:
        rel = audio.relative_to(top).parts[:-1]
    except ValueError:
        return ()
    return tuple(p for p in rel[:2] if not p.lower().startswith("room"))


def list_candidates(top: Path, options: WalkOptions, id_prefix: str = "") -> tuple[list[Candidate | Rejected], set[str]]:
    """Candidates of every ``rir_list`` / ``noise_list`` in ``top`` or up to two folders below it, and
    the folders that had one (relative to ``top``; the others are walked by name, `walk_unlisted`).
    ``id_prefix`` goes before every clip id."""
    out: list[Candidate | Rejected] = []
    listed: set[str] = set()
    lists = sorted(p for name in ("rir_list", "noise_list") for depth in ("", "*/", "*/*/") for p in top.glob(depth + name) if p.is_file())
    for path in lists:
        kind = "rir" if path.name == "rir_list" else "noise"
        listed.add(path.parent.relative_to(top).as_posix())
        if options.kind not in (None, kind):
            continue
        for row in parse_list(path, top):
            if isinstance(row, Rejected):
                out.append(row)
                continue
            if not os.path.lexists(row.audio):
                out.append(Rejected(row.where, "unreadable", f"{row.audio}: no such file"))
                continue
            out += _row_candidates(row, kind, top, options.corpus, id_prefix)
    return out, listed


def _row_candidates(row: ListRow, kind: str, top: Path, corpus: str, id_prefix: str) -> list[Candidate]:
    """A list row's clips: one, or one per channel of a multi-channel RIR file named whole."""
    opts = row.options
    tags = list(_category_tags(row.audio, top))
    if kind == "noise":
        tags += [opts.get("noise_type", ""), opts.get("bg_fg", "background")]
        tags += [f"room:{opts['linkage']}"] if "linkage" in opts else []
    tags += [f"{key}:{opts[key]}" for key in ("rt60", "drr", "receiver", "source") if key in opts]
    tags = [t for t in tags if t]
    fields = {"kind": kind, "corpus": corpus, "tags": tuple(tags), "room": opts.get("room") if kind == "rir" else None}
    clip_id = id_prefix + opts["id"]
    if row.channel is not None:
        return [candidate(row.audio, id=clip_id, channel=row.channel, **fields)]
    channels = channel_count(row.audio) if kind == "rir" else 1
    if channels == 1:
        return [candidate(row.audio, id=clip_id, **fields)]
    return [candidate(row.audio, id=f"{clip_id}-ch{k}", channel=k, **fields) for k in range(channels)]


def walk_unlisted(top: Path, options: WalkOptions, listed: set[str], id_prefix: str = "") -> list[Candidate]:
    """The categories of ``top`` without a list, by name (see the module docstring)."""
    out: list[Candidate] = []
    corpus = options.corpus
    for category in subdirs(top):
        if category.name in listed:
            continue
        if SIMULATED.match(category.name) or category.name in SIZES:
            sizes = [category] if category.name in SIZES else [d for d in subdirs(category) if d.name in SIZES]
            for size in (d for d in sizes if d.relative_to(top).as_posix() not in listed):
                for room in subdirs(size):
                    for audio in audio_files(room):
                        room_id = f"{size.name}-{room.name}"
                        row = ListRow("", audio, {"id": f"{room_id}-{audio.stem.split('-')[-1]}", "room": room_id})
                        out += _row_candidates(row, "rir", top, corpus, id_prefix) if options.kind in (None, "rir") else []
        elif category.name == REAL:
            for audio in audio_files(category):
                noise = "noise" in audio.stem.lower()
                kind = "noise" if noise else "rir"
                opts = {"id": audio.stem, "noise_type": "isotropic"} if noise else {"id": audio.stem, "room": audio.stem}
                out += _row_candidates(ListRow("", audio, opts), kind, top, corpus, id_prefix) if options.kind in (None, kind) else []
        elif category.name == POINT:
            for audio in audio_files(category):
                row = ListRow("", audio, {"id": audio.stem, "noise_type": "point-source"})
                out += _row_candidates(row, "noise", top, corpus, id_prefix) if options.kind in (None, "noise") else []
    return out


def walk_rirs_noises(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every row of every list (and the categories without one), ids made unique."""
    top = corpus_root(root)
    walked, listed = list_candidates(top, options)
    walked += walk_unlisted(top, options, listed)
    rejects = [r for r in walked if isinstance(r, Rejected)]
    return [*rejects, *unique_ids([c for c in walked if not isinstance(c, Rejected)])]


SOURCE = Source(
    name="rirs_noises",
    description=(
        "ROOT[/RIRS_NOISES]/{simulated_rirs/<size>,real_rirs_isotropic_noises,pointsource_noises}/{rir_list,noise_list} "
        "(Kaldi lists; room from --room-id; multi-channel RIRs one clip per channel; multi-channel noises need --max-channels); "
        "--kind K keeps one kind"
    ),
    walk=walk_rirs_noises,
    reads_paths=True,
)
