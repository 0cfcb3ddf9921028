"""What a build will cost: examples, hours, disk and time, from a few rendered probes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config
from ..dataset.folder import (
    example_files,
)
from ..plan.planner import Planner
from .worker import render_example

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimate:
    """What a build will produce and cost, from rendering a few examples."""

    num_examples: int
    audio_hours: float
    disk_bytes: float
    seconds: float

    def format(self) -> str:
        return (
            f"estimate: {self.num_examples} examples, {self.audio_hours:.2f} h of mixtures, "
            f"~{self.disk_bytes / 1e6:.1f} MB on disk, ~{self.seconds:.1f} s"
        )


PROBE_BUDGET_S = 60.0  # seconds of audio an estimate renders, at most, in all its probes


def estimate(planner: Planner, clips_catalog: Any, num_probe: int = 3) -> Estimate:
    """Render and encode a few examples in-process to estimate hours, disk size and single-worker time.

    The probes' own durations are used: with several talkers or sessions an example's length
    comes from its utterances, not from ``duration_s``. Probes planned longer than
    `PROBE_BUDGET_S` in all are rendered from a copy of the config with sessions (or
    ``duration_s``) cut to fit the budget, and their cost per second of audio is scaled to the
    planned durations: a dry run renders at most that budget (or one utterance per probe, where
    a single utterance is longer)."""
    config = planner.config
    probe = [int(i) for i in np.linspace(0, config.num_examples - 1, min(num_probe, config.num_examples)).astype(int)]
    planned = [planner.scene(index).duration for index in probe]  # planning only: cheap
    cap = PROBE_BUDGET_S / len(probe)
    if sum(planned) > PROBE_BUDGET_S:
        longest = max(clip.duration for clip in planner.catalogs.speech)
        planner = Planner(_shortened(config, cap, longest), planner.catalogs)
    start = time.perf_counter()
    probe_bytes, probe_seconds, rendered_seconds = 0, 0.0, 0.0
    for index, planned_s in zip(probe, planned, strict=True):
        rendered, _ = render_example(planner, index, clips_catalog, planner.config)  # bad clips re-drawn, as in the build
        files, _, _ = example_files(rendered, config.output.format, config.output.subtype)
        probe_bytes += sum(len(data) for data in files.values())
        rendered_seconds += rendered.scene.duration
        probe_seconds += rendered.scene.duration if planner.config is config else planned_s
    elapsed = time.perf_counter() - start
    total_seconds = config.num_examples * probe_seconds / len(probe)
    return Estimate(
        config.num_examples,
        total_seconds / 3600,
        probe_bytes / rendered_seconds * total_seconds,
        elapsed / rendered_seconds * total_seconds,
    )


def _shortened(config: Config, seconds: float, longest_clip_s: float) -> Config:
    """``config`` with examples (sessions) at most ``seconds`` long, for probes of a dry run (a
    session ends after the turn that passes its length: that turn and a pause are kept room for)."""
    from ..config import MIN_DURATION_S

    data = config.to_dict()
    if config.task == "diarization":
        pause = [min(p, seconds / 8) for p in config.session.pause_s]
        length = max(MIN_DURATION_S, seconds - longest_clip_s - 2 * pause[1])
        data["session"].update(duration_s=[min(d, length) for d in config.session.duration_s], pause_s=pause)
    else:
        data["duration_s"] = [min(d, seconds) for d in config.duration_s]
    return Config.model_validate(data)
