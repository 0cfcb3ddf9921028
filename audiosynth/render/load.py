"""Loading, on the CPU: a Scene's audio read, resampled, checked and placed, ready to mix.

Everything that needs files or the catalog happens here (NumPy): reading and resampling the
clips, catalog RIRs, the refusals of silent or unusable inputs, and the labels that come from
the catalog (speakers, texts). `LoadedScene` then holds all that `mix.render_batch` needs.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..catalog import Catalog
from ..dsp import kernels
from ..dsp.backend import Array, Backend
from ..errors import AudioError, CropError
from ..io.audio import DecodedClip, read_clip, read_segment
from ..scene import Noise, Scene, Segment, Source

SILENT_DBFS = -90.0  # a crop whose RMS (all its samples, as read) is below this is silent
SESSION_TURN_DBFS = -20.0  # each turn of a session's talker is brought to this RMS before the room


@dataclass(frozen=True)
class Reverb:
    """How one signal is reverberated: its RIR ``(M, K)``, the direct path alone ``(M, Kd)`` (backend
    arrays) and the direct-path delay per microphone (samples, NumPy ``(M,)``). ``measured``: what
    has been measured on it, kept for the next example that uses the same (cached) catalog RIR."""

    rir: Array
    direct: Array
    delays: np.ndarray
    measured: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Talker:
    """One image of the mixture before the room and the gains.

    ``dry (1, N)``: its signal at its place in the example (a talker's utterance, or all the
    turns of a session's talker). Its image gets the level ``level_dbfs`` over ``level_span``
    (a slice, or a boolean mask ``(N,)``: a session's turns) or, with ``sir_db``, the ratio
    ``sir_db`` against the first talker's image. It is reverberated by a catalog ``reverb``, or
    by the source ``position`` of the scene's room, or not at all."""

    role: str
    dry: Array
    level_dbfs: float
    level_span: Any
    sir_db: float | None = None
    reverb: Reverb | None = None
    position: int | None = None


@dataclass(frozen=True)
class LoadedNoise:
    """The noise ``dry (1, N)`` as read (one channel), its SNR, its room position, and which
    clip it came from (for a refusal at its final level)."""

    dry: Array
    snr_db: float
    position: int | None
    clip_id: str
    path: str


@dataclass(frozen=True)
class LoadedScene:
    """A scene with its audio loaded: what `render_batch` mixes, with no file or catalog access.

    ``targets``: the dereverberation targets to write (none for a session); ``enrollment``:
    the enrollment utterance ``(1, L)`` as read; ``late_error``: a read error of the enrollment,
    which the renderer reports only after its own refusals (so that a draw whose noise is too
    quiet and whose enrollment is unreadable is refused for its noise, as it always was);
    ``segments``: each source's catalog facts (`talker_segment`) for the labels.

    Mixing consumes it: its arrays are scaled in place and become the rendered signals."""

    scene: Scene
    subtype: str
    talkers: tuple[Talker, ...]
    noise: LoadedNoise | None
    targets: tuple[str, ...]
    segments: tuple[dict[str, Any], ...]
    enrollment: Array | None = None
    late_error: AudioError | None = None

    def map_arrays(self, convert: Callable[[Any], Any]) -> LoadedScene:
        """A copy with every signal array passed through ``convert`` (e.g. onto a backend)."""

        def reverb(r: Reverb | None) -> Reverb | None:
            return None if r is None else Reverb(convert(r.rir), convert(r.direct), r.delays, r.measured)

        talkers = tuple(
            dataclasses.replace(
                t,
                dry=convert(t.dry),
                reverb=reverb(t.reverb),
                level_span=t.level_span if isinstance(t.level_span, slice) else convert(t.level_span),
            )
            for t in self.talkers
        )
        noise = None if self.noise is None else dataclasses.replace(self.noise, dry=convert(self.noise.dry))
        enrollment = None if self.enrollment is None else convert(self.enrollment)
        return dataclasses.replace(self, talkers=talkers, noise=noise, enrollment=enrollment)

    def on(self, backend: Backend) -> LoadedScene:
        """The scene's arrays on ``backend`` (floats in its working float; the same arrays on NumPy)."""
        return self.map_arrays(backend.from_numpy)


def load_scene(scene: Scene, clips: Catalog, subtype: str) -> LoadedScene:
    """Read everything ``scene`` needs from the clips of ``clips`` (absolute paths), for an output ``subtype``.

    Raises `AudioError` for a bad clip (unreadable, wrong channels, a RIR that is no room, a
    silent clip) and `CropError` for an unusable crop (``silent_crop``); the clip id is set."""
    rate, n = scene.sample_rate, scene.num_samples
    if scene.type == "diarization":
        talkers = _session_talkers(scene, clips)
    else:
        drys = [load_segment(source.segment, clips, rate, n)[:1] for source in scene.sources]
        spans = [_span(source, clips, rate) for source in scene.sources]
        for source, dry, span in zip(scene.sources, drys, spans, strict=True):
            _refuse_silent(dry[0, span], source.segment, clips, "speech")
        reverbs = [catalog_reverb(source.rir_clip, clips, rate) if source.rir_clip is not None else None for source in scene.sources]
        talkers = tuple(
            Talker(source.role, dry, source.level_dbfs, span, source.sir_db, reverb, None if reverb else source.position)
            for source, dry, span, reverb in zip(scene.sources, drys, spans, reverbs, strict=True)
        )
    noise = None
    if scene.noise is not None:
        dry = _noise_signal(scene.noise, clips, rate, n)
        _refuse_silent(dry, scene.noise.segment, clips, "noise")
        clip = clips.by_id(scene.noise.segment.clip_id)
        noise = LoadedNoise(dry, scene.noise.snr_db, scene.noise.position, clip.id, str(clips.resolve(clip)))
    enrollment, late_error = None, None
    if scene.enrollment is not None:
        try:
            enrollment = _whole_clip(scene.enrollment, clips, rate)
        except AudioError as err:
            late_error = err
    segments = tuple(talker_segment(source, clips, rate, n) for source in scene.sources)
    targets = () if scene.type == "diarization" else scene.targets
    return LoadedScene(scene, subtype, talkers, noise, targets, segments, enrollment, late_error)


_Piece = TypeVar("_Piece", DecodedClip, Reverb)  # what the cache keeps of a file


class ClipCache:
    """Clips decoded whole and kept in memory, the least recently used dropped first beyond
    ``max_bytes``: for rendering where the same noise clips, RIRs and utterances come back (on the
    fly, epoch after epoch; a build's reused noises). A segment cut from a cached clip equals
    `read_segment`'s bit for bit (`DecodedClip.segment`); a file is looked up by its path and its
    ``stat`` (size, mtime, inode), so a file changed or replaced on disk is decoded again, and a
    file gone is refused as it would be. A clip is decoded whole only when it comes back (its first
    segment is read alone, as without a cache, unless it is most of the clip: a corpus far larger
    than the cache costs little more) and when it would take at most 1/8 of the budget. Process-local: made per worker, never shared."""

    SEEN_KEYS = 1 << 16  # clips remembered as read once
    WHOLE_ENOUGH = 0.8  # a segment of at least this part of its clip decodes the clip whole at once

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()

    def segment(
        self,
        path: str,
        sample_rate: int | None,
        start: int,
        frames: int | None,
        offset: int,
        length: int,
        loop: bool,
        clip_frames: int,
        channels: int,
    ) -> np.ndarray:
        """`read_segment(path, offset, length, loop=, sample_rate=, start=, frames=)` of a clip of
        ``clip_frames`` x ``channels``, from the cache when the clip is there, comes back, or is
        mostly this segment anyway (at least `WHOLE_ENOUGH` of it: decoding it whole costs little more)."""
        key = ("clip", sample_rate, start, frames)
        full = self._key(path, key)  # one stat per segment
        if full not in self._entries and not self._admits((path, *key), length, clip_frames, channels):
            return read_segment(path, offset, length, loop=loop, sample_rate=sample_rate, start=start, frames=frames)
        return self._made(full, lambda: read_clip(path, sample_rate=sample_rate, start=start, frames=frames)).segment(offset, length, loop)

    def clip(self, path: str, sample_rate: int | None, start: int, frames: int | None) -> DecodedClip:
        """The decoded clip (frames ``start .. start + frames`` of ``path``; `read_clip`'s refusals)."""
        key = ("clip", sample_rate, start, frames)
        return self.get(path, key, lambda: read_clip(path, sample_rate=sample_rate, start=start, frames=frames))

    def _admits(self, key: tuple[Any, ...], length: int, clip_frames: int, channels: int) -> bool:
        """Whether a clip not yet cached is decoded whole for a segment of ``length`` frames: it fits
        1/8 of the budget, and the segment is most of it or the clip came back."""
        fits = 8 * clip_frames * channels <= self.max_bytes // 8
        return fits and (length >= self.WHOLE_ENOUGH * clip_frames or self._seen_before(key))

    def _seen_before(self, key: tuple[Any, ...]) -> bool:
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > self.SEEN_KEYS:
            self._seen.popitem(last=False)
        return False

    @staticmethod
    def _key(path: str, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """``(path, *key, size, mtime, inode, device)``: what names a file's derived piece while the file stays as it is."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (path, *key, info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)

    def get(self, path: str, key: tuple[Any, ...], make: Callable[[], _Piece]) -> _Piece:
        """What ``make()`` derives from the file ``path`` (``key`` names it), made once while the file
        stays as it is and the budget holds it; ``make``'s refusals as they are."""
        return self._made(self._key(path, key), make)

    def _made(self, full: tuple[Any, ...] | None, make: Callable[[], _Piece]) -> _Piece:
        if full is None:  # the file cannot be looked at: ``make`` refuses it, with its retries
            return make()
        found = self._entries.get(full)
        if found is not None:
            self.hits += 1
            self._entries.move_to_end(full)
            return found[0]
        self.misses += 1
        value = make()
        size = _nbytes(value)
        if size <= self.max_bytes:
            self._entries[full] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                self.nbytes -= self._entries.popitem(last=False)[1][1]
        return value


def _nbytes(value: DecodedClip | Reverb) -> int:
    if isinstance(value, DecodedClip):
        return value.nbytes
    return int(value.rir.nbytes + value.direct.nbytes)


_CACHE: contextvars.ContextVar[ClipCache | None] = contextvars.ContextVar("audiosynth_clip_cache", default=None)


@contextlib.contextmanager
def active_cache(cache: ClipCache | None) -> Iterator[None]:
    """Within the block, `load_scene` cuts its segments from ``cache`` (None: read each from its file)."""
    token = _CACHE.set(cache)
    try:
        yield
    finally:
        _CACHE.reset(token)


def load_segment(segment: Segment, clips: Catalog, sample_rate: int, num_samples: int) -> np.ndarray:
    """The segment's audio resampled to ``sample_rate`` and placed at its onset in
    ``num_samples`` zeros (anything past the end is cut). Returns ``(C, num_samples)``."""
    clip = clips.by_id(segment.clip_id)
    piece = {} if clip.is_whole_file else {"start": clip.start_frame, "frames": clip.num_samples}
    cache = _CACHE.get()
    try:
        if cache is None:
            audio = read_segment(
                clips.resolve(clip), segment.offset, segment.length, loop=segment.loop, sample_rate=clip.sample_rate, **piece
            )
        else:
            audio = cache.segment(
                str(clips.resolve(clip)),
                clip.sample_rate,
                piece.get("start", 0),
                piece.get("frames"),
                segment.offset,
                segment.length,
                segment.loop,
                clip_frames=clip.num_samples,
                channels=max(clip.num_channels, 1 if clip.channel is None else clip.channel + 1),
            )
    except AudioError as err:
        err.clip_id = clip.id
        raise
    if clip.channel is not None and clip.channel < audio.shape[0]:
        audio = audio[clip.channel : clip.channel + 1]
    elif audio.shape[0] != clip.num_channels or clip.channel is not None:  # the file is not what its catalog row says
        says = f"channel {clip.channel}" if clip.channel is not None else f"{clip.num_channels} channel(s)"
        raise AudioError(
            str(clips.resolve(clip)), "wrong_channels", f"the file has {audio.shape[0]} channel(s), the catalog row says {says}", clip.id
        )
    audio = kernels.resample(audio, clip.sample_rate, sample_rate)
    if segment.onset == 0 and audio.shape[1] == num_samples and audio.flags.c_contiguous:
        return audio  # fills the example already: a fresh array, no copy needed
    out = np.zeros((audio.shape[0], num_samples))
    stop = min(num_samples, segment.onset + audio.shape[1])
    out[:, segment.onset : stop] = audio[:, : stop - segment.onset]
    return out


def catalog_reverb(clip_id: str, clips: Catalog, sample_rate: int) -> Reverb:
    """A measured RIR from the catalog (all its channels), its direct path taken as the
    samples within 2.5 ms of each channel's peak. A RIR that is no room (`kernels.rir_degeneracy`:
    all zeros, or a single impulse) raises `AudioError`, so that the build re-draws the example.
    Made once per file and rate within an `active_cache` (its arrays must not be changed)."""
    cache = _CACHE.get()
    if cache is None:
        return _catalog_reverb(clip_id, clips, sample_rate)
    clip = clips.by_id(clip_id)
    return cache.get(
        str(clips.resolve(clip)),
        ("reverb", clip.start_frame, clip.num_samples, clip.channel, sample_rate),
        lambda: _catalog_reverb(clip_id, clips, sample_rate),
    )


def _catalog_reverb(clip_id: str, clips: Catalog, sample_rate: int) -> Reverb:
    clip = clips.by_id(clip_id)
    rir = load_segment(
        Segment(clip_id, 0, clip.num_samples), clips, sample_rate, kernels.resampled_length(clip.num_samples, clip.sample_rate, sample_rate)
    )
    degenerate = kernels.rir_degeneracy(rir)
    if degenerate is not None:
        detail = "every sample is zero" if degenerate == "silent" else "all its energy is in one sample: no decay"
        raise AudioError(str(clips.resolve(clip)), degenerate, f"RIR: {detail}", clip_id=clip.id)
    delays = np.argmax(np.abs(rir), axis=-1).astype(float)
    direct = np.stack([ch * kernels.direct_window(rir.shape[-1], d, sample_rate) for ch, d in zip(rir, delays, strict=True)])
    return Reverb(rir, direct, delays)


def talker_segment(source: Source, clips: Catalog, rate: int, num_samples: int) -> dict[str, Any]:
    """Where a talker's utterance lies in the example (s), who it is, and its text when whole."""
    seg = source.segment
    clip = clips.by_id(seg.clip_id)
    end = min(num_samples, seg.onset + kernels.resampled_length(seg.length, clip.sample_rate, rate))
    complete = (
        seg.offset == 0
        and seg.length == clip.num_samples
        and end == seg.onset + kernels.resampled_length(clip.num_samples, clip.sample_rate, rate)
    )
    return {
        "role": source.role,
        "speaker": clip.speaker,
        "clip": clip.id,
        "text": clip.text if complete else None,
        "start": seg.onset / rate,
        "end": end / rate,
    }


def _refuse_silent(x: np.ndarray, segment: Segment, clips: Catalog, what: str) -> None:
    """Raise when ``x`` (a segment's audio, at the level read) has an RMS below `SILENT_DBFS`:
    `AudioError` ``silent`` when the segment is the whole clip, else `CropError` ``silent_crop``."""
    level = kernels.rms_dbfs(x)
    if level >= SILENT_DBFS:
        return
    clip = clips.by_id(segment.clip_id)
    whole = segment.loop or (segment.offset == 0 and segment.length >= clip.num_samples)
    detail = f"{what} RMS {level:.1f} dBFS < {SILENT_DBFS:g} dBFS over " + (
        "the whole clip" if whole else f"{segment.length} samples from {segment.offset}"
    )
    raise (AudioError if whole else CropError)(str(clips.resolve(clip)), "silent" if whole else "silent_crop", detail, clip.id)


def _span(source: Source, clips: Catalog, rate: int) -> slice:
    """The samples of the example that a source's segment covers."""
    seg = source.segment
    return slice(seg.onset, seg.onset + kernels.resampled_length(seg.length, clips.by_id(seg.clip_id).sample_rate, rate))


def _noise_signal(noise: Noise, clips: Catalog, rate: int, num_samples: int) -> np.ndarray:
    """The noise segment as one signal ``(1, num_samples)``: the channel (or the channels' mean) the scene names."""
    audio = load_segment(noise.segment, clips, rate, num_samples)
    if noise.channel == "mean":
        return np.asarray(audio.mean(axis=0, keepdims=True))
    channel = int(noise.channel or 0)
    if not 0 <= channel < audio.shape[0]:  # the file no longer has the channels its catalog row says
        clip = clips.by_id(noise.segment.clip_id)
        raise AudioError(str(clips.resolve(clip)), "wrong_channels", f"channel {channel} asked, the file has {audio.shape[0]}", clip.id)
    return np.asarray(audio[channel][None])


def _session_talkers(scene: Scene, clips: Catalog) -> tuple[Talker, ...]:
    """A session's talkers in role order: each role's turns, each at `SESSION_TURN_DBFS`, summed
    into one dry track ``(1, N)`` at the first turn's level and position; the level is measured over the turns."""
    rate, n = scene.sample_rate, scene.num_samples
    tracks: dict[str, tuple[np.ndarray, Source]] = {}
    for source in scene.sources:
        turn = _whole_clip(dataclasses.replace(source.segment, onset=0), clips, rate)
        _refuse_silent(turn, source.segment, clips, "speech")
        turn *= kernels.db_to_gain(SESSION_TURN_DBFS - kernels.rms_dbfs(turn))
        track, _ = tracks.setdefault(source.role, (np.zeros((1, n)), source))
        stop = min(n, source.segment.onset + turn.shape[-1])
        track[:, source.segment.onset : stop] += turn[:, : stop - source.segment.onset]
    return tuple(
        Talker(role, track, first.level_dbfs, np.any(track != 0, axis=0), position=first.position)
        for role, (track, first) in sorted(tracks.items())
    )


def _whole_clip(segment: Segment, clips: Catalog, rate: int) -> np.ndarray:
    """A segment on its own, at the output rate, with its own length: ``(1, L)``."""
    clip = clips.by_id(segment.clip_id)
    return load_segment(segment, clips, rate, kernels.resampled_length(segment.length, clip.sample_rate, rate))[:1]
