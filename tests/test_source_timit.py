"""TIMIT as a catalog: NIST SPHERE .WAV files with .TXT/.WRD/.PHN beside them, the lower-case and
the Kaggle (``SA1.WAV.wav``) copies, words and phones in seconds, bad alignment files, a build."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

SA1_TEXT = "0 46797 She had your dark suit in greasy wash water all year.\n"
SA1_WRD = "3050 5723 she\n5723 10337 had\n9190 11517 your\n11517 16334 dark\n16334 21199 suit\n"  # "had"/"your" overlap
SA1_PHN = "0 3050 h#\n3050 4559 sh\n4559 5723 ix\n5723 6642 hv\n6642 8772 eh\n8772 9190 dcl\n9190 10337 jh\n"
SX38_WRD = "2240 5160 how\n5160 seven 6680 permanent\n"  # line 2 is malformed
SX38_PHN = "0 2240 h#\n2240 3680 hh\n3680 5160 aw\n5160 5400 pau\n5400 6680 epi\n"


def sentence(
    folder: Path, name: str, seconds: float, text: str | None, wrd: str | None, phn: str | None, *, ext: str | None = None, seed: int = 0
) -> None:
    """One TIMIT sentence: audio named ``<name><ext>`` (NIST SPHERE; RIFF for Kaggle's ``.WAV.wav``) and its
    .TXT/.WRD/.PHN (same case as ``name``)."""
    ext = ext or (".WAV" if name.isupper() else ".wav")
    riff = ext.lower() == ".wav.wav"
    speech_file(folder / f"{name}{ext}", seconds, f0=110.0 + 20 * seed, seed=seed, format="WAV" if riff else "NIST", subtype="PCM_16")
    upper = name.isupper()
    for suffix, content in ((".TXT", text), (".WRD", wrd), (".PHN", phn)):
        if content is not None:
            (folder / f"{name}{suffix if upper else suffix.lower()}").write_text(content)


@pytest.fixture
def timit(tmp_path: Path) -> Path:
    """TIMIT/TRAIN/DR1/FCJF0 (SA1, SI648, SX38), TIMIT/TEST/DR1/MDAB0 (SA1: a core test speaker),
    TIMIT/TEST/DR4/MBNS0 (SX410 and an empty SX139.WAV), and DOC/ which is no speech."""
    root = tmp_path / "TIMIT"
    fcjf0 = root / "TRAIN" / "DR1" / "FCJF0"
    sentence(fcjf0, "SA1", 1.5, SA1_TEXT, SA1_WRD, SA1_PHN)
    sentence(
        fcjf0, "SI648", 1.2, "0 19200 A sailboat may have a bone in her teeth.\n", "1000 22400 sailboat\n", None, seed=1
    )  # past the end
    sentence(fcjf0, "SX38", 1.0, None, SX38_WRD, SX38_PHN, seed=2)  # no .TXT
    sentence(root / "TEST" / "DR1" / "MDAB0", "SA1", 1.4, SA1_TEXT, SA1_WRD, SA1_PHN, seed=3)
    sentence(root / "TEST" / "DR4" / "MBNS0", "SX410", 1.1, "0 17000 Bright sunshine shimmers on the ocean.\n", None, None, seed=4)
    (root / "TEST" / "DR4" / "MBNS0" / "SX139.WAV").write_bytes(b"")
    (root / "DOC").mkdir()
    (root / "DOC" / "SPKRINFO.TXT").write_text(";  ID  Sex DR Use\n  FCJF0  F  1  TRN\n")
    return root


def test_timit_rows_words_phones_tags_and_splits(timit: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "timit.jsonl"
    with caplog.at_level(logging.WARNING):
        cat = catalog("timit", timit, out)
    assert sorted(c.id for c in cat) == ["FCJF0-SA1", "FCJF0-SI648", "FCJF0-SX38", "MBNS0-SX410", "MDAB0-SA1"]
    sa1 = cat.by_id("FCJF0-SA1")
    assert (sa1.speaker, sa1.gender, sa1.split, sa1.language, sa1.corpus) == ("FCJF0", "female", "train", "en", "timit")
    assert sa1.tags == ("DR1", "SA")
    assert sa1.text == "She had your dark suit in greasy wash water all year."
    assert (sa1.duration, sa1.sample_rate, sa1.num_channels) == (1.5, 16000, 1)
    assert sa1.words == (
        ("she", 0.190625, 0.3576875),
        ("had", 0.3576875, 0.6460625),
        ("your", 0.574375, 0.7198125),  # overlaps "had", as TIMIT's do
        ("dark", 0.7198125, 1.020875),
        ("suit", 1.020875, 1.3249375),
    )
    assert sa1.phones[0] == ("h#", 0.0, 0.190625) and sa1.phones[-1] == ("jh", 0.574375, 0.6460625) and len(sa1.phones) == 7
    core = cat.by_id("MDAB0-SA1")
    assert (core.split, core.gender, core.tags) == ("test", "male", ("DR1", "SA", "core_test"))
    other = cat.by_id("MBNS0-SX410")
    assert (other.split, other.tags, other.words, other.phones) == ("test", ("DR4", "SX"), None, None)
    # a malformed .WRD line: the clip keeps its audio and phones (pauses are phones), not its words
    sx38 = cat.by_id("FCJF0-SX38")
    assert sx38.words is None and sx38.text is None and sx38.tags == ("DR1", "SX")
    assert [p[0] for p in sx38.phones] == ["h#", "hh", "aw", "pau", "epi"]
    # words past the end of the audio: dropped after the scan, the clip kept
    si648 = cat.by_id("FCJF0-SI648")
    assert si648.words is None and si648.text == "A sailboat may have a bone in her teeth." and si648.tags == ("DR1", "SI")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{timit / 'TRAIN' / 'DR1' / 'FCJF0' / 'SX38.WRD'}:2: expected '<start> <end> <label>'" in m for m in messages), messages
    assert any("clip FCJF0-SI648: its words end at 1.4 s, past its 1.2 s of audio; catalogued without words" in m for m in messages)
    assert [(Path(r["path"]).name, r["reason"]) for r in rejects(out)] == [("SX139.WAV", "empty")]
    assert sf.info(str(timit / "TRAIN" / "DR1" / "FCJF0" / "SA1.WAV")).format == "NIST"  # the test's files are SPHERE, as TIMIT's


def test_lower_case_timit_gives_the_same_rows(timit: Path, tmp_path: Path) -> None:
    lower = tmp_path / "timit"
    fcjf0 = lower / "train" / "dr1" / "fcjf0"
    sentence(fcjf0, "sa1", 1.5, SA1_TEXT, SA1_WRD, SA1_PHN)
    sentence(lower / "test" / "dr1" / "mdab0", "sa1", 1.4, SA1_TEXT, SA1_WRD, SA1_PHN, seed=3)
    got = catalog("timit", lower, tmp_path / "lower.jsonl")
    upper = catalog("timit", timit, tmp_path / "upper.jsonl")
    assert sorted(c.id for c in got) == ["FCJF0-SA1", "MDAB0-SA1"]
    for clip_id in ("FCJF0-SA1", "MDAB0-SA1"):
        a, b = got.by_id(clip_id), upper.by_id(clip_id)
        assert (a.speaker, a.gender, a.split, a.tags, a.text, a.words, a.phones) == (
            b.speaker,
            b.gender,
            b.split,
            b.tags,
            b.text,
            b.words,
            b.phones,
        )
    assert got.by_id("FCJF0-SA1").path.endswith("train/dr1/fcjf0/sa1.wav")


def test_kaggle_timit_takes_the_riff_copy_once(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    fcjf0 = root / "data" / "TRAIN" / "DR1" / "FCJF0"
    sentence(fcjf0, "SA1", 1.5, SA1_TEXT, SA1_WRD, SA1_PHN)  # the original SA1.WAV (NIST) ...
    speech_file(fcjf0 / "SA1.WAV.wav", 1.5, f0=110.0)  # ... and its RIFF conversion beside it
    sentence(fcjf0, "SX38", 1.0, None, None, SX38_PHN, ext=".WAV.wav", seed=2)  # only the RIFF copy
    (root / "train_data.csv").write_text("index,test_or_train,dialect_region,speaker_id,filename,path_from_data_dir\n")
    cat = catalog("timit", root, tmp_path / "kaggle.jsonl")
    assert sorted(c.id for c in cat) == ["FCJF0-SA1", "FCJF0-SX38"]
    sa1 = cat.by_id("FCJF0-SA1")
    assert sa1.path.endswith("SA1.WAV.wav") and sa1.split == "train" and sa1.words[0] == ("she", 0.190625, 0.3576875)
    assert sf.info(str(cat.resolve(sa1))).format == "WAV"
    assert cat.by_id("FCJF0-SX38").phones[-1] == ("epi", 0.3375, 0.4175)
    # ROOT may be the TRAIN folder itself
    assert sorted(c.id for c in catalog("timit", root / "data" / "TRAIN", tmp_path / "train.jsonl")) == ["FCJF0-SA1", "FCJF0-SX38"]


def test_a_build_from_the_timit_catalog_validates(timit: Path, tmp_path: Path) -> None:
    speech = tmp_path / "timit.jsonl"
    catalog("timit", timit, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], num_examples=4, duration_s=[1.0, 1.2])
    assert {row["labels"]["speech_clip"] for row in rows} <= {"FCJF0-SA1", "FCJF0-SI648", "FCJF0-SX38", "MBNS0-SX410", "MDAB0-SA1"}
