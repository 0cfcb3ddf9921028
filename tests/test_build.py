import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from conftest import small_config

from audiosynth.build import build
from audiosynth.cli import main
from audiosynth.dataset.validate import validate
from audiosynth.errors import DatasetError
from audiosynth.plan import load_catalogs
from audiosynth.render import render
from audiosynth.scene import Scene


def tree_digest(root: Path) -> dict[str, str]:
    """md5 of every file below root, by relative path."""
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """One uninterrupted single-worker build shared by the tests of this module."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    config = small_config(corpus, num_examples=16, reverb={"probability": 0.3, "source": "catalog"})
    build(config, out, workers=1, progress=False)
    return config, out


def test_same_bytes_for_one_and_two_workers(reference, tmp_path):
    config, ref = reference
    build(config, tmp_path / "two", workers=2, progress=False)
    ours, theirs = tree_digest(tmp_path / "two"), tree_digest(ref)
    rows = [json.loads(line) for line in (ref / "manifest.jsonl").read_text().splitlines()]
    assert len(ours) == sum(len(r["audio"]) for r in rows) + 4 + 2  # audio, 4 shard files, manifest, build.json
    assert ours == theirs


def test_manifest_rows_and_files_agree(reference):
    config, out = reference
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"{r['split']}-{i:06d}" for i, r in enumerate(rows)]
    for row in rows:
        reverberant = any(s["rir_clip"] for s in row["scene"]["sources"])
        assert set(row["audio"]) == {"mix", "clean", "noise"} | ({"clean_direct", "clean_early"} if reverberant else set())
        clean, rate = sf.read(out / row["audio"]["clean"], dtype="int16")
        noise, _ = sf.read(out / row["audio"]["noise"], dtype="int16")
        mix, _ = sf.read(out / row["audio"]["mix"], dtype="int16")
        assert rate == row["sample_rate"] and len(mix) == round(row["duration"] * rate)
        assert np.array_equal(mix.astype(int), clean.astype(int) + noise.astype(int))
        measured = 10 * np.log10(np.sum(clean.astype(float) ** 2) / np.sum(noise.astype(float) ** 2))
        assert abs(measured - row["labels"]["snr_db"]) < 0.1
        assert abs(measured - row["scene"]["noise"]["snr_db"]) < 0.1
    info = json.loads((out / "build.json").read_text())
    assert info["status"] == "complete" and sum(info["counts"].values()) == 16
    assert "snr_db" in info["label_definitions"] and info["config"]["seed"] == config.seed


def test_scene_from_manifest_rerenders_the_written_files(reference):
    config, out = reference
    clips = load_catalogs(config).all()
    for line in (out / "manifest.jsonl").read_text().splitlines()[:6]:
        row = json.loads(line)
        again = render(Scene.from_dict(row["scene"]), clips, config.output.subtype)
        for role, rel in row["audio"].items():
            written, _ = sf.read(out / rel, dtype="float64", always_2d=True)
            np.testing.assert_array_equal(written.T, again.audio[role])
        assert again.labels == row["labels"]


def test_validate_passes_then_catches_tampering(reference, tmp_path):
    config, ref = reference
    report = validate(ref, progress=False)
    assert report.ok and report.num_examples == 16
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    noise_path = out / rows[0]["audio"]["noise"]
    noise, rate = sf.read(noise_path, dtype="int16")
    sf.write(noise_path, (noise // 2).astype(np.int16), rate, subtype="PCM_16")
    (out / rows[1]["audio"]["clean"]).unlink()
    result = CliRunner().invoke(main, ["validate", str(out), "--no-progress"])
    assert result.exit_code == 1
    assert f"{rows[0]['id']}: mix != sum of images" in result.output
    assert f"{rows[0]['id']}: snr_db label" in result.output
    assert f"{rows[1]['id']}: clean: missing file" in result.output


def test_rebuild_into_same_folder_skips_and_refuses_other_config(reference, tmp_path):
    config, _ = reference
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    again = build(config, out, workers=1, progress=False)
    assert again.num_built == 0 and again.num_skipped == 16
    with pytest.raises(DatasetError, match=r"another config \(snr_db"):
        build(config.with_overrides(snr_db=[1, 2]), out, workers=1, progress=False)


def test_a_raised_memory_limit_resumes_the_same_build(reference, tmp_path):
    """``limits`` do not change the bytes: raising one to resume is not 'another config'."""
    config, _ = reference
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    raised = config.model_copy(update={"limits": config.limits.model_copy(update={"max_example_memory_gb": 64.0})})
    again = build(raised, out, workers=1, progress=False)
    assert again.num_built == 0 and again.num_skipped == 16


def test_killed_build_resumes_to_identical_bytes(reference, tmp_path, corpus):
    config, ref = reference
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "audiosynth.cli", "build", str(path), "-o", str(out), "--workers", "1", "--no-progress"]
    for wait_shards in (1, 3):  # kill at two points of the build
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and len(list((out / "shards").glob("*.jsonl"))) < wait_shards:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / "manifest.jsonl").exists()
    done = len(list((out / "shards").glob("*.jsonl")))
    assert 1 <= done < 4
    for rel in (p for p in out.rglob("*.flac")):  # every file with a final name is complete
        sf.read(rel)
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"({done * 4} already done)" in result.stdout
    assert tree_digest(out) == tree_digest(ref)


def test_cli_build_dry_run_and_errors(corpus, tmp_path):
    config = small_config(corpus)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(path), "-o", str(tmp_path / "dry"), "--dry-run", "--num-examples", "40"])
    assert result.exit_code == 0, result.output
    assert "estimate: 40 examples" in result.output and not (tmp_path / "dry").exists()
    result = runner.invoke(main, ["build", str(path), "-o", str(tmp_path / "x"), "--num-examples", "0"])
    assert result.exit_code == 1 and "num_examples" in result.output and not (tmp_path / "x").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**config.to_dict(), "snr_db": [30, 10]}))
    result = runner.invoke(main, ["build", str(bad), "-o", str(tmp_path / "y")])
    assert result.exit_code == 1 and "bad.yaml: snr_db: min must be <= max" in result.output
    assert not (tmp_path / "y").exists()


def test_float_wav_build_repeats_byte_for_byte(corpus, tmp_path):
    config = small_config(corpus, num_examples=2, output={"format": "wav", "subtype": "FLOAT"})
    build(config, tmp_path / "a", workers=1, progress=False)
    time.sleep(1.1)  # libsndfile would stamp a different second into float WAV headers
    build(config, tmp_path / "b", workers=1, progress=False)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert validate(tmp_path / "a", progress=False).ok


def test_simulated_rooms_in_float_give_the_same_bytes_for_any_worker_count(corpus, tmp_path):
    config = small_config(
        corpus,
        num_examples=24,
        reverb={"probability": 1.0, "room": {"rt60_s": [0.2, 1.2]}},
        output={"format": "wav", "subtype": "FLOAT", "shard_size": 6},
    )
    build(config, tmp_path / "one", workers=1, progress=False)
    build(config, tmp_path / "two", workers=2, progress=False)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")
