"""BUT ReverbDB (and any one-folder-per-room RIR set) as catalogs: every position of a room shares
its ``room``, the meta files' positions and RT60 as tags, the silences as noise, and 2-talker
scenes whose RIRs come from one room."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, rir_file, speech_file

SWEEP = "IR_sweep_15s_45Hzto22kHz_FS16kHz.v00.wav"
RELEASE = "BUT_ReverbDB_rel_19_06_RIR-Only"


def meta(path: Path, values: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"${key}\t{value}\n" for key, value in values.items()))


def mic_meta(path: Path, n: int, rt60: object, distance: float) -> None:
    meta(
        path,
        {
            "EnvMicID": n,
            f"EnvMic{n}Width": 1.2 + n,
            f"EnvMic{n}Depth": 3.4,
            f"EnvMic{n}Height": 1.1,
            f"EnvMic{n}RelRT60": rt60,
            f"EnvMic{n}RelDistance": distance,
            f"EnvMic{n}RelAzimuth": 12.5,
        },
    )


@pytest.fixture
def but(tmp_path: Path) -> Path:
    """The RIR-only release: VUT_FIT_Q301 (two loudspeaker positions x two microphones, silences,
    env_meta.txt) and Hotel_SkalskyDvur_Room112 (no env_meta.txt, one malformed RT60)."""
    top = tmp_path / "BUT" / RELEASE
    q301 = top / "VUT_FIT_Q301"
    meta(q301 / "env_meta.txt", {"EnvWidth": 10.7, "EnvDepth": 6.9, "EnvHeight": 2.6, "EnvMatFloor": "carpet, linoleum"})
    for s, spk in enumerate(("SpkID01_20190503_S", "SpkID02_20190503_S")):
        meta(q301 / "MicID01" / spk / "spk_meta.txt", {"EnvSpk1Width": 4.1 + s, "EnvSpk1Depth": 2.0, "EnvSpk1Height": 1.5})
        for m in (1, 2):
            position = q301 / "MicID01" / spk / f"{m:02d}"
            rir_file(position / "RIR" / SWEEP, rt60=0.5 + 0.1 * m, seed=10 * s + m)
            mic_meta(position / "mic_meta.txt", m, 0.61 + 0.01 * m, 2.0 + m)
    noise_file(q301 / "MicID01" / "SpkID01_20190503_S" / "01" / "silence" / "silence_FS16kHz.v00.wav", 2.0, seed=3)
    speech_file(q301 / "MicID01" / "SpkID01_20190503_S" / "01" / "english" / "LibriSpeech" / "1089-134686-0000.wav", 1.0)  # not read
    r112 = top / "Hotel_SkalskyDvur_Room112"
    for m in (1, 2):
        position = r112 / "MicID01" / "SpkID01_20190502_S" / f"{m:02d}"
        rir_file(position / "RIR" / SWEEP, rt60=0.3, seed=40 + m)
        mic_meta(position / "mic_meta.txt", m, "n/a" if m == 2 else 0.33, 1.5)
    return tmp_path / "BUT"


def test_rooms_ids_and_meta_tags(but: Path, tmp_path: Path) -> None:
    out = tmp_path / "but.jsonl"
    cat = catalog("but_reverb", but, out)
    by_id = {c.id: c for c in cat}
    q = "VUT_FIT_Q301-MicID01-"
    assert sorted(by_id) == [
        "Hotel_SkalskyDvur_Room112-MicID01-SpkID01_20190502_S-01-v00",
        "Hotel_SkalskyDvur_Room112-MicID01-SpkID01_20190502_S-02-v00",
        f"{q}SpkID01_20190503_S-01-silence-v00",
        f"{q}SpkID01_20190503_S-01-v00",
        f"{q}SpkID01_20190503_S-02-v00",
        f"{q}SpkID02_20190503_S-01-v00",
        f"{q}SpkID02_20190503_S-02-v00",
    ]
    rirs = [c for c in cat if c.kind == "rir"]
    assert {c.id.split("-")[0]: c.room for c in rirs} == {
        "VUT_FIT_Q301": "VUT_FIT_Q301",
        "Hotel_SkalskyDvur_Room112": "Hotel_SkalskyDvur_Room112",
    }
    assert all(c.id.startswith(c.room) for c in rirs) and all(c.channel is None and c.num_channels == 1 for c in cat)
    assert by_id[f"{q}SpkID02_20190503_S-02-v00"].tags == (
        "config:MicID01",
        "source:SpkID02_20190503_S",
        "mic:02",
        "rt60:0.63",
        "distance_m:4.0",
        "mic_xyz:3.2,3.4,1.1",
        "source_xyz:5.1,2.0,1.5",
        "room_m:10.7x6.9x2.6",
    )
    hotel = by_id["Hotel_SkalskyDvur_Room112-MicID01-SpkID01_20190502_S-02-v00"]
    assert hotel.tags == ("config:MicID01", "source:SpkID01_20190502_S", "mic:02", "distance_m:1.5", "mic_xyz:3.2,3.4,1.1")  # RT60 n/a
    silence = by_id[f"{q}SpkID01_20190503_S-01-silence-v00"]
    assert (silence.kind, silence.room, silence.tags[-1]) == ("noise", None, "room:VUT_FIT_Q301")
    assert silence.active and silence.duration == 2.0
    assert rejects(out) == []


def test_two_talkers_take_their_rirs_from_one_room(but: Path, tmp_path: Path) -> None:
    rir, noise = tmp_path / "rir.jsonl", tmp_path / "noise.jsonl"
    rooms = {c.id: c.room for c in catalog("but_reverb", but, rir, kind="rir")}  # with --kind rir every decay is measured
    assert len(rooms) == 6 and rejects(rir) == []
    assert len(catalog("but_reverb", but, noise, kind="noise")) == 1
    for s, speaker in enumerate(("19", "26", "32")):
        for u in range(2):
            speech_file(tmp_path / "ls" / speaker / "1" / f"{speaker}-1-{u:04d}.flac", 1.8, f0=110.0 + 50 * s + 10 * u, seed=5 * s + u)
    speech = tmp_path / "speech.jsonl"
    catalog("librispeech", tmp_path / "ls", speech)
    rows = build_and_validate(tmp_path / "sep", [speech], [noise], rirs=[rir], task="separation", talkers={"count": [2, 2]}, num_examples=8)
    drawn = set()
    for row in rows:
        used = [s["rir_clip"] for s in row["scene"]["sources"]]
        assert len(used) == 2 and used[0] != used[1] and len({rooms[u] for u in used}) == 1, used
        drawn.add(rooms[used[0]])
    assert drawn == {"VUT_FIT_Q301", "Hotel_SkalskyDvur_Room112"}


def test_any_multi_position_set_one_room_per_top_folder(tmp_path: Path) -> None:
    root = tmp_path / "rooms"
    rir_file(root / "hall" / "pos1.wav", rt60=0.8, seed=1)
    rir_file(root / "hall" / "pos2.wav", rt60=0.8, seed=2)
    rir_file(root / "office" / "array" / "mic3.wav", rt60=0.4, seed=3)
    rir_file(root / "office" / "stereo.wav", rt60=0.4, seed=4, channels=2)
    rir_file(root / "lonely.wav", rt60=0.5, seed=5)
    cat = catalog("but_reverb", root, tmp_path / "rooms.jsonl", kind="rir")
    assert {c.id: (c.room, c.channel) for c in cat} == {
        "hall-pos1": ("hall", None),
        "hall-pos2": ("hall", None),
        "office-array-mic3": ("office", None),
        "office-stereo-ch0": ("office", 0),
        "office-stereo-ch1": ("office", 1),
        "lonely": (None, None),
    }
    assert all(c.tags == () and c.kind == "rir" for c in cat)
