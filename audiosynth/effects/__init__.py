"""Device and channel effects: one module per family, a registry by name.

An `Effect` draws its parameters in planning (``draw(rng, settings, sample_rate) -> params``, plain
JSON saved in the Scene's `chain`, so an example re-renders bit for bit) and applies them in
rendering (``apply(params, x, sample_rate) -> y`` on float64 ``(channels, samples)``). A
``linear`` effect is applied to every image and to the noise, so that ``mix == sum(images) +
noise`` still holds; a non-linear one to the finished mixture, the difference written as the
``distortion`` role (`DISTORTION_ROLE`). ``labels(params, before, after, sample_rate)`` gives the
step's measured facts (lost packets, saturated share); the renderer measures the written mixture
itself (`bandwidth.effective_bandwidth_hz`, `clipping.clipped_fraction`), and ``validate`` again.

Effects here: `mic_response` (parametric shelves and a resonance), `band_limit` (band edges and a
resampling path), `clipping` (hard or soft), `packet_loss` (Gilbert-Elliott bursts, lost packets
zeroed). A new effect is a module that calls `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..scene import DISTORTION_ROLE  # noqa: F401  (what non-linear steps changed in the mixture)


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"min must be <= max (got [{value[0]}, {value[1]}])")
    return value


Range = Annotated[tuple[float, float], AfterValidator(_ordered)]


class EffectSettings(BaseModel):
    """An effect's configured ranges; ``weight``: its relative chance among the configured effects."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    weight: float = Field(1.0, gt=0)


@dataclass(frozen=True)
class Effect:
    """A registered effect. ``stage`` orders a chain in the natural order of a capture path
    (microphone 10, dynamics 20, clipping 30, band 40, codec 50, network 60)."""

    name: str
    stage: int
    linear: bool
    settings: type[EffectSettings]
    draw: Callable[[np.random.Generator, Any, int], dict[str, Any]]
    apply: Callable[[dict[str, Any], np.ndarray, int], np.ndarray]
    labels: Callable[[dict[str, Any], np.ndarray, np.ndarray, int], dict[str, Any]] | None = None


EFFECTS: dict[str, Effect] = {}


def register(effect: Effect) -> Effect:
    """Add ``effect`` to the registry (its name must be new)."""
    if effect.name in EFFECTS:
        raise ValueError(f"effect {effect.name!r} is registered twice")
    EFFECTS[effect.name] = effect
    return effect


def effect(name: str) -> Effect:
    """The registered effect ``name``; `KeyError` naming the known ones."""
    try:
        return EFFECTS[name]
    except KeyError:
        raise KeyError(f"unknown effect {name!r} (known: {', '.join(sorted(EFFECTS))})") from None


def uniform(rng: np.random.Generator, low_high: tuple[float, float]) -> float:
    """A value drawn uniformly from ``[low, high]``, rounded to 6 significant digits (as saved)."""
    return float(f"{rng.uniform(*low_high):.6g}")


from . import bandwidth, clipping, packet_loss, response  # noqa: E402, F401  (they register themselves)
