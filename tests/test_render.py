import numpy as np
import pytest
from conftest import small_config

from audiosynth.dsp import kernels
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import render


def rendered_examples(corpus, n=24, subtype="PCM_16", **changes):
    config = small_config(corpus, num_examples=n, **changes)
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    clips = catalogs.all()
    return [render(planner.scene(i), clips, subtype) for i in range(n)]


def test_snr_label_is_measured_and_on_target(corpus):
    for r in rendered_examples(corpus):
        clean, noise = r.audio["clean"], r.audio["noise"]
        measured = 10 * np.log10(np.sum(clean**2) / np.sum(noise**2))
        assert abs(measured - r.labels["snr_db"]) < 1e-3
        assert abs(measured - r.scene.noise.snr_db) < 0.1


def test_mixture_is_exactly_clean_plus_noise_on_the_pcm_grid(corpus):
    for r in rendered_examples(corpus, n=8):
        for x in r.audio.values():
            np.testing.assert_array_equal(x * 32768, np.round(x * 32768))
        assert np.max(np.abs(r.audio["mix"] - r.audio["clean"] - r.audio["noise"])) == 0.0


def test_float_output_invariant(corpus):
    for r in rendered_examples(corpus, n=6, subtype="FLOAT", output={"format": "wav", "subtype": "FLOAT"}):
        mix32 = r.audio["clean"].astype(np.float32) + r.audio["noise"].astype(np.float32)
        np.testing.assert_array_equal(mix32, r.audio["mix"].astype(np.float32))


def test_speech_level_and_peak_limit(corpus):
    loud = rendered_examples(corpus, n=10, speech_level_dbfs=[-3, -3], snr_db=[-5, -5])
    for r in loud:
        assert r.labels["gain_db"] < 0
        for x in r.audio.values():
            assert np.max(np.abs(x)) <= 10 ** (-1 / 20) + 2**-15
        assert abs(r.labels["snr_db"] - -5) < 0.1  # the common gain keeps the SNR
    quiet = rendered_examples(corpus, n=10, speech_level_dbfs=[-30, -30], snr_db=[20, 20])
    for r in quiet:
        seg = r.scene.sources[0].segment
        active = r.audio["clean"][:, seg.onset : seg.onset + seg.length]
        assert r.labels["gain_db"] == 0.0
        assert kernels.rms_dbfs(active) == pytest.approx(-30, abs=0.05)


def test_catalog_rir_reverberates_and_is_labelled(corpus):
    for r in rendered_examples(corpus, n=6, reverb={"probability": 1.0, "source": "catalog"}):
        assert r.labels["rt60_s"] == pytest.approx(0.4, rel=0.1)
        assert r.scene.sources[0].rir_clip == "rir-0.4"
        assert abs(r.labels["snr_db"] - r.scene.noise.snr_db) < 0.1


def test_simulated_room_rt60_label_matches_request(corpus):
    for r in rendered_examples(corpus, n=4, reverb={"probability": 1.0, "room": {"rt60_s": [0.3, 0.8]}}):
        assert r.scene.room is not None
        assert r.labels["rt60_s"] == pytest.approx(r.scene.room.rt60_s, rel=0.25)
        assert np.max(np.abs(r.audio["mix"] - r.audio["clean"] - r.audio["noise"])) == 0.0
