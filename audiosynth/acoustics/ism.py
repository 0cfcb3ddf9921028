"""Shoebox room impulse responses at the array level: positions (m) in, ``(S, M, K)`` RIRs out.

- `simulate_ism`: vectorized image source method (all images of all source-mic pairs at once,
  Hann-windowed sinc fractional delays, one scatter-add) plus a statistical diffuse tail; one
  code path for NumPy and torch (CPU or CUDA) over the array backend (`audiosynth.dsp.backend`).
- `simulate_pra`: pyroomacoustics' ISM or hybrid ISM + ray tracing, as the reference.

Both scale paths by 1/(4 pi d) and share the global delay `FD_HALF`: a path of length ``d``
peaks at sample ``d / SPEED_OF_SOUND * sample_rate + FD_HALF``. No I/O, no hidden randomness.
See ``docs/room_simulation.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..dsp.backend import NUMPY, Array, Backend, get_backend

SPEED_OF_SOUND = 343.0  # m/s, pyroomacoustics' default
FD_HALF = 40  # half-length of the fractional-delay filter (2*FD_HALF+1 taps), and the global delay
BAND_BASE_HZ = 125.0  # octave bands are centred at 125 * 2**b Hz
OCTAVE_BANDS_HZ = tuple(BAND_BASE_HZ * 2**b for b in range(7))  # every band centre the simulator knows: 125 Hz .. 8 kHz
DRAWN_BANDS_HZ = OCTAVE_BANDS_HZ[:6]  # the bands a planned room's walls draw absorption for: those of 16 kHz audio
WALLS = ("west", "east", "south", "north", "floor", "ceiling")  # x=0, x=Lx, y=0, y=Ly, z=0, z=Lz
_TAPS = 2 * FD_HALF + 1
_TAIL_WINDOW_S = 0.04  # the tail level is matched to the image energy over (at most) this window
_CARRY_POINTS = 33  # envelope samples over the tail window: its mean by the trapezoid rule
_PAD_S = 0.25  # zero padding of the band-splitting FFT (its zero-phase filters ring both ways)


# ---- absorption <-> RT60 ------------------------------------------------------------------------


@functools.cache
def _directions(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature over one octant of the unit sphere: directions ``(n*n, 3)``, weights summing to 1."""
    x, w = np.polynomial.legendre.leggauss(n)
    cos_t, phi = (x + 1) / 2, (np.arange(n) + 0.5) * (np.pi / 2) / n
    sin_t = np.sqrt(1 - cos_t**2)
    u = np.stack([np.outer(sin_t, np.cos(phi)), np.outer(sin_t, np.sin(phi)), np.repeat(cos_t[:, None], n, 1)], -1)
    return u.reshape(-1, 3), np.repeat(w / 2, n) / n


def _decay_rates(size: np.ndarray, alpha: Any) -> tuple[np.ndarray, np.ndarray]:
    """Energy decay rate (1/s) of the images in each quadrature direction ``u``, and the weights.

    An image at distance ``c*t`` in direction ``u`` lies beyond ``c*t*|u_d|/L_d`` walls along
    axis ``d``, half of each pair of opposite walls, each keeping ``1 - alpha`` of the energy."""
    loss = -0.5 * np.log(np.maximum(1 - np.broadcast_to(np.asarray(alpha, float), (6,)), 1e-300)).reshape(3, 2).sum(1)
    u, w = _directions()
    return SPEED_OF_SOUND * (u / size) @ loss, w


_SCRATCH = threading.local()  # per thread: one reusable (times x directions) buffer
_ROWS = 32  # rows of that buffer per elementwise pass (32 x 1024 doubles: fits in L2)


def _exp_outer_dot(t: np.ndarray, k: np.ndarray, factor: float, v: np.ndarray) -> np.ndarray:
    """``np.exp(factor * np.outer(t, k)) @ v``, bit for bit, without its ``(T, D)`` temporaries.

    The matrix is built in a buffer kept per thread (fresh temporaries of a few MB per call
    cost more in page faults and memory traffic than the arithmetic), `_ROWS` rows at a time
    so that each block is still in cache for ``exp``; the product stays one call, as before
    (BLAS may sum a row differently in a smaller one). With ``factor`` a power of two (-1,
    -0.5), ``(t * factor) * k == factor * (t * k)`` exactly, so the scaling is folded into ``t``."""
    size = len(t) * len(k)
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _SCRATCH.buffer = np.empty(size)
    exact = abs(math.frexp(factor)[0]) == 0.5
    scaled = t * factor if exact else t
    out = buffer[:size].reshape(len(t), len(k))
    for lo in range(0, len(t), _ROWS):
        block = out[lo : lo + _ROWS]
        np.multiply(scaled[lo : lo + _ROWS, None], k[None, :], out=block)  # np.outer
        if not exact:
            np.multiply(block, factor, out=block)
        np.exp(block, out=block)
    return np.asarray(out @ v)


def _image_envelope(size: np.ndarray, alpha: Any, t: np.ndarray, power: float) -> np.ndarray:
    """Expected image energy (``power=1``) or mean amplitude (``power=0.5``) decay at times ``t`` (s)."""
    k, w = _decay_rates(size, alpha)
    return _exp_outer_dot(np.asarray(t, dtype=float), k, -power, w)


def ism_rt60(size_m: Any, absorption: Any) -> float:
    """RT60 (s) that shoebox image sources give for ``absorption`` (scalar or ``(6,)``, `WALLS` order).

    The diffuse-averaged image energy ``mean_u exp(-k_u t)`` (`_decay_rates`) is a mixture of
    exponentials (axial paths decay slowest); its Schroeder curve is fitted from -5 to -25 dB (T20)
    as `audiosynth.kernels.rt60_from_rir` does."""
    k, w = _decay_rates(np.asarray(size_m, dtype=float), absorption)

    def decay_db(t: np.ndarray) -> np.ndarray:
        return np.asarray(10 * np.log10(_exp_outer_dot(t, k, -1.0, w / k) / np.sum(w / k)))

    coarse = np.linspace(0, 3 * math.log(10) / k.min(), 64)  # reaches below -25 dB
    start, stop = np.interp([5.0, 25.0], -decay_db(coarse), coarse)  # the smooth curve's -5 and -25 dB crossings
    t = np.linspace(start, stop, 64)  # the fit over exactly that span, as a continuous T20
    return float(-60 / np.polyfit(t, decay_db(t), 1)[0])


def sabine_absorption(size_m: Any, rt60_s: float) -> float:
    """Uniform energy absorption coefficient whose image-source decay has RT60 ``rt60_s`` (s).

    Inverts `ism_rt60`: for uniform walls that is Eyring's formula times a shape factor of the
    room (1.09 for 4x3.5x2.7 m, 1.18 for 6x5x3 m, 1.29 for 9x7x3.5 m). Shoebox image sources are
    not diffuse, so the plain Sabine (RT60 -17..+19 %) and Eyring (+9..+46 %) inverses miss."""
    if not rt60_s > 0:
        raise ValueError(f"rt60_s must be positive (got {rt60_s})")
    return float(-np.expm1(-ism_rt60(size_m, 1 - math.exp(-1)) / rt60_s))  # RT60 scales as 1 / -log(1 - a)


def min_rt60(size_m: Any) -> float:
    """Shortest RT60 (s) a shoebox of ``size_m`` (3,) m allows: Sabine's formula with fully absorbing
    walls, ``24 ln(10) / c * V / S``. A shorter requested RT60 is no physical room: image sources
    would still give a decay, but of walls absorbing more than all the sound that reaches them."""
    lx, ly, lz = (float(v) for v in size_m)
    return 24 * math.log(10) / SPEED_OF_SOUND * lx * ly * lz / (2 * (lx * ly + lx * lz + ly * lz))


def band_centres(sample_rate: int) -> np.ndarray:
    """The `OCTAVE_BANDS_HZ` centres (Hz) usable at ``sample_rate``: those below Nyquist."""
    return np.array([f for f in OCTAVE_BANDS_HZ if f < sample_rate / 2])


def _band_weights(nfft: int, sample_rate: int, bands: int) -> np.ndarray:
    """``(B, nfft//2+1)`` zero-phase band gains summing to 1: cos^2 crossovers in log2 frequency."""
    x = np.log2(np.maximum(np.fft.rfftfreq(nfft, 1 / sample_rate), 1e-9) / BAND_BASE_HZ)
    return np.asarray(np.cos(np.pi / 2 * np.clip(np.clip(x, 0, bands - 1)[None] - np.arange(bands)[:, None], -1, 1)) ** 2)


def _absorption(
    size: np.ndarray, rt60_s: float | None, absorption: Any, sample_rate: int, walls: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Energy absorption ``(6, B)`` and RT60 per band ``(B,)`` from exactly one of the two arguments.

    ``walls=False`` (the direct path: no reflection) checks the arguments but computes neither
    the absorption for ``rt60_s`` (zeros, as good as any) nor the band RT60s (NaN)."""
    if (rt60_s is None) == (absorption is None):
        raise ValueError("give exactly one of rt60_s and absorption")
    if rt60_s is not None:
        if not walls:
            if not rt60_s > 0:
                raise ValueError(f"rt60_s must be positive (got {rt60_s})")
            return np.zeros((6, 1)), np.full(1, np.nan)
        return np.full((6, 1), sabine_absorption(size, rt60_s)), np.array([float(rt60_s)])
    alpha = np.asarray(absorption, dtype=float)
    alpha = alpha[:, None] if alpha.ndim == 1 else alpha
    bands = len(band_centres(sample_rate))
    if alpha.ndim != 2 or alpha.shape[0] != 6 or not 1 <= alpha.shape[1] <= bands:
        raise ValueError(f"absorption must have shape (6,) or (6, B), B <= {bands} octave bands at {sample_rate} Hz (got {alpha.shape})")
    if np.any(alpha < 0) or np.any(alpha > 1):
        raise ValueError("absorption coefficients must lie in [0, 1]")
    return alpha, np.array([ism_rt60(size, a) for a in alpha.T]) if walls else np.full(alpha.shape[1], np.nan)


def _geometry(size_m: Any, sources_m: Any, mics_m: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``size (3,)``, ``sources (S, 3)``, ``mics (M, 3)`` (float64, strictly inside the room)."""
    size = np.asarray(size_m, dtype=float)
    src, mic = np.atleast_2d(np.asarray(sources_m, dtype=float)), np.atleast_2d(np.asarray(mics_m, dtype=float))
    if size.shape != (3,) or np.any(size <= 0) or src.shape[1:] != (3,) or mic.shape[1:] != (3,):
        raise ValueError(f"need size (3,), sources (S, 3), mics (M, 3); got {size.shape}, {src.shape}, {mic.shape}")
    for name, p in (("source", src), ("microphone", mic)):
        if np.any(p <= 0) or np.any(p >= size):
            raise ValueError(f"every {name} must lie strictly inside the room {size.tolist()}")
    return size, src, mic


def direct_delays(sources_m: Any, mics_m: Any, sample_rate: int) -> np.ndarray:
    """Direct-path delay ``(S, M)`` in samples (fractional), the global delay `FD_HALF` included."""
    src, mic = np.atleast_2d(np.asarray(sources_m, float)), np.atleast_2d(np.asarray(mics_m, float))
    return np.asarray(np.linalg.norm(src[:, None] - mic[None], axis=-1) / SPEED_OF_SOUND * sample_rate + FD_HALF)


# ---- image sources ------------------------------------------------------------------------------


def _l1_ball(order: int) -> np.ndarray:
    """Image indices ``(I, 3)`` with ``|qx| + |qy| + |qz| <= order`` (``|q|`` reflections along an axis)."""
    qx, qy = (g.ravel() for g in np.meshgrid(np.arange(-order, order + 1), np.arange(-order, order + 1), indexing="ij"))
    rest = order - np.abs(qx) - np.abs(qy)
    qx, qy, rest = qx[rest >= 0], qy[rest >= 0], rest[rest >= 0]
    counts = 2 * rest + 1
    qz = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts + rest, counts)
    return np.stack([np.repeat(qx, counts), np.repeat(qy, counts), qz], 1)


def _within(size: np.ndarray, src: np.ndarray, mic: np.ndarray, radius: float) -> np.ndarray:
    """Image indices ``(I, 3)`` closer than ``radius`` (m) to some microphone, for some source."""
    q_max = np.ceil(radius / size).astype(int) + 1  # |x_image - x_mic| >= (|q| - 1) * L
    grid = np.stack(np.meshgrid(*(np.arange(-n, n + 1) for n in q_max), indexing="ij"), -1).reshape(-1, 3)
    return np.asarray(grid[(_distances(NUMPY, grid, size, src, mic) < radius).any(axis=(0, 1))])


def _distances(xp: Backend, q: Array, size: np.ndarray, src: Array, mic: Array) -> Array:
    """Distances ``(S, M, I)`` (m) from the images ``q (I, 3)`` of each source to each microphone.

    Along an axis of length L, image ``q`` lies at ``q*L + x_s`` (q even) or ``q*L + L - x_s`` (odd).
    All on ``xp``."""
    total = 0.0
    for d in range(3):
        odd = (q[:, d] % 2 == 1)[None]
        coord = q[None, :, d] * float(size[d]) + xp.where(odd, float(size[d]) - src[:, None, d], src[:, None, d])
        total = total + (coord[:, None, :] - mic[None, :, d, None]) ** 2
    return total**0.5


def _log_gains(q: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Log amplitude ``(I, B)`` of images ``q (I, 3)``: ``|q // 2|`` low-wall and ``|ceil(q / 2)|``
    high-wall reflections per axis, each scaling the amplitude by ``sqrt(1 - alpha)``."""
    hits = np.stack([np.abs(q // 2), np.abs(-(-q // 2))], -1).reshape(len(q), 6)  # WALLS order
    return np.asarray(hits @ (0.5 * np.log(np.maximum(1 - alpha, 1e-300))))


def _chunk(xp: Backend) -> int:
    """(pair, image, band, tap) entries per scatter of `_render_images`: bounds its memory (and
    fixes how the NumPy sums are grouped, hence their bits)."""
    if xp.name == "numpy":
        return 1 << 18
    return 1 << (24 if xp.device.startswith("cuda") else 22)


def _filter(xp: Backend, x: Array, gains: np.ndarray, nfft: int) -> Array:
    """Zero-phase filtering of ``x (..., K)`` by rfft ``gains`` (broadcast), circular over ``nfft``."""
    return xp.irfft(xp.rfft(x, nfft) * xp.asarray(gains), nfft)[..., : x.shape[-1]]


def _render_images(
    xp: Backend, q: np.ndarray, size: np.ndarray, src: Any, mic: Any, alpha: np.ndarray, sample_rate: int, length: int, radius: float | None
) -> Any:
    """Image RIRs ``(S, M, B, K)``: every image of ``q`` at every pair and band as a Hann-windowed
    sinc, scattered into one flat buffer (images beyond ``radius`` m and taps past K dropped)."""
    (S, M), B, row = (src.shape[0], mic.shape[0]), alpha.shape[1], length + 1  # + a spare sample per row
    out = xp.zeros(S * M * B * row)
    k = np.arange(_TAPS) - FD_HALF
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_TAPS) / (_TAPS - 1))
    coef = xp.asarray(-((-1.0) ** k) * hann / math.pi)  # sinc(k - f) = -(-1)^k sin(pi f) / (pi (k - f))
    k_float, k_int = xp.asarray(k), xp.asarray(k, xp.int64)
    rows = xp.asarray(np.arange(S * M * B).reshape(S, M, 1, B) * row, xp.int64)
    step = max(1, _chunk(xp) // (S * M * B * _TAPS))
    for lo in range(0, len(q), step):  # chunks bound the memory; each is one vectorized scatter
        dist = _distances(xp, xp.asarray(q[lo : lo + step], xp.float64), size, src, mic)  # (S, M, I)
        delay = dist * (sample_rate / SPEED_OF_SOUND) + FD_HALF
        whole = xp.floor(delay)
        frac = xp.astype(xp.clip(delay - whole, 1e-12, None), xp.float_dtype)  # > 0, so that k = f never gives 0/0
        amp = (
            xp.exp(xp.asarray(_log_gains(q[lo : lo + step], alpha)))[None, None] / xp.astype(4 * math.pi * dist, xp.float_dtype)[..., None]
        )
        if radius is not None:
            amp = amp * xp.astype(dist < radius, xp.float_dtype)[..., None]
        amp = amp * xp.sin(math.pi * frac)[..., None]  # (S, M, I, B)
        taps = coef / (k_float - frac[..., None])  # (S, M, I, T)
        n = xp.astype(whole, xp.int64)[..., None] + k_int
        if float(whole.max()) + FD_HALF >= length:  # taps past the end go to the spare sample
            taps, n = taps * xp.astype(n < length, xp.float_dtype), xp.where(n < length, n, length)
        xp.scatter_add(out, rows[..., None] + n[:, :, :, None, :], amp[..., None] * taps[:, :, :, None, :])
    return out.reshape(S, M, B, row)[..., :length]


def _band_split(xp: Backend, raw: Any, sample_rate: int, highpass_hz: float | None) -> tuple[Any, np.ndarray]:
    """Band ``b`` of row ``b`` of ``raw (S, M, B, K)``, high-passed, and each band filter's mean power gain ``(B,)``.

    The high-pass has the magnitude of pyroomacoustics' default (2nd-order Butterworth run by
    ``sosfiltfilt``): it removes the positive drift that image sources, all of one sign, build up."""
    B, K = raw.shape[2], raw.shape[3]
    if B == 1 and highpass_hz is None:
        return raw, np.ones(1)
    nfft = 1 << math.ceil(math.log2(K + _PAD_S * sample_rate))
    gains, power_gain = _band_gains(nfft, sample_rate, B, highpass_hz)
    return _filter(xp, raw, gains, nfft), power_gain


@functools.lru_cache(maxsize=64)
def _band_gains(nfft: int, sample_rate: int, bands: int, highpass_hz: float | None) -> tuple[np.ndarray, np.ndarray]:
    """`_band_split`'s rfft gains ``(B, nfft//2+1)`` and their mean power ``(B,)``, cached (callers
    must not modify them): ``nfft`` is a power of two, so a build meets only a few."""
    gains = _band_weights(nfft, sample_rate, bands)
    if highpass_hz is not None:
        gains = gains / (1 + (highpass_hz / np.maximum(np.fft.rfftfreq(nfft, 1 / sample_rate), 1e-9)) ** 4)
    return gains, (gains**2).mean(1)


def _continue_drift(xp: Backend, raw: Any, size: np.ndarray, alpha: np.ndarray, sample_rate: int, start: int, window: int) -> None:
    """Extend past ``start``, in place, the positive mean that the images of ``raw (S, M, B, K)``
    build up (~ t times their mean amplitude) in row 0 (band 0 holds DC): cut at ``start``, it
    would be a step that the high-pass turns into a low-frequency burst."""
    t_ref, t = (start - window / 2 - FD_HALF) / sample_rate, (np.arange(start, raw.shape[-1]) - FD_HALF) / sample_rate
    grid = np.r_[t_ref, np.linspace(t[0], t[-1], 64)]  # the envelope is smooth: interpolate it
    drift = np.interp(t, grid[1:], grid[1:] * _image_envelope(size, alpha[:, 0], grid[1:], 0.5)) / (
        t_ref * _image_envelope(size, alpha[:, 0], grid[:1], 0.5)
    )
    raw[:, :, 0, start:] += raw[:, :, 0, start - window : start].mean(-1)[..., None] * xp.asarray(drift)


def _tail(
    xp: Backend,
    bands: Any,
    power_gain: np.ndarray,
    size: np.ndarray,
    alpha: np.ndarray,
    rt60: np.ndarray,
    sample_rate: int,
    start: int,
    window: int,
    seed: int,
) -> Any:
    """Diffuse tail ``(S, M, K - start)``: Gaussian noise from ``default_rng(seed)``, split into the
    bands (square roots of the band gains), each decaying as ``exp(-6.908 t / RT60_b)`` from the level
    of the band's images over ``window`` samples before ``start``, carried to ``start`` along
    the expected image decay."""
    (S, M, B, _), L = bands.shape, bands.shape[-1] - start
    t = (np.linspace(start - window, start, _CARRY_POINTS) - FD_HALF) / sample_rate  # a smooth envelope
    carry = np.array([e[-1] / ((e[:-1] + e[1:]).mean() / 2) for e in (_image_envelope(size, a, t, 1) for a in alpha.T)])  # trapezoid mean
    level = (bands[..., start - window : start] ** 2).mean(-1) * xp.asarray(carry / power_gain)  # (S, M, B)
    noise = xp.asarray(np.random.default_rng(seed).standard_normal((S, M, 1, L)))
    if B > 1:  # circular filtering keeps the noise stationary
        noise = _filter(xp, noise, _band_weights(L, sample_rate, B) ** 0.5, L)
    decay = xp.asarray(np.exp(np.arange(L) * (-3 * math.log(10) / (rt60[:, None] * sample_rate))))  # (B, L): -60 dB at RT60
    return (noise * decay * level[..., None] ** 0.5).sum(2)


def simulate_ism(
    size_m: Any,
    sources_m: Any,
    mics_m: Any,
    sample_rate: int,
    *,
    rt60_s: float | None = None,
    absorption: Any = None,
    max_order: int | None = None,
    early_s: float | None = 0.08,
    length_s: float | None = None,
    tail_seed: int = 0,
    highpass_hz: float | None = 10.0,
    backend: str | Backend = "numpy",
    device: str = "cpu",
    dtype: Any = None,
) -> Array:
    """RIRs ``(S, M, K)`` of a shoebox room: image source method, then a diffuse tail.

    Args:
        size_m: room size (3,) m; sources_m (S, 3), mics_m (M, 3): positions in m.
        rt60_s: target RT60 (s), uniform walls from `sabine_absorption`; or
        absorption: energy absorption (6,) per wall (`WALLS` order) or (6, B) per octave band.
        max_order: images up to this order and no tail (0: the direct path only).
        early_s: (max_order None) images arriving before this propagation time (s), then the tail;
            None: no tail, images up to the order that covers RT60 (pyroomacoustics' rule).
        length_s: RIR length (default: 1.1 RT60 + the longest direct path; without a tail, the last image).
        tail_seed: seed of the tail noise. highpass_hz: zero-phase high-pass (None: off).
        backend: 'numpy', 'torch' or a `Backend`; device: torch device; dtype: default float64 (float32 on CUDA).
    Returns:
        an array of that backend (``np.ndarray``, or ``torch.Tensor`` on ``device``); the direct
        paths peak at `direct_delays`.
    """
    size, src, mic = _geometry(size_m, sources_m, mics_m)
    # order 0 is the direct path alone: every image gain is exp(0 * log(1 - alpha)) = 1 whatever
    # the walls, so their absorption (and the RT60 behind it) need not be computed
    alpha, rt60 = _absorption(size, rt60_s, absorption, sample_rate, walls=max_order != 0)
    xp = get_backend(backend, device, dtype)
    radius = early_s * SPEED_OF_SOUND if max_order is None and early_s is not None else None  # images within it, then the tail
    with_tail = radius is not None
    if max_order is None and radius is None:  # pra.inverse_sabine's order: its L1 ball holds a sphere of c*RT60
        inner = min(a * b / math.hypot(a, b) for a, b in ((size[0], size[1]), (size[0], size[2]), (size[1], size[2])))
        max_order = max(math.ceil(SPEED_OF_SOUND * rt60.max() / inner - 1), 0)
    q = _within(size, src, mic, radius) if radius is not None else _l1_ball(max_order or 0)
    direct = direct_delays(src, mic, sample_rate)
    if length_s is not None:
        length = round(length_s * sample_rate)
    elif with_tail:
        length = math.ceil(1.1 * rt60.max() * sample_rate + direct.max()) + FD_HALF + 1
    else:
        far = max(float(_distances(NUMPY, q[i : i + 100_000], size, src, mic).max()) for i in range(0, len(q), 100_000))
        length = math.ceil(far / SPEED_OF_SOUND * sample_rate) + 2 * FD_HALF + 2
    raw = _render_images(xp, q, size, xp.asarray(src, xp.float64), xp.asarray(mic, xp.float64), alpha, sample_rate, length, radius)
    start = round(early_s * sample_rate) + FD_HALF if with_tail and early_s is not None else length
    window = min(int(_TAIL_WINDOW_S * sample_rate), start - math.ceil(direct.max()) - 2 * FD_HALF)
    if start < length and window < 0.005 * sample_rate:
        raise ValueError(
            f"early_s={early_s} must exceed the longest direct path ({(direct.max() - FD_HALF) / sample_rate:.4f} s) "
            f"by at least {2 * FD_HALF / sample_rate + 0.005:.4f} s"
        )
    if start < length and highpass_hz is not None:
        _continue_drift(xp, raw, size, alpha, sample_rate, start, window)
    bands, power_gain = _band_split(xp, raw, sample_rate, highpass_hz)
    rir = bands.sum(2)
    if start < length:
        rir[..., start:] += _tail(xp, bands, power_gain, size, alpha, rt60, sample_rate, start, window, tail_seed)
    return rir


# ---- pyroomacoustics reference ------------------------------------------------------------------


@contextlib.contextmanager
def _pra_settings(pra: Any, seed: int | None) -> Iterator[None]:
    """One thread, c = `SPEED_OF_SOUND`, and (``seed`` given) seeded generators; restored after
    (except libroom's C++ generator, which cannot be read back and stays seeded)."""
    saved = {name: pra.constants.get(name) for name in ("num_threads", "c")}
    saved_rng = getattr(pra.random.generator, "_rng", None)
    pra.constants.set("num_threads", 1)
    pra.constants.set("c", SPEED_OF_SOUND)
    if seed is not None:  # numpy Generator (RT histograms -> RIR) and libroom's mt19937_64 (ray tracer)
        pra.random.seed(numpy=seed, libroom=seed)
    try:
        yield
    finally:
        for name, value in saved.items():
            pra.constants.set(name, value)
        pra.random.generator._rng = saved_rng


def simulate_pra(
    size_m: Any,
    sources_m: Any,
    mics_m: Any,
    sample_rate: int,
    *,
    rt60_s: float | None = None,
    absorption: Any = None,
    method: str = "ism",
    seed: int = 0,
) -> np.ndarray:
    """RIRs ``(S, M, K)`` from pyroomacoustics, float64, zero-padded to the longest, scaled to 1/(4 pi d).

    ``method='ism'``: max_order from ``pra.inverse_sabine`` (rt60_s, or the largest band `ism_rt60`);
    ``'hybrid'``: ISM to order 3 plus ray tracing (``set_ray_tracing()`` defaults), pyroomacoustics'
    generators seeded with ``seed``. Walls as in `simulate_ism`; no air absorption; pyroomacoustics'
    default 10 Hz high-pass kept."""
    import pyroomacoustics as pra  # heavy import, only for the reference

    if method not in ("ism", "hybrid"):
        raise ValueError(f"method must be 'ism' or 'hybrid' (got {method!r})")
    size, src, mic = _geometry(size_m, sources_m, mics_m)
    alpha, rt60 = _absorption(size, rt60_s, absorption, sample_rate)
    freqs = band_centres(sample_rate)[: alpha.shape[1]].tolist()
    materials = {
        wall: pra.Material(float(a[0]) if len(a) == 1 else {"coeffs": a.tolist(), "center_freqs": freqs})
        for wall, a in zip(WALLS, alpha, strict=True)
    }
    with _pra_settings(pra, seed if method == "hybrid" else None):
        order = 3 if method == "hybrid" else pra.inverse_sabine(float(rt60.max()), size.tolist(), c=SPEED_OF_SOUND)[1]
        room = pra.ShoeBox(
            size.tolist(), fs=sample_rate, materials=materials, max_order=order, ray_tracing=method == "hybrid", air_absorption=False
        )
        if method == "hybrid":
            room.set_ray_tracing()
        for position in src:
            room.add_source(position.tolist())
        room.add_microphone_array(mic.T.copy())
        room.compute_rir()
    out = np.zeros((len(src), len(mic), max(len(r) for per_mic in room.rir for r in per_mic)))
    for m, per_source in enumerate(room.rir):
        for s, r in enumerate(per_source):
            out[s, m, : len(r)] = r
    return out / (4 * math.pi)  # pyroomacoustics 0.10 scales a path by 1/d (tests/test_rir.py checks the match)


# ---- batches of rooms ---------------------------------------------------------------------------

_BATCH_KEYS = ("size_m", "sources_m", "mics_m", "rt60_s", "absorption", "max_order", "early_s", "length_s", "tail_seed", "highpass_hz")
_SCATTER_CPU = 1 << 18  # (pair, image, band, tap) entries per scatter of `_render_batch` (NumPy, torch CPU)
_SCATTER_CUDA = 1 << 25
_FFT_CPU = 1 << 18  # samples per band-splitting FFT call of `simulate_ism_batch` (NumPy, torch CPU)
_FFT_CUDA = 1 << 27
_BATCH_SCRATCH = threading.local()  # per thread: `_render_batch`'s reusable NumPy buffers, by name


@dataclasses.dataclass
class _Plan:
    """One room of a batch, planned on the host (NumPy): what `simulate_ism` computes before and
    around its array work, and the image entries ``(pair, image)`` that carry sound."""

    size: np.ndarray
    src: np.ndarray
    mic: np.ndarray
    alpha: np.ndarray  # (6, B)
    rt60: np.ndarray  # (B,)
    sample_rate: int
    length: int
    start: int  # first tail sample (``length``: no tail)
    window: int
    drift: bool  # `_continue_drift` before the band split
    highpass_hz: float | None
    seed: int
    width: int  # image samples kept per row (the rest of the row is zero), <= length
    entries: dict[str, np.ndarray]  # per kept (s, m, i), in scatter order: dist, log_gain (E, B), row (E,), chunk (E,)
    chunks: int

    @property
    def bands(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def nfft(self) -> int | None:
        """The band-splitting FFT size, None where `_band_split` filters nothing."""
        if self.bands == 1 and self.highpass_hz is None:
            return None
        return 1 << math.ceil(math.log2(self.length + _PAD_S * self.sample_rate))


def _plan(spec: dict[str, Any], sample_rate: int, xp: Backend) -> _Plan | None:
    """`simulate_ism`'s host part for one room (the same checks, errors and numbers); None for the
    settings the batch does not render (``max_order`` > 0, or no tail and no order: ``early_s=None``)."""
    unknown = set(spec) - set(_BATCH_KEYS)
    if unknown:
        raise TypeError(f"unknown room settings {sorted(unknown)}")
    max_order, early_s = spec.get("max_order"), spec.get("early_s", 0.08)
    size, src, mic = _geometry(spec["size_m"], spec["sources_m"], spec["mics_m"])
    alpha, rt60 = _absorption(size, spec.get("rt60_s"), spec.get("absorption"), sample_rate, walls=max_order != 0)
    if max_order not in (None, 0) or (max_order is None and early_s is None):
        return None
    radius = early_s * SPEED_OF_SOUND if max_order is None else None
    if radius is not None:
        q, dist = _within_distances(size, src, mic, radius)
        keep = dist < radius  # the others are scaled by 0: they add nothing (not even a sign) to any sample
    else:
        q = _l1_ball(0)
        dist = np.asarray(_distances(NUMPY, q, size, src, mic))
        keep = np.ones(dist.shape, bool)
    direct = direct_delays(src, mic, sample_rate)
    length_s = spec.get("length_s")
    if length_s is not None:
        length = round(length_s * sample_rate)
    elif radius is not None:
        length = math.ceil(1.1 * rt60.max() * sample_rate + direct.max()) + FD_HALF + 1
    else:
        length = math.ceil(float(dist.max()) / SPEED_OF_SOUND * sample_rate) + 2 * FD_HALF + 2
    start = round(early_s * sample_rate) + FD_HALF if radius is not None else length
    window = min(int(_TAIL_WINDOW_S * sample_rate), start - math.ceil(direct.max()) - 2 * FD_HALF)
    if start < length and window < 0.005 * sample_rate:
        raise ValueError(
            f"early_s={early_s} must exceed the longest direct path ({(direct.max() - FD_HALF) / sample_rate:.4f} s) "
            f"by at least {2 * FD_HALF / sample_rate + 0.005:.4f} s"
        )
    highpass_hz = spec.get("highpass_hz", 10.0)
    # an image closer than the radius peaks before early_s * rate + FD_HALF: its taps end before `width`
    width = length if radius is None else min(length, math.ceil(early_s * sample_rate) + 2 * FD_HALF + 2)
    (S, M), B = keep.shape[:2], alpha.shape[1]
    step = max(1, _chunk(xp) // (S * M * B * _TAPS))  # NumPy: `_render_images`' chunks, hence its sums
    log_gain = np.concatenate([_log_gains(q[lo : lo + step], alpha) for lo in range(0, len(q), step)])  # its matrix shapes too
    s, m, i = np.nonzero(keep)  # pair-major, images in order: each sample's sum in `_render_images`' order
    chunk = i // step
    order = np.argsort(chunk, kind="stable")
    s, m, i = s[order], m[order], i[order]
    entries = {"dist": dist[s, m, i], "log_gain": log_gain[i], "row": (s * M + m) * B, "chunk": chunk[order]}
    return _Plan(
        size, src, mic, alpha, rt60, sample_rate, length, start, window, start < length and highpass_hz is not None, highpass_hz,
        int(spec.get("tail_seed", 0)), width, entries, -(-len(q) // step)
    )  # fmt: skip


def _within_distances(size: np.ndarray, src: np.ndarray, mic: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """`_within`'s images and their distances ``(S, M, I)``, the same numbers as `_distances` of them."""
    q_max = np.ceil(radius / size).astype(int) + 1
    grid = np.stack(np.meshgrid(*(np.arange(-n, n + 1) for n in q_max), indexing="ij"), -1).reshape(-1, 3)
    dist = np.asarray(_distances(NUMPY, grid, size, src, mic))
    near = (dist < radius).any(axis=(0, 1))
    return grid[near], dist[:, :, near]


def _scratch(xp: Backend, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
    """A reusable NumPy buffer ``shape`` (fresh temporaries of a few MB cost more in page faults
    than the arithmetic); None on torch (its allocator caches)."""
    if xp.name != "numpy":
        return None
    size = math.prod(shape)
    buffer = getattr(_BATCH_SCRATCH, name, None)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(max(size, 1 << 16), dtype)
        setattr(_BATCH_SCRATCH, name, buffer)
    return buffer[:size].reshape(shape)


def _render_batch(xp: Backend, plans: list[_Plan], sample_rate: int) -> list[Any]:
    """The image part of every room: ``(S, M, B, width)`` each, views into one flat buffer.

    Every kept (pair, image) entry of every room becomes a Hann-windowed sinc, scattered into the
    room's rows (width + 1 samples each, the last a spare for taps past the end). On NumPy a
    scatter takes at most one `_render_images` chunk of each room, and a room's chunks come in
    order, so that every sample is summed as `simulate_ism` sums it; rooms of one band count
    share a scatter."""
    k = np.arange(_TAPS) - FD_HALF
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_TAPS) / (_TAPS - 1))
    coef = xp.asarray(-((-1.0) ** k) * hann / math.pi)
    k_float, k_int = xp.asarray(k), xp.asarray(k, xp.int64)
    order = sorted(range(len(plans)), key=lambda r: (plans[r].bands, -plans[r].chunks, r))  # a chunk's rooms: a prefix of a band group
    offsets, total = {}, 0
    for r in order:
        offsets[r] = total
        total += plans[r].src.shape[0] * plans[r].mic.shape[0] * plans[r].bands * (plans[r].width + 1)
    flat = xp.zeros(total)
    bounds = {r: np.searchsorted(p.entries["chunk"], np.arange(p.chunks + 1)) for r, p in enumerate(plans)}
    budget = _SCATTER_CUDA if xp.device.startswith("cuda") else _SCATTER_CPU
    for j in range(max((p.chunks for p in plans), default=0)):
        unit: list[int] = []
        for r in [r for r in order if plans[r].chunks > j] + [-1]:  # -1: the end
            size = sum(int(bounds[u][j + 1] - bounds[u][j]) for u in unit) * plans[unit[0]].bands * _TAPS if unit else 0
            if unit and (
                r < 0
                or plans[r].bands != plans[unit[0]].bands
                or size + plans[r].bands * _TAPS * int(bounds[r][j + 1] - bounds[r][j]) > budget
            ):
                _scatter_unit(xp, flat, plans, unit, j, bounds, offsets, coef, k_float, k_int, sample_rate)
                unit = []
            if r >= 0:
                unit.append(r)
    views = []
    for r, p in enumerate(plans):
        S, M, B, row = p.src.shape[0], p.mic.shape[0], p.bands, p.width + 1
        views.append(flat[offsets[r] : offsets[r] + S * M * B * row].reshape(S, M, B, row)[..., : p.width])
    return views


def _scatter_unit(
    xp: Backend, flat: Any, plans: list[_Plan], unit: list[int], j: int, bounds: dict[int, np.ndarray], offsets: dict[int, int],
    coef: Any, k_float: Any, k_int: Any, sample_rate: int,
) -> None:  # fmt: skip
    """Chunk ``j`` of each room of ``unit`` (one band count, contiguous in ``flat``): one scatter."""
    lo = offsets[unit[0]]
    last = plans[unit[-1]]
    hi = offsets[unit[-1]] + last.src.shape[0] * last.mic.shape[0] * last.bands * (last.width + 1)
    parts: dict[str, list[np.ndarray]] = {"dist": [], "log_gain": [], "row": [], "width": []}
    for r in unit:
        p, (a, b) = plans[r], (int(bounds[r][j]), int(bounds[r][j + 1]))
        parts["dist"].append(p.entries["dist"][a:b])
        parts["log_gain"].append(p.entries["log_gain"][a:b])
        rows = offsets[r] - lo + (p.entries["row"][a:b, None] + np.arange(p.bands)) * (p.width + 1)
        parts["row"].append(rows)
        parts["width"].append(np.full(b - a, p.width))
    dist = xp.asarray(np.concatenate(parts["dist"]), xp.float64)
    E, B = dist.shape[0], plans[unit[0]].bands
    if E == 0:
        return
    delay = dist * (sample_rate / SPEED_OF_SOUND) + FD_HALF
    whole = xp.floor(delay)
    frac = xp.astype(xp.clip(delay - whole, 1e-12, None), xp.float_dtype)  # > 0, so that k = f never gives 0/0
    amp = xp.exp(xp.asarray(np.concatenate(parts["log_gain"]))) / xp.astype(4 * math.pi * dist, xp.float_dtype)[:, None]
    amp = amp * xp.sin(math.pi * frac)[:, None]  # (E, B)
    taps = xp.subtract(k_float, frac[:, None], out=_scratch(xp, "taps", (E, _TAPS), np.float64))
    taps = _divide(xp, coef, taps)  # (E, T)
    rows = np.concatenate(parts["row"])  # (E, B): each band's row start in flat[lo:hi]
    base = xp.astype(whole, xp.int64)[:, None] + xp.asarray(rows, xp.int64)
    index = xp.add(base[:, :, None], k_int, out=_scratch(xp, "index", (E, B, _TAPS), np.int64))
    spare = rows + np.concatenate(parts["width"])[:, None]  # the sample after each row's last
    host_whole = np.floor(np.concatenate(parts["dist"]) * (sample_rate / SPEED_OF_SOUND) + FD_HALF)  # `whole`, as the host computes it
    if np.any(host_whole[:, None] + rows + FD_HALF >= spare):  # taps past a row's end (length_s shorter than the images): to its spare
        index = _minimum(xp, index, xp.asarray(spare, xp.int64)[:, :, None])
    values = xp.multiply(amp[:, :, None], taps[:, None, :], out=_scratch(xp, "values", (E, B, _TAPS), np.float64))
    xp.scatter_add(flat[lo:hi], index, values)


def _divide(xp: Backend, a: Any, b: Any) -> Any:
    """``a / b`` into ``b`` (NumPy; torch: a new tensor)."""
    return xp.m.divide(a, b, out=b) if xp.name == "numpy" else a / b


def _minimum(xp: Backend, a: Any, b: Any) -> Any:
    """Elementwise minimum, into ``a`` (NumPy; torch: a new tensor)."""
    return xp.m.minimum(a, b, out=a) if xp.name == "numpy" else xp.m.minimum(a, b)


def simulate_ism_batch(
    rooms: Sequence[Mapping[str, Any]], sample_rate: int, backend: str | Backend = "numpy", device: str = "cpu", dtype: Any = None
) -> list[Array]:
    """`simulate_ism` of B rooms at once: one ``(S_b, M_b, K_b)`` array per room, in order.

    Each room is a mapping of `simulate_ism`'s arguments (``size_m``, ``sources_m``, ``mics_m``,
    and any of ``rt60_s``, ``absorption``, ``max_order``, ``early_s``, ``length_s``,
    ``tail_seed``, ``highpass_hz``), all at ``sample_rate``. Rooms may differ in everything.

    The images of all rooms (those before each room's ``early_s``, or the direct paths of
    ``max_order=0``) are rendered together, scattered into one flat buffer a chunk at a time
    (`_render_batch`); the band split runs once per FFT size (rooms of one ``nfft``, band count
    and high-pass share the calls); the tail is per room (its noise from the room's own
    ``tail_seed``; its filter has the room's own length). Each result depends on its room alone:
    on NumPy it is `simulate_ism`'s, bit for bit; on torch within rounding of it. Rooms with
    ``max_order`` > 0 or ``early_s=None`` (no tail) are passed to `simulate_ism` one by one.
    No device-to-host copy on torch (the planning is on the host, from the positions)."""
    xp = get_backend(backend, device, dtype)
    results: list[Array] = [None] * len(rooms)
    plans: dict[int, _Plan] = {}
    for b, room in enumerate(rooms):
        spec = dict(room)
        plan = _plan(spec, sample_rate, xp)
        if plan is None:
            geometry = (spec.pop("size_m"), spec.pop("sources_m"), spec.pop("mics_m"))
            results[b] = simulate_ism(*geometry, sample_rate, backend=xp, **spec)
        else:
            plans[b] = plan
    batch = list(plans)
    images = dict(zip(batch, _render_batch(xp, [plans[b] for b in batch], sample_rate), strict=True))
    groups: dict[tuple[Any, ...], list[int]] = {}
    for b in batch:
        p = plans[b]
        groups.setdefault((p.nfft, p.bands, p.highpass_hz), []).append(b)
    limit = _FFT_CUDA if xp.device.startswith("cuda") else _FFT_CPU
    for (nfft, B, highpass_hz), members in groups.items():
        if nfft is None:  # nothing to filter: the rows as they are
            for b in members:
                p = plans[b]
                raw = xp.zeros((p.src.shape[0], p.mic.shape[0], B, p.length))
                raw[..., : p.width] = images[b]
                results[b] = _finish(xp, p, raw, np.ones(1))
            continue
        gains, power_gain = _band_gains(nfft, sample_rate, B, highpass_hz)
        while members:  # as many rooms as fit in one FFT call
            count, rows = 0, 0
            while count < len(members) and (count == 0 or (rows + _rows(plans[members[count]])) * nfft <= limit):
                rows += _rows(plans[members[count]])
                count += 1
            part, members = members[:count], members[count:]
            signal, first = xp.zeros((rows, nfft)), 0
            for b in part:
                p = plans[b]
                raw = signal[first : first + _rows(p)].reshape(p.src.shape[0], p.mic.shape[0], B, nfft)
                raw[..., : p.width] = images[b]
                if p.drift:
                    _continue_drift(xp, raw[..., : p.length], p.size, p.alpha, sample_rate, p.start, p.window)
                first += _rows(p)
            spectrum = xp.rfft(signal, nfft)
            bands = xp.irfft(spectrum.reshape(rows // B, B, -1) * xp.asarray(gains), nfft).reshape(rows, nfft)
            first = 0
            for b in part:
                p = plans[b]
                band = bands[first : first + _rows(p)].reshape(p.src.shape[0], p.mic.shape[0], B, nfft)[..., : p.length]
                results[b] = _finish(xp, p, band, power_gain)
                first += _rows(p)
    return results


def _rows(p: _Plan) -> int:
    return int(p.src.shape[0] * p.mic.shape[0] * p.bands)


def _finish(xp: Backend, p: _Plan, bands: Any, power_gain: np.ndarray) -> Any:
    """`simulate_ism`'s last steps: the bands summed, the tail added."""
    rir = bands.sum(2)
    if p.start < p.length:
        rir[..., p.start :] += _tail(xp, bands, power_gain, p.size, p.alpha, p.rt60, p.sample_rate, p.start, p.window, p.seed)
    return rir
