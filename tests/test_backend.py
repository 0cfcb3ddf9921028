"""The array backend: every operation on NumPy and on torch (CPU, float64) gives the same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from audiosynth.dsp import backend as B
from audiosynth.dsp import kernels

torch = pytest.importorskip("torch")
NP, TORCH = B.get_backend("numpy"), B.get_backend("torch")
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 50))
V = RNG.standard_normal(40)
MASK = V > 0.3

# name -> (operation on a backend and its inputs, the NumPy inputs)
OPS: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "asarray": (lambda xp, x: xp.asarray(x), (X,)),
    "zeros": (lambda xp: xp.zeros((2, 3)), ()),
    "arange": (lambda xp: xp.arange(7), ()),
    "arange_int": (lambda xp: xp.arange(7, dtype=xp.int64), ()),
    "rfft": (lambda xp, x: xp.rfft(x, 64), (X,)),
    "rfft_odd": (lambda xp, x: xp.rfft(x, 75), (X,)),
    "irfft": (lambda xp, x: xp.irfft(xp.rfft(x, 64), 64), (X,)),
    "square": (lambda xp, x: xp.square(x), (X,)),
    "sqrt": (lambda xp, x: xp.sqrt(xp.abs(x)), (X,)),
    "log10": (lambda xp, x: xp.log10(xp.abs(x) + 1e-3), (X,)),
    "exp": (lambda xp, x: xp.exp(x), (X,)),
    "sin": (lambda xp, x: xp.sin(x), (X,)),
    "floor": (lambda xp, x: xp.floor(3 * x), (X,)),
    "round_half_even": (lambda xp, x: xp.round(x), (np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 2.51]),)),
    "round_in_place": (lambda xp, x: (lambda y: (xp.round(y, out=y), y)[1])(xp.copy(8 * x)), (X,)),
    "clip": (lambda xp, x: xp.clip(x, -0.5, 0.7), (X,)),
    "clip_low_only": (lambda xp, x: xp.clip(x, 0.1, None), (X,)),
    "clip_in_place": (lambda xp, x: (lambda y: (xp.clip(y, -0.2, 0.2, out=y), y)[1])(xp.copy(x)), (X,)),
    "multiply_out": (lambda xp, x: (lambda y: (xp.multiply(y, 3.0, out=y), y)[1])(xp.copy(x)), (X,)),
    "add_out": (lambda xp, x: (lambda y: (xp.add(y, y, out=y), y)[1])(xp.copy(x)), (X,)),
    "subtract_out": (lambda xp, x, v: (lambda y: (xp.subtract(y, v[:50], out=y), y)[1])(xp.copy(x)), (X, np.resize(V, 50))),
    "where": (lambda xp, m, v: xp.where(m, v, -v), (MASK, V)),
    "astype_float32": (lambda xp, x: xp.astype(x, xp.float32), (X,)),
    "float32_grid": (lambda xp, x: xp.float32_grid(x), (X,)),
    "sum": (lambda xp, x: xp.sum(x), (X,)),
    "sum_axis": (lambda xp, x: xp.sum(x, axis=1), (X,)),
    "mean": (lambda xp, x: xp.mean(x), (X,)),
    "mean_keepdims": (lambda xp, x: xp.mean(x, axis=0, keepdims=True), (X,)),
    "max": (lambda xp, x: xp.max(x), (X,)),
    "max_axis": (lambda xp, x: xp.max(x, axis=-1), (X,)),
    "min": (lambda xp, x: xp.min(x), (X,)),
    "min_axis": (lambda xp, x: xp.min(x, axis=0), (X,)),
    "any": (lambda xp, m: xp.any(m), (MASK,)),
    "any_axis": (lambda xp, x: xp.any(x > 1.5, axis=0), (X,)),
    "all": (lambda xp, x: xp.all(x > -10), (X,)),
    "dot": (lambda xp, v: xp.dot(v, xp.flip(v)), (V,)),
    "cumsum": (lambda xp, x: xp.cumsum(x, axis=-1), (X,)),
    "flip": (lambda xp, x: xp.flip(x), (X,)),
    "flip_axis0": (lambda xp, x: xp.flip(x, axis=0), (X,)),
    "diff": (lambda xp, v: xp.diff(v), (V,)),
    "argmax": (lambda xp, v: xp.argmax(v), (V,)),
    "argmax_mask": (lambda xp, m: xp.argmax(m), (MASK,)),
    "argmax_no_true": (lambda xp, m: xp.argmax(m & False), (MASK,)),
    "flatnonzero": (lambda xp, x: xp.flatnonzero(x > 1.0), (X,)),
    "concatenate": (lambda xp, x: xp.concatenate([x, 2 * x], axis=-1), (X,)),
    "concatenate_axis0": (lambda xp, x: xp.concatenate([x, x], axis=0), (X,)),
    "stack": (lambda xp, x: xp.stack([x, x], axis=1), (X,)),
    "repeat": (lambda xp, x: xp.repeat(x[:1], 3, axis=0), (X,)),
    "pad_last": (lambda xp, x: xp.pad_last(x, 64), (X,)),
    "copy": (lambda xp, x: xp.copy(x), (X,)),
    "scatter_add": (
        lambda xp, idx, v: (lambda out: (xp.scatter_add(out, xp.asarray(idx, xp.int64), v), out)[1])(xp.zeros(10)),
        (np.array([0, 3, 3, 9, 3, 0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
    ),
    "line_fit": (lambda xp, v: xp.line_fit(xp.arange(40) * 1000.0, 3 - 0.5 * xp.arange(40) + v), (V,)),
    "runs": (lambda xp, m: xp.runs(m), (MASK,)),
    "runs_at_both_ends": (lambda xp, m: xp.runs(m), (np.array([True, True, False, True]),)),
    "int_list": (lambda xp, v: xp.int_list(xp.flatnonzero(v > 0)), (V,)),
}


def _plain(value: Any) -> Any:
    """A result as NumPy / Python values."""
    if isinstance(value, torch.Tensor):
        return TORCH.to_numpy(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_operation_gives_the_same_numbers_on_numpy_and_torch(name: str) -> None:
    op, inputs = OPS[name]
    ours = op(NP, *(NP.from_numpy(a) for a in inputs))
    theirs = op(TORCH, *(TORCH.from_numpy(a) for a in inputs))
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, (np.ndarray, np.generic))  # each backend returns its own arrays (NumPy: or scalars)
        assert theirs.dtype.is_floating_point == (ours.dtype.kind == "f") and theirs.dtype.is_complex == (ours.dtype.kind == "c")
    ours, theirs = _plain(ours), _plain(theirs)
    if isinstance(ours, np.ndarray):
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(np.asarray(theirs, dtype=float), np.asarray(ours, dtype=float), rtol=1e-9, atol=1e-9)


def test_the_numpy_backend_is_numpy_and_scipy_to_the_bit() -> None:
    """What the kernels computed before the backend existed, bit for bit (tests/test_golden.py relies on it)."""
    import scipy.fft

    x = RNG.standard_normal((2, 3, 1000))
    assert np.array_equal(NP.rfft(x, 1200), scipy.fft.rfft(np.concatenate([x, np.zeros((2, 3, 200))], axis=-1), axis=-1))
    assert np.array_equal(NP.rfft(x, 1200), np.fft.rfft(x, 1200, axis=-1))  # what the room simulator used
    slope, intercept = NP.line_fit(np.arange(40.0), V)
    assert (slope, intercept) == tuple(float(c) for c in np.polyfit(np.arange(40.0), V, 1))
    out = np.zeros(10)
    NP.scatter_add(out, np.array([1, 1, 4]), np.array([0.5, 0.25, 2.0]))
    assert out.tolist() == [0, 0.75, 0, 0, 2.0, 0, 0, 0, 0, 0]
    long = RNG.standard_normal(B._SCRATCH_MAX + 5)
    for signal in (x, x[1], x[1, 2, 100:900], x[..., ::3], x.astype(np.float32), RNG.standard_normal((4, 70000)), long, long[:1000]):
        assert NP.sum_of_squares(signal) == float(np.sum(np.square(signal, dtype=np.float64)))  # the buffer changes no bit


def test_arrays_move_between_backends_keeping_their_kind() -> None:
    mask, ints, floats = np.array([True, False]), np.array([1, 2]), np.array([0.5], dtype=np.float32)
    assert TORCH.from_numpy(mask).dtype == torch.bool and TORCH.from_numpy(ints).dtype == torch.int64
    assert TORCH.from_numpy(floats).dtype == torch.float64  # floats in the working float
    assert NP.from_numpy(floats).dtype == np.float64 and NP.from_numpy(mask).dtype == bool
    x = NP.asarray(X)
    assert NP.from_numpy(x) is x and NP.to_numpy(x) is x  # NumPy: no copies
    t = TORCH.from_numpy(X)
    assert TORCH.from_numpy(t) is t
    back = B.to_numpy(t)
    assert isinstance(back, np.ndarray) and back.dtype == np.float64 and np.array_equal(back, X)


def test_backends_are_found_from_their_arrays_and_by_name() -> None:
    assert B.backend_of(X) is NP and B.backend_of(X, torch.zeros(2)) is TORCH
    assert B.backend_of() is NP
    assert B.get_backend("torch") is TORCH and B.get_backend(TORCH) is TORCH  # cached, and a Backend passes through
    assert B.get_backend("numpy", dtype="float32").float_dtype == np.float32
    assert B.get_backend("torch", dtype=np.float32).float_dtype == torch.float32
    assert B.get_backend("torch", dtype=torch.float32) is B.get_backend("torch", dtype="float32")
    with pytest.raises(ValueError, match="backend must be one of numpy, torch"):
        B.get_backend("jax")
    with pytest.raises(ValueError, match="CPU only"):
        B.get_backend("numpy", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            B.get_backend("torch", "cuda")


@pytest.mark.parametrize("kernel", ["energy", "rms_dbfs", "peak", "peak_dbfs"])
def test_kernels_take_their_backend_from_the_input(kernel: str) -> None:
    f = getattr(kernels, kernel)
    assert f(TORCH.from_numpy(X)) == pytest.approx(f(X), rel=1e-12)


def test_kernels_return_arrays_of_their_inputs_backend() -> None:
    x, h = RNG.standard_normal((2, 1, 3000)), RNG.standard_normal((1, 2, 300))
    t = kernels.fft_convolve(TORCH.from_numpy(x), TORCH.from_numpy(h), 3000)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), kernels.fft_convolve(x, h, 3000), atol=1e-12)
    q = kernels.quantize(TORCH.from_numpy(x), 16)
    assert isinstance(q, torch.Tensor) and np.array_equal(q.numpy(), kernels.quantize(x, 16))
    curve = kernels.schroeder_decay_db(TORCH.from_numpy(h))
    assert isinstance(curve, torch.Tensor)
    np.testing.assert_allclose(curve.numpy(), kernels.schroeder_decay_db(h), atol=1e-9)
    burst = x[0, 0] * (np.arange(3000) > 1000)
    segments = kernels.activity_segments(TORCH.from_numpy(burst), 16000)
    assert segments and segments == kernels.activity_segments(burst, 16000)
