"""Compressed audio: MP3 and Ogg (Vorbis, Opus) decoded from their start, and the files libsndfile
cannot open (AAC in ``.m4a``, WebM) decoded with PyAV when it is installed (the ``codecs`` extra).

libsndfile's seeks in MP3 and Ogg streams are not sample-exact (measured with libsndfile 1.2.2):
an Ogg Vorbis seek near the end of a file lands 64 samples off, an Ogg Opus one gives samples up
to 1e-3 off, an MP3 one samples that differ in their last bits (and mpg123 complains on stderr),
and even without a seek an MP3's samples depend on how the reads are cut. So a clip of such a
file is read by decoding the file from its first frame, in reads of `DECODE_BLOCK_FRAMES` (the
same cut every time: a file shorter than that is one read, the same as ``SoundFile(path).read()``),
and slicing: a segment is exactly that slice of the decode, in every call and every process.
`open_audio` opens a file with libsndfile, or with PyAV for the suffixes in `AV_SUFFIXES`.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import soundfile as sf

DECODE_BLOCK_FRAMES = 1 << 20  # frames per read of a file decoded from its start (65 s at 16 kHz)
DECODED_FROM_START = frozenset({"MP3", "OGG", "AV"})  # formats whose seeks are not sample-exact; "AV": PyAV
ESTIMATED_LENGTH = frozenset({"MP3", "AV"})  # formats whose header frame count is an estimate
AV_SUFFIXES = frozenset({".m4a", ".aac", ".webm"})  # decoded with PyAV when libsndfile cannot open them
AV_HINT = "pip install 'audiosynth[codecs]' (PyAV)"

# PyAV sample formats (planar or packed) -> the factor from their integers to [-1, 1)
_AV_SCALE = {"flt": None, "dbl": None, "s16": 2.0**-15, "s32": 2.0**-31, "s64": 2.0**-63, "u8": 2.0**-7}


class CodecError(RuntimeError):
    """A file that needs PyAV when it is not installed, or that PyAV cannot decode."""


def av_available() -> bool:
    """Whether PyAV (the ``av`` package) can be imported."""
    return importlib.util.find_spec("av") is not None


class AvFile:
    """A file decoded with PyAV, read forward only, with the part of `soundfile.SoundFile`'s
    interface the scan and `read_segment` use: ``samplerate``, ``channels``, ``frames`` (an
    estimate from the container, 0 when unknown), ``format`` (``"AV"``), ``subtype`` (the codec),
    ``read`` and ``blocks``. Samples are floats at the file's own rate (integers scaled exactly)."""

    format = "AV"
    extra_info = ""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import av  # the optional dependency: only here

        try:
            self._container: Any = av.open(os.fspath(path))
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
            raise CodecError(f"PyAV cannot open it: {err}") from None
        if not self._container.streams.audio:
            self._container.close()
            raise CodecError("PyAV finds no audio stream in it")
        stream = self._container.streams.audio[0]
        self.samplerate = int(stream.codec_context.sample_rate)
        self.channels = int(stream.codec_context.channels)
        self.subtype = str(stream.codec_context.name).upper()
        seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        self.frames = round(seconds * self.samplerate) if math.isfinite(seconds) else 0
        self._frames = self._container.decode(stream)
        self._pending = np.zeros((0, self.channels))
        self._error: type[Exception] = av.FFmpegError

    def __enter__(self) -> AvFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the container."""
        self._container.close()

    def seekable(self) -> bool:
        """Never: PyAV files are read from their start."""
        return False

    def read(self, frames: int = -1, dtype: str = "float64", always_2d: bool = True) -> np.ndarray:
        """The next ``frames`` frames (all that are left for -1; fewer at the end) as ``(n, channels)``."""
        while frames < 0 or len(self._pending) < frames:
            try:
                frame = next(self._frames, None)
            except self._error as err:
                raise CodecError(f"PyAV decode error: {err}") from None
            if frame is None:
                break
            self._pending = np.concatenate([self._pending, _frame_samples(frame, self.channels)])
        take = len(self._pending) if frames < 0 else min(frames, len(self._pending))
        out, self._pending = self._pending[:take], self._pending[take:]
        out = out.astype(dtype)
        return out if always_2d or self.channels > 1 else out[:, 0]

    def blocks(self, blocksize: int, dtype: str = "float64", always_2d: bool = True) -> Any:
        """Consecutive reads of ``blocksize`` frames until the end (a generator)."""
        while True:
            block = self.read(blocksize, dtype, always_2d)
            if not len(block):
                return
            yield block


def _frame_samples(frame: Any, channels: int) -> np.ndarray:
    """A PyAV audio frame's samples as float64 ``(n, channels)``."""
    name = frame.format.name
    kind = name[:-1] if frame.format.is_planar else name
    if kind not in _AV_SCALE:
        raise CodecError(f"PyAV sample format {name!r} is not supported")
    data = frame.to_ndarray()
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if data.shape[1] != channels:
        raise CodecError(f"a frame with {data.shape[1]} channels in a stream of {channels}")
    scale = _AV_SCALE[kind]
    if kind == "u8":
        return (data.astype(np.float64) - 128.0) * scale
    return data.astype(np.float64) if scale is None else data.astype(np.float64) * scale


def open_audio(path: str | os.PathLike[str]) -> sf.SoundFile | AvFile:
    """Open ``path`` with libsndfile or, for a suffix in `AV_SUFFIXES` libsndfile cannot open, with
    PyAV. Raises libsndfile's error, or `CodecError` (PyAV missing, or it cannot open the file)."""
    try:
        return sf.SoundFile(path)
    except sf.LibsndfileError:
        suffix = Path(os.fspath(path)).suffix.lower()
        if suffix not in AV_SUFFIXES:
            raise
        if not av_available():
            raise CodecError(f"libsndfile cannot decode {suffix} files; for them, {AV_HINT}") from None
    return AvFile(path)


def decode_from_start(handle: sf.SoundFile | AvFile, frames: int | None) -> np.ndarray:
    """Decode a freshly opened (never seeked) file from its first frame in reads of
    `DECODE_BLOCK_FRAMES` until at least ``frames`` frames (None: all) or the end: float32 ``(n, C)``."""
    blocks: list[np.ndarray] = []
    count = 0
    while frames is None or count < frames:
        block = handle.read(DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if len(block):
            blocks.append(block)
            count += len(block)
        if len(block) < DECODE_BLOCK_FRAMES:
            break
    return np.concatenate(blocks) if blocks else np.zeros((0, handle.channels), np.float32)
