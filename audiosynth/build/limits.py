"""Memory cost of rendering one example, estimated from the config and catalogs before any work.

`check_memory` (part of the build's pre-flight) refuses a config whose largest example would
need more than ``limits.max_example_memory_gb`` to render, naming the field that drives the
cost, the cost and the limit. The model is an upper bound of the peak of `render` plus the
encoding of the example's files, from the largest example the config allows:

- signals: ``samples × channels × written signals × 8 bytes × factor``; the factor is
  `DRY_FACTOR` without reverberation and `REVERB_FACTOR` with it (the batched convolution's
  block spectra and pieces);
- room impulse responses: ``sources × microphones × bands × RIR samples × 8 bytes × 4``;
- image sources: the simulator's working arrays per image (see `_images_bytes`).

Factors measured with ``python benchmarks/bench_memory.py`` (peak RSS over the process's
baseline while rendering and encoding one diarization session of 4 talkers, demo corpus, 16 kHz,
NumPy, 2026-12): 13.0–13.9 bytes per sample and written signal without reverb (factor 1.6–1.7;
1125 MB for 15 minutes), 15.5–16.7 with a simulated room at RT60 0.7 s (factor 1.9–2.1;
1343–1356 MB for 15 minutes) plus ~70 MB of convolution buffers whatever the length;
pyroomacoustics' ISM 243–245 bytes per image and source (orders 91–274), `simulate_ism`
without a tail 47–54 per image, with a tail 56 per point of its search grid.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import PreflightError

if TYPE_CHECKING:
    from ..plan.pools import Catalogs

DRY_FACTOR = 2.0  # bytes per float64 sample of a written signal / 8, without reverberation (measured 1.6-1.7)
REVERB_FACTOR = 2.5  # the same with reverberation (measured 1.9-2.1)
REVERB_OVERHEAD = 100e6  # bytes of overlap-add buffers and FFT plans, any length (measured ~70 MB)
SPEED_OF_SOUND = 343.0  # m/s, as audiosynth.rir
GB = 1e9


def longest_example_s(config: Config, catalogs: Catalogs) -> tuple[float, str]:
    """The longest example the config allows (s) and the config field that sets it."""
    longest_clip = max((c.duration for c in catalogs.speech), default=0.0)
    if config.task == "diarization":
        s = config.session
        return s.duration_s[1] + s.pause_s[1] + longest_clip + s.pause_s[0], "session.duration_s"
    talkers = config.talkers.count[1]
    if talkers > 1:
        chained = talkers if config.talkers.overlap == "ratio" else 1  # ratio: utterances one after the other
        return chained * longest_clip, "talkers.count"
    if config.task == "asr":  # never crops an utterance
        return max(config.duration_s[1], longest_clip), "duration_s"
    return config.duration_s[1], "duration_s"


def _signals_and_channels(config: Config, catalogs: Catalogs) -> tuple[int, int, int]:
    """Written signals of the largest example, its channels, and its talkers."""
    talkers = config.session.speakers[1] if config.task == "diarization" else config.talkers.count[1]
    reverb = config.reverb.probability > 0
    array = config.reverb.room.array
    if not reverb:
        channels = 1
    elif config.reverb.source == "catalog":
        channels = max((c.num_channels for c in catalogs.rirs), default=1)
    else:
        channels = 1 if array.type == "single" else len(array.positions_m or ()) if array.type == "explicit" else array.num_mics
    targets = sum(getattr(config.targets, t) for t in ("direct", "early", "dry")) if reverb and config.task != "diarization" else 0
    return 2 + talkers * (1 + targets) + config.talkers.enrollment, channels, talkers


def _images_bytes(config: Config, sources: int, mics: int) -> float:
    """Peak bytes of the image-source part of one simulated room (the smallest room allowed, the
    largest RT60: the most images)."""
    room = config.reverb.room
    size = (room.length_m[0], room.width_m[0], room.height_m[0])
    rt60 = room.rt60_s[1] if room.wall_absorption is None else 10.0  # absorption drawn per wall: no RT60 bound known here
    early_s = config.reverb.early_s
    if config.reverb.simulator == "ism" and early_s is not None:  # images within c * early_s, found on a grid
        grid = math.prod(2 * (math.ceil(SPEED_OF_SOUND * early_s / side) + 1) + 1 for side in size)
        return grid * (32.0 + 24.0 * sources * mics)
    inner = min(a * b / math.hypot(a, b) for a, b in ((size[0], size[1]), (size[0], size[2]), (size[1], size[2])))
    order = max(math.ceil(SPEED_OF_SOUND * rt60 / inner - 1), 0)  # pyroomacoustics' inverse_sabine order
    images = (2 * order + 1) * (2 * order * order + 2 * order + 3) / 3  # the L1 ball of that order
    per_image = 56.0 if config.reverb.simulator == "ism" else (200.0 + 48.0 * mics) * sources
    return images * per_image


def example_memory(config: Config, catalogs: Catalogs) -> tuple[float, str, float]:
    """``(bytes, field, seconds)``: the estimated peak memory of rendering the config's largest
    example, the field that drives it, and that example's length."""
    seconds, field = longest_example_s(config, catalogs)
    signals, channels, talkers = _signals_and_channels(config, catalogs)
    samples = seconds * config.sample_rate
    reverb = config.reverb.probability > 0
    cost = samples * channels * signals * 8.0 * (REVERB_FACTOR if reverb else DRY_FACTOR)
    if reverb and config.reverb.source == "simulated":
        room = config.reverb.room
        diagonal = math.dist((0, 0, 0), (room.length_m[1], room.width_m[1], room.height_m[1]))
        rt60 = room.rt60_s[1] if room.wall_absorption is None else 10.0
        rir_samples = (1.1 * rt60 + diagonal / SPEED_OF_SOUND) * config.sample_rate
        bands = 6 if room.octave_bands else 1
        sources = talkers + 1
        rir_cost = sources * channels * bands * rir_samples * 8.0 * 4
        images = _images_bytes(config, sources, channels)
        if rir_cost + images > cost:
            field = (
                "reverb.early_s"
                if config.reverb.simulator == "ism" and config.reverb.early_s is not None and images > rir_cost
                else "reverb.room.rt60_s"
            )
        cost += rir_cost + images + REVERB_OVERHEAD
    return cost, field, seconds


def check_early_s(config: Config) -> None:
    """Refuse (`PreflightError`) a simulated room whose ``early_s`` is too short for the sample
    rate: `audiosynth.rir.simulate_ism` needs the image sources to cover the longest direct path,
    its fractional-delay filter (``2 * FD_HALF`` samples) and 5 ms before the tail starts."""
    from ..acoustics.ism import FD_HALF
    from ..plan.rooms import array_layout

    reverb = config.reverb
    if reverb.probability == 0 or reverb.source != "simulated" or reverb.simulator != "ism" or reverb.early_s is None:
        return
    spread = float(max(math.hypot(*offset) for offset in array_layout(reverb.room.array)))
    direct = (reverb.room.distance_m[1] + spread) / SPEED_OF_SOUND
    need = direct + (2 * FD_HALF + 2) / config.sample_rate + 0.005
    if reverb.early_s < need:
        raise PreflightError(
            f"reverb.early_s: {reverb.early_s:g} s is too short at sample_rate {config.sample_rate} Hz: the image "
            f"sources must cover the longest direct path ({direct:.4f} s), the fractional-delay filter "
            f"({2 * FD_HALF} samples) and 5 ms, at least {need:.4f} s; raise early_s or sample_rate"
        )


def check_memory(config: Config, catalogs: Catalogs) -> float:
    """Refuse (`PreflightError`) a config whose largest example needs more than
    ``limits.max_example_memory_gb`` to render; returns the estimated bytes."""
    cost, field, seconds = example_memory(config, catalogs)
    limit = config.limits.max_example_memory_gb
    if cost > limit * GB:
        what = {
            "reverb.early_s": f"reverb.early_s {config.reverb.early_s:g} s of image sources ({config.reverb.simulator})",
            "reverb.room.rt60_s": f"RT60 up to {config.reverb.room.rt60_s[1]:g} s ({config.reverb.simulator})",
        }.get(field, f"up to {seconds:.0f} s at {config.sample_rate} Hz")
        raise PreflightError(
            f"{field}: {what} needs ~{cost / GB:.3g} GB per example to render (limit {limit:g} GB: limits.max_example_memory_gb)"
        )
    return cost
