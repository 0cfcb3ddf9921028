"""Talkers in noise and a room: the draws that denoising, ASR, separation and target speaker share.

An example holds ``talkers.count`` utterances of different speakers of its split, placed by
``talkers.overlap``, at a drawn level (later talkers at a drawn SIR), with noise
(`draw_noise`) and, with ``reverb.probability``, catalog RIRs of one room or a simulated room.
The tasks differ in their roles, in what they ask of clips and in whether they crop.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...dsp import kernels
from ...dsp.kernels import resampled_length
from ...scene import Scene, Segment, Source, Waypoint
from ..clips import active_samples, chain_onsets, choice, crop_offset
from ..noise import draw_noise
from ..pools import speaker_of
from ..rooms import place_in_room, rirs_of_one_room
from .base import Task, example_id

if TYPE_CHECKING:
    from ...config import Config
    from ..planner import Planner

TARGET_KINDS = ("direct", "early", "dry")  # dereverberation targets, in the order they are written


class TalkerTask(Task):
    """One or more talkers, each a source of its own (roles ``s1`` ... ``sN``)."""

    crops = True  # a long utterance may be cropped to the drawn duration (else the example holds all of it)

    def roles(self, count: int) -> list[str]:
        """The audio roles of ``count`` talkers' images."""
        return [f"s{k + 1}" for k in range(count)]

    def plan(self, planner: Planner, rng: np.random.Generator, split: str, index: int) -> Scene:
        config = planner.config
        low_count, high_count = config.talkers.count
        count = low_count if low_count == high_count else int(rng.integers(low_count, high_count + 1))
        if count == 1:
            num_samples, segments = self._one_talker(planner, rng, split)
        else:
            num_samples, segments = self._talkers(planner, rng, split, count)
        level = float(rng.uniform(*config.speech_level_dbfs))
        sirs = [None] + [float(rng.uniform(*config.talkers.sir_db)) for _ in segments[1:]]
        noise = draw_noise(rng, config, planner.noise[split], num_samples)
        rir_clips: list[str | None] = [None] * count
        paths: list[tuple[Waypoint, ...]] = [()] * count
        room = None
        if rng.random() < config.reverb.probability:
            if config.reverb.source == "catalog":
                rir_clips = [c.id for c in rirs_of_one_room(rng, planner.rirs[split], planner.rir_rooms[split], count)]
            else:
                room, paths, noise = place_in_room(rng, config.reverb, count, noise, config.sample_rate)
        sources = tuple(
            Source(role, seg, level, rir, path, sir)
            for role, seg, rir, path, sir in zip(self.roles(count), segments, rir_clips, paths, sirs, strict=True)
        )
        targets = tuple(t for t in TARGET_KINDS if getattr(config.targets, t)) if (room or rir_clips[0]) else ()
        enrollment = self._enrollment(planner, rng, split, segments[0].clip_id) if config.talkers.enrollment else None
        return Scene(
            example_id(split, index),
            index,
            split,
            config.sample_rate,
            num_samples,
            sources,
            noise,
            room,
            config.output.peak_dbfs,
            targets,
            config.targets.early_ms,
            enrollment,
            config.talkers.enrollment_dbfs,
            type=self.name,
        )

    def _one_talker(self, planner: Planner, rng: np.random.Generator, split: str) -> tuple[int, list[Segment]]:
        """A duration from ``duration_s`` and one utterance: whole at a random onset, or cropped."""
        config, rate = planner.config, planner.sample_rate
        clip = choice(rng, planner.speech[split])
        low, high = config.duration_s
        high = min(high, clip.duration / config.min_speech_ratio)
        if not self.crops:  # the example holds the whole utterance
            low = max(low, clip.duration)
            high = max(high, low)
        num_samples = round(rng.uniform(low, high) * rate)
        speech_out = resampled_length(clip.num_samples, clip.sample_rate, rate)
        if speech_out <= num_samples:  # the whole utterance, at a random onset
            return num_samples, [Segment(clip.id, 0, clip.num_samples, int(rng.integers(0, num_samples - speech_out + 1)))]
        length = math.ceil(num_samples * clip.sample_rate / rate)  # a random crop that fills the example
        return num_samples, [Segment(clip.id, crop_offset(rng, clip, length), length)]

    def _talkers(self, planner: Planner, rng: np.random.Generator, split: str, count: int) -> tuple[int, list[Segment]]:
        """``count`` utterances of different speakers placed by the overlap mode."""
        speakers = planner.by_speaker[split]
        names = sorted(speakers)
        chosen = [names[k] for k in rng.choice(len(names), count, replace=False)]
        clips = [choice(rng, speakers[name]) for name in chosen]
        rate = planner.sample_rate
        lengths = [resampled_length(c.num_samples, c.sample_rate, rate) for c in clips]
        mode = planner.config.talkers.overlap
        if mode == "min":  # all cropped to the shortest: fully overlapped
            num_samples = min(lengths)
            segments = []
            for clip in clips:
                length = min(clip.num_samples, math.ceil(num_samples * clip.sample_rate / rate))
                segments.append(Segment(clip.id, crop_offset(rng, clip, length), length))
            return num_samples, segments
        if mode == "max":  # the longest sets the length, the others start anywhere inside it
            num_samples = max(lengths)
            return num_samples, [
                Segment(c.id, 0, c.num_samples, int(rng.integers(0, num_samples - n + 1))) for c, n in zip(clips, lengths, strict=True)
            ]
        # ratio: one after the other, consecutive utterances overlapping by a share of the shorter,
        # the share found by bisection so that the overlap of their speech meets the drawn ratio
        # (speech: the catalog's activity intervals of each clip, else the whole utterance)
        ratio = float(rng.uniform(*planner.config.talkers.overlap_ratio))
        speech = [active_samples(c, rate, n) for c, n in zip(clips, lengths, strict=True)]
        onsets = chain_onsets(lengths, 0.0)
        low, high = 0.0, 1.0
        for _ in range(40):
            onsets = chain_onsets(lengths, (low + high) / 2)
            measured = kernels.overlap_ratio([(o + a, o + b) for o, spans in zip(onsets, speech, strict=True) for a, b in spans])
            low, high = ((low + high) / 2, high) if measured < ratio else (low, (low + high) / 2)
        num_samples = max(o + n for o, n in zip(onsets, lengths, strict=True))
        return num_samples, [Segment(c.id, 0, c.num_samples, o) for c, o in zip(clips, onsets, strict=True)]

    def _enrollment(self, planner: Planner, rng: np.random.Generator, split: str, clip_id: str) -> Segment:
        """Another whole utterance of the speaker of ``clip_id``."""
        clip = planner.catalogs.speech.by_id(clip_id)
        others = [c for c in planner.by_speaker[split][speaker_of(clip)] if c.id != clip_id]
        other = choice(rng, others)
        return Segment(other.id, 0, other.num_samples)

    def duration_bounds_length(self, config: Config) -> bool:
        return self.crops and config.talkers.count[1] == 1  # several talkers, or whole utterances, set it

    def longest_example_s(self, config: Config, longest_clip_s: float) -> tuple[float, str]:
        talkers = config.talkers.count[1]
        if talkers > 1:
            chained = talkers if config.talkers.overlap == "ratio" else 1  # ratio: utterances one after the other
            return chained * longest_clip_s, "talkers.count"
        if not self.crops:
            return max(config.duration_s[1], longest_clip_s), "duration_s"
        return super().longest_example_s(config, longest_clip_s)

    def labels_sir(self, config: Config) -> bool:
        return config.talkers.count[1] > 1
