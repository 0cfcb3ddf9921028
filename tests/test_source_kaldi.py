"""Kaldi data directories as catalogs: segments of a long recording, channels of a two-channel file,
pipe lines refused then run, relative and outside paths, bad lines, a build from the catalog, and the
round trip through ``audiosynth export --to kaldi``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike
from sources_kit import RATE, build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.catalog import Catalog
from audiosynth.corpora import kaldi
from audiosynth.corpora.kaldi import decoder_input
from audiosynth.dataset.export import export_dataset
from audiosynth.render.load import load_segment
from audiosynth.scene import Segment


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """``s5/data/train_clean_100``: a 6 s meeting in segments, a two-channel call, a pipe line, a
    relative and an outside path, and bad lines in every file."""
    root = tmp_path / "s5" / "data" / "train_clean_100"
    audio = root / "audio"
    speech_file(audio / "meeting.wav", 6.0, f0=110.0)
    rng = np.random.default_rng(9)
    call = np.stack([speechlike(rng, 2.0, RATE, 140.0), speechlike(rng, 2.0, RATE, 230.0)], axis=1)
    sf.write(audio / "call.wav", call, RATE)
    speech_file(audio / "src.wav", 1.2, f0=180.0, seed=4)
    speech_file(root.parent / "wavs" / "rel.wav", 1.4, f0=160.0, seed=5)  # wavs/rel.wav against ROOT's parent
    speech_file(root / "wavs" / "rel.wav", 0.9, seed=6)  # a decoy: wavs/rel.wav against ROOT
    speech_file(tmp_path / "elsewhere" / "far.flac", 1.6, seed=7)
    write(
        root / "wav.scp",
        [
            f"meeting {audio / 'meeting.wav'}",
            f"call-A {audio / 'call.wav'}",
            f"call-B {audio / 'call.wav'}",
            f"piped cat {audio / 'src.wav'} |",
            "rel wavs/rel.wav",
            f"far {tmp_path / 'elsewhere' / 'far.flac'}",
            f"feats {root / 'raw.ark'}:1234",  # an archive entry: not read
            "lonely",  # no path
        ],
    )
    write(
        root / "segments",
        [
            "meeting_0001 meeting 0.50 2.50",
            "meeting_0002 meeting 3.0 5.5",
            "meeting_0003 meeting 5.0 8.0",  # past the 6 s file
            "meeting_0004 meeting 1.0 2.0",  # its speaker is no name
            "call-A_0001 call-A 0.0 1.5",
            "call-B_0001 call-B 0.2 1.7",
            "piped_0001 piped 0 -1",  # to the recording's end
            "rel_0001 rel 0 -1",
            "far_0001 far 0.1 1.1",
            "orphan_0001 nosuch 0 1",  # no such recording
            "broken meeting 1.0",  # three fields
            "reversed meeting 2.0 1.0",  # end before start
            "feats_0001 feats 0 1",  # its recording's line is bad
        ],
    )
    write(
        root / "text",
        [
            "meeting_0001 FIRST PART OF THE MEETING",
            "meeting_0002 SECOND   PART",
            "call-A_0001 HELLO",
            "piped_0001 FROM A PIPE",
            "rel_0001 RELATIVE",
            "far_0001 FAR AWAY",
        ],
    )
    write(
        root / "utt2spk",
        [
            "meeting_0001 spkA",
            "meeting_0002 spkB",
            "meeting_0003 spkA",
            "meeting_0004 bad/name",
            "call-A_0001 caller1",
            "call-B_0001 caller2",
            "piped_0001 piped_0001",  # Kaldi's "no speaker information"
            "rel_0001 spkA",
            "far_0001 spkB extra",  # three fields
        ],
    )
    write(root / "spk2gender", ["spkA m", "spkB F", "caller1 f", "caller2 x"])
    write(root / "utt2lang", ["meeting_0001 en", "meeting_0002 de"])
    write(root / "reco2file_and_channel", ["call-A call A", "call-B call B", "meeting meeting 1", "far far 1"])
    write(root / "reco2dur", ["meeting 6.0"])  # not read
    return root


def test_a_data_dir_catalogues_segments_channels_and_labels(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "speech.jsonl"
    cat = catalog("kaldi", data_dir, out)
    assert sorted(c.id for c in cat) == ["call-A_0001", "call-B_0001", "meeting_0001", "meeting_0002"]
    first, second = cat.by_id("meeting_0001"), cat.by_id("meeting_0002")
    assert (first.offset, first.duration, first.text, first.speaker, first.gender, first.language) == (
        0.5,
        2.0,
        "FIRST PART OF THE MEETING",
        "spkA",
        "male",
        "en",
    )
    assert (second.offset, second.duration, second.text, second.speaker, second.gender, second.language) == (
        3.0,
        2.5,
        "SECOND PART",
        "spkB",
        "female",  # spk2gender's "F"
        "de",
    )
    assert first.channel is None  # reco2file_and_channel names a channel of a mono file: ignored
    call_a, call_b = cat.by_id("call-A_0001"), cat.by_id("call-B_0001")
    assert (call_a.channel, call_a.offset, call_a.duration, call_a.gender, call_a.text) == (0, None, 1.5, "female", "HELLO")
    assert (call_b.channel, call_b.offset, call_b.duration, call_b.speaker) == (1, 0.2, 1.5, "caller2")
    assert (call_b.gender, call_b.text) == (None, None)  # spk2gender's "x" is no gender; no text line
    assert all(c.split == "train" and c.corpus == "kaldi" and c.kind == "speech" and c.num_channels == 1 for c in cat)
    assert cat.resolve(first).resolve() == (data_dir / "audio" / "meeting.wav").resolve()

    rows = rejects(out)
    by_line = {Path(r["path"]).name: (r["reason"], r["detail"]) for r in rows}
    assert sorted((name, reason) for name, (reason, _) in by_line.items() if ":" in name) == [
        ("segments:10", "bad_row"),  # no such recording
        ("segments:11", "bad_row"),  # three fields
        ("segments:12", "bad_row"),  # end before start
        ("segments:13", "bad_row"),  # its recording's wav.scp line is bad
        ("spk2gender:4", "bad_row"),  # gender x
        ("utt2spk:4", "bad_row"),  # bad/name
        ("utt2spk:9", "bad_row"),  # three fields
        ("wav.scp:4", "command"),  # refused without allow_commands
        ("wav.scp:7", "bad_row"),  # an archive entry
        ("wav.scp:8", "bad_row"),  # no path
    ]
    assert "nosuch" in by_line["segments:10"][1] and "not in wav.scp" in by_line["segments:10"][1]
    assert by_line["wav.scp:7"][1].startswith("wav.scp:7:") and "not supported" in by_line["wav.scp:7"][1]
    assert "bad/name" in by_line["utt2spk:4"][1]
    command = by_line["wav.scp:4"][1]
    assert command.startswith("wav.scp:4:") and f"cat {data_dir / 'audio' / 'src.wav'}" in command and "--allow-commands" in command
    by_reason = {r["reason"]: r for r in rows if ":" not in Path(r["path"]).name}
    assert sorted(r["reason"] for r in rows if ":" not in Path(r["path"]).name) == ["bad_segment", "outside_root", "outside_root"]
    assert "meeting_0003" in by_reason["bad_segment"]["detail"]
    outside = sorted(Path(r["path"]).resolve() for r in rows if r["reason"] == "outside_root")
    assert outside == sorted([(tmp_path / "elsewhere" / "far.flac").resolve(), (data_dir.parent / "wavs" / "rel.wav").resolve()])


def test_segments_and_channels_read_exactly_their_part_of_the_file(data_dir: Path, tmp_path: Path) -> None:
    merged = Catalog.merge([catalog("kaldi", data_dir, tmp_path / "speech.jsonl")])
    meeting = sf.read(data_dir / "audio" / "meeting.wav", dtype="float64")[0]
    got = load_segment(Segment("meeting_0002", 4000, 16000), merged, RATE, 16000)
    np.testing.assert_array_equal(got[0], meeting[3 * RATE + 4000 : 3 * RATE + 20000])
    call = sf.read(data_dir / "audio" / "call.wav", dtype="float64")[0]
    got = load_segment(Segment("call-B_0001", 0, 24000), merged, RATE, 24000)
    assert got.shape == (1, 24000)
    np.testing.assert_array_equal(got[0], call[3200 : 3200 + 24000, 1])  # channel B from 0.2 s
    np.testing.assert_array_equal(load_segment(Segment("call-A_0001", 0, 8000), merged, RATE, 8000)[0], call[:8000, 0])


def test_pipes_run_with_allow_commands_and_paths_outside_with_audio_roots(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "speech.jsonl"
    roots = (tmp_path / "elsewhere", data_dir.parent / "wavs")
    cat = catalog("kaldi", data_dir, out, allow_commands=True, audio_roots=roots)
    assert {"piped_0001", "rel_0001", "far_0001"} <= {c.id for c in cat}
    piped = cat.by_id("piped_0001")
    written = cat.resolve(piped)
    assert written == out.parent / "speech.audio" / "piped.flac"  # the command's output, as FLAC in the catalog's audio folder
    np.testing.assert_array_equal(sf.read(written)[0], sf.read(data_dir / "audio" / "src.wav")[0])
    assert (piped.duration, piped.offset, piped.text, piped.speaker) == (1.2, None, "FROM A PIPE", None)  # speaker == utterance: unknown
    rel = cat.by_id("rel_0001")
    assert cat.resolve(rel).resolve() == (data_dir.parent / "wavs" / "rel.wav").resolve() and rel.duration == 1.4  # not the decoy
    far = cat.by_id("far_0001")
    assert (far.offset, far.duration, far.speaker, far.text) == (0.1, 1.0, None, "FAR AWAY")  # its utt2spk line is bad
    assert not [r for r in rejects(out) if r["reason"] in ("command", "outside_root")]
    assert "far_0001" not in catalog("kaldi", data_dir, out, allow_commands=True, audio_roots=roots[1:])


def test_a_failing_or_hanging_command_is_a_reject_naming_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data" / "dev93"
    speech_file(root / "ok.wav", 1.0)
    write(
        root / "wav.scp",
        ["ok dev93/ok.wav", "fails sh -c 'echo no such file >&2; exit 3' |", "hangs sleep 30 |", "noise echo not audio |"],
    )
    monkeypatch.setattr(kaldi, "COMMAND_TIMEOUT_S", 1.0)
    out = tmp_path / "dev.jsonl"
    cat = catalog("kaldi", root, out, allow_commands=True)
    # no segments: a recording is an utterance; dev93/ok.wav is relative to the data dir's parent: inside ROOT
    assert [(c.id, c.split, c.duration) for c in cat] == [("ok", "dev", 1.0)]
    by_line = {Path(r["path"]).name: (r["reason"], r["detail"]) for r in rejects(out)}
    assert by_line["wav.scp:2"][0] == "unreadable" and "exit status 3: no such file" in by_line["wav.scp:2"][1]
    assert by_line["wav.scp:3"][0] == "unreadable" and "timed out after 1 s" in by_line["wav.scp:3"][1]
    assert by_line["wav.scp:4"][0] == "unreadable" and "no audio soundfile reads" in by_line["wav.scp:4"][1]


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("train", "train"),
        ("train_clean_100", "train"),
        ("dev_clean", "dev"),
        ("dev93", "dev"),
        ("test_other", "test"),
        ("Test", "test"),
        ("valid", "dev"),
        ("eval2000", "test"),
        ("trainer", None),
        ("lang", None),
        ("data", None),
    ],
)
def test_the_data_dir_name_gives_the_split(name: str, split: str | None) -> None:
    assert kaldi.kaldi_split(name) == split


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("flac -c -d -s /a/b.flac", ("/a/b.flac", None)),
        ("flac -d -c 'my file.flac'", ("my file.flac", None)),
        ("sox /x/y.flac -t wav -", ("/x/y.flac", None)),
        ("sph2pipe -f wav -p -c 2 /t/a.sph", ("/t/a.sph", 1)),
        ("sph2pipe -f wav /t/a.sph", ("/t/a.sph", None)),
        ("flac -c -d -s a.flac; rm -rf ~", None),
        ("sox a.flac -t wav - | tee copy.wav", None),
        ("sox a.flac -t wav -r 8000 -", None),
        ("sph2pipe -f wav -c 3 a.sph", None),
        ("curl http://x/a.wav", None),
        ("flac -c -d -s 'unclosed", None),
    ],
)
def test_decoder_pipes_are_read_as_their_file_and_nothing_else_is(command: str, expected: tuple | None) -> None:
    assert decoder_input(command) == expected


@pytest.mark.parametrize("audio_format", ["wav", "flac"])
def test_a_build_from_a_kaldi_catalog_validates_and_round_trips_through_export(data_dir: Path, tmp_path: Path, audio_format: str) -> None:
    speech = tmp_path / "speech.jsonl"
    catalog("kaldi", data_dir, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    # examples longer than every clip: whole utterances, with their transcripts; WAV: plain wav.scp paths, FLAC:
    # 'sox PATH -t wav - |' lines, read as their file without running anything (no --allow-commands)
    rows = build_and_validate(
        tmp_path / "ds",
        [speech],
        [noise],
        num_examples=6,
        duration_s=[2.6, 3.0],
        require_text=True,
        output={"shard_size": 2, "format": audio_format},
    )
    assert {row["labels"]["speech_clip"] for row in rows} & {"meeting_0001", "meeting_0002"}

    export_dataset(tmp_path / "ds", "kaldi", tmp_path / "kaldi_out", role="clean")
    back = catalog("kaldi", tmp_path / "kaldi_out" / "train", tmp_path / "back.jsonl", audio_roots=(tmp_path / "ds",))
    assert len(back) == len(rows) == 6 and not rejects(tmp_path / "back.jsonl")
    for row in rows:
        path = (tmp_path / "ds" / row["audio"]["clean"]).resolve()
        clip = next(c for c in back if back.resolve(c).resolve() == path)
        assert (clip.text, clip.speaker, clip.split) == (row["labels"]["text"], row["labels"]["speaker"], "train")
        assert abs(clip.duration - row["duration"]) < 1e-3
        assert clip.id == f"{row['labels']['speaker']}-{row['id']}"
