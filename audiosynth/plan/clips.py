"""Draws of clips and of where they lie: crops that hold speech, onsets of consecutive talkers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..catalog import Clip

CROP_TRIES = 16  # offsets tried for a crop of a clip with catalog activity
CROP_ACTIVE_SHARE = 0.5  # of the crop (or of the clip's activity, when it is less) that must be active


def crop_offset(rng: np.random.Generator, clip: Clip, length: int) -> int:
    """A random offset (clip samples) of a ``length``-sample crop of ``clip``. Without catalog
    activity: uniform, one draw (as always). With it: uniform offsets are tried until the crop
    holds at least `CROP_ACTIVE_SHARE` of its length (or of the clip's active total, when less)
    of active audio; after `CROP_TRIES` the most active one tried is taken (the renderer still
    refuses a silent crop)."""
    last = clip.num_samples - length
    if clip.active is None:
        return int(rng.integers(0, last + 1))
    spans = [(int(a * clip.sample_rate), math.ceil(b * clip.sample_rate)) for a, b in clip.active]
    need = CROP_ACTIVE_SHARE * min(length, sum(b - a for a, b in spans))
    best, best_active = 0, -1
    for _ in range(CROP_TRIES):
        offset = int(rng.integers(0, last + 1))
        active = sum(max(0, min(b, offset + length) - max(a, offset)) for a, b in spans)
        if active >= need and active > 0:
            return offset
        if active > best_active:
            best, best_active = offset, active
    return best


def active_samples(clip: Clip, rate: int, length: int) -> list[tuple[int, int]]:
    """Where a whole utterance of ``length`` output samples is active (its catalog activity at
    the output ``rate``), or all of it when the catalog does not say."""
    if not clip.active:
        return [(0, length)]
    return [(min(length, round(a * rate)), min(length, round(b * rate))) for a, b in clip.active]


def chain_onsets(lengths: list[int], share: float) -> list[int]:
    """Onsets of utterances one after the other, each overlapping the previous by ``share`` of the shorter."""
    onsets = [0]
    for previous, length in itertools.pairwise(lengths):
        onsets.append(onsets[-1] + previous - round(share * min(previous, length)))
    return onsets


def choice(rng: np.random.Generator, clips: Sequence[Clip]) -> Clip:
    return clips[int(rng.integers(0, len(clips)))]
