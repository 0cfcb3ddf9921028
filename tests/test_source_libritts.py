"""LibriTTS and LibriTTS-R as catalogs: subsets as splits, normalized texts from trans.tsv and the
.normalized.txt files, genders from speakers.tsv (a short line too) or SPEAKERS.txt, ROOT a
subset, LibriTTS-R's failed-restoration lists as rejects, and a build from 24 kHz clips."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

SPEAKERS_TSV = (
    "READER\tGENDER\tSUBSET\tNAME\n19\tF\ttrain-clean-100\tKara Shallenberg\n84\tF\tdev-clean\n174\tM\tdev-clean\tPeter Eastman\n"
)
# id, original, normalized (LibriTTS's chapter table)
TRANS = {
    "19_198_000000_000000": ("Chapter 1. It was 3 o'clock.", "Chapter one. It was three o'clock."),
    "19_198_000000_000001": ('"Hello," said the boy.', '"Hello," said the boy.'),
}


def utterance(chapter: Path, utt: str, seconds: float, original: str | None, normalized: str | None, seed: int) -> None:
    speech_file(chapter / f"{utt}.wav", seconds, f0=110.0 + 10 * seed, rate=24000, seed=seed)
    if original is not None:
        (chapter / f"{utt}.original.txt").write_text(original, encoding="utf-8")
    if normalized is not None:
        (chapter / f"{utt}.normalized.txt").write_text(normalized, encoding="utf-8")


def make_libritts(root: Path) -> Path:
    chapter = root / "train-clean-100" / "19" / "198"
    for seed, (utt, (original, normalized)) in enumerate(TRANS.items()):
        utterance(chapter, utt, 1.6 + 0.2 * seed, original, normalized, seed)
    utterance(chapter, "19_198_000001_000000", 1.7, "Not in the table, 2 words.", "Not in the table, two words.", 5)
    (chapter / "19_198.trans.tsv").write_text("".join(f"{k}\t{o}\t{n}\n" for k, (o, n) in TRANS.items()), encoding="utf-8")
    utterance(root / "dev-clean" / "84" / "121123", "84_121123_000007_000001", 1.9, "Only the original.", None, 6)
    utterance(root / "dev-clean" / "174" / "50561", "174_50561_000002_000000", 2.0, "Mr. Smith.", "Mister Smith.", 7)
    (root / "speakers.tsv").write_text(SPEAKERS_TSV, encoding="utf-8")
    return root


def test_libritts_rows_field_by_field(tmp_path: Path) -> None:
    root = make_libritts(tmp_path / "LibriTTS")
    out = tmp_path / "libritts.jsonl"
    cat = catalog("libritts", root, out)
    ids = ["174_50561_000002_000000", "19_198_000000_000000", "19_198_000000_000001", "19_198_000001_000000", "84_121123_000007_000001"]
    assert [c.id for c in cat] == ids
    first = cat.by_id("19_198_000000_000000")
    assert (first.text, first.original_text) == ("Chapter one. It was three o'clock.", "Chapter 1. It was 3 o'clock.")
    assert cat.by_id("19_198_000000_000001").original_text is None  # the same text twice: no original kept
    normalized = catalog("libritts", root, tmp_path / "norm.jsonl", text_norm="librispeech").by_id(first.id)
    assert (normalized.text, normalized.original_text) == ("CHAPTER 1 IT WAS 3 O'CLOCK", "Chapter 1. It was 3 o'clock.")
    assert (first.speaker, first.gender, first.split, first.language, first.corpus) == ("19", "female", "train", "en", "libritts")
    assert (first.duration, first.sample_rate) == (1.6, 24000)
    assert first.path == "LibriTTS/train-clean-100/19/198/19_198_000000_000000.wav"
    assert cat.by_id("19_198_000000_000001").text == '"Hello," said the boy.'
    assert cat.by_id("19_198_000001_000000").text == "Not in the table, two words."  # from its .normalized.txt
    mister = cat.by_id("174_50561_000002_000000")
    assert (mister.text, mister.gender, mister.split) == ("Mister Smith.", "male", "dev")
    only_original = cat.by_id("84_121123_000007_000001")  # no .normalized.txt, not in a trans.tsv: the original
    assert (only_original.text, only_original.gender) == ("Only the original.", "female")  # speakers.tsv's 3-column line
    assert rejects(out) == []


def test_root_may_be_a_subset(tmp_path: Path) -> None:
    root = make_libritts(tmp_path / "LibriTTS")
    cat = catalog("libritts", root / "dev-clean", tmp_path / "dev.jsonl")
    assert {c.id: (c.split, c.gender, c.text) for c in cat} == {
        "84_121123_000007_000001": ("dev", "female", "Only the original."),  # speakers.tsv from the folder above
        "174_50561_000002_000000": ("dev", "male", "Mister Smith."),
    }


def test_speakers_txt_when_there_is_no_speakers_tsv(tmp_path: Path) -> None:
    root = make_libritts(tmp_path / "LibriTTS")
    (root / "speakers.tsv").unlink()
    (root / "SPEAKERS.txt").write_text(";ID  |SEX| SUBSET           |MINUTES| NAME\n19   | M | train-clean-100  | 25.19 | X\n")
    cat = catalog("libritts", root, tmp_path / "l.jsonl")
    assert cat.by_id("19_198_000000_000000").gender == "male" and cat.by_id("174_50561_000002_000000").gender is None


def test_libritts_r_failed_restorations_are_rejects_naming_the_list_line(tmp_path: Path) -> None:
    root = make_libritts(tmp_path / "LibriTTS_R")
    lists = tmp_path / "libritts_r_failed_speech_restoration_examples"  # extracted beside LibriTTS_R/
    lists.mkdir()
    (lists / "train-clean-100_bad_sample_list.txt").write_text(
        "./train-clean-100/103/1241/103_1241_000000_000001.wav\n./train-clean-100/19/198/19_198_000000_000001.wav\n"
    )
    (lists / "dev-clean_bad_sample_list.txt").write_text("./dev-clean/174/50561/174_50561_000002_000000.wav\n")
    out = tmp_path / "r.jsonl"
    cat = catalog("libritts_r", root, out)
    assert [c.id for c in cat] == ["19_198_000000_000000", "19_198_000001_000000", "84_121123_000007_000001"]
    assert {c.corpus for c in cat} == {"libritts_r"}
    got = {(Path(r["path"]).name, r["reason"], r["detail"].rsplit("/", 1)[-1]) for r in rejects(out)}
    assert got == {
        ("19_198_000000_000001.wav", "bad_row", "train-clean-100_bad_sample_list.txt:2"),
        ("174_50561_000002_000000.wav", "bad_row", "dev-clean_bad_sample_list.txt:1"),
    }
    sub = catalog("libritts_r", root / "dev-clean", tmp_path / "sub.jsonl")  # ROOT a subset: the lists two folders up
    assert [c.id for c in sub] == ["84_121123_000007_000001"] and len(rejects(tmp_path / "sub.jsonl")) == 1


def test_a_build_from_libritts_validates(tmp_path: Path) -> None:
    root = make_libritts(tmp_path / "LibriTTS")
    speech = tmp_path / "libritts.jsonl"
    cat = catalog("libritts", root, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    catalog("folder", tmp_path / "noise", tmp_path / "noise.jsonl", kind="noise")
    rows = build_and_validate(
        tmp_path / "ds", [speech], [tmp_path / "noise.jsonl"], num_examples=4, splits={"train": 0.5, "dev": 0.5, "test": 0.0}
    )
    assert all(cat.by_id(row["labels"]["speech_clip"]).split == row["split"] for row in rows)
    assert {row["sample_rate"] for row in rows} == {16000}  # the 24 kHz clips resampled


@pytest.mark.parametrize("name", ["libritts", "libritts_r"])
def test_an_empty_subset_folder_finds_nothing(tmp_path: Path, name: str) -> None:
    (tmp_path / "LibriTTS" / "test-clean").mkdir(parents=True)
    from audiosynth.corpora import catalog_corpus
    from audiosynth.errors import CatalogError

    with pytest.raises(CatalogError, match="no audio files found"):
        catalog_corpus(name, tmp_path / "LibriTTS", tmp_path / "c.jsonl", workers=1, progress=False)
