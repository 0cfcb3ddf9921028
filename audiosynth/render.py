"""Render a Scene into signals and labels. Makes no random choice.

Signals come back already on the output grid (quantized for PCM subtypes), and every label
is measured on them, so labels describe the written files exactly. The images that sum to
the mixture are the sources' images and ``noise``; for PCM output ``noise`` is defined as
``mix - Σ images`` on the integer grid, so the invariant holds exactly in the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from . import kernels
from .audio import SUBTYPE_BITS, read_segment
from .catalog import Catalog
from .room import simulate_rir
from .scene import Scene, Segment


@dataclass(frozen=True)
class Rendered:
    """One rendered example: ``audio`` maps a role (mix, clean, noise, ...) to ``(C, N)`` samples."""

    scene: Scene
    audio: dict[str, np.ndarray]
    labels: dict[str, Any]


def load_segment(segment: Segment, clips: Catalog, sample_rate: int, num_samples: int) -> np.ndarray:
    """The segment's audio resampled to ``sample_rate`` and placed at its onset in
    ``num_samples`` zeros (anything past the end is cut). Returns ``(C, num_samples)``."""
    clip = clips.by_id(segment.clip_id)
    audio = read_segment(clips.resolve(clip), segment.offset, segment.length, loop=segment.loop)
    audio = kernels.resample(audio, clip.sample_rate, sample_rate)
    if segment.onset == 0 and audio.shape[1] == num_samples and audio.flags.c_contiguous:
        return audio  # fills the example already: a fresh array, no copy needed
    out = np.zeros((audio.shape[0], num_samples))
    stop = min(num_samples, segment.onset + audio.shape[1])
    out[:, segment.onset : stop] = audio[:, : stop - segment.onset]
    return out


def load_rir(clip_id: str, clips: Catalog, sample_rate: int) -> np.ndarray:
    """A catalog RIR, whole, resampled to ``sample_rate``: ``(M, K)``."""
    clip = clips.by_id(clip_id)
    return load_segment(Segment(clip_id, 0, clip.num_samples), clips, sample_rate, kernels.resampled_length(clip.num_samples, clip.sample_rate, sample_rate))


def _total(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """``sum(arrays)``, but the array itself (no copy) when there is only one."""
    arrays = list(arrays)
    return arrays[0] if len(arrays) == 1 else np.asarray(sum(arrays))


def _quantize_images(images: dict[str, np.ndarray], noise: np.ndarray, mix: np.ndarray, subtype: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Put the images, noise and their mixture ``mix`` (``Σ images + noise``) on the output grid
    with ``mix == Σ images + noise`` exact. PCM reuses the arrays passed in: they are overwritten."""
    if subtype == "FLOAT":
        images = {role: x.astype(np.float32).astype(np.float64) for role, x in images.items()}
        noise = noise.astype(np.float32).astype(np.float64)
        mix = (sum(x.astype(np.float32) for x in images.values()) + noise.astype(np.float32)).astype(np.float64)
        return images, noise, mix
    bits = SUBTYPE_BITS[subtype]
    mix = kernels.quantize(mix, bits, out=mix)
    images = {role: kernels.quantize(x, bits, out=x) for role, x in images.items()}
    residual = noise if noise.shape == mix.shape else None  # mono noise under a multichannel mix
    return images, np.subtract(mix, _total(images.values()), out=residual), mix


def render(scene: Scene, clips: Catalog, subtype: str = "PCM_16") -> Rendered:
    """Render ``scene`` with clip ids resolved in ``clips`` for an output ``subtype``.

    Args:
        scene: the planned example.
        clips: a catalog holding every clip id the scene names (absolute paths).
        subtype: PCM_16, PCM_24 or FLOAT: the grid the returned signals lie on.
    """
    rate, n = scene.sample_rate, scene.num_samples
    room_rirs = simulate_rir(scene.room, rate) if scene.room else None
    images: dict[str, np.ndarray] = {}
    rirs: dict[str, np.ndarray] = {}
    for source in scene.sources:
        dry = load_segment(source.segment, clips, rate, n)[:1]
        if source.rir_clip is not None:
            rirs[source.role] = load_rir(source.rir_clip, clips, rate)
        elif room_rirs is not None and source.position is not None:
            rirs[source.role] = room_rirs[source.position]
        image = kernels.fft_convolve(dry, rirs[source.role], n) if source.role in rirs else dry
        seg = source.segment
        active_len = kernels.resampled_length(seg.length, clips.by_id(seg.clip_id).sample_rate, rate)
        active = image[:, seg.onset : min(n, seg.onset + active_len)]
        image *= kernels.db_to_gain(source.level_dbfs - kernels.rms_dbfs(active))  # image is a fresh array
        images[source.role] = image
    # The signals are scaled and quantized in place, with as few temporaries as the values
    # allow: allocating (and page-faulting) fresh arrays costs more than the arithmetic.
    speech = _total(images.values())
    if scene.noise is not None:
        noise = load_segment(scene.noise.segment, clips, rate, n)[:1]
        noise *= kernels.gain_for_ratio(speech, noise, scene.noise.snr_db)
    else:
        noise = np.zeros_like(speech)
    mix = speech + noise
    peak = max(kernels.peak(x) for x in (*images.values(), noise, mix))
    limit = kernels.db_to_gain(scene.peak_dbfs)
    gain = min(1.0, limit / peak) if peak > 0 else 1.0
    if gain != 1.0:  # x * 1.0 == x, so the unscaled mixture is already right when gain is 1
        for x in images.values():
            x *= gain
        noise *= gain
        np.add(_total(images.values()), noise, out=mix)
    images, noise, mix = _quantize_images(images, noise, mix, subtype)
    audio = {"mix": mix, **images, "noise": noise}
    labels = measure_labels(scene, audio, rirs, rate, gain, clips, subtype)
    return Rendered(scene, audio, labels)


def measure_labels(scene: Scene, audio: dict[str, np.ndarray], rirs: dict[str, np.ndarray], rate: int, gain: float, clips: Catalog, subtype: str | None = None) -> dict[str, Any]:
    """Labels measured on the final signals (see README, 'Label definitions').

    With a PCM ``subtype`` (the grid the signals lie on) and one source, ``mix - noise`` is
    that source's image exactly, so its energy is not computed twice."""
    energies: dict[str, float] = {}

    def energy(role: str) -> float:
        if role not in energies:
            energies[role] = kernels.energy(audio[role])
        return energies[role]

    if subtype in SUBTYPE_BITS and len(scene.sources) == 1:
        speech_energy = energy(scene.sources[0].role)
    else:
        speech_energy = kernels.energy(audio["mix"] - audio["noise"])
    labels: dict[str, Any] = {
        "snr_db": round(kernels.energy_ratio_db(speech_energy, energy("noise")), 4) if scene.noise else None,
        "mix_dbfs": round(kernels.energy_dbfs(energy("mix"), audio["mix"].size), 4),
        "mix_peak_dbfs": round(kernels.peak_dbfs(audio["mix"]), 4),
        "noise_dbfs": round(kernels.energy_dbfs(energy("noise"), audio["noise"].size), 4),
        "gain_db": round(20 * np.log10(gain), 4),
    }
    for source in scene.sources:
        seg = source.segment
        clip = clips.by_id(seg.clip_id)
        labels[f"{source.role}_dbfs"] = round(kernels.energy_dbfs(energy(source.role), audio[source.role].size), 4)
        labels["speaker"] = clip.speaker
        complete = seg.offset == 0 and seg.length == clip.num_samples and seg.onset + kernels.resampled_length(seg.length, clip.sample_rate, rate) <= scene.num_samples
        labels["text"] = clip.text if complete else None
        labels["speech_clip"] = clip.id
        if source.role in rirs:
            labels["rt60_s"] = round(kernels.rt60_from_rir(rirs[source.role][0], rate), 4)
    if scene.noise:
        labels["noise_clip"] = scene.noise.segment.clip_id
    return labels
