"""Clips that are pieces of a file (segments of long recordings, channels of multi-channel files),
the alignment fields of a catalog row, and one text normalization for every catalog of a build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sources_kit import build_and_validate, catalog, rejects, speech_file

from audiosynth.catalog import Catalog, Clip, write_catalog
from audiosynth.config import config_from_dict
from audiosynth.corpora.scan import check_pieces
from audiosynth.corpora.text import librispeech, normalize_clip, text_normalizer
from audiosynth.dataset.validate import validate
from audiosynth.errors import AudioError, CatalogError
from audiosynth.plan.pools import load_catalogs
from audiosynth.render.load import load_segment
from audiosynth.scene import Segment

ROW = {"id": "u1", "path": "a.wav", "kind": "speech", "duration": 2.0, "sample_rate": 16000, "num_channels": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offset": -1.0}, "'offset' must be a number of seconds >= 0"),
        ({"offset": "3"}, "'offset'"),
        ({"channel": -1}, "'channel' must be an int >= 0"),
        ({"channel": 1, "num_channels": 2}, "with num_channels 1"),
        ({"channel": True}, "'channel'"),
        ({"words": [["b", 1.0, 1.5], ["a", 0.2, 0.5]]}, "sorted by start"),
        ({"words": [["a", 0.5, 0.2]]}, "start <= end"),
        ({"words": [["a", 0.5, 2.5]]}, "within the clip's 2 s"),
        ({"words": [["a\n", 0.1, 0.2]]}, "list of \\[label, start_s, end_s\\]"),
        ({"phones": [["", 0.1, 0.2]]}, "'phones' must be"),
        ({"words": "a b"}, "'words' must be"),
        ({"original_text": 3}, "'original_text' must be a string"),
    ],
)
def test_bad_piece_and_alignment_fields_are_refused_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        Clip.from_dict({**ROW, **change}, "cat.jsonl:3")


def test_alignment_fields_round_trip_through_a_catalog_file(tmp_path: Path) -> None:
    words = [["hello", 0.1, 0.6], ["world", 0.7, 1.2]]
    row = {**ROW, "offset": 1.25, "words": words, "phones": [["HH", 0.1, 0.2]], "original_text": "Hello"}
    clip = Clip.from_dict(row)
    assert clip.words == (("hello", 0.1, 0.6), ("world", 0.7, 1.2)) and clip.start_frame == 20000 and not clip.is_whole_file
    write_catalog([clip], tmp_path / "c.jsonl")
    assert json.loads((tmp_path / "c.jsonl").read_text()) == row
    assert "offset" not in Clip.from_dict(ROW).to_dict()  # a whole-file row is written as before


def test_pieces_of_a_file_are_checked_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    x = speech_file(path, 4.0)
    x[16000:32000] = 0.0  # second 1..2 silent
    sf.write(path, np.stack([x, 0.5 * x], axis=1), 16000)
    got = check_pieces(path, [(2.0, 1.5, None), (1.1, 0.8, 0), (3.5, 1.0, None), (0.0, 1.0, 2), (0.5, 0.05, 1)], max_channels=2)
    frames, rate, channels, active = got[0]  # type: ignore[misc]
    assert (frames, rate, channels) == (24000, 16000, 2)
    assert 0 <= active[0][0] < 0.1 and 1.4 <= active[-1][1] <= 1.5  # relative to the piece's start
    assert [getattr(r, "reason", None) for r in got[1:]] == ["silent", "bad_segment", "no_such_channel", "too_short"]
    one = check_pieces(path, [(0.0, 1.0, 1)])  # one channel of a 2-channel file is within max_channels=1
    assert one[0][:3] == (16000, 16000, 1)  # type: ignore[index]
    assert isinstance(check_pieces(path, [(0.0, 1.0, None)])[0], AudioError)  # all 2 channels > max_channels 1


def test_a_channel_clip_reads_exactly_its_channel(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (16000, 2))
    sf.write(path, x, 16000, subtype="FLOAT")
    clips = Catalog(
        [Clip("c1", str(path), "speech", 0.5, 16000, 1, offset=0.25, channel=1), Clip("c5", str(path), "speech", 0.5, 16000, 1, channel=5)]
    )
    got = load_segment(Segment("c1", 100, 4000), clips, 16000, 4000)
    np.testing.assert_array_equal(got, x[4000 + 100 : 4000 + 4100, 1][None].astype(np.float32).astype(np.float64))
    with pytest.raises(AudioError, match="channel 5"):
        load_segment(Segment("c5", 0, 100), clips, 16000, 100)


@pytest.fixture
def user_norm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user's module on the path with a marked normalization ``mynorm:capitals`` and an unmarked ``mynorm:plain``."""
    (tmp_path / "mynorm.py").write_text(
        "import string\nfrom audiosynth.corpora.text import text_norm\n\n"
        "@text_norm\ndef capitals(text):\n    return string.capwords(text)\n\n"
        "def plain(text):\n    return text\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "mynorm:capitals"


def test_text_normalizations(user_norm: str) -> None:
    assert librispeech("“Hello,” she said -- it's 9 o’clock!") == "HELLO SHE SAID IT'S 9 O'CLOCK"
    assert text_normalizer(user_norm)("a  b") == "A B"
    for bad in ("shout", "nosuchmodule:f", "string:nosuch", "string:ascii_letters", "string:capwords", "os:system", "mynorm:plain"):
        with pytest.raises(CatalogError, match="text normalization"):
            text_normalizer(bad)
    clip = Clip("a", "a.wav", "speech", 1.0, 16000, text="hi, there")
    once = normalize_clip(clip, librispeech)
    assert (once.text, once.original_text) == ("HI THERE", "hi, there")
    assert normalize_clip(once, text_normalizer("keep")).text == "hi, there"  # from the original, whatever came before
    with pytest.raises(CatalogError, match="clip a"):
        normalize_clip(clip, lambda t: None)  # type: ignore[arg-type,return-value]


def test_one_normalization_for_every_speech_catalog_of_a_build(tmp_path: Path) -> None:
    speech_file(tmp_path / "a.wav", 1.0)
    write_catalog([Clip("a", "a.wav", "speech", 1.0, 16000, text="Hello, world.")], tmp_path / "one.jsonl")
    write_catalog([Clip("b", "a.wav", "speech", 1.0, 16000, text="GOOD DAY", original_text="good day!")], tmp_path / "two.jsonl")
    base = {"catalogs": {"speech": [str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")]}, "noise_probability": 0.0}
    as_held = load_catalogs(config_from_dict(base)).speech
    assert [c.text for c in as_held] == ["Hello, world.", "GOOD DAY"]
    for norm, texts in (("librispeech", ["HELLO WORLD", "GOOD DAY"]), ("keep", ["Hello, world.", "good day!"])):
        config = config_from_dict({**base, "catalogs": {**base["catalogs"], "text_norm": norm}})
        assert [c.text for c in load_catalogs(config).speech] == texts


def _texts_corpus(tmp_path: Path) -> Path:
    """A speech catalog of 4 speakers' whole utterances (1 s) with punctuated, mixed-case texts."""
    clips = []
    for k in range(4):
        speech_file(tmp_path / f"u{k}.wav", 1.0, f0=100.0 + 30 * k, seed=k)
        clips.append(Clip(f"u{k}", f"u{k}.wav", "speech", 1.0, 16000, speaker=f"s{k}", text=f"Hello, number {k}!"))
    write_catalog(clips, tmp_path / "speech.jsonl")
    return tmp_path / "speech.jsonl"


def test_a_build_with_a_text_normalization_validates(tmp_path: Path, user_norm: str) -> None:
    speech = _texts_corpus(tmp_path)
    for norm, text in (("librispeech", "HELLO NUMBER"), (user_norm, "Hello, Number")):
        rows = build_and_validate(
            tmp_path / norm, [speech], duration_s=[1.2, 1.5], require_text=True, catalogs={"speech": [str(speech)], "text_norm": norm}
        )
        assert rows and all(row["labels"]["text"].startswith(text) for row in rows), [r["labels"]["text"] for r in rows]


def test_validate_never_imports_a_text_normalization_that_build_json_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    speech = _texts_corpus(tmp_path)
    build_and_validate(tmp_path / "ds", [speech], duration_s=[1.2, 1.5], require_text=True)
    (tmp_path / "evil.py").write_text("import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\ndef f(t):\n    return t\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    info = json.loads((tmp_path / "ds" / "build.json").read_text())
    info["config"]["catalogs"]["text_norm"] = "evil:f"
    (tmp_path / "ds" / "build.json").write_text(json.dumps(info))
    assert validate(tmp_path / "ds", progress=False).ok
    assert not (tmp_path / "RAN").exists()


def test_every_rir_is_decay_checked_whatever_the_kind_option_and_each_channel_piece_too(tmp_path: Path) -> None:
    t = np.arange(8000) / 16000
    decay = np.random.default_rng(0).standard_normal(8000) * np.exp(-6.91 * t / 0.3)
    flat = np.random.default_rng(1).standard_normal(8000) * 0.1
    sf.write(tmp_path / "two.wav", np.stack([decay, flat], axis=1), 16000, subtype="FLOAT")
    got = check_pieces(tmp_path / "two.wav", [(0.0, 0.5, 0), (0.0, 0.5, 1)], kind="rir")
    assert got[0][:3] == (8000, 16000, 1)  # type: ignore[index]
    assert getattr(got[1], "reason", None) == "shallow_decay" and "channel 2" in got[1].detail  # type: ignore[union-attr]
    # a multi-position RIR set (one room per top folder): the source says kind rir, no --kind given
    room = tmp_path / "rirs" / "hall"
    room.mkdir(parents=True)
    sf.write(room / "pos1.wav", decay, 16000, subtype="FLOAT")
    sf.write(room / "noise_not_a_rir.wav", flat, 16000, subtype="FLOAT")
    cat = catalog("but_reverb", tmp_path / "rirs", tmp_path / "rirs.jsonl")
    assert [(c.kind, c.room) for c in cat] == [("rir", "hall")]
    assert [r["reason"] for r in rejects(tmp_path / "rirs.jsonl")] == ["shallow_decay"]
