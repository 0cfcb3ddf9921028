"""Streaming statistics of a built dataset, for its report: one pass over ``manifest.jsonl``.

Only counters, per-split sets of clip and speaker names, and a bounded random sample of each
plotted quantity are kept, so a dataset of millions of rows needs little memory.
"""

from __future__ import annotations

import json
import math
import random
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..catalog import Catalog
from ..config import SPLITS
from ..dataset.ranges import label_ranges, speech_catalog
from ..dataset.rows import row_talkers, speaker_name
from ..dataset.trust import read_rows
from ..names import is_number

Row = dict[str, Any]  # one manifest row
Extract = Callable[[Row], list[float]]  # a drawn quantity's values in one row
COVERAGE_BINS = 10
SAMPLE_CAPACITY = 100_000
# plotted label -> axis title; role-prefixed labels (s1_rt60_s, clean_dbfs, s2_dbfs) are pooled
LABEL_PLOTS = {
    "duration": "duration (s)",
    "snr_db": "snr_db (dB)",
    "sir_db": "sir_db, every talker (dB)",
    "overlap_ratio": "overlap_ratio",
    "rt60_s": "rt60_s (s)",
    "drr_db": "drr_db (dB)",
    "c50_db": "c50_db (dB)",
    "mix_dbfs": "mix_dbfs (dBFS)",
    "speech_dbfs": "clean_dbfs / sN_dbfs (dBFS)",
    "noise_dbfs": "noise_dbfs (dBFS)",
    "speech_ratio": "speech_ratio",
    "activity_overlap_ratio": "activity_overlap_ratio",
    "channel_bandwidth_hz": "channel: effective bandwidth of the mixture (Hz)",
    "channel_clipped_fraction": "channel: clipped share of the mixture",
}
_ROLE_LABEL = re.compile(r"^(?:clean|s\d+)_(dbfs)$|^s\d+_(rt60_s|drr_db|c50_db)$")


class Sample:
    """Exact count, min, max and mean of a stream of numbers, and a uniform random sample of at
    most ``capacity`` of them for histograms (reservoir sampling: bounded memory)."""

    def __init__(self, capacity: int = SAMPLE_CAPACITY, seed: int = 0) -> None:
        self.capacity = capacity
        self.n = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.values = array("d")
        self._rng = random.Random(seed)

    def add(self, x: float) -> None:
        """Count one value."""
        self.n += 1
        self.total += x
        self.min, self.max = min(self.min, x), max(self.max, x)
        if len(self.values) < self.capacity:
            self.values.append(x)
        else:
            slot = self._rng.randrange(self.n)
            if slot < self.capacity:
                self.values[slot] = x

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan


@dataclass
class Coverage:
    """How the values of one drawn quantity fill its configured range ``[low, high]``."""

    name: str
    low: float
    high: float
    extract: Extract
    sample: Sample = field(default_factory=Sample)
    bins: list[int] = field(default_factory=lambda: [0] * COVERAGE_BINS)
    outside: int = 0
    tolerance: float = 0.0  # a measured value this far outside the range still counts as inside

    def add(self, x: float) -> None:
        """Count one sampled value."""
        self.sample.add(x)
        if not self.low - self.tolerance <= x <= self.high + self.tolerance:
            self.outside += 1
        elif not self.low <= x <= self.high:
            self.bins[0 if x < self.low or self.high == self.low else COVERAGE_BINS - 1] += 1
        elif self.high == self.low:
            self.bins[0] += 1
        else:
            self.bins[min(int((x - self.low) / (self.high - self.low) * COVERAGE_BINS), COVERAGE_BINS - 1)] += 1

    def filled(self) -> tuple[int, int]:
        """(non-empty bins, bins): 10 equal bins of the range; 1 bin for a fixed value."""
        total = 1 if self.high == self.low else COVERAGE_BINS
        return sum(count > 0 for count in self.bins[:total]), total


@dataclass
class DatasetStats:
    """Everything the report shows that is gathered in one pass over the manifest."""

    num_examples: int = 0
    seconds: float = 0.0
    split_examples: Counter[str] = field(default_factory=Counter)
    split_seconds: dict[str, float] = field(default_factory=dict)
    split_speakers: dict[str, set[str]] = field(default_factory=dict)
    split_noises: dict[str, set[str]] = field(default_factory=dict)
    split_rirs: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, Sample] = field(default_factory=dict)
    coverage: list[Coverage] = field(default_factory=list)
    uses: dict[str, Counter[str]] = field(default_factory=lambda: {"speech": Counter(), "noise": Counter(), "rir": Counter()})
    first_rows: list[dict[str, Any]] = field(default_factory=list)

    def splits(self) -> list[str]:
        """Splits with examples, train/dev/test first."""
        return [s for s in SPLITS if self.split_examples[s]] + sorted(set(self.split_examples) - set(SPLITS))


def label_values(row: Row) -> Iterator[tuple[str, float]]:
    """``(plotted label, value)`` pairs of one manifest row (see `LABEL_PLOTS`)."""
    labels = row["labels"]
    yield "duration", float(row["duration"])
    for key, value in labels.items():
        values = list(value.values()) if key == "sir_db" and isinstance(value, dict) else [value]
        match = _ROLE_LABEL.match(key)
        name = ("speech_dbfs" if match.group(1) else match.group(2)) if match else key
        if name not in LABEL_PLOTS or (name == "noise_dbfs" and not labels.get("noise_clip")):
            continue
        yield from ((name, float(v)) for v in values if is_number(v) and math.isfinite(v))
    channel = labels.get("channel")
    if isinstance(channel, dict):
        for key in ("bandwidth_hz", "clipped_fraction"):
            v = channel.get(key)
            if is_number(v) and math.isfinite(v):
                yield f"channel_{key}", float(v)


def _step_param(effect: str, param: str, splits: set[str], inside: bool) -> Extract:
    """The drawn values of one parameter of one effect in a row's chain (its scene), for the rows
    whose split is in ``splits`` (``inside``) or not in it."""

    def values(row: Row) -> list[float]:
        if (row.get("split") in splits) != inside:
            return []
        return [
            float(v)
            for step in (row.get("scene") or {}).get("chain") or []
            if isinstance(step, dict) and step.get("name") == effect
            for v in [(step.get("params") or {}).get(param)]
            if is_number(v)
        ]

    return values


def _chain_ranges(config: dict[str, Any]) -> list[tuple[str, Any, Extract]]:
    """Every configured range of the device/channel effects (``channel.effects.<name>.<field>``;
    a split's own chain: ``channel.splits.<split>.effects...``), against the values drawn into the
    chains of the rows it set."""
    channel = config.get("channel") or {}
    own = channel.get("splits") or {}
    settings = [("channel", channel, set(own), False)]
    settings += [(f"channel.splits.{split}", chain or {}, {split}, True) for split, chain in own.items()]
    wanted: list[tuple[str, Any, Extract]] = []
    for prefix, chain, splits, inside in settings:
        if not chain.get("probability"):
            continue
        for name, effect_settings in (chain.get("effects") or {}).items():
            for param, span in (effect_settings or {}).items():
                numbers = isinstance(span, list) and len(span) == 2 and all(is_number(v) for v in span)
                if numbers and param not in ("order", "jumps"):  # counts, not drawn values saved under that name
                    wanted.append((f"{prefix}.effects.{name}.{param}", span, _step_param(name, param, splits, inside)))
    return wanted


# -- drawn room geometry of one row, read from its scene (inputs of the simulation, not measured) --
def _room(row: Row) -> dict[str, Any]:
    return (row.get("scene") or {}).get("room") or {}


def _absorption(row: Row) -> list[float]:
    return [a for wall in _room(row).get("absorption") or [] for a in wall]


def _room_size(axis: int) -> Extract:
    return lambda row: [room["size_m"][axis]] if (room := _room(row)) else []


def _distances(row: Row) -> list[float]:
    """Every source's distance to the array centre (the microphones' mean)."""
    room = _room(row)
    if not room:
        return []
    centre = np.mean(np.asarray(room["mics_m"], dtype=float), axis=0)
    return [math.dist(p, centre) for p in room["sources_m"]]


def coverage_quantities(config: dict[str, Any], speech: Catalog | None = None) -> list[Coverage]:
    """The quantities that ``config`` (build.json's) randomizes, each with its configured range:
    the labels measured on the written files (`dataset.ranges.label_ranges`, with their tolerances;
    ``speech``: the speech catalogs, which tell what ratio mode's overlap targeted),
    and the drawn room geometry, read from each row's scene."""
    if not config:
        return []
    reverb = config.get("reverb") or {}
    room = reverb.get("room") or {}
    quantities = [Coverage(r.name, r.low, r.high, r.values, tolerance=r.tolerance) for r in label_ranges(config, speech)]
    wanted: list[tuple[str, Any, Extract]] = []
    if reverb.get("probability", 0) > 0 and reverb.get("source") == "simulated":
        if room.get("wall_absorption") is not None:
            wanted.append(("reverb.room.wall_absorption", room["wall_absorption"], _absorption))
        for axis, name in enumerate(("length_m", "width_m", "height_m")):
            wanted.append((f"reverb.room.{name}", room.get(name), _room_size(axis)))
        if (room.get("array") or {}).get("type", "single") != "explicit":  # explicit offsets need not be centred
            wanted.append(("reverb.room.distance_m", room.get("distance_m"), _distances))
    wanted.extend(_chain_ranges(config))
    return quantities + [Coverage(name, float(span[0]), float(span[1]), extract) for name, span, extract in wanted if span is not None]


def scan_manifest(
    root: Path, config: dict[str, Any], *, keep_rows: int = 3, progress: bool = True, total: int | None = None
) -> DatasetStats:
    """One streamed pass over ``root/manifest.jsonl``; keeps the first ``keep_rows`` rows only."""
    stats = DatasetStats(coverage=coverage_quantities(config, speech_catalog(root)))
    for row in tqdm(read_rows(root), desc="report", unit="ex", total=total, disable=not progress):  # checked rows
        split, labels = row["split"], row["labels"]
        stats.num_examples += 1
        stats.seconds += row["duration"]
        stats.split_examples[split] += 1
        stats.split_seconds[split] = stats.split_seconds.get(split, 0.0) + row["duration"]
        for talker in row_talkers(row):
            stats.split_speakers.setdefault(split, set()).add(speaker_name(talker))
            stats.uses["speech"][talker["clip"]] += 1
        if labels.get("noise_clip"):
            stats.uses["noise"][labels["noise_clip"]] += 1
            stats.split_noises.setdefault(split, set()).add(labels["noise_clip"])
        for source in (row.get("scene") or {}).get("sources", []):
            if source.get("rir_clip"):
                stats.uses["rir"][source["rir_clip"]] += 1
                stats.split_rirs.setdefault(split, set()).add(source["rir_clip"])
        for name, value in label_values(row):
            stats.labels.setdefault(name, Sample()).add(value)
        for quantity in stats.coverage:
            for value in quantity.extract(row):
                quantity.add(float(value))
        if len(stats.first_rows) < keep_rows:
            stats.first_rows.append(row)
    return stats


def catalog_size(paths: Iterable[str]) -> int | None:
    """Rows in the catalog files named by the config, or None when one cannot be read."""
    total = 0
    try:
        for path in paths:
            if not Path(path).is_file():  # build.json is untrusted: no FIFO or device (/dev/zero) is read
                return None
            with open(path, encoding="utf-8") as handle:
                total += sum(1 for line in handle if line.strip())
    except (OSError, TypeError, UnicodeDecodeError):
        return None
    return total


def split_checks(stats: DatasetStats, config: dict[str, Any]) -> list[list[Any]]:
    """``[what, split pair, in common, PASS/FAIL, offenders]`` for every pair of splits: speakers
    always, noise clips / RIRs where the config asks them disjoint."""
    splits_cfg = config.get("splits") or {}
    checks = [("speakers", stats.split_speakers)]
    if splits_cfg.get("disjoint_noise"):
        checks.append(("noise clips", stats.split_noises))
    if splits_cfg.get("disjoint_rirs"):
        checks.append(("RIRs", stats.split_rirs))
    rows = []
    for what, by_split in checks:
        for a, b in combinations(stats.splits(), 2):
            common = sorted(by_split.get(a, set()) & by_split.get(b, set()))
            shown = ", ".join(common[:20]) + (f" ... and {len(common) - 20} more" if len(common) > 20 else "")
            rows.append([what, f"{a} / {b}", len(common), "FAIL" if common else "PASS", shown])
    return rows


def read_rejects(path: Path, keep: int = 20) -> tuple[Counter[str], list[dict[str, Any]], int]:
    """Streamed: counts per reason, the first ``keep`` rows, and the number of unreadable lines."""
    reasons: Counter[str] = Counter()
    first: list[dict[str, Any]] = []
    bad = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                reasons[str(row["reason"])] += 1
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if len(first) < keep:
                first.append(row)
    return reasons, first, bad
