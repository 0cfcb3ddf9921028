"""RIRs that can be trusted: noise floors, unmeasurable decays, impossible rooms, room identity,
one channel count per dataset (issue 11)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import small_config

from audiosynth.acoustics import ism as rir
from audiosynth.catalog import Clip, read_catalog, write_catalog
from audiosynth.dsp import kernels
from audiosynth.errors import PreflightError
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import render

FS = 16000


def decaying_noise(rt60: float, seconds: float, floor_db: float | None = None, seed: int = 0) -> np.ndarray:
    """Gaussian noise of unit initial power decaying by 60 dB in ``rt60`` s, plus a stationary
    noise floor ``floor_db`` dB below the initial power."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    h = rng.standard_normal(t.size) * np.exp(-3 * np.log(10) * t / rt60)
    if floor_db is not None:
        h = h + 10 ** (floor_db / 20) * rng.standard_normal(t.size)
    return h


def plain_schroeder_t20(h: np.ndarray) -> float:
    """The T20 fit on the untruncated Schroeder curve (the measurement before issue 11)."""
    curve = kernels.schroeder_decay_db(h)
    start, stop = int(np.argmax(curve <= -5.0)), int(np.argmax(curve <= -25.0))
    t = np.arange(stop - start) - (stop - start - 1) / 2
    return float(-60.0 / (np.dot(t, curve[start:stop]) / np.dot(t, t) * FS))


# ---- Lundeby truncation --------------------------------------------------------------------------


@pytest.mark.parametrize(("floor_db", "seconds"), [(-50.0, 3.0), (-55.0, 2.0), (-60.0, 3.0)])
def test_noise_floor_is_truncated_before_the_schroeder_fit(floor_db, seconds):
    h = decaying_noise(0.5, seconds, floor_db)
    t20, t30 = kernels.reverberation_times(h, FS, (20.0, 30.0))
    assert t20 == pytest.approx(0.5, rel=0.05)
    assert t30 == pytest.approx(0.5, rel=0.05)


def test_clean_rirs_keep_their_label():
    for h in (decaying_noise(0.5, 0.6), decaying_noise(0.8, 1.0, seed=3)):
        assert kernels.rt60_from_rir(h, FS) == plain_schroeder_t20(h)
    size, sources, mics = (6, 5, 3), [(1.5, 1.2, 1.6)], [(4.1, 3.2, 1.2), (3.0, 2.5, 1.4)]
    for rt60 in (0.2, 0.5, 0.9):
        for h in rir.simulate_ism(size, sources, mics, FS, rt60_s=rt60)[0]:
            assert kernels.rt60_from_rir(h, FS) == pytest.approx(plain_schroeder_t20(h), rel=0.01)


# ---- unmeasurable decays --------------------------------------------------------------------------


def single_impulse(length: int = 8000) -> np.ndarray:
    h = np.zeros(length)
    h[40] = 0.9
    return h


def dithered_impulse(length: int = 8000) -> np.ndarray:
    """An impulse over a noise floor 70 dB down: no decay to measure."""
    return single_impulse(length) + 10 ** (-70 / 20) * np.random.default_rng(1).standard_normal(length)


@pytest.mark.parametrize(
    ("make", "reason"), [(lambda: np.zeros(8000), "silent"), (single_impulse, "single_impulse"), (dithered_impulse, "shallow_decay")]
)
def test_unmeasurable_decays_give_none_and_a_reason(make, reason):
    values, why = kernels.measure_rt60(make(), FS, (20.0, 30.0))
    assert values == [None, None] and why == reason
    with pytest.raises(ValueError, match=reason):
        kernels.reverberation_times(make(), FS)


def test_t30_alone_can_be_unmeasurable():
    h = decaying_noise(0.5, 2.0, -40.0)  # 40 dB of decay above the floor: T20 (35 dB) yes, T30 (45 dB) no
    (t20, t30), why = kernels.measure_rt60(h, FS, (20.0, 30.0))
    assert t20 == pytest.approx(0.5, rel=0.05) and t30 is None and why == "shallow_decay"
    assert kernels.measure_rt60(decaying_noise(0.5, 2.0, -30.0), FS, (20.0,)) == ([None], "shallow_decay")


def write_rirs(folder: Path, rirs: dict[str, np.ndarray], rooms: dict[str, str] | None = None) -> Path:
    clips = []
    for name, h in rirs.items():
        path = folder / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (h.T if h.ndim == 2 else h).astype(np.float32), FS, subtype="FLOAT")
        info = sf.info(path)
        room = {"room": rooms[name]} if rooms and name in rooms else {}
        clips.append(Clip(name.replace("/", "-"), str(path), "rir", info.duration, FS, info.channels, **room))
    out = folder / "rirs.jsonl"
    write_catalog(clips, out)
    return out


def test_build_labels_an_unmeasurable_catalog_rir_null(corpus, tmp_path):
    rirs = write_rirs(tmp_path, {"flat": dithered_impulse() + 1e-3 * decaying_noise(0.3, 0.5)[:8000]})
    config = small_config({**corpus, "rirs": rirs}, num_examples=4, reverb={"probability": 1.0, "source": "catalog"})
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    for i in range(4):
        labels = render(planner.scene(i), catalogs.all()).labels
        assert labels["rt60_s"] is None and labels["rt60_t30_s"] is None and labels["rt60_reason"] == "shallow_decay"


def test_validate_accepts_null_rt60_labels(corpus, tmp_path):
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    rirs = write_rirs(tmp_path, {"flat": dithered_impulse() + 1e-3 * decaying_noise(0.3, 0.5)[:8000]})
    config = small_config({**corpus, "rirs": rirs}, num_examples=3, reverb={"probability": 1.0, "source": "catalog"})
    build(config, tmp_path / "out", workers=1, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [r["labels"]["rt60_s"] for r in rows] == [None] * 3
    assert validate(tmp_path / "out", progress=False).problems == []


def test_build_redraws_examples_that_meet_a_degenerate_catalog_rir(corpus, tmp_path):
    from audiosynth.build import build

    good = read_catalog(corpus["rirs"])[0]
    rirs = write_rirs(tmp_path, {"impulse": single_impulse(), "zeros": np.zeros(8000)})
    write_catalog([*read_catalog(rirs), Clip(good.id, str(corpus["rirs"].parent / good.path), "rir", good.duration, FS, 1)], rirs)
    config = small_config({**corpus, "rirs": rirs}, num_examples=8, reverb={"probability": 1.0, "source": "catalog"})
    summary = build(config, tmp_path / "out", workers=1, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert {r["scene"]["sources"][0]["rir_clip"] for r in rows} == {good.id}
    assert all(r["labels"]["rt60_s"] == pytest.approx(0.4, rel=0.15) for r in rows)
    assert set(summary.rejected_clips) <= {"single_impulse", "silent"} and summary.rejected_clips


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audiosynth.cli", *args], capture_output=True, text=True, timeout=120)


def test_catalog_refuses_degenerate_rirs(tmp_path):
    good = decaying_noise(0.4, 0.5) * 0.1
    good[20] = 1.0
    folder = tmp_path / "rirs"
    for name, h in {"good": good, "zeros": np.zeros(8000), "impulse": single_impulse(), "flat": dithered_impulse()}.items():
        folder.mkdir(exist_ok=True)
        sf.write(folder / f"{name}.wav", h.astype(np.float32), FS, subtype="FLOAT")
    out = tmp_path / "rirs.jsonl"
    result = run_cli("catalog", "folder", str(folder), "--kind", "rir", "-o", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert [c.id for c in read_catalog(out)] == ["good"]
    rejects = {Path(r["path"]).stem: r for r in map(json.loads, (tmp_path / "rirs.rejects.jsonl").read_text().splitlines())}
    assert {k: r["reason"] for k, r in rejects.items()} == {"zeros": "silent", "impulse": "single_impulse", "flat": "shallow_decay"}
    assert all(r["detail"] for r in rejects.values())


# ---- impossible rooms -----------------------------------------------------------------------------


def test_sabine_bound_of_a_room():
    volume, surface = 10 * 8 * 4, 2 * (10 * 8 + 10 * 4 + 8 * 4)
    assert rir.min_rt60((10, 8, 4)) == pytest.approx(24 * np.log(10) / rir.SPEED_OF_SOUND * volume / surface)


def test_preflight_refuses_an_rt60_range_no_room_allows(corpus):
    room = {"length_m": [10, 10], "width_m": [8, 8], "height_m": [4, 4], "rt60_s": [0.05, 0.1], "distance_m": [1, 2]}
    config = small_config(corpus, reverb={"probability": 1.0, "room": room})
    with pytest.raises(PreflightError, match=r"^reverb\.room\.rt60_s: .*0\.1 s.*10x8x4 m.*>= 0\.170 s") as err:
        Planner(config, load_catalogs(config))
    assert "\n" not in str(err.value)


def test_preflight_refuses_an_rt60_range_few_rooms_allow(corpus):
    room = {"length_m": [3, 10], "width_m": [3, 8], "height_m": [2.4, 4], "rt60_s": [0.02, 0.08]}
    config = small_config(corpus, reverb={"probability": 1.0, "room": room})
    with pytest.raises(PreflightError, match=r"^reverb\.room\.rt60_s: \[0\.02, 0\.08\] s is possible in only \d+ % of the rooms"):
        Planner(config, load_catalogs(config))


def test_disjoint_rir_splits_keep_each_room_in_one_split(corpus, tmp_path):
    shapes = {f"{room}/p{k}": decaying_noise(0.3 + 0.1 * k, 0.5, seed=k + 10 * j) for j, room in enumerate("ABCDEF") for k in range(2)}
    rirs = write_rirs(tmp_path, shapes, {name: name.split("/")[0] for name in shapes})
    config = small_config(
        {**corpus, "rirs": rirs},
        reverb={"probability": 1.0, "source": "catalog"},
        splits={"train": 0.6, "dev": 0.2, "test": 0.2, "disjoint_rirs": True},
    )
    planner = Planner(config, load_catalogs(config))
    rooms = {name: {c.room for c in planner.rirs[name]} for name in ("train", "dev", "test")}
    assert all(rooms.values()) and not (rooms["train"] & rooms["dev"] or rooms["train"] & rooms["test"] or rooms["dev"] & rooms["test"])
    assert sum(len(planner.rirs[name]) for name in rooms) == 12


def test_drawn_rooms_respect_their_own_bound(corpus):
    config = small_config(corpus, num_examples=30, reverb={"probability": 1.0, "room": {"rt60_s": [0.1, 0.3]}})
    planner = Planner(config, load_catalogs(config))
    rooms = [planner.scene(i).room for i in range(30)]
    assert all(r.rt60_s >= rir.min_rt60(r.size_m) for r in rooms)
    assert min(r.rt60_s for r in rooms) < 0.15  # small rooms still get short RT60s


# ---- room identity -----------------------------------------------------------------------------------


def test_catalog_rows_without_room_still_load_and_rows_with_it_round_trip(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "path": "a.wav", "kind": "rir", "duration": 1.0, "sample_rate": FS, "num_channels": 1}) + "\n")
    assert read_catalog(path)[0].room is None
    clip = Clip("b", "b.wav", "rir", 1.0, FS, 1, room="hall")
    write_catalog([clip], path)
    assert read_catalog(path)[0] == clip


def test_all_talkers_of_a_scene_share_one_room(corpus, tmp_path):
    shapes = {f"{room}/p{k}": decaying_noise(0.3 + 0.1 * k, 0.5, seed=k + 10 * j) for j, room in enumerate("ABC") for k in range(3)}
    rooms = {name: name.split("/")[0] for name in shapes}
    rooms.pop("C/p1"), rooms.pop("C/p2")  # C/p0 has a room of its own; C/p1, C/p2 have none
    rirs = write_rirs(tmp_path, shapes, rooms)
    config = small_config(
        {**corpus, "rirs": rirs},
        num_examples=40,
        task="separation",
        talkers={"count": [2, 3]},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
        reverb={"probability": 1.0, "source": "catalog"},
    )
    planner = Planner(config, load_catalogs(config))
    room_of = {c.id: c.room or c.id for c in planner.catalogs.rirs}
    shared = 0
    for i in range(40):
        ids = [s.rir_clip for s in planner.scene(i).sources]
        assert len({room_of[x] for x in ids}) == 1, ids
        if room_of[ids[0]] in "AB":
            shared += 1
            assert len(set(ids)) == len(ids)  # three positions per room: one per talker
    assert shared > 10


def test_cataloguer_takes_the_room_from_the_parent_folder(tmp_path):
    folder = tmp_path / "set"
    for name in ("hallA/pos1", "hallA/pos2", "hallB/pos1", "alone"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        h = decaying_noise(0.4, 0.5) * 0.1
        h[20] = 1.0
        sf.write(folder / f"{name}.wav", h.astype(np.float32), FS, subtype="FLOAT")
    out = tmp_path / "rirs.jsonl"
    assert run_cli("catalog", "folder", str(folder), "--kind", "rir", "-o", str(out), "--workers", "1").returncode == 0
    assert {c.id: c.room for c in read_catalog(out)} == {"alone": None, "hallA-pos1": "hallA", "hallA-pos2": "hallA", "hallB-pos1": "hallB"}
    result = run_cli("catalog", "folder", str(folder), "--kind", "rir", "-o", str(out), "--workers", "1", "--room-from", "none")
    assert result.returncode == 0, result.stderr
    assert {c.room for c in read_catalog(out)} == {None}


# ---- one channel count per dataset ----------------------------------------------------------------


def mixed_channel_rirs(tmp_path: Path) -> Path:
    mono = decaying_noise(0.4, 0.5) * 0.1
    mono[20] = 1.0
    return write_rirs(tmp_path, {"mono": mono, "mono2": np.roll(mono, 5), "stereo": np.stack([mono, np.roll(mono, 3)])})


def test_mixed_channel_rir_catalog_is_refused(corpus, tmp_path):
    config = small_config({**corpus, "rirs": mixed_channel_rirs(tmp_path)}, reverb={"probability": 1.0, "source": "catalog"})
    with pytest.raises(
        PreflightError, match=r"^catalogs\.rirs: .*1 channel \(2 RIRs\) and 2 channels \(1 RIR\).*reverb\.num_channels"
    ) as err:
        Planner(config, load_catalogs(config))
    assert "\n" not in str(err.value)


def test_channel_policy_gives_one_channel_count_that_collate_pad_batches(corpus, tmp_path):
    torch = pytest.importorskip("torch")
    from audiosynth.build import build
    from audiosynth.torch import StoredDataset, collate_pad

    rirs = mixed_channel_rirs(tmp_path)
    for channels in (1, 2):
        config = small_config(
            {**corpus, "rirs": rirs}, num_examples=6, reverb={"probability": 1.0, "source": "catalog", "num_channels": channels}
        )
        out = tmp_path / f"built{channels}"
        build(config, out, workers=1, progress=False)
        rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        assert {sf.info(out / r["audio"]["mix"]).channels for r in rows} == {channels}
        batch = collate_pad([StoredDataset(out, roles=("mix",))[i] for i in range(len(rows))])
        assert batch["mix"].shape[:2] == (len(rows), channels) and isinstance(batch["mix"], torch.Tensor)
    config = small_config({**corpus, "rirs": rirs}, reverb={"probability": 1.0, "source": "catalog", "num_channels": 4})
    with pytest.raises(PreflightError, match=r"reverb\.num_channels: no RIR .* 4 channels"):
        Planner(config, load_catalogs(config))


def test_multichannel_reverb_with_dry_examples_is_refused(corpus, tmp_path):
    config = small_config(corpus, reverb={"probability": 0.5, "room": {"array": {"type": "linear", "num_mics": 2, "spacing_m": 0.1}}})
    with pytest.raises(PreflightError, match=r"^reverb\.probability: 0\.5 .*2 microphones"):
        Planner(config, load_catalogs(config))


def test_channel_policy_is_for_catalog_rirs_only(corpus):
    from audiosynth.errors import ConfigError

    with pytest.raises(ConfigError, match=r"reverb: num_channels chooses catalog RIRs, but source is 'simulated'"):
        small_config(corpus, reverb={"probability": 1.0, "num_channels": 2})
