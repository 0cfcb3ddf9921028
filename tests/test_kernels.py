import numpy as np
import pytest
import scipy.signal
import soxr

from audiosynth.dsp import kernels


def test_fft_convolve_matches_scipy_batched():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 1000))
    h = rng.standard_normal((1, 4, 257))
    out = kernels.fft_convolve(x, h)
    assert out.shape == (3, 4, 1256)
    for i in range(3):
        for m in range(4):
            np.testing.assert_allclose(out[i, m], scipy.signal.fftconvolve(x[i, 0], h[0, m]), atol=1e-10)


def test_delta_rir_returns_input_and_truncation():
    x = np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    delta = np.zeros(100)
    delta[0] = 1.0
    np.testing.assert_allclose(kernels.fft_convolve(x, delta, 8000), x, atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        kernels.fft_convolve(x, np.zeros(0))


@pytest.mark.parametrize("target_db", [-10.0, 0.0, 7.5, 30.0])
def test_gain_for_ratio_reaches_target(target_db):
    rng = np.random.default_rng(1)
    s, n = rng.standard_normal(5000), 3 * rng.standard_normal(5000)
    g = kernels.gain_for_ratio(s, n, target_db)
    assert abs(kernels.power_ratio_db(s, g * n) - target_db) < 1e-9


def test_quantize_is_on_grid_and_clips():
    x = np.array([0.5, -1.2, 1.5, 1e-6, 0.99999])
    q = kernels.quantize(x, 16)
    np.testing.assert_array_equal(q * 32768, np.round(q * 32768))
    assert q.max() == 32767 / 32768 and q.min() == -1.0


def test_resampled_length_matches_soxr():
    for n in (1, 999, 1001, 16000, 12345):
        for a, b in ((22050, 16000), (16000, 8000), (44100, 16000), (8000, 16000)):
            assert len(soxr.resample(np.zeros(n), a, b)) == kernels.resampled_length(n, a, b)
            assert kernels.resample(np.zeros((2, n)), a, b).shape == (2, kernels.resampled_length(n, a, b))


@pytest.mark.parametrize("rt60", [0.2, 0.5, 1.0])
def test_rt60_of_exponential_decay(rt60):
    rate = 16000
    t = np.arange(int(1.5 * rt60 * rate)) / rate
    rir = np.random.default_rng(2).standard_normal(t.size) * np.exp(-6.9078 * t / rt60)
    assert kernels.rt60_from_rir(rir, rate) == pytest.approx(rt60, rel=0.05)
    with pytest.raises(ValueError, match="1-D"):
        kernels.rt60_from_rir(rir[None], rate)


def test_levels():
    x = np.full(100, 0.5)
    assert kernels.rms_dbfs(x) == pytest.approx(20 * np.log10(0.5))
    assert kernels.peak_dbfs(-x) == pytest.approx(20 * np.log10(0.5))


@pytest.mark.parametrize("length", [3000, 50000])
def test_overlap_add_matches_one_shot(length):
    rng = np.random.default_rng(5)
    x, h = rng.standard_normal((2, 1, length)), rng.standard_normal((2, 3, 700))
    one = kernels.fft_convolve(x, h, block_size=10**9)
    blocks = kernels.fft_convolve(x, h, block_size=1024)
    np.testing.assert_allclose(blocks, one, atol=1e-9)
    np.testing.assert_allclose(kernels.fft_convolve(x, h, length, block_size=1024), one[..., :length], atol=1e-9)


def test_torch_backend_agrees_with_numpy():
    pytest.importorskip("torch")  # torch is an optional extra; CI installs it
    rng = np.random.default_rng(6)
    x, h = rng.standard_normal((3, 1, 20000)), rng.standard_normal((3, 4, 3000))
    ref = kernels.fft_convolve(x, h, 20000)
    for block in (None, 2048):
        got = kernels.fft_convolve(x, h, 20000, backend="torch", block_size=block)
        assert type(got).__module__.startswith("torch")  # the result stays on the backend
        assert np.max(np.abs(got.numpy() - ref)) / np.max(np.abs(ref)) < 1e-5


def test_backend_errors_are_clear():
    with pytest.raises(ValueError, match="backend must be one of numpy, torch"):
        kernels.check_backend("jax")
    with pytest.raises(ValueError, match="CPU only"):
        kernels.check_backend("numpy", "cuda")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            kernels.check_backend("torch", "cuda")


def test_overlap_ratio_of_intervals():
    assert kernels.overlap_ratio([(0, 100), (50, 150)]) == pytest.approx(50 / 150)
    assert kernels.overlap_ratio([(0, 100), (100, 200)]) == 0.0
    assert kernels.overlap_ratio([(0, 100), (0, 100), (20, 30)]) == 1.0
    assert kernels.overlap_ratio([(0, 100), (200, 300), (250, 260)]) == pytest.approx(10 / 200)
