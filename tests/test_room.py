import numpy as np
import pytest

from audiosynth.acoustics.geometry import circular_array, linear_array, rotate_z
from audiosynth.acoustics.room import Room
from audiosynth.config import config_from_dict
from audiosynth.errors import ConfigError, PreflightError
from audiosynth.plan import draw_room
from audiosynth.plan.rooms import OCTAVE_BANDS_HZ

BASE = {"catalogs": {"speech": "s", "noise": "n"}}


def reverb(**room):
    return config_from_dict({**BASE, "reverb": {"probability": 1.0, "room": room}}).reverb


def test_layouts():
    lin = linear_array(4, 0.05)
    np.testing.assert_allclose(np.diff(lin[:, 0]), 0.05)
    assert lin.mean(axis=0) == pytest.approx([0, 0, 0])
    circ = circular_array(6, 0.1)
    np.testing.assert_allclose(np.linalg.norm(circ, axis=1), 0.1)
    rotated = rotate_z(lin, np.pi / 2)
    np.testing.assert_allclose(rotated[:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(np.abs(rotated[:, 1]), np.abs(lin[:, 0]))


@pytest.mark.parametrize(
    "array",
    [
        {"type": "single"},
        {"type": "linear", "num_mics": 4, "spacing_m": 0.08},
        {"type": "circular", "num_mics": 6, "radius_m": 0.1},
        {"type": "explicit", "positions_m": [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0.05]]},
    ],
)
def test_rooms_respect_constraints(array):
    cfg = reverb(array=array, distance_m=[1.0, 2.0], wall_margin_m=0.4)
    for i in range(50):
        room = draw_room(np.random.default_rng([0, i]), cfg, num_sources=2)
        size, mics, sources = np.array(room.size_m), np.array(room.mics_m), np.array(room.sources_m)
        for points in (mics, sources):
            assert np.all(points >= 0.4 - 1e-9) and np.all(points <= size - 0.4 + 1e-9)
        centre = mics.mean(axis=0) if array["type"] != "explicit" else None
        if centre is not None:
            d = np.linalg.norm(sources - centre, axis=1)
            assert np.all((d >= 1.0 - 1e-9) & (d <= 2.0 + 1e-9))
        pairwise = np.linalg.norm(mics[:, None] - mics[None], axis=-1)
        from audiosynth.plan import array_layout

        local = array_layout(cfg.room.array)
        np.testing.assert_allclose(pairwise, np.linalg.norm(local[:, None] - local[None], axis=-1), atol=1e-9)
        assert 0.2 <= room.rt60_s <= 1.0 and room.absorption is None
        assert Room.from_dict(room.to_dict()) == room


def test_rotation_is_random_and_can_be_disabled():
    cfg = reverb(array={"type": "linear", "num_mics": 2, "spacing_m": 0.1})
    axes = {
        round(float(np.arctan2(*np.subtract(*draw_room(np.random.default_rng(i), cfg).mics_m)[:2][::-1])) % np.pi, 2) for i in range(20)
    }
    assert len(axes) > 10
    fixed = reverb(array={"type": "linear", "num_mics": 2, "spacing_m": 0.1, "random_rotation": False})
    for i in range(10):
        mics = np.array(draw_room(np.random.default_rng(i), fixed).mics_m)
        assert mics[1, 1] == pytest.approx(mics[0, 1]) and mics[1, 0] - mics[0, 0] == pytest.approx(0.1)


def test_wall_absorption_per_band():
    cfg = reverb(wall_absorption=[0.1, 0.6], octave_bands=True)
    room = draw_room(np.random.default_rng(1), cfg)
    assert room.rt60_s is None and len(room.absorption) == 6
    assert all(len(row) == len(OCTAVE_BANDS_HZ) and all(0.1 <= a <= 0.6 for a in row) for row in room.absorption)
    assert Room.from_dict(room.to_dict()) == room


def test_impossible_geometry_and_bad_arrays_are_refused():
    with pytest.raises(PreflightError, match="no placement satisfies"):
        draw_room(np.random.default_rng(0), reverb(length_m=[3, 3], width_m=[3, 3], distance_m=[5, 6]))
    with pytest.raises(ConfigError, match=r"array\.positions_m: type 'explicit' needs"):
        reverb(array={"type": "explicit"})
    with pytest.raises(ConfigError, match="wall_absorption: must satisfy 0 < min"):
        reverb(wall_absorption=[0.0, 1.2])
    with pytest.raises(ConfigError, match="device: 'cuda' needs backend: torch"):
        config_from_dict({**BASE, "device": "cuda"})


def test_a_distance_no_room_fits_is_refused_before_early_s():
    """distance_m beyond the inner diagonal of the largest room: refused by the pre-flight room
    check naming distance_m (not by early_s, which a user would raise in vain)."""
    from audiosynth.plan.rooms import check_room_ranges

    room = reverb(length_m=[3, 4], width_m=[3, 4], height_m=[2.5, 3], distance_m=[6, 7]).room
    with pytest.raises(PreflightError, match=r"reverb\.room\.distance_m: 6 m does not fit in the largest room .*at most 4\.69 m"):
        check_room_ranges(room)
    check_room_ranges(reverb(length_m=[3, 4], width_m=[3, 4], height_m=[2.5, 3], distance_m=[4.5, 7]).room)  # 4.5 m fits
