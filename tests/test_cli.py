import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from click.testing import CliRunner
from conftest import speechlike

from audiosynth.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_catalog_rejects_bad_files_and_the_build_still_completes(tmp_path: Path):
    rng = np.random.default_rng(3)
    for s in range(4):
        for u in range(2):
            path = tmp_path / "speech" / f"spk{s}" / f"u{u}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, speechlike(rng, 2.0, 16000, 120 + 30 * s), 16000)
    (tmp_path / "speech" / "spk0" / "garbage.wav").write_bytes(b"not audio at all" * 64)
    sf.write(tmp_path / "speech" / "spk1" / "silent.wav", np.zeros(16000), 16000)
    sf.write(tmp_path / "speech" / "spk2" / "nan.wav", np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    (tmp_path / "speech" / "spk3" / "empty.flac").write_bytes(b"")
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "white.wav", 0.1 * rng.standard_normal(48000), 16000)
    runner = CliRunner()
    result = runner.invoke(main, ["catalog", "folder", str(tmp_path / "speech"), "--kind", "speech", "-o", str(tmp_path / "speech.jsonl")])
    assert result.exit_code == 0, result.output
    assert "catalogued 8 clips" in result.output and "rejected 4 files" in result.output
    rejects = {Path(r["path"]).name: r["reason"] for r in map(json.loads, (tmp_path / "speech.rejects.jsonl").read_text().splitlines())}
    assert rejects == {"garbage.wav": "not_audio", "silent.wav": "silent", "nan.wav": "nan", "empty.flac": "empty"}
    result = runner.invoke(main, ["catalog", "folder", str(tmp_path / "noise"), "--kind", "noise", "-o", str(tmp_path / "noise.jsonl")])
    assert result.exit_code == 0, result.output
    config = {
        "catalogs": {"speech": "speech.jsonl", "noise": "noise.jsonl"},
        "num_examples": 10,
        "duration_s": [1.0, 2.0],
        "splits": {"train": 0.5, "dev": 0.25, "test": 0.25},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(main, ["build", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "ds"), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["validate", str(tmp_path / "ds"), "--no-progress"])
    assert result.exit_code == 0 and "validated 10 examples: OK" in result.output


def test_catalog_cli_names_a_bad_root(tmp_path: Path):
    result = CliRunner().invoke(main, ["catalog", "librispeech", str(tmp_path), "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1 and str(tmp_path) in result.output


def test_denoising_recipe_runs_on_the_demo_corpus(tmp_path: Path):
    script = REPO / "recipes" / "denoising.py"
    assert "--num-examples" in subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, check=True).stdout
    out = tmp_path / "ds"
    result = subprocess.run(
        [sys.executable, script, "-o", out, "--num-examples", "12", "--seed", "3", "--workers", "1", "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "validated 12 examples: OK" in result.stdout
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "dev", "test"}
    assert any(r["scene"]["room"] for r in rows) and any(not r["scene"]["room"] for r in rows)
    assert all(r["labels"]["speaker"].startswith("spk") for r in rows)


def test_reverberant_recipes_write_aligned_targets(tmp_path: Path):
    for name, mics in (("dereverberation", 1), ("multichannel_denoising", 4)):
        out = tmp_path / name
        result = subprocess.run(
            [sys.executable, REPO / "recipes" / f"{name}.py", "-o", out, "--num-examples", "6", "--workers", "1", "--no-progress"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert "validated 6 examples: OK" in result.stdout
        for row in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()):
            assert set(row["audio"]) == {"mix", "clean", "noise", "clean_direct", "clean_early"}
            assert row["num_channels"] == mics and len(row["labels"]["distance_m"]) == mics
            for role in row["audio"]:
                info = sf.info(out / row["audio"][role])
                assert info.channels == mics and info.frames == round(row["duration"] * row["sample_rate"])
            assert 0.15 < row["labels"]["rt60_s"] < 1.4


def test_talker_recipes(tmp_path: Path):
    runs = {"separation": ["--talkers", "2", "--overlap", "min"], "target_speaker": [], "asr": ["--talkers", "2"]}
    for name, extra in runs.items():
        out = tmp_path / name
        result = subprocess.run(
            [sys.executable, REPO / "recipes" / f"{name}.py", "-o", out, "--num-examples", "8", "--workers", "1", "--no-progress", *extra],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert "validated 8 examples: OK" in result.stdout
        rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        for row in rows:
            assert {"mix", "s1", "s2", "noise"} <= set(row["audio"]) and len(row["labels"]["segments"]) == 2
        if name == "target_speaker":
            assert all(r["labels"]["target_speaker"] == r["labels"]["segments"][0]["speaker"] and "enrollment" in r["audio"] for r in rows)
        if name == "asr":
            assert all(seg["text"] for r in rows for seg in r["labels"]["segments"])


def test_single_talker_asr_never_crops(corpus, tmp_path: Path):
    from conftest import small_config

    from audiosynth.plan import Planner, load_catalogs

    config = small_config(corpus, task="asr", num_examples=20, duration_s=[0.5, 1.0], min_speech_ratio=0.2)
    planner = Planner(config, load_catalogs(config))
    for i in range(20):
        scene = planner.scene(i)
        seg = scene.sources[0].segment
        clip = planner.catalogs.speech.by_id(seg.clip_id)
        assert seg.offset == 0 and seg.length == clip.num_samples and scene.num_samples >= clip.num_samples


def test_diarization_recipe(tmp_path: Path):
    out = tmp_path / "diar"
    result = subprocess.run(
        [
            sys.executable,
            REPO / "recipes" / "diarization.py",
            "-o",
            out,
            "--num-examples",
            "2",
            "--minutes",
            "0.3",
            "0.4",
            "--speakers",
            "2",
            "3",
            "--workers",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "validated 2 examples: OK" in result.stdout
    for row in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()):
        assert (out / row["rttm"]).read_text().startswith(f"SPEAKER {row['id']} 1 ")
        assert 18 <= row["duration"] <= 30


def test_export_command(corpus, tmp_path: Path):
    from conftest import small_config

    from audiosynth.build import build

    build(small_config(corpus, num_examples=6), tmp_path / "ds", workers=1, progress=False)
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(tmp_path / "ds"), "--to", "kaldi", "-o", str(tmp_path / "kaldi")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert len((tmp_path / "kaldi" / "train" / "wav.scp").read_text().splitlines()) == len(train)
    result = runner.invoke(main, ["export", str(tmp_path / "ds"), "--to", "rttm", "-o", str(tmp_path / "rttm")])
    assert result.exit_code == 1 and "rttm" in result.output and "segments" in result.output


def test_webdataset_build_and_shard_commands(corpus, tmp_path: Path):
    config = tmp_path / "c.yaml"
    from conftest import small_config

    config.write_text(yaml.safe_dump(small_config(corpus, num_examples=8).to_dict()))
    runner = CliRunner()
    result = runner.invoke(
        main, ["build", str(config), "-o", str(tmp_path / "wds"), "--format", "webdataset", "--workers", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "wds" / "shards").glob("shard-*.tar"))) == 2
    result = runner.invoke(main, ["validate", str(tmp_path / "wds"), "--no-progress"])
    assert result.exit_code == 0 and "validated" in result.output and ": OK" in result.output
    result = runner.invoke(main, ["shards", "to-folder", str(tmp_path / "wds"), "-o", str(tmp_path / "folder")])
    assert result.exit_code == 0 and "wrote 8 examples" in result.output, result.output
    assert runner.invoke(main, ["validate", str(tmp_path / "folder"), "--no-progress"]).exit_code == 0
    result = runner.invoke(main, ["shards", "from-folder", str(tmp_path / "folder"), "-o", str(tmp_path / "again"), "--shard-size", "3"])
    assert result.exit_code == 0 and "wrote 3 shards, 8 examples" in result.output, result.output
