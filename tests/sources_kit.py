"""Shared pieces of the corpus-source tests: tiny audio files, and "catalogue, build, validate".

Each source's test builds a tiny but faithful instance of its layout or manifest in the test
itself (real file names, real metadata formats), catalogues it with `catalog_corpus`, and hands
the catalogs to `build_and_validate`, which builds a small denoising dataset and validates it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import speechlike

from audiosynth.build import build
from audiosynth.catalog import Catalog, read_catalog
from audiosynth.config import config_from_dict
from audiosynth.corpora import catalog_corpus
from audiosynth.dataset.validate import validate

RATE = 16000


def speech_file(path: Path, seconds: float, f0: float = 120.0, rate: int = RATE, seed: int = 0, **write: object) -> np.ndarray:
    """Write a speech-like file (any format soundfile writes, by suffix); return its samples."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = speechlike(np.random.default_rng(seed), seconds, rate, f0)
    sf.write(path, audio, rate, **write)  # type: ignore[arg-type]
    return audio


def noise_file(path: Path, seconds: float, rate: int = RATE, seed: int = 1, channels: int = 1) -> np.ndarray:
    """Write white noise at about -20 dBFS RMS."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = (0.1 * np.random.default_rng(seed).standard_normal((int(seconds * rate), channels))).astype(np.float32)
    sf.write(path, audio if channels > 1 else audio[:, 0], rate)
    return audio


def rir_file(path: Path, rt60: float = 0.4, rate: int = RATE, seed: int = 2, channels: int = 1) -> None:
    """Write an exponentially decaying noise RIR with a direct-path peak (RT60 ``rt60`` s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.5 * rate)) / rate
    rir = 0.05 * rng.standard_normal((channels, t.size)) * np.exp(-6.91 * t / rt60) * (t > 0.004)
    rir[:, 16] = 1.0
    sf.write(path, rir.T.astype(np.float32), rate, subtype="FLOAT")


def catalog(layout: str, root: Path, out: Path, **options: object) -> Catalog:
    """Catalogue with one worker and no progress bar; return the catalog read back."""
    catalog_corpus(layout, root, out, workers=1, progress=False, **options)  # type: ignore[arg-type]
    return read_catalog(out)


def rejects(out: Path) -> list[dict]:
    """The rejects rows written beside catalog ``out``."""
    path = out.with_name(f"{out.stem}.rejects.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def build_and_validate(out: Path, speech: list[Path], noise: list[Path] = (), rirs: list[Path] = (), **changes: object) -> list[dict]:
    """Build a small denoising dataset (1 worker) from these catalogs, validate it (must be OK),
    and return its manifest rows."""
    data: dict = {
        "catalogs": {"speech": [str(p) for p in speech], "noise": [str(p) for p in noise], "rirs": [str(p) for p in rirs]},
        "num_examples": 4,
        "duration_s": [1.0, 1.5],
        "snr_db": [0, 10],
        "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
        "noise_probability": 1.0 if noise else 0.0,
        "output": {"shard_size": 2},
    }
    if rirs:
        data["reverb"] = {"probability": 1.0, "source": "catalog"}
    data.update(changes)
    build(config_from_dict(data), out, workers=1, progress=False)
    report = validate(out, progress=False)
    assert report.ok, report.format()
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
