"""Tests of audiosynth.corpora: cataloguing LibriSpeech / VCTK / MUSAN / folder trees on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audiosynth import corpora
from audiosynth.catalog import read_catalog
from audiosynth.cli import main
from audiosynth.corpora import SOURCES, CatalogSummary, catalog_corpus, check_audio_file, pipeline
from audiosynth.errors import AudioError, CatalogError

SR = 16000


def tone(
    path: Path,
    seconds: float = 0.4,
    *,
    freq: float = 440.0,
    amp: float = 0.5,
    channels: int = 1,
    subtype: str | None = None,
    rate: int = SR,
) -> int:
    """Write a sine file (creating folders); returns its frame count."""
    n = round(seconds * rate)
    x = amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.astype(np.float32), rate, subtype=subtype)
    return n


def rows_by_id(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def read_rejects(summary: CatalogSummary) -> dict[str, tuple[str, str]]:
    rows = [json.loads(line) for line in Path(summary.rejects_path).read_text(encoding="utf-8").splitlines()]
    return {Path(row["path"]).name: (row["reason"], row["detail"]) for row in rows}


# --------------------------------------------------------------------------- LibriSpeech


def make_librispeech_subset(subset: Path, speakers: dict[str, list[str]]) -> dict[str, int]:
    """speaker -> chapters; two utterances per chapter, the second chapter's last one without transcript."""
    frames = {}
    for spk, chapters in speakers.items():
        for c, chap in enumerate(chapters):
            folder = subset / spk / chap
            lines = []
            for u in range(2):
                utt = f"{spk}-{chap}-{u:04d}"
                frames[utt] = tone(folder / f"{utt}.flac", 0.3 + 0.1 * u, freq=300 + 50 * u)
                if not (c == 1 and u == 1):
                    lines.append(f"{utt} WORDS OF {spk} CHAPTER {chap} NUMBER {u}")
            (folder / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return frames


SPEAKERS_TXT = """; Some comment line
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara Shallenberg
26   | M | dev-clean        | 25.08 | Denny Sayers
103  | F | test-other       | 25.23 | Paula Berinstein|with a bar
"""


def test_librispeech_rows_speaker_text_gender_paths(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    frames = make_librispeech_subset(root, {"19": ["198", "227"], "26": ["495", "496"]})
    (root / "SPEAKERS.TXT").write_text(SPEAKERS_TXT, encoding="utf-8")
    out = tmp_path / "ls.jsonl"
    summary = catalog_corpus("librispeech", root, out, workers=1, progress=False)

    assert (summary.num_clips, summary.num_rejected, summary.rejects_by_reason) == (8, 0, {})
    assert summary.total_duration_s == pytest.approx(4 * 0.3 + 4 * 0.4)
    assert Path(summary.rejects_path) == tmp_path / "ls.rejects.jsonl"
    assert Path(summary.rejects_path).read_text() == ""
    rows = rows_by_id(out)
    assert list(rows) == sorted(frames)  # sorted by id
    first = rows["19-198-0000"]
    assert first == {
        "id": "19-198-0000",
        "path": "corpus/19/198/19-198-0000.flac",
        "kind": "speech",
        "duration": 0.3,
        "sample_rate": SR,
        "num_channels": 1,
        "speaker": "19",
        "text": "WORDS OF 19 CHAPTER 198 NUMBER 0",
        "language": "en",
        "gender": "female",
        "corpus": "librispeech",
        "active": [[0.0, 0.3]],
    }  # a tone: active throughout
    assert rows["26-496-0000"]["gender"] == "male"
    assert rows["26-496-0000"]["speaker"] == "26"
    assert rows["26-496-0000"]["text"] == "WORDS OF 26 CHAPTER 496 NUMBER 0"
    assert "text" not in rows["26-496-0001"]  # no transcript line: not a reject, text unknown
    assert "split" not in first
    catalog = read_catalog(out)
    for clip in catalog:
        assert clip.duration == frames[clip.id] / SR
        assert catalog.resolve(clip).resolve() == (root / clip.speaker / clip.id.split("-")[1] / f"{clip.id}.flac").resolve()


def test_librispeech_subsets_set_splits(tmp_path: Path) -> None:
    root = tmp_path / "LibriSpeech"
    make_librispeech_subset(root / "train-clean-100", {"19": ["198"]})
    make_librispeech_subset(root / "dev-clean", {"26": ["495"]})
    make_librispeech_subset(root / "test-other", {"103": ["1240"]})
    (root / "SPEAKERS.TXT").write_text(SPEAKERS_TXT, encoding="utf-8")
    out = tmp_path / "all.jsonl"
    summary = catalog_corpus("librispeech", root, out, workers=1, progress=False)
    assert summary.num_clips == 6
    rows = rows_by_id(out)
    assert {i: (r["split"], r["gender"], r["speaker"]) for i, r in rows.items()} == {
        "19-198-0000": ("train", "female", "19"),
        "19-198-0001": ("train", "female", "19"),
        "26-495-0000": ("dev", "male", "26"),
        "26-495-0001": ("dev", "male", "26"),
        "103-1240-0000": ("test", "female", "103"),
        "103-1240-0001": ("test", "female", "103"),
    }
    assert rows["26-495-0000"]["path"] == "LibriSpeech/dev-clean/26/495/26-495-0000.flac"

    # A single subset as ROOT: split from its name, genders from ../SPEAKERS.TXT.
    one = catalog_corpus("librispeech", root / "dev-clean", tmp_path / "dev.jsonl", workers=1, progress=False)
    dev_rows = rows_by_id(tmp_path / "dev.jsonl")
    assert one.num_clips == 2
    assert {(r["split"], r["gender"]) for r in dev_rows.values()} == {("dev", "male")}


# --------------------------------------------------------------------------- VCTK


def make_vctk(root: Path) -> None:
    for spk in ("p225", "p226"):
        for n in ("001", "002"):
            tone(root / "wav48_silence_trimmed" / spk / f"{spk}_{n}_mic1.flac", 0.3, rate=48000)
            tone(root / "wav48_silence_trimmed" / spk / f"{spk}_{n}_mic2.flac", 0.5, rate=48000)
            if (spk, n) != ("p226", "002"):
                txt = root / "txt" / spk / f"{spk}_{n}.txt"
                txt.parent.mkdir(parents=True, exist_ok=True)
                txt.write_text(f"Please call {spk} number {n}.\n", encoding="utf-8")
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n225  23  F    English    Southern  England\np226  22  M    English    Surrey\n",
        encoding="utf-8",
    )


def test_vctk_mic1_by_default_with_text_gender_accent(tmp_path: Path) -> None:
    root = tmp_path / "VCTK"
    make_vctk(root)
    out = tmp_path / "vctk.jsonl"
    summary = catalog_corpus("vctk", root, out, workers=1, progress=False)
    rows = rows_by_id(out)
    assert summary.num_clips == 4
    assert list(rows) == ["p225_001_mic1", "p225_002_mic1", "p226_001_mic1", "p226_002_mic1"]
    row = rows["p225_001_mic1"]
    assert row["path"] == "VCTK/wav48_silence_trimmed/p225/p225_001_mic1.flac"
    assert (row["text"], row["speaker"], row["gender"], row["tags"]) == (
        "Please call p225 number 001.",
        "p225",
        "female",
        ["accent:English"],
    )
    assert (row["sample_rate"], row["duration"], row["kind"], row["language"]) == (48000, 0.3, "speech", "en")
    assert rows["p226_001_mic1"]["gender"] == "male"
    assert "text" not in rows["p226_002_mic1"]

    summary2 = catalog_corpus("vctk", root, tmp_path / "mic2.jsonl", mic="mic2", workers=1, progress=False)
    rows2 = rows_by_id(tmp_path / "mic2.jsonl")
    assert summary2.num_clips == 4
    assert sorted(rows2) == ["p225_001_mic2", "p225_002_mic2", "p226_001_mic2", "p226_002_mic2"]
    assert {r["duration"] for r in rows2.values()} == {0.5}
    assert rows2["p226_001_mic2"]["text"] == "Please call p226 number 001."
    with pytest.raises(CatalogError, match="mic3"):
        catalog_corpus("vctk", root, tmp_path / "x.jsonl", mic="mic3", workers=1, progress=False)


# --------------------------------------------------------------------------- MUSAN


def test_musan_kinds_tags_gender_language(tmp_path: Path) -> None:
    root = tmp_path / "musan"
    tone(root / "music/fma/music-fma-0000.wav")
    tone(root / "music/fma/music-fma-0001.wav")
    (root / "music/fma/ANNOTATIONS").write_text(
        "music-fma-0000 pop,electronica Y Quiet_Music_for_Tiny_Robots\nmusic-fma-0001 classical N Bach\n"
    )
    tone(root / "music/rfm/music-rfm-0000.wav")  # no ANNOTATIONS: folder names only
    tone(root / "noise/free-sound/noise-free-sound-0000.wav")
    (root / "noise/free-sound/ANNOTATIONS").write_text("noise-free-sound-0000\n")
    tone(root / "speech/librivox/speech-librivox-0000.wav")
    tone(root / "speech/librivox/speech-librivox-0001.wav")
    (root / "speech/librivox/ANNOTATIONS").write_text("speech-librivox-0000 m english\nspeech-librivox-0001 f french")
    (root / "README").write_text("MUSAN\n")
    out = tmp_path / "musan.jsonl"
    summary = catalog_corpus("musan", root, out, workers=1, progress=False)
    rows = rows_by_id(out)
    assert summary.num_clips == 6
    assert {i: r["kind"] for i, r in rows.items()} == {
        "music-fma-0000": "noise",
        "music-fma-0001": "noise",
        "music-rfm-0000": "noise",
        "noise-free-sound-0000": "noise",
        "speech-librivox-0000": "speech",
        "speech-librivox-0001": "speech",
    }
    assert rows["music-fma-0000"]["tags"] == ["music", "fma", "pop", "electronica", "vocals", "artist:Quiet_Music_for_Tiny_Robots"]
    assert rows["music-fma-0001"]["tags"] == ["music", "fma", "classical", "no_vocals", "artist:Bach"]
    assert rows["music-rfm-0000"]["tags"] == ["music", "rfm"]
    assert rows["noise-free-sound-0000"]["tags"] == ["noise", "free-sound"]
    assert (rows["speech-librivox-0000"]["gender"], rows["speech-librivox-0000"]["language"]) == ("male", "en")
    assert (rows["speech-librivox-0001"]["gender"], rows["speech-librivox-0001"]["language"]) == ("female", "fr")
    assert rows["speech-librivox-0001"]["tags"] == ["speech", "librivox"]
    assert {r["corpus"] for r in rows.values()} == {"musan"}
    assert rows["noise-free-sound-0000"]["path"] == "musan/noise/free-sound/noise-free-sound-0000.wav"


# --------------------------------------------------------------------------- folder


def test_folder_layout_kind_transcripts_absolute_paths(tmp_path: Path) -> None:
    root = tmp_path / "my_noises"
    tone(root / "street" / "a.wav", 0.5)
    tone(root / "street" / "b.flac", 0.3)
    tone(root / "cafe.ogg", 0.4)
    (root / "street" / "a.txt").write_text("cars passing\n")
    (root / "cafe.lab").write_text("  people  talking \n")
    (root / "notes.md").write_text("not audio, not catalogued\n")
    tone(root / ".hidden" / "x.wav")
    tone(root / "street" / "._a.wav")  # macOS resource fork: hidden, skipped
    out = tmp_path / "out" / "noise.jsonl"
    summary = catalog_corpus("folder", root, out, kind="noise", workers=1, progress=False)
    rows = rows_by_id(out)
    assert list(rows) == ["cafe", "street-a", "street-b"]
    assert (summary.num_clips, summary.num_rejected) == (3, 0)
    assert rows["street-a"]["text"] == "cars passing"
    assert rows["cafe"]["text"] == "people talking"
    assert "text" not in rows["street-b"]
    assert {r["kind"] for r in rows.values()} == {"noise"}
    assert {r["corpus"] for r in rows.values()} == {"my_noises"}
    # The audio does not lie below the catalog's folder: absolute paths.
    assert rows["street-b"]["path"] == str((root / "street" / "b.flac").resolve())
    assert rows["cafe"]["duration"] == 0.4

    with pytest.raises(CatalogError, match="needs a kind"):
        catalog_corpus("folder", root, out, workers=1, progress=False)
    with pytest.raises(CatalogError, match="kind must be one of"):
        catalog_corpus("folder", root, out, kind="music", workers=1, progress=False)


def test_folder_duplicate_ids_raise(tmp_path: Path) -> None:
    tone(tmp_path / "c" / "a" / "b.wav")
    tone(tmp_path / "c" / "a-b.flac")
    with pytest.raises(CatalogError, match="'a-b'"):
        catalog_corpus("folder", tmp_path / "c", tmp_path / "o.jsonl", kind="speech", workers=1, progress=False)


# --------------------------------------------------------------------------- bad files

EXPECTED_REJECTS = {
    "garbage.wav": "not_audio",
    "text.flac": "not_audio",
    "empty.wav": "empty",
    "header_only.wav": "truncated",
    "cut.wav": "truncated",
    "broken.flac": "truncated",
    "corrupt_header.wav": "truncated",
    "nan.wav": "nan",
    "inf.wav": "nan",
    "zeros.wav": "silent",
    "short.wav": "too_short",
    "stereo.wav": "too_many_channels",
    "dangling.wav": "unreadable",
}


def make_bad_tree(root: Path) -> dict[str, int]:
    """Good files (name -> frames) among one file of every bad kind."""
    good = {
        "good1.wav": tone(root / "good1.wav", 0.3),
        "good2.flac": tone(root / "good2.flac", 0.5),
        "quiet.wav": tone(root / "quiet.wav", 0.4, amp=0.003),  # -50 dBFS: quiet but not silent
        "sub/good3.wav": tone(root / "sub" / "good3.wav", 0.45, subtype="FLOAT"),
    }
    (root / "garbage.wav").write_bytes(b"\x13\x37" + np.random.default_rng(0).bytes(3000))
    (root / "text.flac").write_text("this is a text file, not a FLAC\n" * 20)
    (root / "empty.wav").write_bytes(b"")
    tone(root / "full.wav", 0.4, subtype="PCM_16")
    data = (root / "full.wav").read_bytes()
    (root / "full.wav").unlink()
    (root / "header_only.wav").write_bytes(data[:44])  # header claims 12800 bytes of data, none there
    (root / "cut.wav").write_bytes(data[: len(data) // 2])  # data chunk shorter than declared
    (root / "corrupt_header.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVE" + bytes(range(200)))
    tone(root / "full.flac", 0.5)
    flac = (root / "full.flac").read_bytes()
    (root / "full.flac").unlink()
    (root / "broken.flac").write_bytes(flac[: len(flac) // 2])  # decoder loses sync midway
    bad = np.full(SR // 2, 0.25, dtype=np.float32)
    bad[1234] = np.nan
    sf.write(str(root / "nan.wav"), bad, SR, subtype="FLOAT")
    bad[1234] = np.inf
    sf.write(str(root / "inf.wav"), bad, SR, subtype="FLOAT")
    sf.write(str(root / "zeros.wav"), np.zeros(SR // 2, dtype=np.float32), SR, subtype="PCM_16")
    tone(root / "short.wav", 0.05)
    tone(root / "stereo.wav", 0.4, channels=2)
    os.symlink(root / "does-not-exist.wav", root / "dangling.wav")
    return good


def test_every_bad_file_kind_is_rejected_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    good = make_bad_tree(root)
    out = tmp_path / "mixed.jsonl"
    summary = catalog_corpus("folder", root, out, kind="speech", workers=2, progress=False)

    rejects = read_rejects(summary)
    assert {name: reason for name, (reason, _) in rejects.items()} == EXPECTED_REJECTS
    assert "1234" in rejects["nan.wav"][1] and "NaN" in rejects["nan.wav"][1]
    assert "Inf" in rejects["inf.wav"][1]
    assert rejects["cut.wav"][1] == "data chunk declares 12800 bytes but the file holds 6378"
    assert rejects["stereo.wav"][1] == "2 channels > 1"
    assert rejects["short.wav"][1] == "0.050 s < 0.1 s"
    assert rejects["empty.wav"][1] == "0 bytes"
    assert rejects["zeros.wav"][1] == "peak -inf dBFS < -60 dBFS"
    assert all(
        Path(row_path).is_absolute()
        for row_path in (json.loads(line)["path"] for line in Path(summary.rejects_path).read_text().splitlines())
    )

    expected_counts: dict[str, int] = {}
    for reason in EXPECTED_REJECTS.values():
        expected_counts[reason] = expected_counts.get(reason, 0) + 1
    assert summary.rejects_by_reason == expected_counts
    assert (summary.num_clips, summary.num_rejected) == (len(good), len(EXPECTED_REJECTS))
    assert summary.total_duration_s == pytest.approx(sum(good.values()) / SR)
    text = summary.format()
    assert f"catalogued {len(good)} clips (0.00 h)" in text
    assert "truncated: 4" in text and "not_audio: 2" in text and f"rejected {len(EXPECTED_REJECTS)} files" in text

    catalog = read_catalog(out)
    assert [clip.id for clip in catalog] == ["good1", "good2", "quiet", "sub-good3"]
    for clip in catalog:
        info = sf.info(str(catalog.resolve(clip)))
        assert clip.duration == info.frames / info.samplerate
        assert clip.sample_rate == SR and clip.num_channels == 1
    assert sorted(clip.path for clip in catalog) == sorted(f"mixed/{name}" for name in good)


def test_max_channels_lets_multichannel_files_through(tmp_path: Path) -> None:
    frames = int(0.4 * SR)  # four channels of a RIR: noise decaying by 60 dB in 0.3 s
    decay = np.random.default_rng(0).standard_normal((frames, 4)) * np.exp(-6.9 * np.arange(frames) / (0.3 * SR))[:, None]
    (tmp_path / "rir").mkdir()
    sf.write(str(tmp_path / "rir" / "room.wav"), (0.2 * decay).astype(np.float32), SR)
    assert check_audio_file(tmp_path / "rir" / "room.wav", max_channels=4) == (frames, SR, 4)
    with pytest.raises(AudioError) as info:
        check_audio_file(tmp_path / "rir" / "room.wav", max_channels=2)
    assert info.value.reason == "too_many_channels"
    summary = catalog_corpus("folder", tmp_path / "rir", tmp_path / "rir.jsonl", kind="rir", max_channels=4, workers=1, progress=False)
    assert summary.num_clips == 1
    assert rows_by_id(tmp_path / "rir.jsonl")["room"]["num_channels"] == 4


def test_unexpected_worker_exception_becomes_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tone(tmp_path / "c" / "ok.wav")
    tone(tmp_path / "c" / "boom.wav")
    real = corpora.check_audio_file

    def flaky(path, **limits):
        if Path(path).name == "boom.wav":
            raise RuntimeError("decoder exploded")
        return real(path, **limits)

    monkeypatch.setattr(pipeline, "check_audio_file", flaky)
    summary = catalog_corpus("folder", tmp_path / "c", tmp_path / "c.jsonl", kind="noise", workers=1, progress=False)
    assert read_rejects(summary) == {"boom.wav": ("unreadable", "RuntimeError: decoder exploded")}
    assert list(rows_by_id(tmp_path / "c.jsonl")) == ["ok"]


def test_workers_one_and_two_write_identical_bytes(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    make_bad_tree(root)
    for i in range(12):
        tone(root / "more" / f"clip{i:02d}.wav", 0.3 + 0.01 * i, freq=200 + 20 * i)
    one = catalog_corpus("folder", root, tmp_path / "one.jsonl", kind="speech", workers=1, progress=False)
    two = catalog_corpus("folder", root, tmp_path / "two.jsonl", kind="speech", workers=2, progress=False)
    assert one.num_clips == two.num_clips == 16
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert Path(one.rejects_path).read_bytes() == Path(two.rejects_path).read_bytes()
    assert one.rejects_by_reason == two.rejects_by_reason
    assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------- bad layouts


@pytest.mark.parametrize("layout", corpora.LAYOUTS)
def test_empty_root_raises_catalog_error_naming_root(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "empty_root"
    if SOURCES[layout].root_is_file:  # an empty manifest
        root.write_text("\n")
    else:
        root.mkdir()
        (root / "README.txt").write_text("no audio here\n")
    with pytest.raises(CatalogError) as info:
        catalog_corpus(layout, root, tmp_path / "c.jsonl", kind="noise" if layout == "folder" else None, workers=1, progress=False)
    assert str(root) in str(info.value) and "no audio files found" in str(info.value)
    assert not (tmp_path / "c.jsonl").exists()


def test_missing_root_and_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"nowhere.*not a folder"):
        catalog_corpus("vctk", tmp_path / "nowhere", tmp_path / "c.jsonl", progress=False)
    with pytest.raises(CatalogError, match="unknown layout 'nosuch'"):
        catalog_corpus("nosuch", tmp_path, tmp_path / "c.jsonl", progress=False)


def test_catalog_help_lists_every_registered_source_with_its_description() -> None:
    result = CliRunner().invoke(main, ["catalog", "--help"])
    assert result.exit_code == 0, result.output
    assert set(corpora.LAYOUTS) == set(SOURCES) >= {"librispeech", "vctk", "musan", "folder"}
    lines = [line.strip() for line in result.output.splitlines()]
    for source in SOURCES.values():
        description = source.description.replace("{mic}", "<mic>")
        assert f"{source.name}: {description}" in lines, f"{source.name} missing from catalog --help"
