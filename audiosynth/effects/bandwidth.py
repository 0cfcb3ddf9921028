"""Bandwidth: a band limit (the squared magnitude of Butterworth high-pass and low-pass filters,
what running them forward and backward gives, applied with zero phase by `effects.zero_phase`: no
delay; -6 dB at each edge) and a resampling path down to a lower rate and back (soxr), as narrow-band devices and
telephone links have. Linear: applied to every image and to the noise.

`effective_bandwidth_hz` measures the frequency below which 99 % of a signal's power lies: the
renderer's ``bandwidth_hz`` label of a chained mixture, measured on the written file again by ``validate``."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field
from scipy import signal

from ..dsp import kernels
from . import Effect, EffectSettings, Orders, Positive, register, sos_magnitude, uniform, zero_phase

PATH_RATES = (8000, 11025, 16000, 22050)  # Hz: rates a resampling path may go through
POWER_SHARE = 0.99  # `effective_bandwidth_hz`: the share of power below the edge


class BandLimitSettings(EffectSettings):
    low_hz: Positive = (50.0, 300.0)
    high_hz: Positive = (3400.0, 7000.0)
    order: Orders = (4, 8)
    path_rates: tuple[Annotated[int, Field(ge=1000, le=384000)], ...] = Field(
        PATH_RATES, description="rates of a resampling path; one below the output rate is drawn"
    )
    path_probability: float = Field(0.5, ge=0, le=1, description="share of band limits that also resample down and up")


def draw(rng: np.random.Generator, settings: BandLimitSettings, sample_rate: int) -> dict[str, Any]:
    high = min(uniform(rng, settings.high_hz), 0.45 * sample_rate)
    low = min(uniform(rng, settings.low_hz), 0.5 * high)
    order = int(rng.integers(settings.order[0], settings.order[1] + 1))
    below = [r for r in settings.path_rates if r < sample_rate]
    path = int(rng.choice(below)) if below and rng.random() < settings.path_probability else None
    if path is not None:
        high = min(high, 0.45 * path)
    return {"low_hz": low, "high_hz": high, "order": order, "path_rate": path}


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    y = x
    if params.get("path_rate"):
        down = kernels.resample(np.ascontiguousarray(x), sample_rate, int(params["path_rate"]))
        y = kernels.resample(down, int(params["path_rate"]), sample_rate)
        y = _fit(y, x.shape[-1])
    half = max(1, int(params["order"]) // 2)  # forward and backward: twice each section's order
    sos = np.concatenate(
        [
            signal.butter(half, params["low_hz"], "highpass", fs=sample_rate, output="sos"),
            signal.butter(half, params["high_hz"], "lowpass", fs=sample_rate, output="sos"),
        ]
    )

    return zero_phase(y, lambda freqs: sos_magnitude(sos, freqs, sample_rate) ** 2, sample_rate)


def effective_bandwidth_hz(x: np.ndarray, sample_rate: int, share: float = POWER_SHARE) -> float:
    """The frequency (Hz) below which ``share`` of the power of ``x (..., N)`` lies (its first
    channel; mean power spectrum of Hann-windowed 32 ms frames, half overlapping, all transformed
    in one call). 0 for silence."""
    first = np.asarray(x, float).reshape(-1, np.shape(x)[-1])[0]
    if not np.any(first):
        return 0.0
    size = min(len(first), sample_rate // 1000 * 32)
    frames = np.lib.stride_tricks.sliding_window_view(first, size)[:: max(1, size // 2)]
    power = (np.abs(np.fft.rfft(frames * np.hanning(size), axis=-1)) ** 2).mean(0)
    cumulative = np.cumsum(power)
    return float(np.fft.rfftfreq(size, 1 / sample_rate)[int(np.searchsorted(cumulative, share * cumulative[-1]))])


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples."""
    if y.shape[-1] >= n:
        return y[..., :n]
    return np.concatenate([y, np.zeros((*y.shape[:-1], n - y.shape[-1]))], axis=-1)


BAND_LIMIT = register(Effect("band_limit", 40, True, BandLimitSettings, draw, apply))
