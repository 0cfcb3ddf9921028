"""Automatic gain control and dynamic range compression. AGC: the device's gain follows the
mixture's level toward a target (an envelope of 10 ms frames, a fast attack when the level rises,
a slow release when it falls, the gain bounded), as phones and conferencing clients do. Compressor:
above a threshold the level rises ``1 / ratio`` dB per dB (1 ms frames, attack and release), then
a make-up gain. The gain curve is derived from the mixture
(`Effect.control`) and applied to every image and the noise alike (both): a linear, time-varying step,
so ``mix == sum(images) + noise`` still holds. Facts: ``gain_min_db`` and ``gain_max_db`` applied."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import AtLeastZero, AtMostZero, Effect, EffectSettings, Positive, Ratio, register, uniforms

FRAME_S = 0.01  # s per level measurement
COMPRESSOR_FRAME_S = 0.001  # s per level measurement of the compressor
SILENT_DBFS = -70.0  # frames below this keep the gain where it is


class AgcSettings(EffectSettings):
    target_dbfs: AtMostZero = (-26.0, -16.0)
    max_gain_db: AtLeastZero = (6.0, 30.0)
    attack_s: Positive = (0.005, 0.05)
    release_s: Positive = (0.2, 1.5)


def draw(rng: np.random.Generator, settings: AgcSettings, sample_rate: int) -> dict[str, Any]:
    return uniforms(rng, settings, "target_dbfs", "max_gain_db", "attack_s", "release_s")


def gain_db_curve(params: dict[str, Any], mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """The gain (dB) per 10 ms frame of the mixture ``mix (M, N)`` (its first channel)."""
    frame = max(1, int(FRAME_S * sample_rate))
    x = np.asarray(mix[0], float)
    count = -(-len(x) // frame)
    padded = np.concatenate([x, np.zeros(count * frame - len(x))]).reshape(count, frame)
    level = 10 * np.log10(np.maximum(np.mean(padded**2, axis=1), 1e-20))
    wanted = np.clip(params["target_dbfs"] - level, -params["max_gain_db"], params["max_gain_db"])
    attack = 1 - np.exp(-FRAME_S / params["attack_s"])
    release = 1 - np.exp(-FRAME_S / params["release_s"])
    gains, gain = np.empty(count), 0.0
    for k in range(count):
        if level[k] > SILENT_DBFS:
            gain += (wanted[k] - gain) * (attack if wanted[k] < gain else release)  # down fast (level rose), up slowly
        gains[k] = gain
    return gains


def control(params: dict[str, Any], mix: np.ndarray, sample_rate: int) -> dict[str, Any]:
    frames = gain_db_curve(params, mix, sample_rate)
    frame = max(1, int(FRAME_S * sample_rate))
    centres = (np.arange(len(frames)) + 0.5) * frame
    curve = 10 ** (np.interp(np.arange(mix.shape[-1]), centres, frames) / 20)
    return {"curve": curve, "gain_min_db": round(float(frames.min()), 3), "gain_max_db": round(float(frames.max()), 3)}


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    if "curve" not in params:  # applied without its mixture (e.g. on its own): the mixture is x itself
        params = {**params, **control(params, x, sample_rate)}
    return x * params["curve"]


AGC = register(Effect("agc", 22, True, AgcSettings, draw, apply, control=control))


class CompressorSettings(EffectSettings):
    threshold_dbfs: AtMostZero = (-35.0, -15.0)
    ratio: Ratio = (2.0, 8.0)
    attack_s: Positive = (0.001, 0.01)
    release_s: Positive = (0.02, 0.2)
    makeup_db: AtLeastZero = (0.0, 6.0)


def draw_compressor(rng: np.random.Generator, settings: CompressorSettings, sample_rate: int) -> dict[str, Any]:
    return uniforms(rng, settings, "threshold_dbfs", "ratio", "attack_s", "release_s", "makeup_db")


def compressor_gain_db(params: dict[str, Any], mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """The compressor's gain (dB) per 1 ms frame of the mixture ``mix (M, N)`` (its first channel):
    above ``threshold_dbfs`` the level rises ``1 / ratio`` dB per dB, smoothed by attack and release."""
    frame = max(1, int(COMPRESSOR_FRAME_S * sample_rate))
    x = np.asarray(mix[0], float)
    count = -(-len(x) // frame)
    padded = np.concatenate([x, np.zeros(count * frame - len(x))]).reshape(count, frame)
    level = 10 * np.log10(np.maximum(np.mean(padded**2, axis=1), 1e-20))
    over = np.maximum(level - params["threshold_dbfs"], 0.0)
    wanted = -over * (1 - 1 / params["ratio"])
    attack = 1 - np.exp(-COMPRESSOR_FRAME_S / params["attack_s"])
    release = 1 - np.exp(-COMPRESSOR_FRAME_S / params["release_s"])
    gains, gain = np.empty(count), 0.0
    for k in range(count):
        gain += (wanted[k] - gain) * (attack if wanted[k] < gain else release)
        gains[k] = gain
    return gains + params["makeup_db"]


def compressor_control(params: dict[str, Any], mix: np.ndarray, sample_rate: int) -> dict[str, Any]:
    frames = compressor_gain_db(params, mix, sample_rate)
    frame = max(1, int(COMPRESSOR_FRAME_S * sample_rate))
    curve = 10 ** (np.interp(np.arange(mix.shape[-1]), (np.arange(len(frames)) + 0.5) * frame, frames) / 20)
    return {"curve": curve, "gain_min_db": round(float(frames.min()), 3), "gain_max_db": round(float(frames.max()), 3)}


def apply_compressor(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    if "curve" not in params:
        params = {**params, **compressor_control(params, x, sample_rate)}
    return x * params["curve"]


COMPRESSOR = register(Effect("compressor", 24, True, CompressorSettings, draw_compressor, apply_compressor, control=compressor_control))
