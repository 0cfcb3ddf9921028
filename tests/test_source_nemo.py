"""NeMo manifests as catalogs: segments of long recordings, bad lines, paths outside the folders
named, a build from the catalog, and the round trip through ``audiosynth export --to nemo``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.catalog import Catalog, Clip
from audiosynth.dataset.export import export_dataset
from audiosynth.render.load import load_segment
from audiosynth.scene import Segment


def write_manifest(path: Path, lines: list[object]) -> None:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")


@pytest.fixture
def nemo(tmp_path: Path) -> Path:
    """A NeMo manifest: two segments of one long recording, two whole files, and four bad lines."""
    root = tmp_path / "an4"
    long = speech_file(root / "wavs" / "meeting.wav", 6.0, f0=110.0)
    speech_file(root / "wavs" / "a.wav", 2.0, f0=150.0, seed=3)
    speech_file(root / "wavs" / "b.flac", 1.6, f0=210.0, seed=4)
    speech_file(tmp_path / "elsewhere" / "x.wav", 1.5, seed=5)
    assert long.shape == (96000,)
    write_manifest(
        root / "train_manifest.json",
        [
            {"audio_filepath": "wavs/meeting.wav", "offset": 0.5, "duration": 2.0, "text": "first part", "speaker": 7},
            {"audio_filepath": "wavs/meeting.wav", "offset": 3.0, "duration": 2.5, "text": "second part", "speaker": 7},
            {"audio_filepath": "wavs/a.wav", "duration": 2.0, "text": "hello there", "speaker": "spk_a", "lang": "en"},
            {"audio_filepath": str(root / "wavs" / "b.flac"), "duration": 1.6, "text": "-"},
            "{not json",
            {"audio_filepath": "wavs/a.wav"},  # no duration
            {"audio_filepath": "wavs/meeting.wav", "offset": 5.0, "duration": 3.0, "text": "past the end"},
            {"audio_filepath": "../elsewhere/x.wav", "duration": 1.5, "text": "outside"},
        ],
    )
    return root / "train_manifest.json"


def test_nemo_manifest_catalogues_segments_whole_files_and_rejects(nemo: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "speech.jsonl"
    cat = catalog("nemo", nemo, out)
    ids = sorted(c.id for c in cat)
    assert ids == ["a", "b", "meeting-0000500", "meeting-0003000"]
    first, second = cat.by_id("meeting-0000500"), cat.by_id("meeting-0003000")
    assert (first.offset, first.duration, first.text, first.speaker) == (0.5, 2.0, "first part", "7")
    assert (second.offset, second.duration, second.text) == (3.0, 2.5, "second part")
    assert cat.by_id("a").offset is None and cat.by_id("a").language == "en"
    assert cat.by_id("b").text is None  # NeMo's "-" placeholder is no transcript
    assert all(c.corpus == "train_manifest" for c in cat)
    for clip in (first, second):  # activity measured on the segment, relative to its start
        assert clip.active and 0 <= clip.active[0][0] < 0.2 and clip.duration - 0.2 < clip.active[-1][1] <= clip.duration
    reasons = sorted(r["reason"] for r in rejects(out))
    assert reasons == ["bad_row", "bad_row", "bad_segment", "outside_root"]
    by_reason = {r["reason"]: r for r in rejects(out)}
    assert "train_manifest.json:" in by_reason["bad_row"]["path"]
    assert "--audio-root" in by_reason["outside_root"]["detail"]


def test_a_segment_reads_exactly_its_part_of_the_recording(nemo: Path, tmp_path: Path) -> None:
    cat = catalog("nemo", nemo, tmp_path / "speech.jsonl")
    merged = Catalog.merge([cat])
    clip = merged.by_id("meeting-0003000")
    whole = sf.read(nemo.parent / "wavs" / "meeting.wav", dtype="float64")[0]
    got = load_segment(Segment(clip.id, 4000, 16000), merged, 16000, 16000)
    np.testing.assert_array_equal(got[0], whole[3 * 16000 + 4000 : 3 * 16000 + 20000])
    looped = load_segment(Segment(clip.id, 39000, 2000, loop=True), merged, 16000, 2000)  # wraps within the segment
    part = whole[48000 : 48000 + 40000]
    np.testing.assert_array_equal(looped[0], np.concatenate([part[39000:], part[:1000]]))


def test_paths_outside_are_taken_with_an_audio_root_or_allow_outside(nemo: Path, tmp_path: Path) -> None:
    out = tmp_path / "speech.jsonl"
    assert "x" in catalog("nemo", nemo, out, audio_roots=(tmp_path / "elsewhere",))
    assert "x" in catalog("nemo", nemo, out, allow_outside=True)
    assert "x" not in catalog("nemo", nemo, out)


def test_text_normalization_keeps_the_original(nemo: Path, tmp_path: Path) -> None:
    cat = catalog("nemo", nemo, tmp_path / "speech.jsonl", text_norm="librispeech")
    clip = cat.by_id("a")
    assert (clip.text, clip.original_text) == ("HELLO THERE", "hello there")


def test_a_build_from_a_nemo_catalog_validates_and_round_trips_through_export(nemo: Path, tmp_path: Path) -> None:
    speech = tmp_path / "speech.jsonl"
    catalog("nemo", nemo, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    # examples longer than every clip: whole utterances, with their transcripts
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], num_examples=6, duration_s=[2.6, 3.0], require_text=True)
    used = {row["labels"]["speech_clip"] for row in rows}
    assert used & {"meeting-0000500", "meeting-0003000"}, used  # segments of the long recording were drawn

    export_dataset(tmp_path / "ds", "nemo", tmp_path / "nemo_out", role="clean")
    manifest = tmp_path / "nemo_out" / "train_manifest.json"
    back = catalog("nemo", manifest, tmp_path / "back.jsonl", audio_roots=(tmp_path / "ds",))
    with_text = [r for r in rows if r["labels"].get("text")]
    assert len(back) == len(with_text) > 0
    for row in with_text:
        clip: Clip = next(c for c in back if Path(back.resolve(c)).resolve() == (tmp_path / "ds" / row["audio"]["clean"]).resolve())
        assert clip.text == row["labels"]["text"]
        assert abs(clip.duration - row["duration"]) < 1e-3
