"""Pure array kernels on one array backend (`backend`): no I/O, no randomness, no project imports.

Every kernel takes its backend from its inputs (NumPy arrays or torch tensors) and returns
arrays of that backend, or Python numbers. Shapes are given as ``(..., L)``: any leading batch
dimensions, time last. `resample` and `activity_intervals` run on NumPy only (loading, cataloguing).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import BACKENDS as BACKENDS
from .backend import NUMPY, Array, Backend, backend_of, get_backend
from .backend import check_backend as check_backend

# soxr is imported where it is used (with scipy.fft, in the NumPy backend): together they take
# ~0.2 s to import, which every build worker would pay, and a build without reverb or resampling never needs them.

EPS = 1e-20


MIN_BLOCK, MAX_BLOCK = 1 << 12, 1 << 16  # bounds of the default overlap-add block (samples)


def fft_convolve(
    x: Array,
    h: Array,
    num_samples: int | None = None,
    *,
    backend: str | Backend | None = None,
    device: str = "cpu",
    block_size: int | None = None,
) -> Array:
    """Linear convolution of ``x (..., L)`` with ``h (..., K)`` by FFT, batch dims broadcast.

    Each signal and each filter is transformed once and all products are inverted in one
    batched call, e.g. ``x (S, 1, L)`` with ``h (S, M, K)`` gives every source at every
    microphone. Leading and trailing samples where every filter is zero are skipped (the
    output is shifted instead), and so are input samples past ``num_samples``. A signal
    longer than 4 blocks is convolved by overlap-add, all its blocks in one batched transform:
    short filters (a direct path, early reflections) then cost a small FFT per block rather
    than a transform of the whole signal each.

    Args:
        x: signals, shape ``(..., L)``.
        h: filters, shape ``(..., K)``; leading dims broadcast against ``x``'s.
        num_samples: keep only the first this many output samples (default ``L + K - 1``).
        backend, device: where to compute (default: the inputs' backend); inputs are moved
            there. NumPy (scipy.fft) and torch agree to ~1e-12 in float64 (CUDA computes in float32).
        block_size: overlap-add block length in samples (default: 8 times the filters' support,
            within `MIN_BLOCK`..`MAX_BLOCK`, so that transforms stay in cache; never below the support).
    Returns:
        ``(..., num_samples)`` array of that backend, in its working float.
    """
    xp = backend_of(x, h) if backend is None else get_backend(backend, device)
    x, h = xp.asarray(x), xp.asarray(h)
    if x.shape[-1] == 0 or h.shape[-1] == 0:
        raise ValueError(f"fft_convolve: empty input (x {tuple(x.shape)}, h {tuple(h.shape)})")
    n = x.shape[-1] + h.shape[-1] - 1 if num_samples is None else max(num_samples, 0)
    shape = (*np.broadcast_shapes(tuple(x.shape[:-1]), tuple(h.shape[:-1])), n)
    support = xp.flatnonzero(xp.any(h.reshape(-1, h.shape[-1]) != 0, axis=0))
    if len(support) == 0 or int(support[0]) >= n:
        return xp.zeros(shape)
    lead = int(support[0])
    h, x = h[..., lead : int(support[-1]) + 1], x[..., : n - lead]  # out[lead + t] = (x * h[lead:])[t]
    K = h.shape[-1]
    block = max(block_size or min(max(MIN_BLOCK, 8 * K), MAX_BLOCK), K)
    if x.shape[-1] <= 4 * block:
        size = next_fast_length(x.shape[-1] + K - 1)
        y = xp.irfft(xp.rfft(x, size) * xp.rfft(h, size), size)
    else:
        size = next_fast_length(block + K - 1)
        block = size - K + 1  # the transform length is fixed: take the longest block it allows
        y = _overlap_add_chunked(xp, x, xp.rfft(h, size)[..., None, :], block, size, shape[:-1])
    if lead == 0 and y.shape[-1] >= n:
        return y[..., :n]
    if y.shape[-1] >= n and y.ndim == len(shape):  # shift in place: no second output-sized array
        return _shift_right(xp, y, lead)[..., :n]
    out, m = xp.zeros(shape), min(n - lead, y.shape[-1])
    out[..., lead : lead + m] = y[..., :m]
    return out


def _blocks(xp: Backend, x: Array, block: int, size: int) -> Array:
    """``x (..., L)`` cut into ``(..., count, size)``: ``block`` samples of ``x`` per row, then zeros."""
    count, whole = -(-x.shape[-1] // block), x.shape[-1] // block
    rows = xp.zeros((*x.shape[:-1], count, size))
    rows[..., :whole, :block] = x[..., : whole * block].reshape(*x.shape[:-1], whole, block)
    rows[..., whole:, : x.shape[-1] - whole * block] = x[..., None, whole * block :]
    return rows


def _shift_right(xp: Backend, y: Array, lead: int, chunk: int = 1 << 16) -> Array:
    """``y`` moved ``lead`` samples later along its last axis, in place (zeros before, the last
    ``lead`` samples dropped), a chunk at a time from the end: only copies, the same bits."""
    end = y.shape[-1] - lead
    for stop in range(end, 0, -chunk):
        start = max(0, stop - chunk)
        y[..., start + lead : stop + lead] = xp.copy(y[..., start:stop])
    y[..., :lead] = 0.0
    return y


OLA_CHUNK = 1 << 20  # block-spectrum samples transformed at once by the overlap-add: bounds its memory


def _overlap_add_chunked(xp: Backend, x: Array, spectrum: Array, block: int, size: int, batch: tuple[int, ...]) -> Array:
    """Overlap-add convolution of ``x (..., L)`` with the filter ``spectrum (..., 1, F)``, its
    blocks transformed `OLA_CHUNK` samples at a time (one batched call when they fit): memory
    stays ~``OLA_CHUNK`` samples above the output's whatever ``L``. Every block is transformed
    and every output sample summed exactly as in one call (per-row FFTs do not depend on the
    batch), so the result is the same to the bit. Returns ``(..., (count + 1) * block)``."""
    count = -(-x.shape[-1] // block)
    step = max(1, OLA_CHUNK // (max(1, math.prod(batch)) * size))
    if step >= count:
        return _overlap_add(xp, xp.irfft(xp.rfft(_blocks(xp, x, block, size), size) * spectrum, size), block)
    out = xp.zeros((*batch, count + 1, block))
    tail = None  # the previous chunk's last piece past its block
    for lo in range(0, count, step):
        hi = min(count, lo + step)
        pieces = xp.irfft(xp.rfft(_blocks(xp, x[..., lo * block : hi * block], block, size), size) * spectrum, size)
        out[..., lo:hi, :] = pieces[..., :block]
        if tail is not None:
            out[..., lo, : size - block] += tail
        out[..., lo + 1 : hi, : size - block] += pieces[..., :-1, block:]
        tail = xp.copy(pieces[..., -1, block:])
    out[..., count, : size - block] += tail
    return out.reshape(*batch, (count + 1) * block)


def _overlap_add(xp: Backend, pieces: Array, block: int) -> Array:
    """Sum of ``pieces (..., count, size)`` placed ``block`` samples apart (``size <= 2 * block``)."""
    *batch, count, size = pieces.shape
    out = xp.zeros((*batch, count + 1, block))
    out[..., :count, :] = pieces[..., :block]
    out[..., 1:, : size - block] += pieces[..., block:]
    return out.reshape(*batch, (count + 1) * block)


def size_class(n: int) -> int:
    """The transform length of `fft_convolve_many` for ``n`` samples: the smallest ``2**a`` or
    ``3 * 2**a`` that holds them (a coarse ladder, so that signals of nearby lengths share a call)."""
    power = 1 << max(n - 1, 0).bit_length()
    three = 3 * (power >> 2)
    return three if three >= n else power


MANY_CHUNK = 1 << 23  # spectrum bins of one `fft_convolve_many` call: bounds its memory


def fft_convolve_many(jobs: list[tuple[Array, Array, int]], *, backend: str | Backend | None = None, device: str = "cpu") -> list[Array]:
    """Many convolutions in a few batched calls: each job ``(x (..., L), h (..., K), n)`` is one
    signal (``x`` holds one row) convolved with every row of ``h``, its first ``n`` samples, as
    ``(*h.shape[:-1], n)``.

    The jobs are bucketed by transform length, `size_class` of ``min(L, n) + K - 1``: a job's
    length depends on the job alone, so its result is the same whatever the other jobs (the rows
    of a batched transform are transformed one by one). Every signal is transformed once, every
    filter row once, and the products of a bucket inverted in one call (`MANY_CHUNK` bins at most).
    Unlike `fft_convolve` nothing is trimmed (no lead, no overlap-add): the same values within
    float rounding, in calls shared by all the signals of a batch of scenes."""
    if not jobs:
        return []
    xp = backend_of(*(a for job in jobs for a in job[:2])) if backend is None else get_backend(backend, device)
    buckets: dict[int, list[int]] = {}
    for j, (x, h, n) in enumerate(jobs):
        if math.prod(x.shape[:-1]) != 1 or x.shape[-1] == 0 or h.shape[-1] == 0:
            raise ValueError(f"fft_convolve_many: job {j} needs one non-empty signal and filters (x {tuple(x.shape)}, h {tuple(h.shape)})")
        buckets.setdefault(size_class(min(x.shape[-1], n) + h.shape[-1] - 1), []).append(j)
    out: list[Array] = [None] * len(jobs)
    for size, members in buckets.items():
        chunk: list[int] = []
        bins = 0
        for k in members:
            rows = math.prod(jobs[k][1].shape[:-1]) + 1
            if chunk and bins + rows * (size // 2 + 1) > MANY_CHUNK:
                _convolve_bucket(xp, [jobs[i] for i in chunk], size, chunk, out)
                chunk, bins = [], 0
            chunk.append(k)
            bins += rows * (size // 2 + 1)
        _convolve_bucket(xp, [jobs[i] for i in chunk], size, chunk, out)
    return out


def _convolve_bucket(xp: Backend, jobs: list[tuple[Array, Array, int]], size: int, where: list[int], out: list[Array]) -> None:
    """The jobs of one transform length in one batched call; results into ``out[where[i]]``."""
    signals = _rows(xp, [xp.asarray(x).reshape(1, -1)[:, : min(x.shape[-1], n)] for x, _, n in jobs])
    filters = [xp.asarray(h).reshape(-1, h.shape[-1]) for _, h, _ in jobs]
    rows = [f.shape[0] for f in filters]
    spectra = _batched(xp, xp.rfft, signals, size)  # rfft zero-pads to ``size``: the rows need only the longest's length
    products = _batched(xp, xp.rfft, _rows(xp, filters), size)
    start = 0
    for i, r in enumerate(rows):
        products[start : start + r] *= spectra[i]
        start += r
    y = _batched(xp, xp.irfft, products, size)
    start = 0
    for i, ((_, h, n), r) in enumerate(zip(jobs, rows, strict=True)):
        piece = y[start : start + r, :n]
        out[where[i]] = (piece if piece.shape[-1] == n else xp.pad_last(piece, n)).reshape(*h.shape[:-1], n)
        start += r


def _rows(xp: Backend, arrays: list[Array]) -> Array:
    """``(R_i, L_i)`` arrays stacked into ``(ΣR_i, max L_i)``, zeros after each."""
    out = xp.zeros((sum(a.shape[0] for a in arrays), max(a.shape[-1] for a in arrays)))
    start = 0
    for a in arrays:
        out[start : start + a.shape[0], : a.shape[-1]] = a
        start += a.shape[0]
    return out


def _batched(xp: Backend, transform: Any, rows: Array, size: int) -> Array:
    """``transform(rows, size)`` of ``(R, F)`` rows, a lone row transformed beside a row of zeros:
    MKL (torch on the CPU) transforms a single row by another algorithm than the rows of a batch
    (another last bit), and a row's result must not depend on how many share its call."""
    if rows.shape[0] != 1:
        return transform(rows, size)
    return transform(xp.concatenate([rows, xp.zeros(tuple(rows.shape), dtype=rows.dtype)], axis=0), size)[:1]


def next_fast_length(n: int) -> int:
    """The smallest ``2**a * 3**b * 5**c >= n``: a length pocketfft and cuFFT transform fast."""
    best, p5 = 1 << max(n - 1, 0).bit_length(), 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 << max(0, (n - 1) // p35).bit_length()  # the least p35 * 2**a >= n
            best, p35 = min(best, m), p35 * 3
        p5 *= 5
    return best


def energy(x: Array) -> float:
    """Sum of squares over all samples."""
    return backend_of(x).sum_of_squares(x)


def energy_dbfs(total: float, size: int) -> float:
    """`rms_dbfs` of ``size`` samples whose `energy` is ``total``."""
    return float(10.0 * np.log10(total / max(size, 1) + EPS))


def rms_dbfs(x: Array) -> float:
    """RMS level over all samples in dB relative to full scale (1.0)."""
    return energy_dbfs(energy(x), math.prod(x.shape))


def peak(x: Array) -> float:
    """Largest absolute sample, ``max(|x|)``, without allocating ``|x|``."""
    xp = backend_of(x)
    return max(float(xp.max(x)), -float(xp.min(x)))


def peak_dbfs(x: Array) -> float:
    """Peak absolute sample in dBFS."""
    return float(20.0 * np.log10(peak(x) + EPS))


def energy_ratio_db(signal_energy: float, interference_energy: float) -> float:
    """`power_ratio_db` from the two energies."""
    return float(10.0 * np.log10((signal_energy + EPS) / (interference_energy + EPS)))


def power_ratio_db(signal: Array, interference: Array) -> float:
    """10·log10(Σ signal² / Σ interference²) over all samples (the SNR/SIR definition)."""
    return energy_ratio_db(energy(signal), energy(interference))


def gain_for_ratio(signal: Array, interference: Array, ratio_db: float) -> float:
    """Amplitude gain for ``interference`` so that ``power_ratio_db(signal, g·interference) == ratio_db``."""
    current = power_ratio_db(signal, interference)
    return float(10.0 ** ((current - ratio_db) / 20.0))


def db_to_gain(db: float) -> float:
    """Amplitude gain of a level change in dB."""
    return float(10.0 ** (db / 20.0))


# The same measures as arrays of the backend (0-d), for batched paths that must not wait for
# the host: a number is taken (`backend.Fetch`) once the whole batch is queued.


def energy_array(x: Array) -> Array:
    """`energy` as a 0-d array of ``x``'s backend."""
    xp = backend_of(x)
    return xp.sum(xp.square(x))


def energy_dbfs_array(total: Array, size: int) -> Array:
    """`energy_dbfs` of a 0-d energy array."""
    return 10.0 * backend_of(total).log10(total / max(size, 1) + EPS)


def rms_dbfs_array(x: Array) -> Array:
    """`rms_dbfs` as a 0-d array."""
    return energy_dbfs_array(energy_array(x), math.prod(x.shape))


def peak_array(x: Array) -> Array:
    """`peak` as a 0-d array."""
    xp = backend_of(x)
    return xp.maximum(xp.max(x), -xp.min(x))


def peak_dbfs_array(x: Array) -> Array:
    """`peak_dbfs` as a 0-d array."""
    return 20.0 * backend_of(x).log10(peak_array(x) + EPS)


def energy_ratio_db_array(signal_energy: Array, interference_energy: Array) -> Array:
    """`energy_ratio_db` of two 0-d energies."""
    return 10.0 * backend_of(signal_energy, interference_energy).log10((signal_energy + EPS) / (interference_energy + EPS))


def power_ratio_db_array(signal: Array, interference: Array) -> Array:
    """`power_ratio_db` as a 0-d array."""
    return energy_ratio_db_array(energy_array(signal), energy_array(interference))


def gain_for_ratio_array(signal: Array, interference: Array, ratio_db: Any) -> Array:
    """`gain_for_ratio` as a 0-d array (``ratio_db`` a number or an array)."""
    return 10.0 ** ((power_ratio_db_array(signal, interference) - ratio_db) / 20.0)


def db_to_gain_array(db: Array) -> Array:
    """`db_to_gain` of an array of dB."""
    return 10.0 ** (db / 20.0)


def masked_rms_dbfs_array(x: Array, mask: Array) -> Array:
    """`rms_dbfs` of ``x[mask]`` (a 1-D boolean mask) without indexing by it (which needs the host)."""
    xp = backend_of(x, mask)
    total = xp.sum(xp.where(mask, xp.square(x), 0.0))
    return 10.0 * xp.log10(total / xp.clip(xp.sum(xp.astype(mask, xp.float_dtype)), 1.0, None) + EPS)


def rir_measures(
    rir: Array, delay: float, sample_rate: int, decays_db: tuple[float, ...] = (20.0, 30.0), early_ms: float = 50.0
) -> dict[str, Array]:
    """What `measure_rt60`, `drr_db` and `clarity_db` measure of a 1-D RIR, as 0-d arrays of its
    backend, none waiting for the host: ``silent``, ``single_impulse`` (`rir_degeneracy`),
    ``floor`` (the RIR has a noise floor: `noise_floor_truncation` would cut it, and `measure_rt60`
    must be run instead, on the host), per decay ``t<d>`` (RT60 of a RIR without a floor) and
    ``ok<d>`` (whether it is measurable), ``drr_db`` and ``c50_db``. The same definitions, the
    least-squares fits as masked sums over the whole curve (values within float rounding)."""
    xp = backend_of(rir)
    power = xp.square(rir)
    n = power.shape[-1]
    total = xp.sum(power)
    out: dict[str, Array] = {"silent": ~(total > 0), "single_impulse": total - xp.max(power) <= 1e-6 * total}
    tenth = n // 10
    if tenth < 2:
        out["floor"] = xp.zeros((), dtype=out["silent"].dtype)
    else:
        late = energy_ratio_db_array(xp.sum(power[n - 2 * tenth : n - tenth]), xp.sum(power[n - tenth :]))
        out["floor"] = late < 3.0
    curve = schroeder_decay_db(rir)
    index = xp.arange(n)
    start = xp.first_true(curve <= -5.0)
    for decay_db in decays_db:
        stop = xp.first_true(curve <= -5.0 - decay_db)
        inside = (index >= start) & (index < stop)
        t = xp.where(inside, index - start - (stop - start - 1) / 2, 0.0)  # centred sample times, as in measure_rt60
        slope = xp.sum(t * curve) / xp.clip(xp.sum(t * t), EPS, None) * sample_rate
        key = f"{decay_db:g}"
        out[f"ok{key}"] = stop > start + 1
        out[f"t{key}"] = -60.0 / xp.where(slope == 0, -EPS, slope)
    direct = xp.abs(index - delay) <= 0.0025 * sample_rate
    out["drr_db"] = energy_ratio_db_array(xp.sum(xp.where(direct, power, 0.0)), xp.sum(xp.where(direct, 0.0, power)))
    cut = round(delay + early_ms * 1e-3 * sample_rate)
    out["c50_db"] = energy_ratio_db_array(xp.sum(power[..., :cut]), xp.sum(power[..., cut:]))
    return out


def rt60_from_measures(values: dict[str, float], decays_db: tuple[float, ...] = (20.0, 30.0)) -> tuple[list[float | None], str | None]:
    """`measure_rt60`'s answer from `rir_measures` brought to the host, for a RIR without a noise
    floor (``values["floor"]`` false: else run `measure_rt60` on it)."""
    if values["silent"]:
        return [None] * len(decays_db), "silent"
    if values["single_impulse"]:
        return [None] * len(decays_db), "single_impulse"
    times = [float(values[f"t{d:g}"]) if values[f"ok{d:g}"] else None for d in decays_db]
    return times, None if all(t is not None for t in times) else "shallow_decay"


def quantize(x: Array, bits: int, out: Array | None = None) -> Array:
    """Round to the ``bits``-bit PCM grid (scale 2**(bits-1), round half to even, clip), in the
    backend's working float. ``out`` (which may be ``x`` itself) receives the result instead of a new array."""
    xp = backend_of(x)
    scale = 2.0 ** (bits - 1)
    y = xp.multiply(x, scale, out=out)
    xp.round(y, out=y)
    xp.clip(y, -scale, scale - 1, out=y)
    y /= scale
    return y


def resampled_length(num_samples: int, in_rate: int, out_rate: int) -> int:
    """Number of output samples that resampling ``num_samples`` gives (round half up)."""
    return (2 * num_samples * out_rate + in_rate) // (2 * in_rate)


def resample(x: npt.NDArray[np.float64], in_rate: int, out_rate: int) -> npt.NDArray[np.float64]:
    """Resample ``(C, L)`` with soxr (high quality, librosa's default) to exactly
    ``resampled_length(L, in_rate, out_rate)`` samples; identity if the rates match."""
    if in_rate == out_rate:
        return x
    import soxr

    y = soxr.resample(x.T, in_rate, out_rate, quality="HQ").T
    n = resampled_length(x.shape[-1], in_rate, out_rate)
    y = y[..., :n] if y.shape[-1] >= n else np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])
    return np.ascontiguousarray(y)


def schroeder_decay_db(rir: Array) -> Array:
    """Energy decay curve (dB, 0 at start) of ``rir (..., K)`` by backward integration."""
    xp = backend_of(rir)
    tail = xp.flip(xp.cumsum(xp.square(xp.flip(rir)), axis=-1))
    return 10.0 * xp.log10(tail / (tail[..., :1] + EPS) + EPS)


RT60_REASONS = ("silent", "single_impulse", "shallow_decay")  # why `measure_rt60` gives None


class UnmeasurableDecay(ValueError):
    """A RIR whose RT60 cannot be measured; ``reason`` is one of `RT60_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def rt60_from_rir(rir: Array, sample_rate: int, decay_db: float = 20.0) -> float:
    """RT60 (s) of a 1-D RIR from its Schroeder curve: T20 (or T30) fit, extrapolated to 60 dB.

    The line is fitted by least squares to the decay between -5 dB and ``-5 - decay_db``, on
    the curve that `measure_rt60` integrates (noise floor truncated). Raises `UnmeasurableDecay`."""
    return reverberation_times(rir, sample_rate, (decay_db,))[0]


def reverberation_times(rir: Array, sample_rate: int, decays_db: tuple[float, ...] = (20.0, 30.0)) -> list[float]:
    """`rt60_from_rir` for each of ``decays_db`` (T20, T30, ...) from one Schroeder curve;
    `UnmeasurableDecay` (a ValueError) when any of them cannot be measured."""
    values, reason = measure_rt60(rir, sample_rate, decays_db)
    if reason is not None:
        raise UnmeasurableDecay(reason, f"cannot measure RT60 over {5 + max(decays_db):g} dB of decay")
    return values  # type: ignore[return-value]


def measure_rt60(rir: Array, sample_rate: int, decays_db: tuple[float, ...] = (20.0, 30.0)) -> tuple[list[float | None], str | None]:
    """RT60 (s) per ``decays_db`` of a 1-D RIR, None where it cannot be measured, and the reason
    (one of `RT60_REASONS`) of the first None.

    A noise floor is cut off first (`noise_floor_truncation`, Lundeby et al. 1995) and the
    energy of the decay past the cut added back, so that the Schroeder curve follows the
    room's decay and not the floor; a RIR with no noise floor is integrated whole, as before.
    A decay is measurable when the curve falls ``5 + decay_db`` dB within the integrated part
    and, over a noise floor, ends at least 10 dB below that (ISO 3382-1: T20 needs 35 dB of decay
    above the floor, T30 45 dB)."""
    if rir.ndim != 1:
        raise ValueError(f"rt60_from_rir expects a 1-D RIR (got shape {tuple(rir.shape)})")
    degenerate = rir_degeneracy(rir)
    if degenerate is not None:
        return [None] * len(decays_db), degenerate
    xp = backend_of(rir)
    power = xp.square(rir)
    cut = noise_floor_truncation(rir, sample_rate)
    if cut is None:
        curve = schroeder_decay_db(rir)
    else:
        stop, extra = cut
        tail = xp.flip(xp.cumsum(xp.flip(power[:stop]))) + extra
        curve = 10.0 * xp.log10(tail / tail[0] + EPS)
    start = xp.argmax(curve <= -5.0)
    times: list[float | None] = []
    for decay_db in decays_db:
        stop = xp.argmax(curve <= -5.0 - decay_db)
        if stop <= start + 1 or (cut is not None and float(curve[-1]) > -15.0 - decay_db):
            times.append(None)
            continue
        t = xp.arange(stop - start) - (stop - start - 1) / 2  # centred sample times: a well-conditioned fit
        slope = float(xp.dot(t, curve[start:stop])) / float(xp.dot(t, t)) * sample_rate  # least-squares dB per second
        times.append(float(-60.0 / slope))
    return times, None if all(t is not None for t in times) else "shallow_decay"


def rir_degeneracy(rir: Array) -> str | None:
    """Why ``rir (..., K)`` is no room at all: ``silent`` (every sample zero), ``single_impulse``
    (in some row, all but 60 dB of the energy in one sample); None when neither."""
    xp = backend_of(rir)
    power = xp.square(rir).reshape(-1, rir.shape[-1])
    total = xp.sum(power, axis=-1)
    if not bool(xp.all(total > 0)):
        return "silent"
    if bool(xp.any(total - xp.max(power, axis=-1) <= 1e-6 * total)):
        return "single_impulse"
    return None


def _envelope_db(xp: Backend, power: Array, start: int, width: int) -> tuple[Array, Array]:
    """Mean ``power`` in blocks of ``width`` samples from ``start``: block centres (samples), levels (dB)."""
    count = (power.shape[-1] - start) // width
    blocks = xp.mean(power[start : start + count * width].reshape(count, width), axis=1)
    return start + width * (xp.arange(count) + 0.5), 10.0 * xp.log10(blocks + EPS)


def _line(xp: Backend, x: Array, y: Array) -> tuple[float, float] | None:
    """Least-squares ``(slope, intercept)`` of ``y`` over ``x`` (None for fewer than 2 points or no decay)."""
    if len(x) < 2:
        return None
    slope, intercept = xp.line_fit(x, y)
    return (slope, intercept) if slope < 0 else None


def _mean_db(xp: Backend, power: Array) -> float:
    """Mean of ``power`` in dB."""
    return float(10.0 * np.log10(float(xp.mean(power)) + EPS))


def noise_floor_truncation(rir: Array, sample_rate: int, iterations: int = 5) -> tuple[int, float] | None:
    """Where a 1-D RIR's decay meets its noise floor: ``(cut, extra)`` with ``cut`` the first
    sample to drop and ``extra`` the energy the decay would have had past it (the fitted
    exponential, Lundeby's compensation); None when the RIR has no noise floor.

    No noise floor: the last 10 % of the RIR holds at least 3 dB less energy than the 10 %
    before it (the decay still goes on to the end; simulated RIRs). Otherwise (Lundeby et al.
    1995): the floor is the mean power of the last 10 %; a line fitted to the 10 ms envelope
    from its peak down to 10 dB above the floor crosses it at a first ``cut``; then, up to
    ``iterations`` times, the envelope is re-averaged over blocks of 1/5 of the time the decay
    takes to fall 10 dB, the floor re-estimated from where the line is 7 dB below it (at most
    the last 10 %), the late decay re-fitted from 25 to 5 dB above the floor, and ``cut``
    moved to the new crossing, until it moves less than one block."""
    xp = backend_of(rir)
    power = xp.square(rir)
    n = power.shape[-1]
    tenth = n // 10
    if tenth < 2 or energy_ratio_db(float(xp.sum(power[n - 2 * tenth : n - tenth])), float(xp.sum(power[n - tenth :]))) >= 3.0:
        return None
    peak = xp.argmax(power)
    width = max(1, round(0.01 * sample_rate))
    x, level = _envelope_db(xp, power, peak, width)
    floor = _mean_db(xp, power[n - tenth :])
    below = xp.flatnonzero(level < floor + 10.0)
    first_below = int(below[0]) if len(below) else len(x)
    fit = _line(xp, x[:first_below], level[:first_below])
    if fit is None:  # nothing decays above the floor: keep the peak alone
        return peak + 1, 0.0
    slope, intercept = fit
    cut = (floor - intercept) / slope
    for _ in range(iterations):
        width = max(1, round(10.0 / -slope / 5))
        x, level = _envelope_db(xp, power, peak, width)
        noise_start = min(int((floor - 7.0 - intercept) / slope), n - tenth)
        floor = _mean_db(xp, power[max(noise_start, peak + 1) :])
        low = xp.flatnonzero(level < floor + 5.0)
        end = int(low[0]) if len(low) else len(x)
        high = xp.flatnonzero(level[:end] > floor + 25.0)
        begin = int(high[-1]) + 1 if len(high) else 0
        fit = _line(xp, x[begin:end], level[begin:end])
        if fit is None:
            break
        slope, intercept = fit
        moved, cut = abs((floor - intercept) / slope - cut), (floor - intercept) / slope
        if moved < width:
            break
    stop = int(np.clip(round(cut), peak + 1, n))
    rate = -slope * np.log(10.0) / 10.0  # energy decay per sample of the fitted line
    extra = 10.0 ** ((intercept + slope * stop) / 10.0) / rate
    return stop, float(extra)


def direct_window(length: int, delay: float, sample_rate: int, half_width_s: float = 0.0025, *, like: Array | None = None) -> Array:
    """Boolean mask ``(length,)`` of the samples within ``half_width_s`` of the direct-path
    ``delay`` (samples), on the backend of ``like`` (default NumPy)."""
    xp = backend_of(like)
    return xp.abs(xp.arange(length) - delay) <= half_width_s * sample_rate


def drr_db(rir: Array, delay: float, sample_rate: int) -> float:
    """Direct-to-reverberant ratio (dB) of a 1-D RIR: energy within 2.5 ms of the direct path
    against all the rest."""
    mask = direct_window(rir.shape[-1], delay, sample_rate, like=rir)
    return power_ratio_db(rir[mask], rir[~mask])


def clarity_db(rir: Array, delay: float, sample_rate: int, early_ms: float = 50.0) -> float:
    """Clarity C50 (or C``early_ms``) in dB: energy up to ``early_ms`` after the direct path
    against the energy after it."""
    cut = round(delay + early_ms * 1e-3 * sample_rate)
    return power_ratio_db(rir[..., :cut], rir[..., cut:])


def coverage(intervals: list[tuple[int, int]]) -> tuple[int, int]:
    """``(covered, overlapped)``: samples inside at least one, and at least two, ``[start, end)`` intervals."""
    edges = sorted({t for interval in intervals for t in interval})
    covered = overlapped = 0
    for left, right in itertools.pairwise(edges):
        active = sum(1 for a, b in intervals if a <= left and right <= b)
        covered += (right - left) * (active >= 1)
        overlapped += (right - left) * (active >= 2)
    return covered, overlapped


def overlap_ratio(intervals: list[tuple[int, int]]) -> float:
    """Samples covered by two or more ``[start, end)`` intervals over samples covered by at least one."""
    covered, overlapped = coverage(intervals)
    return overlapped / covered if covered else 0.0


def activity_segments(
    x: Array, sample_rate: int, threshold_db: float = -40.0, frame_s: float = 0.01, min_gap_s: float = 0.2
) -> list[tuple[int, int]]:
    """Where ``x (L,)`` is active: ``[start, end)`` sample ranges on a ``frame_s`` grid.

    A frame is active when its energy is within ``threshold_db`` of the loudest frame's;
    active runs separated by less than ``min_gap_s`` are merged."""
    xp = backend_of(x)
    frame = max(1, round(frame_s * sample_rate))
    count = -(-x.shape[-1] // frame)
    padded = xp.zeros(count * frame)
    padded[: x.shape[-1]] = x
    energies = xp.sum(padded.reshape(count, frame) ** 2, axis=1)
    loudest = float(xp.max(energies))
    if loudest <= 0:
        return []
    return merge_activity(xp.runs(energies >= loudest * 10 ** (threshold_db / 10)), x.shape[-1], sample_rate, frame_s, min_gap_s)


def activity_frames(x: Array, sample_rate: int, threshold_db: float = -40.0, frame_s: float = 0.01) -> Array:
    """The active frames of `activity_segments` as a boolean array of ``x``'s backend (all false
    for a silent ``x``), computed without the host; `activity_from_frames` finishes on the host."""
    xp = backend_of(x)
    frame = max(1, round(frame_s * sample_rate))
    count = -(-x.shape[-1] // frame)
    padded = xp.zeros(count * frame)
    padded[: x.shape[-1]] = x
    energies = xp.sum(padded.reshape(count, frame) ** 2, axis=1)
    loudest = xp.max(energies)
    return (energies >= loudest * 10 ** (threshold_db / 10)) & (loudest > 0)


def activity_from_frames(
    frames: npt.NDArray[Any], length: int, sample_rate: int, frame_s: float = 0.01, min_gap_s: float = 0.2
) -> list[tuple[int, int]]:
    """`activity_segments` of a signal of ``length`` samples from its `activity_frames` (on the host)."""
    return merge_activity(NUMPY.runs(np.asarray(frames) > 0.5), length, sample_rate, frame_s, min_gap_s)


def merge_activity(
    runs: list[tuple[int, int]], length: int, sample_rate: int, frame_s: float = 0.01, min_gap_s: float = 0.2
) -> list[tuple[int, int]]:
    """Runs of active frames ``[a, b)`` merged across gaps shorter than ``min_gap_s``, as sample ranges."""
    frame = max(1, round(frame_s * sample_rate))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (a - merged[-1][1]) * frame < min_gap_s * sample_rate:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a * frame, min(b * frame, length)) for a, b in merged]


def activity_intervals(
    frame_power: npt.NDArray[np.float64],
    frame_s: float,
    threshold_db: float = -40.0,
    floor_dbfs: float = -70.0,
    min_gap_s: float = 0.2,
    max_intervals: int = 32,
) -> list[tuple[float, float]]:
    """Where a clip is active, from its mean square per frame ``(F,)`` of ``frame_s`` seconds:
    ``[start, end)`` in seconds (ms precision). A frame is active when its power is within
    ``threshold_db`` of the loudest frame's and its RMS above ``floor_dbfs``; runs separated by
    less than ``min_gap_s`` are merged, then the shortest gaps are bridged until at most
    ``max_intervals`` remain (the result never marks active audio inactive). NumPy only (cataloguing)."""
    if frame_power.size == 0 or frame_power.max() <= 0:
        return []
    threshold = max(frame_power.max() * 10 ** (threshold_db / 10), 10 ** (floor_dbfs / 10))
    runs: list[list[int]] = []
    for a, b in NUMPY.runs(frame_power >= threshold):
        if runs and (a - runs[-1][1]) * frame_s < min_gap_s:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    while len(runs) > max_intervals:
        k = min(range(len(runs) - 1), key=lambda i: runs[i + 1][0] - runs[i][1])
        runs[k : k + 2] = [[runs[k][0], runs[k + 1][1]]]
    end = frame_power.size * frame_s
    return [(round(a * frame_s, 3), round(min(b * frame_s, end), 3)) for a, b in runs]


def activity_overlap_ratio(signals: list[Array], sample_rate: int, threshold_db: float = -40.0) -> float:
    """Speech overlap of several talkers: `overlap_ratio` of the `activity_segments` of each signal
    ``(L,)`` (time with two or more active over time with one or more)."""
    return overlap_ratio([span for x in signals for span in activity_segments(x, sample_rate, threshold_db)])
