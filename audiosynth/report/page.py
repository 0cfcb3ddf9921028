"""An HTML report of a built dataset: ``OUT/index.html`` plus the PNG plots it references.

Sections: summary, label distributions, coverage of the configured ranges, reuse of clips,
split check, example spectrograms, rejects, validation. The numbers come from one streamed pass
over ``manifest.jsonl`` (`report.stats`), the plots from `report.figures`; this module lays
them out as HTML, every value escaped.
"""

from __future__ import annotations

import html
import math
import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..dataset.trust import read_build_info
from ..errors import AudiosynthError, DatasetError, OutputError
from ..io.files import output_errors, write_atomic
from . import figures
from .stats import (
    COVERAGE_BINS,
    LABEL_PLOTS,
    SAMPLE_CAPACITY,
    DatasetStats,
    catalog_size,
    read_rejects,
    scan_manifest,
    split_checks,
)

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


# -- HTML helpers -----------------------------------------------------------------------
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


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_esc(title)}</h2>\n{body}</section>\n'


# -- sections -----------------------------------------------------------------------------
def summary_section(stats: DatasetStats, info: dict[str, Any], out: Path) -> str:
    """Examples, hours, per-split counts, hours and speakers (with a bar chart), seed, task."""
    config = info.get("config") or {}
    facts = [
        ["task", config.get("task", "?")],
        ["seed", info.get("seed", config.get("seed", "?"))],
        ["examples", stats.num_examples],
        ["hours", _num(stats.seconds / 3600, 4)],
        ["format", info.get("format", "?")],
        ["status", info.get("status", "?")],
        ["fingerprint", info.get("fingerprint", "?")],
        ["audiosynth", (info.get("versions") or {}).get("audiosynth", "?")],
    ]
    splits = stats.splits()
    per_split = [[s, stats.split_examples[s], _num(stats.split_seconds[s] / 3600, 4), len(stats.split_speakers.get(s, ()))] for s in splits]
    chart = figures.split_bars(
        splits, [len(stats.split_speakers.get(s, ())) for s in splits], [stats.split_seconds[s] / 3600 for s in splits], out / "summary.png"
    )
    image = _img(chart, "speakers and hours per split")
    return (
        _table(["field", "value"], facts, "summary-facts")
        + _table(["split", "examples", "hours", "speakers"], per_split, "summary-splits")
        + image
    )


def distributions_section(stats: DatasetStats, out: Path) -> str:
    """Histograms (and count, min, mean, max) of every label present."""
    present = [name for name in LABEL_PLOTS if name in stats.labels]
    samples = [(name, stats.labels[name]) for name in present]
    rows = [[name, s.n, _num(s.min), _num(s.mean), _num(s.max)] for name, s in samples]
    images = [_img(figures.histogram(stats.labels[n].values, LABEL_PLOTS[n], out / f"dist_{n}.png"), n) for n in present]
    note = _p(
        f"Measured labels; role-prefixed labels (s1_rt60_s, clean_dbfs, s2_dbfs, ...) are pooled. Histograms of up to "
        f"{SAMPLE_CAPACITY} values per label (a uniform sample when there are more); count, min, mean and max are exact.",
        "note",
    )
    return note + _table(["label", "values", "min", "mean", "max"], rows, "label-stats") + f'<div class="plots">{"".join(images)}</div>\n'


def coverage_section(stats: DatasetStats, out: Path) -> str:
    """Each randomized quantity against its configured range: shaded histogram and bin fill."""
    if not stats.coverage:
        return _p("No configured range to check (build.json holds no config).")
    rows, images = [], []
    for q in stats.coverage:
        filled, bins = q.filled()
        rows.append(
            [
                q.name,
                _num(q.low),
                _num(q.high),
                q.sample.n,
                _num(q.sample.min),
                _num(q.sample.max),
                f"{filled}/{bins} ({100 * filled / bins:.0f}%)",
                q.outside,
                "FAIL" if q.outside else "PASS",
            ]
        )
        if q.sample.n:
            chart = figures.histogram(q.sample.values, q.name, out / f"cov_{_safe_name(q.name)}.png", (q.low, q.high))
            images.append(_img(chart, q.name))
    note = _p(
        "Labels measured on the written files (snr_db, speech_level_dbfs less gain_db, sIR as s1_dbfs - sk_dbfs, "
        "activity_overlap_ratio, rt60_s), and the room geometry drawn by the planner (from each row's scene); "
        f"'bins filled': non-empty bins among {COVERAGE_BINS} equal bins of the configured range; "
        "'outside range': values outside it by more than the tolerance (FAIL).",
        "note",
    )
    header = [
        "quantity",
        "configured min",
        "configured max",
        "values",
        "sampled min",
        "sampled max",
        "bins filled",
        "outside range",
        "check",
    ]
    return note + _table(header, rows, "coverage-table") + f'<div class="plots">{"".join(images)}</div>\n'


def reuse_section(stats: DatasetStats, info: dict[str, Any], out: Path) -> str:
    """How often each speech utterance, noise clip and catalog RIR was used."""
    catalogs = (info.get("config") or {}).get("catalogs") or {}
    kinds = (("speech", "speech utterances", "speech"), ("noise", "noise clips", "noise"), ("rir", "catalog RIRs", "rirs"))
    summary, top = [], []
    for kind, title, catalog in kinds:
        uses = stats.uses[kind]
        size = catalog_size(catalogs[catalog]) if catalogs.get(catalog) else None
        summary.append([title, len(uses), "?" if size is None else size, sum(uses.values()), max(uses.values(), default=0)])
        top += [[title, clip, count] for clip, count in uses.most_common(5)]
    image = _img(figures.use_histograms([(title, stats.uses[kind]) for kind, title, _ in kinds], out / "reuse.png"), "use counts")
    return (
        _table(["kind", "distinct used", "in catalogs", "uses", "most uses of one"], summary, "reuse-table")
        + image
        + "<h3>Most used</h3>\n"
        + _table(["kind", "clip", "uses"], top, "most-used")
    )


def split_section(stats: DatasetStats, config: dict[str, Any]) -> str:
    """PASS/FAIL per pair of splits, offenders listed."""
    rows = split_checks(stats, config)
    if not rows:
        return _p("Only one split: nothing to compare.")
    return _table(["check", "splits", "in common", "result", "offenders"], rows, "split-check")


def examples_section(root: Path, rows: list[dict[str, Any]], out: Path, progress: bool = True) -> str:
    """A spectrogram PNG for each of ``rows``."""
    if not rows:
        return _p("No example shown.")
    parts = []
    for k, row in enumerate(tqdm(rows, desc="spectrograms", unit="ex", disable=not progress)):
        try:
            image = _img(figures.plot_spectrograms(root, row, out / f"example_{k}.png"), row["id"])
        except OutputError:
            raise
        except (OSError, KeyError, RuntimeError, tarfile.TarError, AudiosynthError, ValueError) as err:
            image = _p(f"could not read the audio: {err}")
        parts.append(f"<h3>{_esc(row['id'])}</h3>\n" + _p("roles: " + ", ".join(row["audio"])) + image)
    return "".join(parts)


def rejects_section(root: Path, info: dict[str, Any], out: Path) -> str:
    """``rejects.jsonl`` (bar chart per reason, first 20 rows) and build.json's excluded_speech."""
    parts = []
    path = root / "rejects.jsonl"
    reasons, first, bad = read_rejects(path) if path.is_file() else (Counter(), [], 0)
    if reasons:
        chart = figures.reject_bars(reasons, out / "rejects.png")
        parts.append(_table(["reason", "count"], reasons.most_common(), "reject-reasons") + _img(chart, "rejects per reason"))
        extra = [k for k in ("detail", "example", "path") if any(k in row for row in first)]
        parts.append(
            f"<h3>First {len(first)} rejects</h3>\n"
            + _table(["clip", "reason", *extra], ([r.get(k, "") for k in ("clip", "reason", *extra)] for r in first), "rejects-first")
        )
    if bad:
        parts.append(_p(f"{bad} line(s) of rejects.jsonl could not be read."))
    excluded = info.get("excluded_speech") or {}
    if excluded:
        parts.append(
            "<h3>Speech clips excluded before planning</h3>\n" + _table(["reason", "count"], sorted(excluded.items()), "excluded-speech")
        )
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
    return (
        _p(f"{len(result.problems)} problem(s) in {result.num_examples} examples:")
        + "<ul>\n"
        + "".join(f"<li>{_esc(p)}</li>\n" for p in shown)
        + "</ul>\n"
        + more
    )


# -- entry point --------------------------------------------------------------------------
SECTIONS = (
    ("summary", "Summary"),
    ("distributions", "Distributions"),
    ("coverage", "Coverage"),
    ("reuse", "Reuse"),
    ("splits", "Split check"),
    ("examples", "Example spectrograms"),
    ("rejects", "Rejects"),
    ("validation", "Validation"),
)


def make_report(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    run_validate: bool = True,
    progress: bool = True,
    num_examples_shown: int = 3,
) -> Path:
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
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n<style>{CSS}</style>\n'
        f"</head>\n<body>\n<h1>{_esc(title)}</h1>\n{_p(str(root.resolve()), 'note')}<nav>{nav}</nav>\n"
        + "".join(_section(key, name, bodies[key]) for key, name in SECTIONS)
        + "</body>\n</html>\n"
    )
    path = out / "index.html"
    write_atomic(path, page.encode("utf-8"))
    return path
