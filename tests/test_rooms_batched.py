"""Batched room simulation (`simulate_ism_batch`, `simulate_rooms`): every room's RIRs are those
of `simulate_ism` of that room alone, whatever the batch (NumPy: the same bits; torch: within
1e-5 of the peak), and the batched torch path reads nothing back from the device."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from audiosynth.acoustics import ism
from audiosynth.acoustics.room import Room, RoomResponse, simulate_one, simulate_rooms
from audiosynth.dsp.backend import NUMPY, Backend, get_backend
from audiosynth.dsp.kernels import rt60_from_rir

FS = 16000


def mixed_rooms(count: int, seed: int) -> list[Room]:
    """Rooms of every kind in one batch: sizes 3-9 m, RT60 0.2-1.2 s or octave-band walls, 1-8
    microphones (line or scattered), 1-3 sources, each its own tail seed."""
    rng = np.random.default_rng(seed)
    rooms = []
    for i in range(count):
        size = rng.uniform([3.0, 3.0, 2.4], [9.0, 7.0, 3.5])
        sources = tuple(tuple(float(v) for v in rng.uniform(0.5, size - 0.5)) for _ in range(1 + i % 3))
        mics_n = (1, 8, 4, 2, 3)[i % 5]
        centre = rng.uniform(1.0, size - 1.0)
        if i % 2:
            mics = tuple(tuple(float(v) for v in centre + np.array([0.04 * (k - mics_n / 2), 0.0, 0.0])) for k in range(mics_n))
        else:
            mics = tuple(tuple(float(v) for v in centre + rng.uniform(-0.2, 0.2, 3)) for _ in range(mics_n))
        banded = i % 3 == 2
        absorption = tuple(tuple(float(a) for a in row) for row in rng.uniform(0.05, 0.6, (6, 6))) if banded else None
        rt60 = None if banded else float(np.linspace(0.2, 1.2, count)[i])
        rooms.append(Room(tuple(float(v) for v in size), rt60, sources, mics, absorption, tail_seed=1000 * seed + i))  # type: ignore[arg-type]
    return rooms


ROOMS = mixed_rooms(7, seed=3)


@pytest.fixture(scope="module")
def single() -> list[RoomResponse]:
    """Each room of ROOMS alone, on NumPy (the per-scene path)."""
    return [simulate_one(room, FS, NUMPY) for room in ROOMS]


def test_the_batch_mixes_what_it_should() -> None:
    assert {len(r.mics_m) for r in ROOMS} >= {1, 8} and {len(r.sources_m) for r in ROOMS} >= {1, 3}
    assert any(r.absorption for r in ROOMS) and any(r.rt60_s for r in ROOMS)
    rt60s = [r.rt60_s for r in ROOMS if r.rt60_s]
    assert min(rt60s) < 0.5 < 0.9 < max(rt60s)


def _same_bits(a: RoomResponse, b: RoomResponse) -> bool:
    return all(
        x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in ((a.rirs, b.rirs), (a.direct, b.direct))
    )


def test_numpy_batch_is_the_single_room_path_bit_for_bit(single: list[RoomResponse]) -> None:
    batched = simulate_rooms(ROOMS, FS)
    assert all(_same_bits(b, s) for b, s in zip(batched, single, strict=True))
    assert all(np.abs(b.rirs).max() > 0.01 for b in batched)  # not trivially equal: real RIRs


@pytest.mark.parametrize("order", ["alone", "first_three", "reversed", "shuffled"])
def test_numpy_results_do_not_depend_on_batch_size_or_neighbours(single: list[RoomResponse], order: str) -> None:
    if order == "alone":
        batches = [[i] for i in range(len(ROOMS))]
    elif order == "first_three":
        batches = [[0, 1, 2]]
    elif order == "reversed":
        batches = [list(range(len(ROOMS)))[::-1]]
    else:
        batches = [list(np.random.default_rng(5).permutation(len(ROOMS)))]
    for batch in batches:
        for i, response in zip(batch, simulate_rooms([ROOMS[i] for i in batch], FS), strict=True):
            assert _same_bits(response, single[i]), (order, i)


def test_a_neighbour_changes_nothing_but_a_different_seed_does(single: list[RoomResponse]) -> None:
    import dataclasses

    other = dataclasses.replace(ROOMS[1], tail_seed=ROOMS[1].tail_seed + 1)
    a, b = simulate_rooms([ROOMS[0], ROOMS[1]], FS), simulate_rooms([ROOMS[0], other], FS)
    assert _same_bits(a[0], b[0]) and _same_bits(a[0], single[0])
    start = round(0.08 * FS) + ism.FD_HALF
    assert np.array_equal(a[1].rirs[..., :start], b[1].rirs[..., :start]) and not np.array_equal(a[1].rirs, b[1].rirs)


def _close(x: Any, reference: np.ndarray, rtol: float) -> bool:
    """Within ``rtol`` of the reference's peak, sample by sample."""
    value = get_backend("torch").to_numpy(x)
    return value.shape == reference.shape and float(np.abs(value - reference).max()) <= rtol * float(np.abs(reference).max())


def test_torch_float64_batch_matches_the_single_room_path(single: list[RoomResponse]) -> None:
    pytest.importorskip("torch")
    for batch in ([0, 1, 2, 3, 4, 5, 6], [6, 2, 4]):
        for i, response in zip(batch, simulate_rooms([ROOMS[i] for i in batch], FS, "torch"), strict=True):
            assert _close(response.rirs, single[i].rirs, 1e-5) and _close(response.direct, single[i].direct, 1e-5), i


def test_torch_float32_batch_matches_the_single_room_path(single: list[RoomResponse]) -> None:
    torch = pytest.importorskip("torch")
    specs = [_spec(room) for room in ROOMS]
    batched = ism.simulate_ism_batch(specs, FS, "torch", "cpu", torch.float32)
    for spec, b, s in zip(specs, batched, single, strict=True):
        assert b.dtype == torch.float32
        alone = ism.simulate_ism(**spec, sample_rate=FS, backend="torch", dtype=torch.float32)
        assert _close(b, get_backend("torch").to_numpy(alone), 1e-5)  # the float32 single-room path
        # against float64: float32's own rounding, as large in the single-room float32 path (up to
        # ~1e-4 of the peak, from fractional delays rounded to float32)
        assert _close(b, s.rirs, 3e-4) and _close(alone, s.rirs, 3e-4)
        value = get_backend("torch").to_numpy(b)
        assert np.linalg.norm(value - s.rirs) <= 5e-5 * np.linalg.norm(s.rirs)


def _spec(room: Room) -> dict[str, Any]:
    absorption = np.asarray(room.absorption) if room.absorption else None
    return {
        "size_m": room.size_m,
        "sources_m": room.sources_m,
        "mics_m": room.mics_m,
        "rt60_s": room.rt60_s,
        "absorption": absorption,
        "tail_seed": room.tail_seed,
    }


def test_measured_rt60_of_batched_rirs_is_the_target() -> None:
    rng = np.random.default_rng(11)
    rooms = [
        Room(
            (6.0, 5.0, 3.0),
            rt60,
            ((1.5, 1.2, 1.6), (4.4, 3.1, 1.2)),
            ((3.0, 2.5, 1.3), (3.05, 2.5, 1.3)),
            tail_seed=int(rng.integers(1 << 30)),
        )
        for rt60 in (0.2, 0.45, 0.7, 0.95, 1.2)
    ]
    for room, response in zip(rooms, simulate_rooms(rooms, FS), strict=True):
        measured = [rt60_from_rir(h, FS) for h in response.rirs.reshape(-1, response.rirs.shape[-1])]
        assert room.rt60_s is not None
        assert abs(float(np.mean(measured)) / room.rt60_s - 1) < 0.10, (room.rt60_s, measured)
        assert all(abs(m / room.rt60_s - 1) < 0.15 for m in measured)


@contextmanager
def _no_host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way a tensor's values reach the host raises inside the block (they are recorded)."""
    torch = pytest.importorskip("torch")
    calls: list[str] = []

    def forbid(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"host round trip: {name}")

        return refuse

    with monkeypatch.context() as patch:
        for name in ("cpu", "item", "numpy", "tolist", "__float__", "__int__", "__bool__", "__index__"):
            patch.setattr(torch.Tensor, name, forbid(f"Tensor.{name}"))
        for name in ("to_numpy", "int_list"):
            patch.setattr(Backend, name, forbid(f"Backend.{name}"))
        yield calls


def test_the_batched_torch_path_reads_nothing_back_from_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    specs = [_spec(room) for room in ROOMS[:4]] + [{**_spec(ROOMS[4]), "max_order": 0}, {**_spec(ROOMS[5]), "length_s": 0.05}]
    with _no_host_reads(monkeypatch) as calls:
        out = ism.simulate_ism_batch(specs, FS, "torch", "cpu", torch.float32)
        with pytest.raises(AssertionError, match="host round trip"):  # the check bites: the single-room path reads `whole.max()`
            ism.simulate_ism(**specs[0], sample_rate=FS, backend="torch")
    assert calls == ["Tensor.__float__"] or calls == ["Tensor.item"], calls
    assert len(out) == len(specs) and all(isinstance(h, torch.Tensor) for h in out)


def test_other_settings_in_one_batch(single: list[RoomResponse]) -> None:
    """Settings the batch renders itself (length_s, highpass off, early_s, direct paths) and those it
    passes to `simulate_ism` (early_s=None, max_order > 0): each the single-room bits."""
    specs = [
        {**_spec(ROOMS[0]), "length_s": 0.06},  # shorter than the images: taps past the end dropped
        {**_spec(ROOMS[1]), "highpass_hz": None},
        {**_spec(ROOMS[2]), "highpass_hz": None},  # banded, no high-pass
        {**_spec(ROOMS[3]), "early_s": 0.05},
        {**_spec(ROOMS[4]), "max_order": 0},
        {**_spec(ROOMS[5]), "max_order": 2},
        {**_spec(ROOMS[6]), "early_s": None, "rt60_s": 0.2, "absorption": None},
    ]
    for spec, batched in zip(specs, ism.simulate_ism_batch(specs, FS), strict=True):
        alone = ism.simulate_ism(**spec, sample_rate=FS)
        assert batched.shape == alone.shape and batched.tobytes() == alone.tobytes(), spec


def test_invalid_rooms_are_rejected_as_simulate_ism_rejects_them() -> None:
    good = _spec(ROOMS[0])
    for bad, message in (
        ({**good, "rt60_s": None}, "exactly one"),
        ({**good, "sources_m": ((100.0, 1.0, 1.0),)}, "inside the room"),
        ({**good, "early_s": 0.001}, "early_s"),
    ):
        with pytest.raises(ValueError, match=message):
            ism.simulate_ism(**bad, sample_rate=FS)
        with pytest.raises(ValueError, match=message):
            ism.simulate_ism_batch([good, bad], FS)
    with pytest.raises(TypeError, match="unknown"):
        ism.simulate_ism_batch([{**good, "early": 0.1}], FS)
    assert ism.simulate_ism_batch([], FS) == []


def test_padding_is_cheap_for_a_fixed_early_window() -> None:
    """The image count follows (4/3) pi (c t)^3 / V: the kept entries of a room stay near it."""
    room = ROOMS[0]
    plan = ism._plan(_spec(room), FS, NUMPY)
    assert plan is not None
    volume = math.prod(room.size_m)
    expected = 4 / 3 * math.pi * (0.08 * ism.SPEED_OF_SOUND) ** 3 / volume * len(room.sources_m) * len(room.mics_m)
    assert 0.7 < len(plan.entries["dist"]) / expected < 1.3
