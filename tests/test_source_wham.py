"""WHAM! noise as a catalog: splits from tr/cv/tt, the noise_meta CSV's columns as tags, rows whose
file is missing, malformed rows, files without a row, the 2 channels (``--max-channels 2``), and a
build with ``noise_channels``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

HEADER = "utterance_id,Noise Band,File ID,L to R Width (cm),Reverberation Level,Location ID,Location Day ID"
META = {
    "tr": [
        "40na010x_1.9857_01xo031a_-1.9857.wav,2,10015,17 cm,m,40,40_4",
        "011a010d_1.3053_20da010u_-1.3053.wav,0,10015,17 cm,l,40,40_4",
        "409o0317_0.1472_40pa0107_-0.1472.wav,1,10023,17 cm,h,12,12_1",  # no such file
        "01aa010k_0.92_01po0310_-0.92.wav,5,10031,17 cm,h,12,12_1",  # Noise Band 5
    ],
    "cv": ["01aa010k_1.3053_01po0310_-1.3053,3,20004,17 cm,H,7,7_2"],  # utterance_id without .wav, odd case
    "tt": [],
}


@pytest.fixture
def wham(tmp_path: Path) -> Path:
    """``wham_noise/`` with 2-channel files in tr, cv, tt and the three metadata CSVs."""
    root = tmp_path / "wham_noise"
    names = {
        "tr": ["40na010x_1.9857_01xo031a_-1.9857", "011a010d_1.3053_20da010u_-1.3053", "01aa010k_0.92_01po0310_-0.92"],
        "cv": ["01aa010k_1.3053_01po0310_-1.3053"],
        "tt": ["050a050a_0.4_051a051b_-0.4"],  # noise_meta_tt.csv has no row for it
    }
    for i, (folder, stems) in enumerate(names.items()):
        for k, stem in enumerate(stems):
            noise_file(root / folder / f"{stem}.wav", 2.0 + 0.5 * k, seed=10 * i + k, channels=2)
    (root / "metadata").mkdir()
    for folder, lines in META.items():
        extra = ["", "40na010x_1.9857_01xo031a_-1.9857.wav,2,1,17 cm,m,40,40_4"] if folder == "tr" else []  # a blank line, a repeat
        (root / "metadata" / f"noise_meta_{folder}.csv").write_text("\n".join([HEADER, *lines, *extra]) + "\n")
    return tmp_path


def test_rows_splits_tags_and_rejects(wham: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "wham.jsonl"
    cat = catalog("wham", wham, out, max_channels=2)  # ROOT: the folder holding wham_noise/
    by_id = {c.id: c for c in cat}
    assert sorted(by_id) == [
        "cv-01aa010k_1.3053_01po0310_-1.3053",
        "tr-011a010d_1.3053_20da010u_-1.3053",
        "tr-01aa010k_0.92_01po0310_-0.92",
        "tr-40na010x_1.9857_01xo031a_-1.9857",
        "tt-050a050a_0.4_051a051b_-0.4",
    ]
    assert {i.split("-")[0]: c.split for i, c in by_id.items()} == {"tr": "train", "cv": "dev", "tt": "test"}
    assert all((c.kind, c.num_channels, c.channel, c.corpus) == ("noise", 2, None, "wham") for c in cat)
    first = by_id["tr-40na010x_1.9857_01xo031a_-1.9857"]
    assert first.tags == ("noise_band:2", "recording:10015", "width_cm:17", "reverb:medium", "location:40", "location_day:40_4")
    assert (first.duration, first.sample_rate) == (2.0, 16000)
    assert by_id["tr-011a010d_1.3053_20da010u_-1.3053"].tags[3] == "reverb:low"
    assert by_id["cv-01aa010k_1.3053_01po0310_-1.3053"].tags[:1] + by_id["cv-01aa010k_1.3053_01po0310_-1.3053"].tags[3:4] == (
        "noise_band:3",
        "reverb:high",
    )
    assert by_id["tr-01aa010k_0.92_01po0310_-0.92"].tags == ()  # its row is malformed: catalogued without tags
    assert by_id["tt-050a050a_0.4_051a051b_-0.4"].tags == ()  # in no row: catalogued all the same

    rows = {Path(r["path"]).name: r for r in rejects(out)}
    assert {name: r["reason"] for name, r in rows.items()} == {
        "noise_meta_tr.csv:4": "unreadable",
        "noise_meta_tr.csv:5": "bad_row",
        "noise_meta_tr.csv:7": "bad_row",
    }
    assert "409o0317_0.1472_40pa0107_-0.1472.wav" in rows["noise_meta_tr.csv:4"]["detail"]
    assert "'Noise Band'" in rows["noise_meta_tr.csv:5"]["detail"]
    assert "listed twice" in rows["noise_meta_tr.csv:7"]["detail"]


def test_without_max_channels_every_file_is_too_many_channels(wham: Path, tmp_path: Path) -> None:
    out = tmp_path / "mono.jsonl"
    assert len(catalog("wham", wham / "wham_noise", out)) == 0
    assert sum(r["reason"] == "too_many_channels" for r in rejects(out)) == 5


def test_a_build_with_noise_channels_validates(wham: Path, tmp_path: Path) -> None:
    noise = tmp_path / "wham.jsonl"
    catalog("wham", wham, noise, max_channels=2)
    for k, speaker in enumerate(("a", "b")):
        speech_file(tmp_path / "speech" / f"{speaker}.wav", 1.8, f0=120.0 + 50 * k, seed=k)
    speech = tmp_path / "speech.jsonl"
    catalog("folder", tmp_path / "speech", speech, kind="speech")
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], noise_channels="random", num_examples=6)
    assert {row["scene"]["noise"]["channel"] for row in rows} <= {0, 1}
    assert {row["scene"]["noise"]["segment"]["clip_id"].split("-")[0] for row in rows} <= {"tr", "cv", "tt"}
