"""Device imperfections: a sample clock that runs fast or slow (``clock_drift``: tens of ppm, the
signal resampled by soxr at the drifted rate and kept at its length), level steps of an automatic
gain stage (``gain_jumps``: a few gain changes at drawn times, each ramped over 10 ms) and a DC
offset of the converter (``dc_offset``) and the microphone's own noise (``self_noise``, white or
pink). Drift and gain jumps are linear (every image and the noise get the same one); a DC offset
and self-noise are added to the mixture (they are in the ``distortion``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from . import AtMostZero, Effect, EffectSettings, Gain, Jumps, Ppm, register, uniform

RAMP_S = 0.01  # s over which a gain jump moves from one level to the next


class ClockDriftSettings(EffectSettings):
    ppm: Ppm = (-80.0, 80.0)


def draw_drift(rng: np.random.Generator, settings: ClockDriftSettings, sample_rate: int) -> dict[str, Any]:
    return {"ppm": uniform(rng, settings.ppm)}


def apply_drift(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    """The signal as a converter whose clock runs ``ppm`` fast records it: ``(1 + ppm 1e-6)`` times
    as many samples per second of sound, kept at the input's length (later samples drop or zero)."""
    import soxr

    drifted = sample_rate * (1 + float(params["ppm"]) * 1e-6)
    y = np.asarray(soxr.resample(np.ascontiguousarray(x.T), sample_rate, drifted, quality="VHQ")).T
    n = x.shape[-1]
    return y[:, :n] if y.shape[-1] >= n else np.concatenate([y, np.zeros((y.shape[0], n - y.shape[-1]))], axis=-1)


class GainJumpsSettings(EffectSettings):
    jumps: Jumps = (1, 3)
    gain_db: Gain = (-10.0, 6.0)


def draw_jumps(rng: np.random.Generator, settings: GainJumpsSettings, sample_rate: int) -> dict[str, Any]:
    count = int(rng.integers(settings.jumps[0], settings.jumps[1] + 1))
    return {
        "at": [round(float(t), 6) for t in np.sort(rng.uniform(0.05, 0.95, count))],  # share of the example
        "gain_db": [uniform(rng, settings.gain_db) for _ in range(count)],
    }


def gain_curve(params: dict[str, Any], n: int, sample_rate: int) -> np.ndarray:
    """The gain ``(n,)`` over the example: 1 until the first jump, then each jump's level, reached by a linear ramp."""
    curve = np.ones(n)
    ramp = max(1, int(RAMP_S * sample_rate))
    level = 1.0
    for at, gain_db in zip(params["at"], params["gain_db"], strict=True):
        start = int(at * n)
        target = 10 ** (gain_db / 20)
        stop = min(n, start + ramp)
        curve[start:stop] = np.linspace(level, target, ramp, endpoint=False)[: stop - start]
        curve[stop:] = target
        level = target
    return curve


def apply_jumps(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    return x * gain_curve(params, x.shape[-1], sample_rate)


class DcOffsetSettings(EffectSettings):
    offset_dbfs: AtMostZero = (-60.0, -30.0)


def draw_dc(rng: np.random.Generator, settings: DcOffsetSettings, sample_rate: int) -> dict[str, Any]:
    return {"offset": round(float(10 ** (uniform(rng, settings.offset_dbfs) / 20) * rng.choice([-1.0, 1.0])), 9)}


def apply_dc(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    return x + float(params["offset"])


CLOCK_DRIFT = register(Effect("clock_drift", 15, True, ClockDriftSettings, draw_drift, apply_drift))
GAIN_JUMPS = register(Effect("gain_jumps", 20, True, GainJumpsSettings, draw_jumps, apply_jumps))
DC_OFFSET = register(Effect("dc_offset", 25, False, DcOffsetSettings, draw_dc, apply_dc))


class SelfNoiseSettings(EffectSettings):
    level_dbfs: AtMostZero = (-85.0, -60.0)
    pink_probability: float = Field(0.5, ge=0, le=1, description="share of pink (1/f) self-noise; else white")


def draw_self_noise(rng: np.random.Generator, settings: SelfNoiseSettings, sample_rate: int) -> dict[str, Any]:
    return {
        "level_dbfs": uniform(rng, settings.level_dbfs),
        "pink": bool(rng.random() < settings.pink_probability),
        "seed": int(rng.integers(2**31)),
    }


def self_noise(params: dict[str, Any], shape: tuple[int, ...], sample_rate: int) -> np.ndarray:
    """The microphone's own noise ``shape`` at ``level_dbfs`` RMS (each channel its own): white, or
    pink (power falling 3 dB an octave above 20 Hz), from the step's ``seed``."""
    noise = np.random.default_rng(int(params["seed"])).standard_normal(shape)
    if params["pink"]:
        n = shape[-1]
        spectrum = np.fft.rfft(noise, axis=-1)
        spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / sample_rate), 20.0))
        noise = np.fft.irfft(spectrum, n, axis=-1)
    rms = np.sqrt(np.mean(noise**2, axis=-1, keepdims=True))
    return np.asarray(noise / np.maximum(rms, 1e-20) * 10 ** (params["level_dbfs"] / 20))


def apply_self_noise(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    return x + self_noise(params, x.shape, sample_rate)


SELF_NOISE = register(Effect("self_noise", 12, False, SelfNoiseSettings, draw_self_noise, apply_self_noise))
