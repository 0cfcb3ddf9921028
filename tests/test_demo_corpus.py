"""Checks on the demo corpus shipped in data_manifests/demo (no espeak-ng needed)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosynth.catalog import Catalog, Clip, read_catalog

DEMO = Path(__file__).resolve().parents[1] / "data_manifests" / "demo"
SR = 16000
TEXT_RE = re.compile(r"^[A-Z']+( [A-Z']+)*$")


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    """The three shipped catalogs, keyed by kind."""
    return {kind: read_catalog(DEMO / f"{name}.jsonl") for kind, name in (("speech", "speech"), ("noise", "noise"), ("rir", "rirs"))}


def load(catalog: Catalog, clip: Clip) -> np.ndarray:
    """A clip's samples as float64."""
    audio, rate = sf.read(catalog.resolve(clip), dtype="float64")
    assert rate == SR
    return audio


def dbfs(value: float) -> float:
    """Amplitude in dB relative to full scale."""
    return 20 * np.log10(max(value, 1e-12))


def schroeder_rt60(h: np.ndarray, sr: int, hi_db: float = -5.0, lo_db: float = -25.0) -> float:
    """RT60 extrapolated from a line fit to the Schroeder decay curve between ``hi_db`` and ``lo_db``."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    idx = np.flatnonzero((edc_db <= hi_db) & (edc_db >= lo_db))
    assert idx.size > 10, "decay does not span the -5..-25 dB fit range"
    slope = np.polyfit(idx / sr, edc_db[idx], 1)[0]
    assert slope < 0
    return -60.0 / slope


def test_schroeder_rt60_recovers_known_decay() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * SR)) / SR
    for rt60 in (0.3, 0.8):
        h = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60)  # amplitude falls 60 dB per rt60
        assert schroeder_rt60(h, SR) == pytest.approx(rt60, rel=0.05)


def test_catalog_rows_are_valid(catalogs: dict[str, Catalog]) -> None:
    ids: list[str] = []
    for kind, catalog in catalogs.items():
        assert len(catalog) > 0
        for clip in catalog:
            assert clip.kind == kind
            assert clip.corpus == "demo"
            assert clip.split is None
            assert not Path(clip.path).is_absolute(), clip.path
            assert catalog.resolve(clip).resolve().is_relative_to(DEMO.resolve())
            assert (clip.sample_rate, clip.num_channels) == (SR, 1)
            ids.append(clip.id)
    assert len(ids) == len(set(ids)), "clip ids must be unique across catalogs"


def test_files_agree_with_rows(catalogs: dict[str, Catalog]) -> None:
    for catalog in catalogs.values():
        for clip in catalog:
            path = catalog.resolve(clip)
            assert path.is_file(), path
            info = sf.info(path)
            assert info.samplerate == clip.sample_rate
            assert info.channels == clip.num_channels
            assert abs(info.frames - clip.duration * clip.sample_rate) <= 1, (clip.id, info.frames, clip.duration)
            if clip.kind == "speech":
                assert (info.format, info.subtype) == ("FLAC", "PCM_16"), clip.id


def test_no_unlisted_audio(catalogs: dict[str, Catalog]) -> None:
    listed = {catalog.resolve(c).resolve() for catalog in catalogs.values() for c in catalog}
    on_disk = {p.resolve() for p in DEMO.rglob("*") if p.suffix in (".flac", ".wav")}
    assert on_disk == listed


def test_speech_speakers_and_transcripts(catalogs: dict[str, Catalog]) -> None:
    speech = catalogs["speech"]
    by_speaker: dict[str, list[Clip]] = defaultdict(list)
    for clip in speech:
        assert clip.speaker and clip.language == "en"
        assert clip.text and TEXT_RE.match(clip.text), clip.text
        assert len(clip.text.split()) >= 4, clip.text
        assert 2.0 <= clip.duration <= 6.0, (clip.id, clip.duration)
        by_speaker[clip.speaker].append(clip)
    assert len(speech) >= 48
    assert len(by_speaker) >= 8
    assert all(len(clips) >= 6 for clips in by_speaker.values())
    genders = {s: {c.gender for c in clips} for s, clips in by_speaker.items()}
    assert all(len(g) == 1 for g in genders.values()), genders
    counts = {g: sum(1 for gs in genders.values() if g in gs) for g in ("female", "male")}
    assert counts["female"] >= 4 and counts["male"] >= 4, counts
    texts = [c.text for c in speech]
    assert len(set(texts)) == len(texts), "every utterance should be a different sentence"


def test_speech_levels_and_trimming(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["speech"]
    hop = SR // 100
    for clip in catalog:
        x = load(catalog, clip)
        assert x.ndim == 1
        assert dbfs(np.sqrt(np.mean(x**2))) > -50.0, f"{clip.id} is (nearly) silent"
        peak = np.max(np.abs(x))
        assert peak < 0.99, f"{clip.id} peaks at {peak:.4f} (clipping)"
        frames = x[: x.size // hop * hop].reshape(-1, hop)
        level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
        active = np.flatnonzero(level > level.max() - 40)
        lead, trail = active[0] * hop / SR, (frames.shape[0] - 1 - active[-1]) * hop / SR
        assert lead <= 0.3 and trail <= 0.3, f"{clip.id}: untrimmed silence {lead:.2f}s / {trail:.2f}s"


def test_noises(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["noise"]
    assert len(catalog) >= 6
    tags = set()
    for clip in catalog:
        x = load(catalog, clip)
        assert x.size / SR >= 10.0, clip.id
        assert clip.tags, clip.id
        tags.update(clip.tags)
        assert -6.0 <= dbfs(np.max(np.abs(x))) <= -0.5, clip.id
        assert dbfs(np.sqrt(np.mean(x**2))) > -45.0, clip.id
    assert {"stationary", "babble", "impulsive", "modulated"} <= tags, tags


def test_noises_differ_in_character(catalogs: dict[str, Catalog]) -> None:
    """Crest factor and spectral centroid should not be near-duplicates across the noise set."""
    catalog = catalogs["noise"]
    features = []
    for clip in catalog:
        x = load(catalog, clip)
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        centroid = np.sum(np.fft.rfftfreq(x.size, 1 / SR) * spectrum) / np.sum(spectrum)
        features.append((np.log(np.max(np.abs(x)) / np.sqrt(np.mean(x**2))), np.log(centroid)))
    f = np.array(features)
    distances = np.linalg.norm(f[:, None, :] - f[None, :, :], axis=-1) + np.eye(len(f))
    assert distances.min() > 0.05, distances


def test_rirs_span_reverberation_times(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["rir"]
    assert len(catalog) >= 4
    rt60s = []
    for clip in catalog:
        h = load(catalog, clip)
        assert h.ndim == 1 and np.all(np.isfinite(h))
        assert np.argmax(np.abs(h)) < 0.005 * SR, f"{clip.id}: direct path should be at the start"
        rt60s.append(schroeder_rt60(h, SR))
    assert min(rt60s) <= 0.25 and max(rt60s) >= 0.8, rt60s
    assert len({round(r, 2) for r in rt60s}) == len(rt60s), rt60s


def test_folder_size() -> None:
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 8_000_000, f"demo corpus is {total / 1e6:.2f} MB"
