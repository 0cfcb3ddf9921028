"""Recipes: the options every recipe shares (catalog RIRs, reverb source and probability,
splits), one-line refusals, and whole sentences in ``--help``."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from audiosynth.catalog import Clip, relative_audio_path, write_catalog
from audiosynth.errors import ConfigError
from audiosynth.plan import demo_dir
from audiosynth.recipe import parse_splits, recipe_parser, recipe_settings

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO / "recipes").glob("*.py"))
SETTINGS = {
    "task": "denoising",
    "reverb": {"probability": 0.5, "source": "simulated", "room": {"rt60_s": [0.2, 0.8]}},
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
}


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / "recipes" / script), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


def _first_paragraph(script: Path) -> str:
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc
    return " ".join(doc.split("\n\n")[0].split())


@pytest.mark.parametrize("script", RECIPES, ids=lambda p: p.stem)
def test_help_shows_the_whole_first_paragraph_of_the_docstring(script: Path) -> None:
    result = _run(script.name, "--help")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n\n")
    assert blocks[0].startswith("usage:")
    description = " ".join(blocks[1].split())
    assert description == _first_paragraph(script)
    assert description.endswith(".")
    assert "(default: None)" not in result.stdout


def _settings(argv: list[str], reverb: tuple[str, ...] = ("simulated", "catalog", "none"), settings: dict = SETTINGS) -> dict:
    args = recipe_parser("A recipe.", settings, reverb=reverb).parse_args(["-o", "out", *argv])
    return recipe_settings(args, settings, reverb=reverb)


def test_rirs_select_catalog_reverb_and_the_options_set_source_and_probability() -> None:
    plain = _settings([])
    assert plain["reverb"]["source"] == "simulated" and plain["reverb"]["probability"] == 0.5
    assert plain["catalogs"]["rirs"] == []
    given = _settings(["--rirs", "my_rirs.jsonl"])
    assert given["reverb"]["source"] == "catalog" and given["catalogs"]["rirs"] == ["my_rirs.jsonl"]
    assert given["reverb"]["room"] == SETTINGS["reverb"]["room"]
    demo = _settings(["--reverb", "catalog", "--reverb-probability", "1"])
    assert demo["reverb"] == {**SETTINGS["reverb"], "source": "catalog", "probability": 1.0}
    assert demo["catalogs"]["rirs"] == [str(demo_dir() / "rirs.jsonl")]
    assert _settings(["--reverb", "none"])["reverb"]["probability"] == 0.0
    assert _settings(["--reverb-probability", "0.25"])["reverb"] == {**SETTINGS["reverb"], "probability": 0.25}


def test_contradictory_reverb_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"--rirs.*--reverb simulated"):
        _settings(["--rirs", "x.jsonl", "--reverb", "simulated"])
    with pytest.raises(ConfigError, match=r"--reverb-probability.*--reverb none"):
        _settings(["--reverb", "none", "--reverb-probability", "0.5"])
    with pytest.raises(ConfigError, match=r"--reverb-probability: must lie in \[0, 1\]"):
        _settings(["--reverb-probability", "1.5"])
    forced = ("simulated", "catalog")  # a recipe whose examples must be reverberant
    with pytest.raises(ConfigError, match=r"--reverb: this recipe needs reverb"):
        _settings(["--reverb", "none"], forced)
    with pytest.raises(ConfigError, match=r"--reverb-probability: this recipe needs reverb"):
        _settings(["--reverb-probability", "0"], forced)
    with pytest.raises(ConfigError, match=r"--rirs: this recipe simulates its rooms"):
        _settings(["--rirs", "x.jsonl"], ("simulated",))


def test_split_options() -> None:
    assert parse_splits("train=0.7,dev=0.2,test=0.1") == {"train": 0.7, "dev": 0.2, "test": 0.1}
    assert parse_splits("0.6,0.2,0.2") == {"train": 0.6, "dev": 0.2, "test": 0.2}
    assert parse_splits("dev=1") == {"train": 0.0, "dev": 1.0, "test": 0.0}
    for bad, why in (
        ("train=0.5,val=0.5", "name each of train, dev, test at most once"),
        ("0.5,0.5", "give train=X,dev=Y,test=Z or three numbers"),
        ("train=x", "shares must be numbers"),
        ("train=0.5,train=0.5", "name each of train, dev, test at most once"),
    ):
        with pytest.raises(ValueError, match=re.escape(f"{why} (got {bad!r})")):
            parse_splits(bad)
    splits = _settings(["--splits", "0.6,0.2,0.2", "--ignore-catalog-splits"])["splits"]
    assert splits == {"train": 0.6, "dev": 0.2, "test": 0.2, "use_catalog_splits": False}
    assert _settings([])["splits"] == SETTINGS["splits"]


@pytest.fixture(scope="module")
def dev_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LibriSpeech-like speech catalog whose every clip declares split 'dev'."""
    root = tmp_path_factory.mktemp("dev_only")
    rng = np.random.default_rng(3)
    clips = []
    for s in range(4):
        for u in range(2):
            path = root / f"spk{s}_{u}.flac"
            sf.write(path, speechlike(rng, 3.5, 16000, 100 + 20 * s), 16000, subtype="PCM_16")
            clips.append(
                Clip(
                    f"ld-{s}-{u}",
                    relative_audio_path(path, root),
                    "speech",
                    sf.info(path).duration,
                    16000,
                    1,
                    speaker=f"ld{s}",
                    text="SOME WORDS",
                    split="dev",
                    corpus="librispeech",
                )
            )
    write_catalog(clips, root / "dev.jsonl")
    return root / "dev.jsonl"


def test_a_preflight_refusal_prints_one_line(dev_only: Path, tmp_path: Path) -> None:
    result = _run(
        "denoising.py", "-o", str(tmp_path / "out"), "--num-examples", "4", "--speech", str(dev_only), "--workers", "1", "--no-progress"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "use_catalog_splits: false" in lines[0], result.stderr
    result = _run("dereverberation.py", "-o", str(tmp_path / "out"), "--reverb", "none")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "error: --reverb: this recipe needs reverb in every example; choose simulated or catalog"
    ]


def test_recipe_builds_with_catalog_rirs_and_ignored_catalog_splits(dev_only: Path, tmp_path: Path) -> None:
    rirs = str(demo_dir() / "rirs.jsonl")
    result = _run(
        "denoising.py",
        "-o",
        str(tmp_path / "out"),
        "--num-examples",
        "6",
        "--speech",
        str(dev_only),
        "--rirs",
        rirs,
        "--reverb-probability",
        "1",
        "--ignore-catalog-splits",
        "--splits",
        "train=0.5,dev=0.5",
        "--workers",
        "1",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "dev"}
    assert all(s["rir_clip"] for r in rows for s in r["scene"]["sources"]) and all(r["scene"]["room"] is None for r in rows)
    assert all(s["rir_clip"].startswith("demo-rir-") for r in rows for s in r["scene"]["sources"])
