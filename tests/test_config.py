from pathlib import Path

import pytest

from audiosynth.config import load_config, config_from_dict
from audiosynth.errors import ConfigError

BASE = {"catalogs": {"speech": "s.jsonl", "noise": "n.jsonl"}}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"snr_db": [20, 5]}, r"x\.yaml: snr_db: min must be <= max \(got \[20\.0, 5\.0\]\)"),
        ({"reverb": {"room": {"rt60_s": [-1, 2]}}}, r"reverb\.room\.rt60_s: must be > 0"),
        ({"bogus": 1}, r"bogus: unknown field \(got 1\)"),
        ({"output": {"format": "flac", "subtype": "FLOAT"}}, r"output: FLAC cannot store FLOAT"),
        ({"sample_rate": "16k"}, r"sample_rate: .*integer.*\(got '16k'\)"),
        ({"splits": {"train": 0.5, "dev": 0.1, "test": 0.1}}, r"splits: train \+ dev \+ test must be 1"),
        ({"catalogs": {"speech": "s.jsonl"}}, r"x\.yaml: catalogs\.noise: noise_probability > 0 needs"),
        ({"reverb": {"probability": 1.5}}, r"reverb\.probability: .*less than or equal to 1"),
        ({"speech_level_dbfs": [-20, 3]}, r"speech_level_dbfs: must be <= 0 dBFS"),
        ({"reverb": {"probability": 0.5, "source": "catalog"}}, r"catalogs\.rirs: reverb\.source is 'catalog'"),
    ],
)
def test_errors_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**BASE, **change}, source="x.yaml")


def test_yaml_paths_resolve_against_config_folder(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("catalogs:\n  speech: ../s.jsonl\n  noise: [/abs/n.jsonl]\nsnr_db: [0, 5]\n")
    config = load_config(path)
    assert config.catalogs.speech == [str((tmp_path / "s.jsonl").resolve())]
    assert config.catalogs.noise == ["/abs/n.jsonl"]
    assert config.snr_db == (0.0, 5.0)


def test_yaml_errors_name_the_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("catalogs: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_are_validated_and_fingerprinted():
    config = config_from_dict(BASE)
    changed = config.with_overrides(seed=5, num_examples=None)
    assert changed.seed == 5 and changed.num_examples == config.num_examples
    assert changed.fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match="num_examples"):
        config.with_overrides(num_examples=0)
