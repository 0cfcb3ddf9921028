"""Device and channel effects: one module per family, a registry by name.

An `Effect` draws its parameters in planning (``draw(rng, settings, sample_rate) -> params``, plain
JSON saved in the Scene's `chain`, so an example re-renders bit for bit) and applies them in
rendering (``apply(params, x, sample_rate) -> y`` on float64 ``(channels, samples)``). A
``linear`` effect is applied to every image and to the noise, so that ``mix == sum(images) +
noise`` still holds; a non-linear one to the finished mixture, the difference written as the
``distortion`` role (`audiosynth.scene.DISTORTION_ROLE`). ``labels(params, before, after, sample_rate)`` gives the
step's measured facts (lost packets, saturated share); the renderer measures the written mixture
itself (`bandwidth.effective_bandwidth_hz`, `clipping.clipped_fraction`), and ``validate`` again.

Effects here: `mic_response` (parametric shelves and a resonance), `band_limit` (band edges and a
resampling path), `clipping` (hard or soft), `codec` (Opus, MP3, AAC, Vorbis, AMR-NB, G.711, G.722
through FFmpeg's encoders, their delay removed), `packet_loss` (Gilbert-Elliott bursts, lost
packets zeroed), `clock_drift`, `gain_jumps`, `dc_offset` and `self_noise` (device imperfections), `agc` and
`compressor` (gains driven by the mixture's level, applied to every signal alike). A new effect
is a module that calls `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..registry import Registry


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"min must be <= max (got [{value[0]}, {value[1]}])")
    return value


def _bounded(low: float, high: float, *, open_low: bool = False) -> AfterValidator:
    """A check that both ends of a range lie in ``[low, high]`` (``(low, high]`` with ``open_low``)."""

    def check(value: tuple[float, float]) -> tuple[float, float]:
        if any(v < low or v > high or (open_low and v == low) for v in value):
            side = "(" if open_low else "["
            raise ValueError(f"must lie in {side}{low:g}, {high:g}] (got [{value[0]:g}, {value[1]:g}])")
        return value

    return AfterValidator(check)


_INF = float("inf")
# ranges of effect parameters that a config may not push where an effect fails or means nothing
Positive = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(0.0, _INF, open_low=True)]  # Hz, Q, s, ms
AtMostZero = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(-_INF, 0.0)]  # dBFS levels
AtLeastZero = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(0.0, _INF)]  # dB below a peak, gains
Gain = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(-60.0, 60.0)]  # dB
Share = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(0.0, 0.95)]  # loss rates
Ratio = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(1.0, 100.0)]  # compression ratios
Packets = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(1.0, 1000.0)]  # mean burst lengths
Ppm = Annotated[tuple[float, float], AfterValidator(_ordered), _bounded(-10_000.0, 10_000.0)]


def _counts(low: int, high: int) -> AfterValidator:
    def check(value: tuple[int, int]) -> tuple[int, int]:
        if not low <= value[0] <= value[1] <= high:
            raise ValueError(f"must satisfy {low} <= min <= max <= {high} (got [{value[0]}, {value[1]}])")
        return value

    return AfterValidator(check)


Orders = Annotated[tuple[int, int], _counts(1, 16)]  # filter orders
Jumps = Annotated[tuple[int, int], _counts(0, 20)]  # events in an example


class EffectSettings(BaseModel):
    """An effect's configured ranges; ``weight``: its relative chance among the configured effects."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    weight: float = Field(1.0, gt=0)


@dataclass(frozen=True)
class Effect:
    """A registered effect. ``stage`` orders a chain in the natural order of a capture path
    (microphone 10, its self-noise 12, clock 15, gain 20, AGC 22, compressor 24, converter offset 25, clipping 30,
    band 40, codec 50, network 60)."""

    name: str
    stage: int
    linear: bool
    settings: type[EffectSettings]
    draw: Callable[[np.random.Generator, Any, int], dict[str, Any]]
    apply: Callable[[dict[str, Any], np.ndarray, int], np.ndarray]
    labels: Callable[[dict[str, Any], np.ndarray, np.ndarray, int], dict[str, Any]] | None = None
    control: Callable[[dict[str, Any], np.ndarray, int], dict[str, Any]] | None = None
    """A linear step driven by the mixture (an AGC's gain follows its level): ``control(params, mix,
    rate)`` derives, from the mixture it would colour, what ``apply`` then gets with the params."""


EFFECTS: Registry[Effect] = Registry("effect")


def register(effect: Effect) -> Effect:
    """Add ``effect`` to the registry (its name must be new)."""
    return EFFECTS.add(effect.name, effect)


def effect(name: str) -> Effect:
    """The registered effect ``name``; `ValueError` naming the known ones."""
    return EFFECTS.find(name)


RESPONSE_POINTS = 4097  # a response is evaluated at this many frequencies (0..Nyquist), interpolated between (~2 Hz apart at 16 kHz)
ZERO_PHASE_PAD_S = 0.25  # s of zeros after a signal filtered by `zero_phase`: the filter's two-sided response fits in it


def zero_phase(x: np.ndarray, magnitude: Callable[[np.ndarray], np.ndarray], sample_rate: int) -> np.ndarray:
    """``x (..., N)`` filtered with zero phase by the real ``magnitude(freqs_hz)`` response: one
    FFT of all rows, padded by `ZERO_PHASE_PAD_S` so that the response's two sides do not wrap
    around (what a forward-backward IIR run gives, without its edge transients, and faster)."""
    from scipy import fft

    n = x.shape[-1]
    size = fft.next_fast_len(n + int(ZERO_PHASE_PAD_S * sample_rate), real=True)
    freqs = np.fft.rfftfreq(size, 1 / sample_rate)
    grid = np.linspace(0.0, sample_rate / 2, RESPONSE_POINTS)  # smooth responses: evaluated on a grid, interpolated
    gains = np.interp(freqs, grid, magnitude(grid)) if len(freqs) > RESPONSE_POINTS else magnitude(freqs)
    return np.asarray(fft.irfft(fft.rfft(x, size, axis=-1) * gains, size, axis=-1)[..., :n])


def sos_magnitude(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """|H| of second-order sections ``sos (S, 6)`` at ``freqs_hz``, in real arithmetic:
    |b0 + b1 z + b2 z^2|^2 = b0^2 + b1^2 + b2^2 + 2 (b0 b1 + b1 b2) cos w + 2 b0 b2 cos 2w."""
    w = 2 * np.pi * np.asarray(freqs_hz, float) / sample_rate
    cos1, cos2 = np.cos(w), np.cos(2 * w)
    power = np.ones_like(w)
    for b0, b1, b2, a0, a1, a2 in np.asarray(sos, float):
        num = b0 * b0 + b1 * b1 + b2 * b2 + 2 * (b0 * b1 + b1 * b2) * cos1 + 2 * b0 * b2 * cos2
        den = a0 * a0 + a1 * a1 + a2 * a2 + 2 * (a0 * a1 + a1 * a2) * cos1 + 2 * a0 * a2 * cos2
        power *= num / den
    return np.asarray(np.sqrt(np.maximum(power, 0.0)))


def uniform(rng: np.random.Generator, low_high: tuple[float, float]) -> float:
    """A value drawn uniformly from ``[low, high]``, rounded to 6 significant digits (as saved)."""
    return float(f"{rng.uniform(*low_high):.6g}")


def uniforms(rng: np.random.Generator, settings: EffectSettings, *names: str) -> dict[str, float]:
    """`uniform` of each named range of ``settings``, drawn in that order."""
    return {name: uniform(rng, getattr(settings, name)) for name in names}


from . import agc, bandwidth, clipping, codec, device, packet_loss, response  # noqa: E402, F401  (they register themselves)
