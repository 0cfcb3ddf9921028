"""The DNS Challenge download as catalogs: clean subsets (language, speaker from the file name),
noise, impulse responses (SLR26 / SLR28 with their Kaldi lists, other RIR folders), the
RIR_table_simple.csv tags and its bad rows, and a build from one catalog per kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, rir_file, speech_file

IR = "datasets/impulse_responses"
SLR26 = f"{IR}/SLR26/simulated_rirs_16k/smallroom"
SLR28 = f"{IR}/SLR28/RIRS_NOISES/real_rirs_isotropic_noises"
TABLE = """wavfile,channel,T60_WB,C50_WB,isRealRIR
datasets\\impulse_responses\\SLR26\\simulated_rirs_16k\\smallroom\\Room001\\Room001-00001.wav,1,0.4120,12.31,0
{SLR28}/RVB2014_type1_rir_largeroom1_near_angla.wav,2,0.7300,5.10,1
{SLR26}/Room001/Room001-00009.wav,1,0.5,3.0,0
{SLR26}/Room001/Room001-00002.wav,one,0.5,3.0,0
{SLR28}/RVB2014_type1_rir_largeroom1_near_angla.wav,3,0.7,5.0,1
D:\\elsewhere\\x.wav,1,0.5,3.0,1
{SLR26}/Room001/Room001-00002.wav,1,slow,3.0,0
"""


@pytest.fixture
def dns(tmp_path: Path) -> Path:
    """A DNS checkout with both ``datasets/`` (DNS 1-3: clean files, impulse responses, the RIR
    table) and ``datasets_fullband/`` (DNS 4: clean subsets, noise, a noisy dev test set)."""
    root = tmp_path / "DNS-Challenge"
    clean = root / "datasets_fullband" / "clean_fullband"
    speech_file(clean / "read_speech" / "book_00000_chp_0009_reader_06709_0.wav", 1.6, f0=120.0, seed=1)
    speech_file(clean / "read_speech" / "book_00002_chp_0005_reader_11980_1.wav", 1.6, f0=180.0, seed=2)
    speech_file(clean / "german_speech" / "book_10481_chp_0001_reader_03214_7.wav", 1.6, f0=140.0, seed=3)
    speech_file(clean / "vctk_wav48_silence_trimmed" / "p225" / "p225_001_mic1.wav", 1.6, f0=210.0, seed=4)
    speech_file(clean / "emotional_speech" / "crema_d_1001_DFA_ANG_XX.wav", 1.6, f0=160.0, seed=5)
    speech_file(root / "datasets_fullband" / "dev_testset" / "noisy_testclips" / "clip_0.wav", 1.0, seed=6)  # not read
    speech_file(root / "datasets" / "clean" / "book_00003_chp_0001_reader_00123_4.wav", 1.6, f0=100.0, seed=7)
    noise_file(root / "datasets_fullband" / "noise_fullband" / "door_Freesound_validated_419319_3.wav", 2.0, seed=8)
    noise_file(root / "datasets_fullband" / "noise_fullband" / "7J3kchZ5UAg.wav", 2.0, seed=9)
    slr26 = root / SLR26
    rir_file(slr26 / "Room001" / "Room001-00001.wav", rt60=0.4, seed=1)
    rir_file(slr26 / "Room001" / "Room001-00002.wav", rt60=0.5, seed=2)
    (slr26 / "rir_list").write_text(
        "".join(
            f"--rir-id smallroom-Room001-0000{k} --room-id smallroom-Room001 simulated_rirs_16k/smallroom/Room001/Room001-0000{k}.wav\n"
            for k in (1, 2)
        )
    )
    slr28 = root / SLR28
    rir_file(slr28 / "RVB2014_type1_rir_largeroom1_near_angla.wav", rt60=0.7, seed=3, channels=2)
    noise_file(slr28 / "RVB2014_type1_noise_largeroom1_1.wav", 2.0, seed=10)
    (slr28 / "rir_list").write_text(
        "--rir-id RVB2014_type1_rir_largeroom1_near_angla --room-id RVB2014_largeroom1 "
        "RIRS_NOISES/real_rirs_isotropic_noises/RVB2014_type1_rir_largeroom1_near_angla.wav\n"
    )
    (slr28 / "noise_list").write_text(
        "--noise-id RVB2014_type1_noise_largeroom1_1 --noise-type isotropic --bg-fg-type background "
        "--room-linkage RVB2014_largeroom1 RIRS_NOISES/real_rirs_isotropic_noises/RVB2014_type1_noise_largeroom1_1.wav\n"
    )
    rir_file(root / IR / "custom" / "hall_a.wav", rt60=0.9, seed=4)
    table = root / "datasets" / "acoustic_params" / "RIR_table_simple.csv"
    table.parent.mkdir(parents=True)
    table.write_text(TABLE.format(SLR26=SLR26, SLR28=SLR28))
    return root


def test_rows_kinds_languages_speakers_rooms_and_table_tags(dns: Path, tmp_path: Path) -> None:
    out = tmp_path / "dns.jsonl"
    cat = catalog("dns", dns, out)
    by_id = {c.id: c for c in cat}
    fb = "datasets_fullband-clean_fullband-"
    speech = {i: (c.language, c.speaker, c.tags) for i, c in by_id.items() if c.kind == "speech"}
    assert speech == {
        f"{fb}read_speech-book_00000_chp_0009_reader_06709_0": ("en", "reader_06709", ("read_speech",)),
        f"{fb}read_speech-book_00002_chp_0005_reader_11980_1": ("en", "reader_11980", ("read_speech",)),
        f"{fb}german_speech-book_10481_chp_0001_reader_03214_7": ("de", "reader_03214", ("german_speech",)),
        f"{fb}vctk_wav48_silence_trimmed-p225-p225_001_mic1": ("en", "p225", ("vctk_wav48_silence_trimmed",)),
        f"{fb}emotional_speech-crema_d_1001_DFA_ANG_XX": (None, None, ("emotional_speech",)),
        "datasets-clean-book_00003_chp_0001_reader_00123_4": (None, "reader_00123", ()),
    }
    assert all(c.active and c.split is None and c.gender is None for c in cat if c.kind == "speech")
    noise = sorted(i for i, c in by_id.items() if c.kind == "noise")
    assert noise == [
        "datasets-impulse_responses-SLR28-RIRS_NOISES-RVB2014_type1_noise_largeroom1_1",
        "datasets_fullband-noise_fullband-7J3kchZ5UAg",
        "datasets_fullband-noise_fullband-door_Freesound_validated_419319_3",
    ]
    assert by_id[noise[0]].tags == ("real_rirs_isotropic_noises", "isotropic", "background", "room:RVB2014_largeroom1")
    rir = {i: (c.room, c.channel, c.tags) for i, c in by_id.items() if c.kind == "rir"}
    sim, real = "datasets-impulse_responses-SLR26-", "datasets-impulse_responses-SLR28-RIRS_NOISES-RVB2014_type1_rir_largeroom1_near_angla"
    assert rir == {
        f"{sim}smallroom-Room001-00001": (
            "smallroom-Room001",
            None,
            ("simulated_rirs_16k", "smallroom", "t60:0.4120", "c50:12.31", "simulated_rir"),
        ),
        f"{sim}smallroom-Room001-00002": ("smallroom-Room001", None, ("simulated_rirs_16k", "smallroom")),
        f"{real}-ch0": ("RVB2014_largeroom1", 0, ("real_rirs_isotropic_noises",)),
        f"{real}-ch1": ("RVB2014_largeroom1", 1, ("real_rirs_isotropic_noises", "t60:0.7300", "c50:5.10", "real_rir")),
        "datasets-impulse_responses-custom-hall_a": ("custom", None, ("custom",)),
    }
    assert all(c.num_channels == 1 and c.sample_rate == 16000 for c in cat)
    assert not any("dev_testset" in c.path for c in cat)

    rows = {Path(r["path"]).name: r for r in rejects(out)}
    assert {name: r["reason"] for name, r in rows.items()} == {
        "RIR_table_simple.csv:4": "unreadable",
        "RIR_table_simple.csv:5": "bad_row",
        "RIR_table_simple.csv:6": "no_such_channel",
        "RIR_table_simple.csv:7": "outside_root",
        "RIR_table_simple.csv:8": "bad_row",
    }
    assert "Room001-00009.wav" in rows["RIR_table_simple.csv:4"]["detail"]
    assert "'channel'" in rows["RIR_table_simple.csv:5"]["detail"] and "'T60_WB'" in rows["RIR_table_simple.csv:8"]["detail"]


def test_kind_keeps_one_kind_and_a_build_validates(dns: Path, tmp_path: Path) -> None:
    cats = {kind: tmp_path / f"{kind}.jsonl" for kind in ("speech", "noise", "rir")}
    counts = {kind: len(catalog("dns", dns, path, kind=kind)) for kind, path in cats.items()}
    assert counts == {"speech": 6, "noise": 3, "rir": 5}
    assert rejects(cats["speech"]) == [] and rejects(cats["noise"]) == []  # the RIR table is read for RIRs only
    assert len(rejects(cats["rir"])) == 5
    rows = build_and_validate(tmp_path / "ds", [cats["speech"]], [cats["noise"]], rirs=[cats["rir"]], num_examples=6)
    assert all(row["scene"]["sources"][0]["rir_clip"] for row in rows)
    assert {row["scene"]["sources"][0]["segment"]["clip_id"].split("-")[0] for row in rows} <= {"datasets", "datasets_fullband"}


def test_one_base_alone_names_ids_without_it(dns: Path, tmp_path: Path) -> None:
    cat = catalog("dns", dns / "datasets_fullband", tmp_path / "fb.jsonl", kind="noise")
    assert sorted(c.id for c in cat) == ["noise_fullband-7J3kchZ5UAg", "noise_fullband-door_Freesound_validated_419319_3"]
