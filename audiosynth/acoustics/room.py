"""Shoebox rooms as plain data, and their simulation into RIRs (pyroomacoustics image source)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
    def from_dict(cls, d: dict[str, Any]) -> "Room":
        """Inverse of `to_dict`."""
        point = lambda p: (float(p[0]), float(p[1]), float(p[2]))  # noqa: E731
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
        return np.linalg.norm(np.asarray(self.sources_m)[:, None] - np.asarray(self.mics_m)[None], axis=-1)


def simulate_room(room: Room, sample_rate: int, *, backend: str = "numpy", device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RIRs of every source at every microphone, their direct paths, and the direct-path delays.

    Returns ``(rirs (S, M, K), direct (S, M, Kd), delays (S, M))``: the room simulated with
    its simulator, the direct path alone (image-source order 0, same delay convention and
    scale), and each path's delay in (fractional) samples.
    """
    from . import ism as rir

    absorption = np.asarray(room.absorption, dtype=float) if room.absorption else None
    geometry = (room.size_m, room.sources_m, room.mics_m, sample_rate)
    if room.simulator == "pyroomacoustics":
        full = rir.simulate_pra(*geometry, rt60_s=room.rt60_s, absorption=absorption)
    else:
        out = rir.simulate_ism(*geometry, rt60_s=room.rt60_s, absorption=absorption, early_s=room.early_s,
                               tail_seed=room.tail_seed, backend=backend, device=device)
        full = out if isinstance(out, np.ndarray) else out.detach().to("cpu").double().numpy()
    direct = rir.simulate_ism(*geometry, rt60_s=room.rt60_s, absorption=absorption, max_order=0)
    return np.asarray(full), np.asarray(direct), rir.direct_delays(room.sources_m, room.mics_m, sample_rate)
