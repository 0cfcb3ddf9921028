"""What a config promises of the labels: each configured range, its tolerance and the labels it bounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog, read_catalog
from ..corpora.text import TEXT_NORMS, normalize_clip
from ..errors import DatasetError
from ..names import is_number
from ..render.levels import scene_level_definition
from .rows import row_talkers
from .trust import read_build_info


def speech_catalog(root: Path) -> Catalog | None:
    """The speech catalogs named in build.json, when they can still be read, with the texts the
    build used when `texts_known` (its built-in ``catalogs.text_norm`` applied)."""
    try:
        catalogs = read_build_info(root)["config"]["catalogs"]
        paths, norm = catalogs["speech"], catalogs.get("text_norm")
        if not all(isinstance(p, str) and Path(p).is_file() for p in paths):  # untrusted: no FIFO or device (/dev/zero)
            return None
        speech = Catalog.merge([read_catalog(p) for p in paths])
    except (OSError, KeyError, ValueError, TypeError, DatasetError):
        return None
    if not isinstance(norm, str) or norm not in TEXT_NORMS:
        return speech
    return Catalog([normalize_clip(c, TEXT_NORMS[norm]) for c in speech], speech.root, speech.name)


def texts_known(config: dict[str, Any]) -> bool:
    """Whether a build's transcripts can be re-derived from its catalogs: its ``catalogs.text_norm``
    is none or built in. A user's function (``module:function``) is never imported from a
    dataset's build.json: that would run code that an untrusted dataset names."""
    norm = (config.get("catalogs") or {}).get("text_norm")
    return norm is None or (isinstance(norm, str) and norm in TEXT_NORMS)


@dataclass(frozen=True)
class LabelRange:
    """A configured range ``[low, high]`` (config field ``name``) and the labels of a row that it
    bounds; ``tolerance`` widens it for what the labels measure (rounding, or a fit for RT60)."""

    name: str
    low: float
    high: float
    tolerance: float
    values: Callable[[dict[str, Any]], list[float]]
    hint: str = ""  # what to do about a value outside, when there is a usual cause

    def outside(self, value: float) -> bool:
        return not self.low - self.tolerance <= value <= self.high + self.tolerance


def _acoustic(labels: dict[str, Any]) -> dict[str, Any] | None:
    """A chained example's levels before its device/channel chain (``labels.channel.acoustic``), else None."""
    channel = labels.get("channel")
    acoustic = channel.get("acoustic") if isinstance(channel, dict) else None
    return acoustic if isinstance(acoustic, dict) else None


def _labels(*keys: str, minus: str | None = None) -> Callable[[dict[str, Any]], list[float]]:
    """The first of ``keys`` that a row's labels hold (a number), less the label ``minus``."""

    def values(row: dict[str, Any]) -> list[float]:
        labels = row.get("labels") or {}
        acoustic = _acoustic(labels)
        if acoustic is not None:  # a device/channel chain: the ranges bound the mixture before it, before the common gain
            found = [float(v) for v in map(acoustic.get, keys) if is_number(v)]
            if found:
                return found[:1]
        for key in keys:
            value = labels.get(key)
            if is_number(value):
                return [float(value) - (float(labels.get(minus) or 0.0) if minus else 0.0)]
        return []

    return values


def _sirs(row: dict[str, Any]) -> list[float]:
    """Talker k > 1 against talker 1 (what talkers.sir_db draws), from the ``s1_dbfs`` and ``sk_dbfs``
    labels as the example's level definition relates them (``power``: their difference, exact for
    RMS over the same samples, 10·log10(Σ s1² / Σ sk²))."""
    labels = row.get("labels") or {}
    acoustic = _acoustic(labels)
    if acoustic is not None and isinstance(acoustic.get("sir_db"), dict):  # before a device/channel chain
        return [float(v) for v in acoustic["sir_db"].values() if is_number(v)]
    roles = [r for r in (labels.get("sir_db") or {}) if r != "s1"] if isinstance(labels.get("sir_db"), dict) else []
    try:
        level = scene_level_definition(row.get("scene") or {})
    except ValueError:  # a definition this version does not know (validate reports the row)
        return []
    ratios = [
        level.ratio_from_levels_db(labels["s1_dbfs"], labels[f"{r}_dbfs"]) for r in roles if f"{r}_dbfs" in labels and "s1_dbfs" in labels
    ]
    return [ratio for ratio in ratios if ratio is not None]


def _duration(row: dict[str, Any]) -> list[float]:
    return [float(row["duration"])]


def _overlap_targeted(speech: Catalog | None) -> Callable[[dict[str, Any]], list[float]]:
    """The overlap label that ratio mode met for a row: the speech overlap measured on the images
    (``activity_overlap_ratio``) when every talker's clip has catalog activity, that of whole
    utterances (``overlap_ratio``) when none has; nothing when some have (neither was targeted).
    Without the speech catalogs (moved or unreadable): ``activity_overlap_ratio``."""

    def values(row: dict[str, Any]) -> list[float]:
        if speech is None:
            return _labels("activity_overlap_ratio")(row)
        clips = [speech.by_id(seg["clip"]) for seg in row_talkers(row) if seg["clip"] in speech]
        with_activity = {c.active is not None for c in clips}
        if len(with_activity) != 1:
            return []
        return _labels("activity_overlap_ratio" if with_activity.pop() else "overlap_ratio")(row)

    return values


def label_ranges(config: dict[str, Any], speech: Catalog | None = None) -> list[LabelRange]:
    """The configured ranges (of build.json's ``config``) that bound measured labels, each with
    its tolerance: SNR and SIR 0.1 dB (rounding of the written grid), the speech level 0.1 dB
    (``speech_level_dbfs`` label less the common ``gain_db``), the overlap 0.05 (10 ms activity
    frames; which overlap: see `_overlap_targeted` over the ``speech`` catalogs), duration one
    sample, the RT60 of simulated rooms 0.05 s + 5 % of the range's top
    (``rt60_s`` is a T20 fit of the RIR made, not the value asked for: within 0.035 s of it)."""
    if not config:
        return []
    task = config.get("task", "denoising")
    talkers, reverb = config.get("talkers") or {}, config.get("reverb") or {}
    room = reverb.get("room") or {}
    multi = task != "diarization" and (talkers.get("count") or [1, 1])[1] > 1
    rate = float(config.get("sample_rate") or 16000)
    wanted: list[tuple[str, Any, float, Callable[[dict[str, Any]], list[float]]]] = []
    if config.get("noise_probability", 1.0) > 0:
        wanted.append(("snr_db", config.get("snr_db"), 0.1, _labels("snr_db")))
    if task != "diarization":
        wanted.append(("speech_level_dbfs", config.get("speech_level_dbfs"), 0.1, _labels("speech_level_dbfs", minus="gain_db")))
        if not multi and task != "asr":  # several talkers or whole transcribed utterances set the length
            wanted.append(("duration_s", config.get("duration_s"), 1.0 / rate, _duration))
    if multi:
        wanted.append(("talkers.sir_db", talkers.get("sir_db"), 0.1, _sirs))
        if talkers.get("overlap") == "ratio":
            wanted.append(("talkers.overlap_ratio", talkers.get("overlap_ratio"), 0.05, _overlap_targeted(speech)))
    if (
        reverb.get("probability", 0) > 0
        and reverb.get("source") == "simulated"
        and room.get("wall_absorption") is None
        and room.get("rt60_s")
    ):
        wanted.append(("reverb.room.rt60_s", room["rt60_s"], 0.05 + 0.05 * float(room["rt60_s"][1]), _labels("rt60_s", "s1_rt60_s")))
    hints = {
        "talkers.overlap_ratio": "; ratio mode meets it when the speech catalogs carry activity ('active', written by audiosynth catalog)"
    }
    return [
        LabelRange(name, float(span[0]), float(span[1]), tol, values, hints.get(name, ""))
        for name, span, tol, values in wanted
        if span is not None
    ]


def check_label_ranges(row: dict[str, Any], ranges: list[LabelRange]) -> list[str]:
    """One problem per label of ``row`` outside its configured range (see `label_ranges`)."""
    return [
        f"{r.name} label {v:.4g} outside the configured range [{r.low:g}, {r.high:g}] (tolerance {r.tolerance:.3g}){r.hint}"
        for r in ranges
        for v in r.values(row)
        if r.outside(v)
    ]
