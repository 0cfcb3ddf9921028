"""AISHELL-1 as a catalog: the three split folders, the v0.8 transcript, speaker.info genders, a
wav without a transcript, a leftover speaker tarball, a release still in tarballs (refused), and a build."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.corpora import catalog_corpus
from audiosynth.errors import CatalogError

TRANSCRIPT = """BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购
BAC009S0002W0123 也 成为 地方 政府 的 眼中 钉
BAC009S0724W0121 甚至 出现 交易 几乎 停滞 的 情况
BAC009S0764W0121 甚至 出现 交易 几乎 停滞 的 情况
"""
SPEAKER_INFO = "0002 F\n0724 M\n0764 F\n"


def tarball(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def aishell(tmp_path: Path) -> Path:
    root = tmp_path / "aishell"
    wav = root / "data_aishell" / "wav"
    speech_file(wav / "train" / "S0002" / "BAC009S0002W0122.wav", 1.8, f0=210.0, seed=1)
    speech_file(wav / "train" / "S0002" / "BAC009S0002W0123.wav", 1.6, f0=220.0, seed=2)
    speech_file(wav / "train" / "S0002" / "BAC009S0002W0124.wav", 1.7, f0=215.0, seed=3)  # no transcript line
    speech_file(wav / "dev" / "S0724" / "BAC009S0724W0121.wav", 1.9, f0=120.0, seed=4)
    speech_file(wav / "test" / "S0764" / "BAC009S0764W0121.wav", 2.0, f0=200.0, seed=5)
    tarball(wav / "S0915.tar.gz", {"test/S0915/BAC009S0915W0121.wav": b"RIFF"})  # never extracted
    (root / "data_aishell" / "transcript").mkdir(parents=True)
    (root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (root / "resource_aishell").mkdir()
    (root / "resource_aishell" / "speaker.info").write_text(SPEAKER_INFO, encoding="utf-8")
    return root


def test_aishell_rows_field_by_field(aishell: Path, tmp_path: Path) -> None:
    out = tmp_path / "aishell.jsonl"
    cat = catalog("aishell", aishell, out)
    assert [c.id for c in cat] == ["BAC009S0002W0122", "BAC009S0002W0123", "BAC009S0002W0124", "BAC009S0724W0121", "BAC009S0764W0121"]
    first = cat.by_id("BAC009S0002W0122")
    assert (first.speaker, first.gender, first.language, first.split) == ("S0002", "female", "zh", "train")
    assert first.text == "而 对 楼市 成交 抑制 作用 最 大 的 限 购"  # the words as given, one space apart
    assert (first.duration, first.sample_rate, first.corpus) == (1.8, 16000, "aishell")
    assert first.path == "aishell/data_aishell/wav/train/S0002/BAC009S0002W0122.wav"
    assert cat.by_id("BAC009S0002W0124").text is None
    dev, test = cat.by_id("BAC009S0724W0121"), cat.by_id("BAC009S0764W0121")
    assert (dev.split, dev.gender, dev.speaker, dev.text) == ("dev", "male", "S0724", "甚至 出现 交易 几乎 停滞 的 情况")
    assert (test.split, test.gender, test.duration) == ("test", "female", 2.0)
    (leftover,) = rejects(out)
    assert (Path(leftover["path"]).name, leftover["reason"]) == ("S0915.tar.gz", "not_audio")
    assert "tar -xzf" in leftover["detail"]


def test_root_may_be_data_aishell_and_genders_are_optional(aishell: Path, tmp_path: Path) -> None:
    (aishell / "resource_aishell" / "speaker.info").unlink()
    cat = catalog("aishell", aishell / "data_aishell", tmp_path / "a.jsonl")
    assert len(cat) == 5 and all(c.gender is None for c in cat)
    assert cat.by_id("BAC009S0002W0123").text == "也 成为 地方 政府 的 眼中 钉"


def test_a_release_still_in_speaker_tarballs_is_refused_with_the_command(tmp_path: Path) -> None:
    wav = tmp_path / "aishell" / "data_aishell" / "wav"
    for speaker in ("S0002", "S0003"):
        tarball(wav / f"{speaker}.tar.gz", {f"train/{speaker}/BAC009{speaker}W0121.wav": b"RIFF"})
    with pytest.raises(CatalogError, match=r"2 speaker tarballs.*extract them first.*tar -xzf") as info:
        catalog_corpus("aishell", tmp_path / "aishell", tmp_path / "a.jsonl", workers=1, progress=False)
    assert str(wav) in str(info.value)
    assert not (wav / "train").exists()  # nothing was extracted
    assert not (tmp_path / "a.jsonl").exists()


def test_a_build_from_aishell_validates(aishell: Path, tmp_path: Path) -> None:
    speech = tmp_path / "aishell.jsonl"
    cat = catalog("aishell", aishell, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    catalog("folder", tmp_path / "noise", tmp_path / "noise.jsonl", kind="noise")
    splits = {"train": 0.4, "dev": 0.3, "test": 0.3}
    rows = build_and_validate(tmp_path / "ds", [speech], [tmp_path / "noise.jsonl"], num_examples=6, splits=splits)
    assert all(cat.by_id(row["labels"]["speech_clip"]).split == row["split"] for row in rows)  # the corpus's splits kept
    assert {row["split"] for row in rows} == {"train", "dev", "test"}
