"""Compressed clips (audiosynth.io.codecs): MP3 and Ogg segments are exact slices of the file's
whole decode, the same in every call and process (libsndfile's seeks in them are not), and AAC in
.m4a is decoded with PyAV (the ``codecs`` extra), or rejected with a hint when it is missing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.catalog import Catalog
from audiosynth.corpora import check_audio_file
from audiosynth.errors import AudioError
from audiosynth.io import codecs
from audiosynth.io.audio import read_segment
from audiosynth.render.load import load_segment
from audiosynth.scene import Segment


def whole(path: Path) -> np.ndarray:
    """The file decoded in one read from a fresh handle, ``(C, N)``."""
    with sf.SoundFile(path) as handle:
        return handle.read(dtype="float64", always_2d=True).T


def write_m4a(path: Path, x: np.ndarray, rate: int) -> None:
    """AAC in an MP4 container, encoded with PyAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for i in range(0, len(x), 1024):
            frame = av.AudioFrame.from_ndarray(x[None, i : i + 1024].astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize(
    ("name", "write"),
    [("a.mp3", {"format": "MP3"}), ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}), ("a.opus", {"format": "OGG", "subtype": "OPUS"})],
)
def test_a_segment_is_the_slice_of_the_whole_decode(tmp_path: Path, name: str, write: dict) -> None:
    path = tmp_path / name
    speech_file(path, 3.0, rate=48000 if name.endswith("opus") else 16000, **write)
    full = whole(path)
    n = full.shape[1]
    for offset in (0, 1, 577, 1152, 20000, n - 3000):
        np.testing.assert_array_equal(read_segment(path, offset, 3000), full[:, offset : offset + 3000])
    np.testing.assert_array_equal(read_segment(path, 100, 2000, start=7000, frames=9000), full[:, 7100:9100])  # a segment clip
    looped = read_segment(path, 8000, 3000, loop=True, start=7000, frames=9000)  # wraps within the segment
    np.testing.assert_array_equal(looped, np.concatenate([full[:, 15000:16000], full[:, 7000:9000]], axis=1))
    np.testing.assert_array_equal(read_segment(path, n - 1000, 3000, loop=True), np.concatenate([full[:, -1000:], full[:, :2000]], axis=1))
    with pytest.raises(AudioError) as info:
        read_segment(path, n - 1000, 3000)
    assert info.value.reason == "too_short"


def test_a_file_longer_than_one_read_is_decoded_in_the_same_reads_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.mp3"
    speech_file(path, 2.0, rate=16000, format="MP3")
    monkeypatch.setattr(codecs, "DECODE_BLOCK_FRAMES", 4096)
    with sf.SoundFile(path) as handle:
        blocks = np.concatenate([handle.read(4096, dtype="float64", always_2d=True) for _ in range(8)]).T
    for offset in (0, 4000, 4096, 10000, 25000):  # within a read, and across reads
        got = read_segment(path, offset, 5000)
        np.testing.assert_array_equal(got, blocks[:, offset : offset + 5000])
        np.testing.assert_array_equal(got, read_segment(path, offset, 5000))


def test_mp3_segments_are_the_same_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    speech_file(path, 2.5, rate=32000, format="MP3")
    code = (
        "import hashlib, sys; from audiosynth.io.audio import read_segment; "
        "print(hashlib.sha256(read_segment(sys.argv[1], 30001, 20000).tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert other == hashlib.sha256(read_segment(path, 30001, 20000).tobytes()).hexdigest()


def test_segments_of_a_long_mp3_catalogued_from_a_manifest_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp3"
    speech_file(path, 6.0, rate=16000, format="MP3")
    lines = [{"audio_filepath": "talk.mp3", "offset": 0.5, "duration": 2.0}, {"audio_filepath": "talk.mp3", "offset": 3.0, "duration": 2.5}]
    (tmp_path / "manifest.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    cat = Catalog.merge([catalog("nemo", tmp_path / "manifest.json", tmp_path / "talk.jsonl")])
    assert sorted(c.id for c in cat) == ["talk-0000500", "talk-0003000"]
    full = whole(path)[0]
    got = load_segment(Segment("talk-0003000", 4000, 16000), cat, 16000, 16000)
    np.testing.assert_array_equal(got[0], full[48000 + 4000 : 48000 + 20000])


def test_aac_in_m4a_is_decoded_with_pyav(tmp_path: Path) -> None:
    x = speech_file(tmp_path / "ref.wav", 1.5, rate=16000)
    write_m4a(tmp_path / "aac" / "clip.m4a", x, 16000)
    (tmp_path / "aac" / "broken.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    with pytest.raises(sf.LibsndfileError):
        sf.SoundFile(tmp_path / "aac" / "clip.m4a")  # what libsndfile makes of it
    frames, rate, channels = check_audio_file(tmp_path / "aac" / "clip.m4a")
    with codecs.open_audio(tmp_path / "aac" / "clip.m4a") as handle:
        assert isinstance(handle, codecs.AvFile) and handle.subtype == "AAC"
        decoded = handle.read(-1, dtype="float64").T
    assert (frames, rate, channels) == (decoded.shape[1], 16000, 1)
    assert abs(frames - x.size) <= 2048  # the encoder's priming and padding
    np.testing.assert_array_equal(read_segment(tmp_path / "aac" / "clip.m4a", 5000, 8000), decoded[:, 5000:13000])

    out = tmp_path / "aac.jsonl"
    cat = catalog("folder", tmp_path / "aac", out, kind="speech")
    assert [(c.id, c.sample_rate, c.num_samples) for c in cat] == [("clip", 16000, frames)]
    (bad,) = rejects(out)
    assert (Path(bad["path"]).name, bad["reason"]) == ("broken.m4a", "unreadable") and "PyAV" in bad["detail"]
    noise_file(tmp_path / "noise" / "hum.wav", 3.0)
    catalog("folder", tmp_path / "noise", tmp_path / "noise.jsonl", kind="noise")
    rows = build_and_validate(tmp_path / "ds", [out], [tmp_path / "noise.jsonl"], num_examples=2)
    assert {row["labels"]["speech_clip"] for row in rows} == {"clip"}


def test_without_pyav_an_m4a_is_rejected_with_the_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_m4a(tmp_path / "aac" / "clip.m4a", speech_file(tmp_path / "ref.wav", 1.0), 16000)
    monkeypatch.setattr(codecs, "av_available", lambda: False)
    out = tmp_path / "aac.jsonl"
    assert len(catalog("folder", tmp_path / "aac", out, kind="speech")) == 0
    (row,) = rejects(out)
    assert row["reason"] == "unreadable" and "audiosynth[codecs]" in row["detail"]
    with pytest.raises(AudioError, match=r"audiosynth\[codecs\]"):
        read_segment(tmp_path / "aac" / "clip.m4a", 0, 100)
