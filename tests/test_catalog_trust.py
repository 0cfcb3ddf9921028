"""Cataloguing and catalog loading on the file systems users have: names that are not UTF-8,
a full disk, FIFOs and symlink loops give a reject with its reason or one line, never a
traceback or a hang."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import small_config

from audiosynth.build import build
from audiosynth.catalog import read_catalog
from audiosynth.cli import main
from audiosynth.corpora import catalog_corpus
from audiosynth.errors import OutputError
from audiosynth.io import files as io_files
from audiosynth.plan import load_catalogs


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the body runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _noise(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(int(seconds * 16000)), 16000, subtype="PCM_16")


def _catalog(root: Path, out: Path):
    return catalog_corpus("folder", root, out, kind="noise", workers=1, progress=False)


def _rejects(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in out.with_name(f"{out.stem}.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    return {Path(row["path"]).name: row["reason"] for row in rows}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", io_files.TMP_SUFFIX)))


def test_a_file_name_that_is_not_utf8_is_rejected_with_its_reason(tmp_path):
    root = tmp_path / "corpus"
    _noise(root / "good.wav")
    shutil.copy(root / "good.wav", os.path.join(os.fsencode(root), b"bad\xff.wav"))
    out = tmp_path / "cat" / "noise.jsonl"
    summary = _catalog(root, out)
    assert summary.num_clips == 1 and summary.rejects_by_reason == {"bad_name": 1}
    assert [row["id"] for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())] == ["good"]
    assert _rejects(out) == {"bad\\xff.wav": "bad_name"}
    assert _leftovers(out.parent) == []
    result = CliRunner().invoke(
        main, ["catalog", "folder", str(root), "-o", str(tmp_path / "cli.jsonl"), "--kind", "noise", "--workers", "1"]
    )
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("victim", ["catalog", "rejects"])
def test_disk_full_while_cataloguing_is_one_line_naming_the_file(tmp_path, monkeypatch, victim):
    root = tmp_path / "corpus"
    _noise(root / "a.wav")
    (root / "broken.wav").write_bytes(b"not audio" * 10)
    out = tmp_path / "cat" / "noise.jsonl"
    target = out if victim == "catalog" else out.with_name("noise.rejects.jsonl")
    real = io_files._write_all

    def full(handle, data):
        if Path(handle.name).name.startswith(target.name):
            handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(io_files, "_write_all", full)
    with pytest.raises(OutputError, match=r"no space left on the device") as failure:
        _catalog(root, out)
    assert str(target) in str(failure.value) and "\n" not in str(failure.value)
    assert _leftovers(out.parent) == []
    assert "catalogue again" in str(failure.value)
    result = CliRunner().invoke(main, ["catalog", "folder", str(root), "-o", str(out), "--kind", "noise", "--workers", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    last = result.output.strip().split("\r")[-1].splitlines()[-1]  # after the progress bar
    assert last.startswith("Error: ") and str(target) in last and result.output.count("Error") == 1


def test_a_fifo_and_symlink_loops_in_the_corpus_do_not_hang_or_crash_cataloguing(tmp_path):
    root = tmp_path / "corpus"
    _noise(root / "sub" / "a.wav")
    _noise(root / "b.wav")
    os.mkfifo(root / "pipe.wav")
    os.symlink("loop.wav", root / "loop.wav")  # a file symlink pointing at itself
    os.symlink("..", root / "sub" / "up")  # a directory symlink to an ancestor
    out = tmp_path / "noise.jsonl"
    with deadline(60):
        summary = _catalog(root, out)
    ids = [row["id"] for row in map(json.loads, out.read_text().splitlines())]
    assert ids == ["b", "sub-a"]  # each file once, though the loop reaches it again and again
    assert _rejects(out) == {"pipe.wav": "not_a_file", "loop.wav": "unreadable"}
    assert summary.num_rejected == 2


def _copy(corpus: dict[str, Path], dest: Path) -> dict[str, Path]:
    shutil.copytree(corpus["speech"].parent, dest)
    return {name: dest / path.name for name, path in corpus.items()}


def test_a_fifo_or_a_symlink_loop_named_in_a_catalog_row_is_rejected_at_build_time(corpus, tmp_path):
    copy = _copy(corpus, tmp_path / "corpus")
    config = small_config(copy, num_examples=8, output={"shard_size": 4})
    build(config, tmp_path / "ref", workers=1, progress=False)
    used = list(
        dict.fromkeys(json.loads(line)["labels"]["speech_clip"] for line in (tmp_path / "ref/manifest.jsonl").read_text().splitlines())
    )
    paths = {json.loads(line)["id"]: json.loads(line)["path"] for line in copy["speech"].read_text().splitlines()}
    fifo, loop = (copy["speech"].parent / paths[clip] for clip in used[:2])
    fifo.unlink()
    os.mkfifo(fifo)
    loop.unlink()
    os.symlink(loop.name, loop)
    with deadline(120):
        load_catalogs(config)  # resolving a looping path does not crash catalog loading
        read_catalog(copy["speech"])
        summary = build(config, tmp_path / "ds", workers=1, progress=False)
    rejects = {json.loads(line)["clip"]: json.loads(line)["reason"] for line in (tmp_path / "ds/rejects.jsonl").read_text().splitlines()}
    assert rejects == {used[0]: "not_a_file", used[1]: "unreadable"}
    assert summary.rejected_clips == {"not_a_file": 1, "unreadable": 1}


def test_catalog_and_config_files_that_are_fifos_loops_or_not_utf8_are_one_line(corpus, tmp_path):
    from audiosynth.config import load_config
    from audiosynth.errors import CatalogError, ConfigError

    lines = corpus["speech"].read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines[0] + lines[1].replace(b'"spk', b'"\xffspk', 1))
    with pytest.raises(CatalogError, match=r"bad\.jsonl:2: not UTF-8 text"):
        read_catalog(bad)
    os.mkfifo(tmp_path / "fifo.jsonl")
    os.symlink("loop.jsonl", tmp_path / "loop.jsonl")
    with deadline(30):
        with pytest.raises(CatalogError, match=r"fifo\.jsonl: not a regular file"):
            read_catalog(tmp_path / "fifo.jsonl")
        with pytest.raises(CatalogError, match=r"loop\.jsonl: cannot read the catalog \(Too many levels of symbolic links\)"):
            read_catalog(tmp_path / "loop.jsonl")
        os.mkfifo(tmp_path / "fifo.yaml")
        with pytest.raises(ConfigError, match=r"fifo\.yaml: not a regular file"):
            load_config(tmp_path / "fifo.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"catalogs:\n  speech: caf\xe9.jsonl\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text"):
        load_config(tmp_path / "latin1.yaml")


ROW = {"id": "a", "path": "a.wav", "kind": "speech", "duration": 1.0, "sample_rate": 16000, "num_channels": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": float("inf")}, r"c\.jsonl:1: 'duration' must be a positive number of seconds \(got inf\)"),
        ({"text": 5}, r"c\.jsonl:1: 'text' must be a string or null \(got int 5\)"),
        ({"gender": {"x": 1}}, r"c\.jsonl:1: 'gender' must be a string or null \(got dict \{'x': 1\}\)"),
        ({"split": 3}, r"c\.jsonl:1: 'split' must be a string or null"),
        ({"tags": 7}, r"c\.jsonl:1: 'tags' must be a list of strings"),
    ],
)
def test_catalog_rows_of_the_wrong_type_are_refused_naming_line_and_field(tmp_path, change, message):
    from audiosynth.catalog import Clip
    from audiosynth.errors import CatalogError

    with pytest.raises(CatalogError, match=message):
        Clip.from_dict({**ROW, **change}, "c.jsonl:1")


def test_a_deeply_nested_catalog_row_is_one_line_naming_the_line(tmp_path):
    from audiosynth.errors import CatalogError

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + '{"id": ' + "[" * 100000 + "]" * 100000 + "}\n")
    with pytest.raises(CatalogError, match=r"c\.jsonl:2: invalid JSON \(nested too deeply\)"):
        read_catalog(path)
