import dataclasses
from pathlib import Path

import pytest
from conftest import small_config

from audiosynth.catalog import read_catalog, write_catalog
from audiosynth.errors import PreflightError
from audiosynth.plan import Planner, load_catalogs, plan, speaker_of, split_counts
from audiosynth.scene import Scene


@pytest.fixture
def planner(corpus):
    config = small_config(corpus, num_examples=40, reverb={"probability": 0.5})
    return Planner(config, load_catalogs(config))


def test_scenes_are_pure_functions_of_seed_and_index(planner, corpus):
    forward = [planner.scene(i) for i in range(40)]
    again = Planner(planner.config, load_catalogs(planner.config))
    assert [again.scene(i) for i in reversed(range(40))][::-1] == forward
    assert plan(planner.config, planner.catalogs, planner.config.seed, 7) == forward[7]
    other_seed = Planner(planner.config.with_overrides(seed=1), planner.catalogs)
    assert sum(other_seed.scene(i) != forward[i] for i in range(40)) >= 38


def test_scene_round_trips_through_dict(planner):
    for i in range(40):
        scene = planner.scene(i)
        assert Scene.from_dict(scene.to_dict()) == scene
    assert any(planner.scene(i).room for i in range(40)) and any(not planner.scene(i).room for i in range(40))
    newer = {**planner.scene(0).to_dict(), "version": 99}
    with pytest.raises(ValueError, match="version 99"):
        Scene.from_dict(newer)


def test_splits_never_share_a_speaker(planner):
    speakers = {
        name: {
            speaker_of(planner.catalogs.speech.by_id(s.sources[0].segment.clip_id))
            for s in map(planner.scene, range(40))
            if s.split == name
        }
        for name in ("train", "dev", "test")
    }
    assert speakers["train"] and speakers["dev"] and speakers["test"]
    assert not (speakers["train"] & speakers["dev"] or speakers["train"] & speakers["test"] or speakers["dev"] & speakers["test"])
    counts = split_counts(40, planner.config.splits.fractions())
    assert counts == {"train": 32, "dev": 4, "test": 4}
    assert [planner.split_of(i) for i in (0, 31, 32, 35, 36, 39)] == ["train", "train", "dev", "dev", "test", "test"]


def test_scene_fits_the_example(planner):
    config = planner.config
    for i in range(40):
        scene = planner.scene(i)
        seg = scene.sources[0].segment
        clip = planner.catalogs.speech.by_id(seg.clip_id)
        assert config.duration_s[0] * 16000 - 1 <= scene.num_samples <= config.duration_s[1] * 16000 + 1
        assert seg.offset + seg.length <= clip.num_samples
        assert seg.onset + seg.length <= scene.num_samples or seg.onset == 0
        assert config.snr_db[0] <= scene.noise.snr_db <= config.snr_db[1]


def test_disjoint_noise_keeps_noise_clips_apart(corpus):
    config = small_config(corpus, num_examples=20, splits={"train": 0.5, "dev": 0.5, "test": 0.0, "disjoint_noise": True})
    planner = Planner(config, load_catalogs(config))
    used = {n: {s.noise.segment.clip_id for s in map(planner.scene, range(20)) if s.split == n} for n in ("train", "dev")}
    assert used["train"] and used["dev"] and not used["train"] & used["dev"]
    three = small_config(corpus, splits={"disjoint_noise": True})
    with pytest.raises(PreflightError, match="2 noise clips cannot fill 3 disjoint splits"):
        Planner(three, load_catalogs(three))


def test_preflight_refuses_what_cannot_work(corpus, tmp_path: Path):
    config = small_config(corpus, sample_rate=48000)
    with pytest.raises(PreflightError, match="sample_rate 48000 Hz is above every clip's rate"):
        Planner(config, load_catalogs(config))
    upsampled = small_config(corpus, sample_rate=48000, allow_upsampling=True)
    assert Planner(upsampled, load_catalogs(upsampled)).scene(0).sample_rate == 48000
    config = small_config(corpus, duration_s=[20, 30])
    with pytest.raises(PreflightError, match=r"no usable speech clip.*shorter_than_10s"):
        Planner(config, load_catalogs(config))
    # two speakers only: three splits cannot be speaker-disjoint
    two = [c for c in read_catalog(corpus["speech"]) if c.speaker in ("spk0", "spk1")]
    two = [dataclasses.replace(c, path=str(read_catalog(corpus["speech"]).resolve(c))) for c in two]
    write_catalog(two, tmp_path / "two.jsonl")
    config = small_config({**corpus, "speech": tmp_path / "two.jsonl"})
    with pytest.raises(PreflightError, match="2 speakers cannot fill 3 disjoint splits"):
        Planner(config, load_catalogs(config))
    untranscribed = [dataclasses.replace(c, text=None) for c in two]
    write_catalog(untranscribed, tmp_path / "notext.jsonl")
    config = small_config({**corpus, "speech": tmp_path / "notext.jsonl"}, require_text=True)
    with pytest.raises(PreflightError, match="no_text"):
        Planner(config, load_catalogs(config))


def test_catalog_splits_are_kept(corpus, tmp_path: Path):
    catalog = read_catalog(corpus["speech"])
    names = {"spk0": "dev", "spk1": "test"}
    clips = [dataclasses.replace(c, path=str(catalog.resolve(c)), split=names.get(c.speaker, "train")) for c in catalog]
    write_catalog(clips, tmp_path / "split.jsonl")
    config = small_config({**corpus, "speech": tmp_path / "split.jsonl"}, num_examples=20)
    planner = Planner(config, load_catalogs(config))
    assert planner.speakers["dev"] == ("spk0",) and planner.speakers["test"] == ("spk1",)
    crossing = [*clips, dataclasses.replace(clips[0], id="x", split="train")]
    write_catalog(crossing, tmp_path / "cross.jsonl")
    config = small_config({**corpus, "speech": tmp_path / "cross.jsonl"})
    with pytest.raises(PreflightError, match="speaker 'spk0' appears in catalog splits"):
        Planner(config, load_catalogs(config))
