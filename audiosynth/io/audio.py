"""Audio file I/O: read a segment of a clip (looping if asked), encode to bytes in memory.

Only this module and the writers touch audio files. Reading raises `AudioError` with a
short reason tag so that callers can reject a clip instead of crashing.
"""

from __future__ import annotations

import io
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..errors import AudioError, DatasetError
from .codecs import DECODED_FROM_START, AvFile, decode_from_start, open_audio

SUBTYPE_BITS = {"PCM_16": 16, "PCM_24": 24}


# Integer PCM is read as integers and scaled in NumPy: bit-identical to libsndfile's float64
# (k / 2**(bits-1) is exact), a little faster, and integers need no NaN/Inf check.
_INTEGER_READS = {"PCM_16": ("int16", 2.0**-15), "PCM_24": ("int32", 2.0**-31), "PCM_32": ("int32", 2.0**-31)}


RETRY_DELAYS_S = (0.1, 0.5)  # a missing file or an I/O failure is tried again after these pauses
_SYSTEM_ERROR = 2  # libsndfile's SF_ERR_SYSTEM: the OS failed it (I/O), not the file's content


def read_segment(
    path: str | os.PathLike[str],
    offset: int,
    num_frames: int,
    *,
    loop: bool = False,
    sample_rate: int | None = None,
    start: int = 0,
    frames: int | None = None,
) -> np.ndarray:
    """Read ``num_frames`` frames from ``offset`` (samples at the file's rate) of the clip that is
    the file's frames ``start .. start + frames`` (``frames`` None: the whole file from ``start``:
    a clip that is a segment of a long recording).

    Only the segment is decoded. With ``loop`` the clip is read circularly (for noise
    shorter than the example). With ``sample_rate`` (the catalog's) a file at another rate is
    refused. A file that is missing or fails with an I/O error is tried again (`RETRY_DELAYS_S`)
    before the clip counts as bad: a network filesystem's hiccup must not change a dataset.
    Returns float64 of shape ``(channels, num_frames)``.
    """
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return _read_segment(path, offset, num_frames, loop, sample_rate, start, frames)
        except AudioError as err:
            if delay is None or err.reason not in ("missing", "io_error"):
                raise AudioError(err.path, "unreadable" if err.reason == "io_error" else err.reason, err.detail) from err
            time.sleep(delay)
    raise AssertionError("unreachable")


def _read_segment(
    path: str | os.PathLike[str], offset: int, num_frames: int, loop: bool, sample_rate: int | None, start: int, frames: int | None
) -> np.ndarray:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AudioError(str(path), "missing", "the file is gone") from None
    except OSError as err:  # a symlink loop, no permission: not a passing failure
        raise AudioError(str(path), "unreadable", f"{type(err).__name__}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the build forever, a device never end
        raise AudioError(str(path), "not_a_file", f"not a regular file (mode {stat.filemode(info.st_mode)})")
    try:
        with open_audio(path) as handle:
            if sample_rate is not None and handle.samplerate != sample_rate:
                raise AudioError(str(path), "wrong_rate", f"{handle.samplerate} Hz, the catalog says {sample_rate} Hz")
            if isinstance(handle, AvFile) or handle.format in DECODED_FROM_START:  # MP3, Ogg, PyAV: no sample-exact seek
                return _decoded_segment(handle, str(path), offset, num_frames, loop, start, frames)
            if handle.frames <= 0:
                raise AudioError(str(path), "empty")
            total = handle.frames - start if frames is None else frames  # the clip's frames
            if total <= 0 or start + total > handle.frames:
                raise AudioError(str(path), "too_short", f"the clip is frames {start}..{start + total}, the file has {handle.frames}")
            if not loop and offset + num_frames > total:
                raise AudioError(str(path), "too_short", f"needs frames {offset}..{offset + num_frames}, has {total}")
            dtype, scale = _INTEGER_READS.get(handle.subtype, ("float64", None))
            if loop and num_frames + (offset % total) > total:
                handle.seek(start)
                data = handle.read(total, dtype=dtype, always_2d=True)
                reps = -(-(offset % total + num_frames) // total)
                data = np.tile(data, (reps, 1))[offset % total : offset % total + num_frames]
            else:
                handle.seek(start + (offset % total if loop else offset))
                data = handle.read(num_frames, dtype=dtype, always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        transient = isinstance(err, OSError) or getattr(err, "code", None) == _SYSTEM_ERROR
        raise AudioError(str(path), "io_error" if transient else "unreadable", str(err)) from err
    if data.shape[0] != num_frames:
        raise AudioError(str(path), "truncated", f"read {data.shape[0]} of {num_frames} frames")
    if scale is not None:
        data = np.multiply(data, scale, dtype=np.float64)
    elif not np.isfinite(data).all():
        raise AudioError(str(path), "nan", "NaN or Inf samples")
    return data.T


def _decoded_segment(
    handle: sf.SoundFile | AvFile, path: str, offset: int, num_frames: int, loop: bool, start: int, frames: int | None
) -> np.ndarray:
    """`read_segment` of a file decoded from its start (`codecs.decode_from_start`): the clip is
    frames ``start .. start + frames`` of that decode (to its end for None), never a seek."""
    need = start + frames if frames is not None else None  # the clip's end
    if not loop and (frames is None or offset + num_frames <= frames):
        need = start + offset + num_frames  # only what is read
    decoded = decode_from_start(handle, need)
    if not len(decoded):
        raise AudioError(path, "empty")
    total = len(decoded) - start if frames is None else frames  # the clip's frames (all decoded when it matters)
    if total <= 0 or start + total > len(decoded):
        raise AudioError(path, "too_short", f"the clip is frames {start}..{start + total}, the file decodes to {len(decoded)}")
    if not loop and offset + num_frames > total:
        raise AudioError(path, "too_short", f"needs frames {offset}..{offset + num_frames}, has {total}")
    clip = decoded[start : start + total]
    if loop:
        at = offset % total
        data = np.tile(clip, (-(-(at + num_frames) // total), 1))[at : at + num_frames]
    else:
        data = clip[offset : offset + num_frames]
    if not np.isfinite(data).all():
        raise AudioError(path, "nan", "NaN or Inf samples")
    return data.T.astype(np.float64)


def to_integer_pcm(x: np.ndarray, subtype: str) -> np.ndarray:
    """Samples already on the ``subtype`` grid -> the integer array libsndfile writes as-is."""
    bits = SUBTYPE_BITS[subtype]
    ints = x * 2.0 ** (bits - 1)
    np.round(ints, out=ints)
    if bits == 16:
        return ints.astype(np.int16)
    return (ints.astype(np.int32) << (32 - bits)).astype(np.int32)


def encode(x: np.ndarray, sample_rate: int, audio_format: str, subtype: str) -> bytes:
    """Encode ``(channels, N)`` samples (on the subtype's grid) to FLAC/WAV bytes in memory.

    Integer subtypes are converted in NumPy (exact, and faster than libsndfile's
    float conversion); FLOAT is written as float32 WAV with no timestamp, so bytes repeat.
    """
    buffer = io.BytesIO()
    if subtype == "FLOAT":  # libsndfile stamps the time into float WAV headers (PEAK chunk)
        import scipy.io.wavfile  # imported here: slow to import, and only FLOAT output needs it

        scipy.io.wavfile.write(buffer, sample_rate, np.ascontiguousarray(x.T.astype(np.float32)))
    else:
        sf.write(buffer, to_integer_pcm(x.T, subtype), sample_rate, format=audio_format.upper(), subtype=subtype)
    return buffer.getvalue()


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a whole file as float64 ``(channels, N)`` and its sample rate."""
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return data.T, rate


# --------------------------------------------------------------------------- a built dataset's audio files


@dataclass(frozen=True)
class StoredAudio:
    """One role's audio file of a dataset row, read by `read_dataset_audio`."""

    data: np.ndarray  # (frames read, channels)
    sample_rate: int  # Hz, from the file's header
    frames: int  # the whole file's, from its header
    channels: int
    subtype: str  # "PCM_16", "FLOAT", ...


def audio_mismatches(row: dict[str, Any], role: str, sample_rate: int, frames: int, channels: int) -> list[str]:
    """How a role's file (its header's rate, frames and channels) differs from what its
    manifest row says: the row's sample rate; ``duration`` x rate frames (an enrollment:
    ``labels.enrollment_duration``); the mix, ``num_channels`` channels (default 1)."""
    problems = []
    if sample_rate != row["sample_rate"]:
        problems.append(f"{role}: sample rate {sample_rate} != {row['sample_rate']}")
    if role == "enrollment":
        expected = round(row["labels"].get("enrollment_duration", 0) * row["sample_rate"])
        if frames != expected:
            problems.append(f"enrollment: {frames} frames != labels.enrollment_duration")
    elif frames != round(row["duration"] * row["sample_rate"]):
        problems.append(f"{role}: {frames} frames != duration {row['duration']} s x {row['sample_rate']} Hz")
    if role == "mix" and channels != row.get("num_channels", 1):
        problems.append(f"mix: {channels} channels != {row.get('num_channels', 1)}")
    return problems


def read_dataset_audio(
    source: Path | bytes,
    row: dict[str, Any],
    role: str,
    where: str | None = None,
    *,
    start: int = 0,
    length: int | None = None,
    dtype: str = "float32",
    strict: bool = True,
) -> StoredAudio:
    """Read the audio file of ``role`` of a dataset ``row`` safely: the one way every reader of a
    built dataset (validate, the torch datasets) decodes one.

    ``source`` is the file (a path already checked by `audiosynth.trust.dataset_file`: a regular
    file) or its bytes (a tar member). Reads ``length`` frames from ``start`` (all by default).
    Raises `DatasetError` ``"<where>: audio.<role> <file>: why"`` when the file does not decode
    (garbage, truncated, empty, text), when fewer frames than asked decode, when a float file
    holds NaN or Inf, and (``strict``) when its rate, frames or channels differ from the row's
    (`audio_mismatches`; without ``strict`` the caller lists those itself)."""
    name = row["audio"].get(role, source.name if isinstance(source, Path) else "?")
    head = f"{where}: " if where else ""

    def refuse(why: str) -> DatasetError:
        return DatasetError(f"{head}audio.{role} {name!r}: {why}")

    try:
        with sf.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else source) as handle:
            rate, frames, channels, subtype = handle.samplerate, handle.frames, handle.channels, handle.subtype
            problems = audio_mismatches(row, role, rate, frames, channels) if strict else []
            if problems:
                raise refuse("; ".join(problems))
            want = max(0, frames - start) if length is None else max(0, min(length, frames - start))
            handle.seek(start)
            data = handle.read(want, dtype=dtype, always_2d=True)
    except DatasetError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as err:  # soundfile's errors: one line, prefixed with the file
        raise refuse(f"not readable audio ({' '.join(str(err).split())})") from err
    if data.shape[0] != want:
        raise refuse(f"truncated: decoded {data.shape[0]} of {want} frames")
    if subtype in ("FLOAT", "DOUBLE") and not np.isfinite(data).all():
        raise refuse("NaN or Inf samples")
    return StoredAudio(data, rate, frames, channels, subtype)
