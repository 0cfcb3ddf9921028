"""audiosynth.acoustics.ism: both simulators hit the requested RT60 and agree with each other and with geometry."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from audiosynth.acoustics import ism as rir
from audiosynth.dsp.kernels import rt60_from_rir

FS = 16000
ROOMS = {  # size, sources (S, 3), mics (M, 3): every point >= 0.5 m from the walls
    "6x5x3": ((6, 5, 3), ((1.5, 1.2, 1.6), (4.5, 3.8, 1.2)), ((4.2, 3.1, 1.4), (2.5, 4.0, 1.7))),
    "4x3.5x2.7": ((4, 3.5, 2.7), ((1.0, 0.9, 1.5), (3.2, 2.8, 1.1)), ((2.9, 2.4, 1.2), (1.5, 2.6, 2.0))),
    "9x7x3.5": ((9, 7, 3.5), ((2.0, 1.5, 1.7), (7.5, 5.5, 1.2)), ((6.5, 5.0, 1.3), (4.0, 2.0, 2.2))),
}
RT60S = (0.2, 0.4, 0.6, 0.8, 1.0)


@functools.cache
def simulated(simulator: str, room: str, rt60: float) -> np.ndarray:
    """RIRs (S, M, K) of a test room, cached across tests: 'ism' (default early ISM + tail),
    'pra' (pyroomacoustics ISM) or 'hybrid' (pyroomacoustics ISM + ray tracing)."""
    size, sources, mics = ROOMS[room]
    if simulator == "ism":
        return rir.simulate_ism(size, sources, mics, FS, rt60_s=rt60)
    return rir.simulate_pra(size, sources, mics, FS, rt60_s=rt60, method="ism" if simulator == "pra" else "hybrid")


def measured_rt60s(h: np.ndarray) -> np.ndarray:
    """T20 of every RIR of ``h (S, M, K)``, shape (S*M,)."""
    return np.array([rt60_from_rir(x, FS) for x in h.reshape(-1, h.shape[-1])])


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalized cross-correlation at lag 0."""
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


CASES = [("ism", room, rt) for room in ROOMS for rt in RT60S] + [("pra", "6x5x3", rt) for rt in RT60S]
CASES += [("pra", room, rt) for room in ("4x3.5x2.7", "9x7x3.5") for rt in (0.3, 0.6)]
CASES += [("hybrid", "6x5x3", 0.4), ("hybrid", "9x7x3.5", 0.8)]


@pytest.mark.parametrize(("simulator", "room", "rt60"), CASES)
def test_measured_rt60_is_within_15_percent_of_requested(simulator, room, rt60):
    measured = measured_rt60s(simulated(simulator, room, rt60))
    assert np.all(np.abs(measured / rt60 - 1) < 0.15), measured


PRA_CASES = [(room, rt) for simulator, room, rt in CASES if simulator == "pra"]


@pytest.mark.parametrize(("room", "rt60"), PRA_CASES)
def test_room_rt60s_of_ism_and_pyroomacoustics_agree(room, rt60):
    ours, ref = measured_rt60s(simulated("ism", room, rt60)), measured_rt60s(simulated("pra", room, rt60))
    assert abs(ours.mean() / ref.mean() - 1) < 0.10  # the room's RT60: mean over its source-mic pairs
    assert np.all(np.abs(ours / ref - 1) < 0.20)  # pairs: pyroomacoustics' own spread is about +-13 %


@pytest.mark.parametrize(("room", "rt60"), [("6x5x3", 0.4), ("4x3.5x2.7", 0.6), ("9x7x3.5", 0.3)])
def test_direct_path_and_early_reflections_agree(room, rt60):
    ours, ref = simulated("ism", room, rt60), simulated("pra", room, rt60)
    _, sources, mics = ROOMS[room]
    direct = np.round(rir.direct_delays(sources, mics, FS)).astype(int)  # both: global delay FD_HALF = 40
    for s, m in np.ndindex(direct.shape):
        n0 = direct[s, m]
        early = slice(n0 - 20, n0 + int(0.020 * FS))  # the direct path and 20 ms of early reflections
        for h in (ours, ref):
            assert int(np.argmax(np.abs(h[s, m, : n0 + 32]))) == n0  # direct-path peak, 2 ms of margin
        assert ncc(ours[s, m, early], ref[s, m, early]) > 0.99
        np.testing.assert_allclose(ours[s, m, n0], ref[s, m, n0], rtol=0.01)  # same 1/(4 pi d) scale


@pytest.mark.parametrize("room", ROOMS)
def test_full_ism_reproduces_pyroomacoustics_ism(room):
    size, sources, mics = ROOMS[room]
    ours = rir.simulate_ism(size, sources, mics, FS, rt60_s=0.3, early_s=None)
    ref = simulated("pra", room, 0.3)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(measured_rt60s(ours), measured_rt60s(ref), rtol=0.01)
    for a, b in zip(ours.reshape(-1, ours.shape[-1]), ref.reshape(-1, ref.shape[-1]), strict=True):
        assert ncc(a, b) > 0.9999


def test_hybrid_keeps_the_direct_path_and_first_reflections():
    ours, ref = simulated("ism", "6x5x3", 0.4), simulated("hybrid", "6x5x3", 0.4)
    direct = np.round(rir.direct_delays(*ROOMS["6x5x3"][1:], FS)).astype(int)
    for s, m in np.ndindex(direct.shape):
        window = slice(direct[s, m] - 20, direct[s, m] + int(0.005 * FS))
        assert ncc(ours[s, m, window], ref[s, m, window]) > 0.9


def test_direct_path_only_at_geometric_delay_with_spherical_spreading():
    size, sources, mics = ROOMS["6x5x3"]
    h = rir.simulate_ism(size, sources, mics, FS, rt60_s=0.5, max_order=0)
    delays = rir.direct_delays(sources, mics, FS)
    distance = (delays - rir.FD_HALF) * rir.SPEED_OF_SOUND / FS
    assert h.shape[-1] < delays.max() + 2 * rir.FD_HALF + 3
    np.testing.assert_array_equal(np.argmax(np.abs(h), -1), np.round(delays))
    np.testing.assert_allclose(np.sum(h**2, -1), 1 / (4 * np.pi * distance) ** 2, rtol=0.03)


def test_inter_microphone_delays_follow_the_geometry():
    mics = [(2.0 + 0.05 * i, 2.5, 1.5) for i in range(4)]  # 4-mic linear array, 5 cm spacing
    sources = [(4.5, 3.5, 1.2), (1.0, 1.0, 1.7)]
    h = rir.simulate_ism((6, 5, 3), sources, mics, FS, rt60_s=0.6)
    peaks = np.argmax(np.abs(h), -1)
    expected = rir.direct_delays(sources, mics, FS)
    assert np.all(np.abs((peaks - peaks[:, :1]) - (expected - expected[:, :1])) <= 1.0)


BANDED = np.array([[0.08, 0.10, 0.15, 0.30, 0.50, 0.70]] * 6)  # more absorption at high frequencies


def band_rt60(h: np.ndarray, centre: float) -> float:
    sos = scipy.signal.butter(4, [centre / np.sqrt(2), centre * np.sqrt(2)], btype="band", fs=FS, output="sos")
    return rt60_from_rir(scipy.signal.sosfiltfilt(sos, h), FS)


def test_per_band_absorption_shortens_high_band_decay():
    size, sources, mics = ROOMS["6x5x3"]
    h = rir.simulate_ism(size, sources, mics, FS, absorption=BANDED)
    for x in h.reshape(-1, h.shape[-1]):
        assert band_rt60(x, 4000) < 0.5 * band_rt60(x, 500)
    assert rir.ism_rt60(size, BANDED[:, 5]) < rir.ism_rt60(size, BANDED[:, 2])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rt60_s": 0.7},
        {"absorption": BANDED},
        {"absorption": BANDED[:, 3], "max_order": 8},
        {"rt60_s": 0.3, "early_s": None, "length_s": 0.1},
    ],
)
def test_numpy_and_torch_cpu_agree(kwargs):
    torch = pytest.importorskip("torch")
    size, sources, mics = ROOMS["4x3.5x2.7"]
    a = rir.simulate_ism(size, sources, mics, FS, **kwargs)
    b = rir.simulate_ism(size, sources, mics, FS, backend="torch", **kwargs)
    assert isinstance(b, torch.Tensor) and b.dtype == torch.float64 and b.device.type == "cpu"
    assert np.abs(a - b.numpy()).max() / np.abs(a).max() < 1e-5


def test_cuda_without_cuda_is_a_clear_error():
    torch = pytest.importorskip("torch")
    size, sources, mics = ROOMS["6x5x3"]
    if torch.cuda.is_available():
        a = rir.simulate_ism(size, sources, mics, FS, rt60_s=0.5)
        b = rir.simulate_ism(size, sources, mics, FS, rt60_s=0.5, backend="torch", device="cuda").cpu().numpy()
        assert np.abs(a - b).max() / np.abs(a).max() < 1e-4  # float32 on the GPU
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            rir.simulate_ism(size, sources, mics, FS, rt60_s=0.5, backend="torch", device="cuda")


def test_tail_is_deterministic_and_only_the_tail_depends_on_the_seed():
    size, sources, mics = ROOMS["6x5x3"]
    a, b, c = (rir.simulate_ism(size, sources, mics, FS, rt60_s=0.6, tail_seed=seed) for seed in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    start = round(0.08 * FS) + rir.FD_HALF
    np.testing.assert_array_equal(a[..., :start], c[..., :start])
    assert ncc(a[..., start:].ravel(), c[..., start:].ravel()) < 0.1


def test_hybrid_is_deterministic_for_a_seed():
    size, sources, mics = ROOMS["4x3.5x2.7"]
    a, b = (rir.simulate_pra(size, sources[:1], mics[:1], FS, rt60_s=0.3, method="hybrid", seed=3) for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_invalid_arguments_are_rejected():
    size, sources, mics = ROOMS["6x5x3"]
    with pytest.raises(ValueError, match="exactly one"):
        rir.simulate_ism(size, sources, mics, FS, rt60_s=0.5, absorption=np.full(6, 0.2))
    with pytest.raises(ValueError, match="inside the room"):
        rir.simulate_ism(size, [(7.0, 1.0, 1.0)], mics, FS, rt60_s=0.5)
    with pytest.raises(ValueError, match="octave bands"):
        rir.simulate_ism(size, sources, mics, FS, absorption=np.full((6, 7), 0.2))  # no 8 kHz band at 16 kHz


def test_module_imports_without_torch():
    code = "import sys, audiosynth.acoustics.ism; assert 'torch' not in sys.modules and 'pyroomacoustics' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ism_rt60_matches_a_fine_schroeder_fit():
    """The analytic RT60 (a T20 fit of the image decay) against the same fit on 20,000 times."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        size = rng.uniform([3, 3, 2.4], [10, 8, 4])
        alpha = rng.uniform(0.02, 0.9, 6) if rng.random() < 0.5 else float(rng.uniform(0.02, 0.9))
        k, w = rir._decay_rates(size, alpha)
        t = np.linspace(0, 3 * np.log(10) / k.min(), 20_000)
        db = 10 * np.log10(np.exp(-np.outer(t, k)) @ (w / k) / np.sum(w / k))
        span = (db <= -5) & (db >= -25)
        reference = -60 / np.polyfit(t[span], db[span], 1)[0]
        assert rir.ism_rt60(size, alpha) == pytest.approx(reference, rel=0.003)
