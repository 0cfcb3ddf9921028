"""Draws of rooms: simulated rooms and arrays, catalog RIRs of one room, and their pre-flight checks."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..acoustics.geometry import circular_array, linear_array, rotate_z
from ..acoustics.ism import DRAWN_BANDS_HZ as OCTAVE_BANDS_HZ  # one definition of the bands, in acoustics
from ..acoustics.ism import min_rt60
from ..acoustics.room import Point, Room
from ..catalog import Clip
from ..config import ArrayConfig, ReverbConfig, RoomConfig
from ..errors import PreflightError
from ..scene import Noise, Waypoint, static_path
from .clips import choice


def room_of(clip: Clip) -> str:
    """A RIR's room: its ``room`` field, or the RIR alone when the catalog does not say."""
    return clip.room or f"rir:{clip.id}"


def rirs_of_one_room(rng: np.random.Generator, pool: Sequence[Clip], rooms: dict[str, tuple[Clip, ...]], count: int) -> list[Clip]:
    """``count`` RIRs of one room: the first drawn from the pool, each other talker's from the
    first's room (``rooms``: room -> its RIRs in the pool), another position (RIR) while the
    room has one left, else any of its positions."""
    first = choice(rng, pool)
    room = rooms[room_of(first)]
    chosen = [first]
    for _ in range(count - 1):
        chosen.append(choice(rng, [c for c in room if c not in chosen] or room))
    return chosen


def check_all_reverberant(probability: float, channels: int, what: str) -> None:
    """Refuse multichannel reverberation with dry examples, which would have one channel."""
    if channels > 1 and 0 < probability < 1:
        raise PreflightError(
            f"reverb.probability: {probability:g} < 1 but {what} {channels} microphones: the dry examples "
            "would be mono in a multichannel dataset; set reverb.probability to 1"
        )


def check_room_ranges(cfg: RoomConfig, least_share: float = 0.1) -> None:
    """Refuse RT60 ranges that no room of the size ranges allows (`min_rt60` of the smallest
    room), or that fewer than ``least_share`` of the drawn rooms allow (`draw_room` re-draws
    the others; the share is taken over a 9x9x9 grid of sizes), and a distance range that no
    room fits: two points ``wall_margin_m`` inside the largest room are at most its inner
    diagonal apart."""
    inner = [max(0.0, r[1] - 2 * cfg.wall_margin_m) for r in (cfg.length_m, cfg.width_m, cfg.height_m)]
    if cfg.distance_m[0] > math.hypot(*inner):
        raise PreflightError(
            f"reverb.room.distance_m: {cfg.distance_m[0]:g} m does not fit in the largest room "
            f"({cfg.length_m[1]:g}x{cfg.width_m[1]:g}x{cfg.height_m[1]:g} m with wall_margin_m {cfg.wall_margin_m:g}: "
            f"at most {math.hypot(*inner):.2f} m): lower distance_m or make the rooms larger"
        )
    if cfg.wall_absorption is not None:
        return
    smallest = (cfg.length_m[0], cfg.width_m[0], cfg.height_m[0])
    bound, (low, high) = min_rt60(smallest), cfg.rt60_s
    if high < bound:
        raise PreflightError(
            f"reverb.room.rt60_s: {high:g} s is shorter than a {'x'.join(f'{v:g}' for v in smallest)} m room "
            f"allows (>= {bound:.3f} s with fully absorbing walls, Sabine): raise rt60_s or make the room smaller"
        )
    bounds = np.array(
        [min_rt60(size) for size in itertools.product(*(np.linspace(*r, 9) for r in (cfg.length_m, cfg.width_m, cfg.height_m)))]
    )
    share = float(np.mean(np.clip((high - bounds) / (high - low), 0, 1) if high > low else bounds <= high))
    if share < least_share:
        raise PreflightError(
            f"reverb.room.rt60_s: [{low:g}, {high:g}] s is possible in only {100 * share:.0f} % of the rooms that "
            f"length_m, width_m, height_m draw (a room needs rt60_s >= {bounds.min():.3f} to {bounds.max():.3f} s, "
            f"Sabine with fully absorbing walls): raise rt60_s or make the rooms smaller"
        )


def array_layout(cfg: ArrayConfig) -> np.ndarray:
    """Microphone offsets from the array centre, ``(M, 3)`` (before rotation)."""
    if cfg.type == "single":
        return np.zeros((1, 3))
    if cfg.type == "linear":
        return linear_array(cfg.num_mics, cfg.spacing_m)
    if cfg.type == "circular":
        return circular_array(cfg.num_mics, cfg.radius_m)
    return np.asarray(cfg.positions_m, dtype=float)


def draw_room(rng: np.random.Generator, reverb: ReverbConfig, num_sources: int = 1, tries: int = 200, sample_rate: int = 16000) -> Room:
    """A random shoebox with a (rotated) microphone array and ``num_sources`` sources, each at
    a distance from the array centre drawn from the range, everything at least
    ``wall_margin_m`` from every wall, and an RT60 the room's size allows (`min_rt60`)
    (re-drawn until the constraints hold); per-band absorption for the octave bands below
    ``sample_rate``'s Nyquist frequency (Hz)."""
    cfg = reverb.room
    margin = cfg.wall_margin_m
    local = array_layout(cfg.array)
    for _ in range(tries):
        size = np.array([rng.uniform(*cfg.length_m), rng.uniform(*cfg.width_m), rng.uniform(*cfg.height_m)])
        mics = rotate_z(local, rng.uniform(0, 2 * np.pi)) if cfg.array.random_rotation else local
        low = margin - mics.min(axis=0)
        high = size - margin - mics.max(axis=0)
        centre_z = rng.uniform(*cfg.mic_height_m)
        if np.any(high[:2] < low[:2]) or not low[2] <= centre_z <= high[2]:
            continue
        centre = np.array([rng.uniform(low[0], high[0]), rng.uniform(low[1], high[1]), centre_z])
        sources = [_place_source(rng, cfg, size, centre) for _ in range(num_sources)]
        if any(s is None for s in sources):
            continue
        if cfg.wall_absorption is None:
            rt60, absorption = float(rng.uniform(*cfg.rt60_s)), None
            if rt60 < min_rt60(size):  # no such room (`min_rt60`): draw another
                continue
        else:
            bands = sum(f < sample_rate / 2 for f in OCTAVE_BANDS_HZ) if cfg.octave_bands else 1  # those below Nyquist
            rt60, absorption = None, tuple(tuple(float(a) for a in rng.uniform(*cfg.wall_absorption, size=bands)) for _ in range(6))
        return Room(
            _point(size),
            rt60,
            tuple(s for s in sources if s is not None),
            tuple(_point(m) for m in centre + mics),
            absorption,
            reverb.simulator,
            reverb.early_s,
            int(rng.integers(0, 2**31)),
        )
    raise PreflightError(
        f"reverb.room: no placement satisfies the ranges after {tries} draws "
        f"(distance_m {cfg.distance_m}, wall_margin_m {cfg.wall_margin_m}, array {cfg.array.type}, rt60_s {cfg.rt60_s})"
    )


def _point(xyz: np.ndarray) -> Point:
    """A position (m) as plain floats."""
    return (float(xyz[0]), float(xyz[1]), float(xyz[2]))


def place_in_room(
    rng: np.random.Generator, reverb: ReverbConfig, count: int, noise: Noise | None, sample_rate: int = 16000
) -> tuple[Room, list[tuple[Waypoint, ...]], Noise | None]:
    """A simulated room (`draw_room`) for ``count`` static talkers, at its points ``0 .. count-1``
    (their paths), and, where an array hears it, the noise as a point field at point ``count``
    (one microphone hears noise the same from anywhere: it stays mono)."""
    spatial_noise = noise is not None and reverb.room.array.type != "single"
    room = draw_room(rng, reverb, count + spatial_noise, sample_rate=sample_rate)
    if noise is not None and spatial_noise:
        noise = dataclasses.replace(noise, field="point", position=count)
    return room, [static_path(k) for k in range(count)], noise


def _place_source(
    rng: np.random.Generator, cfg: RoomConfig, size: np.ndarray, centre: np.ndarray, tries: int = 50
) -> tuple[float, float, float] | None:
    """A source position at a drawn distance and height from the array centre, inside the margins."""
    margin = cfg.wall_margin_m
    for _ in range(tries):
        z = float(rng.uniform(*cfg.source_height_m))
        distance = float(rng.uniform(*cfg.distance_m))
        horizontal = distance**2 - (z - centre[2]) ** 2
        if horizontal <= 0 or not margin <= z <= size[2] - margin:
            continue
        angle = float(rng.uniform(0, 2 * np.pi))
        x = centre[0] + math.sqrt(horizontal) * math.cos(angle)
        y = centre[1] + math.sqrt(horizontal) * math.sin(angle)
        if margin <= x <= size[0] - margin and margin <= y <= size[1] - margin:
            return (float(x), float(y), z)
    return None
