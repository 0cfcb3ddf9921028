"""The report's figures: fixed-size PNGs, each written by one function that returns its file name.

Figures are `matplotlib.figure.Figure` objects rendered by the Agg canvas: no pyplot state, no
GUI backend, nothing left open after a figure is saved. They take plain data (lists, counters,
arrays), not the report's statistics.
"""

from __future__ import annotations

import io
import tarfile
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from ..errors import DatasetError
from ..io.files import write_atomic

DPI = 90


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


def histogram(values: array[float], title: str, path: Path, span: tuple[float, float] | None = None) -> str:
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


def split_bars(splits: Sequence[str], speakers: Sequence[int], hours: Sequence[float], path: Path) -> str:
    """Two bar charts side by side: speakers per split and hours per split."""
    fig = _figure(8, 2.8)
    left, right = fig.subplots(1, 2)
    left.bar(splits, speakers, color="tab:purple")
    left.set_title("speakers per split", fontsize=10)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.bar(splits, hours, color="tab:orange")
    right.set_title("hours per split", fontsize=10)
    return _save(fig, path)


def use_histograms(uses: Sequence[tuple[str, Counter[str]]], path: Path) -> str:
    """One histogram per ``(title, uses per clip)`` (three side by side): how many clips were used how often."""
    fig = _figure(12, 2.8)
    for ax, (title, counter) in zip(fig.subplots(1, len(uses), squeeze=False)[0], uses, strict=True):
        if counter:
            counts = np.fromiter(counter.values(), dtype=float)
            ax.hist(counts, bins=list(np.arange(0.5, counts.max() + 1.5)), rwidth=0.8, color="tab:cyan")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, "none used", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("times used")
        ax.set_ylabel("clips")
    return _save(fig, path)


def reject_bars(reasons: Counter[str], path: Path) -> str:
    """Horizontal bars of rejected clips per reason (the 20 most frequent), most frequent on top."""
    fig = _figure(6, 3.2)
    ax = fig.add_subplot()
    names, counts = zip(*reasons.most_common(20), strict=True)
    ax.barh(list(names)[::-1], list(counts)[::-1], color="tab:red")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("rejects per reason (the 20 most frequent)" if len(reasons) > 20 else "rejects per reason", fontsize=10)
    ax.set_xlabel("rejected clips")
    return _save(fig, path)


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
        image = ax.imshow(
            db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 80,
            vmax=top,
            extent=(0, seconds, 0, freqs[-1] / 1000 if freqs.size else 1),
        )
        ax.set_ylabel(f"{role}\nkHz", fontsize=9)
        fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    fig.suptitle(f"{row['id']} ({row['split']}, {row['duration']:.2f} s)", fontsize=10)
    return _save(fig, path)
