"""Lhotse manifests as catalogs: LibriSpeech-style recordings + supervisions parts (splits), segments
of a long recording, channels of a multi-channel file and of a recording split over files, a CutSet,
command / url / transformed / outside sources, bad lines, and the round trip through
``audiosynth export --to lhotse``."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
from sources_kit import RATE, build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.catalog import Catalog, Clip
from audiosynth.dataset.export import export_dataset
from audiosynth.errors import CatalogError
from audiosynth.render.load import load_segment
from audiosynth.scene import Segment


def write_lines(path: Path, lines: list[object]) -> Path:
    """A JSON-lines manifest (gzipped for ``.gz``); strings are written as they are (bad lines)."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def recording(rec_id: str, sources: list[tuple[str, list[int], str]], seconds: float, **extra: object) -> dict:
    """A Recording line as Lhotse serializes it (``type, channels, source`` per AudioSource)."""
    row = {
        "id": rec_id,
        "sources": [{"type": t, "channels": c, "source": s} for t, c, s in sources],
        "sampling_rate": RATE,
        "num_samples": round(seconds * RATE),
        "duration": seconds,
        "channel_ids": sorted(c for _, cs, _ in sources for c in cs),
    }
    return {**row, **extra}


def supervision(sup_id: str, rec_id: str, start: float, duration: float, channel: int | list[int] = 0, **extra: object) -> dict:
    """A SupervisionSegment line as Lhotse serializes it (alignment items as [symbol, start, duration, score])."""
    return {"id": sup_id, "recording_id": rec_id, "start": start, "duration": duration, "channel": channel, **extra}


def by_reason(out: Path) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rejects(out):
        grouped.setdefault(row["reason"], []).append(row)
    return grouped


# --------------------------------------------------------------------------- LibriSpeech-style parts


@pytest.fixture
def librispeech(tmp_path: Path) -> Path:
    """``librispeech_{recordings,supervisions}_{dev-clean,train-clean-100}.jsonl.gz`` as the Lhotse
    recipe writes them (absolute paths, language "English"), plus three bad lines."""
    corpus, root = tmp_path / "LibriSpeech", tmp_path / "manifests"
    root.mkdir()
    utterances = {
        "dev-clean": [
            ("1272-128104-0000", 1.8, "MISTER QUILTER IS THE APOSTLE"),
            ("1272-128104-0001", 1.6, "NOR IS MISTER QUILTER'S MANNER"),
        ],
        "train-clean-100": [("19-198-0001", 2.0, "NORTHANGER ABBEY")],
    }
    for part, utts in utterances.items():
        recs, sups = [], []
        for n, (utt, seconds, text) in enumerate(utts):
            speaker, chapter, _ = utt.split("-")
            audio = corpus / part / speaker / chapter / f"{utt}.flac"
            speech_file(audio, seconds, f0=110.0 + 30 * n, seed=n + 1)
            recs.append(Recording.from_file(audio))
            gender = {"gender": "M"} if n == 0 else {"custom": {"gender": "f"}}  # odd casing; the field or custom
            sups.append(
                SupervisionSegment(utt, utt, 0.0, recs[-1].duration, channel=0, text=text, language="English", speaker=speaker, **gender)
            )
        RecordingSet.from_recordings(recs).to_file(root / f"librispeech_recordings_{part}.jsonl.gz")
        SupervisionSet.from_segments(sups).to_file(root / f"librispeech_supervisions_{part}.jsonl.gz")
    sup_path = root / "librispeech_supervisions_train-clean-100.jsonl.gz"
    lines = gzip.decompress(sup_path.read_bytes()).decode().splitlines()
    lines[0] = json.dumps(
        {**json.loads(lines[0]), "alignment": {"word": [["NORTHANGER", 0.1, 0.7, 1.0], ["", 0.8, 0.2, 1.0], ["ABBEY", 1.0, 0.5, 1.0]]}}
    )
    lines += [
        "{not json",
        json.dumps(supervision("19-198-0002", "19-198-0002", 0.0, 1.0, text="no recording", speaker="19")),
        json.dumps(supervision("19-198-0003", "19-198-0001", 0.0, 1.0, text="a bad speaker", speaker="Kara Shallenberg")),
    ]
    write_lines(sup_path, lines)
    return root


def test_librispeech_parts_give_splits_speakers_texts_genders_and_words(librispeech: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "speech.jsonl"
    # data/manifests beside download/LibriSpeech, as a recipe lays them out: the audio is outside ROOT
    assert len(catalog("lhotse", librispeech, out)) == 0
    assert [row["reason"] for row in rejects(out)].count("outside_root") == 3
    cat = catalog("lhotse", librispeech, out, audio_roots=(tmp_path / "LibriSpeech",))
    assert sorted(c.id for c in cat) == ["1272-128104-0000", "1272-128104-0001", "19-198-0001"]
    first = cat.by_id("1272-128104-0000")
    assert (first.split, first.speaker, first.text, first.language, first.gender) == (
        "dev",
        "1272",
        "MISTER QUILTER IS THE APOSTLE",
        "English",
        "male",
    )
    assert (first.offset, first.channel, first.num_channels, first.kind, first.corpus) == (None, None, 1, "speech", "librispeech")
    assert abs(first.duration - 1.8) < 1e-6 and first.sample_rate == RATE
    assert cat.by_id("1272-128104-0001").gender == "female"  # from custom["gender"]
    train = cat.by_id("19-198-0001")
    assert (train.split, train.speaker, train.words) == (
        "train",
        "19",
        (("NORTHANGER", 0.1, 0.8), ("ABBEY", 1.0, 1.5)),
    )  # the pause left out
    assert Path(cat.resolve(train)) == tmp_path / "LibriSpeech" / "train-clean-100" / "19" / "198" / "19-198-0001.flac"
    got = by_reason(out)
    assert sorted(got) == ["bad_row"] and len(got["bad_row"]) == 3
    sup_file = str(librispeech / "librispeech_supervisions_train-clean-100.jsonl.gz")
    details = {row["path"]: row["detail"] for row in got["bad_row"]}
    assert set(details) == {f"{sup_file}:2", f"{sup_file}:3", f"{sup_file}:4"}
    assert "invalid JSON" in details[f"{sup_file}:2"]
    assert "'19-198-0002' is not in librispeech_recordings_train-clean-100.jsonl.gz" in details[f"{sup_file}:3"]
    assert "'speaker' 'Kara Shallenberg' is not a name" in details[f"{sup_file}:4"]


def test_without_the_lhotse_package_the_error_says_what_to_install(
    librispeech: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lhotse", None)  # import lhotse -> ImportError
    with pytest.raises(CatalogError, match=r"pip install 'audiosynth\[lhotse\]'"):
        catalog("lhotse", librispeech, tmp_path / "speech.jsonl")


# --------------------------------------------------------------------------- segments, channels, sources


@pytest.fixture
def meetings(tmp_path: Path) -> Path:
    """``ami_recordings_meetings.jsonl`` + ``ami_supervisions_meetings.jsonl.gz`` (no split in the part's
    name): a long recording with segments, a stereo file, a recording with one file per channel, a
    recording without supervisions, and sources that are refused (command, url, shar, Speed, outside)."""
    root = tmp_path / "ami"
    speech_file(root / "audio" / "ES2002a.Mix-Headset.wav", 6.0, f0=110.0)
    left, right = speech_file(tmp_path / "l.wav", 3.0, f0=100.0, seed=1), speech_file(tmp_path / "r.wav", 3.0, f0=230.0, seed=2)
    sf.write(root / "audio" / "call.wav", np.stack([left, right], axis=1), RATE)
    speech_file(root / "audio" / "IS1009a.Array1-01.wav", 3.0, f0=120.0, seed=3)
    speech_file(root / "audio" / "IS1009a.Array1-02.wav", 3.0, f0=180.0, seed=4)
    noise_file(root / "audio" / "ambience.wav", 2.0)
    speech_file(root / "audio" / "piped.wav", 2.0, f0=140.0, seed=5)
    speech_file(root / "audio" / "fast.wav", 2.0, seed=6)
    speech_file(root / "audio" / "resampled.wav", 2.0, seed=7)
    speech_file(tmp_path / "elsewhere" / "x.wav", 2.0, seed=8)
    speech_file(tmp_path / "recipe" / "download" / "y.wav", 2.0, seed=9)  # relative to where a recipe ran
    words = [["THE", 3.2, 0.3, 1.0], ["MEETING", 3.6, 0.6, 1.0]]  # timed from the recording's start
    speed = [{"name": "Speed", "kwargs": {"factor": 1.1}}]
    resample = [{"name": "Resample", "kwargs": {"source_sampling_rate": 16000, "target_sampling_rate": 8000}}]
    write_lines(
        root / "ami_recordings_meetings.jsonl",
        [
            recording("ES2002a", [("file", [0], "audio/ES2002a.Mix-Headset.wav")], 6.0),
            recording("call", [("file", [0, 1], str(root / "audio" / "call.wav"))], 3.0),
            recording("IS1009a", [("file", [0], "audio/IS1009a.Array1-01.wav"), ("file", [1], "audio/IS1009a.Array1-02.wav")], 3.0),
            recording("ambience", [("file", [0], "audio/ambience.wav")], 2.0),
            recording("piped", [("command", [0], "cat audio/piped.wav")], 2.0),
            recording("remote", [("url", [0], "https://example.org/remote.wav")], 2.0),
            recording("fast", [("file", [0], "audio/fast.wav")], 2.0, transforms=speed),
            recording("resampled", [("file", [0], "audio/resampled.wav")], 2.0, sampling_rate=8000, num_samples=16000, transforms=resample),
            recording("outside", [("file", [0], "../elsewhere/x.wav")], 2.0),
            recording("recipe", [("file", [0], "download/y.wav")], 2.0),
            '{"id": "no-sources"}',
            recording("shard", [("shar", [0], "")], 2.0),  # a Lhotse Shar placeholder
            recording("line\nbreak", [("file", [0], "audio/ambience.wav")], 2.0),
        ],
    )
    write_lines(
        root / "ami_supervisions_meetings.jsonl.gz",
        [
            supervision("ES2002a-0", "ES2002a", 0.5, 2.0, text="okay let's start", speaker="MEE006"),
            supervision("ES2002a-1", "ES2002a", 3.0, 2.5, text="the meeting", speaker="FEE005", alignment={"word": words}),
            supervision("ES2002a-2", "ES2002a", 5.0, 3.0, text="past the end", speaker="MEE006"),
            supervision("call-B-0", "call", 0.5, 2.0, channel=1, text="on the right", speaker="B"),
            supervision("call-both", "call", 0.0, 1.0, channel=[0, 1], text="both channels"),
            supervision("IS1009a-1-0", "IS1009a", 0.5, 1.5, channel=1, text="array mic two", speaker="FIE038"),
            supervision("IS1009a-all", "IS1009a", 1.0, 1.0, channel=[0, 1], text="every mic", speaker="FIE038"),
            supervision("IS1009a-9", "IS1009a", 1.0, 1.0, channel=9),
            supervision("piped-0", "piped", 0.2, 1.5, text="from a pipe", speaker="MEE007"),
            supervision("fast-0", "fast", 0.0, 1.0, text="sped up"),
            supervision("resampled-0", "resampled", 0.5, 1.0, text="resampled on load"),
            supervision("remote-0", "remote", 0.0, 1.0),
            supervision("outside-0", "outside", 0.0, 1.5, text="outside"),
            supervision("recipe-0", "recipe", 0.0, 1.5, text="recipe relative"),
            supervision("ES2002a-3", "ES2002a", 1.0, -1.0),
        ],
    )
    return root


def test_segments_channels_and_refused_sources(meetings: Path, tmp_path: Path) -> None:
    out = tmp_path / "speech.jsonl"
    cat = catalog("lhotse", meetings, out)
    ids = sorted(c.id for c in cat)
    assert ids == ["ES2002a-0", "ES2002a-1", "IS1009a-1-0", "IS1009a-all", "ambience", "call-B-0", "resampled-0"]
    first, second = cat.by_id("ES2002a-0"), cat.by_id("ES2002a-1")
    assert (first.offset, first.duration, first.speaker, first.text, first.split) == (0.5, 2.0, "MEE006", "okay let's start", None)
    assert (second.offset, second.duration, second.corpus) == (3.0, 2.5, "ami")
    assert second.words == (("THE", 0.2, 0.5), ("MEETING", 0.6, 1.2))  # relative to the clip
    right = cat.by_id("call-B-0")
    assert (right.channel, right.num_channels, right.offset) == (1, 1, 0.5)
    mic2, every = cat.by_id("IS1009a-1-0"), cat.by_id("IS1009a-all")
    assert (Path(mic2.path).name, mic2.channel, mic2.offset) == ("IS1009a.Array1-02.wav", None, 0.5)  # the file of channel 1
    assert (Path(every.path).name, every.channel) == ("IS1009a.Array1-01.wav", None)  # channels over files: the first
    ambience = cat.by_id("ambience")
    assert (ambience.offset, ambience.channel, ambience.text) == (None, None, None) and abs(ambience.duration - 2.0) < 1e-6
    assert cat.by_id("resampled-0").sample_rate == RATE  # the file's own rate; audiosynth resamples itself

    counts = {reason: len(rows) for reason, rows in by_reason(out).items()}
    assert counts == {
        "bad_row": 6,  # url, shar, Speed, a line without sources, an id with a newline, a negative duration
        "command": 1,
        "no_such_channel": 1,
        "bad_segment": 1,  # past the end of its recording
        "too_many_channels": 1,  # a supervision on both channels of a stereo file is the whole file
        "unreadable": 1,  # relative to where a recipe ran, and no --audio-root to find it under
        "outside_root": 1,
    }
    recs, sups = str(meetings / "ami_recordings_meetings.jsonl"), str(meetings / "ami_supervisions_meetings.jsonl.gz")
    rows = {(row["path"], row["reason"]): row["detail"] for row in rejects(out)}
    assert "'piped'" in rows[(f"{recs}:5", "command")] and "'cat audio/piped.wav'" in rows[(f"{recs}:5", "command")]
    assert "--allow-commands" in rows[(f"{recs}:5", "command")]
    assert "type 'url'" in rows[(f"{recs}:6", "bad_row")]
    assert "transforms Speed" in rows[(f"{recs}:7", "bad_row")] and "1 supervision(s) not catalogued" in rows[(f"{recs}:7", "bad_row")]
    assert "not a Lhotse recording" in rows[(f"{recs}:11", "bad_row")]
    assert "type 'shar'" in rows[(f"{recs}:12", "bad_row")] and "control characters" in rows[(f"{recs}:13", "bad_row")]
    assert "channel 9 is not a channel of recording 'IS1009a'" in rows[(f"{sups}:8", "no_such_channel")]
    assert "supervision 'ES2002a-3': 'duration' must be >= 0" in rows[(f"{sups}:15", "bad_row")]
    path_reasons = {(Path(row["path"]).name, row["reason"]) for row in rejects(out)}
    assert {("x.wav", "outside_root"), ("y.wav", "unreadable"), ("call.wav", "too_many_channels")} <= path_reasons
    past = next(row for row in rejects(out) if row["reason"] == "bad_segment")
    assert past["path"].endswith("ES2002a.Mix-Headset.wav") and "(clip ES2002a-2)" in past["detail"]


def test_a_segment_and_a_channel_read_exactly_their_samples(meetings: Path, tmp_path: Path) -> None:
    merged = Catalog.merge([catalog("lhotse", meetings, tmp_path / "speech.jsonl")])
    whole = sf.read(meetings / "audio" / "ES2002a.Mix-Headset.wav", dtype="float64")[0]
    got = load_segment(Segment("ES2002a-1", 4000, 16000), merged, RATE, 16000)
    np.testing.assert_array_equal(got[0], whole[3 * RATE + 4000 : 3 * RATE + 20000])
    stereo = sf.read(meetings / "audio" / "call.wav", dtype="float64", always_2d=True)[0]
    right = load_segment(Segment("call-B-0", 0, 32000), merged, RATE, 32000)
    assert right.shape == (1, 32000)
    np.testing.assert_array_equal(right[0], stereo[8000:40000, 1])  # exactly channel 1, from 0.5 s
    assert not np.array_equal(right[0], stereo[8000:40000, 0])
    mic2 = sf.read(meetings / "audio" / "IS1009a.Array1-02.wav", dtype="float64")[0]
    np.testing.assert_array_equal(load_segment(Segment("IS1009a-1-0", 0, 24000), merged, RATE, 24000)[0], mic2[8000:32000])


def test_commands_run_with_allow_commands_and_paths_outside_with_an_audio_root(meetings: Path, tmp_path: Path) -> None:
    out = tmp_path / "speech.jsonl"
    cat = catalog("lhotse", meetings, out, allow_commands=True, audio_roots=(tmp_path / "elsewhere", tmp_path / "recipe"))
    piped = cat.by_id("piped-0")
    written = Path(cat.resolve(piped))
    assert written == tmp_path / "speech.audio" / "piped.flac" and sf.info(written).format == "FLAC"
    original = sf.read(meetings / "audio" / "piped.wav", dtype="float64")[0]
    np.testing.assert_array_equal(sf.read(written, dtype="float64")[0], original)  # the command's samples, losslessly
    assert (piped.offset, piped.duration, piped.text) == (0.2, 1.5, "from a pipe")
    assert Path(cat.resolve(cat.by_id("outside-0"))) == tmp_path / "elsewhere" / "x.wav"
    assert Path(cat.resolve(cat.by_id("recipe-0"))) == tmp_path / "recipe" / "download" / "y.wav"  # found under an audio root
    assert "command" not in {row["reason"] for row in rejects(out)}


# --------------------------------------------------------------------------- a CutSet


def test_a_cutset_gives_supervisions_at_cut_start_plus_start(tmp_path: Path) -> None:
    root = tmp_path / "cuts"
    story = speech_file(root / "wavs" / "story.flac", 6.0, f0=130.0)
    noise_file(root / "wavs" / "hum.wav", 2.0)
    rec = recording("story", [("file", [0], "wavs/story.flac")], 6.0)
    hum = recording("hum", [("file", [0], "wavs/hum.wav")], 2.0)
    utt = supervision("story-0", "story", 0.5, 2.0, text="In the cut.", speaker="8224", language="en")
    utt["alignment"] = {"word": [["IN", 1.6, 0.2, 1.0], ["THE", 1.9, 0.2, 1.0], ["CUT", 2.2, 1.25, 1.0]], "phone": [["IH", 1.6, 0.1, 1.0]]}
    relative = supervision("story-1", "story", 2.5, 0.5, alignment={"word": [["LATE", 0.1, 0.2, 1.0]]})  # timed from the cut: wrong
    write_lines(
        root / "libritts_cuts_test-clean.jsonl.gz",
        [
            {
                "id": "story-a",
                "start": 1.0,
                "duration": 3.0,
                "channel": 0,
                "supervisions": [utt, relative],
                "recording": rec,
                "type": "MonoCut",
            },
            # an overlapping window holding the same supervision, 1.5 s after this cut's start: the same clip
            {
                "id": "story-b",
                "start": 0.0,
                "duration": 4.0,
                "channel": 0,
                "supervisions": [{**utt, "start": 1.5}],
                "recording": rec,
                "type": "MonoCut",
            },
            {"id": "hum-a", "start": 0.0, "duration": 2.0, "channel": 0, "supervisions": [], "recording": hum, "type": "MonoCut"},
            {"id": "story-c", "start": 4.0, "duration": 1.5, "channel": 0, "supervisions": [], "recording": rec, "type": "MonoCut"},
            {"id": "mix", "tracks": [{"cut": {"id": "story-a"}, "offset": 0.0}], "type": "MixedCut"},
            {"id": "feats-only", "start": 0.0, "duration": 1.0, "channel": 0, "supervisions": [], "type": "MonoCut"},
        ],
    )
    write_lines(root / "libritts_supervisions_dev-clean.jsonl", [utt])  # no recordings beside it
    out = tmp_path / "speech.jsonl"
    cat = catalog("lhotse", root, out)
    assert sorted(c.id for c in cat) == ["hum-a", "story-0", "story-c"]
    clip = cat.by_id("story-0")
    assert (clip.offset, clip.duration, clip.split, clip.corpus, clip.language, clip.text) == (
        1.5,
        2.0,
        "test",
        "libritts",
        "en",
        "In the cut.",
    )
    assert clip.words == (("IN", 0.1, 0.3), ("THE", 0.4, 0.6), ("CUT", 0.7, 1.95)) and clip.phones == (("IH", 0.1, 0.2),)
    assert cat.by_id("hum-a").offset is None and cat.by_id("hum-a").duration == 2.0  # a cut that is all its recording
    window = cat.by_id("story-c")  # a cut without supervisions that is part of its recording
    assert (window.offset, window.duration, window.text) == (4.0, 1.5, None)
    merged = Catalog.merge([cat])
    np.testing.assert_array_equal(
        load_segment(Segment("story-0", 0, 32000), merged, RATE, 32000)[0],
        sf.read(root / "wavs" / "story.flac", dtype="float64")[0][24000:56000],
    )
    assert story.shape == (96000,)
    cuts = str(root / "libritts_cuts_test-clean.jsonl.gz")
    rows = {row["path"]: (row["reason"], row["detail"]) for row in rejects(out)}
    assert rows[f"{cuts}:1"][0] == "bad_row" and "timed from the recording's start" in rows[f"{cuts}:1"][1]
    assert rows[f"{cuts}:5"][0] == "bad_row" and "MixedCut" in rows[f"{cuts}:5"][1]
    assert rows[f"{cuts}:6"][0] == "bad_row" and "no recording" in rows[f"{cuts}:6"][1]
    orphan = rows[str(root / "libritts_supervisions_dev-clean.jsonl")]
    assert orphan[0] == "bad_row" and "libritts_recordings_dev-clean.jsonl is not in" in orphan[1]
    assert len(rows) == 4
    # ROOT one manifest file: the cuts file alone gives the same clips (and not the orphan beside it)
    alone = catalog("lhotse", Path(cuts), tmp_path / "alone.jsonl")
    assert [c.to_dict() for c in alone] == [c.to_dict() for c in cat]
    assert {r["path"] for r in rejects(tmp_path / "alone.jsonl")} == {f"{cuts}:1", f"{cuts}:5", f"{cuts}:6"}


def test_root_a_supervisions_file_reads_its_part_with_the_recordings_beside_it(librispeech: Path, tmp_path: Path) -> None:
    whole = catalog("lhotse", librispeech, tmp_path / "all.jsonl", audio_roots=(librispeech.parent / "LibriSpeech",))
    one = librispeech / "librispeech_supervisions_dev-clean.jsonl.gz"
    part = catalog("lhotse", one, tmp_path / "dev.jsonl", audio_roots=(librispeech.parent / "LibriSpeech",))
    assert [c.id for c in part] == ["1272-128104-0000", "1272-128104-0001"] and {c.split for c in part} == {"dev"}
    assert [c.to_dict() for c in part] == [c.to_dict() for c in whole if c.split == "dev"]
    with pytest.raises(CatalogError, match="no audio files found"):
        catalog(
            "lhotse", librispeech.parent / "LibriSpeech" / "dev-clean" / "1272" / "128104" / "1272-128104-0000.flac", tmp_path / "x.jsonl"
        )


# --------------------------------------------------------------------------- a build, and the round trip


def test_a_build_from_a_lhotse_catalog_validates_and_round_trips_through_export(librispeech: Path, meetings: Path, tmp_path: Path) -> None:
    speech = [tmp_path / "libri.jsonl", tmp_path / "ami.jsonl"]
    catalog("lhotse", librispeech, speech[0], audio_roots=(tmp_path / "LibriSpeech",))
    catalog("lhotse", meetings, speech[1], kind="speech")
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    # examples longer than every clip: whole utterances, with their transcripts
    rows = build_and_validate(tmp_path / "ds", speech, [noise], num_examples=8, duration_s=[2.7, 3.0], require_text=True)
    used = {row["labels"]["speech_clip"] for row in rows}
    assert used & {"ES2002a-0", "ES2002a-1", "call-B-0", "IS1009a-1-0"}, used  # segments and channels were drawn

    export_dataset(tmp_path / "ds", "lhotse", tmp_path / "lhotse_out", role="clean")
    assert sorted(p.name for p in (tmp_path / "lhotse_out").iterdir()) == [
        "audiosynth_cuts_train.jsonl.gz",
        "audiosynth_recordings_train.jsonl.gz",
        "audiosynth_supervisions_train.jsonl.gz",
    ]
    back = catalog("lhotse", tmp_path / "lhotse_out", tmp_path / "back.jsonl", audio_roots=(tmp_path / "ds",))
    assert rejects(tmp_path / "back.jsonl") == []
    assert len(back) == len(rows)  # the cuts beside the recordings are not read twice
    for row in rows:
        clip: Clip = back.by_id(f"{row['id']}-000")
        assert Path(back.resolve(clip)).resolve() == (tmp_path / "ds" / row["audio"]["clean"]).resolve()
        assert (clip.text, clip.speaker, clip.split, clip.corpus) == (
            row["labels"]["text"],
            row["labels"]["speaker"],
            "train",
            "audiosynth",
        )
        assert clip.offset is None and abs(clip.duration - row["duration"]) < 1e-3  # one talker: a supervision over the example
