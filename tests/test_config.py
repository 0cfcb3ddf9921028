from pathlib import Path

import pytest

from audiosynth.config import config_from_dict, load_config
from audiosynth.errors import ConfigError

BASE = {"catalogs": {"speech": "s.jsonl", "noise": "n.jsonl"}}


@pytest.mark.parametrize(
    ("change", "message"),
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
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_are_validated_and_fingerprinted():
    config = config_from_dict(BASE)
    changed = config.with_overrides(seed=5, num_examples=None)
    assert changed.seed == 5 and changed.num_examples == config.num_examples
    assert changed.fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match="num_examples"):
        config.with_overrides(num_examples=0)


def test_several_errors_are_one_bounded_line(tmp_path: Path):
    """Several fields wrong, Inf in both ends of a range, a 1 MB value: one line, each error once, values cut."""
    with pytest.raises(ConfigError) as err:
        config_from_dict(
            {**BASE, "seed": -1, "snr_db": [float("inf")] * 2, "x": "y" * 1_000_000, "num_examples": "z" * 10_000}, source="x.yaml"
        )
    text = str(err.value)
    assert "\n" not in text and len(text) < 2000, text[:300]
    assert text.startswith("x.yaml: ") and text.count("snr_db: Inf is not allowed") == 1
    assert all(name in text for name in ("seed:", "x: unknown field", "num_examples:")), text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"snr_db: [1, 2\n", r"c\.yaml: not valid YAML \(expected ',' or '\]', but got '<stream end>' at line 2, column 1\)$"),
        (b"reverb:\n\tprobability: 1\n", r"c\.yaml: not valid YAML \(found character '\\t' that cannot start any token at line 2"),
        (b"seed: 1\x00\n", r"c\.yaml: not valid YAML \(unacceptable character #x0000 at position 7\)$"),
        (b"x: !!python/object/apply:os.system ['true']\n", r"c\.yaml: not valid YAML \(could not determine a constructor .* at line 1"),
        (b"x: " + b"[" * 20000 + b"]" * 20000 + b"\n", r"c\.yaml: not valid YAML \(nested too deeply\)$"),
    ],
)
def test_yaml_errors_are_one_line(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_a_symlink_loop_catalog_path_is_kept_for_the_reader(tmp_path: Path):
    (tmp_path / "loop.jsonl").symlink_to("loop.jsonl")
    (tmp_path / "c.yaml").write_text("catalogs:\n  speech: loop.jsonl\nnoise_probability: 0\n")
    assert load_config(tmp_path / "c.yaml").catalogs.speech == [str(tmp_path / "loop.jsonl")]
