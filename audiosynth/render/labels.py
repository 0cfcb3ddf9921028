"""Labels, measured on the final signals (any backend) and the RIRs applied, next to their definitions.

`LABEL_DEFINITIONS` is what build.json records (README, 'Label definitions', says more); the
SNR, SIR and speech level follow the example's level definition (`levels`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dsp import kernels
from ..dsp.backend import Array, Fetch, backend_of
from ..scene import DISTORTION_ROLE, Scene, Source
from .levels import POWER, LevelDefinition
from .load import LoadedScene, Reverb

LABEL_DEFINITIONS = {
    "snr_db": POWER.snr_db_text,
    "mix_dbfs": "RMS level of the written mixture over all samples, dB re full scale",
    "mix_peak_dbfs": "peak absolute sample of the written mixture, dBFS",
    "noise_dbfs": "RMS level of the written noise over all samples, dBFS",
    "clean_dbfs": "RMS level of the written clean image over all samples, dBFS",
    "gain_db": "common gain applied to the mixture, its images and noise (and every target) to stay below output.peak_dbfs (0 when none)",
    "speech_level_dbfs": POWER.speech_level_text,
    "<target>_gain_db": "a target's own gain on top of gain_db (<= 0) so that it stays below output.peak_dbfs",
    "activity_overlap_ratio": "speech overlap: time with two or more talkers active over time with one or more, "
    "activity measured on the written images",
    "rt60_s": "RT60 of the RIR applied, from its Schroeder decay (T20: -5 to -25 dB, extrapolated to 60 dB), "
    "a noise floor truncated first (Lundeby); null when it cannot be measured",
    "rt60_reason": "present when rt60_s or rt60_t30_s is null: silent, single_impulse or shallow_decay",
    "text": "the clip's transcript, present only when the whole utterance is inside the example",
}


def measure_labels(
    loaded: LoadedScene, audio: dict[str, Array], reverbs: dict[str, Reverb], gain: float, level: LevelDefinition
) -> dict[str, Any]:
    """Labels measured on the final signals ``audio`` (role -> ``(M, N)``) and the RIRs applied
    (role -> `Reverb`), ``gain`` the common gain (see README, 'Label definitions')."""
    scene, rate = loaded.scene, loaded.scene.sample_rate
    noise_energy = kernels.energy(audio["noise"])
    roles = list(dict.fromkeys(s.role for s in scene.sources))
    labels: dict[str, Any] = {
        "snr_db": round(level.ratio_db(_speech(audio), audio["noise"]), 4) if scene.noise else None,
        "mix_dbfs": round(kernels.rms_dbfs(audio["mix"]), 4),
        "mix_peak_dbfs": round(kernels.peak_dbfs(audio["mix"]), 4),
        "noise_dbfs": round(kernels.energy_dbfs(noise_energy, math.prod(audio["noise"].shape)), 4),
        "gain_db": round(20 * np.log10(gain), 4),
    }
    segments = list(loaded.segments)
    if scene.type != "diarization":  # what speech_level_dbfs set: the first talker over its utterance
        first = loaded.talkers[0]
        labels["speech_level_dbfs"] = round(level.speech_level_dbfs(audio[first.role], first.level_span), 4)
    for source in {s.role: s for s in reversed(scene.sources)}.values():  # the first source of each role
        labels[f"{source.role}_dbfs"] = round(kernels.rms_dbfs(audio[source.role]), 4)
        if source.role in reverbs:
            labels.update(
                {
                    (k if len(roles) == 1 else f"{source.role}_{k}"): v
                    for k, v in reverb_labels(reverbs[source.role], rate, scene, source).items()
                }
            )
    if len(roles) == 1:
        labels.update(speaker=segments[0]["speaker"], text=segments[0]["text"], speech_clip=segments[0]["clip"])
    else:
        speaker_of_role = {seg["role"]: seg["speaker"] for seg in segments}
        labels["speakers"] = [speaker_of_role[role] for role in roles]
        labels["sir_db"] = {role: round(level.ratio_db(audio[role], sum(audio[r] for r in roles if r != role)), 4) for role in roles}
        labels["segments"] = segments
        labels["overlap_ratio"] = round(
            kernels.overlap_ratio([(round(seg["start"] * rate), round(seg["end"] * rate)) for seg in segments]), 4
        )
    if scene.type == "diarization":
        labels.update(activity_labels(scene, audio, roles, {seg["role"]: seg["speaker"] for seg in segments}))
    elif len(roles) > 1:  # speech overlap measured on the written images (see activity_labels)
        labels["activity_overlap_ratio"] = round(
            kernels.activity_overlap_ratio([audio[role][0] for role in roles], rate, scene.activity_db), 4
        )
    if scene.noise:
        labels["noise_clip"] = scene.noise.segment.clip_id
    if scene.enrollment is not None:
        labels.update(
            enrollment_clip=scene.enrollment.clip_id,
            target_speaker=segments[0]["speaker"],
            enrollment_duration=audio["enrollment"].shape[-1] / rate,
        )
    return labels


def _speech(audio: dict[str, Array]) -> Array:
    """What the talkers' images sum to: the mixture less the noise (and the channel's distortion)."""
    speech = audio["mix"] - audio["noise"]
    return speech - audio[DISTORTION_ROLE] if DISTORTION_ROLE in audio else speech


def activity_labels(
    scene: Scene,
    audio: dict[str, Array],
    roles: list[str],
    speakers: dict[str, str],
    active: dict[str, list[tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """Speech activity measured on each talker's written image (first microphone): ``activity``
    rows (role, speaker, start, end in s) for the RTTM, and the speech and overlap ratios
    (``active``: each role's `kernels.activity_segments` when already measured)."""
    rate = scene.sample_rate
    rows, intervals = [], []
    for role in roles:
        spans = active[role] if active is not None else kernels.activity_segments(audio[role][0], rate, scene.activity_db)
        for start, end in spans:
            rows.append({"role": role, "speaker": speakers[role], "start": start / rate, "end": end / rate})
            intervals.append((start, end))
    rows.sort(key=lambda r: (r["start"], r["role"]))
    covered, overlapped = kernels.coverage(intervals)
    return {
        "activity": rows,
        "speech_ratio": round(covered / scene.num_samples, 4),
        "activity_overlap_ratio": round(overlapped / covered if covered else 0.0, 4),
    }


def reverb_labels(reverb: Reverb, rate: int, scene: Scene, source: Source) -> dict[str, Any]:
    """RT60 (T20, T30), DRR and C50 of the first microphone's RIR; per microphone the direct-path
    delay (samples) and, in simulated rooms, the source distance (m). An RT60 that cannot be
    measured is None, and ``rt60_reason`` (one of `kernels.RT60_REASONS`) says why."""
    if ("labels", rate) not in reverb.measured:  # a cached catalog RIR is measured once
        first, delay = reverb.rir[0], float(reverb.delays[0])
        (t20, t30), reason = kernels.measure_rt60(first, rate, (20.0, 30.0))
        reverb.measured["labels", rate] = {
            "rt60_s": None if t20 is None else round(t20, 4),
            "rt60_t30_s": None if t30 is None else round(t30, 4),
            **({"rt60_reason": reason} if reason else {}),
            "drr_db": round(kernels.drr_db(first, delay, rate), 4),
            "c50_db": round(kernels.clarity_db(first, delay, rate), 4),
            "direct_delay_samples": [round(float(d), 3) for d in reverb.delays],
        }
    labels: dict[str, Any] = {k: list(v) if isinstance(v, list) else v for k, v in reverb.measured["labels", rate].items()}
    if scene.room is not None and source.position is not None:
        labels["distance_m"] = [round(float(d), 4) for d in scene.room.distances_m()[source.position]]
    return labels


def measure_labels_deferred(
    loaded: LoadedScene, audio: dict[str, Array], reverbs: dict[str, Reverb], gain: Array, level: LevelDefinition, fetch: Fetch
) -> Callable[[], dict[str, Any]]:
    """`measure_labels` for the batched device path: every measure is queued on ``fetch`` as an
    array of the backend (``gain`` a 0-d array), and the returned function, called after
    ``fetch.run()``, gives the same labels (the same keys in the same order, the same definitions;
    values within float rounding of `measure_labels`')."""
    scene, rate = loaded.scene, loaded.scene.sample_rate
    put, number = fetch.put, fetch.number
    roles = list(dict.fromkeys(s.role for s in scene.sources))
    noise = audio["noise"]
    snr = put(level.ratio_db_array(audio["mix"] - noise, noise)) if scene.noise else None
    mix_dbfs, mix_peak = put(kernels.rms_dbfs_array(audio["mix"])), put(kernels.peak_dbfs_array(audio["mix"]))
    noise_dbfs = put(kernels.energy_dbfs_array(kernels.energy_array(noise), math.prod(noise.shape)))
    gain_db = put(_gain_db(gain))
    speech = None
    if scene.type != "diarization":
        first = loaded.talkers[0]
        speech = put(level.speech_level_dbfs_array(audio[first.role], first.level_span))
    firsts = list({s.role: s for s in reversed(scene.sources)}.values())
    role_dbfs = {source.role: put(kernels.rms_dbfs_array(audio[source.role])) for source in firsts}
    reverb = {
        source.role: reverb_labels_deferred(reverbs[source.role], rate, scene, source, fetch) for source in firsts if source.role in reverbs
    }
    sir = {}
    if len(roles) > 1:
        sir = {role: put(level.ratio_db_array(audio[role], sum(audio[r] for r in roles if r != role))) for role in roles}
    frames = {}
    if scene.type == "diarization" or len(roles) > 1:
        frames = {role: put(kernels.activity_frames(audio[role][0], rate, scene.activity_db)) for role in roles}
    enrollment_length = audio["enrollment"].shape[-1] if scene.enrollment is not None else 0

    def finish() -> dict[str, Any]:
        labels: dict[str, Any] = {
            "snr_db": round(number(snr), 4) if snr is not None else None,
            "mix_dbfs": round(number(mix_dbfs), 4),
            "mix_peak_dbfs": round(number(mix_peak), 4),
            "noise_dbfs": round(number(noise_dbfs), 4),
            "gain_db": round(number(gain_db), 4),
        }
        segments = list(loaded.segments)
        if speech is not None:
            labels["speech_level_dbfs"] = round(number(speech), 4)
        for source in firsts:
            labels[f"{source.role}_dbfs"] = round(number(role_dbfs[source.role]), 4)
            if source.role in reverb:
                labels.update({(k if len(roles) == 1 else f"{source.role}_{k}"): v for k, v in reverb[source.role]().items()})
        if len(roles) == 1:
            labels.update(speaker=segments[0]["speaker"], text=segments[0]["text"], speech_clip=segments[0]["clip"])
        else:
            speaker_of_role = {seg["role"]: seg["speaker"] for seg in segments}
            labels["speakers"] = [speaker_of_role[role] for role in roles]
            labels["sir_db"] = {role: round(number(sir[role]), 4) for role in roles}
            labels["segments"] = segments
            labels["overlap_ratio"] = round(
                kernels.overlap_ratio([(round(seg["start"] * rate), round(seg["end"] * rate)) for seg in segments]), 4
            )
        active = {role: kernels.activity_from_frames(fetch.get(h), scene.num_samples, rate) for role, h in frames.items()}
        if scene.type == "diarization":
            labels.update(activity_labels(scene, audio, roles, {seg["role"]: seg["speaker"] for seg in segments}, active))
        elif len(roles) > 1:
            labels["activity_overlap_ratio"] = round(kernels.overlap_ratio([span for role in roles for span in active[role]]), 4)
        if scene.noise:
            labels["noise_clip"] = scene.noise.segment.clip_id
        if scene.enrollment is not None:
            labels.update(
                enrollment_clip=scene.enrollment.clip_id,
                target_speaker=segments[0]["speaker"],
                enrollment_duration=enrollment_length / rate,
            )
        return labels

    return finish


def _gain_db(gain: Array) -> Array:
    return 20.0 * backend_of(gain).log10(gain)


def reverb_labels_deferred(reverb: Reverb, rate: int, scene: Scene, source: Source, fetch: Fetch) -> Callable[[], dict[str, Any]]:
    """`reverb_labels` for the batched device path (see `measure_labels_deferred`): the measures of
    `kernels.rir_measures` queued on ``fetch``; a RIR over a noise floor (Lundeby's iterations)
    comes back whole, in the second transfer, and is measured on the host by `kernels.measure_rt60`."""
    first, delay = reverb.rir[0], float(reverb.delays[0])
    handles = {key: fetch.put(value) for key, value in kernels.rir_measures(first, delay, rate).items()}
    whole = fetch.put_if(handles["floor"], first)

    def finish() -> dict[str, Any]:
        values = {key: fetch.number(h) for key, h in handles.items()}
        if values["floor"] and not (values["silent"] or values["single_impulse"]):
            (t20, t30), reason = kernels.measure_rt60(fetch.get(whole), rate, (20.0, 30.0))
        else:
            (t20, t30), reason = kernels.rt60_from_measures(values, (20.0, 30.0))
        labels: dict[str, Any] = {
            "rt60_s": None if t20 is None else round(t20, 4),
            "rt60_t30_s": None if t30 is None else round(t30, 4),
            **({"rt60_reason": reason} if reason else {}),
            "drr_db": round(values["drr_db"], 4),
            "c50_db": round(values["c50_db"], 4),
            "direct_delay_samples": [round(float(d), 3) for d in reverb.delays],
        }
        if scene.room is not None and source.position is not None:
            labels["distance_m"] = [round(float(d), 4) for d in scene.room.distances_m()[source.position]]
        return labels

    return finish
