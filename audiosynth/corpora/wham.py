"""WHAM! noise (``wham_noise.zip``): ``ROOT[/wham_noise]/{tr,cv,tt}/*.wav`` with
``metadata/noise_meta_{tr,cv,tt}.csv``, whose columns are ``utterance_id`` (the file's name),
``Noise Band`` (0 very quiet .. 3 very loud), ``File ID`` (the original recording), ``L to R Width
(cm)`` (the microphones' spacing, e.g. ``17 cm``), ``Reverberation Level`` (``l``/``m``/``h``),
``Location ID`` and ``Location Day ID``.

Every file is a noise clip of its folder's split (tr -> train, cv -> dev, tt -> test), tagged from
its CSV row: ``noise_band:<n>``, ``recording:<File ID>``, ``width_cm:<cm>``, ``reverb:low|medium|high``,
``location:<id>``, ``location_day:<id>`` (a build's ``splits.disjoint_noise`` partitions clips; the
tags let a user keep one recording or location on one side). A file without a CSV row is still
catalogued (the audio is the corpus; the row only describes it), without those tags. A CSV row
whose file is missing is an ``unreadable`` reject, a row with a malformed field (or a file listed
twice) a ``bad_row`` one, both naming ``csv:line``; a file of a malformed row is catalogued without tags.

WHAM! noise is binaural (2 channels). Each file stays one clip of 2 channels: catalogue it with
``--max-channels 2`` (else every file is ``too_many_channels``) and build with ``noise_channels:
random`` (a channel per example), ``first`` or ``downmix``. One clip per recording, rather than one
per channel: the build reduces a noise to one signal anyway, so ``random`` gives the same variety,
while two clips of one recording would be counted twice and could land in two splits.
"""

from __future__ import annotations

from pathlib import Path

from .sources import Candidate, Rejected, Source, WalkOptions, audio_files, candidate, read_csv

SPLITS = {"tr": "train", "cv": "dev", "tt": "test"}
_REVERB = {"l": "low", "m": "medium", "h": "high"}
_COLUMNS = ("utterance_id", "Noise Band", "File ID", "L to R Width (cm)", "Reverberation Level", "Location ID", "Location Day ID")


def walk_wham(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every file of ``tr``, ``cv`` and ``tt``, with its split and its ``noise_meta`` row's tags."""
    if not any((root / f).is_dir() for f in SPLITS) and (root / "wham_noise").is_dir():
        root = root / "wham_noise"
    out: list[Candidate | Rejected] = []
    for folder, split in SPLITS.items():
        files = {audio.name: audio for audio in audio_files(root / folder)} if (root / folder).is_dir() else {}
        tags, rejects = _read_meta(root / "metadata" / f"noise_meta_{folder}.csv", folder, files)
        out += rejects
        for name, audio in files.items():
            out.append(
                candidate(
                    audio,
                    id=f"{folder}-{audio.stem}",
                    kind=options.kind or "noise",
                    split=split,
                    tags=tags.get(name, ()),
                    corpus=options.corpus,
                )
            )
    return out


def _read_meta(path: Path, folder: str, files: dict[str, Path]) -> tuple[dict[str, tuple[str, ...]], list[Rejected]]:
    """A ``noise_meta_<split>.csv``: file name -> its tags, and the rows rejected."""
    if not path.is_file():
        return {}, []
    tags: dict[str, tuple[str, ...]] = {}
    rejects: list[Rejected] = []
    rows = read_csv(path)
    first = next(rows, (1, []))[1]
    header = [] if isinstance(first, Rejected) else [h.strip() for h in first]
    missing = [c for c in _COLUMNS[:1] if c not in header]
    if missing:
        return {}, [Rejected(f"{path}:1", "bad_row", f"the header has no '{missing[0]}' column (got {','.join(header)[:120]!r})")]
    for number, row in rows:
        if isinstance(row, Rejected):
            rejects.append(row)
            continue
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{number}"
        cells = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
        name = cells["utterance_id"]
        if not name:
            rejects.append(Rejected(where, "bad_row", "'utterance_id' is missing"))
            continue
        name = name if name.endswith(".wav") else f"{name}.wav"
        if name not in files:
            rejects.append(Rejected(where, "unreadable", f"'utterance_id' {name!r}: no such file in {path.parent.parent / folder}"))
            continue
        if name in tags:
            rejects.append(Rejected(where, "bad_row", f"'utterance_id' {name!r} is listed twice (the first row is kept)"))
            continue
        row_tags = _row_tags(cells)
        if isinstance(row_tags, str):
            rejects.append(Rejected(where, "bad_row", row_tags))
            continue
        tags[name] = row_tags
    return tags, rejects


def _row_tags(cells: dict[str, str]) -> tuple[str, ...] | str:
    """A row's tags, or (a string) what is wrong with it."""
    out = []
    band = cells.get("Noise Band", "")
    if band:
        if band not in ("0", "1", "2", "3"):
            return f"'Noise Band' must be 0, 1, 2 or 3 (got {band!r})"
        out.append(f"noise_band:{band}")
    if cells.get("File ID"):
        out.append(f"recording:{cells['File ID']}")
    width = cells.get("L to R Width (cm)", "")
    if width:
        number = width.split()[0]
        try:
            float(number)
        except ValueError:
            return f"'L to R Width (cm)' is not a length in cm (got {width!r})"
        out.append(f"width_cm:{number}")
    reverb = cells.get("Reverberation Level", "")
    if reverb:
        if reverb.lower() not in _REVERB:
            return f"'Reverberation Level' must be l, m or h (got {reverb!r})"
        out.append(f"reverb:{_REVERB[reverb.lower()]}")
    out += [f"{tag}:{cells[col]}" for col, tag in (("Location ID", "location"), ("Location Day ID", "location_day")) if cells.get(col)]
    return tuple(out)


SOURCE = Source(
    name="wham",
    description=(
        "ROOT[/wham_noise]/{tr,cv,tt}/*.wav + metadata/noise_meta_{tr,cv,tt}.csv: WHAM! noise, "
        "2-channel: catalogue with --max-channels 2, build with noise_channels random|first|downmix"
    ),
    walk=walk_wham,
)
