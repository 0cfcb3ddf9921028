"""Pure array kernels (NumPy/SciPy backend): no I/O, no randomness, no project imports.

Shapes are given as ``(..., L)``: any leading batch dimensions, time last.
"""

from __future__ import annotations

import numpy as np

# scipy.fft and soxr are imported where they are used: together they take ~0.2 s to import,
# which every build worker would pay, and a build without reverb or resampling never needs them.

EPS = 1e-20


def fft_convolve(x: np.ndarray, h: np.ndarray, num_samples: int | None = None) -> np.ndarray:
    """Linear convolution of ``x (..., L)`` with ``h (..., K)`` by FFT, batch dims broadcast.

    Args:
        x: signals, shape ``(..., L)``.
        h: filters, shape ``(..., K)``; leading dims broadcast against ``x``'s.
        num_samples: keep only the first this many output samples (default ``L + K - 1``).
    Returns:
        ``(..., num_samples)`` float64.
    """
    import scipy.fft

    if x.shape[-1] == 0 or h.shape[-1] == 0:
        raise ValueError(f"fft_convolve: empty input (x {x.shape}, h {h.shape})")
    full = x.shape[-1] + h.shape[-1] - 1
    size = scipy.fft.next_fast_len(full, real=True)
    spectrum = scipy.fft.rfft(x, size, axis=-1) * scipy.fft.rfft(h, size, axis=-1)
    out = scipy.fft.irfft(spectrum, size, axis=-1)
    return out[..., : full if num_samples is None else num_samples]


def energy(x: np.ndarray) -> float:
    """Sum of squares over all samples."""
    return float(np.sum(np.square(x, dtype=np.float64)))


def energy_dbfs(total: float, size: int) -> float:
    """`rms_dbfs` of ``size`` samples whose `energy` is ``total``."""
    return 10.0 * np.log10(total / max(size, 1) + EPS)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level over all samples in dB relative to full scale (1.0)."""
    return energy_dbfs(energy(x), x.size)


def peak(x: np.ndarray) -> float:
    """Largest absolute sample, ``max(|x|)``, without allocating ``|x|``."""
    return max(float(np.max(x)), -float(np.min(x)))


def peak_dbfs(x: np.ndarray) -> float:
    """Peak absolute sample in dBFS."""
    return 20.0 * np.log10(peak(x) + EPS)


def energy_ratio_db(signal_energy: float, interference_energy: float) -> float:
    """`power_ratio_db` from the two energies."""
    return 10.0 * np.log10((signal_energy + EPS) / (interference_energy + EPS))


def power_ratio_db(signal: np.ndarray, interference: np.ndarray) -> float:
    """10·log10(Σ signal² / Σ interference²) over all samples (the SNR/SIR definition)."""
    return energy_ratio_db(energy(signal), energy(interference))


def gain_for_ratio(signal: np.ndarray, interference: np.ndarray, ratio_db: float) -> float:
    """Amplitude gain for ``interference`` so that ``power_ratio_db(signal, g·interference) == ratio_db``."""
    current = power_ratio_db(signal, interference)
    return float(10.0 ** ((current - ratio_db) / 20.0))


def db_to_gain(db: float) -> float:
    """Amplitude gain of a level change in dB."""
    return float(10.0 ** (db / 20.0))


def quantize(x: np.ndarray, bits: int, out: np.ndarray | None = None) -> np.ndarray:
    """Round to the ``bits``-bit PCM grid (scale 2**(bits-1), round, clip); returns float64.

    ``out`` (which may be ``x`` itself) receives the result instead of a new array."""
    scale = 2.0 ** (bits - 1)
    y = np.multiply(x, scale, out=out)
    np.round(y, out=y)
    np.clip(y, -scale, scale - 1, out=y)
    y /= scale
    return y


def resampled_length(num_samples: int, in_rate: int, out_rate: int) -> int:
    """Number of output samples that resampling ``num_samples`` gives (round half up)."""
    return (2 * num_samples * out_rate + in_rate) // (2 * in_rate)


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample ``(C, L)`` with soxr (high quality, librosa's default) to exactly
    ``resampled_length(L, in_rate, out_rate)`` samples; identity if the rates match."""
    if in_rate == out_rate:
        return x
    import soxr

    y = soxr.resample(x.T, in_rate, out_rate, quality="HQ").T
    n = resampled_length(x.shape[-1], in_rate, out_rate)
    y = y[..., :n] if y.shape[-1] >= n else np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])
    return np.ascontiguousarray(y)


def schroeder_decay_db(rir: np.ndarray) -> np.ndarray:
    """Energy decay curve (dB, 0 at start) of ``rir (..., K)`` by backward integration."""
    tail = np.cumsum(np.square(rir[..., ::-1]), axis=-1)[..., ::-1]
    return 10.0 * np.log10(tail / (tail[..., :1] + EPS) + EPS)


def rt60_from_rir(rir: np.ndarray, sample_rate: int, decay_db: float = 20.0) -> float:
    """RT60 (s) of a 1-D RIR from its Schroeder curve: T20 (or T30) fit, extrapolated to 60 dB.

    The line is fitted by least squares to the decay between -5 dB and ``-5 - decay_db``.
    """
    if rir.ndim != 1:
        raise ValueError(f"rt60_from_rir expects a 1-D RIR (got shape {rir.shape})")
    curve = schroeder_decay_db(rir)
    start = int(np.argmax(curve <= -5.0))
    stop = int(np.argmax(curve <= -5.0 - decay_db))
    if stop <= start + 1:
        raise ValueError(f"RIR decays less than {5 + decay_db:g} dB: cannot measure RT60")
    t = np.arange(start, stop) / sample_rate
    slope = np.polyfit(t, curve[start:stop], 1)[0]
    return float(-60.0 / slope)
