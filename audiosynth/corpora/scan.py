"""Opening and fully scanning one audio file (`check_audio_file`): the checks every catalogued clip passes.

A failed check raises `AudioError` whose ``reason`` is one of `REJECT_REASONS`. A RIR (kind
``rir``) must also have a measurable decay (`kernels.measure_rt60`).
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Literal, overload

import numpy as np
import soundfile as sf

from ..dsp import kernels
from ..errors import AudioError
from ..io.codecs import ESTIMATED_LENGTH, AvFile, open_audio

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
    "bad_row",  # a manifest row that cannot be read (a missing or malformed field)
    "bad_segment",  # a segment that does not lie within its file
    "no_such_channel",  # a channel the file does not have
    "outside_root",  # a manifest path outside the folders the user named
    "command",  # a manifest line that is a shell command (refused unless allowed)
)
RIR_CHECK_S = 30.0  # a RIR's decay is measured on its first this many seconds
BLOCK_FRAMES = 65536

# libsndfile's log line for a data chunk longer than the file: "data : 16000 (should be 7978)".
_DECLARED_DATA = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "ULAW": 1, "ALAW": 1}

Activity = tuple[int, int, int, list[list[float]]]  # frames, sample rate, channels, active [start, end] intervals (s)


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
) -> Activity: ...
def check_audio_file(
    path: str | os.PathLike[str],
    *,
    min_duration_s: float = 0.1,
    max_channels: int = 1,
    silence_dbfs: float = -60.0,
    activity: bool = False,
    kind: str | None = None,
) -> tuple[int, int, int] | Activity:
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
        handle = open_audio(path)
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
    if frames < declared and fmt not in ESTIMATED_LENGTH:  # MP3 (and PyAV) frame counts are estimates
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


Piece = tuple[float, float, int | None]  # a clip of a file: offset (s), duration (s), channel (None: all)
Scanned = tuple[int, int, int, list[list[float]]]  # a piece's frames, rate, channels, active intervals


def check_pieces(
    path: str | os.PathLike[str],
    pieces: list[Piece],
    *,
    min_duration_s: float = 0.1,
    max_channels: int = 1,
    silence_dbfs: float = -60.0,
    kind: str | None = None,
) -> list[Scanned | AudioError]:
    """Scan one file once for several clips of it (segments of a long recording, or channels):
    per piece its ``(frames, rate, channels, active)`` with the activity relative to its start,
    or the `AudioError` that rejects it. A fault of the whole file (unreadable, NaN, cut) raises;
    a piece outside the file is ``bad_segment``, a missing channel ``no_such_channel``, and the
    duration, channel and silence checks of `check_audio_file` apply to each piece's own audio
    (``max_channels`` to pieces that take all channels); with ``kind='rir'`` each piece's channels
    must have a measurable decay (`_check_decay`)."""
    path = os.fspath(path)
    frames, rate, channels, power, peaks = _scan_frames(path)
    step = max(1, round(ACTIVITY_FRAME_S * rate))
    out: list[Scanned | AudioError] = []
    for offset, duration, channel in pieces:
        start = round(offset * rate)
        length = frames - start if math.isinf(duration) else round(duration * rate)
        end = start + length
        if end > frames and end - frames <= round(0.01 * rate):  # a manifest's rounded duration
            end, length = frames, frames - start
        if offset < 0 or duration <= 0 or start >= frames or end > frames:
            out.append(AudioError(path, "bad_segment", f"{offset:g} s + {duration:g} s is not within the file's {frames / rate:.3f} s"))
            continue
        if channel is not None and channel >= channels:
            out.append(AudioError(path, "no_such_channel", f"channel {channel} asked, the file has {channels}"))
            continue
        if channel is None and channels > max_channels:
            out.append(AudioError(path, "too_many_channels", f"{channels} channels > {max_channels}"))
            continue
        if length < min_duration_s * rate:
            out.append(AudioError(path, "too_short", f"{length / rate:.3f} s < {min_duration_s:g} s"))
            continue
        first, last = start // step, -(-end // step)
        cols = slice(None) if channel is None else slice(channel, channel + 1)
        peak = float(peaks[first:last, cols].max())
        if peak < 10.0 ** (silence_dbfs / 20.0):
            level = 20.0 * math.log10(peak) if peak > 0 else -math.inf
            out.append(AudioError(path, "silent", f"peak {level:.1f} dBFS < {silence_dbfs:g} dBFS over {offset:g} s + {duration:g} s"))
            continue
        if kind == "rir":
            try:
                _check_decay(path, rate, min(length, int(RIR_CHECK_S * rate)), start, channel)
            except AudioError as err:
                out.append(err)
                continue
        active = measure_activity(power[first:last, cols].mean(axis=1), last * step - first * step, rate)
        shift, stop = (start - first * step) / rate, round(length / rate, 3)
        active = [[round(max(0.0, a - shift), 3), round(min(stop, b - shift), 3)] for a, b in active]
        out.append((length, rate, 1 if channel is not None else channels, [a for a in active if a[0] < a[1]]))
    return out


def _scan_frames(path: str) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """Open and scan a file whole: frames, rate, channels, and per 10 ms frame and channel the
    mean square and the peak |sample| (``(num_frames, C)`` each). Raises `AudioError` for a
    fault of the file (as `check_audio_file` does)."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise AudioError(path, "unreadable", f"{type(err).__name__}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(path, "not_a_file", f"not a regular file (mode {stat.filemode(info.st_mode)})")
    if info.st_size == 0:
        raise AudioError(path, "empty", "0 bytes")
    try:
        handle = open_audio(path)
    except Exception as err:  # noqa: BLE001 - every open failure becomes a reason
        raise _open_error(path, err) from None
    power: list[np.ndarray] = []
    peaks: list[np.ndarray] = []
    with handle as f:
        rate, channels, declared, fmt = f.samplerate, f.channels, f.frames, f.format
        shortfall = _header_shortfall(f)
        if shortfall:
            raise AudioError(path, "truncated", shortfall)
        step = max(1, round(ACTIVITY_FRAME_S * rate))
        frames = 0
        try:
            for block in f.blocks(step * 4096, dtype="float32", always_2d=True):  # whole frames per block
                if not np.isfinite(block).all():
                    raise AudioError(path, "nan", f"NaN or Inf sample after frame {frames}")
                frames += len(block)
                pad = -len(block) % step
                if pad:
                    block = np.concatenate([block, np.zeros((pad, channels), np.float32)])
                shaped = block.reshape(-1, step, channels)
                power.append(np.mean(np.square(shaped, dtype=np.float64), axis=1))
                peaks.append(np.abs(shaped).max(axis=1))
        except AudioError:
            raise
        except Exception as err:  # noqa: BLE001 - a decoder error midway means a cut or corrupt stream
            raise AudioError(path, "truncated", f"read error after {frames} frames: {err}") from None
    if frames < declared and fmt not in ESTIMATED_LENGTH:
        raise AudioError(path, "truncated", f"read {frames} of {declared} frames")
    if frames == 0:
        raise AudioError(path, "empty", "0 frames")
    return frames, rate, channels, np.concatenate(power), np.concatenate(peaks)


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


def _check_decay(path: str, rate: int, frames: int, start: int = 0, channel: int | None = None) -> None:
    """`AudioError` (silent, single_impulse or shallow_decay) unless every channel (or ``channel``)
    of the RIR at ``path`` has a measurable T20 (`kernels.measure_rt60`) over its ``frames`` frames
    from ``start``."""
    audio = sf.read(path, frames=frames, start=start, dtype="float64", always_2d=True)[0]
    if channel is not None:
        audio = audio[:, channel : channel + 1]
    for number, rir in enumerate(audio.T, start=1 if channel is None else channel + 1):
        reason = kernels.measure_rt60(rir, rate, (20.0,))[1]
        if reason is not None:
            detail = {
                "silent": "all samples are zero",
                "single_impulse": "all its energy is in one sample: no decay",
                "shallow_decay": "it decays too little above its noise floor to measure T20",
            }[reason]
            raise AudioError(path, reason, f"channel {number}: {detail}")


def _scan(f: sf.SoundFile | AvFile, path: str, frame_power: list[np.ndarray] | None = None) -> tuple[int, float]:
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


def _header_shortfall(f: sf.SoundFile | AvFile) -> str | None:
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
