"""Integrity of a build under Ctrl-C, racing builds, foreign shards, and FLAC checksums.

The SIGINT test sends Ctrl-C to the build's whole process group (as a terminal does, so pool
workers get it too) at random moments from interpreter start to the end, resumes the same
folder each time, and compares every byte with an uninterrupted build."""

import contextlib
import hashlib
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
import yaml
from conftest import small_config

from audiosynth.build import build
from audiosynth.build.resume import todo_shards
from audiosynth.dataset import folder as writers
from audiosynth.dataset.validate import flac_md5_matches, validate
from audiosynth.errors import DatasetError, Interrupted
from audiosynth.io import audio
from audiosynth.io import files as io_files

ROWS = "*[0-9].jsonl"
PACKAGE = str(Path(audio.__file__).parent)  # a traceback through audiosynth's code names this folder


def dataset_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of a finished dataset but build.json, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "build.json"
    }


@pytest.fixture(scope="module")
def quick(corpus, tmp_path_factory):
    """A build of 12 short examples in shards of 2 (a run lasts ~1-2 s), its YAML and its reference bytes."""
    config = small_config(corpus, num_examples=12, duration_s=[0.5, 1.0], output={"shard_size": 2})
    root = tmp_path_factory.mktemp("quick")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    build(config, root / "ref", workers=1, progress=False)
    return config, path, dataset_digest(root / "ref")


def _interrupt_at_random(path: Path, ref: dict[str, str], out: Path, workers: int, runs: int, seed: int) -> dict[str, int]:
    """Time one whole run (start-up until the first shard, then per shard), then: start the build
    and Ctrl-C its process group at a random moment: in its start-up (a random time within it) or
    within a random shard of those left (once the run wrote build.json and the shards before it are
    done, plus a random part of a shard's time); repeat (each run resumes the last); a folder that completes is checked against
    ``ref`` and started again. Every run that was signalled before its last shard was done must exit 130 with
    one line; one that exits 0 must be complete. Returns counts of what happened."""
    cmd = [sys.executable, "-m", "audiosynth.cli", "build", str(path), "-o", str(out), "--workers", str(workers), "--no-progress"]
    shards_done = lambda: len(list((out / "shards").glob(ROWS))) if (out / "shards").exists() else 0  # noqa: E731
    total = len({Path(rel).parent for rel in ref if rel.startswith("audio/")})
    start, first = time.perf_counter(), None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and shards_done() < total:
        first = first or (shards_done() and time.perf_counter())
        time.sleep(0.005)
    last = time.perf_counter()
    assert proc.wait(timeout=120) == 0 and dataset_digest(out) == ref
    startup_s = (first or last) - start
    per_shard_s = (last - startup_s - start) / max(1, total - 1)
    shutil.rmtree(out)
    rng = random.Random(seed)
    seen = {"mid_build": 0, "after_last_shard": 0, "finished_first": 0, "completed_folders": 0, "python_starting": 0}
    now: dict[str, str] = {}
    attempts = 0
    while seen["mid_build"] < runs and attempts < 3 * runs:  # on a loaded machine some Ctrl-Cs land after the last shard
        attempts += 1
        before = now
        left = total - shards_done()
        phase = rng.randrange(max(1, left))  # 0: the start-up, k: the k-th shard left (the last one's time: the finish)
        launched = time.time_ns()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        if phase == 0:
            time.sleep(rng.uniform(0, startup_s))
        else:  # once this run has written build.json (its shards start) and the shards before this one are done
            while proc.poll() is None and (not (out / "build.json").exists() or (out / "build.json").stat().st_mtime_ns < launched):
                time.sleep(0.002)
            while proc.poll() is None and shards_done() < total - left + phase - 1:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, per_shard_s))
        if proc.poll() is None:
            left_at_signal = total - shards_done()
            unfinished = left_at_signal > 0
            os.killpg(proc.pid, signal.SIGINT)
            twice = rng.random() < 0.25
            if twice:  # now and then a second Ctrl-C: stop at once, as kill -9 would
                time.sleep(rng.uniform(0, 0.1))
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
            case = "mid_build" if unfinished else "after_last_shard"
        else:
            unfinished, twice, case = False, False, "finished_first"
        stdout, stderr = proc.communicate(timeout=120)
        if unfinished and left_at_signal == 1 and proc.returncode == 0:
            # the last shard was being written when the test looked: its finish can beat the signal
            # (then the build's last stop check has passed and it completes: checked below, as any exit 0)
            unfinished, case = False, "after_last_shard"
        if ("Traceback" in stderr and PACKAGE not in stderr) or (proc.returncode != 0 and not stderr):
            # in the interpreter's own start (site, runpy compiling the module), before any audiosynth code ran:
            # Python stops (nothing may have changed), or site reports it and goes on (then the run must be right)
            seen["python_starting"] += 1
            if proc.returncode != 0:
                assert (dataset_digest(out) if out.exists() else {}) == before
                continue
            unfinished = False
        else:
            seen[case] += 1
            assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
        if unfinished:  # (a second Ctrl-C may come while Python exits, after the handler is gone: -SIGINT)
            assert proc.returncode == 130 or (twice and proc.returncode == -signal.SIGINT), (proc.returncode, stdout, stderr)
        if proc.returncode == 130 or unfinished:
            assert any(line.startswith(("interrupted: ", "interrupted again: ")) for line in stderr.splitlines()), stderr
        else:  # -SIGINT: the signal came while Python was exiting (it resets the handler then): after a finished
            # build, or a second Ctrl-C after a first one that stopped the finish (the next run finishes it)
            assert proc.returncode in (0, -signal.SIGINT), (proc.returncode, stderr)
            status = json.loads((out / "build.json").read_text())["status"]
            assert status == "complete" or (twice and proc.returncode == -signal.SIGINT), (status, proc.returncode, stderr)
        now = dataset_digest(out) if out.exists() else {}
        for rows in (out / "shards").glob(ROWS) if (out / "shards").exists() else ():
            for row in map(json.loads, rows.read_text().splitlines()):  # a done shard's files are final and right
                assert all(now.get(rel) == ref[rel] for rel in row["audio"].values()), rows
        if proc.returncode == 0 or ((out / "build.json").exists() and json.loads((out / "build.json").read_text())["status"] == "complete"):
            assert dataset_digest(out) == ref
            seen["completed_folders"] += 1
            shutil.rmtree(out)
            now = {}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert dataset_digest(out) == ref
    assert validate(out, progress=False).ok
    return seen


@pytest.mark.parametrize(("workers", "runs"), [(1, 30), (2, 30)])
def test_ctrl_c_at_random_moments_then_resume_gives_the_same_bytes(quick, tmp_path, workers, runs):
    _, path, ref = quick
    seen = _interrupt_at_random(path, ref, tmp_path / "ds", workers, runs, seed=workers)
    assert seen["mid_build"] >= runs, seen  # this many runs were really stopped mid-build (and resumed)
    assert not list((tmp_path / "ds").rglob(f"*{io_files.TMP_SUFFIX}"))


def test_encoding_under_a_storm_of_sigints_in_process_gives_the_same_bytes():
    """SIGINTs every ~0.2 ms while encoding FLAC in memory: with the build's handler (a flag), no
    exception reaches soundfile's cffi callbacks, every encoding is byte-identical, and the flag is set."""
    import threading

    from audiosynth.build import sigint_stops

    x = np.round(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 48000)) * 32768) / 32768
    want = audio.encode(x, 16000, "flac", "PCM_16")
    stop_sending = threading.Event()
    sent = []

    def storm() -> None:
        while not stop_sending.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            sent.append(1)
            time.sleep(0.0002)

    before = signal.getsignal(signal.SIGINT)
    with sigint_stops(hard_exit=False) as stop:
        sender = threading.Thread(target=storm)
        sender.start()
        try:
            got = [audio.encode(x, 16000, "flac", "PCM_16") for _ in range(60)]
        finally:
            stop_sending.set()
            sender.join()
    assert signal.getsignal(signal.SIGINT) is before
    assert len(sent) > 100 and stop.is_set()
    assert all(g == want for g in got)


def test_interrupted_build_in_process_raises_and_leaves_no_temporary(quick, tmp_path, monkeypatch):
    """A SIGINT while the third example renders: the build stops at the next example, removes the
    shard's temporaries, raises `Interrupted` naming the shards done, and restores the handler."""
    from audiosynth.build import worker as build_module

    config, _, ref = quick
    calls = []
    real = build_module.render_examples

    def render_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(build_module, "render_examples", render_then_interrupt)  # one example a call (RENDER_BATCH)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted, match=r"interrupted: 1 of 6 shards done, rerun the same command to resume"):
        build(config, tmp_path / "ds", workers=1, progress=False)
    assert signal.getsignal(signal.SIGINT) is before
    assert len(calls) == 3
    assert not list((tmp_path / "ds").rglob(f"*{io_files.TMP_SUFFIX}"))
    assert [p.name for p in (tmp_path / "ds" / "shards").glob(ROWS)] == ["00000.jsonl"]
    monkeypatch.undo()
    build(config, tmp_path / "ds", workers=1, progress=False)
    assert dataset_digest(tmp_path / "ds") == ref


def test_build_from_a_thread_that_is_not_main_works(quick, tmp_path):
    """signal.signal only works in the main thread: a build from another thread runs without a handler."""
    import threading

    config, _, ref = quick
    errors = []
    thread = threading.Thread(target=lambda: _capture(errors, lambda: build(config, tmp_path / "ds", workers=1, progress=False)))
    thread.start()
    thread.join()
    assert errors == []
    assert dataset_digest(tmp_path / "ds") == ref


def _capture(errors: list, func) -> None:
    try:
        func()
    except BaseException as err:  # noqa: BLE001 - reported by the test
        errors.append(err)


# -- FLAC STREAMINFO MD5 -----------------------------------------------------------------------
def _flac(x: np.ndarray, subtype: str = "PCM_16") -> bytes:
    return audio.encode(x, 16000, "flac", subtype)


@pytest.mark.parametrize(("subtype", "bits"), [("PCM_16", 16), ("PCM_24", 24)])
def test_flac_md5_matches_its_samples_and_catches_a_changed_one(subtype, bits):
    rng = np.random.default_rng(1)
    x = np.round(rng.uniform(-0.9, 0.9, (2, 8000)) * 2 ** (bits - 1)) / 2 ** (bits - 1)
    data = _flac(x, subtype)
    assert flac_md5_matches(data, x)
    y = x.copy()
    y[1, 4000] += 2.0 ** -(bits - 1)  # one sample one step off
    assert not flac_md5_matches(data, y)
    assert not flac_md5_matches(data[:26] + bytes(b ^ 0xFF for b in data[26:42]) + data[42:], x)
    assert flac_md5_matches(data[:26] + bytes(16) + data[42:], x)  # all-zero MD5: "not computed", nothing to check


def test_validate_names_a_flac_whose_streaminfo_md5_is_wrong(quick, tmp_path):
    config, _, _ = quick
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    assert validate(out, progress=False).ok
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[3])
    mix = out / row["audio"]["mix"]
    data = bytearray(mix.read_bytes())
    data[30] ^= 0x01  # one bit of the STREAMINFO MD5: the file still decodes to the same samples
    mix.write_bytes(bytes(data))
    report = validate(out, progress=False)
    assert report.problems == [f"{row['id']}: mix: FLAC STREAMINFO MD5 does not match its samples"]


# -- shards carry the config fingerprint ---------------------------------------------------------
def test_shards_of_another_config_are_refused_when_build_json_was_deleted(quick, tmp_path):
    config, _, _ = quick
    out = tmp_path / "ds"
    build(config.with_overrides(num_examples=4), out, workers=1, progress=False)
    (out / "build.json").unlink()
    (out / "manifest.jsonl").unlink()
    other = config.with_overrides(snr_db=[20, 30])
    old_fp = config.with_overrides(num_examples=4).fingerprint()
    with pytest.raises(DatasetError, match=rf"shards/00000.jsonl: written by config {old_fp}, this build is {other.fingerprint()}"):
        build(other, out, workers=1, progress=False)
    assert not (out / "manifest.jsonl").exists()


@pytest.mark.parametrize(("first", "then"), [("folder", "webdataset"), ("webdataset", "folder")])
def test_shards_of_another_format_are_refused_when_build_json_was_deleted(quick, tmp_path, first, then):
    """Same config, other format: without build.json the shards' rows still tell (a tar shard's rows
    name their tar), so a resume never mixes a folder's shards with tar shards."""
    config, _, _ = quick
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False, format=first)
    for name in ("build.json", "manifest.jsonl"):
        (out / name).unlink()
    (out / "shards" / "00005.jsonl").unlink()  # one shard left to do
    with pytest.raises(DatasetError, match=rf"shards/00000.jsonl: a shard of a {first} build, this build writes {then}"):
        build(config, out, workers=1, progress=False, format=then)
    assert not (out / "manifest.jsonl").exists()


def test_manifest_rows_do_not_carry_the_fingerprint(quick, tmp_path):
    config, _, _ = quick
    out = tmp_path / "ds"
    build(config.with_overrides(num_examples=2), out, workers=1, progress=False)
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert "fingerprint" not in row
    assert (
        json.loads((out / "shards/00000.jsonl").read_text().splitlines()[0])["fingerprint"]
        == config.with_overrides(num_examples=2).fingerprint()
    )


# -- resume scans what exists ------------------------------------------------------------------
def test_todo_scans_the_shards_folder_once_not_every_possible_shard(tmp_path, monkeypatch):
    (tmp_path / "shards").mkdir()
    for k in (0, 1, 3, 123456):
        (tmp_path / "shards" / f"{writers.shard_name(k)}.jsonl").write_text("{}\n")
    (tmp_path / "shards" / "00002.rejects.jsonl").write_text("{}\n")
    (tmp_path / "shards" / "00002.jsonl.partial").write_text("")
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a) or real_stat(*a, **k))
    start = time.perf_counter()
    todo, done, done_examples = todo_shards(tmp_path, num_examples=10**9, shard_size=100)  # 10^7 shards
    first = [next(todo) for _ in range(4)]
    elapsed = time.perf_counter() - start
    assert first == [2, 4, 5, 6] and len(done) == 4 and done_examples == 400
    assert elapsed < 0.5 and len(stats) < 10
    todo, done, done_examples = todo_shards(tmp_path, num_examples=350, shard_size=100)  # shard 3 is the short last one
    assert list(todo) == [2] and len(done) == 3 and done_examples == 250


# -- two builds racing on one folder -----------------------------------------------------------
def test_two_builds_racing_on_one_folder_both_finish_with_the_reference_bytes(quick, tmp_path):
    _, path, ref = quick
    for attempt in range(3):
        out = tmp_path / f"ds{attempt}"
        cmd = [sys.executable, "-m", "audiosynth.cli", "build", str(path), "-o", str(out), "--workers", "1", "--no-progress"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert [code for code, _ in results] == [0, 0], results
        assert all("Traceback" not in err for _, err in results), results
        assert dataset_digest(out) == ref
        assert validate(out, progress=False).ok


class _PoolBrokenByCtrlC:
    """A process pool whose worker start meets the pipe its management thread just closed: what a
    Ctrl-C landing while the pool spawns a worker does (the forked child dies of it, the pool breaks)."""

    def submit(self, *args):
        raise OSError("handle is closed")


def test_a_ctrl_c_while_the_pool_starts_a_worker_stops_quietly():
    """Once Ctrl-C asked to stop, a pool that broke while starting a worker hands out nothing more
    (no traceback); without a Ctrl-C the same failure is not hidden."""
    from audiosynth.build import StopFlag
    from audiosynth.build.engines import _submit

    stop = StopFlag()
    stop.set()
    assert _submit(_PoolBrokenByCtrlC(), iter([0, 1]), 2, "out", "folder", stop) == set()
    with pytest.raises(OSError, match="handle is closed"):
        _submit(_PoolBrokenByCtrlC(), iter([0, 1]), 2, "out", "folder", StopFlag())


def test_a_build_with_its_report_resumes_when_build_json_was_deleted(quick, tmp_path):
    """The report folder is a build's own leftover too: the build resumes (and checks the shards)."""
    from audiosynth.report import make_report

    config, _, ref = quick
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    make_report(out, progress=False)
    for name in ("build.json", "manifest.jsonl"):
        (out / name).unlink()
    (out / "shards" / "00005.jsonl").unlink()
    build(config, out, workers=1, progress=False)
    assert {k: v for k, v in dataset_digest(out).items() if not k.startswith("report/")} == ref


def test_a_folder_where_another_build_is_writing_its_build_json_is_not_refused(tmp_path):
    """Two builds starting on one new folder: the second may look while the first writes
    build.json (its ``build.json.partial`` is there, build.json not yet): that is a build starting,
    not a foreign folder (test_two_builds_racing_on_one_folder... met it on CI)."""
    from audiosynth.dataset.trust import check_output_dir
    from audiosynth.errors import DatasetError

    out = tmp_path / "ds"
    out.mkdir()
    (out / "build.json.partial").write_text("{")
    check_output_dir(out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty and not an audiosynth dataset"):
        check_output_dir(out)
