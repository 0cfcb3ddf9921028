"""Exports read back with the real toolkits: NeMo manifests, Lhotse, Kaldi (via lhotse),
Hugging Face audiofolder (datasets<4), RTTM (pyannote.database)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import small_config

from audiosynth.build import build
from audiosynth.dataset.export import FORMATS, export_dataset
from audiosynth.errors import DatasetError

ONE_SPLIT = {"train": 1.0, "dev": 0.0, "test": 0.0}


def rows_of(ds: Path) -> list[dict]:
    return [json.loads(line) for line in (ds / "manifest.jsonl").read_text().splitlines()]


def read(path: Path | str) -> np.ndarray:
    """(channels, samples) float32, as lhotse returns audio."""
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T


@pytest.fixture(scope="module")
def datasets_built(corpus, tmp_path_factory):
    """Single-talker denoising with transcripts (all three splits), 2-talker separation, diarization."""
    root = tmp_path_factory.mktemp("export")
    configs = {
        "single": small_config(corpus, num_examples=6, duration_s=[3.5, 4.0], reverb={"probability": 0.5, "source": "catalog"}),
        "sep": small_config(corpus, num_examples=4, task="separation", talkers={"count": [2, 2]}, splits=ONE_SPLIT),
        "diar": small_config(
            corpus, num_examples=2, task="diarization", session={"speakers": [2, 2], "duration_s": [20, 25]}, splits=ONE_SPLIT
        ),
    }
    for name, config in configs.items():
        build(config, root / name, workers=1, progress=False)
    return {name: root / name for name in configs}


def test_nemo_asr_manifest(datasets_built, tmp_path):
    ds = datasets_built["single"]
    rows = rows_of(ds)
    assert all(r["labels"]["text"] for r in rows)
    summary = export_dataset(ds, "nemo", tmp_path / "nemo")
    assert summary.counts == {"train": 4, "dev": 1, "test": 1} and not summary.skipped
    lines = [
        json.loads(line)
        for split in ("train", "dev", "test")
        for line in (tmp_path / "nemo" / f"{split}_manifest.json").read_text().splitlines()
    ]
    by_id = {r["id"]: r for r in rows}
    assert len(lines) == len(rows)
    for line in lines:
        row = by_id[Path(line["audio_filepath"]).name.split(".")[0]]
        assert Path(line["audio_filepath"]).is_absolute() and Path(line["audio_filepath"]) == (ds / row["audio"]["mix"]).resolve()
        assert line["duration"] == row["duration"] == sf.info(line["audio_filepath"]).duration
        assert line["text"] == row["labels"]["text"] and line["offset"] == 0.0
    # role "clean" and relative paths (relative to the export folder)
    export_dataset(ds, "nemo", tmp_path / "rel", role="clean", absolute_paths=False)
    line = json.loads((tmp_path / "rel" / "train_manifest.json").read_text().splitlines()[0])
    assert not Path(line["audio_filepath"]).is_absolute()
    assert (tmp_path / "rel" / line["audio_filepath"]).resolve() == (ds / rows[0]["audio"]["clean"]).resolve()


def test_nemo_skips_rows_without_text_and_refuses_when_none_has(datasets_built, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(datasets_built["single"], ds)
    rows = rows_of(ds)
    rows[1]["labels"]["text"] = None
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = export_dataset(ds, "nemo", tmp_path / "a")
    assert [i for i, _ in summary.skipped] == [rows[1]["id"]] and "transcript" in summary.skipped[0][1]
    assert sum(summary.counts.values()) == len(rows) - 1
    for row in rows:
        row["labels"]["text"] = None
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"nemo: .*labels\.text"):
        export_dataset(ds, "nemo", tmp_path / "b")
    # a mixture of several talkers has no single transcript; talker s1 has
    with pytest.raises(DatasetError, match="nemo"):
        export_dataset(datasets_built["sep"], "nemo", tmp_path / "c")
    summary = export_dataset(datasets_built["sep"], "nemo", tmp_path / "d", role="s1")
    sep_rows = {r["id"]: r for r in rows_of(datasets_built["sep"])}
    for line in map(json.loads, (tmp_path / "d" / "train_manifest.json").read_text().splitlines()):
        row = sep_rows[Path(line["audio_filepath"]).name.split(".")[0]]
        assert line["audio_filepath"].endswith(".s1.flac")
        assert line["text"] == " ".join(s["text"] for s in row["labels"]["segments"] if s["role"] == "s1")


def test_nemo_diarization_manifest(datasets_built, tmp_path):
    ds = datasets_built["diar"]
    export_dataset(ds, "nemo", tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "train_manifest.json").read_text().splitlines()]
    for line, row in zip(lines, rows_of(ds), strict=True):  # one split: every row is a line
        assert line["rttm_filepath"] == str((ds / row["rttm"]).resolve()) and Path(line["rttm_filepath"]).is_file()
        assert line["num_speakers"] == 2 == len(set(row["labels"]["speakers"]))
        assert line["label"] == "infer" and line["duration"] == row["duration"]


@pytest.mark.parametrize("name", ["single", "sep", "diar"])
def test_lhotse_manifests_load_and_cut_audio_is_the_file(datasets_built, tmp_path, name):
    lhotse = pytest.importorskip("lhotse")
    ds = datasets_built[name]
    summary = export_dataset(ds, "lhotse", tmp_path)
    rows = {r["id"]: r for r in rows_of(ds)}
    for split, count in summary.counts.items():
        recordings = lhotse.load_manifest(tmp_path / f"audiosynth_recordings_{split}.jsonl.gz")
        supervisions = lhotse.load_manifest(tmp_path / f"audiosynth_supervisions_{split}.jsonl.gz")
        cuts = lhotse.load_manifest(tmp_path / f"audiosynth_cuts_{split}.jsonl.gz")
        assert len(recordings) == len(cuts) == count
        for cut in cuts:
            row = rows[cut.recording_id]
            assert row["split"] == split and abs(cut.duration - row["duration"]) < 1e-6
            np.testing.assert_array_equal(cut.load_audio(), read(ds / row["audio"]["mix"]))
            got = [(s.speaker, s.text, round(s.start, 4), round(s.end, 4)) for s in cut.supervisions]
            if name == "single":
                want = [(row["labels"]["speaker"], row["labels"]["text"], 0.0, round(row["duration"], 4))]
            else:
                want = sorted((s["speaker"], s["text"], round(s["start"], 4), round(s["end"], 4)) for s in row["labels"]["segments"])
            assert sorted(got) == sorted(want)
        assert len(supervisions) == sum(len(c.supervisions) for c in cuts)


@pytest.mark.parametrize("name", ["single", "sep"])
def test_kaldi_data_dir_loads_with_lhotse(datasets_built, tmp_path, name):
    kaldi = pytest.importorskip("lhotse.kaldi")
    ds = datasets_built[name]
    summary = export_dataset(ds, "kaldi", tmp_path)
    rows = {r["id"]: r for r in rows_of(ds)}
    for split, count in summary.counts.items():
        data = tmp_path / split
        for listing in ("utt2spk", "spk2utt", "segments", "wav.scp", "text", "reco2dur"):  # sorted, as Kaldi requires
            lines = (data / listing).read_text().splitlines()
            assert lines == sorted(lines)
        utt2spk = [line.split() for line in (data / "utt2spk").read_text().splitlines()]
        assert [u for u, _ in utt2spk] == sorted(u for u, _ in utt2spk) and [s for _, s in utt2spk] == sorted(s for _, s in utt2spk)
        recordings, supervisions, _ = kaldi.load_kaldi_data_dir(data, sampling_rate=16000)
        assert sorted(recordings.ids) == sorted(i for i, r in rows.items() if r["split"] == split) and len(recordings) == count
        for rec in recordings:
            assert abs(rec.duration - rows[rec.id]["duration"]) < 1e-6
        if shutil.which("sox"):  # wav.scp runs `sox FILE -t wav - |` for FLAC
            rec = recordings[next(iter(recordings.ids))]
            np.testing.assert_array_equal(rec.load_audio(), read(ds / rows[rec.id]["audio"]["mix"]))
        got = sorted((s.recording_id, s.speaker, s.text, round(s.start, 3), round(s.end, 3)) for s in supervisions)
        want = []
        for row in (r for r in rows.values() if r["split"] == split):
            segs = row["labels"].get("segments") or [
                {"speaker": row["labels"]["speaker"], "text": row["labels"]["text"], "start": 0.0, "end": row["duration"]}
            ]
            want += [(row["id"], s["speaker"], s["text"], round(s["start"], 3), round(s["end"], 3)) for s in segs]
        assert got == sorted(want)


def test_hf_audiofolder_loads_offline(datasets_built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    ds = datasets_built["single"]
    summary = export_dataset(ds, "hf", tmp_path / "hf")
    loaded = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    loaded = loaded.cast_column("audio", datasets.Audio(decode=False))  # datasets 3 decodes with librosa: read with soundfile
    assert (
        {split: len(loaded[split]) for split in loaded}
        == {"train": 4, "validation": 1, "test": 1}
        == {{"dev": "validation"}.get(s, s): n for s, n in summary.counts.items()}
    )
    rows = {r["id"]: r for r in rows_of(ds)}
    for split in loaded:
        for item in loaded[split]:
            row = rows[item["id"]]
            assert item["text"] == row["labels"]["text"] and item["speaker"] == row["labels"]["speaker"]
            assert item["snr_db"] == row["labels"]["snr_db"] and item["duration"] == row["duration"]
            assert Path(item["audio"]["path"]).parent == tmp_path / "hf" / split.replace("validation", "dev")  # a self-contained folder
            np.testing.assert_array_equal(read(item["audio"]["path"]), read(ds / row["audio"]["mix"]))


def test_hf_multi_talker_columns(datasets_built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    ds = datasets_built["sep"]
    export_dataset(ds, "hf", tmp_path / "hf", role="s2")
    loaded = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))["train"]
    loaded = loaded.cast_column("audio", datasets.Audio(decode=False))
    rows = {r["id"]: r for r in rows_of(ds)}
    for item in loaded:
        row = rows[item["id"]]
        assert item["speakers"] == row["labels"]["speakers"] and json.loads(item["sir_db"]) == row["labels"]["sir_db"]
        assert item["segments"] == row["labels"]["segments"]
        assert item["text"] == " ".join(s["text"] for s in row["labels"]["segments"] if s["role"] == "s2")
        np.testing.assert_array_equal(read(item["audio"]["path"]), read(ds / row["audio"]["s2"]))


def test_rttm_loads_with_pyannote(datasets_built, tmp_path):
    util = pytest.importorskip("pyannote.database.util")
    ds = datasets_built["diar"]
    export_dataset(ds, "rttm", tmp_path / "diar")
    annotations = util.load_rttm(tmp_path / "diar" / "train.rttm")
    uems = util.load_uem(tmp_path / "diar" / "train.uem")
    rows = rows_of(ds)
    assert sorted(annotations) == sorted(uems) == sorted(r["id"] for r in rows)
    for row in rows:
        got = sorted(
            (round(seg.start, 3), round(seg.end, 3), label) for seg, _, label in annotations[row["id"]].itertracks(yield_label=True)
        )
        want = sorted((round(a["start"], 3), round(a["end"], 3), a["speaker"]) for a in row["labels"]["activity"])
        assert len(got) == len(want) and all(
            abs(g[0] - w[0]) < 1.5e-3 and abs(g[1] - w[1]) < 1.5e-3 and g[2] == w[2] for g, w in zip(got, want, strict=True)
        )
        assert abs(uems[row["id"]].extent().end - row["duration"]) < 1e-3
    # separation: from the talker segments
    ds = datasets_built["sep"]
    export_dataset(ds, "rttm", tmp_path / "sep")
    annotations = util.load_rttm(tmp_path / "sep" / "train.rttm")
    for row in rows_of(ds):
        labels = annotations[row["id"]].labels()
        assert sorted(labels) == sorted(row["labels"]["speakers"])


def test_refusals(datasets_built, tmp_path):
    single = datasets_built["single"]
    with pytest.raises(DatasetError, match=r"rttm: .*labels\.segments"):
        export_dataset(single, "rttm", tmp_path / "r")
    with pytest.raises(DatasetError, match="unknown export format 'csv'"):
        export_dataset(single, "csv", tmp_path / "x")
    with pytest.raises(DatasetError, match=r"lhotse: .*role 's1'"):
        export_dataset(single, "lhotse", tmp_path / "y", role="s1")
    with pytest.raises(DatasetError, match=r"manifest\.jsonl: missing"):
        export_dataset(tmp_path, "kaldi", tmp_path / "z")
    assert set(FORMATS) == {"nemo", "lhotse", "kaldi", "hf", "rttm"}
    assert issubclass(DatasetError, ValueError)
