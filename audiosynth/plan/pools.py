"""Clip pools: the catalogs a build reads, and how speakers and clips are split (train/dev/test) by seed."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
            raise PreflightError(
                f"catalogs.{'rirs' if kind == 'rir' else kind}: clip {wrong[0].id!r} has kind {wrong[0].kind!r}, expected {kind!r}"
            )
        return catalog

    c = config.catalogs
    speech = load(c.speech, "speech")
    if c.text_norm is not None:
        from ..corpora.text import normalize_clip, text_normalizer

        normalize = text_normalizer(c.text_norm)
        speech = Catalog([normalize_clip(clip, normalize) for clip in speech], speech.root, speech.name)
    return Catalogs(speech, load(c.noise, "noise"), load(c.rirs, "rir"))


def split_counts(num_examples: int, fractions: dict[str, float]) -> dict[str, int]:
    """Examples per split: dev and test rounded, train takes the rest."""
    counts = {name: round(num_examples * fractions[name]) for name in SPLITS if name != "train"}
    counts["train"] = num_examples - sum(counts.values())
    if counts["train"] < 0 or (fractions["train"] == 0 and counts["train"] > 0):
        counts = {name: math.floor(num_examples * fractions[name]) for name in SPLITS}
        counts[max(fractions, key=fractions.__getitem__)] += num_examples - sum(counts.values())
    return {name: counts[name] for name in SPLITS}


def partition(
    items: Sequence[str], fractions: dict[str, float], rng: np.random.Generator, what: str, minimum: int = 1
) -> dict[str, tuple[str, ...]]:
    """Shuffle ``items`` and cut them into splits by share, at least ``minimum`` per split with a share."""
    active = [name for name in SPLITS if fractions[name] > 0]
    if len(items) < minimum * len(active):
        raise PreflightError(
            f"{len(items)} {what} cannot fill {len(active)} disjoint splits ({', '.join(active)})"
            + (f" with {minimum} each" if minimum > 1 else "")
            + f": add {what} or set the share of a split to 0 under 'splits'"
        )
    order = [items[k] for k in rng.permutation(len(items))]
    sizes = {name: max(minimum, round(len(items) * fractions[name])) for name in active}
    while sum(sizes.values()) > len(items):
        shrinkable = [n for n in active if sizes[n] > minimum]
        sizes[max(shrinkable, key=lambda n: (sizes[n] - len(items) * fractions[n], sizes[n]))] -= 1
    biggest = max(active, key=fractions.__getitem__)
    sizes[biggest] += len(items) - sum(sizes.values())
    out: dict[str, tuple[str, ...]] = dict.fromkeys(SPLITS, ())
    start = 0
    for name in active:
        out[name] = tuple(sorted(order[start : start + sizes[name]]))
        start += sizes[name]
    return out


def speaker_of(clip: Clip) -> str:
    """A clip's speaker; a clip with no speaker is treated as a speaker of its own."""
    return clip.speaker or f"clip:{clip.id}"


def assign_speakers(
    speech: Sequence[Clip], fractions: dict[str, float], rng: np.random.Generator, use_catalog_splits: bool, catalog_name: str, minimum: int
) -> dict[str, tuple[str, ...]]:
    """Speakers per split. A speaker whose clips declare a split keeps it (refused if they declare
    two); every other speaker is partitioned with ``rng`` (the planner's stream ``[seed, 1]``) over
    the shares, whatever the declared ones are; with no declared split every split gets at least
    ``minimum`` speakers. ``use_catalog_splits`` false ignores the declared splits."""
    declared = declared_splits(speech, use_catalog_splits)
    crossing = sorted(spk for spk, names in declared.items() if len(names) > 1)
    if crossing:
        raise PreflightError(
            f"speaker {crossing[0]!r} appears in catalog splits {sorted(declared[crossing[0]])}; "
            "fix the catalogs or set splits.use_catalog_splits: false"
        )
    bad = sorted({n for names in declared.values() for n in names} - set(SPLITS))
    if bad:
        clip = next(c for c in speech if c.split == bad[0])
        raise PreflightError(
            f"{catalog_name[:300]}: clip {clip.id!r}: catalog split {bad[0]!r} is not one of "
            f"{', '.join(SPLITS)}; fix the catalogs or set splits.use_catalog_splits: false"
        )
    undeclared = sorted({speaker_of(c) for c in speech} - set(declared))
    if not declared:  # no catalog split: every split must get enough speakers
        return partition(undeclared, fractions, rng, "speakers", minimum)
    parts = partition(undeclared, fractions, rng, "speakers", 0) if undeclared else dict.fromkeys(SPLITS, ())
    return {name: tuple(sorted(parts[name] + tuple(s for s, n in declared.items() if name in n))) for name in SPLITS}


def declared_splits(clips: Sequence[Clip], use_catalog_splits: bool) -> dict[str, set[str]]:
    """Speaker -> the splits its clips declare (empty when ``use_catalog_splits`` is false)."""
    declared: dict[str, set[str]] = {}
    if use_catalog_splits:
        for clip in clips:
            if clip.split:
                declared.setdefault(speaker_of(clip), set()).add(clip.split)
    return declared


def no_speaker_cause(name: str, speech: Sequence[Clip], use_catalog_splits: bool, excluded: Mapping[str, int]) -> str:
    """Why split ``name`` has no usable speaker among the ``speech`` catalog's (``excluded``: the
    clips left out, by reason), and what to do about it (for the pre-flight error)."""
    declared = declared_splits(speech, use_catalog_splits)
    remedy = (
        f"set splits.use_catalog_splits: false, or splits.{name}: 0 (the other shares summing to 1), "
        f"or add a catalog with {name} speakers or speakers without a declared split"
    )
    if not declared:
        return f"none of its speakers has a usable speech clip (excluded: {dict(excluded)})"
    per_split = Counter(n for names in declared.values() for n in names)
    summary = ", ".join(f"{n}: {per_split[n]} speakers" for n in sorted(per_split))
    if per_split[name]:
        return (
            f"the catalogs declare it for {per_split[name]} speakers, none with a usable speech clip (excluded: {dict(excluded)}); {remedy}"
        )
    if len(declared) == len({speaker_of(c) for c in speech}):
        return f"every speaker of the catalogs declares a split ({summary}); none is left for {name!r}: {remedy}"
    return (
        f"no speaker declares it ({summary}) and the speakers without a declared split gave it none (excluded: {dict(excluded)}): {remedy}"
    )
