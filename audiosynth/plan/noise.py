"""Draws of background noise, shared by every task: whether an example has noise, which clip,
which part of it (looped when short), which channel, and its SNR."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..catalog import Clip
from ..config import Config
from ..scene import Noise, Segment
from .clips import choice, crop_offset


def draw_noise(rng: np.random.Generator, config: Config, pool: Sequence[Clip], num_samples: int) -> Noise | None:
    """Noise for an example of ``num_samples`` output samples, with probability
    ``noise_probability`` (no draw spent on the coin when it is 1), from the split's ``pool``."""
    if not (config.noise_probability >= 1 or rng.random() < config.noise_probability):
        return None
    clip = choice(rng, pool)
    length = math.ceil(num_samples * clip.sample_rate / config.sample_rate)
    if clip.num_samples >= length:
        segment = Segment(clip.id, crop_offset(rng, clip, length), length)
    else:
        segment = Segment(clip.id, int(rng.integers(0, clip.num_samples)), length, loop=True)
    snr_db = float(rng.uniform(*config.snr_db))
    return Noise(segment, snr_db, channel=noise_channel(rng, config, clip))


def noise_channel(rng: np.random.Generator, config: Config, clip: Clip) -> int | str | None:
    """Which signal of a multichannel noise clip ``noise_channels`` asks for (None for a mono clip;
    drawn after every other draw of the noise, so mono clips' scenes do not depend on the policy)."""
    policy = config.noise_channels
    if clip.num_channels == 1:
        return None
    if policy == "downmix":
        return "mean"
    return 0 if policy == "first" else int(rng.integers(0, clip.num_channels))
