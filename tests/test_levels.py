"""The level / SNR-definition registry: today's one entry (``power``) is the gain, the label and
the check; a definition registered by name changes all three together."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import small_config

from audiosynth.build import build
from audiosynth.dataset.ranges import label_ranges
from audiosynth.dataset.validate import check_row
from audiosynth.dsp import kernels
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import levels, render
from audiosynth.render.labels import LABEL_DEFINITIONS


class PeakLevels(levels.LevelDefinition):
    """A toy definition for the test: ratios and levels of peaks instead of energies."""

    def ratio_db(self, signal: Any, interference: Any) -> float:
        return 20.0 * float(np.log10(kernels.peak(signal) / kernels.peak(interference)))

    def gain_for_ratio(self, signal: Any, interference: Any, ratio_db: float) -> float:
        return kernels.db_to_gain(self.ratio_db(signal, interference) - ratio_db)

    def speech_level_dbfs(self, image: Any, span: Any) -> float:
        return kernels.peak_dbfs(image[0, span])

    def ratio_from_levels_db(self, signal_dbfs: float, interference_dbfs: float) -> float | None:
        return None  # RMS labels do not tell a peak ratio


@pytest.fixture
def peak_levels(monkeypatch: pytest.MonkeyPatch) -> levels.LevelDefinition:
    definition = PeakLevels("peak", snr_db_text="peak ratio", speech_level_text="peak over the utterance")
    monkeypatch.setitem(levels.LEVEL_DEFINITIONS, "peak", definition)
    return definition


def named(scene: Any, name: str) -> Any:
    """``scene`` with its level definition named ``name``."""
    if "level_definition" in {f.name for f in dataclasses.fields(scene)}:
        return dataclasses.replace(scene, level_definition=name)
    object.__setattr__(scene, "level_definition", name)  # a Scene without the field yet: the renderer reads the attribute
    return scene


def test_power_is_the_default_and_the_only_entry() -> None:
    assert list(levels.LEVEL_DEFINITIONS) == ["power"] and levels.DEFAULT_LEVEL_DEFINITION == "power"
    assert levels.level_definition() is levels.level_definition("power") is levels.POWER
    assert levels.scene_level_definition({}) is levels.POWER  # a manifest row's scene that names none
    with pytest.raises(ValueError, match=r"unknown level definition 'p56' \(known: power\)"):
        levels.level_definition("p56")
    assert LABEL_DEFINITIONS["snr_db"] == levels.POWER.snr_db_text
    assert LABEL_DEFINITIONS["speech_level_dbfs"] == levels.POWER.speech_level_text


def test_power_measures_energy_over_all_samples() -> None:
    rng = np.random.default_rng(0)
    s, n = rng.standard_normal((2, 4000)), 0.1 * rng.standard_normal((2, 4000))
    assert levels.POWER.ratio_db(s, n) == pytest.approx(10 * np.log10(np.sum(s**2) / np.sum(n**2)), abs=1e-9)
    g = levels.POWER.gain_for_ratio(s, n, 7.0)
    assert levels.POWER.ratio_db(s, g * n) == pytest.approx(7.0, abs=1e-9)
    span = slice(1000, 3000)
    assert levels.POWER.speech_level_dbfs(s, span) == pytest.approx(10 * np.log10(np.mean(s[0, 1000:3000] ** 2)), abs=1e-9)
    assert levels.POWER.speech_level_dbfs(levels.POWER.gain_for_level(s, span, -30.0) * s, span) == pytest.approx(-30.0, abs=1e-9)
    assert levels.POWER.ratio_from_levels_db(-20.0, -26.5) == 6.5


def test_a_registered_definition_sets_the_gain_and_the_label(corpus: dict[str, Path], peak_levels: levels.LevelDefinition) -> None:
    config = small_config(
        corpus,
        num_examples=6,
        task="separation",
        talkers={"count": [2, 2], "sir_db": [-3, 3]},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    apart = 0
    for i in range(6):
        scene = named(planner.scene(i), "peak")
        r = render(scene, catalogs.all())
        speech, noise = r.audio["s1"] + r.audio["s2"], r.audio["noise"]
        assert r.labels["snr_db"] == pytest.approx(peak_levels.ratio_db(speech, noise), abs=1e-4)  # the label: the definition
        assert r.labels["snr_db"] == pytest.approx(scene.noise.snr_db, abs=0.05)  # the gain: the definition
        assert r.labels["sir_db"]["s1"] == pytest.approx(peak_levels.ratio_db(r.audio["s1"], r.audio["s2"]), abs=1e-4)
        assert peak_levels.ratio_db(r.audio["s1"], r.audio["s2"]) == pytest.approx(scene.sources[1].sir_db, abs=0.05)
        first = scene.sources[0]
        span = slice(first.segment.onset, first.segment.onset + first.segment.length)
        assert r.labels["speech_level_dbfs"] == pytest.approx(first.level_dbfs + r.labels["gain_db"], abs=0.01)
        assert kernels.peak_dbfs(r.audio["s1"][0, span]) == pytest.approx(r.labels["speech_level_dbfs"], abs=1e-3)
        apart += abs(kernels.power_ratio_db(speech, noise) - scene.noise.snr_db) > 0.5  # not the power ratio
    assert apart >= 3


def test_the_check_follows_the_definition_a_row_names(corpus: dict[str, Path], tmp_path: Path, peak_levels: levels.LevelDefinition) -> None:
    config = small_config(
        corpus, num_examples=4, task="separation", talkers={"count": [2, 2]}, splits={"train": 1.0, "dev": 0.0, "test": 0.0}
    )
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert check_row(out, row) == []  # written and checked with power
    as_peak = {**row, "scene": {**row["scene"], "level_definition": "peak"}}
    problems = check_row(out, as_peak)
    assert any(p.startswith("snr_db label") for p in problems) and any(p.startswith("sir_db[s1] label") for p in problems), problems
    with pytest.raises(ValueError, match="unknown level definition 'nope'"):
        check_row(out, {**row, "scene": {**row["scene"], "level_definition": "nope"}})
    sir_range = next(r for r in label_ranges(json.loads((out / "build.json").read_text())["config"]) if r.name == "talkers.sir_db")
    assert sir_range.values(row) == [row["labels"]["s1_dbfs"] - row["labels"]["s2_dbfs"]]
    assert sir_range.values(as_peak) == []  # peaks cannot be told from the RMS labels: not checked
    assert sir_range.values({**row, "scene": {"level_definition": "nope"}}) == []
