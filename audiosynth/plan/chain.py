"""The device/channel chain of an example: how many effect steps, which, in which order, with
which parameters (`audiosynth.effects`), all drawn from a stream of its own, so that turning the
chain on leaves every other draw of the example (clips, levels, room) as it was."""

from __future__ import annotations

import numpy as np

from ..config import ChannelConfig
from ..effects import effect
from ..scene import EffectStep

CHAIN_STREAM = 5  # the seed-sequence stream of chains (0: items, 1-3: split pools, 4: epochs > 0)
LINEAR_ROLES = ("images", "noise")  # what a linear step colours (and "targets" with colour_targets)
NONLINEAR_ROLES = ("mix",)


def chain_rng(seed: int, index: int, attempt: int, epoch: int) -> np.random.Generator:
    """The generator of example ``index``'s chain (draw ``attempt``, ``epoch``)."""
    return np.random.default_rng([seed, CHAIN_STREAM, epoch, index, attempt])


def draw_chain(config: ChannelConfig, rng: np.random.Generator, sample_rate: int) -> tuple[EffectStep, ...]:
    """The chain of one example: none with probability ``1 - config.probability``, else
    ``config.steps`` steps drawn by weight without repeats, ordered (`ChannelConfig.order`), each
    with its parameters drawn by its effect."""
    if config.probability <= 0 or rng.random() >= config.probability:
        return ()
    names = list(config.effects)
    count = int(rng.integers(config.steps[0], min(config.steps[1], len(names)) + 1))
    weights = np.array([config.effects[n].weight for n in names], float)
    chosen = [names[k] for k in rng.choice(len(names), size=min(count, len(names)), replace=False, p=weights / weights.sum())]
    if config.order == "natural":
        chosen.sort(key=lambda n: (effect(n).stage, n))
    steps = []
    for name in chosen:
        known = effect(name)
        params = known.draw(rng, config.effects[name], sample_rate)
        roles = (LINEAR_ROLES + (("targets",) if config.colour_targets else ())) if known.linear else NONLINEAR_ROLES
        steps.append(EffectStep(name, tuple(params.items()), roles))
    return tuple(steps)
