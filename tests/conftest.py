"""Fixtures: a small synthetic corpus made in code (speech-like tones, noises, a delta RIR)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosynth.catalog import Clip, relative_audio_path, write_catalog
from audiosynth.config import Config, config_from_dict


def speechlike(rng: np.random.Generator, seconds: float, rate: int, f0: float) -> np.ndarray:
    """A speech-like signal: harmonics of a wobbling f0 plus a broadband (fricative-like) part,
    under a syllable-rate envelope. The broadband part keeps cross-correlations unambiguous."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) * (t > 0.05) * (t < seconds - 0.05)
    fricative = rng.standard_normal(t.size) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.3 * t))
    return (0.2 * (voice + fricative) * envelope + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


def make_corpus(root: Path, speakers: int = 6, per_speaker: int = 3, rate: int = 16000) -> dict[str, Path]:
    """Write speech, noise and RIR clips plus their catalogs under ``root``."""
    rng = np.random.default_rng(7)
    speech, noise, rirs = [], [], []
    for s in range(speakers):
        for u in range(per_speaker):
            seconds = 1.5 + 0.5 * u + 0.1 * s
            path = root / "speech" / f"spk{s}" / f"spk{s}_{u}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, speechlike(rng, seconds, rate, 100 + 20 * s), rate, subtype="PCM_16")
            speech.append(
                Clip(
                    f"spk{s}-{u}",
                    relative_audio_path(path, root),
                    "speech",
                    sf.info(path).duration,
                    rate,
                    1,
                    speaker=f"spk{s}",
                    text=f"UTTERANCE {u} OF SPEAKER {s}",
                    gender="female" if s % 2 else "male",
                )
            )
    for k, seconds in enumerate([3.0, 8.0]):
        path = root / "noise" / f"noise{k}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate, subtype="PCM_16")
        noise.append(Clip(f"noise{k}", relative_audio_path(path, root), "noise", sf.info(path).duration, rate, 1))
    path = root / "rirs" / "decay.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(0.5 * rate)) / rate
    rir = 0.05 * rng.standard_normal(t.size) * np.exp(-6.91 * t / 0.4) * (t > 0.004)  # RT60 0.4 s
    rir[16] = 1.0  # the direct path, 1 ms in, before the reflections
    sf.write(path, rir.astype(np.float32), rate, subtype="FLOAT")
    rirs.append(Clip("rir-0.4", relative_audio_path(path, root), "rir", sf.info(path).duration, rate, 1))
    out = {"speech": root / "speech.jsonl", "noise": root / "noise.jsonl", "rirs": root / "rirs.jsonl"}
    for name, clips in (("speech", speech), ("noise", noise), ("rirs", rirs)):
        write_catalog(clips, out[name])
    return out


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Catalog paths of a synthetic corpus shared by the session (read-only)."""
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def small_config(corpus: dict[str, Path], **changes: object) -> Config:
    """A quick denoising config over the synthetic corpus."""
    data = {
        "catalogs": {k: str(v) for k, v in corpus.items()},
        "num_examples": 12,
        "duration_s": [1.0, 2.5],
        "snr_db": [-5, 15],
        "output": {"shard_size": 4},
    }
    data.update(changes)
    return config_from_dict(data)


@pytest.fixture(scope="session")
def folder_and_shards(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, Path]:
    """One config built as a folder and as WebDataset shards (1 worker, 10 examples, shards of 4)."""
    from audiosynth.build import build

    root = tmp_path_factory.mktemp("folder_and_shards")
    config = small_config(corpus, num_examples=10, reverb={"probability": 0.3, "source": "catalog"})
    build(config, root / "folder", workers=1, progress=False)
    build(config, root / "wds", workers=1, progress=False, format="webdataset")
    return config, root / "folder", root / "wds"
