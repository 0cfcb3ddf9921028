"""The task registry: a task is one planning piece found by the config's ``task`` name, so a new
task (here a toy one, defined and registered in the test) is planned, rendered and built with no
edit elsewhere; the built-in pieces answer what the checks of a built dataset ask of them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import small_config
from test_golden import RECIPES, recipe_config

from audiosynth.build import build
from audiosynth.build.limits import longest_example_s
from audiosynth.catalog import read_catalog, write_catalog
from audiosynth.dataset.ranges import label_ranges
from audiosynth.dsp.kernels import resampled_length
from audiosynth.errors import ConfigError, PreflightError
from audiosynth.plan import Planner, load_catalogs, speaker_of
from audiosynth.plan.clips import choice
from audiosynth.plan.noise import draw_noise
from audiosynth.plan.tasks import TASKS, Task, example_id, register, task_names, task_of
from audiosynth.render import render
from audiosynth.scene import Scene, Segment, Source

GAP_S = (0.1, 0.3)  # the toy task's silence between its two turns


class Interview(Task):
    """A toy task: two talkers one after the other, a drawn gap between their whole utterances."""

    name = "interview"

    def max_talkers(self, config):
        return 2

    def plan(self, planner, rng, split, index):
        config, rate = planner.config, planner.sample_rate
        speakers = planner.by_speaker[split]
        names = sorted(speakers)
        clips = [choice(rng, speakers[names[k]]) for k in rng.choice(len(names), 2, replace=False)]
        first = resampled_length(clips[0].num_samples, clips[0].sample_rate, rate)
        onset = first + int(rng.uniform(*GAP_S) * rate)
        segments = [Segment(clips[0].id, 0, clips[0].num_samples), Segment(clips[1].id, 0, clips[1].num_samples, onset)]
        num_samples = onset + resampled_length(clips[1].num_samples, clips[1].sample_rate, rate)
        level = float(rng.uniform(*config.speech_level_dbfs))
        noise = draw_noise(rng, config, planner.noise[split], num_samples)
        sources = tuple(Source(f"s{k + 1}", segment, level) for k, segment in enumerate(segments))
        return Scene(
            example_id(split, index), index, split, rate, num_samples, sources, noise, peak_dbfs=config.output.peak_dbfs, type=self.name
        )

    def duration_bounds_length(self, config):
        return False


@pytest.fixture
def interview():
    """The toy task, registered for one test only."""
    task = register(Interview())
    yield task
    del TASKS[task.name]


def test_a_task_is_refused_until_it_is_registered(corpus, interview):
    del TASKS["interview"]
    with pytest.raises(ConfigError, match=r"task: must be a registered task: asr, denoising, .*\(got 'interview'\)"):
        small_config(corpus, task="interview")
    register(interview)
    assert small_config(corpus, task="interview").task == "interview"


def test_a_registered_toy_task_plans_its_scenes(corpus, interview):
    config = small_config(corpus, task="interview", num_examples=20)
    planner = Planner(config, load_catalogs(config))
    scenes = [planner.scene(i) for i in range(20)]
    again = Planner(config, load_catalogs(config))
    assert [again.scene(i) for i in reversed(range(20))][::-1] == scenes  # pure in (seed, index), as every task
    rate = config.sample_rate
    for scene in scenes:
        assert scene.type == "interview" and [s.role for s in scene.sources] == ["s1", "s2"]
        assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene
        first, second = (planner.catalogs.speech.by_id(s.segment.clip_id) for s in scene.sources)
        assert speaker_of(first) != speaker_of(second)
        assert {speaker_of(first), speaker_of(second)} <= set(planner.speakers[scene.split])
        gap = scene.sources[1].segment.onset - resampled_length(first.num_samples, first.sample_rate, rate)
        assert GAP_S[0] * rate - 1 <= gap <= GAP_S[1] * rate
        assert scene.num_samples == scene.sources[1].segment.onset + resampled_length(second.num_samples, second.sample_rate, rate)
        assert config.snr_db[0] <= scene.noise.snr_db <= config.snr_db[1]


def test_the_planner_asks_the_task_how_many_speakers_a_split_needs(corpus, interview, tmp_path):
    speech = read_catalog(corpus["speech"])
    five = [dataclasses.replace(c, path=str(speech.resolve(c))) for c in speech if c.speaker != "spk5"]  # 3 splits of 2 each need 6
    write_catalog(five, tmp_path / "speech.jsonl")
    config = small_config({**corpus, "speech": tmp_path / "speech.jsonl"}, task="interview")
    with pytest.raises(PreflightError, match=r"5 speakers cannot fill 3 disjoint splits .* with 2 each"):
        Planner(config, load_catalogs(config))
    assert Planner(small_config({**corpus, "speech": tmp_path / "speech.jsonl"}), load_catalogs(config)).max_talkers == 1


def test_a_toy_task_renders_and_builds_with_no_edit_elsewhere(corpus, interview, tmp_path):
    config = small_config(corpus, task="interview", num_examples=6, output={"shard_size": 3, "format": "wav", "subtype": "FLOAT"})
    planner = Planner(config, load_catalogs(config))
    scene = planner.scene(0)
    rendered = render(scene, planner.catalogs.all(), "FLOAT")
    audio = rendered.audio
    assert set(audio) == {"mix", "s1", "s2", "noise"}
    assert np.max(np.abs(audio["mix"] - (audio["s1"] + audio["s2"] + audio["noise"]))) < 1e-6
    onset = scene.sources[1].segment.onset
    assert np.sum(audio["s1"][:, onset:] ** 2) == 0 and np.sum(audio["s2"][:, :onset] ** 2) == 0  # one after the other
    assert np.sum(audio["s1"] ** 2) > 0 and np.sum(audio["s2"] ** 2) > 0
    assert build(config, tmp_path / "ds", workers=1, progress=False).num_built == 6
    rows = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert {row["scene"]["type"] for row in rows} == {"interview"}
    assert all(set(row["audio"]) >= {"mix", "s1", "s2", "noise"} for row in rows)
    assert [Scene.from_dict(row["scene"]) for row in rows] == [planner.scene(i) for i in range(6)]


def test_the_registry_holds_the_built_in_tasks_and_refuses_clashes():
    assert task_names() == ("asr", "denoising", "diarization", "separation", "target_speaker")
    assert all(task_of(name).name == name for name in task_names())
    with pytest.raises(ValueError, match="task 'asr' is already registered"):
        register(type("Other", (Task,), {"name": "asr"})())
    with pytest.raises(ValueError, match="not an identifier"):
        register(type("Bad", (Task,), {"name": "../x"})())
    with pytest.raises(ValueError, match=r"unknown task 'nope' \(registered: asr, denoising"):
        task_of("nope")
    assert task_names() == ("asr", "denoising", "diarization", "separation", "target_speaker")


def test_what_each_task_asks_of_clips_and_config(corpus):
    assert task_of("asr").needs_text and not task_of("denoising").needs_text
    with pytest.raises(ConfigError, match=r"talkers\.enrollment: task 'target_speaker' needs enrollment: true"):
        small_config(corpus, task="target_speaker", talkers={"count": [2, 2]})
    diarization = small_config(corpus, task="diarization", session={"speakers": [2, 3], "duration_s": [5.0, 8.0]})
    assert task_of("diarization").max_talkers(diarization) == 3
    assert task_of("separation").max_talkers(small_config(corpus, task="separation", talkers={"count": [2, 4]})) == 4


VARIANTS = {
    "": {},
    "+3talkers": {"talkers": {"count": [1, 3], "overlap": "ratio"}},
    "+2talkers_max": {"talkers": {"count": [2, 2], "overlap": "max"}},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", RECIPES)
def test_the_task_facts_agree_with_the_checks_of_a_built_dataset(name, variant):
    """What a task says about its examples (length bound, longest example, level and SIR labels) is
    what the memory pre-flight (build/limits.py) and the label ranges (dataset/ranges.py) assume."""
    changes = VARIANTS[variant] if name != "diarization" else {}
    if name == "target_speaker" and changes:
        changes = {"talkers": {**changes["talkers"], "enrollment": True}}
    config = recipe_config(name, "pcm", **changes)
    task, catalogs = task_of(config.task), load_catalogs(config)
    longest_clip_s = max(c.duration for c in catalogs.speech)
    assert task.longest_example_s(config, longest_clip_s) == longest_example_s(config, catalogs)
    checked = {r.name for r in label_ranges(config.to_dict())}
    assert task.duration_bounds_length(config) == ("duration_s" in checked)
    assert task.labels_speech_level(config) == ("speech_level_dbfs" in checked)
    assert task.labels_sir(config) == ("talkers.sir_db" in checked)


CHORUS_RECIPE = '''"""A recipe with a task of its own: two talkers cropped to the shorter (a chorus)."""
from audiosynth.plan import register
from audiosynth.plan.tasks import TalkerTask
from audiosynth.recipe import recipe_parser, run_recipe


class Chorus(TalkerTask):
    name = "chorus"


register(Chorus())  # at module level: the build's worker processes (spawned) import this script too
SETTINGS = {"task": "chorus", "talkers": {"count": [2, 2], "overlap": "min"}, "output": {"shard_size": 2}}

if __name__ == "__main__":
    run_recipe(recipe_parser(__doc__, SETTINGS).parse_args(), SETTINGS)
'''


def test_a_new_task_is_a_piece_plus_a_recipe_even_with_worker_processes(tmp_path):
    """The recipe registers its task; spawned workers of the process pool find it too, and validate passes."""
    script = tmp_path / "chorus.py"
    script.write_text(CHORUS_RECIPE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(script), "-o", str(tmp_path / "ds"), "--num-examples", "6", "--workers", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validated 6 examples: OK" in done.stdout + done.stderr
    rows = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {row["scene"]["type"] for row in rows} == {"chorus"}
    for row in rows:
        onsets = {s["segment"]["onset"] for s in row["scene"]["sources"]}
        assert [s["role"] for s in row["scene"]["sources"]] == ["s1", "s2"] and onsets == {0}


def test_a_task_the_worker_processes_cannot_find_is_one_line(tmp_path):
    """Registered only under ``if __name__ == "__main__"``, a task is unknown to the spawned workers:
    the build ends with one ``error:`` line that says so (no pool traceback), and nothing is marked done."""
    script = tmp_path / "hidden.py"
    script.write_text(
        CHORUS_RECIPE.replace("register(Chorus())  # at module level", "# not at module level").replace(
            "    run_recipe(", "    register(Chorus())\n    run_recipe("
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(script), "-o", str(tmp_path / "ds"), "--num-examples", "6", "--workers", "2", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "worker process" in errors[0] and "chorus" in errors[0], done.stderr[-2000:]
    assert "at import time" in errors[0]
    assert not list((tmp_path / "ds" / "shards").glob("*.jsonl"))
