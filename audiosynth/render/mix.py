"""Render a Scene into signals and labels. Makes no random choice.

Signals come back already on the output grid (quantized for PCM subtypes), and every label
is measured on them, so labels describe the written files exactly. Audio roles: ``mix``; the
images that sum to it (each source's role, e.g. ``clean``, and ``noise``); and targets that
do not (``clean_direct``, ``clean_early``). For PCM output ``noise`` is defined as
``mix - Σ images`` on the integer grid, so the invariant holds exactly in the files, on every
channel. All signals are ``(M, N)``: one row per microphone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..acoustics.room import simulate_room
from ..dsp import kernels
from ..io.audio import SUBTYPE_BITS, read_segment
from ..catalog import Catalog
from ..errors import AudioError, CropError
from ..scene import Noise, Scene, Segment, Source

SILENT_DBFS = -90.0  # a crop whose RMS (all its samples, as read) is below this is silent
FLOOR_MARGIN_DB = 20.0  # the written noise must lie this far above the grid's rounding noise


def grid_floor_dbfs(subtype: str) -> float:
    """RMS of the rounding error of the output grid (uniform, one step wide), dBFS: -101.1 for
    PCM_16, -149.3 for PCM_24 and FLOAT (float32 keeps 24 bits of mantissa)."""
    bits = SUBTYPE_BITS.get(subtype, 24)
    return 20.0 * float(np.log10(2.0 ** -(bits - 1) / np.sqrt(12.0)))


def _refuse_silent(x: np.ndarray, segment: Segment, clips: Catalog, what: str) -> None:
    """Raise when ``x`` (a segment's audio, at the level read) has an RMS below `SILENT_DBFS`:
    `AudioError` ``silent`` when the segment is the whole clip, else `CropError` ``silent_crop``."""
    level = kernels.rms_dbfs(x)
    if level >= SILENT_DBFS:
        return
    clip = clips.by_id(segment.clip_id)
    whole = segment.loop or (segment.offset == 0 and segment.length >= clip.num_samples)
    detail = f"{what} RMS {level:.1f} dBFS < {SILENT_DBFS:g} dBFS over " + ("the whole clip" if whole else f"{segment.length} samples from {segment.offset}")
    raise (AudioError if whole else CropError)(str(clips.resolve(clip)), "silent" if whole else "silent_crop", detail, clip.id)


@dataclass(frozen=True)
class Rendered:
    """One rendered example: ``audio`` maps a role (mix, clean, noise, ...) to ``(M, N)`` samples."""

    scene: Scene
    audio: dict[str, np.ndarray]
    labels: dict[str, Any]


@dataclass(frozen=True)
class Reverb:
    """How one signal is reverberated: its RIR ``(M, K)``, the direct path alone ``(M, Kd)``
    and the direct-path delay per microphone (samples)."""

    rir: np.ndarray
    direct: np.ndarray
    delays: np.ndarray


def load_segment(segment: Segment, clips: Catalog, sample_rate: int, num_samples: int) -> np.ndarray:
    """The segment's audio resampled to ``sample_rate`` and placed at its onset in
    ``num_samples`` zeros (anything past the end is cut). Returns ``(C, num_samples)``."""
    clip = clips.by_id(segment.clip_id)
    try:
        audio = read_segment(clips.resolve(clip), segment.offset, segment.length, loop=segment.loop, sample_rate=clip.sample_rate)
    except AudioError as err:
        err.clip_id = clip.id
        raise
    if audio.shape[0] != clip.num_channels:  # the file is not what its catalog row says: a bad clip
        raise AudioError(str(clips.resolve(clip)), "wrong_channels", f"the file has {audio.shape[0]} channel(s), "
                         f"the catalog row says {clip.num_channels}", clip.id)
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
    all zeros, or a single impulse) raises `AudioError`, so that the build re-draws the example."""
    clip = clips.by_id(clip_id)
    rir = load_segment(Segment(clip_id, 0, clip.num_samples), clips, sample_rate, kernels.resampled_length(clip.num_samples, clip.sample_rate, sample_rate))
    degenerate = kernels.rir_degeneracy(rir)
    if degenerate is not None:
        detail = "every sample is zero" if degenerate == "silent" else "all its energy is in one sample: no decay"
        raise AudioError(str(clips.resolve(clip)), degenerate, f"RIR: {detail}", clip_id=clip.id)
    delays = np.argmax(np.abs(rir), axis=-1).astype(float)
    direct = np.stack([ch * kernels.direct_window(rir.shape[-1], d, sample_rate) for ch, d in zip(rir, delays)])
    return Reverb(rir, direct, delays)


def _early(reverb: Reverb, sample_rate: int, early_ms: float) -> np.ndarray:
    """The RIR cut ``early_ms`` after each microphone's direct path."""
    cut = np.round(reverb.delays + early_ms * 1e-3 * sample_rate).astype(int)
    return reverb.rir * (np.arange(reverb.rir.shape[-1]) < cut[:, None])


def _total(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """``sum(arrays)``, but the array itself (no copy) when there is only one."""
    arrays = list(arrays)
    return arrays[0] if len(arrays) == 1 else np.asarray(sum(arrays))


def _stack_filters(filters: list[np.ndarray]) -> np.ndarray:
    """``(T, ..., K)`` from filters of equal leading shape and varying K (zero-padded)."""
    length = max(f.shape[-1] for f in filters)
    return np.stack([np.pad(f, [(0, 0)] * (f.ndim - 1) + [(0, length - f.shape[-1])]) for f in filters])


def _convolve_each(pairs: list[tuple[np.ndarray, np.ndarray]], n: int, backend: str, device: str) -> list[np.ndarray]:
    """Each signal ``(1, L)`` convolved with its filters ``(..., M, K)``, first ``n`` samples: one
    batched call when the filters agree in shape up to K (one room's RIRs), else a call each."""
    lift = lambda x, h: x.reshape((1,) * (h.ndim - 1) + x.shape[-1:])  # noqa: E731  (1, ..., 1, L)
    if len({h.shape[:-1] for _, h in pairs}) > 1:
        return [kernels.fft_convolve(lift(x, h), h, n, backend=backend, device=device) for x, h in pairs]
    if not pairs:
        return []
    signals = np.stack([lift(x, h) for x, h in pairs])
    return list(kernels.fft_convolve(signals, _stack_filters([h for _, h in pairs]), n, backend=backend, device=device))


def _quantize(x: np.ndarray, subtype: str) -> np.ndarray:
    """``x`` on the output grid: float32 values for FLOAT, else PCM rounding (in place)."""
    return x.astype(np.float32).astype(np.float64) if subtype == "FLOAT" else kernels.quantize(x, SUBTYPE_BITS[subtype], out=x)


def _quantize_images(images: dict[str, np.ndarray], noise: np.ndarray, mix: np.ndarray, subtype: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Put the images, noise and their mixture ``mix`` (``Σ images + noise``) on the output grid
    with ``mix == Σ images + noise`` exact: for FLOAT the mixture is the float32 sum, for PCM
    the noise is the integer residual. PCM reuses the arrays passed in: they are overwritten."""
    images = {role: _quantize(x, subtype) for role, x in images.items()}
    if subtype == "FLOAT":
        noise = _quantize(noise, subtype)
        mix = (sum(x.astype(np.float32) for x in images.values()) + noise.astype(np.float32)).astype(np.float64)
        return images, noise, mix
    mix = _quantize(mix, subtype)
    residual = _total(images.values())
    return images, (np.subtract(mix, residual, out=noise) if noise.shape == mix.shape else mix - residual), mix


def render(scene: Scene, clips: Catalog, subtype: str = "PCM_16", *, backend: str = "numpy", device: str = "cpu") -> Rendered:
    """Render ``scene`` with clip ids resolved in ``clips`` for an output ``subtype``.

    Args:
        scene: the planned example.
        clips: a catalog holding every clip id the scene names (absolute paths).
        subtype: PCM_16, PCM_24 or FLOAT: the grid the returned signals lie on.
        backend, device: where room simulation and convolution run (``numpy``/``torch``, ``cpu``/``cuda``).
    """
    rate, n = scene.sample_rate, scene.num_samples
    room = simulate_room(scene.room, rate, backend=backend, device=device) if scene.room else None

    def reverb_of(rir_clip: str | None, position: int | None) -> Reverb | None:
        if rir_clip is not None:
            return catalog_reverb(rir_clip, clips, rate)
        if room is not None and position is not None:
            return Reverb(room[0][position], room[1][position], room[2][position])
        return None

    images: dict[str, np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    reverbs: dict[str, Reverb] = {}
    if scene.type == "diarization":  # each talker's turns summed into one dry track, reverberated once
        tracks = sorted(_talker_tracks(scene, clips).items())
        track_reverbs = [reverb_of(None, first.position) for _, (_, first) in tracks]
        wet = iter(_convolve_each([(track, r.rir) for (_, (track, _)), r in zip(tracks, track_reverbs) if r], n, backend, device))
        for (role, (track, first)), reverb in zip(tracks, track_reverbs):
            turns = np.any(track != 0, axis=0)
            if reverb is not None:
                reverbs[role], track = reverb, next(wet)
            track *= kernels.db_to_gain(first.level_dbfs - kernels.rms_dbfs(track[0, turns]))  # level over its turns
            images[role] = track
        del tracks  # the dry tracks of a reverberated session: not needed past here (long sessions)
    sources = scene.sources if scene.type != "diarization" else ()
    drys = [load_segment(source.segment, clips, rate, n)[:1] for source in sources]
    for source, dry in zip(sources, drys):
        _refuse_silent(_span(dry[0], source, clips, rate), source.segment, clips, "speech")
    source_reverbs = [reverb_of(source.rir_clip, source.position) for source in sources]
    noise_dry = _noise_signal(scene.noise, clips, rate, n) if scene.noise is not None else None
    if noise_dry is not None:
        _refuse_silent(noise_dry, scene.noise.segment, clips, "noise")
    noise_reverb = reverb_of(None, scene.noise.position) if scene.noise is not None else None
    # every signal of the scene convolved with its RIR in one batched call, then the short target filters in another
    wet = iter(_convolve_each([(dry, r.rir) for dry, r in zip(drys, source_reverbs) if r]
                              + ([(noise_dry, noise_reverb.rir)] if noise_dry is not None and noise_reverb else []), n, backend, device))
    names = [t for t in scene.targets if t != "dry"]
    target_filters = lambda r: _stack_filters([r.direct if t == "direct" else _early(r, rate, scene.early_ms) for t in names])  # noqa: E731
    wet_targets = iter(_convolve_each([(dry, target_filters(r)) for dry, r in zip(drys, source_reverbs) if r] if names else [],
                                      n, backend, device))
    for source, dry, reverb in zip(sources, drys, source_reverbs):
        extra: dict[str, np.ndarray] = {}
        if reverb is None:
            image = dry
        else:
            reverbs[source.role], image = reverb, next(wet)  # (M, n)
            if names:
                extra = {f"{source.role}_{t}": x for t, x in zip(names, next(wet_targets))}
            if "dry" in scene.targets:
                extra[f"{source.role}_dry"] = dry.copy()
        if source.sir_db is None or not images:
            gain = kernels.db_to_gain(source.level_dbfs - _active_dbfs(image[0], source, clips, rate))
        else:  # relative to the first talker: Σ first² / Σ this² == sir_db
            gain = kernels.gain_for_ratio(next(iter(images.values())), image, source.sir_db)
        image *= gain  # its own array (or view)
        images[source.role] = image
        targets.update({role: x * gain for role, x in extra.items()})
    speech = _total(images.values())
    if scene.noise is not None:
        noise = next(wet) if noise_reverb is not None else noise_dry
        if noise_reverb is None and speech.shape[0] > 1:
            noise = np.repeat(noise, speech.shape[0], axis=0)
        noise *= kernels.gain_for_ratio(speech, noise, scene.noise.snr_db)
    else:
        noise = np.zeros_like(speech)
    mix = speech + noise
    # the common gain: only the signals that sum to the mixture set it (the mixture's speech keeps
    # its configured level); a target that would still peak above the limit gets its own gain
    peak = max(kernels.peak(x) for x in (*images.values(), noise, mix))
    limit = kernels.db_to_gain(scene.peak_dbfs)
    gain = min(1.0, limit / peak) if peak > 0 else 1.0
    if gain != 1.0:  # x * 1.0 == x, so the unscaled mixture is already right when gain is 1
        for x in (*images.values(), *targets.values(), noise):
            x *= gain
        np.add(_total(images.values()), noise, out=mix)
    target_gains: dict[str, float] = {}
    for role, x in targets.items():
        target_peak = kernels.peak(x)
        target_gains[role] = min(1.0, limit / target_peak) if target_peak > 0 else 1.0
        if target_gains[role] != 1.0:
            x *= target_gains[role]
    if scene.noise is not None:
        _refuse_below_floor(noise, scene.noise.segment, clips, subtype)
    images, noise, mix = _quantize_images(images, noise, mix, subtype)
    targets = {role: _quantize(x, subtype) for role, x in targets.items()}
    if scene.enrollment is not None:
        enrollment = _whole_clip(scene.enrollment, clips, rate)
        targets["enrollment"] = _quantize(enrollment * kernels.db_to_gain(scene.enrollment_dbfs - kernels.rms_dbfs(enrollment)), subtype)
    audio = {"mix": mix, **images, "noise": noise, **targets}
    labels = measure_labels(scene, audio, reverbs, rate, gain, clips)
    labels.update({f"{role}_gain_db": round(20 * np.log10(g), 4) for role, g in target_gains.items()})
    return Rendered(scene, audio, labels)


def _noise_signal(noise: Noise, clips: Catalog, rate: int, num_samples: int) -> np.ndarray:
    """The noise segment as one signal ``(1, num_samples)``: the channel (or the channels' mean) the scene names."""
    audio = load_segment(noise.segment, clips, rate, num_samples)
    if noise.channel == "mean":
        return audio.mean(axis=0, keepdims=True)
    channel = noise.channel or 0
    if not 0 <= channel < audio.shape[0]:  # the file no longer has the channels its catalog row says
        clip = clips.by_id(noise.segment.clip_id)
        raise AudioError(str(clips.resolve(clip)), "wrong_channels", f"channel {channel} asked, the file has {audio.shape[0]}", clip.id)
    return audio[channel][None]


def _refuse_below_floor(noise: np.ndarray, segment: Segment, clips: Catalog, subtype: str) -> None:
    """`CropError` ``silent_crop`` when the noise, at its final level, is less than
    `FLOOR_MARGIN_DB` above the output grid's rounding noise: the written ``snr_db`` would then
    measure the rounding, not the noise drawn."""
    level, floor = kernels.rms_dbfs(noise), grid_floor_dbfs(subtype) + FLOOR_MARGIN_DB
    if level < floor:
        clip = clips.by_id(segment.clip_id)
        raise CropError(str(clips.resolve(clip)), "silent_crop", f"noise at {level:.1f} dBFS after the SNR gain, below {floor:.1f} dBFS "
                        f"({subtype} floor + {FLOOR_MARGIN_DB:g} dB)", clip.id)


def _talker_tracks(scene: Scene, clips: Catalog) -> dict[str, tuple[np.ndarray, Source]]:
    """Per role, the dry track ``(1, N)`` holding all its turns, each at the same RMS, and the
    role's first turn (its level and position)."""
    rate, n = scene.sample_rate, scene.num_samples
    tracks: dict[str, tuple[np.ndarray, Source]] = {}
    for source in scene.sources:
        turn = _whole_clip(dataclasses.replace(source.segment, onset=0), clips, rate)
        _refuse_silent(turn, source.segment, clips, "speech")
        turn *= kernels.db_to_gain(-20.0 - kernels.rms_dbfs(turn))
        track, _ = tracks.setdefault(source.role, (np.zeros((1, n)), source))
        stop = min(n, source.segment.onset + turn.shape[-1])
        track[:, source.segment.onset : stop] += turn[:, : stop - source.segment.onset]
    return tracks


def _whole_clip(segment: Segment, clips: Catalog, rate: int) -> np.ndarray:
    """A segment on its own, at the output rate, with its own length: ``(1, L)``."""
    clip = clips.by_id(segment.clip_id)
    return load_segment(segment, clips, rate, kernels.resampled_length(segment.length, clip.sample_rate, rate))[:1]


def _span(x: np.ndarray, source: Source, clips: Catalog, rate: int) -> np.ndarray:
    """The samples of ``x (..., N)`` that a source's segment covers in the example."""
    seg = source.segment
    active_len = kernels.resampled_length(seg.length, clips.by_id(seg.clip_id).sample_rate, rate)
    return x[..., seg.onset : seg.onset + active_len]


def _active_dbfs(image: np.ndarray, source: Source, clips: Catalog, rate: int) -> float:
    """RMS level (dBFS) of a source's image over the samples its segment covers."""
    return kernels.rms_dbfs(_span(image, source, clips, rate))


def measure_labels(scene: Scene, audio: dict[str, np.ndarray], reverbs: dict[str, Reverb], rate: int, gain: float, clips: Catalog) -> dict[str, Any]:
    """Labels measured on the final signals and the RIRs applied (see README, 'Label definitions')."""
    noise_energy = kernels.energy(audio["noise"])
    roles = list(dict.fromkeys(s.role for s in scene.sources))
    labels: dict[str, Any] = {
        "snr_db": round(kernels.energy_ratio_db(kernels.energy(audio["mix"] - audio["noise"]), noise_energy), 4) if scene.noise else None,
        "mix_dbfs": round(kernels.rms_dbfs(audio["mix"]), 4),
        "mix_peak_dbfs": round(kernels.peak_dbfs(audio["mix"]), 4),
        "noise_dbfs": round(kernels.energy_dbfs(noise_energy, audio["noise"].size), 4),
        "gain_db": round(20 * np.log10(gain), 4),
    }
    segments = [talker_segment(source, clips, rate, scene.num_samples) for source in scene.sources]
    if scene.type != "diarization":  # what speech_level_dbfs set: the first talker over its utterance
        first = scene.sources[0]
        labels["speech_level_dbfs"] = round(_active_dbfs(audio[first.role][0], first, clips, rate), 4)
    for source in {s.role: s for s in reversed(scene.sources)}.values():  # the first source of each role
        labels[f"{source.role}_dbfs"] = round(kernels.rms_dbfs(audio[source.role]), 4)
        if source.role in reverbs:
            labels.update({(k if len(roles) == 1 else f"{source.role}_{k}"): v for k, v in reverb_labels(reverbs[source.role], rate, scene, source).items()})
    if len(roles) == 1:
        labels.update(speaker=segments[0]["speaker"], text=segments[0]["text"], speech_clip=segments[0]["clip"])
    else:
        speaker_of_role = {seg["role"]: seg["speaker"] for seg in segments}
        labels["speakers"] = [speaker_of_role[role] for role in roles]
        labels["sir_db"] = {role: round(kernels.power_ratio_db(audio[role], sum(audio[r] for r in roles if r != role)), 4) for role in roles}
        labels["segments"] = segments
        labels["overlap_ratio"] = round(kernels.overlap_ratio([(round(seg["start"] * rate), round(seg["end"] * rate)) for seg in segments]), 4)
    if scene.type == "diarization":
        labels.update(activity_labels(scene, audio, roles, {seg["role"]: seg["speaker"] for seg in segments}))
    elif len(roles) > 1:  # speech overlap measured on the written images (see activity_labels)
        spans = [span for role in roles for span in kernels.activity_segments(audio[role][0], rate, scene.activity_db)]
        labels["activity_overlap_ratio"] = round(kernels.overlap_ratio(spans), 4)
    if scene.noise:
        labels["noise_clip"] = scene.noise.segment.clip_id
    if scene.enrollment is not None:
        labels.update(enrollment_clip=scene.enrollment.clip_id, target_speaker=segments[0]["speaker"],
                      enrollment_duration=audio["enrollment"].shape[-1] / rate)
    return labels


def activity_labels(scene: Scene, audio: dict[str, np.ndarray], roles: list[str], speakers: dict[str, str]) -> dict[str, Any]:
    """Speech activity measured on each talker's written image (first microphone): ``activity``
    rows (role, speaker, start, end in s) for the RTTM, and the speech and overlap ratios."""
    rate = scene.sample_rate
    rows, intervals = [], []
    for role in roles:
        for start, end in kernels.activity_segments(audio[role][0], rate, scene.activity_db):
            rows.append({"role": role, "speaker": speakers[role], "start": start / rate, "end": end / rate})
            intervals.append((start, end))
    rows.sort(key=lambda r: (r["start"], r["role"]))
    covered, overlapped = kernels.coverage(intervals)
    return {"activity": rows, "speech_ratio": round(covered / scene.num_samples, 4),
            "activity_overlap_ratio": round(overlapped / covered if covered else 0.0, 4)}


def talker_segment(source: Source, clips: Catalog, rate: int, num_samples: int) -> dict[str, Any]:
    """Where a talker's utterance lies in the example (s), who it is, and its text when whole."""
    seg = source.segment
    clip = clips.by_id(seg.clip_id)
    end = min(num_samples, seg.onset + kernels.resampled_length(seg.length, clip.sample_rate, rate))
    complete = seg.offset == 0 and seg.length == clip.num_samples and end == seg.onset + kernels.resampled_length(clip.num_samples, clip.sample_rate, rate)
    return {"role": source.role, "speaker": clip.speaker, "clip": clip.id, "text": clip.text if complete else None,
            "start": seg.onset / rate, "end": end / rate}


def reverb_labels(reverb: Reverb, rate: int, scene: Scene, source: Source) -> dict[str, Any]:
    """RT60 (T20, T30), DRR and C50 of the first microphone's RIR; per microphone the direct-path
    delay (samples) and, in simulated rooms, the source distance (m). An RT60 that cannot be
    measured is None, and ``rt60_reason`` (one of `kernels.RT60_REASONS`) says why."""
    first, delay = reverb.rir[0], float(reverb.delays[0])
    (t20, t30), reason = kernels.measure_rt60(first, rate, (20.0, 30.0))
    labels: dict[str, Any] = {
        "rt60_s": None if t20 is None else round(t20, 4),
        "rt60_t30_s": None if t30 is None else round(t30, 4),
        **({"rt60_reason": reason} if reason else {}),
        "drr_db": round(kernels.drr_db(first, delay, rate), 4),
        "c50_db": round(kernels.clarity_db(first, delay, rate), 4),
        "direct_delay_samples": [round(float(d), 3) for d in reverb.delays],
    }
    if scene.room is not None and source.position is not None:
        labels["distance_m"] = [round(float(d), 4) for d in scene.room.distances_m()[source.position]]
    return labels
