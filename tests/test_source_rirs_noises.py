"""Kaldi's RIRS_NOISES as catalogs: rooms from the rir_lists' ``--room-id``, multi-channel RIRs one
clip per channel, isotropic noises linked to their room, sox-remix and ``--channel`` lines, bad
lines, missing and outside files, and builds whose talkers share a room."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, rir_file, speech_file

from audiosynth.corpora import catalog_corpus
from audiosynth.errors import CatalogError

REAL = "RIRS_NOISES/real_rirs_isotropic_noises"
POINT = "RIRS_NOISES/pointsource_noises"
SMALL = "RIRS_NOISES/simulated_rirs/smallroom"
FAR = "RVB2014_type1_rir_largeroom1_far_angla.wav"
RWCP = "RWCP_type2_rir_cirline_ofc_imp050.wav"


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def librispeech(root: Path) -> Path:
    """A tiny LibriSpeech subset: two speakers, two utterances each."""
    for s, speaker in enumerate(("19", "26")):
        for u in range(2):
            speech_file(root / speaker / "198" / f"{speaker}-198-{u:04d}.flac", 1.8, f0=110.0 + 60 * s + 15 * u, seed=10 * s + u)
    return root


@pytest.fixture
def rirs(tmp_path: Path) -> Path:
    """RIRS_NOISES below ``tmp/data``: two simulated small rooms (listed), a medium room without its
    rir_list, real RIRs (a 2-channel file named whole, a sox-remix line), isotropic noises, point-source
    noises, an unlisted file, and bad lines."""
    data = tmp_path / "data"
    top = data / "RIRS_NOISES"
    sim = top / "simulated_rirs"
    for room, n in (("Room001", 2), ("Room002", 1)):
        for k in range(1, n + 1):
            rir_file(sim / "smallroom" / room / f"{room}-{k:05d}.wav", rt60=0.3 + 0.1 * k, seed=k)
    rir_file(sim / "mediumroom" / "Room001" / "Room001-00001.wav", rt60=0.6, seed=7)
    write_lines(
        sim / "smallroom" / "rir_list",
        [
            f"--rir-id smallroom-Room001-00001 --room-id smallroom-Room001 {SMALL}/Room001/Room001-00001.wav",
            f"--rir-id smallroom-Room001-00002 --room-id smallroom-Room001 {SMALL}/Room001/Room001-00002.wav",
            f"--rir-id smallroom-Room002-00001 --room-id smallroom-Room002 --rt60 0.41 {SMALL}/Room002/Room002-00001.wav",
            f"--room-id smallroom-Room003 {SMALL}/Room003/Room003-00001.wav",  # no --rir-id
            f"--rir-id smallroom-Room009-00001 --room-id smallroom-Room009 {SMALL}/Room009/Room009-00001.wav",
            f"--rir-id smallroom-Room001-00003 --room-id smallroom-Room001 --rt60 fast {SMALL}/Room001/x.wav",
        ],
    )
    real = top / "real_rirs_isotropic_noises"
    rir_file(real / "RVB2014_type1_rir_largeroom1_far_angla.wav", rt60=0.7, seed=3, channels=2)
    rir_file(real / "RWCP_type2_rir_cirline_ofc_imp050.wav", rt60=0.5, seed=4, channels=2)
    rir_file(real / "mystery_take.wav", seed=5)  # in no list: left out
    noise_file(real / "RVB2014_type1_noise_largeroom1_1.wav", 2.0, seed=6, channels=2)
    noise_file(real / "RWCP_type2_noise_cirline_ofc_ambient1.wav", 2.0, seed=8, channels=2)
    write_lines(
        real / "rir_list",
        [
            f"--rir-id RVB2014_type1_rir_largeroom1_far_angla --room-id RVB2014_largeroom1 {REAL}/{FAR}",
            f'--rir-id RWCP_type2_rir_cirline_ofc_imp050_2 --room-id RWCP_cirline_ofc "sox {REAL}/{RWCP} -t wav - remix 2 |"',
            "--rir-id evil --room-id nowhere RIRS_NOISES/../../outside/evil.wav",
        ],
    )
    rir_file(tmp_path / "outside" / "evil.wav", seed=9)
    write_lines(
        real / "noise_list",
        [
            (
                "--noise-id RVB2014_type1_noise_largeroom1_1 --noise-type isotropic --bg-fg-type background "
                f"--room-linkage RVB2014_largeroom1 {REAL}/RVB2014_type1_noise_largeroom1_1.wav"
            ),
            (
                "--noise-id RWCP_type2_noise_cirline_ofc_ambient1_1 --noise-type isotropic --bg-fg background "
                f"--room-linkage RWCP_cirline_ofc --channel 1 {REAL}/RWCP_type2_noise_cirline_ofc_ambient1.wav"
            ),
            f'--noise-id piped --noise-type isotropic "cat {REAL}/RVB2014_type1_noise_largeroom1_1.wav |"',
        ],
    )
    for name in ("noise-free-sound-0000", "noise-free-sound-0001"):
        noise_file(top / "pointsource_noises" / f"{name}.wav", 1.5, seed=len(name) + int(name[-1]))
    write_lines(
        top / "pointsource_noises" / "noise_list",
        [
            f"--noise-id noise-free-sound-0000 --noise-type point-source --bg-fg-type foreground {POINT}/noise-free-sound-0000.wav",
            f"--noise-id noise-free-sound-0001 --noise-type point-source --bg-fg-type background {POINT}/noise-free-sound-0001.wav",
        ],
    )
    return data


def test_rows_rooms_channels_and_tags(rirs: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "all.jsonl"
    cat = catalog("rirs_noises", rirs, out)
    by_id = {c.id: c for c in cat}
    assert sorted(by_id) == [
        "RVB2014_type1_rir_largeroom1_far_angla-ch0",
        "RVB2014_type1_rir_largeroom1_far_angla-ch1",
        "RWCP_type2_noise_cirline_ofc_ambient1_1",
        "RWCP_type2_rir_cirline_ofc_imp050_2",
        "mediumroom-Room001-00001",
        "noise-free-sound-0000",
        "noise-free-sound-0001",
        "smallroom-Room001-00001",
        "smallroom-Room001-00002",
        "smallroom-Room002-00001",
    ]
    rirs_ = {i: c for i, c in by_id.items() if c.kind == "rir"}
    assert {i: c.room for i, c in rirs_.items()} == {
        "RVB2014_type1_rir_largeroom1_far_angla-ch0": "RVB2014_largeroom1",
        "RVB2014_type1_rir_largeroom1_far_angla-ch1": "RVB2014_largeroom1",
        "RWCP_type2_rir_cirline_ofc_imp050_2": "RWCP_cirline_ofc",
        "mediumroom-Room001-00001": "mediumroom-Room001",  # no rir_list: by name
        "smallroom-Room001-00001": "smallroom-Room001",
        "smallroom-Room001-00002": "smallroom-Room001",
        "smallroom-Room002-00001": "smallroom-Room002",
    }
    assert [
        (
            by_id[f"RVB2014_type1_rir_largeroom1_far_angla-ch{k}"].channel,
            by_id[f"RVB2014_type1_rir_largeroom1_far_angla-ch{k}"].num_channels,
        )
        for k in (0, 1)
    ] == [(0, 1), (1, 1)]
    assert (rirs_["RWCP_type2_rir_cirline_ofc_imp050_2"].channel, rirs_["RWCP_type2_rir_cirline_ofc_imp050_2"].num_channels) == (
        1,
        1,
    )  # remix 2
    assert by_id["smallroom-Room002-00001"].tags == ("simulated_rirs", "smallroom", "rt60:0.41")
    assert by_id["smallroom-Room001-00001"].channel is None and by_id["smallroom-Room001-00001"].duration == 0.5
    assert all(c.active is None for c in rirs_.values())
    iso = by_id["RWCP_type2_noise_cirline_ofc_ambient1_1"]
    assert (iso.kind, iso.channel, iso.room) == ("noise", 1, None)
    assert iso.tags == ("real_rirs_isotropic_noises", "isotropic", "background", "room:RWCP_cirline_ofc")
    assert by_id["noise-free-sound-0000"].tags == ("pointsource_noises", "point-source", "foreground")
    assert by_id["noise-free-sound-0001"].tags == ("pointsource_noises", "point-source", "background")
    assert "mystery_take" not in by_id
    assert {c.corpus for c in cat} == {"rirs_noises"}

    rows = rejects(out)
    reasons = sorted((Path(r["path"]).name.split(":")[0], r["reason"]) for r in rows)
    assert reasons == [
        ("RVB2014_type1_noise_largeroom1_1.wav", "too_many_channels"),  # 2 channels, whole: needs --max-channels 2
        ("evil.wav", "outside_root"),
        ("noise_list", "command"),
        ("rir_list", "bad_row"),
        ("rir_list", "bad_row"),
        ("rir_list", "unreadable"),
    ]
    by_line = {r["path"].rsplit("/", 2)[-2] + "/" + Path(r["path"]).name: r for r in rows if ":" in Path(r["path"]).name}
    assert by_line["smallroom/rir_list:4"]["detail"] == "no '--rir-id' / '--noise-id'"
    assert "Room009-00001.wav: no such file" in by_line["smallroom/rir_list:5"]["detail"]
    assert "'--rt60' is not a number" in by_line["smallroom/rir_list:6"]["detail"]
    assert "cat " in by_line["real_rirs_isotropic_noises/noise_list:3"]["detail"]


def test_multichannel_noise_with_max_channels_and_kind_filters(rirs: Path, tmp_path: Path) -> None:
    cat = catalog("rirs_noises", rirs / "RIRS_NOISES", tmp_path / "n.jsonl", kind="noise", max_channels=2)
    iso = cat.by_id("RVB2014_type1_noise_largeroom1_1")
    assert (iso.num_channels, iso.channel, iso.tags[-1]) == (2, None, "room:RVB2014_largeroom1")
    assert {c.kind for c in cat} == {"noise"} and len(cat) == 4
    assert not any(r["reason"] in ("bad_row", "unreadable") for r in rejects(tmp_path / "n.jsonl"))  # rir_list not read
    rir = catalog("rirs_noises", rirs, tmp_path / "r.jsonl", kind="rir")
    assert {c.kind for c in rir} == {"rir"} and len(rir) == 7


def test_kind_rir_refuses_a_rir_without_decay(rirs: Path, tmp_path: Path) -> None:
    flat = rirs / "RIRS_NOISES" / "simulated_rirs" / "smallroom" / "Room001" / "Room001-00002.wav"
    noise_file(flat, 0.5, seed=11)  # white noise: no decay to measure
    catalog("rirs_noises", rirs, tmp_path / "r.jsonl", kind="rir")
    assert {r["reason"] for r in rejects(tmp_path / "r.jsonl") if r["path"].endswith("Room001-00002.wav")} == {"shallow_decay"}


def test_an_empty_corpus_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "RIRS_NOISES" / "simulated_rirs").mkdir(parents=True)
    with pytest.raises(CatalogError, match="no audio files found"):
        catalog_corpus("rirs_noises", tmp_path, tmp_path / "x.jsonl", workers=1, progress=False)


def test_builds_draw_both_talkers_from_one_room(rirs: Path, tmp_path: Path) -> None:
    speech = tmp_path / "speech.jsonl"
    catalog("librispeech", librispeech(tmp_path / "ls"), speech)
    rir = tmp_path / "rirs.jsonl"
    catalog("rirs_noises", rirs, rir, kind="rir")
    noise = tmp_path / "noise.jsonl"
    catalog("rirs_noises", rirs, noise, kind="noise")  # the 2-channel whole noise is rejected: mono noises only
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], rirs=[rir])
    assert all(row["scene"]["sources"][0]["rir_clip"] for row in rows)
    rooms = {c.id: c.room for c in catalog("rirs_noises", rirs, tmp_path / "again.jsonl", kind="rir")}
    two = build_and_validate(tmp_path / "sep", [speech], [noise], rirs=[rir], task="separation", talkers={"count": [2, 2]}, num_examples=6)
    for row in two:
        used = [s["rir_clip"] for s in row["scene"]["sources"]]
        assert len(used) == 2 and len({rooms[u] for u in used}) == 1, used
