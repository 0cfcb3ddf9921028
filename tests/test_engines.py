"""Engines, resume and failures: the same bytes whatever runs the shards, and nothing lost or faked."""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import small_config
from test_build import tree_digest

from audiosynth.build import build
from audiosynth.errors import DatasetError, OutputError
from audiosynth.io import files as io_files


@pytest.fixture(scope="module")
def reverb_config(corpus):
    """Simulated rooms in float WAV: the output most sensitive to any difference in arithmetic."""
    return small_config(
        corpus,
        num_examples=12,
        reverb={"probability": 0.5, "source": "simulated"},
        output={"shard_size": 3, "format": "wav", "subtype": "FLOAT"},
    )


@pytest.fixture(scope="module")
def pool_build(reverb_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "ds"
    build(reverb_config, out, workers=2, progress=False)
    return out


@pytest.mark.parametrize(("engine", "module"), [("dask", "dask.distributed"), ("ray", "ray")])
def test_distributed_engines_equal_the_process_pool(engine, module, reverb_config, pool_build, tmp_path):
    """A Dask LocalCluster and a local Ray instance write the process pool's bytes."""
    pytest.importorskip(module)  # the test extra installs both; CI runs these
    out = tmp_path / "ds"
    summary = build(reverb_config, out, workers=2, progress=False, engine=engine)
    assert summary.num_built == 12
    assert tree_digest(out) == tree_digest(pool_build)


def _readable_and_listed(out: Path, temporaries_allowed: bool = False) -> None:
    """Every file that a shard's rows list decodes whole (and, unless allowed, no temporary is left:
    a SIGKILL leaves them, under names no reader takes as done)."""
    assert temporaries_allowed or not list(out.rglob(f"*{io_files.TMP_SUFFIX}"))
    for rows in (out / "shards").glob("*[0-9].jsonl"):
        for row in map(json.loads, rows.read_text().splitlines()):
            for rel in row["audio"].values():
                data, _ = sf.read(out / rel)
                assert data.shape[0] == row["scene"]["num_samples"]


def test_sigkill_at_random_points_then_resume_gives_the_same_bytes(corpus, tmp_path):
    config = small_config(corpus, num_examples=40, reverb={"probability": 0.5, "source": "simulated"}, output={"shard_size": 1})
    ref = tmp_path / "ref"
    build(config, ref, workers=2, progress=False)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "audiosynth.cli", "build", str(path), "-o", str(out), "--workers", "2", "--no-progress"]
    rng = random.Random(11)
    kills, shards = 0, lambda: len(list((out / "shards").glob("*[0-9].jsonl")))
    for _ in range(4):  # kill -9 at random moments (after a random number of shards, plus up to 50 ms), resuming each time
        target = shards() + rng.randint(1, 4)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while proc.poll() is None and shards() < target and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        stderr = proc.communicate()[1].decode()
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        time.sleep(0.3)  # the kernel kills the pool's workers with their parent (PR_SET_PDEATHSIG)
        _readable_and_listed(out, temporaries_allowed=True)
        assert shards() == 40 or not (out / "manifest.jsonl").exists()  # the manifest comes after every shard
    assert kills == 4, "the build finished before it could be killed: make it longer"
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert tree_digest(out) == tree_digest(ref)


def test_disk_full_names_the_path_leaves_nothing_partial_and_resumes(corpus, tmp_path, monkeypatch):
    config = small_config(corpus, num_examples=12, output={"shard_size": 3})
    ref = tmp_path / "ref"
    build(config, ref, workers=1, progress=False)
    calls = {"n": 0}
    real = io_files._write_all

    def fill_up(handle, data):  # the 20th file finds the disk full half-way through
        calls["n"] += 1
        if calls["n"] >= 20:
            handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(io_files, "_write_all", fill_up)
    out = tmp_path / "ds"
    with pytest.raises(OutputError, match=r"no space left on the device") as failure:
        build(config, out, workers=1, progress=False)
    assert str(out) in str(failure.value) and io_files.TMP_SUFFIX in str(failure.value)
    assert not (out / "manifest.jsonl").exists()
    done = list((out / "shards").glob("*[0-9].jsonl"))
    assert 1 <= len(done) < 4
    _readable_and_listed(out)
    monkeypatch.setattr(io_files, "_write_all", real)
    summary = build(config, out, workers=1, progress=False)
    assert summary.num_skipped == 3 * len(done)
    assert tree_digest(out) == tree_digest(ref)


def test_disk_full_is_one_clear_line_on_the_command_line(corpus, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from audiosynth.cli import main

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(small_config(corpus).to_dict()))
    monkeypatch.setattr(io_files, "_write_all", full)
    result = CliRunner().invoke(main, ["build", str(path), "-o", str(tmp_path / "ds"), "--workers", "1", "--no-progress"])
    assert result.exit_code == 1
    assert "no space left on the device" in result.output and "Traceback" not in result.output
    assert str(tmp_path / "ds") in result.output


def _copy_corpus(corpus: dict[str, Path], dest: Path) -> dict[str, Path]:
    shutil.copytree(corpus["speech"].parent, dest)
    return {name: dest / path.name for name, path in corpus.items()}


def _break(path: Path, how: str) -> None:
    """Make a clip bad the way real corpora go bad."""
    if how == "missing":
        path.unlink()
    elif how == "unreadable":
        path.write_bytes(b"not audio at all" * 64)
    elif how == "nan":
        data, rate = sf.read(path)
        data[len(data) // 2] = np.nan
        sf.write(str(path) + ".wav", data, rate, subtype="FLOAT")  # float WAV bytes under the clip's name
        os.replace(str(path) + ".wav", path)
    elif how == "wrong_rate":
        data, rate = sf.read(path)
        sf.write(path, data[::2], rate // 2, format="FLAC")


BREAKS = ("missing", "unreadable", "nan", "wrong_rate")


def test_clips_that_go_bad_mid_build_are_rejected_and_redrawn(corpus, tmp_path, monkeypatch):
    import audiosynth.build.engines as engines

    copy = _copy_corpus(corpus, tmp_path / "corpus")
    config = small_config(copy, num_examples=16, output={"shard_size": 4}, noise_probability=1.0)
    ref = tmp_path / "ref"
    build(config, ref, workers=1, progress=False)
    later = [json.loads(line) for line in (ref / "manifest.jsonl").read_text().splitlines()][4:]
    victims = list(dict.fromkeys(row["labels"]["speech_clip"] for row in later))[: len(BREAKS)]
    assert len(victims) == len(BREAKS)
    clip_paths = {json.loads(line)["id"]: json.loads(line)["path"] for line in copy["speech"].read_text().splitlines()}
    real_shard = engines.build_shard

    def break_after_first_shard(out_dir, shard, format="folder"):
        result = real_shard(out_dir, shard, format)
        if shard == 0:
            for clip, how in zip(victims, BREAKS, strict=True):
                _break(copy["speech"].parent / clip_paths[clip], how)
        return result

    monkeypatch.setattr(engines, "build_shard", break_after_first_shard)
    out = tmp_path / "ds"
    summary = build(config, out, workers=1, progress=False)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 16
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {r["clip"]: r["reason"] for r in rejects} == dict(zip(victims, BREAKS, strict=True))
    assert summary.rejected_clips == dict(sorted(dict.fromkeys(BREAKS, 1).items()))
    assert json.loads((out / "build.json").read_text())["rejected_clips"] == summary.rejected_clips
    assert not {row["labels"]["speech_clip"] for row in rows[4:]} & set(victims)
    assert [row["labels"]["speech_clip"] for row in rows[:4]] == [
        row["labels"]["speech_clip"] for row in map(json.loads, (ref / "manifest.jsonl").read_text().splitlines())
    ][:4]
    redrawn = {r["example"] for r in rejects}
    for row in rows[4:]:  # examples that met no bad clip are the same as before; the others were re-drawn
        before = next(r for r in later if r["id"] == row["id"])
        assert (row["scene"] == before["scene"]) == (row["id"] not in redrawn)
    monkeypatch.setattr(engines, "build_shard", real_shard)
    again = tmp_path / "again"  # from scratch on the broken corpus: 1 and 2 workers agree, rejects included
    build(config, again, workers=1, progress=False)
    twice = tmp_path / "twice"
    build(config, twice, workers=2, progress=False)
    assert tree_digest(again) == tree_digest(twice)


def test_a_changed_catalog_is_refused_with_the_difference(corpus, tmp_path):
    copy = _copy_corpus(corpus, tmp_path / "corpus")
    config = small_config(copy, num_examples=8, output={"shard_size": 4})
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    lines = copy["speech"].read_text().splitlines()
    copy["speech"].write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match=rf"catalog changed.*speech.jsonl: {len(lines)} clips -> {len(lines) - 1}"):
        build(config, out, workers=1, progress=False)


def test_a_reused_worker_reloads_a_changed_catalog(corpus, tmp_path):
    """A distributed worker kept between builds must not plan from a catalog that has changed."""
    from audiosynth.build.resume import catalog_fingerprints
    from audiosynth.build.worker import _WORKER, run_shard_task

    copy = _copy_corpus(corpus, tmp_path / "corpus")
    config = small_config(copy, num_examples=8, output={"shard_size": 4})

    def task(out):
        return run_shard_task(
            config.model_dump_json(),
            str(out),
            0,
            "folder",
            json.dumps(catalog_fingerprints(config), sort_keys=True),
        )

    try:
        task(tmp_path / "before")
        used = {json.loads(line)["labels"]["speech_clip"] for line in (tmp_path / "before/shards/00000.jsonl").read_text().splitlines()}
        kept = [line for line in copy["speech"].read_text().splitlines() if json.loads(line)["id"] not in used]
        copy["speech"].write_text("\n".join(kept) + "\n")
        task(tmp_path / "after")  # the same process: a reused worker
    finally:
        _WORKER.clear()
    build(config, tmp_path / "fresh", workers=1, progress=False)
    after = (tmp_path / "after/shards/00000.jsonl").read_text()
    assert after == (tmp_path / "fresh/shards/00000.jsonl").read_text()
    assert not used & {json.loads(line)["labels"]["speech_clip"] for line in after.splitlines()}


def test_a_passing_io_error_is_retried_not_rejected(corpus, tmp_path, monkeypatch):
    import audiosynth.io.audio as audio

    config = small_config(corpus, num_examples=8, output={"shard_size": 4})
    ref = tmp_path / "ref"
    build(config, ref, workers=1, progress=False)
    first = json.loads((ref / "manifest.jsonl").read_text().splitlines()[0])["labels"]["speech_clip"]
    real, failed = audio.sf.SoundFile, []

    def flaky(path, *args, **kwargs):  # the first open of example 0's clip fails like an NFS hiccup
        if first.replace("-", "_") in str(path) and not failed:
            failed.append(path)
            raise OSError(errno.EIO, "Input/output error")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(audio.sf, "SoundFile", flaky)
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    assert failed and not (out / "rejects.jsonl").exists()
    assert tree_digest(out) == tree_digest(ref)


def test_the_command_line_build_survives_a_bad_first_clip(corpus, tmp_path):
    """`audiosynth build` renders a few examples for its estimate first: they are re-drawn too."""
    from click.testing import CliRunner

    from audiosynth.cli import main

    copy = _copy_corpus(corpus, tmp_path / "corpus")
    config = small_config(copy, num_examples=8, output={"shard_size": 4})
    build(config, tmp_path / "ref", workers=1, progress=False)
    first = json.loads((tmp_path / "ref/manifest.jsonl").read_text().splitlines()[0])["labels"]["speech_clip"]
    path = {json.loads(line)["id"]: json.loads(line)["path"] for line in copy["speech"].read_text().splitlines()}[first]
    (copy["speech"].parent / path).unlink()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config.to_dict()))
    result = CliRunner().invoke(main, ["build", str(cfg), "-o", str(tmp_path / "ds"), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "clips rejected while rendering" in result.output
    assert json.loads((tmp_path / "ds/rejects.jsonl").read_text().splitlines()[0])["clip"] == first


def test_a_late_attempt_at_a_done_shard_writes_nothing(corpus, tmp_path):
    from audiosynth.build.worker import _WORKER, run_shard_task

    config = small_config(corpus, num_examples=8, output={"shard_size": 4})
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    try:
        shard, count, seconds = run_shard_task(config.model_dump_json(), str(out), 1)
    finally:
        _WORKER.clear()
    rows = [json.loads(line) for line in (out / "shards/00001.jsonl").read_text().splitlines()]
    assert (shard, count) == (1, 4) and seconds == pytest.approx(sum(r["duration"] for r in rows))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_disk_full_while_writing_a_tar_shard(corpus, tmp_path, monkeypatch):
    import tarfile

    config = small_config(corpus, num_examples=8, output={"shard_size": 4})
    real, calls = tarfile.TarFile.addfile, {"n": 0}

    def full(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "addfile", full)
    out = tmp_path / "wds"
    with pytest.raises(OutputError, match=r"shard-00001\.tar\.partial: no space left on the device"):
        build(config, out, workers=1, progress=False, format="webdataset")
    assert not list(out.rglob(f"*{io_files.TMP_SUFFIX}"))
    assert [p.name for p in (out / "shards").glob("*.tar")] == ["shard-00000.tar"]
