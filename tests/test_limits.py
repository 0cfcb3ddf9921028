"""Bounded resources: absurd values refused in one line naming the field, memory cost refused in
pre-flight with the cost shown, and a dry run that renders a bounded amount of audio."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import small_config

from audiosynth.build import build
from audiosynth.build import worker as build_module
from audiosynth.build.estimate import PROBE_BUDGET_S
from audiosynth.build.limits import example_memory
from audiosynth.build.worker import render_example
from audiosynth.cli import main
from audiosynth.config import config_from_dict, load_config
from audiosynth.errors import ConfigError, PreflightError
from audiosynth.plan import Planner, load_catalogs

BASE = {"catalogs": {"speech": "s.jsonl", "noise": "n.jsonl"}}


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("catalogs:\n  speech: s.jsonl\n  noise: n.jsonl\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("snr_db: [.nan, 10]\n", r"bad\.yaml: snr_db: NaN is not allowed \(got \[nan, 10\.0\]\)"),
        ("duration_s: [1, .inf]\n", r"bad\.yaml: duration_s: Inf is not allowed \(got \[1\.0, inf\]\)"),
        ("reverb:\n  room:\n    rt60_s: [0.2, .nan]\n", r"bad\.yaml: reverb\.room\.rt60_s: NaN is not allowed"),
        ("noise_probability: .nan\n", r"bad\.yaml: noise_probability: NaN is not allowed \(got nan\)"),
    ],
)
def test_nan_and_inf_in_yaml_name_the_file_field_and_value(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as failure:
        load_config(_yaml(tmp_path, text))
    assert "\n" not in str(failure.value) and "None" not in str(failure.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sample_rate": 1}, r"x\.yaml: sample_rate: .*greater than or equal to 1000 \(got 1\)"),
        ({"sample_rate": 100}, r"x\.yaml: sample_rate: .*greater than or equal to 1000"),
        ({"sample_rate": 1_000_000_000}, r"x\.yaml: sample_rate: .*less than or equal to 384000"),
        ({"duration_s": [1e-6, 1e-6]}, r"x\.yaml: duration_s: must be >= 0\.05 s \(got \[1e-06, 1e-06\]\)"),
        ({"session": {"duration_s": [1e-6, 1.0]}}, r"x\.yaml: session\.duration_s: must be >= 0\.05 s"),
        ({"session": {"pause_s": [0.1, 1e5]}}, r"x\.yaml: session\.pause_s: must satisfy 0 <= min <= max <= 60 s"),
        ({"reverb": {"early_s": 1000}}, r"x\.yaml: reverb\.early_s: .*less than or equal to 1"),
        ({"limits": {"max_example_memory_gb": 0}}, r"x\.yaml: limits\.max_example_memory_gb: .*greater than 0"),
    ],
)
def test_absurd_values_are_refused_naming_the_field(change, message):
    with pytest.raises(ConfigError, match=message) as failure:
        config_from_dict({**BASE, **change}, source="x.yaml")
    assert "\n" not in str(failure.value)


def test_tiny_values_are_one_line_on_the_command_line(corpus, tmp_path):
    data = small_config(corpus).to_dict()
    for change in ({"sample_rate": 100}, {"duration_s": [1e-6, 1e-6]}):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({**data, **change}))
        result = CliRunner().invoke(main, ["build", str(path), "-o", str(tmp_path / "ds"), "--dry-run"])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.startswith(f"Error: {path}: ") and len(result.output.strip().splitlines()) == 1


def test_a_sample_rate_too_low_for_the_room_simulation_is_refused_in_preflight(corpus, tmp_path):
    config = small_config(corpus, sample_rate=1000, reverb={"probability": 1.0}, allow_upsampling=True)
    with pytest.raises(PreflightError, match=r"reverb\.early_s: 0\.08 s is too short at sample_rate 1000 Hz: .*at least 0\.09\d+ s"):
        build(config, tmp_path / "ds", workers=1, progress=False, dry_run=True)
    build(
        small_config(corpus, sample_rate=1000, reverb={"probability": 1.0, "early_s": 0.1}, num_examples=2),
        tmp_path / "ok",
        workers=1,
        progress=False,
    )


def _session(corpus, minutes: float, speakers: int = 3, **changes: object):
    return small_config(
        corpus,
        task="diarization",
        num_examples=3,
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
        session={"speakers": [2, speakers], "duration_s": [60 * minutes, 60 * minutes]},
        **changes,
    )


def test_a_ten_hour_session_is_refused_in_preflight_with_the_cost(corpus, tmp_path, monkeypatch):
    rendered = []
    monkeypatch.setattr(build_module, "load_scene", lambda scene, *a, **k: rendered.append(scene) or pytest.fail("rendered"))
    with pytest.raises(
        PreflightError,
        match=r"session\.duration_s: up to 360\d\d s at 16000 Hz needs ~\d+(\.\d+)? GB "
        r"per example to render \(limit 4 GB: limits\.max_example_memory_gb\)",
    ):
        build(_session(corpus, 600), tmp_path / "ds", workers=1, progress=False, dry_run=True)
    assert not rendered and not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("reverb", "field"),
    [
        ({"probability": 1.0, "simulator": "pyroomacoustics", "room": {"rt60_s": [0.5, 5.0]}}, r"reverb\.room\.rt60_s: RT60 up to 5 s"),
        ({"probability": 1.0, "early_s": 1.0, "room": {"length_m": [3, 4], "width_m": [3, 4], "height_m": [2.4, 3]}}, r"reverb\.early_s: "),
    ],
)
def test_rooms_whose_simulation_exhausts_memory_are_refused(corpus, tmp_path, reverb, field):
    config = small_config(corpus, reverb=reverb, limits={"max_example_memory_gb": 0.5})
    with pytest.raises(PreflightError, match=field + r".*needs ~[\d.]+ GB per example to render \(limit 0\.5 GB"):
        build(config, tmp_path / "ds", workers=1, progress=False, dry_run=True)


def test_the_memory_model_bounds_the_measured_peak(corpus):
    """The cost model is an upper bound of the measured peak of rendering and encoding, and not a
    loose one (within 4x), for a 1-minute session in a simulated room."""
    from audiosynth.dataset.folder import example_files

    config = _session(corpus, 1, reverb={"probability": 1.0})
    catalogs = load_catalogs(config)
    planner, clips = Planner(config, catalogs), catalogs.all()
    tracemalloc.start()
    try:
        rendered, _ = render_example(planner, 0, clips, config)
        example_files(rendered, "flac", "PCM_16")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cost, field, seconds = example_memory(config, catalogs)
    assert field == "session.duration_s" and seconds >= rendered.scene.duration
    assert peak < cost < 4 * peak, (peak, cost)


def test_a_dry_run_renders_a_bounded_amount_of_audio(corpus, tmp_path, monkeypatch):
    """A config of 20-minute sessions (allowed) is estimated from at most PROBE_BUDGET_S seconds
    of rendered audio, and the estimate still counts the planned hours."""
    samples = []
    real = build_module.load_scene

    def counting(scene, *args, **kwargs):
        samples.append(scene.num_samples)
        return real(scene, *args, **kwargs)

    monkeypatch.setattr(build_module, "load_scene", counting)
    config = _session(corpus, 20, limits={"max_example_memory_gb": 8})
    est = build(config, tmp_path / "ds", workers=1, progress=False, dry_run=True)
    assert 0 < sum(samples) <= PROBE_BUDGET_S * config.sample_rate
    assert est.audio_hours == pytest.approx(3 * 20 / 60, rel=0.05)
    assert not (tmp_path / "ds").exists()


def test_the_chunked_overlap_add_is_bit_identical_and_bounded(monkeypatch):
    """Long signals are convolved a chunk of blocks at a time: the same bits as one batched call."""
    import numpy as np

    from audiosynth.dsp import kernels

    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 1, 400_000))
    h = rng.standard_normal((3, 2, 9000)) * np.exp(-np.arange(9000) / 2000)
    h[..., :37] = 0  # a leading delay, as RIRs have
    whole = kernels.fft_convolve(x, h, 400_000)
    for chunk in (1, 1_000_000, 1_400_000):  # 1, 2 and 3 blocks a call
        monkeypatch.setattr(kernels, "OLA_CHUNK", chunk)
        assert np.array_equal(kernels.fft_convolve(x, h, 400_000), whole), chunk
    monkeypatch.setattr(kernels, "OLA_CHUNK", 1 << 40)
    assert np.array_equal(kernels.fft_convolve(x, h, 400_000), whole)


def test_the_memory_limit_does_not_change_the_fingerprint(corpus):
    assert small_config(corpus).fingerprint() == small_config(corpus, limits={"max_example_memory_gb": 64}).fingerprint()
