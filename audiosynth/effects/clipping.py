"""Clipping: an overdriven input stage, hard (samples cut at a threshold) or soft (a tanh
saturation of the same threshold). The threshold is drawn in dB below the mixture's peak, so that
it bites whatever the level. Non-linear: applied to the mixture (the difference: `distortion`).

Measured on the written mixture: ``clipped_fraction``, the share of samples at its peak (hard
clipping: the samples cut at the threshold; ``validate`` counts them in the file again). Soft
saturation has no flat top to count; its label ``saturated_fraction`` is the share of samples
driven past the threshold, from the mixture before it."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from . import AtLeastZero, Effect, EffectSettings, register, uniform

AT_PEAK = 1 - 1e-6  # a sample within this ratio of the written peak counts as clipped (hard clipping)


class ClippingSettings(EffectSettings):
    below_peak_db: AtLeastZero = (1.0, 12.0)
    soft_probability: float = Field(0.5, ge=0, le=1, description="share of soft (tanh) saturations")


def draw(rng: np.random.Generator, settings: ClippingSettings, sample_rate: int) -> dict[str, Any]:
    return {"below_peak_db": uniform(rng, settings.below_peak_db), "soft": bool(rng.random() < settings.soft_probability)}


def threshold(params: dict[str, Any], x: np.ndarray) -> float:
    """The clipping level (linear) for the mixture ``x``: ``below_peak_db`` under its peak."""
    return float(np.max(np.abs(x))) * 10 ** (-params["below_peak_db"] / 20)


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    t = threshold(params, x)
    if t <= 0:
        return x.copy()
    if params["soft"]:
        return t * np.tanh(x / t)
    return np.clip(x, -t, t)


def clipped_fraction(y: np.ndarray) -> float:
    """Share of the samples of ``y`` at its peak (within `AT_PEAK`): hard clipping's flat tops."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return float(np.mean(np.abs(y) >= peak * AT_PEAK)) if peak > 0 else 0.0


def labels(params: dict[str, Any], before: np.ndarray, after: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """The step's measured labels: ``clipped_fraction`` on the output (hard), ``saturated_fraction``
    from the input (soft)."""
    if params["soft"]:
        t = threshold(params, before)
        return {"saturated_fraction": round(float(np.mean(np.abs(before) > t)) if t > 0 else 0.0, 6)}
    return {"clipped_fraction": round(clipped_fraction(after), 6)}


CLIPPING = register(Effect("clipping", 30, False, ClippingSettings, draw, apply, labels))
