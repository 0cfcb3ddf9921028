"""Hugging Face datasets on disk as catalogs: an audiofolder, a save_to_disk DatasetDict and Dataset,
Hub-style parquet files; rows with bytes (decoded into the catalog's audio folder) and rows with
paths (confined), bad rows; a build from the catalog, and the round trip through ``audiosynth export --to hf``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
from datasets import Audio, Dataset, DatasetDict, Features, Value
from sources_kit import RATE, build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.corpora.huggingface import hf_split
from audiosynth.dataset.export import export_dataset
from audiosynth.errors import CatalogError

FEATURES = Features({"audio": Audio(), "sentence": Value("string"), "speaker_id": Value("int64"), "gender": Value("string")})


def wav_bytes(audio: np.ndarray, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, RATE, format=fmt, subtype=subtype)
    return buf.getvalue()


def samples(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float64")[0]


# --------------------------------------------------------------------------- (a) audiofolder


@pytest.fixture
def audiofolder(tmp_path: Path) -> Path:
    """``train/metadata.csv`` and ``test/metadata.jsonl`` beside their files (one below a subfolder), an
    ``a.wav`` in both splits, a row without file_name, a bad speaker, a bad JSON line, a path outside."""
    root = tmp_path / "my_asr"
    speech_file(root / "train" / "a.wav", 1.0, f0=120.0)
    speech_file(root / "train" / "clips" / "b.flac", 1.2, f0=150.0, seed=3)
    speech_file(root / "test" / "a.wav", 1.4, f0=200.0, seed=4)
    speech_file(tmp_path / "elsewhere" / "x.wav", 1.1, seed=5)
    (root / "train" / "metadata.csv").write_text(
        "file_name,transcription,speaker_id,gender\n"
        'a.wav,"hello,  world",19,F\n'
        "clips/b.flac,,26,male\n"  # no transcript
        ",orphan text,19,f\n"  # no file_name
        "a.wav,bad speaker,spk/1,f\n"
    )
    lines = [
        {"file_name": "a.wav", "sentence": "from the test split", "client_id": "c0ffee", "locale": "en", "gender": "male_masculine"},
        "{not json",
        {"file_name": "../../elsewhere/x.wav", "sentence": "outside"},
    ]
    (root / "test" / "metadata.jsonl").write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return root


def test_an_audiofolder_catalogues_its_files_with_their_columns(audiofolder: Path, tmp_path: Path) -> None:
    out = tmp_path / "af.jsonl"
    cat = catalog("hf", audiofolder, out)
    assert sorted(c.id for c in cat) == ["b", "test-a", "train-a"]  # a.wav in both splits: the split in front
    a, b, t = cat.by_id("train-a"), cat.by_id("b"), cat.by_id("test-a")
    assert (a.text, a.speaker, a.gender, a.split, a.duration) == ("hello, world", "19", "female", "train", 1.0)
    assert (b.text, b.speaker, b.gender, b.split, b.duration) == (None, "26", "male", "train", 1.2)
    assert (t.text, t.speaker, t.gender, t.language, t.split, t.duration) == ("from the test split", "c0ffee", "male", "en", "test", 1.4)
    assert cat.resolve(b).resolve() == (audiofolder / "train" / "clips" / "b.flac").resolve()
    assert all(c.corpus == "my_asr" for c in cat)
    by_path = {Path(r["path"]).name: (r["reason"], r["detail"]) for r in rejects(out)}
    assert by_path["metadata.csv:4"][0] == "bad_row" and "file_name" in by_path["metadata.csv:4"][1]
    assert by_path["metadata.csv:5"][0] == "bad_row" and "'spk/1' is not a name" in by_path["metadata.csv:5"][1]
    assert by_path["metadata.jsonl:2"][0] == "bad_row" and "invalid JSON" in by_path["metadata.jsonl:2"][1]
    assert by_path["x.wav"][0] == "outside_root"
    assert len(by_path) == 4
    assert "x" in catalog("hf", audiofolder, out, audio_roots=(tmp_path / "elsewhere",))


# --------------------------------------------------------------------------- (b) save_to_disk


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A DatasetDict (train/test) saved with save_to_disk: rows from files (save_to_disk embeds their
    bytes), from arrays, from bytes, a row without audio and one whose bytes are no audio."""
    rng = np.random.default_rng(0)
    src = {
        name: speech_file(tmp_path / "src" / f"{name}.wav", secs, f0=f0, seed=k)
        for k, (name, secs, f0) in enumerate(
            [("spk1_utt1", 1.1, 120.0), ("spk1_utt2", 1.3, 125.0), ("spk2_utt1", 1.5, 210.0), ("spk3_utt1", 1.2, 170.0)]
        )
    }
    array = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE) * rng.uniform(0.5, 1, RATE)).astype(np.float32)
    train = Dataset.from_dict(
        {
            "audio": [
                str(tmp_path / "src" / "spk1_utt1.wav"),
                str(tmp_path / "src" / "spk1_utt2.wav"),
                {"array": array, "sampling_rate": RATE},  # no file name: an id from the row index
                None,  # no audio
                {"bytes": b"RIFF not really", "path": "junk.wav"},
                {"bytes": wav_bytes(src["spk2_utt1"], "FLAC"), "path": "spk2_utt1.flac"},
            ],
            "sentence": ["first one", "second one", "a tone", "nothing", "junk", None],
            "speaker_id": [1, 1, 9, 1, 1, 2],
            "gender": ["female", "female", None, None, None, "M"],
        },
        features=FEATURES,
    )
    test = Dataset.from_dict(
        {
            "audio": [
                {"bytes": wav_bytes(src["spk3_utt1"]), "path": "spk3_utt1.wav"},
                {"bytes": wav_bytes(src["spk3_utt1"], "MP3", "MPEG_LAYER_III"), "path": "common_voice_en_42.mp3"},  # as Common Voice
            ],
            "sentence": ["in test", "an mp3"],
            "speaker_id": [3, 3],
            "gender": [None, None],
        },
        features=FEATURES,
    )
    root = tmp_path / "saved_dd"
    DatasetDict({"train": train, "test": test}).save_to_disk(str(root))
    return root, {**src, "array": array}


def test_a_saved_dataset_dict_writes_its_bytes_as_flac(saved: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, src = saved
    assert (root / "dataset_dict.json").is_file() and (root / "train" / "state.json").is_file()
    out = tmp_path / "cat" / "hf.jsonl"
    cat = catalog("hf", root, out)
    assert sorted(c.id for c in cat) == ["common_voice_en_42", "spk1_utt1", "spk1_utt2", "spk2_utt1", "spk3_utt1", "train-000002"]
    audio_dir = out.parent / "hf.audio"
    for clip_id, split_dir, name in [
        ("spk1_utt1", "train", "spk1_utt1"),
        ("spk2_utt1", "train", "spk2_utt1"),
        ("spk3_utt1", "test", "spk3_utt1"),
        ("train-000002", "train", "array"),
    ]:
        clip = cat.by_id(clip_id)
        path = cat.resolve(clip)
        assert path == audio_dir / split_dir / f"{clip_id}.flac" and sf.info(path).format == "FLAC"
        np.testing.assert_allclose(samples(path), src[name], atol=1 / 32768)  # 16-bit sources, sample for sample
        assert clip.duration == len(src[name]) / RATE and clip.sample_rate == RATE
    one, two, tone = cat.by_id("spk1_utt1"), cat.by_id("spk2_utt1"), cat.by_id("train-000002")
    assert (one.text, one.speaker, one.gender, one.split) == ("first one", "1", "female", "train")
    assert (two.text, two.speaker, two.gender) == (None, "2", "male")
    assert (tone.text, tone.speaker, tone.gender) == ("a tone", "9", None)
    assert cat.by_id("spk3_utt1").split == "test"
    mp3 = cat.by_id("common_voice_en_42")  # decoded from MP3, written as 16-bit FLAC
    assert cat.resolve(mp3) == audio_dir / "test" / "common_voice_en_42.flac" and sf.info(cat.resolve(mp3)).subtype == "PCM_16"
    assert (mp3.text, mp3.split) == ("an mp3", "test") and abs(mp3.duration - 1.2) < 0.1
    rows = {r["path"]: r for r in rejects(out)}
    assert sorted((Path(p).name, r["reason"]) for p, r in rows.items()) == [("train:3", "bad_row"), ("train:4", "not_audio")]
    assert "split 'train', row 3: no audio" in rows[str(root / "train") + ":3"]["detail"]
    assert "split 'train', row 4" in rows[str(root / "train") + ":4"]["detail"]


def test_a_saved_dataset_with_a_path_column_and_a_build_from_it(tmp_path: Path) -> None:
    """A single saved Dataset whose ``audio`` column holds paths (relative to ROOT), not cast to Audio."""
    root = tmp_path / "validation"  # a Dataset without a split of its own: the folder names it
    for k in range(4):
        speech_file(root / "wavs" / f"u{k}.wav", 1.2 + 0.2 * k, f0=120.0 + 30 * k, seed=k)
    Dataset.from_dict(
        {
            "audio": [f"wavs/u{k}.wav" for k in range(4)] + [str(tmp_path / "nowhere.wav")],
            "text": [f"utterance {k}" for k in range(5)],
            "speaker": ["a", "b", "a", "b", "c"],
        }
    ).save_to_disk(str(root))
    out = tmp_path / "speech.jsonl"
    cat = catalog("hf", root, out)
    assert [(c.id, c.split, c.speaker, c.text) for c in cat] == [(f"u{k}", "dev", "ab"[k % 2], f"utterance {k}") for k in range(4)]
    assert [r["reason"] for r in rejects(out)] == ["outside_root"]  # the absolute path outside ROOT
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    catalog("folder", tmp_path / "noise", tmp_path / "noise.jsonl", kind="noise")
    rows = build_and_validate(tmp_path / "built", [out], [tmp_path / "noise.jsonl"], splits={"train": 0.0, "dev": 1.0, "test": 0.0})
    assert {row["labels"]["speech_clip"] for row in rows} <= {"u0", "u1", "u2", "u3"}


# --------------------------------------------------------------------------- (c) parquet


def test_hub_parquet_files_with_paths_and_bytes(tmp_path: Path) -> None:
    root = tmp_path / "hub_clone"
    a = speech_file(root / "wavs" / "a.wav", 1.0, seed=1)
    b = speech_file(tmp_path / "b24.wav", 1.3, seed=2, subtype="PCM_24")
    speech_file(tmp_path / "outside" / "c.wav", 1.0, seed=3)
    (root / "data").mkdir()
    rows = {
        "audio": [
            {"bytes": None, "path": "wavs/a.wav"},  # a path relative to ROOT
            {"bytes": (tmp_path / "b24.wav").read_bytes(), "path": "b24.wav"},  # 24-bit bytes: 24-bit FLAC
            {"bytes": None, "path": str(tmp_path / "outside" / "c.wav")},
        ],
        "text": ["a path", "some bytes", "outside"],
        "speaker_id": ["s1", "s2", "s3"],
        "language": ["en", "fr", None],
    }
    features = Features({"audio": Audio(), "text": Value("string"), "speaker_id": Value("string"), "language": Value("string")})
    Dataset.from_dict(rows, features=features).to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    test_rows = {
        "audio": [{"bytes": wav_bytes(a), "path": "a.wav"}, {"bytes": wav_bytes(a[:8000]), "path": "x/a.wav"}],  # one file name twice
        "text": [None, "half"],
        "speaker_id": [None, None],
        "language": ["en", "en"],
    }
    Dataset.from_dict(test_rows, features=features).to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    (root / "data" / "validation-00000-of-00001.parquet").write_bytes(b"PAR1 truncated")
    out = tmp_path / "pq.jsonl"
    cat = catalog("hf", root, out)
    assert sorted(c.id for c in cat) == ["a-000001", "b24", "test-a", "train-a"]
    assert (cat.resolve(cat.by_id("a-000001")), cat.by_id("a-000001").duration) == (tmp_path / "pq.audio" / "test" / "a-000001.flac", 0.5)
    path_row, bytes_row, test_row = cat.by_id("train-a"), cat.by_id("b24"), cat.by_id("test-a")
    assert cat.resolve(path_row).resolve() == (root / "wavs" / "a.wav").resolve()
    assert (path_row.text, path_row.speaker, path_row.language, path_row.split) == ("a path", "s1", "en", "train")
    assert cat.resolve(bytes_row) == tmp_path / "pq.audio" / "train" / "b24.flac"
    info = sf.info(cat.resolve(bytes_row))
    assert (info.subtype, bytes_row.language, bytes_row.duration) == ("PCM_24", "fr", 1.3)
    np.testing.assert_array_equal(samples(cat.resolve(bytes_row)), sf.read(tmp_path / "b24.wav", dtype="float64")[0])
    assert np.abs(samples(cat.resolve(bytes_row)) - b).max() < 1e-6
    assert (test_row.split, test_row.text, test_row.speaker) == ("test", None, None)
    assert cat.resolve(test_row) == tmp_path / "pq.audio" / "test" / "a.flac"
    reasons = {Path(r["path"]).name: r["reason"] for r in rejects(out)}
    assert reasons == {"c.wav": "outside_root", "validation-00000-of-00001.parquet": "unreadable"}


def test_split_names_and_unsafe_file_names(tmp_path: Path) -> None:
    assert [
        hf_split(n) for n in ("train", "train.clean.100", "validation.clean", "valid", "dev", "test", "Testing", "eval", "trained")
    ] == [
        "train",
        "train",
        "dev",
        "dev",
        "dev",
        "test",
        "test",
        "test",
        None,
    ]
    root = tmp_path / "evil"
    ds = Dataset.from_dict(
        {"audio": [{"bytes": wav_bytes(np.full(RATE, 0.25, np.float32)), "path": "../../../etc/x y.wav"}]},
        features=Features({"audio": Audio()}),
    )
    DatasetDict({"train": ds}).save_to_disk(str(root))
    out = tmp_path / "cat" / "evil.jsonl"
    cat = catalog("hf", root, out)
    (clip,) = cat
    written = cat.resolve(clip)
    assert written.parent == out.parent / "evil.audio" / "train" and written.name.startswith("x_y-")  # sanitized, hashed
    assert clip.id == written.stem and not list(tmp_path.rglob("*.tmp"))
    # a dataset_dict.json naming a split folder outside ROOT is refused
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "../../elsewhere"]}))
    with pytest.raises(CatalogError, match=r"'\.\./\.\./elsewhere' is not a split name"):
        catalog("hf", root, out)


def test_a_missing_datasets_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: tuple[Path, dict]) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets: ImportError
    with pytest.raises(CatalogError, match=r"pip install 'audiosynth\[hf\]'"):
        catalog("hf", saved[0], tmp_path / "x.jsonl")


# --------------------------------------------------------------------------- round trip


def test_a_build_from_an_hf_catalog_round_trips_through_export(audiofolder: Path, saved: tuple[Path, dict], tmp_path: Path) -> None:
    speech = tmp_path / "speech.jsonl"
    catalog("hf", saved[0], speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    # examples longer than every clip: whole utterances, with their transcripts
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], num_examples=6, duration_s=[1.8, 2.2], require_text=True)
    export_dataset(tmp_path / "ds", "hf", tmp_path / "hf_out", role="clean")
    assert (tmp_path / "hf_out" / "train" / "metadata.jsonl").is_file()
    back = catalog("hf", tmp_path / "hf_out", tmp_path / "back.jsonl")
    assert len(back) == len(rows) == 6 and not rejects(tmp_path / "back.jsonl")
    for row in rows:
        clean = tmp_path / "ds" / row["audio"]["clean"]
        clip = back.by_id(clean.name.split(".flac")[0])
        assert (clip.text, clip.speaker, clip.split) == (row["labels"]["text"], row["labels"]["speaker"], "train")
        assert abs(clip.duration - row["duration"]) < 1e-3
        np.testing.assert_array_equal(samples(back.resolve(clip)), samples(clean))
    # and the same audiofolder loaded by datasets itself, saved with save_to_disk (bytes embedded), catalogued again
    loaded = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "hf_out"), cache_dir=str(tmp_path / "hf_cache"))
    loaded.save_to_disk(str(tmp_path / "hf_saved"))
    again = catalog("hf", tmp_path / "hf_saved", tmp_path / "again.jsonl")
    assert sorted(c.id for c in again) == sorted(c.id for c in back)
    for clip in again:
        assert clip.text == back.by_id(clip.id).text and clip.speaker == back.by_id(clip.id).speaker
        np.testing.assert_array_equal(samples(again.resolve(clip)), samples(back.resolve(back.by_id(clip.id))))
