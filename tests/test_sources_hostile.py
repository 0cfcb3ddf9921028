"""Hostile input for the catalog sources: every manifest, data dir, list, table, alignment file and
dataset may come from someone else. Nothing read from one may make cataloguing read or write
outside the folders named, crash with a traceback, hang, write a catalog row that `read_catalog`
refuses, or write through a link planted in the catalog's ``<stem>.audio/`` folder."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from sources_kit import RATE, catalog, rejects, rir_file, speech_file

from audiosynth.catalog import Catalog
from audiosynth.corpora import catalog_corpus
from audiosynth.errors import CatalogError

HANG_S = 20.0  # a walk that takes longer is hung (each run here takes well under a second)


def finishes(fifos: list[Path], run: Callable[[], Any]) -> Any:
    """``run()``'s result; fails when it does not finish in `HANG_S` (its FIFOs are then opened
    for writing and closed, which ends any read blocked on them, so that the test ends)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = run()
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_S)
    hung = thread.is_alive()
    while thread.is_alive():
        for fifo in fifos:
            with contextlib.suppress(OSError):  # no reader blocked on it
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.2)
    assert not hung, f"cataloguing hung on a FIFO ({fifos})"
    if "error" in result:
        raise result["error"]
    return result["value"]


def nemo_manifest(path: Path, rows: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def reasons(out: Path) -> dict[str, str]:
    """path (file:line where the reject has one) -> reason."""
    return {r["path"]: r["reason"] for r in rejects(out)}


# --------------------------------------------------------------------------- (c)/(e): manifest values


def test_a_huge_json_number_is_a_bad_row_not_a_traceback(tmp_path: Path) -> None:
    speech_file(tmp_path / "c" / "a.wav", 1.0)
    manifest = nemo_manifest(
        tmp_path / "c" / "m.json",
        ['{"audio_filepath": "a.wav", "duration": ' + "1" * 5000 + "}", {"audio_filepath": "a.wav", "duration": 1.0}],
    )
    out = tmp_path / "cat.jsonl"
    assert [c.id for c in catalog("nemo", manifest, out)] == ["a"]
    assert reasons(out) == {f"{manifest}:1": "bad_row"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("speaker", "../../etc/passwd"),
        ("speaker", "two words"),
        ("speaker", "x" * 200),
        ("text", "red \x1b[31malert\x1b[0m"),
        ("text", "a\u2028b"),
        ("text", "word " * 25_000),  # longer than a dataset's text may be (names.MAX_TEXT)
    ],
)
def test_manifest_fields_a_catalog_would_refuse_are_rejects(tmp_path: Path, field: str, value: str) -> None:
    speech_file(tmp_path / "c" / "a.wav", 1.0)
    speech_file(tmp_path / "c" / "b.wav", 1.0, seed=3)
    manifest = nemo_manifest(
        tmp_path / "c" / "m.json",
        [{"audio_filepath": "a.wav", "duration": 1.0, field: value}, {"audio_filepath": "b.wav", "duration": 1.0, "speaker": "ok"}],
    )
    out = tmp_path / "cat.jsonl"
    assert [c.id for c in catalog("nemo", manifest, out)] == ["b"]  # read_catalog takes what was written
    (row,) = rejects(out)
    assert row["reason"] == "bad_row" and field in row["detail"], row


def test_a_file_name_with_a_newline_is_a_reject(tmp_path: Path) -> None:
    speech_file(tmp_path / "c" / "a\nb.wav", 1.0)
    speech_file(tmp_path / "c" / "ok.wav", 1.0)
    manifest = nemo_manifest(
        tmp_path / "c" / "m.json", [{"audio_filepath": "a\nb.wav", "duration": 1.0}, {"audio_filepath": "ok.wav", "duration": 1.0}]
    )
    out = tmp_path / "cat.jsonl"
    assert [c.id for c in catalog("nemo", manifest, out)] == ["ok"]
    assert [r["reason"] for r in rejects(out)] == ["bad_row"]


@pytest.mark.parametrize(
    "row",
    [
        {"offset": 1e308, "duration": 1e308},
        {"offset": "nan", "duration": 1.0},
        {"offset": 0, "duration": "inf"},
        {"offset": -1, "duration": 1.0},
        {"offset": 0, "duration": -1.0},
        {"offset": [1], "duration": {"a": 1}},
        {"offset": 0.5, "duration": 1e-300},
    ],
)
def test_absurd_offsets_and_durations_are_rejects(tmp_path: Path, row: dict[str, Any]) -> None:
    speech_file(tmp_path / "c" / "a.wav", 2.0)
    manifest = nemo_manifest(
        tmp_path / "c" / "m.json", [{"audio_filepath": "a.wav", **row}, {"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.0}]
    )
    out = tmp_path / "cat.jsonl"
    cat = catalog("nemo", manifest, out)
    assert [c.offset for c in cat] == [1.0]  # the good segment of the same file is kept
    assert len(rejects(out)) == 1


def test_lhotse_times_that_overflow_and_odd_types_are_rejects(tmp_path: Path) -> None:
    root = tmp_path / "lhotse"
    speech_file(root / "a.wav", 2.0)
    source = [{"type": "file", "channels": [0], "source": "a.wav"}]
    recording = {"id": "a", "sources": source, "sampling_rate": RATE, "num_samples": 2 * RATE, "duration": 2.0}
    good = {"id": "good", "recording_id": "a", "start": 0.5, "duration": 1.0, "channel": 0}
    cuts = [
        {"id": "c1", "type": "MonoCut", "start": 1e308, "duration": 1.0, "channel": 0, "recording": recording,
         "supervisions": [{**good, "id": "over", "start": 1e308}]},
        {"id": "c2", "type": "MonoCut", "start": 0.0, "duration": 2.0, "channel": 0, "recording": {**recording, "duration": "x"},
         "supervisions": []},
        {"id": "c3", "type": "MonoCut", "start": 0.0, "duration": 2.0, "channel": 0, "recording": recording, "supervisions": [good]},
    ]  # fmt: skip
    with gzip.open(root / "x_cuts_train.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(c) + "\n" for c in cuts)
    out = tmp_path / "cat.jsonl"
    cat = catalog("lhotse", root, out)
    assert [c.id for c in cat] == ["good"]  # an overflowing row does not cost its file's other segments
    assert sorted(reasons(out).values()) == ["bad_row", "bad_row"]  # c2's recording duration "x", c1's start 1e308 s


# --------------------------------------------------------------------------- (c): tables past the csv module's limits


def test_csv_and_tsv_cells_past_the_csv_field_limit_are_rejects(tmp_path: Path) -> None:
    huge = "x" * 200_000
    cv = tmp_path / "cv" / "en"
    speech_file(cv / "clips" / "common_voice_en_1.mp3", 1.0, format="MP3")
    (cv / "train.tsv").write_text(f"client_id\tpath\tsentence\nabc\tcommon_voice_en_1.mp3\t{huge}\n")
    wham = tmp_path / "wham"
    speech_file(wham / "tr" / "n1.wav", 1.0)
    (wham / "metadata").mkdir()
    (wham / "metadata" / "noise_meta_tr.csv").write_text(f"utterance_id,File ID\nn1.wav,{huge}\n")
    hf = tmp_path / "hf"
    speech_file(hf / "a.wav", 1.0)
    (hf / "metadata.csv").write_text(f"file_name,text\na.wav,{huge}\n")
    for layout, root, table in (
        ("commonvoice", tmp_path / "cv", cv / "train.tsv"),
        ("wham", wham, wham / "metadata" / "noise_meta_tr.csv"),
        ("hf", hf, hf / "metadata.csv"),
    ):
        out = tmp_path / f"{layout}.jsonl"
        catalog(layout, root, out, min_duration_s=0.5)
        (row,) = [r for r in rejects(out) if r["path"].startswith(str(table))]
        assert (row["path"], row["reason"]) == (f"{table}:2", "bad_row") and "field larger than field limit" in row["detail"], layout


@pytest.mark.parametrize("channel", ["²", "9" * 5000])
def test_channel_numbers_int_cannot_take_are_rejects(tmp_path: Path, channel: str) -> None:
    top = tmp_path / "RIRS_NOISES"
    rir_file(top / "real_rirs_isotropic_noises" / "r1.wav")
    (top / "real_rirs_isotropic_noises" / "rir_list").write_text(
        f"--rir-id r1 --room-id x --channel {channel} RIRS_NOISES/real_rirs_isotropic_noises/r1.wav\n"
        "--rir-id r2 --room-id x RIRS_NOISES/real_rirs_isotropic_noises/r1.wav\n"
    )
    out = tmp_path / "rirs.jsonl"
    assert [c.id for c in catalog("rirs_noises", tmp_path, out)] == ["r2"]
    assert list(reasons(out).values()) == ["bad_row"]

    dns = tmp_path / "dns" / "datasets"
    rir_file(dns / "impulse_responses" / "set" / "r.wav")
    (dns / "impulse_responses" / "RIR_table_simple.csv").write_text(f"wavfile,channel,T60_WB\nset/r.wav,{channel},0.3\nset/r.wav,1,0.4\n")
    out = tmp_path / "dns.jsonl"
    (clip,) = catalog("dns", tmp_path / "dns", out, kind="rir")
    assert clip.tags == ("set", "t60:0.4")
    assert list(reasons(out).values()) == ["bad_row"]


@pytest.mark.parametrize("line", ["0 " + "9" * 5000 + " she", "0 " + "9" * 400 + " she"])
def test_timit_sample_indices_past_a_float_leave_the_clip_without_words(tmp_path: Path, line: str) -> None:
    speaker = tmp_path / "TRAIN" / "DR1" / "FCJF0"
    speech_file(speaker / "SA1.WAV", 1.0)
    (speaker / "SA1.TXT").write_text("0 16000 She had.\n")
    (speaker / "SA1.WRD").write_text(line + "\n")
    (clip,) = catalog("timit", tmp_path, tmp_path / "cat.jsonl")
    assert clip.words is None and clip.text == "She had."


# --------------------------------------------------------------------------- (d): FIFOs, devices, bombs


def test_a_manifest_that_is_a_fifo_or_a_device_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "lhotse"
    root.mkdir()
    fifo = root / "x_recordings_train.jsonl"
    os.mkfifo(fifo)
    (root / "y_recordings_dev.jsonl").symlink_to("/dev/zero")
    with pytest.raises(CatalogError, match="not a regular file"):
        finishes([fifo], lambda: catalog("lhotse", root, tmp_path / "cat.jsonl"))


def test_an_hf_metadata_file_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "hf"
    speech_file(root / "train" / "a.wav", 1.0)
    (root / "train" / "metadata.jsonl").write_text(json.dumps({"file_name": "a.wav"}) + "\n")
    os.mkfifo(root / "metadata.jsonl")
    os.mkfifo(root / "x.parquet")
    cat = finishes([root / "metadata.jsonl", root / "x.parquet"], lambda: catalog("hf", root, tmp_path / "cat.jsonl"))
    assert [c.id for c in cat] == ["a"]  # the FIFOs are skipped: neither is a file


def test_audio_that_is_a_fifo_is_not_opened_by_a_walker(tmp_path: Path) -> None:
    """Walkers that read a header to count channels (RIR sets, Kaldi's reco2file_and_channel) must
    not open a FIFO (named in a list, or lying in the tree): the scan rejects it as not_a_file."""
    but = tmp_path / "but" / "room1"
    rir_file(but / "a.wav")
    os.mkfifo(but / "b.wav")
    top = tmp_path / "rirs" / "RIRS_NOISES" / "real_rirs_isotropic_noises"
    rir_file(top / "r1.wav")
    os.mkfifo(tmp_path / "outside.wav")
    (top / "rir_list").write_text(
        f"--rir-id r1 --room-id x RIRS_NOISES/real_rirs_isotropic_noises/r1.wav\n--rir-id r2 --room-id x {tmp_path}/outside.wav\n"
    )
    kaldi = tmp_path / "kaldi" / "train"
    speech_file(kaldi / "a.wav", 1.0)
    os.mkfifo(kaldi / "b.wav")
    (kaldi / "wav.scp").write_text(f"a {kaldi}/a.wav\nb {kaldi}/b.wav\n")
    (kaldi / "reco2file_and_channel").write_text("a a A\nb b B\n")
    fifos = [but / "b.wav", tmp_path / "outside.wav", kaldi / "b.wav"]
    for layout, root, good, bad in (
        ("but_reverb", tmp_path / "but", "room1-a", "not_a_file"),
        ("rirs_noises", tmp_path / "rirs", "r1", "outside_root"),
        ("kaldi", kaldi, "a", "not_a_file"),
    ):
        out = tmp_path / f"{layout}.jsonl"
        cat = finishes(fifos, lambda layout=layout, root=root, out=out: catalog(layout, root, out))
        assert [c.id for c in cat] == [good]
        assert list(reasons(out).values()) == [bad], layout


def test_an_alignment_file_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    speech_file(tmp_path / "c" / "a.wav", 1.0)
    manifest = nemo_manifest(tmp_path / "c" / "m.json", [{"audio_filepath": "a.wav", "duration": 1.0}])
    aligned = tmp_path / "ali"
    aligned.mkdir()
    (aligned / "a.ctm").write_text("a 1 0.1 0.3 hello\n")
    os.mkfifo(aligned / "b.ctm")
    (aligned / "c.TextGrid").symlink_to("/dev/zero")
    cat = finishes([aligned / "b.ctm"], lambda: catalog("nemo", manifest, tmp_path / "cat.jsonl", alignments=aligned))
    assert cat.by_id("a").words == (("hello", 0.1, 0.4),)


def test_a_gzip_bomb_line_is_one_bad_row(tmp_path: Path) -> None:
    """A gzipped manifest whose one line inflates to 64 MB is refused at a bounded line length."""
    root = tmp_path / "lhotse"
    root.mkdir()
    speech_file(root / "a.wav", 1.0)
    recording = {"id": "a", "sources": [{"type": "file", "channels": [0], "source": "a.wav"}], "sampling_rate": RATE,
                 "num_samples": RATE, "duration": 1.0}  # fmt: skip
    with gzip.open(root / "x_recordings_train.jsonl.gz", "wb", compresslevel=1) as handle:
        chunk = b"x" * (1 << 20)
        for _ in range(64):
            handle.write(chunk)
        handle.write(b"\n" + json.dumps(recording).encode() + b"\n")
    out = tmp_path / "cat.jsonl"
    assert [c.id for c in catalog("lhotse", root, out)] == ["a"]
    (row,) = rejects(out)
    assert row["reason"] == "bad_row" and row["path"].endswith(":1") and "longer than" in row["detail"]


# --------------------------------------------------------------------------- (a): reading outside ROOT


def test_a_saved_dataset_state_cannot_name_arrow_files_outside_it(tmp_path: Path) -> None:
    from datasets import Audio, Dataset, Features

    buffer = io.BytesIO()
    sf.write(buffer, [0.1, -0.1] * 8000, RATE, format="WAV")
    Dataset.from_dict({"audio": [{"bytes": buffer.getvalue(), "path": "secret.wav"}]}, features=Features({"audio": Audio()})).save_to_disk(
        str(tmp_path / "private")
    )
    root = tmp_path / "ds"
    Dataset.from_dict({"audio": [{"bytes": buffer.getvalue(), "path": "mine.wav"}]}, features=Features({"audio": Audio()})).save_to_disk(
        str(root)
    )
    state = json.loads((root / "state.json").read_text())
    arrow = next((tmp_path / "private").glob("*.arrow")).name
    state["_data_files"] = [{"filename": f"../private/{arrow}"}]
    (root / "state.json").write_text(json.dumps(state))
    with pytest.raises(CatalogError, match=r"state\.json"):
        catalog("hf", root, tmp_path / "cat.jsonl")


# --------------------------------------------------------------------------- (f): writing into <stem>.audio/


def _kaldi_with_command(tmp_path: Path) -> Path:
    root = tmp_path / "kaldi" / "train"
    speech_file(root / "src.wav", 1.0)
    (root / "wav.scp").write_text(f"rec cat {root / 'src.wav'} |\n")
    return root


def test_a_link_planted_in_the_audio_folder_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out" / "speech.jsonl"
    audio = out.parent / "speech.audio"
    audio.mkdir(parents=True)
    (audio / ".rec.flac.tmp").symlink_to(victim)  # kaldi's temporary name
    (audio / "rec.flac.partial").symlink_to(victim)  # lhotse's
    (audio / "rec.flac").symlink_to(victim)
    cat = catalog("kaldi", _kaldi_with_command(tmp_path), out, allow_commands=True)
    assert victim.read_text() == "precious"
    assert [c.id for c in cat] == ["rec"] and not (audio / "rec.flac").is_symlink()

    lhotse = tmp_path / "lhotse"
    lhotse.mkdir()
    recording = {"id": "rec", "sources": [{"type": "command", "channels": [0], "source": f"cat {tmp_path / 'kaldi/train/src.wav'}"}],
                 "sampling_rate": RATE, "num_samples": RATE, "duration": 1.0}  # fmt: skip
    (lhotse / "x_recordings_train.jsonl").write_text(json.dumps(recording) + "\n")
    (audio / "rec.flac").unlink()
    (audio / "rec.flac").symlink_to(victim)
    cat = catalog("lhotse", lhotse, out, allow_commands=True)
    assert victim.read_text() == "precious"
    assert [c.id for c in cat] == ["rec"]


def test_hf_bytes_are_not_written_through_a_planted_split_folder_link(tmp_path: Path) -> None:
    from datasets import Audio, Dataset, DatasetDict, Features

    buffer = io.BytesIO()
    sf.write(buffer, [0.1, -0.1] * 8000, RATE, format="WAV")
    ds = Dataset.from_dict({"audio": [{"bytes": buffer.getvalue(), "path": "a.wav"}]}, features=Features({"audio": Audio()}))
    DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "ds"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out" / "speech.jsonl"
    (out.parent / "speech.audio").mkdir(parents=True)
    (out.parent / "speech.audio" / "train").symlink_to(elsewhere, target_is_directory=True)
    catalog_corpus("hf", tmp_path / "ds", out, workers=1, progress=False)
    assert list(elsewhere.iterdir()) == []
    assert len(rejects(out)) == 1


# --------------------------------------------------------------------------- (e): layout sources whose names a catalog refuses


def test_layout_names_and_texts_a_catalog_would_refuse_are_rejects(tmp_path: Path) -> None:
    wav = tmp_path / "aishell" / "data_aishell" / "wav" / "train"
    speech_file(wav / "S 0002" / "BAC009S0002W0122.wav", 1.0)  # a speaker folder name that is no NAME
    speech_file(wav / "S0003" / "BAC009S0003W0001.wav", 1.0)
    speech_file(wav / "S0003" / "BAC009S0003W0002.wav", 1.0, seed=4)
    transcript = tmp_path / "aishell" / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("BAC009S0003W0001 而 对\nBAC009S0003W0002 bell\x07 ring\n")
    out = tmp_path / "aishell.jsonl"
    cat = catalog("aishell", tmp_path / "aishell", out)
    assert isinstance(cat, Catalog) and [c.id for c in cat] == ["BAC009S0003W0001"]
    assert sorted(r["reason"] for r in rejects(out)) == ["bad_row", "bad_row"]


@pytest.mark.parametrize("reco", ["../../escape", ".hidden", "a" * 300, "-rf"])
def test_command_outputs_get_safe_names_inside_the_audio_folder(tmp_path: Path, reco: str) -> None:
    root = tmp_path / "kaldi" / "train"
    speech_file(root / "src.wav", 1.0)
    (root / "wav.scp").write_text(f"{reco} cat {root / 'src.wav'} |\n")
    out = tmp_path / "out" / "speech.jsonl"
    (clip,) = catalog("kaldi", root, out, allow_commands=True)
    written = sorted(p for p in tmp_path.rglob("*.flac"))
    assert len(written) == 1 and written[0].parent == out.parent / "speech.audio" and not written[0].name.startswith(".")
    assert len(written[0].name) <= 120 and Path(Catalog([clip], out.parent).resolve(clip)) == written[0]
