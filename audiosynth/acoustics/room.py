"""Shoebox rooms as plain data, and their simulation into RIRs (pyroomacoustics image source)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..dsp.backend import Array, Backend, get_backend

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Room:
    """A shoebox room and how to simulate it.

    Walls absorb either uniformly, as ``rt60_s`` requires, or per wall as ``absorption`` gives
    (energy coefficients, one row per wall in the order west, east, south, north, floor,
    ceiling; one column per octave band, or a single column). ``simulator`` is ``ism`` (the
    project's vectorized image sources, with a diffuse tail after ``early_s``; its noise comes
    from ``tail_seed``) or ``pyroomacoustics``.
    """

    size_m: Point
    rt60_s: float | None
    sources_m: tuple[Point, ...]
    mics_m: tuple[Point, ...]
    absorption: tuple[tuple[float, ...], ...] | None = None
    simulator: str = "ism"
    early_s: float | None = 0.08
    tail_seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists) for JSON."""
        return {
            "size_m": list(self.size_m),
            "rt60_s": self.rt60_s,
            "absorption": [list(row) for row in self.absorption] if self.absorption else None,
            "sources_m": [list(p) for p in self.sources_m],
            "mics_m": [list(p) for p in self.mics_m],
            "simulator": self.simulator,
            "early_s": self.early_s,
            "tail_seed": self.tail_seed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Room:
        """Inverse of `to_dict`."""

        def point(p: Any) -> Point:
            return float(p[0]), float(p[1]), float(p[2])

        absorption = tuple(tuple(float(a) for a in row) for row in d["absorption"]) if d.get("absorption") else None
        return cls(
            point(d["size_m"]),
            None if d.get("rt60_s") is None else float(d["rt60_s"]),
            tuple(map(point, d["sources_m"])),
            tuple(map(point, d["mics_m"])),
            absorption,
            d.get("simulator", "ism"),
            d.get("early_s", 0.08),
            int(d.get("tail_seed", 0)),
        )

    def distances_m(self) -> np.ndarray:
        """Source–microphone distances, shape ``(S, M)``."""
        return np.asarray(np.linalg.norm(np.asarray(self.sources_m)[:, None] - np.asarray(self.mics_m)[None], axis=-1))


@dataclass(frozen=True)
class RoomResponse:
    """What a room does to each source at each microphone, on one array backend.

    ``rirs (S, M, K)``: the impulse responses the room's simulator gives; ``direct (S, M, Kd)``:
    the direct paths alone (image-source order 0: the same delay convention and scale);
    ``delays (S, M)``: each direct path's delay in (fractional) samples, a NumPy array (geometry,
    not a signal)."""

    rirs: Array
    direct: Array
    delays: npt.NDArray[np.float64]


def simulate_rooms(rooms: Sequence[Room], sample_rate: int, backend: str | Backend = "numpy", device: str = "cpu") -> list[RoomResponse]:
    """Every room of a batch simulated on ``backend``: one `RoomResponse` per room, in order.

    The image-source rooms and every room's direct paths go through one
    `audiosynth.acoustics.ism.simulate_ism_batch` call (rooms of any size, RT60, absorption,
    array and source count together); each result depends on its room alone (NumPy: the bits
    of `simulate_ism`). pyroomacoustics rooms are simulated one by one."""
    from . import ism

    xp = get_backend(backend, device)
    specs: list[dict[str, Any]] = []
    for room in rooms:
        geometry = {
            "size_m": room.size_m,
            "sources_m": room.sources_m,
            "mics_m": room.mics_m,
            "rt60_s": room.rt60_s,
            "absorption": np.asarray(room.absorption, dtype=float) if room.absorption else None,
        }
        if room.simulator != "pyroomacoustics":
            specs.append({**geometry, "early_s": room.early_s, "tail_seed": room.tail_seed})
        specs.append({**geometry, "max_order": 0})
    simulated = iter(ism.simulate_ism_batch(specs, sample_rate, xp))
    responses = []
    for room in rooms:
        if room.simulator == "pyroomacoustics":
            absorption = np.asarray(room.absorption, dtype=float) if room.absorption else None
            full = xp.asarray(
                ism.simulate_pra(room.size_m, room.sources_m, room.mics_m, sample_rate, rt60_s=room.rt60_s, absorption=absorption)
            )
        else:
            full = next(simulated)
        responses.append(RoomResponse(full, next(simulated), ism.direct_delays(room.sources_m, room.mics_m, sample_rate)))
    return responses


def simulate_room(room: Room, sample_rate: int, *, backend: str | Backend = "numpy", device: str = "cpu") -> RoomResponse:
    """`simulate_rooms` of one room."""
    return simulate_rooms([room], sample_rate, backend, device)[0]


def simulate_one(room: Room, sample_rate: int, xp: Backend) -> RoomResponse:
    """One room with `simulate_ism` (the per-scene path that `simulate_rooms` batches; the
    reference of tests/test_rooms_batched.py and benchmarks/bench_gpu.py)."""
    from . import ism

    absorption = np.asarray(room.absorption, dtype=float) if room.absorption else None
    geometry = (room.size_m, room.sources_m, room.mics_m, sample_rate)
    if room.simulator == "pyroomacoustics":
        full = xp.asarray(ism.simulate_pra(*geometry, rt60_s=room.rt60_s, absorption=absorption))
    else:
        full = ism.simulate_ism(
            *geometry, rt60_s=room.rt60_s, absorption=absorption, early_s=room.early_s, tail_seed=room.tail_seed, backend=xp
        )
    direct = ism.simulate_ism(*geometry, rt60_s=room.rt60_s, absorption=absorption, max_order=0, backend=xp)
    return RoomResponse(full, direct, ism.direct_delays(room.sources_m, room.mics_m, sample_rate))
