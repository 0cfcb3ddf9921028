"""Catalogue real corpora on disk (LibriSpeech, VCTK, MUSAN, any folder) into catalog JSONL files.

One place per step:

1. ``_walk_<layout>`` turns a corpus tree into candidates (audio path + a `Clip` template);
2. ``_check_all`` opens and fully scans every file in a process pool (`check_audio_file`);
3. ``catalog_corpus`` writes the accepted clips and the rejects JSONL (atomically, `writers.write_atomic`).

A bad file never stops cataloguing: it becomes a reject row ``{"path", "reason", "detail"}``
whose reason is one of `REJECT_REASONS`. RIRs (kind ``rir``) must also have a measurable
decay (`kernels.measure_rt60`), and a RIR's ``room`` is its parent folder (``room_from``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import stat
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..catalog import KINDS, Clip, relative_audio_path
from ..dsp import kernels
from ..errors import AudioError, CatalogError
from ..io.files import jsonl_bytes, write_atomic

logger = logging.getLogger(__name__)

LAYOUTS = ("librispeech", "vctk", "musan", "folder")
REJECT_REASONS = (
    "unreadable",
    "not_audio",
    "truncated",
    "empty",
    "nan",
    "silent",
    "too_short",
    "too_many_channels",
    "not_a_file",
    "bad_name",
    "single_impulse",
    "shallow_decay",
)
ROOM_FROM = ("parent", "none")
RIR_CHECK_S = 30.0  # a RIR's decay is measured on its first this many seconds
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
BLOCK_FRAMES = 65536

_EXPECTED = {
    "librispeech": "ROOT/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac, or the same below subsets such as ROOT/dev-clean/",
    "vctk": "ROOT/wav48_silence_trimmed/<speaker>/<speaker>_<nnn>_{mic}.flac (or ROOT/wav48/<speaker>/*.wav)",
    "musan": "ROOT/{music,noise,speech}/<source>/*.wav",
    "folder": "audio files (" + ", ".join(sorted(AUDIO_EXTENSIONS)) + ") anywhere below ROOT",
}
_GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}
_LANGUAGES = {
    "english": "en",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "dutch": "nl",
    "portuguese": "pt",
    "russian": "ru",
    "chinese": "zh",
    "japanese": "ja",
    "polish": "pl",
}
_SUBSET = re.compile(r"^(train|dev|test)(?:[-_].*)?$")
_MUSAN_KINDS = {"music": "noise", "noise": "noise", "speech": "speech"}
# libsndfile's log line for a data chunk longer than the file: "data : 16000 (should be 7978)".
_DECLARED_DATA = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "ULAW": 1, "ALAW": 1}

_Candidate = tuple[Path, Clip]  # audio file, row with path/duration/rate still to fill in
_Activity = tuple[int, int, int, list[list[float]]]  # frames, sample rate, channels, active [start, end] intervals (s)
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

    def format(self) -> str:
        """A short human summary (several lines)."""
        lines = [
            f"{self.layout} corpus at {self.root}",
            f"  catalogued {self.num_clips} clips ({self.total_duration_s / 3600:.2f} h) -> {self.output}",
            f"  rejected {self.num_rejected} files -> {self.rejects_path}",
        ]
        lines += [f"    {reason}: {count}" for reason, count in sorted(self.rejects_by_reason.items())]
        return "\n".join(lines)


# --------------------------------------------------------------------------- checking one file


@overload
def check_audio_file(
    path: str | os.PathLike[str],
    *,
    min_duration_s: float = ...,
    max_channels: int = ...,
    silence_dbfs: float = ...,
    activity: Literal[False] = ...,
    kind: str | None = ...,
) -> tuple[int, int, int]: ...
@overload
def check_audio_file(
    path: str | os.PathLike[str],
    *,
    min_duration_s: float = ...,
    max_channels: int = ...,
    silence_dbfs: float = ...,
    activity: Literal[True],
    kind: str | None = ...,
) -> _Activity: ...
def check_audio_file(
    path: str | os.PathLike[str],
    *,
    min_duration_s: float = 0.1,
    max_channels: int = 1,
    silence_dbfs: float = -60.0,
    activity: bool = False,
    kind: str | None = None,
) -> tuple[int, int, int] | _Activity:
    """Open and fully scan one file in blocks; return ``(num_frames, sample_rate, num_channels)``,
    and with ``activity`` its active intervals as a fourth item (`measure_activity`).

    Raises `AudioError` whose ``reason`` is one of `REJECT_REASONS`. Only running stats are kept
    (and, with ``activity``, one float per 10 ms frame), except for ``kind='rir'``: every
    channel's T20 must then be measurable (`_check_decay`).
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as err:  # missing, a broken link, a symlink loop, no permission
        raise AudioError(path, "unreadable", f"{type(err).__name__}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise AudioError(path, "not_a_file", f"not a regular file (mode {stat.filemode(info.st_mode)})")
    size = info.st_size
    if size == 0:
        raise AudioError(path, "empty", "0 bytes")
    try:
        handle = sf.SoundFile(path)
    except Exception as err:  # noqa: BLE001 - every open failure becomes a reason
        raise _open_error(path, err) from None
    with handle as f:
        rate, channels, declared, fmt = f.samplerate, f.channels, f.frames, f.format
        if channels > max_channels:
            raise AudioError(path, "too_many_channels", f"{channels} channels > {max_channels}")
        shortfall = _header_shortfall(f)
        if shortfall:
            raise AudioError(path, "truncated", shortfall)
        frame_power: list[np.ndarray] | None = [] if activity else None
        frames, peak = _scan(f, path, frame_power)
    if frames < declared and fmt != "MP3":  # MP3 frame counts are estimates
        raise AudioError(path, "truncated", f"read {frames} of {declared} frames")
    if frames == 0:
        raise AudioError(path, "empty", "0 frames")
    if frames < min_duration_s * rate:
        raise AudioError(path, "too_short", f"{frames / rate:.3f} s < {min_duration_s:g} s")
    if peak < 10.0 ** (silence_dbfs / 20.0):
        level = 20.0 * math.log10(peak) if peak > 0 else -math.inf
        raise AudioError(path, "silent", f"peak {level:.1f} dBFS < {silence_dbfs:g} dBFS")
    if kind == "rir":
        _check_decay(path, rate, min(frames, int(RIR_CHECK_S * rate)))
    if frame_power is None:
        return frames, rate, channels
    return frames, rate, channels, measure_activity(np.concatenate(frame_power), frames, rate)


ACTIVITY_FRAME_S = 0.01  # catalog activity: 10 ms frames
ACTIVITY_DB = -40.0  # within 40 dB of the clip's loudest frame (the diarization labels' default)
ACTIVITY_FLOOR_DBFS = -70.0  # and above -70 dBFS RMS
ACTIVITY_MAX_INTERVALS = 32


def measure_activity(frame_power: np.ndarray, frames: int, rate: int) -> list[list[float]]:
    """A clip's ``active`` catalog field from its mean square per 10 ms frame: active where a
    frame is within `ACTIVITY_DB` of the loudest and above `ACTIVITY_FLOOR_DBFS`, gaps under
    0.2 s bridged, at most `ACTIVITY_MAX_INTERVALS` intervals (shortest gaps bridged first)."""
    step = max(1, round(ACTIVITY_FRAME_S * rate))
    intervals = kernels.activity_intervals(frame_power, step / rate, ACTIVITY_DB, ACTIVITY_FLOOR_DBFS, 0.2, ACTIVITY_MAX_INTERVALS)
    end = round(frames / rate, 3)
    return [[a, min(b, end)] for a, b in intervals if a < min(b, end)]


def _check_decay(path: str, rate: int, frames: int) -> None:
    """`AudioError` (silent, single_impulse or shallow_decay) unless every channel of the RIR at
    ``path`` has a measurable T20 (`kernels.measure_rt60`) over its first ``frames`` frames."""
    audio = sf.read(path, frames=frames, dtype="float64", always_2d=True)[0]
    for channel, rir in enumerate(audio.T, start=1):
        reason = kernels.measure_rt60(rir, rate, (20.0,))[1]
        if reason is not None:
            detail = {
                "silent": "all samples are zero",
                "single_impulse": "all its energy is in one sample: no decay",
                "shallow_decay": "it decays too little above its noise floor to measure T20",
            }[reason]
            raise AudioError(path, reason, f"channel {channel}: {detail}")


def _scan(f: sf.SoundFile, path: str, frame_power: list[np.ndarray] | None = None) -> tuple[int, float]:
    """Frames read and peak |sample|, block by block; NaN/Inf -> ``nan``, read error -> ``truncated``.
    With ``frame_power`` (a list), the mean square of every 10 ms frame (all channels) is appended."""
    frames, peak = 0, 0.0
    step = max(1, round(ACTIVITY_FRAME_S * f.samplerate))
    carry = np.zeros((0, f.channels), dtype=np.float32)
    try:
        for block in f.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
            finite = np.isfinite(block)
            if not finite.all():
                row = int(np.argmin(finite.all(axis=1)))
                value = block[row][~finite[row]][0]
                raise AudioError(path, "nan", f"{'NaN' if np.isnan(value) else 'Inf'} sample at frame {frames + row}")
            if len(block):
                peak = max(peak, float(np.abs(block).max()))
            frames += len(block)
            if frame_power is not None:
                carry = np.concatenate([carry, block])
                whole = len(carry) // step * step
                frame_power.append(np.mean(np.square(carry[:whole], dtype=np.float64).reshape(-1, step * f.channels), axis=1))
                carry = carry[whole:]
    except AudioError:
        raise
    except Exception as err:  # noqa: BLE001 - a decoder error midway means a cut or corrupt stream
        raise AudioError(path, "truncated", f"read error after {frames} frames: {err}") from None
    if frame_power is not None and len(carry):
        frame_power.append(np.array([np.mean(np.square(carry, dtype=np.float64))]))
    return frames, peak


def _open_error(path: str, err: Exception) -> AudioError:
    """Classify a failure to open: unknown header -> not_audio, corrupt known format -> truncated."""
    if not isinstance(err, sf.LibsndfileError):
        return AudioError(path, "unreadable", f"{type(err).__name__}: {err}")
    message = err.error_string
    if err.code == 1:  # SF_ERR_UNRECOGNISED_FORMAT
        with open(path, "rb") as handle:
            head = handle.read(16)
        if _known_audio_header(head):
            return AudioError(path, "truncated", f"audio header that libsndfile cannot parse: {message}")
        return AudioError(path, "not_audio", f"not a known audio format (starts with {head[:8]!r})")
    if err.code in (2, 4):  # SF_ERR_SYSTEM, SF_ERR_UNSUPPORTED_ENCODING
        return AudioError(path, "unreadable", message)
    return AudioError(path, "truncated", message)  # malformed file of a known format


def _known_audio_header(head: bytes) -> bool:
    """Whether the first bytes are the signature of an audio format libsndfile knows."""
    return (
        (head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE")
        or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"))
        or head.startswith((b"fLaC", b"OggS", b"ID3", b".snd", b"caff", b"NIST_1A", b"riff"))
    )


def _header_shortfall(f: sf.SoundFile) -> str | None:
    """Why the data chunk is shorter than the header says (WAV/AIFF), or None."""
    match = _DECLARED_DATA.search(f.extra_info)
    if not match:
        return None
    declared, present = int(match[1]), int(match[2])
    if declared in (0, 0xFFFFFFFF):  # placeholders written by streaming writers
        return None
    if declared - present < _SAMPLE_BYTES.get(f.subtype, 1) * f.channels:
        return None
    return f"data chunk declares {declared} bytes but the file holds {present}"


def _check_path(path: str, **limits: Any) -> _Checked:
    """Pool worker: ``(None, "", frames, rate, channels, active)`` or ``(reason, detail, 0, 0, 0, None)``; never raises."""
    try:
        return (None, "", *check_audio_file(path, activity=True, **limits))
    except AudioError as err:
        return err.reason, err.detail, 0, 0, 0, None
    except Exception as err:  # noqa: BLE001 - a bad file must never crash cataloguing
        return "unreadable", f"{type(err).__name__}: {err}", 0, 0, 0, None


def _check_all(paths: list[str], workers: int, progress: bool, limits: dict[str, Any]) -> list[_Checked]:
    """`_check_path` over every path, in order, in a process pool fed in chunks."""
    check = partial(_check_path, **limits)
    bar: dict[str, Any] = {"total": len(paths), "disable": not progress, "unit": "file", "desc": "checking audio"}
    workers = max(1, min(workers, len(paths)))
    if workers == 1:
        return list(tqdm(map(check, paths), **bar))
    chunksize = max(1, min(256, math.ceil(len(paths) / (workers * 16))))
    with ProcessPoolExecutor(workers) as pool:  # the platform's start method: works from any __main__
        return list(tqdm(pool.map(check, paths, chunksize=chunksize), **bar))


# --------------------------------------------------------------------------- layouts -> candidates


def _candidate(audio: Path, **fields: Any) -> _Candidate:
    return audio, Clip(path="", duration=0.0, sample_rate=0, **fields)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def _audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` by name; broken links are kept (they become rejects)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and not p.is_dir())


def _read_text(path: Path) -> str | None:
    """A transcript file's text on one line, or None when missing or blank."""
    if not path.is_file():
        return None
    return " ".join(path.read_text(encoding="utf-8", errors="replace").split()) or None


def _read_table(path: Path) -> dict[str, list[str]]:
    """First whitespace-separated column -> the other columns (missing file -> {})."""
    if not path.is_file():
        return {}
    rows = (line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return {cols[0]: cols[1:] for cols in rows if cols}


def _walk_librispeech(root: Path, corpus: str, kind: str) -> list[_Candidate]:
    subsets = [d for d in _subdirs(root) if _SUBSET.match(d.name)] or [root]
    genders = _librispeech_genders(root / "SPEAKERS.TXT") or _librispeech_genders(root.parent / "SPEAKERS.TXT")
    out = []
    for subset in subsets:
        match = _SUBSET.match(subset.name)
        for speaker in _subdirs(subset):
            for chapter in _subdirs(speaker):
                texts = _read_table(chapter / f"{speaker.name}-{chapter.name}.trans.txt")
                for audio in _audio_files(chapter):
                    out.append(
                        _candidate(
                            audio,
                            id=audio.stem,
                            kind=kind,
                            speaker=speaker.name,
                            language="en",
                            text=" ".join(texts.get(audio.stem, ())) or None,
                            gender=genders.get(speaker.name),
                            split=match.group(1) if match else None,
                            corpus=corpus,
                        )
                    )
    return out


def _librispeech_genders(path: Path) -> dict[str, str]:
    """SPEAKERS.TXT (``ID | SEX | SUBSET | MINUTES | NAME``, ';' comments) -> speaker -> gender."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cols = [c.strip() for c in line.split("|")]
        if line.startswith(";") or len(cols) < 2 or cols[1].lower() not in _GENDERS:
            continue
        out[cols[0]] = _GENDERS[cols[1].lower()]
    return out


def _walk_vctk(root: Path, corpus: str, kind: str, mic: str) -> list[_Candidate]:
    if mic not in ("mic1", "mic2"):
        raise CatalogError(f"VCTK mic must be 'mic1' or 'mic2' (got {mic!r})")
    wav_dir, suffix = root / "wav48_silence_trimmed", f"_{mic}"
    if not wav_dir.is_dir() and (root / "wav48").is_dir():  # VCTK 0.80: one mic, no suffix
        wav_dir, suffix = root / "wav48", ""
    info = {}
    for spk, cols in _read_table(root / "speaker-info.txt").items():
        if spk.upper() != "ID" and len(cols) >= 2:
            accent = cols[2] if len(cols) > 2 else None
            info[f"p{spk}" if spk.isdigit() else spk] = (_GENDERS.get(cols[1].lower()), accent)
    out = []
    for speaker in _subdirs(wav_dir):
        gender, accent = info.get(speaker.name, (None, None))
        for audio in _audio_files(speaker):
            if not audio.stem.endswith(suffix):
                continue
            utt = audio.stem[: len(audio.stem) - len(suffix)]
            out.append(
                _candidate(
                    audio,
                    id=audio.stem,
                    kind=kind,
                    speaker=speaker.name,
                    language="en",
                    gender=gender,
                    text=_read_text(root / "txt" / speaker.name / f"{utt}.txt"),
                    tags=(f"accent:{accent}",) if accent else (),
                    corpus=corpus,
                )
            )
    return out


def _walk_musan(root: Path, corpus: str, kind: str | None) -> list[_Candidate]:
    if not any((root / c).is_dir() for c in _MUSAN_KINDS) and (root / "musan").is_dir():
        root = root / "musan"
    out = []
    for category, default_kind in _MUSAN_KINDS.items():
        for source in _subdirs(root / category):
            notes = _read_table(source / "ANNOTATIONS")
            for audio in _audio_files(source):
                fields = _musan_fields(category, notes.get(audio.stem, []))
                out.append(
                    _candidate(
                        audio,
                        id=audio.stem,
                        kind=kind or default_kind,
                        corpus=corpus,
                        tags=(category, source.name, *fields.pop("tags")),
                        **fields,
                    )
                )
    return out


def _musan_fields(category: str, cols: list[str]) -> dict[str, Any]:
    """MUSAN ANNOTATIONS columns after the stem: music ``genre[,genre] Y|N artist``; speech ``m|f language``."""
    if category == "speech" and cols:
        language = _LANGUAGES.get(cols[1].lower(), cols[1].lower()) if len(cols) > 1 else None
        return {"gender": _GENDERS.get(cols[0].lower()), "language": language, "tags": tuple(cols[2:])}
    if category == "music" and cols:
        vocals = {"y": ("vocals",), "n": ("no_vocals",)}.get(cols[1].lower(), cols[1:2]) if len(cols) > 1 else ()
        artist = tuple(f"artist:{a}" for a in cols[2:3])
        return {"tags": (*(g for g in cols[0].split(",") if g), *vocals, *artist, *cols[3:])}
    return {"tags": tuple(cols)}


def _walk_folder(root: Path, corpus: str, kind: str) -> list[_Candidate]:
    out = []
    visited: set[tuple[int, int]] = set()  # (device, inode) of folders walked: a symlink loop is entered once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
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
        for name in sorted(filenames):
            audio = Path(dirpath) / name
            if name.startswith(".") or audio.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            text = _read_text(audio.with_suffix(".txt")) or _read_text(audio.with_suffix(".lab"))
            clip_id = audio.relative_to(root).with_suffix("").as_posix().replace("/", "-")
            out.append(_candidate(audio, id=clip_id, kind=kind, text=text, corpus=corpus))
    return out


def _with_rooms(candidates: list[_Candidate], root: Path, room_from: str) -> list[_Candidate]:
    """RIR candidates with ``room`` set to their folder relative to ``root`` (``room_from='parent'``)."""
    if room_from == "none":
        return candidates
    out = []
    for audio, clip in candidates:
        folder = audio.parent.relative_to(root).as_posix() if clip.kind == "rir" else "."
        out.append((audio, dataclasses.replace(clip, room=folder) if folder != "." else clip))
    return out


def _walk(layout: str, root: Path, corpus: str, kind: str | None, mic: str) -> list[_Candidate]:
    if layout == "librispeech":
        return _walk_librispeech(root, corpus, kind or "speech")
    if layout == "vctk":
        return _walk_vctk(root, corpus, kind or "speech", mic)
    if layout == "musan":
        return _walk_musan(root, corpus, kind)
    if kind is None:
        raise CatalogError(f"layout 'folder' needs a kind (one of {', '.join(KINDS)})")
    return _walk_folder(root, corpus, kind)


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
) -> CatalogSummary:
    """Catalogue the corpus at ``root`` (laid out as ``layout``) into the JSONL ``output``.

    Every file is opened and scanned; unusable ones go to ``rejects_path`` (default
    ``<output stem>.rejects.jsonl``, always written). ``kind`` is required for ``folder`` and
    overrides the layout's kind otherwise. A RIR's ``room`` is, with ``room_from='parent'``, its
    folder relative to ``root`` (RIRs side by side in one folder are positions of one room; a RIR
    directly in ``root`` has no room: a room of its own); ``'none'`` leaves every room unset.
    Raises `CatalogError` for a bad layout or arguments.
    """
    if layout not in LAYOUTS:
        raise CatalogError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if kind is not None and kind not in KINDS:
        raise CatalogError(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if room_from not in ROOM_FROM:
        raise CatalogError(f"room_from must be one of {', '.join(ROOM_FROM)} (got {room_from!r})")
    root, output = Path(root).expanduser(), Path(output).expanduser()
    expected = _EXPECTED[layout].replace("{mic}", mic)
    if not root.is_dir():
        raise CatalogError(f"{root}: corpus root is not a folder (layout {layout!r} expects {expected})")
    rejects_path = Path(rejects_path) if rejects_path is not None else output.with_name(f"{output.stem}.rejects.jsonl")
    corpus = corpus or (root.resolve().name if layout == "folder" else layout)

    candidates = _with_rooms(_walk(layout, root, corpus, kind, mic), root, room_from)
    if not candidates:
        raise CatalogError(f"{root}: no audio files found for layout {layout!r}; expected {expected}")
    not_utf8 = "the path is not valid UTF-8 (a catalog is JSON text)"
    rejects = [
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
    logger.info("%s: checking %d audio files (%s layout)", root, len(candidates), layout)

    limits = {
        "min_duration_s": min_duration_s,
        "max_channels": max_channels,
        "silence_dbfs": silence_dbfs,
        **({"kind": "rir"} if kind == "rir" else {}),
    }
    results = _check_all([str(audio) for audio, _ in candidates], workers or os.cpu_count() or 1, progress, limits)

    clips = []
    for (audio, template), (reason, detail, frames, rate, channels, active) in zip(candidates, results, strict=True):
        if reason is not None:
            logger.debug("rejected %s: %s (%s)", audio, reason, detail)
            rejects.append({"path": os.path.abspath(audio), "reason": reason, "detail": detail})
            continue
        clips.append(
            dataclasses.replace(
                template,
                path=relative_audio_path(audio, output.parent),
                duration=frames / rate,
                sample_rate=rate,
                num_channels=channels,
                active=None if template.kind == "rir" or active is None else tuple((a, b) for a, b in active),
            )
        )
    clips.sort(key=lambda clip: clip.id)
    rejects.sort(key=lambda row: row["path"])
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
    )
    if rejects:
        logger.warning(
            "%s: rejected %d of %d files (%s); see %s",
            root,
            len(rejects),
            len(candidates),
            ", ".join(f"{r}: {n}" for r, n in summary.rejects_by_reason.items()),
            rejects_path,
        )
    logger.info("%s: catalogued %d clips (%.2f h) -> %s", root, len(clips), summary.total_duration_s / 3600, output)
    return summary


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
