"""Diarization: long sessions, turns of a few talkers with pauses and overlaps, in noise and a room."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...dsp.kernels import resampled_length
from ...errors import PreflightError
from ...scene import Scene, Segment, Source, Waypoint
from ..clips import choice
from ..noise import draw_noise
from ..rooms import place_in_room
from .base import Task, example_id

if TYPE_CHECKING:
    from ...config import Config
    from ..planner import Planner


class Diarization(Task):
    """A session (``session``): each turn is a source; the turns of one talker share its role
    (``s1`` ... ``sN``), its level and its place in the room. No dereverberation targets."""

    name = "diarization"

    def max_talkers(self, config: Config) -> int:
        return config.session.speakers[1]

    def preflight(self, planner: Planner) -> None:
        reverb = planner.config.reverb
        if reverb.source == "catalog" and reverb.probability > 0:
            raise PreflightError(
                "reverb.source: 'catalog': diarization sessions are reverberated in simulated rooms only; "
                "set reverb.source: simulated, or reverb.probability: 0"
            )

    def plan(self, planner: Planner, rng: np.random.Generator, split: str, index: int) -> Scene:
        config, cfg, rate = planner.config, planner.config.session, planner.sample_rate
        speakers = planner.by_speaker[split]
        names = sorted(speakers)
        count = int(rng.integers(cfg.speakers[0], cfg.speakers[1] + 1))
        chosen = [names[k] for k in rng.choice(len(names), count, replace=False)]
        base = float(rng.uniform(*config.speech_level_dbfs))
        levels = [base - float(rng.uniform(0, cfg.level_spread_db)) for _ in chosen]
        target = round(rng.uniform(*cfg.duration_s) * rate)
        turns: list[tuple[int, Segment]] = []
        talker, end = int(rng.integers(0, count)), 0
        while end < target:
            clip = choice(rng, speakers[chosen[talker]])
            length = resampled_length(clip.num_samples, clip.sample_rate, rate)
            if turns:
                previous_length = turns[-1][1].length  # clip samples: fine as a bound at equal rates
                if rng.random() < cfg.overlap_probability:
                    onset = end - min(int(rng.uniform(*cfg.overlap_s) * rate), previous_length // 2, length // 2)
                else:
                    onset = end + int(rng.uniform(*cfg.pause_s) * rate)
            else:
                onset = int(rng.uniform(*cfg.pause_s) * rate)
            turns.append((talker, Segment(clip.id, 0, clip.num_samples, onset)))
            end = max(end, onset + length)
            if count > 1 and rng.random() < cfg.switch_probability:
                talker = (talker + int(rng.integers(1, count))) % count
        num_samples = end + int(cfg.pause_s[0] * rate)
        noise = draw_noise(rng, config, planner.noise[split], num_samples)
        room = None
        paths: list[tuple[Waypoint, ...]] = [()] * count
        if rng.random() < config.reverb.probability and config.reverb.source == "simulated":
            room, paths, noise = place_in_room(rng, config.reverb, count, noise, config.sample_rate)
        sources = tuple(Source(f"s{k + 1}", seg, levels[k], None, paths[k]) for k, seg in turns)
        return Scene(
            example_id(split, index),
            index,
            split,
            rate,
            num_samples,
            sources,
            noise,
            room,
            config.output.peak_dbfs,
            (),
            config.targets.early_ms,
            activity_db=cfg.activity_db,
            type=self.name,
        )

    def duration_bounds_length(self, config: Config) -> bool:
        return False  # session.duration_s does, up to the last turn

    def longest_example_s(self, config: Config, longest_clip_s: float) -> tuple[float, str]:
        s = config.session
        return s.duration_s[1] + s.pause_s[1] + longest_clip_s + s.pause_s[0], "session.duration_s"

    def labels_speech_level(self, config: Config) -> bool:
        return False  # each talker's level over its turns, spread below the drawn one
