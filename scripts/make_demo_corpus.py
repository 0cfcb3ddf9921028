#!/usr/bin/env python3
"""Regenerate the small demo corpus shipped under ``data_manifests/demo``.

Speech comes from espeak-ng (the only non-Python requirement); noises and room impulse
responses are synthesised with numpy / scipy / pyroomacoustics from fixed seeds, so a
rerun writes byte-identical files.  Usage: ``python scripts/make_demo_corpus.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import soundfile as sf
import soxr
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

from audiosynth.catalog import Clip, relative_audio_path, write_catalog

SR = 16000
SEED = 20240611
REPO_ROOT = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("make_demo_corpus")

# (speaker id, espeak-ng voice+variant, gender, words per minute, pitch 0-99)
SPEAKERS: list[tuple[str, str, str, int, int]] = [
    ("spk01", "en-us+m3", "male", 165, 45),
    ("spk02", "en-us+f3", "female", 170, 60),
    ("spk03", "en-gb+m1", "male", 158, 38),
    ("spk04", "en-gb-x-rp+f2", "female", 155, 55),
    ("spk05", "en-gb-scotland+m4", "male", 150, 50),
    ("spk06", "en-029+f4", "female", 165, 68),
    ("spk07", "en-us-nyc+m2", "male", 175, 32),
    ("spk08", "en-gb-x-gbcwmd+f5", "female", 160, 48),
]
UTTERANCES_PER_SPEAKER = 6
MIN_SPEECH_S, MAX_SPEECH_S = 2.0, 6.0

SENTENCES: list[str] = [
    "the old man walked slowly along the quiet country road",
    "she opened the window to let the cool morning air inside",
    "we should leave early if we want to catch the first train",
    "the children played in the garden until it started to rain",
    "please put the heavy boxes next to the kitchen door",
    "a small bird was singing on the branch outside my room",
    "the library closes early on weekends during the summer",
    "he forgot his umbrella and came home soaking wet",
    "they painted the fence white before the family arrived",
    "the river was calm and the water looked very clear",
    "i don't think we have enough time to finish the whole project",
    "my sister bought a new coat at the market yesterday",
    "the teacher asked everyone to read the first chapter again",
    "bright lights from the city could be seen across the valley",
    "the baker wakes up before dawn to make fresh bread",
    "it's important to drink plenty of water on a hot day",
    "the dog chased the ball all the way down the hill",
    "our neighbours are planning a large party for next week",
    "the captain told the crew to prepare for a long journey",
    "a gentle wind moved the tall grass in the open field",
    "you can find the keys in the drawer under the desk",
    "the museum has a famous painting of a stormy sea",
    "she wrote a long letter to her friend who lives abroad",
    "the farmer sold apples and pears at the village market",
    "we watched the sun go down behind the distant mountains",
    "the train was late because of snow on the tracks",
    "he carefully carried the glass vase into the dining room",
    "the soup tastes better when you add a little salt",
    "they found an old map hidden inside a wooden chest",
    "the students waited patiently outside the examination hall",
    "there was a long line of people waiting for the bus",
    "the doctor said he should rest for a few more days",
    "the cat slept all afternoon on the warm windowsill",
    "she likes to read a good book before going to sleep",
    "the bridge was built more than a hundred years ago",
    "they couldn't hear the music over the noise of the crowd",
    "the garden is full of roses and tall yellow sunflowers",
    "my brother fixed the broken chair with some glue and nails",
    "the waiter brought us two cups of hot coffee",
    "a thick fog covered the harbour early this morning",
    "we need to buy some milk and butter from the shop",
    "the pilot said that we would land in twenty minutes",
    "the little boy was proud of his new red bicycle",
    "the office will be closed for the holiday on monday",
    "please remember to turn off the lights when you leave",
    "the mountain path was steep and covered with loose stones",
    "she planted tomatoes and beans in the back garden",
    "the storm knocked down several trees near the school",
    "we spent the whole afternoon walking along the beach",
    "the old clock in the hall stopped working last winter",
    "he asked the shopkeeper for directions to the station",
    "the orchestra played a beautiful piece at the concert",
    "the kitten was hiding under the bed all morning",
    "they decided to paint the kitchen a pale shade of green",
    "the fisherman returned with a basket full of silver fish",
    "i usually walk to work when the weather is nice",
    "the new road will make the journey much shorter",
    "she laughed when she saw the funny picture in the paper",
    "the workers repaired the roof before the rain came",
    "a friendly stranger helped us carry our bags up the stairs",
]

# Babble talkers and sentences are disjoint from the speech set above.
BABBLE_VOICES: list[tuple[str, int, int]] = [
    ("en-us+m6", 170, 40),
    ("en-gb+m7", 160, 30),
    ("en-gb-x-gbclan+m8", 165, 45),
    ("en-gb-x-rp+f1", 170, 62),
    ("en-us+Annie", 160, 55),
    ("en-029+linda", 175, 58),
]
BABBLE_SENTENCES: list[str] = [
    "the meeting ran much longer than anyone had expected",
    "could you pass me the pepper please",
    "i heard that the new restaurant down the street is very good",
    "we were talking about the weather and the long drive home",
    "he said that the tickets were already sold out",
    "let's meet again after lunch and finish the plan",
    "the children were laughing loudly at the back of the room",
    "she told me about her trip to the seaside last month",
    "nobody knew where the missing letter had gone",
    "they argued about the price of the old car for hours",
    "the phone kept ringing but nobody answered it",
    "i think the shop on the corner opens quite early",
]

NOISE_SECONDS = 11.0
# (target RT60 s as measured by T20, room dimensions m, source position, mic position)
ROOMS: list[tuple[float, list[float], list[float], list[float]]] = [
    (0.20, [4.0, 3.5, 2.7], [1.2, 1.5, 1.5], [2.8, 2.1, 1.2]),
    (0.35, [5.0, 4.0, 2.8], [1.5, 1.2, 1.6], [3.4, 2.6, 1.3]),
    (0.50, [6.5, 5.0, 3.0], [2.0, 1.5, 1.7], [4.3, 3.2, 1.4]),
    (0.70, [8.0, 6.0, 3.2], [2.2, 2.0, 1.7], [5.1, 3.9, 1.5]),
    (0.90, [10.0, 7.5, 3.5], [2.5, 2.5, 1.8], [6.3, 4.6, 1.2]),
]


def normalize_text(sentence: str) -> str:
    """LibriSpeech-style transcript: upper case, only letters, apostrophes and single spaces."""
    return " ".join(re.sub(r"[^A-Z' ]", " ", sentence.upper()).split())


def synthesize(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return float64 mono audio resampled to 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tts.wav"
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        audio, rate = sf.read(wav, dtype="float64")
    return soxr.resample(audio, rate, SR)


def trim_silence(x: np.ndarray, pad_s: float = 0.1, floor_db: float = -50.0) -> np.ndarray:
    """Keep the span whose 5 ms frames are within ``floor_db`` of the loudest, plus ``pad_s`` each side."""
    hop = SR // 200
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    active = np.flatnonzero(level > level.max() + floor_db)
    pad = int(pad_s * SR)
    start, stop = active[0] * hop, (active[-1] + 1) * hop
    core = x[max(0, start - pad) : stop + pad]
    lead, tail = max(0, pad - start), max(0, stop + pad - len(x))
    return np.concatenate([np.zeros(lead), core, np.zeros(tail)])


def peak_normalize(x: np.ndarray, dbfs: float = -3.0) -> np.ndarray:
    """Scale so the absolute peak sits at ``dbfs``."""
    return x * (10 ** (dbfs / 20) / np.max(np.abs(x)))


def write_audio(path: Path, x: np.ndarray) -> float:
    """Write 16 kHz mono audio: ``.flac`` as PCM_16, ``.wav`` as 32-bit float; returns the exact duration.

    Float WAVs go through scipy because libsndfile stamps a PEAK chunk with the current time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav":
        wavfile.write(path, SR, x.astype(np.float32))
    else:
        sf.write(path, x, SR, format="FLAC", subtype="PCM_16")
    return len(x) / SR


def make_speech(out: Path) -> list[Clip]:
    """Synthesise every speaker's utterances, using each sentence at most once overall."""
    clips: list[Clip] = []
    unused = list(SENTENCES)
    for spk, voice, gender, speed, pitch in SPEAKERS:
        count = 0
        for sentence in list(unused):
            if count == UTTERANCES_PER_SPEAKER:
                break
            audio = peak_normalize(trim_silence(synthesize(sentence, voice, speed, pitch)))
            seconds = len(audio) / SR
            if not MIN_SPEECH_S <= seconds <= MAX_SPEECH_S:
                LOG.info("%s: rejected %.2f s utterance %r", spk, seconds, sentence)
                continue
            unused.remove(sentence)
            count += 1
            path = out / "speech" / spk / f"{spk}_{count:03d}.flac"
            clips.append(
                Clip(
                    id=f"demo-{spk}-{count:03d}",
                    path=relative_audio_path(path, out),
                    kind="speech",
                    duration=write_audio(path, audio),
                    sample_rate=SR,
                    speaker=spk,
                    text=normalize_text(sentence),
                    language="en",
                    gender=gender,
                    corpus="demo",
                )
            )
        if count < UTTERANCES_PER_SPEAKER:
            raise RuntimeError(f"{spk}: only {count} sentences fit {MIN_SPEECH_S}-{MAX_SPEECH_S} s")
        LOG.info("speech: %s (%s, %s) done, %d utterances", spk, voice, gender, count)
    return clips


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent above 20 Hz, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    gain = np.where(freqs >= 20.0, np.maximum(freqs, 20.0) ** (-exponent / 2), 0.0)
    x = np.fft.irfft(spectrum * gain, n)
    return x / np.sqrt(np.mean(x**2))


def mains_hum(rng: np.random.Generator, n: int) -> np.ndarray:
    """50 Hz hum with odd-heavy harmonics, a slow level drift and a little broadband hiss."""
    t = np.arange(n) / SR
    amps = [1.0, 0.45, 0.6, 0.2, 0.3, 0.1, 0.15, 0.05, 0.07]
    hum = sum(a * np.sin(2 * np.pi * 50 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(amps))
    return hum * (1 + 0.05 * np.sin(2 * np.pi * 0.3 * t)) + 0.02 * rng.standard_normal(n)


def babble(rng: np.random.Generator, n: int) -> np.ndarray:
    """Six overlapping talkers (voices and sentences unused by the speech set), each at equal RMS."""
    mix = np.zeros(n)
    gap = np.zeros(int(0.3 * SR))
    for k, (voice, speed, pitch) in enumerate(BABBLE_VOICES):
        lines = [BABBLE_SENTENCES[(2 * k + j) % len(BABBLE_SENTENCES)] for j in range(3)]
        talk = np.concatenate([part for s in lines for part in (trim_silence(synthesize(s, voice, speed, pitch)), gap)])
        talk = np.roll(np.tile(talk, int(np.ceil(n / len(talk)))), int(rng.integers(0, len(talk))))[:n]
        mix += talk / np.sqrt(np.mean(talk**2))
    return mix


def impulsive(rng: np.random.Generator, n: int) -> np.ndarray:
    """Clicks, knock pairs and decaying door-slam bursts at random times over a quiet pink floor."""
    x = 0.01 * colored_noise(rng, n, 1.0)
    t = np.arange(int(0.8 * SR)) / SR
    low = butter(4, 800, "low", fs=SR, output="sos")
    for kind in ["click"] * 7 + ["knock"] * 5 + ["slam"] * 3:
        start = int(rng.uniform(0.1, NOISE_SECONDS - 0.9) * SR)
        if kind == "click":
            event = rng.standard_normal(48) * np.hanning(48) * rng.uniform(0.3, 0.8)
        elif kind == "knock":
            f, period = rng.uniform(110, 260), int(rng.uniform(0.12, 0.2) * SR)
            one = np.sin(2 * np.pi * f * t[:period]) * np.exp(-t[:period] / 0.02)
            event = np.concatenate([one, 0.8 * one]) * rng.uniform(0.3, 0.6)
        else:
            burst = sosfilt(low, rng.standard_normal(len(t))) * np.exp(-t / 0.12)
            thump = np.sin(2 * np.pi * 55 * t) * np.exp(-t / 0.08)
            event = (burst / np.max(np.abs(burst)) + thump) * rng.uniform(0.7, 1.0)
        x[start : start + len(event)] += event
    return x


def siren(rng: np.random.Generator, n: int) -> np.ndarray:
    """Wailing siren: frequency swept 600-1300 Hz at 0.35 Hz, light tremolo, over brown rumble."""
    t = np.arange(n) / SR
    phase = 2 * np.pi * np.cumsum(950 + 350 * np.sin(2 * np.pi * 0.35 * t + rng.uniform(0, 2 * np.pi))) / SR
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.12 * np.sin(3 * phase)
    return tone * (0.85 + 0.15 * np.sin(2 * np.pi * 5 * t)) + 0.15 * colored_noise(rng, n, 2.0)


def fan(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fan: low-passed airflow noise, amplitude-modulated blade tone and a beating motor whine."""
    t = np.arange(n) / SR
    air = sosfilt(butter(2, 2000, "low", fs=SR, output="sos"), colored_noise(rng, n, 1.0))
    blade = (np.sin(2 * np.pi * 90 * t) + 0.4 * np.sin(2 * np.pi * 180 * t)) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * t))
    wobble = 5 * np.sin(2 * np.pi * 0.2 * t)
    whine = np.sin(2 * np.pi * np.cumsum(1200 + wobble) / SR) + np.sin(2 * np.pi * np.cumsum(1203.5 + wobble) / SR)
    return air + 0.4 * blade + 0.15 * whine


NOISES: list[tuple[str, Callable[[np.random.Generator, int], np.ndarray], list[str]]] = [
    ("pink", lambda rng, n: colored_noise(rng, n, 1.0), ["stationary", "pink"]),
    ("brown", lambda rng, n: colored_noise(rng, n, 2.0), ["stationary", "brown"]),
    ("hum50", mains_hum, ["stationary", "tonal", "hum", "50hz"]),
    ("babble", babble, ["babble", "speech-like"]),
    ("impulsive", impulsive, ["impulsive", "transient"]),
    ("siren", siren, ["modulated", "siren"]),
    ("fan", fan, ["modulated", "fan"]),
]


def make_noise(out: Path) -> list[Clip]:
    """Render each noise type from its own fixed seed and peak-normalise to -3 dBFS."""
    clips: list[Clip] = []
    n = int(NOISE_SECONDS * SR)
    for index, (name, render, tags) in enumerate(NOISES):
        audio = peak_normalize(render(np.random.default_rng([SEED, index]), n))
        path = out / "noise" / f"{name}.flac"
        clips.append(
            Clip(
                id=f"demo-noise-{name}",
                path=relative_audio_path(path, out),
                kind="noise",
                duration=write_audio(path, audio),
                sample_rate=SR,
                tags=tuple(tags),
                corpus="demo",
            )
        )
        LOG.info("noise: %s done", name)
    return clips


def schroeder_rt60(h: np.ndarray, hi_db: float = -5.0, lo_db: float = -25.0) -> float:
    """RT60 from a straight-line fit of the Schroeder decay between ``hi_db`` and ``lo_db`` (T20 x 3)."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    idx = np.flatnonzero((edc_db <= hi_db) & (edc_db >= lo_db))
    slope = np.polyfit(idx / SR, edc_db[idx], 1)[0]
    return -60.0 / slope


def simulate_rir(rt60: float, dims: list[float], src: list[float], mic: list[float]) -> np.ndarray:
    """Image-source shoebox RIR, started 1 ms before the direct path, peak 1.0, cut at -60 dB decay."""
    pra.constants.set("num_threads", 1)  # output bits depend on the thread count
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    h = np.asarray(room.rir[0][0], dtype=np.float64)
    h = h[max(0, int(np.argmax(np.abs(h))) - SR // 1000) :]
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    below = np.flatnonzero(edc <= edc[0] * 1e-6)
    h = h[: below[0] if below.size else len(h)]
    return h / np.max(np.abs(h))


def calibrated_rir(target: float, dims: list[float], src: list[float], mic: list[float]) -> np.ndarray:
    """Rescale the Sabine design RT60 a few times so the measured T20 RT60 lands on ``target``."""
    design = target
    for _ in range(4):
        h = simulate_rir(design, dims, src, mic)
        design *= target / schroeder_rt60(h)
    return h


def make_rirs(out: Path) -> list[Clip]:
    """Simulate the shoebox rooms and store their RIRs as 32-bit float WAV."""
    clips: list[Clip] = []
    for rt60, dims, src, mic in ROOMS:
        h = calibrated_rir(rt60, dims, src, mic)
        path = out / "rirs" / f"room_{rt60:.2f}s.wav"
        room = "x".join(f"{d:g}" for d in dims)
        clips.append(
            Clip(
                id=f"demo-rir-{rt60:.2f}s",
                path=relative_audio_path(path, out),
                kind="rir",
                duration=write_audio(path, h),
                sample_rate=SR,
                tags=("simulated", "shoebox", f"room={room}m"),
                corpus="demo",
            )
        )
        LOG.info("rir: target %.2f s, room %s m, measured T20 RT60 %.3f s, %d samples", rt60, room, schroeder_rt60(h), len(h))
    return clips


def clean_output(out: Path) -> None:
    """Delete the folders and catalogs this script owns so a rerun leaves no stale files."""
    for name in ("speech", "noise", "rirs"):
        shutil.rmtree(out / name, ignore_errors=True)
        (out / f"{name}.jsonl").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, wipe stale output and write audio plus the three catalogs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "data_manifests" / "demo",
        help="output folder (default: data_manifests/demo in the repository)",
    )
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        parser.error("espeak-ng is not on PATH (Debian/Ubuntu: apt-get install espeak-ng)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    clean_output(out)
    for name, clips in (("speech", make_speech(out)), ("noise", make_noise(out)), ("rirs", make_rirs(out))):
        count = write_catalog(clips, out / f"{name}.jsonl")
        LOG.info("wrote %s.jsonl (%d rows)", name, count)


if __name__ == "__main__":
    main()
