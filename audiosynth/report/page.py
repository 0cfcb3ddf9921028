"""An HTML report of a built dataset: ``OUT/index.html`` plus the PNG plots it references.

Sections: summary, label distributions, coverage of the configured ranges, reuse of clips,
split check, example spectrograms, rejects, validation. ``manifest.jsonl`` is streamed once:
only counters, per-split sets of clip and speaker names, and a bounded random sample of each
plotted quantity are kept, so a dataset of millions of rows needs little memory. Plots are
drawn on `matplotlib.figure.Figure` objects rendered by the Agg canvas: no pyplot state, no
GUI backend, nothing left open after a figure is saved.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import random
import re
import tarfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image
from tqdm import tqdm

from ..catalog import Catalog
from ..config import SPLITS
from ..dataset.ranges import label_ranges, speech_catalog
from ..dataset.rows import row_talkers, speaker_name
from ..dataset.trust import read_build_info, read_rows
from ..errors import AudiosynthError, DatasetError, OutputError
from ..io.files import output_errors, write_atomic

Row = dict[str, Any]  # one manifest row
Extract = Callable[[Row], list[float]]  # a drawn quantity's values in one row
COVERAGE_BINS = 10
SAMPLE_CAPACITY = 100_000
DPI = 90
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
}
_ROLE_LABEL = re.compile(r"^(?:clean|s\d+)_(dbfs)$|^s\d+_(rt60_s|drr_db|c50_db)$")
CSS = """
body { font-family: sans-serif; margin: 2em; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.pass { background: #dff0d8; font-weight: bold; } td.fail { background: #f2dede; font-weight: bold; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; } img { border: 1px solid #eee; }
.note { color: #666; font-size: 0.9em; }
"""


# -- streaming statistics -----------------------------------------------------------------
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
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                yield name, float(v)


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
    the labels measured on the written files (`validate.label_ranges`, with their tolerances;
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
    return quantities + [Coverage(name, float(span[0]), float(span[1]), extract) for name, span, extract in wanted if span is not None]


def scan_manifest(root: Path, config: dict[str, Any], *, keep_rows: int = 3, progress: bool = True, total: int | None = None) -> DatasetStats:
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


# -- HTML and plot helpers ----------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], table_id: str | None = None) -> str:
    """A plain table, every cell escaped; PASS/FAIL cells are coloured."""
    def cell(value: Any) -> str:
        cls = {"PASS": ' class="pass"', "FAIL": ' class="fail"'}.get(str(value), "")
        return f"<td{cls}>{_esc(value)}</td>"
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>\n" for row in rows)
    ident = f' id="{_esc(table_id)}"' if table_id else ""
    return f"<table{ident}><tr>{''.join(f'<th>{_esc(h)}</th>' for h in header)}</tr>\n{body}</table>\n"


def _img(name: str, alt: str) -> str:
    return f'<img src="{_esc(name)}" alt="{_esc(alt)}">'


def _p(text: str, cls: str | None = None) -> str:
    attribute = f' class="{cls}"' if cls else ""
    return f"<p{attribute}>{_esc(text)}</p>\n"


def _figure(width: float, height: float) -> Figure:
    """A figure of fixed size (inches at `DPI`), outside pyplot's registry."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> str:
    """Render ``fig`` with the Agg canvas and write it to ``path`` as an RGB PNG (the alpha
    channel of a figure is opaque: dropping it halves the file); returns the file name."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    data = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(data, format="png")
    fig.clear()
    write_atomic(path, data.getvalue())  # a full disk: OutputError naming it, nothing half-written
    return path.name


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _histogram(values: array, title: str, path: Path, span: tuple[float, float] | None = None) -> str:
    """A fixed-size histogram PNG; ``span`` is shaded (the configured range)."""
    fig = _figure(4.2, 2.8)
    ax = fig.add_subplot()
    data = np.asarray(values, dtype=float)
    low, high = float(data.min()), float(data.max())
    if span is not None:
        ax.axvspan(span[0], span[1], color="tab:green", alpha=0.18, label="configured range")
        low, high = min(low, span[0]), max(high, span[1])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    ax.hist(data, bins=list(np.linspace(low, high, 31)), color="tab:blue")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("count")
    if span is not None:
        ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_esc(title)}</h2>\n{body}</section>\n'


# -- sections -----------------------------------------------------------------------------
def summary_section(stats: DatasetStats, info: dict[str, Any], out: Path) -> str:
    """Examples, hours, per-split counts, hours and speakers (with a bar chart), seed, task."""
    config = info.get("config") or {}
    facts = [["task", config.get("task", "?")], ["seed", info.get("seed", config.get("seed", "?"))],
             ["examples", stats.num_examples], ["hours", _num(stats.seconds / 3600, 4)],
             ["format", info.get("format", "?")], ["status", info.get("status", "?")], ["fingerprint", info.get("fingerprint", "?")],
             ["audiosynth", (info.get("versions") or {}).get("audiosynth", "?")]]
    splits = stats.splits()
    per_split = [[s, stats.split_examples[s], _num(stats.split_seconds[s] / 3600, 4), len(stats.split_speakers.get(s, ()))] for s in splits]
    fig = _figure(8, 2.8)
    left, right = fig.subplots(1, 2)
    left.bar(splits, [len(stats.split_speakers.get(s, ())) for s in splits], color="tab:purple")
    left.set_title("speakers per split", fontsize=10)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.bar(splits, [stats.split_seconds[s] / 3600 for s in splits], color="tab:orange")
    right.set_title("hours per split", fontsize=10)
    image = _img(_save(fig, out / "summary.png"), "speakers and hours per split")
    return _table(["field", "value"], facts, "summary-facts") + _table(["split", "examples", "hours", "speakers"], per_split, "summary-splits") + image


def distributions_section(stats: DatasetStats, out: Path) -> str:
    """Histograms (and count, min, mean, max) of every label present."""
    present = [name for name in LABEL_PLOTS if name in stats.labels]
    samples = [(name, stats.labels[name]) for name in present]
    rows = [[name, s.n, _num(s.min), _num(s.mean), _num(s.max)] for name, s in samples]
    images = [_img(_histogram(stats.labels[n].values, LABEL_PLOTS[n], out / f"dist_{n}.png"), n) for n in present]
    note = _p(f"Measured labels; role-prefixed labels (s1_rt60_s, clean_dbfs, s2_dbfs, ...) are pooled. Histograms of up to "
              f"{SAMPLE_CAPACITY} values per label (a uniform sample when there are more); count, min, mean and max are exact.", "note")
    return note + _table(["label", "values", "min", "mean", "max"], rows, "label-stats") + f'<div class="plots">{"".join(images)}</div>\n'


def coverage_section(stats: DatasetStats, out: Path) -> str:
    """Each randomized quantity against its configured range: shaded histogram and bin fill."""
    if not stats.coverage:
        return _p("No configured range to check (build.json holds no config).")
    rows, images = [], []
    for q in stats.coverage:
        filled, bins = q.filled()
        rows.append([q.name, _num(q.low), _num(q.high), q.sample.n, _num(q.sample.min), _num(q.sample.max),
                     f"{filled}/{bins} ({100 * filled / bins:.0f}%)", q.outside, "FAIL" if q.outside else "PASS"])
        if q.sample.n:
            images.append(_img(_histogram(q.sample.values, q.name, out / f"cov_{_safe_name(q.name)}.png", (q.low, q.high)), q.name))
    note = _p("Labels measured on the written files (snr_db, speech_level_dbfs less gain_db, sIR as s1_dbfs - sk_dbfs, "
              "activity_overlap_ratio, rt60_s), and the room geometry drawn by the planner (from each row's scene); "
              f"'bins filled': non-empty bins among {COVERAGE_BINS} equal bins of the configured range; "
              "'outside range': values outside it by more than the tolerance (FAIL).", "note")
    header = ["quantity", "configured min", "configured max", "values", "sampled min", "sampled max", "bins filled", "outside range", "check"]
    return note + _table(header, rows, "coverage-table") + f'<div class="plots">{"".join(images)}</div>\n'


def _catalog_size(paths: Iterable[str]) -> int | None:
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


def reuse_section(stats: DatasetStats, info: dict[str, Any], out: Path) -> str:
    """How often each speech utterance, noise clip and catalog RIR was used."""
    catalogs = (info.get("config") or {}).get("catalogs") or {}
    kinds = (("speech", "speech utterances", "speech"), ("noise", "noise clips", "noise"), ("rir", "catalog RIRs", "rirs"))
    fig = _figure(12, 2.8)
    summary, top = [], []
    for ax, (kind, title, catalog) in zip(fig.subplots(1, 3), kinds, strict=True):
        uses = stats.uses[kind]
        size = _catalog_size(catalogs[catalog]) if catalogs.get(catalog) else None
        summary.append([title, len(uses), "?" if size is None else size, sum(uses.values()), max(uses.values(), default=0)])
        top += [[title, clip, count] for clip, count in uses.most_common(5)]
        if uses:
            counts = np.fromiter(uses.values(), dtype=float)
            ax.hist(counts, bins=list(np.arange(0.5, counts.max() + 1.5)), rwidth=0.8, color="tab:cyan")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, "none used", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("times used")
        ax.set_ylabel("clips")
    image = _img(_save(fig, out / "reuse.png"), "use counts")
    return (_table(["kind", "distinct used", "in catalogs", "uses", "most uses of one"], summary, "reuse-table")
            + image + "<h3>Most used</h3>\n" + _table(["kind", "clip", "uses"], top, "most-used"))


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


def split_section(stats: DatasetStats, config: dict[str, Any]) -> str:
    """PASS/FAIL per pair of splits, offenders listed."""
    rows = split_checks(stats, config)
    if not rows:
        return _p("Only one split: nothing to compare.")
    return _table(["check", "splits", "in common", "result", "offenders"], rows, "split-check")


def read_audio_role(root: Path, row: dict[str, Any], role: str) -> tuple[np.ndarray, int]:
    """First channel of one audio role of a row, from the folder or from its WebDataset tar."""
    rel = row["audio"][role]
    if "shard" in row:
        with tarfile.open(root / row["shard"]) as tar:
            member = tar.extractfile(rel)
            if member is None:
                raise DatasetError(f"{row['shard']}: no member {rel}")
            data, rate = sf.read(io.BytesIO(member.read()), always_2d=True)
    else:
        data, rate = sf.read(root / rel, always_2d=True)
    return data[:, 0], rate


def plot_spectrograms(root: Path, row: dict[str, Any], path: Path) -> str:
    """One PNG: the dB spectrogram of the mixture and of every other role (first channel), on
    a shared 80 dB colour scale; 9 inches wide, a fixed height per role."""
    from scipy.signal import spectrogram

    roles = ["mix", *(r for r in row["audio"] if r != "mix")]
    specs = []
    for role in roles:
        x, rate = read_audio_role(root, row, role)
        nperseg = max(16, min(512, x.size))
        freqs, _, power = spectrogram(x, rate, nperseg=nperseg, noverlap=nperseg * 3 // 4)
        specs.append((role, freqs, 10 * np.log10(power + 1e-12), x.size / rate))
    top = max(float(s[2].max()) for s in specs)
    fig = _figure(9, 0.6 + 1.7 * len(roles))
    for ax, (role, freqs, db, seconds) in zip(np.atleast_1d(fig.subplots(len(roles), 1)), specs, strict=True):
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                          extent=(0, seconds, 0, freqs[-1] / 1000 if freqs.size else 1))
        ax.set_ylabel(f"{role}\nkHz", fontsize=9)
        fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    fig.suptitle(f"{row['id']} ({row['split']}, {row['duration']:.2f} s)", fontsize=10)
    return _save(fig, path)


def examples_section(root: Path, rows: list[dict[str, Any]], out: Path, progress: bool = True) -> str:
    """A spectrogram PNG for each of ``rows``."""
    if not rows:
        return _p("No example shown.")
    parts = []
    for k, row in enumerate(tqdm(rows, desc="spectrograms", unit="ex", disable=not progress)):
        try:
            image = _img(plot_spectrograms(root, row, out / f"example_{k}.png"), row["id"])
        except OutputError:
            raise
        except (OSError, KeyError, RuntimeError, tarfile.TarError, AudiosynthError, ValueError) as err:
            image = _p(f"could not read the audio: {err}")
        parts.append(f"<h3>{_esc(row['id'])}</h3>\n" + _p("roles: " + ", ".join(row["audio"])) + image)
    return "".join(parts)


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


def rejects_section(root: Path, info: dict[str, Any], out: Path) -> str:
    """``rejects.jsonl`` (bar chart per reason, first 20 rows) and build.json's excluded_speech."""
    parts = []
    path = root / "rejects.jsonl"
    reasons, first, bad = read_rejects(path) if path.is_file() else (Counter(), [], 0)
    if reasons:
        fig = _figure(6, 3.2)
        ax = fig.add_subplot()
        names, counts = zip(*reasons.most_common(20), strict=True)
        ax.barh(list(names)[::-1], list(counts)[::-1], color="tab:red")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title("rejects per reason (the 20 most frequent)" if len(reasons) > 20 else "rejects per reason", fontsize=10)
        ax.set_xlabel("rejected clips")
        parts.append(_table(["reason", "count"], reasons.most_common(), "reject-reasons") + _img(_save(fig, out / "rejects.png"), "rejects per reason"))
        extra = [k for k in ("detail", "example", "path") if any(k in row for row in first)]
        parts.append(f"<h3>First {len(first)} rejects</h3>\n"
                     + _table(["clip", "reason", *extra], ([r.get(k, "") for k in ("clip", "reason", *extra)] for r in first), "rejects-first"))
    if bad:
        parts.append(_p(f"{bad} line(s) of rejects.jsonl could not be read."))
    excluded = info.get("excluded_speech") or {}
    if excluded:
        parts.append("<h3>Speech clips excluded before planning</h3>\n" + _table(["reason", "count"], sorted(excluded.items()), "excluded-speech"))
    return "".join(parts) or _p("none")


def validation_section(root: Path, info: dict[str, Any], run: bool, progress: bool = True) -> str:
    """`audiosynth.validate.validate`'s problems, "OK", or why validation was skipped."""
    if not run:
        return _p("Validation skipped (not asked for).")
    from ..dataset.validate import validate

    try:
        result = validate(root, progress=progress)
    except (AudiosynthError, OSError) as err:
        return _p(f"Validation skipped: {err}")
    if result.ok:
        return _p(f"OK: {result.num_examples} examples validated, no problem.")
    shown = result.problems[:200]
    more = _p(f"... and {len(result.problems) - len(shown)} more.") if len(result.problems) > len(shown) else ""
    return (_p(f"{len(result.problems)} problem(s) in {result.num_examples} examples:")
            + "<ul>\n" + "".join(f"<li>{_esc(p)}</li>\n" for p in shown) + "</ul>\n" + more)


# -- entry point --------------------------------------------------------------------------
SECTIONS = (("summary", "Summary"), ("distributions", "Distributions"), ("coverage", "Coverage"), ("reuse", "Reuse"),
            ("splits", "Split check"), ("examples", "Example spectrograms"), ("rejects", "Rejects"), ("validation", "Validation"))


def make_report(dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *, run_validate: bool = True,
                progress: bool = True, num_examples_shown: int = 3) -> Path:
    """Write an HTML report of the built dataset in ``dataset_dir``.

    Args:
        dataset_dir: a dataset folder (folder or WebDataset layout) with manifest.jsonl.
        out_dir: where index.html and its PNGs go (default ``dataset_dir/report``).
        run_validate: re-check every example with `audiosynth.validate.validate`.
        progress: show progress bars.
        num_examples_shown: examples (the first rows) with a spectrogram figure.

    Returns the path of index.html.
    """
    root = Path(dataset_dir)
    if not (root / "manifest.jsonl").is_file():
        raise DatasetError(f"{root}: no manifest.jsonl (not a dataset, or its build did not complete)")
    info = read_build_info(root)  # {} when absent; not JSON: DatasetError naming it
    config = info.get("config") or {}
    if not isinstance(config, dict):
        raise DatasetError(f"{root / 'build.json'}: config: not an object")
    out = Path(out_dir) if out_dir is not None else root / "report"
    with output_errors(out):
        out.mkdir(parents=True, exist_ok=True)
    stats = scan_manifest(root, config, keep_rows=max(0, num_examples_shown), progress=progress, total=info.get("num_examples"))
    bodies = {
        "summary": summary_section(stats, info, out),
        "distributions": distributions_section(stats, out),
        "coverage": coverage_section(stats, out),
        "reuse": reuse_section(stats, info, out),
        "splits": split_section(stats, config),
        "examples": examples_section(root, stats.first_rows, out, progress),
        "rejects": rejects_section(root, info, out),
        "validation": validation_section(root, info, run_validate, progress),
    }
    title = f"audiosynth report: {root.resolve().name}"
    nav = " | ".join(f'<a href="#{key}">{_esc(name)}</a>' for key, name in SECTIONS)
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n<style>{CSS}</style>\n'
            f"</head>\n<body>\n<h1>{_esc(title)}</h1>\n{_p(str(root.resolve()), 'note')}<nav>{nav}</nav>\n"
            + "".join(_section(key, name, bodies[key]) for key, name in SECTIONS) + "</body>\n</html>\n")
    path = out / "index.html"
    write_atomic(path, page.encode("utf-8"))
    return path
