"""One array backend: NumPy (float64), or torch on the CPU (float64) or on CUDA (float32).

The kernels, the room simulator and the renderer call these operations instead of a library's,
so that one body serves both libraries and the arrays stay on their device. A kernel takes
the backend from its inputs (`backend_of`); code that makes arrays from nothing is given one
(`get_backend`). `to_numpy` is for the hand-off to the writer only. On NumPy every operation
is the NumPy (scipy.fft) call the code made before this module existed, so results keep their
bits. ``dsp`` imports nothing of the project.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = Any  # a numpy.ndarray on the NumPy backend, a torch.Tensor on the torch backend
BACKENDS = ("numpy", "torch")


def check_backend(backend: str, device: str = "cpu") -> None:
    """Raise ValueError unless ``backend`` on ``device`` can run here (torch importable, CUDA present)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if backend == "numpy":
        if device != "cpu":
            raise ValueError(f"backend 'numpy' runs on the CPU only (got device {device!r})")
        return
    try:
        import torch
    except ImportError as err:
        raise ValueError("backend 'torch' needs PyTorch: pip install torch (or the 'torch' extra)") from err
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked but CUDA is not available on this machine")


class Backend:
    """Array operations of one library (``m``: numpy or torch) on one device, in one working
    float dtype (``float_dtype``). `NumpyBackend` and `TorchBackend` implement it.

    Axes follow NumPy (``axis=-1``: the last). Reductions return 0-d arrays or scalars (``float(...)``
    takes the number); `argmax`, `runs`, `line_fit` and `int_list` return Python numbers."""

    name: str
    device: str
    m: Any  # the array module
    float_dtype: Any  # the working float dtype
    float32: Any
    float64: Any
    int64: Any
    int8: Any

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.device!r}, {self.float_dtype})"

    # moving arrays
    def asarray(self, a: Any, dtype: Any = None) -> Array:
        """``a`` (array-like, NumPy or this backend's) as an array here, in ``dtype`` (default: the working float)."""
        raise NotImplementedError

    def from_numpy(self, a: Any) -> Array:
        """A NumPy (or this backend's) array here, keeping its kind: floats in the working float,
        booleans and integers as they are."""
        raise NotImplementedError

    def to_numpy(self, x: Array) -> npt.NDArray[Any]:
        """``x`` as a NumPy array (floats as float64): the hand-off to the writer, nowhere else."""
        raise NotImplementedError

    def int_list(self, x: Array) -> list[int]:
        """A short 1-D integer array (indices) as Python ints, one number at a time."""
        return [int(v) for v in x]

    # making arrays
    def zeros(self, shape: int | Sequence[int], dtype: Any = None) -> Array:
        raise NotImplementedError

    def arange(self, n: int, dtype: Any = None) -> Array:
        """``0, 1, ..., n - 1`` in ``dtype`` (default: the working float)."""
        raise NotImplementedError

    # transforms
    def rfft(self, x: Array, n: int) -> Array:
        """Real FFT of length ``n`` along the last axis (``x`` zero-padded to ``n``)."""
        raise NotImplementedError

    def irfft(self, spectrum: Array, n: int) -> Array:
        """Inverse of `rfft`: ``n`` real samples along the last axis."""
        raise NotImplementedError

    # elementwise: the same name in both libraries
    def square(self, x: Array) -> Array:
        return self.m.square(x)

    def sqrt(self, x: Array) -> Array:
        return self.m.sqrt(x)

    def log10(self, x: Array) -> Array:
        return self.m.log10(x)

    def exp(self, x: Array) -> Array:
        return self.m.exp(x)

    def sin(self, x: Array) -> Array:
        return self.m.sin(x)

    def floor(self, x: Array) -> Array:
        return self.m.floor(x)

    def abs(self, x: Array) -> Array:
        return self.m.abs(x)

    def where(self, condition: Array, a: Array, b: Array) -> Array:
        return self.m.where(condition, a, b)

    def maximum(self, a: Array, b: Array) -> Array:
        """Elementwise larger of two arrays of this backend."""
        return self.m.maximum(a, b)

    def diff(self, x: Array) -> Array:
        """``x[1:] - x[:-1]`` along the last axis."""
        return self.m.diff(x)

    def dot(self, a: Array, b: Array) -> Array:
        """Inner product of two 1-D arrays (0-d)."""
        return self.m.dot(a, b)

    def sum_of_squares(self, x: Array) -> float:
        """``Σ x²`` over all elements, as ``float(sum(square(x)))``."""
        return float(self.sum(self.square(x)))

    def round(self, x: Array, out: Array | None = None) -> Array:
        """Round half to even, into ``out`` when given (which may be ``x``)."""
        return self.m.round(x) if out is None else self.m.round(x, out=out)

    def clip(self, x: Array, low: float | None, high: float | None, out: Array | None = None) -> Array:
        raise NotImplementedError

    def multiply(self, a: Array, b: Any, out: Array | None = None) -> Array:
        return a * b if out is None else self.m.multiply(a, b, out=out)

    def add(self, a: Array, b: Any, out: Array | None = None) -> Array:
        return a + b if out is None else self.m.add(a, b, out=out)

    def subtract(self, a: Array, b: Any, out: Array | None = None) -> Array:
        return a - b if out is None else self.m.subtract(a, b, out=out)

    def astype(self, x: Array, dtype: Any) -> Array:
        raise NotImplementedError

    def float32_grid(self, x: Array) -> Array:
        """``x`` rounded to float32 values, kept in the working float."""
        return self.astype(self.astype(x, self.float32), self.float_dtype)

    def copy(self, x: Array) -> Array:
        raise NotImplementedError

    # reductions and scans (``axis=None``: over everything)
    def sum(self, x: Array, axis: int | None = None) -> Array:
        raise NotImplementedError

    def mean(self, x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
        raise NotImplementedError

    def max(self, x: Array, axis: int | None = None) -> Array:
        raise NotImplementedError

    def min(self, x: Array, axis: int | None = None) -> Array:
        raise NotImplementedError

    def any(self, x: Array, axis: int | None = None) -> Array:
        raise NotImplementedError

    def all(self, x: Array) -> Array:
        return self.m.all(x)

    def cumsum(self, x: Array, axis: int = -1) -> Array:
        raise NotImplementedError

    def flip(self, x: Array, axis: int = -1) -> Array:
        raise NotImplementedError

    def argmax(self, x: Array) -> int:
        """Index of the first largest element of the flattened ``x`` (of the first True for a mask; 0 when none)."""
        raise NotImplementedError

    def flatnonzero(self, x: Array) -> Array:
        """Indices (int64) of the non-zero elements of the flattened ``x``."""
        raise NotImplementedError

    def first_true(self, mask: Array) -> Array:
        """`argmax` of a 1-D boolean ``mask`` as a 0-d array of the working float (0 when none is
        True), left on the device: no host round trip."""
        raise NotImplementedError

    # shapes
    def concatenate(self, arrays: Sequence[Array], axis: int = -1) -> Array:
        raise NotImplementedError

    def stack(self, arrays: Sequence[Array], axis: int = 0) -> Array:
        raise NotImplementedError

    def repeat(self, x: Array, count: int, axis: int) -> Array:
        """Each element repeated ``count`` times along ``axis``."""
        raise NotImplementedError

    def pad_last(self, x: Array, length: int) -> Array:
        """``x (..., L)`` followed by zeros to ``(..., length)`` (``length >= L``)."""
        if x.shape[-1] == length:
            return x
        return self.concatenate([x, self.zeros((*x.shape[:-1], length - x.shape[-1]), dtype=x.dtype)], axis=-1)

    # composite
    def scatter_add(self, out: Array, index: Array, values: Array) -> None:
        """``out[index] += values`` on a flat ``out``, repeated indices accumulating."""
        raise NotImplementedError

    def line_fit(self, x: Array, y: Array) -> tuple[float, float]:
        """Least-squares ``(slope, intercept)`` of ``y`` over ``x`` (1-D, at least 2 points)."""
        raise NotImplementedError

    def runs(self, mask: Array) -> list[tuple[int, int]]:
        """``[start, end)`` of each run of True in a 1-D boolean ``mask``, in order."""
        zero = self.zeros(1, dtype=self.int8)
        edges = self.int_list(self.flatnonzero(self.diff(self.concatenate([zero, self.astype(mask, self.int8), zero]))))
        return list(zip(edges[::2], edges[1::2], strict=True))  # every run has a start and an end


_SCRATCH = threading.local()  # per thread: NumpyBackend.sum_of_squares' buffer
_SCRATCH_MAX = 1 << 22  # samples: a longer signal gets a fresh array (the buffer is never larger than 32 MB)


class NumpyBackend(Backend):
    """NumPy and scipy.fft on the CPU, float64 (inputs zero-padded here: scipy pads a short input slowly)."""

    name, device, m = "numpy", "cpu", np
    float_dtype, float32, float64, int64, int8 = np.dtype(np.float64), np.float32, np.float64, np.int64, np.int8

    def __init__(self, dtype: Any = None) -> None:
        if dtype is not None:
            self.float_dtype = np.dtype(dtype)

    def asarray(self, a: Any, dtype: Any = None) -> Array:
        return np.asarray(a, dtype=self.float_dtype if dtype is None else dtype)

    def from_numpy(self, a: Any) -> Array:
        a = np.asarray(a)
        return a.astype(self.float_dtype, copy=False) if a.dtype.kind == "f" else a

    def to_numpy(self, x: Array) -> npt.NDArray[Any]:
        return np.asarray(x)

    def int_list(self, x: Array) -> list[int]:
        return [int(v) for v in x.tolist()]

    def zeros(self, shape: int | Sequence[int], dtype: Any = None) -> Array:
        return np.zeros(shape, dtype=self.float_dtype if dtype is None else dtype)

    def arange(self, n: int, dtype: Any = None) -> Array:
        return np.arange(n, dtype=self.float_dtype if dtype is None else dtype)

    def rfft(self, x: Array, n: int) -> Array:
        import scipy.fft  # ~0.2 s to import: only builds that transform pay it

        return scipy.fft.rfft(np.asarray(self.pad_last(x, n), dtype=np.float64), axis=-1)

    def irfft(self, spectrum: Array, n: int) -> Array:
        import scipy.fft

        return scipy.fft.irfft(spectrum, n, axis=-1)

    def square(self, x: Array) -> Array:
        return np.square(x, dtype=np.float64)

    def clip(self, x: Array, low: float | None, high: float | None, out: Array | None = None) -> Array:
        return np.clip(x, low, high, out=out)

    def astype(self, x: Array, dtype: Any) -> Array:
        return x.astype(dtype)

    def copy(self, x: Array) -> Array:
        return x.copy()

    def sum(self, x: Array, axis: int | None = None) -> Array:
        return np.sum(x, axis=axis)

    def mean(self, x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
        return np.mean(x, axis=axis, keepdims=keepdims)

    def max(self, x: Array, axis: int | None = None) -> Array:
        return np.max(x, axis=axis)

    def min(self, x: Array, axis: int | None = None) -> Array:
        return np.min(x, axis=axis)

    def any(self, x: Array, axis: int | None = None) -> Array:
        return np.any(x, axis=axis)

    def cumsum(self, x: Array, axis: int = -1) -> Array:
        return np.cumsum(x, axis=axis)

    def flip(self, x: Array, axis: int = -1) -> Array:
        return np.flip(x, axis)

    def argmax(self, x: Array) -> int:
        return int(np.argmax(x))

    def flatnonzero(self, x: Array) -> Array:
        return np.flatnonzero(x)

    def first_true(self, mask: Array) -> Array:
        return np.asarray(np.argmax(mask), dtype=self.float_dtype)

    def concatenate(self, arrays: Sequence[Array], axis: int = -1) -> Array:
        return np.concatenate(arrays, axis=axis)

    def stack(self, arrays: Sequence[Array], axis: int = 0) -> Array:
        return np.stack(arrays, axis=axis)

    def repeat(self, x: Array, count: int, axis: int) -> Array:
        return np.repeat(x, count, axis=axis)

    def scatter_add(self, out: Array, index: Array, values: Array) -> None:
        out += np.bincount(index.ravel(), values.ravel(), out.size).astype(out.dtype, copy=False)

    def sum_of_squares(self, x: Array) -> float:
        # the squares go into a buffer kept per thread (a fresh ~1 MB array costs more in page
        # faults than squaring it); summed as the same C-contiguous array, so the same bits
        if x.dtype != np.float64 or not x.flags.c_contiguous or x.size > _SCRATCH_MAX:
            return float(np.sum(np.square(x, dtype=np.float64)))
        buffer = getattr(_SCRATCH, "buffer", None)
        if buffer is None or buffer.size < x.size:
            buffer = _SCRATCH.buffer = np.empty(max(x.size, 1 << 16))
        return float(np.sum(np.square(x, out=buffer[: x.size].reshape(x.shape))))

    def line_fit(self, x: Array, y: Array) -> tuple[float, float]:
        slope, intercept = np.polyfit(x, y, 1)
        return float(slope), float(intercept)


class TorchBackend(Backend):
    """torch on ``device``: float64 on the CPU, float32 on CUDA (unless ``dtype`` says otherwise)."""

    name = "torch"

    def __init__(self, device: str = "cpu", dtype: Any = None) -> None:
        check_backend("torch", device)
        import torch

        self.m = torch
        self.device = str(device)
        self._device = torch.device(device)
        cuda = self._device.type == "cuda"
        self.float_dtype = _torch_dtype(torch, dtype) if dtype is not None else (torch.float32 if cuda else torch.float64)
        self.float32, self.float64, self.int64, self.int8 = torch.float32, torch.float64, torch.int64, torch.int8

    def asarray(self, a: Any, dtype: Any = None) -> Array:
        dtype = self.float_dtype if dtype is None else dtype
        if isinstance(a, self.m.Tensor):
            return a.to(device=self._device, dtype=dtype)
        return self.m.as_tensor(np.asarray(a), dtype=dtype, device=self._device)

    def from_numpy(self, a: Any) -> Array:
        if not isinstance(a, self.m.Tensor):
            a = self.m.as_tensor(np.asarray(a))
        return a.to(device=self._device, dtype=self.float_dtype if a.is_floating_point() else a.dtype)

    def to_numpy(self, x: Array) -> npt.NDArray[Any]:
        x = x.detach()
        out: npt.NDArray[Any] = (x.to("cpu", self.m.float64) if x.is_floating_point() else x.cpu()).numpy()
        return out

    def int_list(self, x: Array) -> list[int]:
        return [int(v) for v in x.cpu()]

    def zeros(self, shape: int | Sequence[int], dtype: Any = None) -> Array:
        return self.m.zeros(shape, dtype=self.float_dtype if dtype is None else dtype, device=self._device)

    def arange(self, n: int, dtype: Any = None) -> Array:
        return self.m.arange(n, dtype=self.float_dtype if dtype is None else dtype, device=self._device)

    def rfft(self, x: Array, n: int) -> Array:
        return self.m.fft.rfft(x, n=n, dim=-1)

    def irfft(self, spectrum: Array, n: int) -> Array:
        return self.m.fft.irfft(spectrum, n=n, dim=-1)

    def clip(self, x: Array, low: float | None, high: float | None, out: Array | None = None) -> Array:
        return self.m.clamp(x, low, high) if out is None else self.m.clamp(x, low, high, out=out)

    def astype(self, x: Array, dtype: Any) -> Array:
        return x.to(dtype)

    def copy(self, x: Array) -> Array:
        return x.clone()

    def sum(self, x: Array, axis: int | None = None) -> Array:
        return self.m.sum(x) if axis is None else self.m.sum(x, dim=axis)

    def mean(self, x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
        return self.m.mean(x) if axis is None else self.m.mean(x, dim=axis, keepdim=keepdims)

    def max(self, x: Array, axis: int | None = None) -> Array:
        return self.m.max(x) if axis is None else self.m.amax(x, dim=axis)

    def min(self, x: Array, axis: int | None = None) -> Array:
        return self.m.min(x) if axis is None else self.m.amin(x, dim=axis)

    def any(self, x: Array, axis: int | None = None) -> Array:
        return self.m.any(x) if axis is None else self.m.any(x, dim=axis)

    def cumsum(self, x: Array, axis: int = -1) -> Array:
        return self.m.cumsum(x, dim=axis)

    def flip(self, x: Array, axis: int = -1) -> Array:
        return self.m.flip(x, dims=(axis,))

    def argmax(self, x: Array) -> int:
        x = x.reshape(-1)
        return int(self.m.argmax(x.to(self.m.uint8) if x.dtype == self.m.bool else x))

    def flatnonzero(self, x: Array) -> Array:
        return self.m.nonzero(x.reshape(-1)).reshape(-1)

    def first_true(self, mask: Array) -> Array:
        return self.m.argmax(mask.reshape(-1).to(self.m.uint8)).to(self.float_dtype)

    def concatenate(self, arrays: Sequence[Array], axis: int = -1) -> Array:
        return self.m.cat(list(arrays), dim=axis)

    def stack(self, arrays: Sequence[Array], axis: int = 0) -> Array:
        return self.m.stack(list(arrays), dim=axis)

    def repeat(self, x: Array, count: int, axis: int) -> Array:
        return self.m.repeat_interleave(x, count, dim=axis)

    def scatter_add(self, out: Array, index: Array, values: Array) -> None:
        out.index_add_(0, index.reshape(-1), values.reshape(-1))

    def line_fit(self, x: Array, y: Array) -> tuple[float, float]:
        x_mean, y_mean = self.m.mean(x), self.m.mean(y)
        dx = x - x_mean  # centred: float32 keeps the slope over long sample-index axes
        slope = self.m.sum(dx * (y - y_mean)) / self.m.sum(dx * dx)
        return float(slope), float(y_mean - slope * x_mean)


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    """A torch dtype from a torch dtype, a NumPy dtype or a name ("float32")."""
    if isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, np.dtype(dtype).name)


NUMPY = NumpyBackend()


_HANDOFF = threading.local()  # set while a `Fetch` moves its values to the host


def handing_off() -> bool:
    """Whether this thread is inside a `Fetch` transfer: the one place a batched device path
    hands arrays to the host (tests that refuse every other host conversion ask this)."""
    return bool(getattr(_HANDOFF, "active", False))


class Fetch:
    """Values of one backend brought to the host together: `put` queues an array and returns
    its handle, `run` moves everything queued in one transfer (and the arrays queued with
    `put_if` whose flag came back true in a second one), `get` gives a handle's NumPy value.

    A batched path queues every scalar and small array it needs on the host, and runs once:
    the device never waits for the host in between."""

    def __init__(self, backend: Backend) -> None:
        self.xp = backend
        self._queued: list[Array] = []
        self._shapes: list[tuple[int, ...]] = []
        self._maybe: list[tuple[int, int]] = []  # (flag handle, handle)
        self._values: dict[int, npt.NDArray[np.float64]] = {}
        self.transfers = 0

    def put(self, x: Array) -> int:
        """Queue ``x`` (any shape, any dtype: it comes back as float64); returns its handle."""
        self._queued.append(x)
        self._shapes.append(tuple(x.shape))
        return len(self._queued) - 1

    def put_if(self, flag: int, x: Array) -> int:
        """Queue ``x`` to come back only when the value of handle ``flag`` is true."""
        handle = self.put(x)
        self._maybe.append((flag, handle))
        return handle

    def run(self) -> None:
        """The transfers: one for every `put`, one more for the `put_if` arrays that are wanted."""
        later = {handle for _, handle in self._maybe}
        self._move([h for h in range(len(self._queued)) if h not in later])
        self._move([h for flag, h in self._maybe if bool(self._values[flag].reshape(-1)[0])])
        self._queued = [None] * len(self._queued)  # the device arrays can go

    def _move(self, handles: list[int]) -> None:
        if not handles:
            return
        xp = self.xp
        flat = xp.concatenate([xp.astype(self._queued[h].reshape(-1), xp.float64) for h in handles], axis=-1)
        _HANDOFF.active = True
        try:
            host = xp.to_numpy(flat)
        finally:
            _HANDOFF.active = False
        self.transfers += 1
        offset = 0
        for h in handles:
            size = int(np.prod(self._shapes[h], dtype=np.int64))
            self._values[h] = host[offset : offset + size].reshape(self._shapes[h])
            offset += size

    def get(self, handle: int) -> npt.NDArray[np.float64]:
        """The value queued as ``handle`` (after `run`), float64."""
        return self._values[handle]

    def number(self, handle: int) -> float:
        """The value of a 0-d handle as a Python float."""
        return float(self._values[handle])


@functools.cache
def _cached(name: str, device: str, dtype: str | None) -> Backend:
    if name == "numpy":
        check_backend(name, device)
        return NUMPY if dtype is None else NumpyBackend(dtype)
    check_backend(name, device)
    return TorchBackend(device, dtype)


def get_backend(name: str | Backend = "numpy", device: str = "cpu", dtype: Any = None) -> Backend:
    """The backend ``name`` (``numpy`` or ``torch``) on ``device`` (``cpu``, ``cuda``, ``cuda:1``),
    its working float ``dtype`` (default: float64, float32 on CUDA); a `Backend` is returned as it is.
    Raises ValueError when it cannot run here (`check_backend`)."""
    if isinstance(name, Backend):
        return name
    key = None if dtype is None else (str(dtype).removeprefix("torch.") if "torch" in str(type(dtype)) else np.dtype(dtype).name)
    return _cached(name, str(device), key)


def backend_of(*arrays: Any) -> Backend:
    """The backend that holds ``arrays``: torch (on the first tensor's device) when one is a
    torch tensor, else NumPy."""
    torch = sys.modules.get("torch")
    if torch is not None:
        for a in arrays:
            if isinstance(a, torch.Tensor):
                return get_backend("torch", str(a.device))
    return NUMPY


def to_numpy(x: Array) -> npt.NDArray[Any]:
    """``x`` (a NumPy array or a torch tensor) as a NumPy array, floats as float64: the hand-off to the writer."""
    return backend_of(x).to_numpy(x)
