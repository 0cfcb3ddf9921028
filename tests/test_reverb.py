"""Reverberant rendering: microphone arrays, dereverberation targets, labels, backends."""

import numpy as np
import pytest
import scipy.signal
from conftest import small_config

from audiosynth.acoustics.ism import SPEED_OF_SOUND
from audiosynth.build import build
from audiosynth.errors import ConfigError
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import render

ARRAY = {"type": "linear", "num_mics": 4, "spacing_m": 0.1}


def renders(corpus, n=6, subtype="PCM_16", backend="numpy", **changes):
    config = small_config(corpus, num_examples=n, **changes)
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    return [render(planner.scene(i), catalogs.all(), subtype, backend=backend) for i in range(n)]


def reverb(**room):
    return {"probability": 1.0, "source": "simulated", "room": {"rt60_s": [0.3, 0.8], "distance_m": [1.0, 2.5], **room}}


def lag_of_peak(a: np.ndarray, b: np.ndarray) -> int:
    """Lag (samples) at which the cross-correlation of a and b peaks (positive: a is later)."""
    corr = scipy.signal.correlate(a, b, mode="full", method="fft")
    return int(np.argmax(np.abs(corr))) - (len(b) - 1)


def test_array_mixture_invariant_holds_on_every_channel(corpus):
    for r in renders(corpus, reverb=reverb(array=ARRAY)):
        assert r.audio["mix"].shape == (4, r.scene.num_samples)
        assert set(r.audio) == {"mix", "clean", "noise", "clean_direct", "clean_early"}
        np.testing.assert_array_equal(r.audio["mix"], r.audio["clean"] + r.audio["noise"])
        assert r.scene.noise.position == 1  # noise comes from a place in the room
        measured = 10 * np.log10(np.sum(r.audio["clean"] ** 2) / np.sum(r.audio["noise"] ** 2))
        assert abs(measured - r.scene.noise.snr_db) < 0.1 and abs(measured - r.labels["snr_db"]) < 1e-3


def test_direct_target_is_aligned_with_the_mixture(corpus):
    for r in renders(corpus, reverb=reverb(distance_m=[0.5, 1.0]), snr_db=[30, 30]):
        direct, mix, early = r.audio["clean_direct"][0], r.audio["mix"][0], r.audio["clean_early"][0]
        assert lag_of_peak(mix, direct) == 0
        assert lag_of_peak(r.audio["clean"][0], early) == 0
        # the early target holds more of the reverberant image than the direct path does
        image = r.audio["clean"][0]
        assert np.corrcoef(image, early)[0, 1] > np.corrcoef(image, direct)[0, 1]


def test_inter_microphone_delay_of_the_direct_path_matches_geometry(corpus):
    for r in renders(corpus, reverb=reverb(array=ARRAY)):
        room = r.scene.room
        distances = room.distances_m()[0]
        np.testing.assert_allclose(r.labels["distance_m"], distances, atol=1e-4)
        expected = (distances - distances[0]) / SPEED_OF_SOUND * r.scene.sample_rate
        direct = r.audio["clean_direct"]
        for m in range(1, 4):
            assert abs(lag_of_peak(direct[m], direct[0]) - expected[m]) <= 1.0
            assert r.labels["direct_delay_samples"][m] - r.labels["direct_delay_samples"][0] == pytest.approx(expected[m], abs=1e-2)


def test_reverb_labels_are_measured_on_the_rir(corpus):
    for r in renders(corpus, n=8, reverb=reverb()):
        assert r.labels["rt60_s"] == pytest.approx(r.scene.room.rt60_s, rel=0.10)
        assert r.labels["rt60_t30_s"] == pytest.approx(r.scene.room.rt60_s, rel=0.15)
        assert -15 < r.labels["drr_db"] < 15 and -10 < r.labels["c50_db"] < 30
    near = renders(corpus, n=6, reverb=reverb(distance_m=[0.5, 0.6], rt60_s=[0.6, 0.6]))
    far = renders(corpus, n=6, reverb=reverb(distance_m=[3.0, 3.1], rt60_s=[0.6, 0.6], length_m=[9, 10], width_m=[8, 9]))
    assert min(r.labels["drr_db"] for r in near) > max(r.labels["drr_db"] for r in far)


def test_per_band_absorption_and_pyroomacoustics_simulator(corpus):
    for r in renders(corpus, n=3, reverb={**reverb(wall_absorption=[0.1, 0.5], octave_bands=True)}):
        assert r.scene.room.rt60_s is None and 0.05 < r.labels["rt60_s"] < 3.0
        np.testing.assert_array_equal(r.audio["mix"], r.audio["clean"] + r.audio["noise"])
    for r in renders(corpus, n=2, reverb={**reverb(rt60_s=[0.4, 0.4]), "simulator": "pyroomacoustics"}):
        assert r.labels["rt60_s"] == pytest.approx(0.4, rel=0.15)


def test_catalog_rir_targets(corpus):
    for r in renders(corpus, n=4, reverb={"probability": 1.0, "source": "catalog"}, snr_db=[30, 30]):
        assert lag_of_peak(r.audio["mix"][0], r.audio["clean_direct"][0]) == 0
        assert r.labels["rt60_s"] == pytest.approx(0.4, rel=0.1)


def test_numpy_and_torch_backends_agree(corpus):
    pytest.importorskip("torch")  # the torch extra; CI installs it
    changes = {"reverb": reverb(array=ARRAY), "output": {"format": "wav", "subtype": "FLOAT"}}
    ours = renders(corpus, n=3, subtype="FLOAT", **changes)
    theirs = renders(corpus, n=3, subtype="FLOAT", backend="torch", **changes)
    for a, b in zip(ours, theirs, strict=True):
        assert set(a.audio) == set(b.audio)
        assert all(isinstance(x, np.ndarray) for x in b.audio.values())  # render() hands back NumPy (render_batch: tensors)
        assert a.labels.keys() == b.labels.keys()
        for role in a.audio:
            assert np.max(np.abs(a.audio[role] - b.audio[role])) <= 1e-5 * np.max(np.abs(a.audio[role]))


def test_cuda_without_gpu_is_refused_before_any_work(corpus, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal cannot happen here")
    config = small_config(corpus, backend="torch", device="cuda")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        build(config, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_per_band_absorption_at_8_khz_draws_the_bands_below_nyquist(corpus):
    """At 8 kHz the 4 kHz band is at Nyquist: the walls draw absorption for the 5 bands the
    simulator has there, and the example renders (it raised after pre-flight before)."""
    rs = renders(corpus, n=3, sample_rate=8000, allow_upsampling=False, reverb=reverb(wall_absorption=[0.1, 0.5], octave_bands=True))
    for r in rs:
        assert {len(bands) for bands in r.scene.room.absorption} == {5}
        assert 0.05 < r.labels["rt60_s"] < 3.0
        np.testing.assert_array_equal(r.audio["mix"], r.audio["clean"] + r.audio["noise"])
