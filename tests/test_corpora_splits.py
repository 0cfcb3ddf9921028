"""The corpora users have: catalogs that declare splits beside catalogs that do not, a corpus
that declares one split only, and multichannel noise files."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from audiosynth.catalog import Clip, read_catalog, relative_audio_path, write_catalog
from audiosynth.config import config_from_dict
from audiosynth.corpora import catalog_corpus
from audiosynth.errors import AudioError, ConfigError, PreflightError
from audiosynth.plan import Planner, load_catalogs, partition, speaker_of
from audiosynth.render import render

RATE = 16000


def _speakers(root: Path, name: str, speakers: range, split: str | None, per_speaker: int = 2) -> Path:
    """A catalog of ``speakers`` (each ``per_speaker`` utterances), every clip declaring ``split``."""
    rng = np.random.default_rng(len(name))
    clips = []
    for s in speakers:
        for u in range(per_speaker):
            path = root / name / f"spk{s}_{u}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, speechlike(rng, 2.0, RATE, 100 + 10 * s), RATE, subtype="PCM_16")
            clips.append(
                Clip(
                    f"{name}-{s}-{u}",
                    relative_audio_path(path, root),
                    "speech",
                    sf.info(path).duration,
                    RATE,
                    1,
                    speaker=f"{name}{s}",
                    text="A TEXT",
                    split=split,
                    corpus=name,
                )
            )
    write_catalog(clips, root / f"{name}.jsonl")
    return root / f"{name}.jsonl"


def _config(speech: list[Path], noise: Path, **changes: object):
    data = {
        "catalogs": {"speech": [str(p) for p in speech], "noise": str(noise)},
        "num_examples": 10,
        "duration_s": [1.0, 2.0],
        "output": {"shard_size": 5},
    }
    data.update(changes)
    return config_from_dict(data)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpora")
    noise = root / "noise.wav"
    sf.write(noise, (0.1 * np.random.default_rng(0).standard_normal(4 * RATE)).astype(np.float32), RATE, subtype="PCM_16")
    write_catalog([Clip("n0", "noise.wav", "noise", 4.0, RATE, 1)], root / "noise.jsonl")
    return {
        "noise": root / "noise.jsonl",
        "libri_train": _speakers(root, "lt", range(4), "train"),
        "libri_dev": _speakers(root, "ld", range(3), "dev"),
        "vctk": _speakers(root, "vctk", range(10), None),
        "vctk_declared": _speakers(root, "vd", range(2), "test"),
    }


def _planner(config) -> Planner:
    return Planner(config, load_catalogs(config))


# -- catalog splits -------------------------------------------------------------------------


def test_speakers_without_declared_split_are_partitioned_beside_declared_ones(corpora: dict[str, Path]) -> None:
    planner = _planner(_config([corpora["libri_train"], corpora["libri_dev"], corpora["vctk"]], corpora["noise"]))
    split_of = {spk: name for name, spks in planner.speakers.items() for spk in spks}
    assert {s for s in split_of if s.startswith("lt")} == {f"lt{k}" for k in range(4)}
    assert all(split_of[f"lt{k}"] == "train" for k in range(4)) and all(split_of[f"ld{k}"] == "dev" for k in range(3))
    vctk = {s: n for s, n in split_of.items() if s.startswith("vctk")}
    assert len(vctk) == 10, "undeclared speakers vanished"
    assert sorted(split_sizes(vctk)) == [1, 1, 8]  # 80/10/10 of ten speakers
    # partitioned by seed alone: the declared catalogs do not move an undeclared speaker
    alone = _planner(_config([corpora["vctk"]], corpora["noise"]))
    with_other = _planner(_config([corpora["vctk_declared"], corpora["vctk"]], corpora["noise"]))
    for p in (alone, with_other):
        assert {s: n for n, spks in p.speakers.items() for s in spks if s.startswith("vctk")} == vctk
    reseeded = _planner(_config([corpora["libri_train"], corpora["vctk"]], corpora["noise"], seed=5))
    assert {s: n for n, spks in reseeded.speakers.items() for s in spks if s.startswith("vctk")} != vctk
    # every example's speaker is in its split; the undeclared speakers are drawn from too
    used = set()
    for i in range(10):
        scene = planner.scene(i)
        speaker = speaker_of(planner.catalogs.speech.by_id(scene.sources[0].segment.clip_id))
        assert split_of[speaker] == scene.split
        used.add(speaker)
    assert any(s.startswith("vctk") for s in used) and any(s.startswith("lt") for s in used)


def split_sizes(mapping: dict[str, str]) -> list[int]:
    """How many speakers each split of ``mapping`` (speaker -> split) holds."""
    return list(Counter(mapping.values()).values())


def test_no_declared_split_keeps_the_seeded_partition_of_every_speaker(corpora: dict[str, Path]) -> None:
    planner = _planner(_config([corpora["vctk"]], corpora["noise"]))
    speakers = sorted(f"vctk{k}" for k in range(10))
    assert planner.speakers == partition(speakers, planner.config.splits.fractions(), np.random.default_rng([0, 1]), "speakers")


def test_a_dev_only_corpus_names_the_cause_and_the_remedy(corpora: dict[str, Path]) -> None:
    config = _config([corpora["libri_dev"]], corpora["noise"])
    with pytest.raises(
        PreflightError,
        match=r"split 'train'.*every speaker of the catalogs declares a split \(dev: 3 speakers\)"
        r".*splits\.use_catalog_splits: false.*splits\.train: 0",
    ) as err:
        _planner(config)
    assert "\n" not in str(err.value)


def test_use_catalog_splits_false_partitions_every_speaker_by_seed(corpora: dict[str, Path]) -> None:
    paths = [corpora["libri_dev"], corpora["vctk"]]
    ignoring = _planner(_config(paths, corpora["noise"], splits={"use_catalog_splits": False}))
    everyone = sorted({speaker_of(c) for c in ignoring.catalogs.speech})
    assert ignoring.speakers == partition(everyone, ignoring.config.splits.fractions(), np.random.default_rng([0, 1]), "speakers")
    assert {ignoring.scene(i).split for i in range(10)} == {"train", "dev", "test"}
    with pytest.raises(ConfigError, match=r"splits\.use_catalog_splits"):
        _config(paths, corpora["noise"], splits={"use_catalog_splits": "maybe"})


def test_a_dev_only_corpus_builds_a_dev_only_dataset(corpora: dict[str, Path]) -> None:
    planner = _planner(_config([corpora["libri_dev"]], corpora["noise"], splits={"train": 0, "dev": 1, "test": 0}))
    assert planner.counts == {"train": 0, "dev": 10, "test": 0}
    assert {planner.scene(i).split for i in range(10)} == {"dev"}


def test_a_speaker_declared_in_two_splits_is_refused_with_the_remedy(corpora: dict[str, Path], tmp_path: Path) -> None:
    clips = list(read_catalog(corpora["libri_dev"]))
    clips[1] = dataclasses.replace(clips[1], split="test")  # same speaker as clips[0]
    write_catalog(clips, tmp_path / "crossing.jsonl")
    with pytest.raises(PreflightError, match=r"speaker 'ld0' appears in catalog splits \['dev', 'test'\].*use_catalog_splits: false"):
        _planner(_config([tmp_path / "crossing.jsonl"], corpora["noise"]))
    _planner(_config([tmp_path / "crossing.jsonl"], corpora["noise"], splits={"use_catalog_splits": False}))


# -- multichannel noise ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def stereo_noise(tmp_path_factory: pytest.TempPathFactory, corpora: dict[str, Path]) -> Path:
    """A 2-channel noise file, white noise on channel 0 and a 440 Hz tone on channel 1,
    catalogued by the `catalog` step with ``max_channels=2``."""
    root = tmp_path_factory.mktemp("stereo")
    t = np.arange(5 * RATE) / RATE
    channels = np.stack([0.2 * np.random.default_rng(1).standard_normal(t.size), 0.3 * np.sin(2 * np.pi * 440 * t)], axis=1)
    (root / "noise").mkdir()
    sf.write(root / "noise" / "stereo.wav", channels.astype(np.float32), RATE, subtype="FLOAT")
    catalog_corpus("folder", root / "noise", root / "noise.jsonl", kind="noise", max_channels=2, workers=1)
    assert [c.num_channels for c in read_catalog(root / "noise.jsonl")] == [2]
    return root / "noise.jsonl"


def _stereo_planner(corpora: dict[str, Path], noise: Path, policy: str | None, seed: int = 0) -> Planner:
    extra = {} if policy is None else {"noise_channels": policy}
    return _planner(_config([corpora["vctk"]], noise, seed=seed, output={"format": "wav", "subtype": "FLOAT", "shard_size": 5}, **extra))


def _fit(noise: np.ndarray, reference: np.ndarray) -> float:
    """Relative residual of the least-squares fit of ``noise`` by a scaled ``reference``."""
    gain = float(noise @ reference) / float(reference @ reference)
    return float(np.linalg.norm(noise - gain * reference) / np.linalg.norm(noise))


def _rendered_noise(planner: Planner, index: int) -> tuple[np.ndarray, np.ndarray, dict]:
    scene = planner.scene(index)
    rendered = render(scene, planner.catalogs.all(), "FLOAT")
    segment = scene.noise.segment
    clip = planner.catalogs.noise.by_id(segment.clip_id)
    source, _ = sf.read(planner.catalogs.noise.resolve(clip), frames=segment.length, start=segment.offset, always_2d=True)
    assert rendered.audio["noise"].shape == (1, scene.num_samples)
    return rendered.audio["noise"][0], source.T[:, : scene.num_samples], {**rendered.labels, "_scene": scene, "_audio": rendered.audio}


def _check_snr(labels: dict) -> None:
    audio = labels["_audio"]
    speech, noise = audio["mix"] - audio["noise"], audio["noise"]
    assert labels["snr_db"] == pytest.approx(10 * np.log10(np.sum(speech**2) / np.sum(noise**2)), abs=1e-3)
    assert labels["snr_db"] == pytest.approx(labels["_scene"].noise.snr_db, abs=1e-3)


def test_multichannel_noise_is_refused_by_default_with_the_remedy(corpora: dict[str, Path], stereo_noise: Path) -> None:
    with pytest.raises(PreflightError, match=r"noise clip '.*stereo.*' has 2 channels.*noise_channels: downmix, first or random"):
        _stereo_planner(corpora, stereo_noise, None)
    with pytest.raises(ConfigError, match="noise_channels"):
        _stereo_planner(corpora, stereo_noise, "left")


def test_downmixed_noise_is_the_mean_of_the_channels(corpora: dict[str, Path], stereo_noise: Path) -> None:
    noise, source, labels = _rendered_noise(_stereo_planner(corpora, stereo_noise, "downmix"), 0)
    assert _fit(noise, source.mean(axis=0)) < 1e-6
    assert _fit(noise, source[0]) > 0.3 and _fit(noise, source[1]) > 0.3
    _check_snr(labels)


def test_first_channel_noise_is_channel_zero(corpora: dict[str, Path], stereo_noise: Path) -> None:
    noise, source, labels = _rendered_noise(_stereo_planner(corpora, stereo_noise, "first"), 0)
    assert _fit(noise, source[0]) < 1e-6 and _fit(noise, source[1]) > 0.9
    _check_snr(labels)


def test_random_channel_noise_is_drawn_in_planning_and_saved_in_the_scene(corpora: dict[str, Path], stereo_noise: Path) -> None:
    planner = _stereo_planner(corpora, stereo_noise, "random")
    again = _stereo_planner(corpora, stereo_noise, "random")
    channels = []
    for i in range(10):
        scene = planner.scene(i)
        assert scene == again.scene(i) and scene.noise.channel in (0, 1)
        assert type(scene).from_dict(scene.to_dict()) == scene
        channels.append(scene.noise.channel)
    assert set(channels) == {0, 1}
    for i in (channels.index(0), channels.index(1)):
        noise, source, labels = _rendered_noise(planner, i)
        assert _fit(noise, source[labels["_scene"].noise.channel]) < 1e-6
        assert _fit(noise, source[1 - labels["_scene"].noise.channel]) > 0.9
        _check_snr(labels)
    other_seed = _stereo_planner(corpora, stereo_noise, "random", seed=3)
    assert [other_seed.scene(i).noise.channel for i in range(10)] != channels


def test_mono_noise_scenes_are_unchanged_by_the_channel_policy(corpora: dict[str, Path]) -> None:
    plain = _planner(_config([corpora["vctk"]], corpora["noise"]))
    for policy in ("downmix", "first", "random"):
        other = _planner(_config([corpora["vctk"]], corpora["noise"], noise_channels=policy))
        assert [other.scene(i).to_dict() for i in range(5)] == [plain.scene(i).to_dict() for i in range(5)]
        assert "channel" not in plain.scene(0).to_dict()["noise"]


def test_multichannel_noise_with_an_array_is_one_point_source(corpora: dict[str, Path], stereo_noise: Path) -> None:
    reverb = {"probability": 1.0, "room": {"rt60_s": [0.2, 0.3], "array": {"type": "linear", "num_mics": 2}}}
    planner = _planner(
        _config(
            [corpora["vctk"]],
            stereo_noise,
            noise_channels="first",
            reverb=reverb,
            output={"format": "wav", "subtype": "FLOAT", "shard_size": 5},
        )
    )
    scene = planner.scene(0)
    assert scene.noise.channel == 0 and scene.noise.position == 1  # placed in the room like a mono noise
    rendered = render(scene, planner.catalogs.all(), "FLOAT")
    assert rendered.audio["noise"].shape == rendered.audio["mix"].shape == (2, scene.num_samples)
    _check_snr({**rendered.labels, "_scene": scene, "_audio": rendered.audio})


def test_a_noise_file_with_fewer_channels_than_its_row_is_a_bad_clip(corpora: dict[str, Path], tmp_path: Path) -> None:
    clip = dataclasses.replace(next(iter(read_catalog(corpora["noise"]))), num_channels=2)
    write_catalog([dataclasses.replace(clip, path=str(corpora["noise"].parent / clip.path))], tmp_path / "noise.jsonl")
    planner = _stereo_planner(corpora, tmp_path / "noise.jsonl", "random")
    index = next(i for i in range(10) if planner.scene(i).noise.channel == 1)
    with pytest.raises(AudioError, match="wrong_channels") as err:
        render(planner.scene(index), planner.catalogs.all(), "FLOAT")
    assert err.value.clip_id == clip.id
