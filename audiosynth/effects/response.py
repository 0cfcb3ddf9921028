"""Microphone and device frequency responses: a low shelf, a high shelf and a resonance (the
magnitude of RBJ audio-EQ biquads, applied with zero phase, `effects.zero_phase`: no delay, so the
targets stay aligned). Linear: applied to every image and to the noise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import Effect, EffectSettings, Gain, Positive, register, sos_magnitude, uniforms, zero_phase


class MicResponseSettings(EffectSettings):
    low_shelf_hz: Positive = (100.0, 400.0)
    low_shelf_db: Gain = (-12.0, 3.0)
    high_shelf_hz: Positive = (2000.0, 6000.0)
    high_shelf_db: Gain = (-9.0, 6.0)
    peak_hz: Positive = (1000.0, 5000.0)
    peak_db: Gain = (-6.0, 9.0)
    peak_q: Positive = (0.7, 4.0)


def draw(rng: np.random.Generator, settings: MicResponseSettings, sample_rate: int) -> dict[str, Any]:
    fields = ("low_shelf_hz", "low_shelf_db", "high_shelf_hz", "high_shelf_db", "peak_hz", "peak_db", "peak_q")
    params: dict[str, Any] = uniforms(rng, settings, *fields)
    nyquist = 0.45 * sample_rate
    return {k: min(v, nyquist) if k.endswith("_hz") else v for k, v in params.items()}


def sections(params: dict[str, Any], sample_rate: int) -> np.ndarray:
    """The response as second-order sections ``(3, 6)``, each with half its gain in dB (the
    magnitude applied is their response squared)."""
    half = 0.5
    return np.stack(
        [
            _shelf(params["low_shelf_hz"], half * params["low_shelf_db"], sample_rate, high=False),
            _shelf(params["high_shelf_hz"], half * params["high_shelf_db"], sample_rate, high=True),
            _peak(params["peak_hz"], half * params["peak_db"], params["peak_q"], sample_rate),
        ]
    )


def response_db(params: dict[str, Any], freqs_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """The applied magnitude response (dB) at ``freqs_hz``."""
    h = sos_magnitude(sections(params, sample_rate), freqs_hz, sample_rate)
    return 2 * 20 * np.log10(np.maximum(h, 1e-300))  # the half-dB sections squared


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    sos = sections(params, sample_rate)
    return zero_phase(x, lambda f: sos_magnitude(sos, f, sample_rate) ** 2, sample_rate)  # the half-dB sections squared


def _shelf(f0: float, gain_db: float, rate: int, high: bool) -> np.ndarray:
    a, w = 10 ** (gain_db / 40), 2 * math.pi * f0 / rate
    cos, alpha = math.cos(w), math.sin(w) / 2 * math.sqrt(2)  # shelf slope 1
    root = 2 * math.sqrt(a) * alpha
    if high:
        b = [a * ((a + 1) + (a - 1) * cos + root), -2 * a * ((a - 1) + (a + 1) * cos), a * ((a + 1) + (a - 1) * cos - root)]
        den = [(a + 1) - (a - 1) * cos + root, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - root]
    else:
        b = [a * ((a + 1) - (a - 1) * cos + root), 2 * a * ((a - 1) - (a + 1) * cos), a * ((a + 1) - (a - 1) * cos - root)]
        den = [(a + 1) + (a - 1) * cos + root, -2 * ((a - 1) + (a + 1) * cos), (a + 1) + (a - 1) * cos - root]
    return np.r_[b, den] / den[0]


def _peak(f0: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    a, w = 10 ** (gain_db / 40), 2 * math.pi * f0 / rate
    alpha = math.sin(w) / (2 * q)
    b = [1 + alpha * a, -2 * math.cos(w), 1 - alpha * a]
    den = [1 + alpha / a, -2 * math.cos(w), 1 - alpha / a]
    return np.r_[b, den] / den[0]


MIC_RESPONSE = register(Effect("mic_response", 10, True, MicResponseSettings, draw, apply))
