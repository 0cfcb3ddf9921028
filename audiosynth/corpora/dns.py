"""The DNS Challenge (Microsoft, 2020-2022) corpus as its download scripts unpack it: ``ROOT`` is the
folder holding ``datasets/`` and/or ``datasets_fullband/`` (or one of them):

- clean speech: ``datasets/clean/*.wav`` (DNS 1), ``datasets/clean/<subset>/**`` (DNS 2/3),
  ``datasets_fullband/clean_fullband/<subset>/**`` (DNS 4/5; the subsets also directly in
  ``datasets_fullband/``), ``datasets/clean_singing/**``; subsets such as ``read_speech``,
  ``german_speech``, ``french_speech``, ``italian_speech``, ``spanish_speech``, ``russian_speech``,
  ``emotional_speech``, ``vctk_wav48_silence_trimmed``, ``VocalSet_48kHz_mono``;
- noise: ``datasets/noise/**`` or ``datasets_fullband/noise_fullband/**``;
- impulse responses: ``<base>/impulse_responses/{SLR26/simulated_rirs_16k,SLR28/RIRS_NOISES}/...``
  (OpenSLR 26 and 28, read as `rirs_noises` reads them where their Kaldi lists are: rooms from
  ``--room-id``, RIRS_NOISES' isotropic and point-source noises kept as noises), and any other
  audio below it as RIRs (room: its folder; a multi-channel file: one clip per channel, all in one room);
- ``RIR_table_simple.csv`` (in ``datasets/acoustic_params/``, ``impulse_responses/`` or ROOT), the
  synthesizer's table of RIRs: columns ``wavfile,channel,T60_WB,C50_WB,isRealRIR`` (``channel`` 1-based,
  T60 in s, C50 in dB; ``wavfile`` as ``datasets/impulse_responses/SLR26/...``, ``\\`` or ``/``): each
  row tags the RIR (or channel) it names ``t60:``, ``c50:`` and ``real_rir`` / ``simulated_rir``.

Kinds come from the folder (clean -> speech, noise -> noise, impulse_responses -> rir); ``--kind K``
keeps only the clips of kind K (a build reads one catalog per kind; with ``--kind rir`` the scan also
refuses RIRs whose decay cannot be measured). A clean subset is a tag, and its language the row's (``read_speech`` -> en,
``<language>_speech`` -> that language, ``vctk_wav48_silence_trimmed`` -> en; otherwise none). The
speaker comes from the file name when it carries one (``book_00000_chp_0009_reader_06709_2.wav`` ->
``reader_06709``; VCTK's ``p225_001...`` -> ``p225``); DNS has no genders and no splits (its test sets,
``dev_testset``, ``test_set``, ``*blind_test*``, are noisy mixtures and are not read). Ids are the path
below ``datasets*/`` joined by ``-``. A table row that is malformed is ``bad_row``, one naming no
catalogued file ``unreadable`` (``outside_root`` for a path elsewhere), one naming a channel the file
lacks ``no_such_channel``; the file itself is still catalogued, without the row's tags.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from . import rirs_noises
from .sources import (
    Candidate,
    Rejected,
    Source,
    WalkOptions,
    audio_files,
    candidate,
    channel_count,
    count,
    files_below,
    finite_number,
    read_csv,
    seconds,
    subdirs,
    unique_ids,
)

BASES = ("datasets", "datasets_fullband")
CLEAN = ("clean", "clean_fullband")
NOISE = ("noise", "noise_fullband")
SINGING = "clean_singing"
RIRS = "impulse_responses"
TABLE = "RIR_table_simple.csv"
_LANGUAGES = {
    "english": "en",
    "read": "en",
    "german": "de",
    "french": "fr",
    "italian": "it",
    "spanish": "es",
    "russian": "ru",
    "mandarin": "zh",
    "chinese": "zh",
    "japanese": "ja",
}
_SUBSETS = ("vctk_wav48_silence_trimmed", "VocalSet_48kHz_mono", "singing_voice")
_READER = re.compile(r"(?:^|_)reader_(\d+)(?:_|$)")
_VCTK = re.compile(r"^(p\d{3}|s5)_\d{3}")


def walk_dns(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every clean, noise and impulse-response file of every ``datasets*`` folder, with the RIR table's tags."""
    bases = [root / name for name in BASES if (root / name).is_dir()] or [root]
    out: list[Candidate | Rejected] = []
    for base in bases:
        prefix = f"{base.name}-" if len(bases) > 1 else ""
        for folder in subdirs(base):
            if options.kind not in (None, _folder_kind(folder.name)) and not (folder.name == RIRS and options.kind == "noise"):
                continue  # impulse_responses/ holds RIRS_NOISES' noises too
            if folder.name in CLEAN:
                out += [c for sub in [folder, *subdirs(folder)] for c in _speech(sub, base, folder, prefix, options)]
            elif folder.name == SINGING or folder.name in _SUBSETS or folder.name.endswith("_speech"):
                out += _speech(folder, base, base, prefix, options)
            elif folder.name in NOISE:
                out += [_noise(audio, base, prefix, options) for audio in files_below(folder)]
            elif folder.name == RIRS:
                out += _impulse_responses(folder, root, base, prefix, options)
    rejects = [r for r in out if isinstance(r, Rejected)]
    return [*rejects, *unique_ids([c for c in out if not isinstance(c, Rejected)])]


def _folder_kind(name: str) -> str | None:
    """The kind of a ``datasets*`` folder's files (None: a folder that is not read)."""
    if name in CLEAN or name == SINGING or name in _SUBSETS or name.endswith("_speech"):
        return "speech"
    return "noise" if name in NOISE else "rir" if name == RIRS else None


def _clip_id(audio: Path, base: Path, prefix: str) -> str:
    """The file's path below ``base`` without its suffix, joined by ``-``."""
    return prefix + "-".join(audio.relative_to(base).with_suffix("").parts)


def _speech(folder: Path, base: Path, parent: Path, prefix: str, options: WalkOptions) -> list[Candidate]:
    """The clean files of one subset folder (``folder`` == ``parent``: only the files directly in it)."""
    files = audio_files(folder) if folder == parent else files_below(folder)
    subset = None if folder == parent and folder.name in CLEAN else folder.name
    language = _language(subset)
    return [
        candidate(
            audio,
            id=_clip_id(audio, base, prefix),
            kind="speech",
            speaker=_speaker(audio.stem),
            language=language,
            tags=(subset,) if subset else (),
            corpus=options.corpus,
        )
        for audio in files
    ]


def _language(subset: str | None) -> str | None:
    """A clean subset's language code (``german_speech`` -> de), or None."""
    if subset is None:
        return None
    if subset.startswith("vctk"):
        return "en"
    stem = subset.lower().removesuffix("_speech")
    return _LANGUAGES.get(stem) if subset.lower().endswith("_speech") else None


def _speaker(stem: str) -> str | None:
    """The speaker a DNS clean file's name carries (LibriVox ``reader_<id>``, VCTK ``p<nnn>``), or None."""
    match = _READER.search(stem)
    if match:
        return f"reader_{match[1]}"
    match = _VCTK.match(stem)
    return match[1] if match else None


def _noise(audio: Path, base: Path, prefix: str, options: WalkOptions) -> Candidate:
    return candidate(audio, id=_clip_id(audio, base, prefix), kind="noise", corpus=options.corpus)


def _impulse_responses(folder: Path, root: Path, base: Path, prefix: str, options: WalkOptions) -> list[Candidate | Rejected]:
    """The RIRs (and RIRS_NOISES' noises) below ``impulse_responses/``, tagged by the RIR table."""
    out: list[Candidate | Rejected] = []
    tops = _corpus_tops(folder)
    for top in tops:
        id_prefix = prefix + "-".join(top.relative_to(base).parts) + "-"
        listed_out, listed = rirs_noises.list_candidates(top, options, id_prefix)
        out += [*listed_out, *rirs_noises.walk_unlisted(top, options, listed, id_prefix)]
    if options.kind == "noise":
        return out
    for audio in files_below(folder):
        if any(audio.is_relative_to(top) for top in tops):
            continue
        out += _rir_candidates(audio, folder, base, prefix, options)
    return _apply_table(out, _table(root, base, folder), folder)


def _corpus_tops(folder: Path) -> list[Path]:
    """The RIRS_NOISES-like folders (`rirs_noises.is_corpus`) in ``folder`` or up to two levels below."""
    tops: list[Path] = []
    for first in subdirs(folder):
        if rirs_noises.is_corpus(first):
            tops.append(first)
            continue
        tops += [second for second in subdirs(first) if rirs_noises.is_corpus(second)]
    return tops


def _rir_candidates(audio: Path, folder: Path, base: Path, prefix: str, options: WalkOptions) -> list[Candidate]:
    """A RIR file: one clip, or one per channel (a room of its own: ``<folder>/<stem>``)."""
    rel = audio.relative_to(folder)
    fields = {"kind": "rir", "corpus": options.corpus, "tags": rel.parts[:1] if len(rel.parts) > 1 else ()}
    clip_id = _clip_id(audio, base, prefix)
    channels = channel_count(audio)
    if channels == 1:
        return [candidate(audio, id=clip_id, room=rel.parent.as_posix() if len(rel.parts) > 1 else None, **fields)]
    room = rel.with_suffix("").as_posix()
    return [candidate(audio, id=f"{clip_id}-ch{k}", channel=k, room=room, **fields) for k in range(channels)]


def _table(root: Path, base: Path, folder: Path) -> Path | None:
    """Where ``RIR_table_simple.csv`` is, if anywhere."""
    for place in (base / "acoustic_params", folder, root, root / "datasets" / "acoustic_params", base):
        if (place / TABLE).is_file():
            return place / TABLE
    return None


def _table_key(value: str, folder: Path) -> Path | None:
    """A table ``wavfile`` as a path relative to ``impulse_responses/`` (None: a file elsewhere)."""
    text = value.strip().replace("\\", "/")
    at = text.rfind(f"{RIRS}/")
    if at >= 0:
        return Path(text[at + len(RIRS) + 1 :])
    path = Path(text)
    if path.is_absolute() or re.match(r"^[A-Za-z]:/", text):
        try:
            return path.relative_to(folder)
        except ValueError:
            return None
    return path


def _apply_table(walked: list[Candidate | Rejected], table: Path | None, folder: Path) -> list[Candidate | Rejected]:
    """``walked`` with every RIR the table names tagged by its row, and rejects for the rows that
    name nothing catalogued."""
    if table is None:
        return walked
    index: dict[tuple[str, int | None], int] = {}
    files: set[str] = set()
    for i, item in enumerate(walked):
        if isinstance(item, Rejected):
            continue
        audio, clip = item
        try:
            key = audio.relative_to(folder).as_posix()
        except ValueError:
            continue
        files.add(key)
        if clip.kind == "rir":
            index[(key, clip.channel)] = i
    out = list(walked)
    columns: dict[str, int] | None = None
    for number, row in read_csv(table):
        if columns is None and not isinstance(row, Rejected):  # the header
            header = [h.strip().lower() for h in row]
            columns = {name: header.index(name) for name in ("wavfile", "channel", "t60_wb", "c50_wb", "isrealrir") if name in header}
            continue
        if not isinstance(row, Rejected) and not any(cell.strip() for cell in row):
            continue
        named = row if isinstance(row, Rejected) else _table_row(row, columns or {}, f"{table}:{number}", folder, files, index)
        if isinstance(named, Rejected):
            out.append(named)
            continue
        at, tags = named
        found = out[at]
        assert not isinstance(found, Rejected)  # the index holds candidates only
        out[at] = (found[0], dataclasses.replace(found[1], tags=(*found[1].tags, *tags)))
    return out


def _table_row(
    row: list[str], columns: dict[str, int], where: str, folder: Path, files: set[str], index: dict[tuple[str, int | None], int]
) -> tuple[int, tuple[str, ...]] | Rejected:
    """The candidate a table row names and the tags it gives, or why the row is rejected."""

    def cell(name: str) -> str:
        at = columns.get(name)
        return row[at].strip() if at is not None and at < len(row) else ""

    wavfile, channel, t60, c50, real = cell("wavfile"), cell("channel"), cell("t60_wb"), cell("c50_wb"), cell("isrealrir")
    if not wavfile:
        return Rejected(where, "bad_row", "'wavfile' is missing")
    number = count(channel)
    if number is None or number < 1:
        return Rejected(where, "bad_row", f"'channel' must be an int >= 1 (got {channel[:40]!r})")
    for name, value in (("T60_WB", t60), ("C50_WB", c50)):
        if value and (seconds(value) is None if name == "T60_WB" else not finite_number(value)):
            return Rejected(where, "bad_row", f"'{name}' is not a number (got {value!r})")
    if real not in ("", "0", "1"):
        return Rejected(where, "bad_row", f"'isRealRIR' must be 0 or 1 (got {real!r})")
    key = _table_key(wavfile, folder)
    if key is None:
        return Rejected(where, "outside_root", f"'wavfile' {wavfile!r} is not below {folder}")
    name = key.as_posix()
    if name not in files:
        return Rejected(where, "unreadable", f"'wavfile' {wavfile!r}: no such file below {folder}")
    at = index.get((name, number - 1), index.get((name, None)) if number == 1 else None)
    if at is None:
        return Rejected(where, "no_such_channel", f"'wavfile' {wavfile!r} has no RIR channel {number} catalogued")
    tags = [f"t60:{t60}"] if t60 else []
    tags += [f"c50:{c50}"] if c50 else []
    tags += {"1": ["real_rir"], "0": ["simulated_rir"]}.get(real, [])
    return at, tuple(tags)


SOURCE = Source(
    name="dns",
    description=(
        "ROOT/{datasets,datasets_fullband}/{clean[_fullband]/<subset>,noise[_fullband],impulse_responses}/** "
        "(+ RIR_table_simple.csv): DNS Challenge clean speech, noise and RIRs; --kind K keeps one kind"
    ),
    walk=walk_dns,
    reads_paths=True,
)
