"""Clip pools: the catalogs a build reads, and how speakers and clips are split (train/dev/test) by seed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..catalog import Catalog, Clip, read_catalog
from ..config import SPLITS, Config
from ..errors import PreflightError


@dataclass(frozen=True)
class Catalogs:
    """The catalogs a build draws from, one per kind."""

    speech: Catalog
    noise: Catalog
    rirs: Catalog = field(default_factory=lambda: Catalog([]))

    def all(self) -> Catalog:
        """Every clip in one catalog with absolute paths (what the renderer resolves ids with)."""
        return Catalog.merge([self.speech, self.noise, self.rirs])


def load_catalogs(config: Config) -> Catalogs:
    """Read the config's catalog files (each clip checked against its declared kind)."""

    def load(paths: Sequence[str], kind: str) -> Catalog:
        catalog = Catalog.merge([read_catalog(p) for p in paths]) if paths else Catalog([])
        wrong = [c for c in catalog if c.kind != kind]
        if wrong:
            raise PreflightError(f"catalogs.{'rirs' if kind == 'rir' else kind}: clip {wrong[0].id!r} has kind {wrong[0].kind!r}, expected {kind!r}")
        return catalog

    c = config.catalogs
    return Catalogs(load(c.speech, "speech"), load(c.noise, "noise"), load(c.rirs, "rir"))


def split_counts(num_examples: int, fractions: dict[str, float]) -> dict[str, int]:
    """Examples per split: dev and test rounded, train takes the rest."""
    counts = {name: int(round(num_examples * fractions[name])) for name in SPLITS if name != "train"}
    counts["train"] = num_examples - sum(counts.values())
    if counts["train"] < 0 or (fractions["train"] == 0 and counts["train"] > 0):
        counts = {name: int(math.floor(num_examples * fractions[name])) for name in SPLITS}
        counts[max(fractions, key=fractions.__getitem__)] += num_examples - sum(counts.values())
    return {name: counts[name] for name in SPLITS}


def partition(items: Sequence[str], fractions: dict[str, float], rng: np.random.Generator, what: str, minimum: int = 1) -> dict[str, tuple[str, ...]]:
    """Shuffle ``items`` and cut them into splits by share, at least ``minimum`` per split with a share."""
    active = [name for name in SPLITS if fractions[name] > 0]
    if len(items) < minimum * len(active):
        raise PreflightError(
            f"{len(items)} {what} cannot fill {len(active)} disjoint splits ({', '.join(active)})"
            + (f" with {minimum} each" if minimum > 1 else "") + f": add {what} or set the share of a split to 0 under 'splits'"
        )
    order = [items[k] for k in rng.permutation(len(items))]
    sizes = {name: max(minimum, int(round(len(items) * fractions[name]))) for name in active}
    while sum(sizes.values()) > len(items):
        shrinkable = [n for n in active if sizes[n] > minimum]
        sizes[max(shrinkable, key=lambda n: (sizes[n] - len(items) * fractions[n], sizes[n]))] -= 1
    biggest = max(active, key=fractions.__getitem__)
    sizes[biggest] += len(items) - sum(sizes.values())
    out: dict[str, tuple[str, ...]] = {name: () for name in SPLITS}
    start = 0
    for name in active:
        out[name] = tuple(sorted(order[start : start + sizes[name]]))
        start += sizes[name]
    return out


def speaker_of(clip: Clip) -> str:
    """A clip's speaker; a clip with no speaker is treated as a speaker of its own."""
    return clip.speaker or f"clip:{clip.id}"
