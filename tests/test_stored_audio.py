"""Reading one audio file of a built dataset safely (`trust.dataset_file`, `audio.read_dataset_audio`):
the one place StoredDataset, validate, export and shards go through."""

import io
import os

import numpy as np
import pytest
import soundfile as sf

from audiosynth.dataset.trust import dataset_file
from audiosynth.errors import DatasetError
from audiosynth.io.audio import read_dataset_audio
from audiosynth.names import show

RATE = 16000
ROW = {
    "id": "train-000001",
    "duration": 0.5,
    "sample_rate": RATE,
    "audio": {"mix": "a/x.mix.wav", "enrollment": "a/x.enr.wav"},
    "labels": {"enrollment_duration": 0.25},
}


def _wav(samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_a_good_file_is_read_whole_or_as_a_window() -> None:
    x = (np.arange(8000) % 100 / 200.0).astype(np.float32)
    audio = read_dataset_audio(_wav(x, subtype="FLOAT"), ROW, "mix")
    assert audio.data.shape == (8000, 1) and np.array_equal(audio.data[:, 0], x)
    window = read_dataset_audio(_wav(x, subtype="FLOAT"), ROW, "mix", start=7000, length=2000)
    assert window.data.shape == (1000, 1) and np.array_equal(window.data[:, 0], x[7000:])  # the caller pads past the end


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_wav(np.full(8000, np.nan, np.float32), subtype="FLOAT"), "NaN or Inf"),
        (_wav(np.zeros(8000, np.float32), rate=8000), "sample rate 8000 != 16000"),
        (_wav(np.zeros(4000, np.float32)), "4000 frames != duration"),
        (_wav(np.zeros((8000, 2), np.float32)), "2 channels != 1"),
        (
            _wav(np.sin(np.arange(8000) / 3.0) / 2, fmt="FLAC")[:3000],
            "(truncated: decoded|not readable audio)",
        ),  # its header says 8000 frames
        (b"not audio at all" * 40, "not readable audio"),
        (b"", "not readable audio"),
    ],
)
def test_a_bad_file_is_one_line_naming_row_file_and_why(data: bytes, why: str) -> None:
    with pytest.raises(DatasetError, match=r"^manifest.jsonl \(id train-000001\): audio.mix 'a/x.mix.wav': .*" + why) as err:
        read_dataset_audio(data, ROW, "mix", "manifest.jsonl (id train-000001)")
    assert "\n" not in str(err.value)


def test_an_enrollment_has_its_own_length() -> None:
    assert read_dataset_audio(_wav(np.zeros(4000, np.float32)), ROW, "enrollment").frames == 4000
    with pytest.raises(DatasetError, match=r"enrollment: 8000 frames != labels\.enrollment_duration"):
        read_dataset_audio(_wav(np.zeros(8000, np.float32)), ROW, "enrollment")


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("missing", "missing file"),
        ("folder", "not a regular file"),
        ("fifo", "not a regular file"),
        ("loop", "cannot read .*symbolic links"),
    ],
)
def test_dataset_file_refuses_what_is_not_a_regular_file_without_opening_it(tmp_path, kind: str, why: str) -> None:
    path = tmp_path / "a" / "x.mix.wav"
    path.parent.mkdir()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would block forever
    elif kind == "loop":
        os.symlink(path, path)
    with pytest.raises(DatasetError, match=rf"^m:2: audio.mix 'a/x.mix.wav': .*{why}"):
        dataset_file(tmp_path, "a/x.mix.wav", "m:2", "audio.mix")


def test_show_keeps_the_tail_of_a_long_value() -> None:
    text = show("/" + "d" * 100 + "/FUZZ_SECRET.flac")
    assert text.startswith("'/ddd") and "FUZZ_SECRET.flac'" in text and text.endswith("(120 chars)") and len(text) < 80
