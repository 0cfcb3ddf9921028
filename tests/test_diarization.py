"""Diarization sessions: turns, activity labels measured on the written talker files, RTTM."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import small_config

from audiosynth.build import build
from audiosynth.dataset.validate import validate
from audiosynth.plan import Planner, load_catalogs

SESSION = {"speakers": [2, 3], "duration_s": [20, 30], "overlap_probability": 0.3}


@pytest.fixture(scope="module")
def session_dataset(corpus, tmp_path_factory):
    config = small_config(
        corpus,
        task="diarization",
        num_examples=4,
        session=SESSION,
        reverb={"probability": 0.5},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    out = tmp_path_factory.mktemp("diar") / "ds"
    build(config, out, workers=1, progress=False)
    return config, out, [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_sessions_are_built_from_turns(session_dataset):
    config, out, rows = session_dataset
    planner = Planner(config, load_catalogs(config))
    for row in rows:
        scene = planner.scene(row["scene"]["index"])
        roles = sorted({s.role for s in scene.sources})
        assert 2 <= len(roles) <= 3 and len(scene.sources) > len(roles)  # several turns per talker
        assert 20 <= row["duration"] <= 30 + 6  # the last turn may run past the drawn length
        assert set(row["audio"]) == {"mix", "noise", *roles}
        mix, _ = sf.read(out / row["audio"]["mix"], dtype="int16")
        images = sum(sf.read(out / row["audio"][r], dtype="int16")[0].astype(int) for r in roles)
        noise, _ = sf.read(out / row["audio"]["noise"], dtype="int16")
        assert np.array_equal(mix.astype(int), images + noise.astype(int))
        texts = {seg["clip"]: seg["text"] for seg in row["labels"]["segments"]}
        assert all(planner.catalogs.speech.by_id(c).text == t for c, t in texts.items())


def test_rttm_follows_the_activity_of_the_written_files(session_dataset):
    _, out, rows = session_dataset
    for row in rows:
        rttm = [line.split() for line in (out / row["rttm"]).read_text().splitlines()]
        assert rttm and all(f[0] == "SPEAKER" and f[1] == row["id"] for f in rttm)
        speaker_role = {a["speaker"]: a["role"] for a in row["labels"]["activity"]}
        for fields in rttm:
            start, end = float(fields[3]), float(fields[3]) + float(fields[4])
            signal, rate = sf.read(out / row["audio"][speaker_role[fields[7]]], dtype="float64")
            frame = rate // 100
            energy = np.array([np.sum(signal[k : k + frame] ** 2) for k in range(0, len(signal), frame)])
            loud = energy >= energy.max() * 10 ** (-40 / 10)
            first, last = round(start * 100), round(end * 100) - 1
            # the segment starts and ends on active 10 ms frames, and the frame before / after is quiet
            assert loud[first] and loud[last]
            assert first == 0 or not loud[first - 1]
            assert last == len(loud) - 1 or not loud[last + 1]
        labels = row["labels"]
        assert 0.3 < labels["speech_ratio"] <= 1.0 and 0 <= labels["activity_overlap_ratio"] < 0.5


def test_validate_checks_rttm_and_activity(session_dataset, tmp_path):
    _, out, rows = session_dataset
    assert validate(out, progress=False).ok
    import shutil

    broken = tmp_path / "ds"
    shutil.copytree(out, broken)
    path = broken / rows[0]["rttm"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")
    report = validate(broken, progress=False)
    assert not report.ok and any("does not match labels.activity" in p for p in report.problems)


def test_dry_run_estimates_session_hours(corpus, tmp_path):
    config = small_config(
        corpus,
        task="diarization",
        num_examples=4,
        session={"speakers": [2, 2], "duration_s": [20, 25]},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    estimate = build(config, tmp_path / "dry", workers=1, progress=False, dry_run=True)
    assert 4 * 20 / 3600 <= estimate.audio_hours <= 4 * 31 / 3600  # from the sessions, not duration_s
    assert not (tmp_path / "dry").exists()


def test_sessions_with_catalog_rirs_are_refused_not_left_dry(corpus):
    """Sessions are reverberated in simulated rooms only: asking for catalog RIRs must not give dry sessions silently."""
    from audiosynth.errors import PreflightError

    config = small_config(
        corpus,
        task="diarization",
        num_examples=2,
        session=SESSION,
        reverb={"source": "catalog", "probability": 0.5},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    with pytest.raises(PreflightError, match=r"reverb.source: 'catalog'.*diarization.*simulated"):
        Planner(config, load_catalogs(config))
