"""A scene's device/channel chain applied to its signals (NumPy), and the labels it measures.

Steps run in the chain's order on the levelled signals, before the peak limit (every step here
keeps its effect when the signals are scaled: a clipping threshold is relative to the peak, a
band limit is linear). A linear step colours every image, the noise, the distortion so far and,
when the chain's roles say ``targets``, the dereverberation targets; a non-linear step acts on the
mixture they sum to, and what it changed is added to the ``distortion`` role. So
``mix == sum(images) + noise + distortion`` holds at every step (and exactly after quantization,
where the distortion takes the rounding). Each image is also written as it reached the device, as
the target ``<role>_acoustic`` (e.g. ``clean_acoustic``): the device-free target of restoration,
where ``clean`` (coloured by the device) is the target of denoising that keeps the device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..effects import effect
from ..effects.bandwidth import effective_bandwidth_hz
from ..effects.clipping import clipped_fraction
from ..scene import Scene
from .levels import LevelDefinition

ACOUSTIC_SUFFIX = "_acoustic"  # the target role of an image before the chain: clean_acoustic, s1_acoustic


def apply_chain(
    scene: Scene, images: dict[str, np.ndarray], noise: np.ndarray, targets: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray | None, list[dict[str, Any]]]:
    """``(images, noise, targets, distortion, steps)`` after ``scene.chain``: the new signals
    (``distortion`` None when no step is non-linear; shape of the mixture) and each step's labels
    (its name, parameters and measured facts)."""
    rate = scene.sample_rate
    distortion: np.ndarray | None = None
    steps: list[dict[str, Any]] = []
    for step in scene.chain:
        known, params = effect(step.name), step.params_dict()
        facts: dict[str, Any] = {}
        if known.linear:  # every signal it colours in one call: one response, one batched transform
            if known.control is not None:  # driven by the mixture: the same gain for every part of it
                state = known.control(params, _sum(images, noise, distortion), rate)
                facts = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
                params = {**params, **state}
            coloured = {f"image:{r}": x for r, x in images.items()} | {"noise": noise}
            coloured |= {} if distortion is None else {"distortion": distortion}
            coloured |= {f"target:{r}": x for r, x in targets.items()} if "targets" in step.roles else {}
            out = _apply_stacked(known.apply, params, coloured, rate)
            images = {r: out[f"image:{r}"] for r in images}
            noise, distortion = out["noise"], out.get("distortion")
            targets = {r: out.get(f"target:{r}", x) for r, x in targets.items()}
        else:
            mix = _sum(images, noise, distortion)
            changed = known.apply(params, mix, rate)
            if known.labels is not None:
                facts = known.labels(params, mix, changed, rate)
            distortion = changed - mix if distortion is None else distortion + (changed - mix)
        steps.append({"name": step.name, **step.to_dict()["params"], **facts})  # as JSON holds them (lists)
    return images, noise, targets, distortion, steps


def acoustic_levels(
    scene: Scene, talkers: Sequence[Any], images: dict[str, np.ndarray], noise: np.ndarray | None, level: LevelDefinition
) -> dict[str, Any]:
    """What the config's ranges set, measured on the levelled signals before the chain (the device
    changes them; the top-level labels are measured on the written files): ``snr_db``,
    ``speech_level_dbfs`` (before the common gain) and ``sir_db`` (talker k against the first)."""
    out: dict[str, Any] = {}
    if noise is not None:
        out["snr_db"] = round(level.ratio_db(sum(images.values()), noise), 4)
    if scene.type != "diarization" and talkers:
        first = talkers[0]
        out["speech_level_dbfs"] = round(level.speech_level_dbfs(images[first.role], first.level_span), 4)
        roles = list(images)
        if len(roles) > 1:
            out["sir_db"] = {role: round(level.ratio_db(images[roles[0]], images[role]), 4) for role in roles[1:]}
    return out


MIXTURE_MEASURES = {"bandwidth_hz": 1, "clipped_fraction": 6}  # what a chained mixture shows -> digits of its label


def mixture_measures(mix: np.ndarray, sample_rate: int) -> dict[str, float]:
    """What a written mixture ``mix (M, N)`` shows of its chain: the effective bandwidth and the
    clipped share of its first channel (`MIXTURE_MEASURES`); ``validate`` measures them on the file again."""
    return {"bandwidth_hz": effective_bandwidth_hz(mix, sample_rate), "clipped_fraction": clipped_fraction(np.asarray(mix[0]))}


def chain_labels(mix: np.ndarray, sample_rate: int, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``channel`` label of a chained example: its steps, and its `mixture_measures` (rounded)."""
    measured = mixture_measures(mix, sample_rate)
    return {"steps": steps, **{name: round(measured[name], digits) for name, digits in MIXTURE_MEASURES.items()}}


def _apply_stacked(apply: Any, params: dict[str, Any], signals: dict[str, np.ndarray], rate: int) -> dict[str, np.ndarray]:
    """``apply(params, x, rate)`` of each signal ``(C_k, N)``, run once on all of them stacked."""
    names = list(signals)
    stacked = apply(params, np.concatenate([signals[n] for n in names], axis=0), rate)
    bounds = np.cumsum([0, *(signals[n].shape[0] for n in names)])
    return {n: stacked[lo:hi] for n, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True)}


def _sum(images: dict[str, np.ndarray], noise: np.ndarray, distortion: np.ndarray | None) -> np.ndarray:
    total = sum(images.values()) + noise
    return total if distortion is None else total + distortion
