"""Audio file I/O: read a segment of a clip (looping if asked), encode to bytes in memory.

Only this module and the writers touch audio files. Reading raises `AudioError` with a
short reason tag so that callers can reject a clip instead of crashing.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf

from ..errors import AudioError, DatasetError
from .codecs import DECODED_FROM_START, AvFile, decode_from_start, open_audio

SUBTYPE_BITS = {"PCM_16": 16, "PCM_24": 24}
_T = TypeVar("_T")


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
    return _retrying(lambda: _read_segment(path, offset, num_frames, loop, sample_rate, start, frames))


def read_clip(path: str | os.PathLike[str], *, sample_rate: int | None = None, start: int = 0, frames: int | None = None) -> DecodedClip:
    """Decode the whole clip (the file's frames ``start .. start + frames``, as `read_segment`
    takes them) once, for many segments: ``read_clip(...).segment(offset, n, loop)`` equals
    ``read_segment(..., offset, n, loop=loop)`` bit for bit, with the same refusals."""
    return _retrying(lambda: _read_clip(path, sample_rate, start, frames))


@dataclass(frozen=True)
class DecodedClip:
    """A clip decoded whole and kept as read: ``data (frames, C)``, integer PCM with its ``scale``
    to float64 (exact), or floats (``scale`` None)."""

    path: str
    data: np.ndarray
    scale: float | None

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def segment(self, offset: int, num_frames: int, loop: bool = False) -> np.ndarray:
        """`read_segment`'s result for this clip: a fresh float64 ``(channels, num_frames)``."""
        total = len(self.data)
        if loop:
            at = offset % total
            data = np.tile(self.data, (-(-(at + num_frames) // total), 1))[at : at + num_frames]
        elif offset + num_frames > total:
            raise AudioError(self.path, "too_short", f"needs frames {offset}..{offset + num_frames}, has {total}")
        else:
            data = self.data[offset : offset + num_frames]
        return _to_float(self.path, data, self.scale, copy=True)


def _retrying(read: Callable[[], _T]) -> _T:
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return read()
        except AudioError as err:
            if delay is None or err.reason not in ("missing", "io_error"):
                raise AudioError(err.path, "unreadable" if err.reason == "io_error" else err.reason, err.detail) from err
            time.sleep(delay)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _opened(path: str | os.PathLike[str], sample_rate: int | None) -> Iterator[sf.SoundFile | AvFile]:
    """The file opened for reading, after the checks every read makes (a regular file, the
    catalog's rate); libsndfile's and the OS's failures inside the block become `AudioError`."""
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
            yield handle
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        transient = isinstance(err, OSError) or getattr(err, "code", None) == _SYSTEM_ERROR
        raise AudioError(str(path), "io_error" if transient else "unreadable", str(err)) from err


def _clip_frames(path: str, available: int, start: int, frames: int | None, has: str) -> int:
    """The clip's frame count, refused when the file's ``available`` frames do not hold it."""
    total = available - start if frames is None else frames
    if total <= 0 or start + total > available:
        raise AudioError(path, "too_short", f"the clip is frames {start}..{start + total}, the file {has} {available}")
    return total


def _read_segment(
    path: str | os.PathLike[str], offset: int, num_frames: int, loop: bool, sample_rate: int | None, start: int, frames: int | None
) -> np.ndarray:
    with _opened(path, sample_rate) as handle:
        if isinstance(handle, AvFile) or handle.format in DECODED_FROM_START:  # MP3, Ogg, PyAV: no sample-exact seek
            return _decoded_segment(handle, str(path), offset, num_frames, loop, start, frames)
        if handle.frames <= 0:
            raise AudioError(str(path), "empty")
        total = _clip_frames(str(path), handle.frames, start, frames, "has")
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
    if data.shape[0] != num_frames:
        raise AudioError(str(path), "truncated", f"read {data.shape[0]} of {num_frames} frames")
    return _to_float(str(path), data, scale)


def _read_clip(path: str | os.PathLike[str], sample_rate: int | None, start: int, frames: int | None) -> DecodedClip:
    with _opened(path, sample_rate) as handle:
        if isinstance(handle, AvFile) or handle.format in DECODED_FROM_START:
            return _decoded_clip(handle, str(path), start, frames, None if frames is None else start + frames)
        if handle.frames <= 0:
            raise AudioError(str(path), "empty")
        total = _clip_frames(str(path), handle.frames, start, frames, "has")
        dtype, scale = _INTEGER_READS.get(handle.subtype, ("float64", None))
        handle.seek(start)
        data = handle.read(total, dtype=dtype, always_2d=True)
    if data.shape[0] != total:
        raise AudioError(str(path), "truncated", f"read {data.shape[0]} of {total} frames")
    return DecodedClip(str(path), data, scale)


def _to_float(path: str, data: np.ndarray, scale: float | None, copy: bool = False) -> np.ndarray:
    """Samples as read ``(n, C)`` -> float64 ``(C, n)``: integers scaled (exact), floats checked for NaN/Inf."""
    if scale is not None:
        return np.multiply(data, scale, dtype=np.float64).T
    if not np.isfinite(data).all():
        raise AudioError(path, "nan", "NaN or Inf samples")
    return np.array(data, dtype=np.float64, copy=copy or None).T


def _decoded_segment(
    handle: sf.SoundFile | AvFile, path: str, offset: int, num_frames: int, loop: bool, start: int, frames: int | None
) -> np.ndarray:
    """`read_segment` of a file decoded from its start (`codecs.decode_from_start`): the clip is
    frames ``start .. start + frames`` of that decode (to its end for None), never a seek."""
    need = start + frames if frames is not None else None  # the clip's end
    if not loop and (frames is None or offset + num_frames <= frames):
        need = start + offset + num_frames  # only what is read
    clip = _decoded_clip(handle, path, start, frames, need)  # the clip's frames (all decoded when it matters)
    if not loop and offset + num_frames > len(clip.data):
        raise AudioError(path, "too_short", f"needs frames {offset}..{offset + num_frames}, has {len(clip.data)}")
    return clip.segment(offset, num_frames, loop)


def _decoded_clip(handle: sf.SoundFile | AvFile, path: str, start: int, frames: int | None, need: int | None) -> DecodedClip:
    """Frames ``start .. start + frames`` of the file decoded from its start up to frame ``need`` (None: all)."""
    decoded = decode_from_start(handle, need)
    if not len(decoded):
        raise AudioError(path, "empty")
    total = _clip_frames(path, len(decoded), start, frames, "decodes to")
    return DecodedClip(path, decoded[start : start + total], None)


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
