"""Device and channel effects (audiosynth.effects): each effect measured numerically, chains drawn
reproducibly from a stream of their own, and chained builds that keep ``mix == sum(images) + noise
+ distortion`` exactly, the same bytes for any worker count and on re-render, and labels that
``validate`` measures again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import small_config
from scipy import signal

from audiosynth.config import ChannelConfig, config_from_dict
from audiosynth.effects import EFFECTS, bandwidth, clipping, packet_loss, response
from audiosynth.errors import ConfigError
from audiosynth.plan.chain import chain_rng, draw_chain

RATE = 16000


def _white(seconds: float = 20.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((channels, int(seconds * RATE)))


def _gain_db(x: np.ndarray, y: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Measured magnitude response |Y/X| (dB) at ``freqs``, from Welch spectra (64 ms segments)."""
    f, pxx = signal.welch(x[0], fs=RATE, nperseg=1024)
    _, pyy = signal.welch(y[0], fs=RATE, nperseg=1024)
    return np.interp(freqs, f, 10 * np.log10(pyy / pxx))


def test_a_band_limit_is_6_db_down_at_its_edges_and_steep_beyond() -> None:
    x = _white()
    params = {"low_hz": 300.0, "high_hz": 3400.0, "order": 8, "path_rate": None}
    y = bandwidth.apply(params, x, RATE)
    at = _gain_db(x, y, np.array([300.0, 1000.0, 3400.0, 6800.0, 100.0]))
    np.testing.assert_allclose(at[:3], [-6.0, 0.0, -6.0], atol=1.0)  # forward and backward: -3 dB twice at each edge
    assert at[3] < -60 and at[4] < -30
    assert abs(bandwidth.effective_bandwidth_hz(y, RATE) - 3400) <= 0.1 * 3400  # 99 % of the power: within 10 % of the edge (white noise)
    lag = np.argmax(signal.correlate(y[0], x[0], mode="full", method="fft")) - (x.shape[1] - 1)
    assert lag == 0  # no delay: the targets stay aligned


def test_a_resampling_path_leaves_nothing_above_its_rate() -> None:
    x = _white(5.0)
    y = bandwidth.apply({"low_hz": 50.0, "high_hz": 7000.0, "order": 4, "path_rate": 8000}, x, RATE)
    assert y.shape == x.shape
    assert _gain_db(x, y, np.array([4500.0, 6000.0])).max() < -40  # soxr's anti-aliasing at 4 kHz
    assert abs(_gain_db(x, y, np.array([1000.0]))[0]) < 0.5


def test_the_mic_response_is_the_drawn_one_with_no_delay() -> None:
    params = {
        "low_shelf_hz": 200.0,
        "low_shelf_db": -9.0,
        "high_shelf_hz": 4000.0,
        "high_shelf_db": 5.0,
        "peak_hz": 2000.0,
        "peak_db": 6.0,
        "peak_q": 2.0,
    }
    x = _white()
    y = response.apply(params, x, RATE)
    freqs = np.array([80.0, 500.0, 1000.0, 2000.0, 3000.0, 6000.0])
    np.testing.assert_allclose(_gain_db(x, y, freqs), response.response_db(params, freqs, RATE), atol=0.5)
    assert abs(response.response_db(params, np.array([30.0]), RATE)[0] + 9.0) < 1.0  # the shelf's depth
    lag = np.argmax(signal.correlate(y[0], x[0], mode="full", method="fft")) - (x.shape[1] - 1)
    assert lag == 0


def test_hard_clipping_cuts_what_is_above_its_threshold_and_says_how_much() -> None:
    x = _white(5.0)
    params = {"below_peak_db": 6.0, "soft": False}
    t = clipping.threshold(params, x)
    y = clipping.apply(params, x, RATE)
    assert np.max(np.abs(y)) == pytest.approx(t)
    want = float(np.mean(np.abs(x) >= t))
    assert clipping.clipped_fraction(y) == pytest.approx(want, abs=1e-9) and want > 0.01
    assert clipping.labels(params, x, y, RATE) == {"clipped_fraction": round(want, 6)}
    soft = clipping.apply({"below_peak_db": 6.0, "soft": True}, x, RATE)
    assert np.max(np.abs(soft)) < t and np.allclose(soft[np.abs(x) < 0.01 * t], x[np.abs(x) < 0.01 * t], rtol=1e-3)
    assert clipping.labels({"below_peak_db": 6.0, "soft": True}, x, soft, RATE)["saturated_fraction"] == pytest.approx(
        float(np.mean(np.abs(x) > t)), abs=1e-6
    )


@pytest.mark.parametrize(("loss", "burst"), [(0.05, 1.0), (0.1, 2.5), (0.2, 4.0)])
def test_packet_loss_rate_and_bursts_are_the_drawn_ones(loss: float, burst: float) -> None:
    params = {"loss_rate": loss, "mean_burst_packets": burst, "packet_ms": 20.0, "seed": 7}
    lost = packet_loss.losses(params, 200_000)
    assert lost.mean() == pytest.approx(loss, rel=0.05)
    assert np.mean(packet_loss.burst_lengths(lost)) == pytest.approx(burst, rel=0.05)
    x = _white(2.0) + 0.5  # no zero of its own
    y = packet_loss.apply(params, x, RATE)
    size = packet_loss.packet_samples(params, RATE)
    gone = packet_loss.losses(params, -(-x.shape[1] // size))
    zeros = np.repeat(gone, size)[: x.shape[1]]
    assert np.all(y[:, zeros] == 0) and np.array_equal(y[:, ~zeros], x[:, ~zeros])
    facts = packet_loss.labels(params, x, y, RATE)
    assert facts["lost_fraction"] == pytest.approx(gone.mean(), abs=1e-6) and facts["bursts"] == len(packet_loss.burst_lengths(gone))


def _channel(**changes: object) -> ChannelConfig:
    data = {"probability": 1.0, "steps": [1, 4], "effects": {name: {} for name in EFFECTS}}
    return ChannelConfig.model_validate({**data, **changes})


def test_chains_are_drawn_reproducibly_in_the_natural_order() -> None:
    config = _channel()
    chains = [draw_chain(config, chain_rng(0, i, 0, 0), RATE) for i in range(300)]
    assert chains == [draw_chain(config, chain_rng(0, i, 0, 0), RATE) for i in range(300)]
    assert chains != [draw_chain(config, chain_rng(1, i, 0, 0), RATE) for i in range(300)]
    counts = {len(c) for c in chains}
    assert counts == {1, 2, 3, 4}
    stages = {name: EFFECTS[name].stage for name in EFFECTS}
    assert stages == {
        "mic_response": 10,
        "self_noise": 12,
        "clock_drift": 15,
        "gain_jumps": 20,
        "agc": 22,
        "compressor": 24,
        "dc_offset": 25,
        "clipping": 30,
        "band_limit": 40,
        "codec": 50,
        "packet_loss": 60,
    }
    assert all([stages[s.name] for s in c] == sorted(stages[s.name] for s in c) for c in chains)
    assert all(s.roles == (("images", "noise") if EFFECTS[s.name].linear else ("mix",)) for c in chains for s in c)
    used = {s.name for c in chains for s in c}
    assert used == set(EFFECTS)
    half = _channel(probability=0.5)
    share = np.mean([bool(draw_chain(half, chain_rng(0, i, 0, 0), RATE)) for i in range(2000)])
    assert 0.45 < share < 0.55
    assert draw_chain(ChannelConfig(), chain_rng(0, 0, 0, 0), RATE) == ()


def test_turning_the_chain_on_keeps_every_other_draw(corpus: dict[str, Path]) -> None:
    from audiosynth.plan.planner import Planner
    from audiosynth.plan.pools import load_catalogs

    plain = small_config(corpus, num_examples=20)
    chained = plain.with_overrides(channel={"probability": 1.0, "effects": {"clipping": {}}})
    a, b = (Planner(c, load_catalogs(c)) for c in (plain, chained))
    for i in range(20):
        sa, sb = a.scene(i), b.scene(i)
        assert sb.chain and not sa.chain and sb.version == 2 and sa.version == 1
        assert {**sb.to_dict(), "chain": None, "version": 1} == {**sa.to_dict(), "chain": None, "version": 1}


def test_config_errors_name_the_effect_and_field(corpus: dict[str, Path]) -> None:
    base = small_config(corpus).to_dict()
    cases = [
        ({"probability": 0.5, "effects": {"clip": {}}}, "channel.effects: unknown effect 'clip'"),
        ({"probability": 0.5, "effects": {"clipping": {"below_peak_db": [6, 1]}}}, "clipping.below_peak_db: min must be <= max"),
        ({"probability": 0.5, "effects": {"band_limit": {"rate": 1}}}, "band_limit.rate: Extra inputs"),
        ({"probability": 0.5}, "needs at least one effect"),
        ({"probability": 0.5, "steps": [0, 2], "effects": {"clipping": {}}}, "channel.steps"),
    ]
    for channel, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            config_from_dict({**base, "channel": channel})
    with pytest.raises(ConfigError, match="NumPy backend only"):
        config_from_dict({**base, "backend": "torch", "channel": {"probability": 0.5, "effects": {"clipping": {}}}})
    assert "channel" not in small_config(corpus).to_dict()  # off: the dict (and fingerprint) of before


def _chained(corpus: dict[str, Path], **changes: object):
    effects = {name: {} for name in EFFECTS}
    settings: dict[str, object] = {"channel": {"probability": 1.0, "steps": [2, 4], "effects": effects}, "output": {"shard_size": 4}}
    return small_config(corpus, **{"num_examples": 12, **settings, **changes})


def _audio(folder: Path, row: dict, role: str) -> np.ndarray:
    return sf.read(folder / row["audio"][role], dtype="float64", always_2d=True)[0].T


def _digests(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "build.json"}


@pytest.mark.parametrize(
    "reverb", [{"probability": 0.0}, {"probability": 1.0, "source": "simulated", "room": {"array": {"type": "linear", "num_mics": 3}}}]
)
def test_a_chained_build_keeps_the_sum_exact_and_the_bytes(corpus: dict[str, Path], tmp_path: Path, reverb: dict) -> None:
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    config = _chained(corpus, reverb=reverb)
    build(config, tmp_path / "one", workers=1, progress=False)
    build(config, tmp_path / "two", workers=2, progress=False)
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    rows = [json.loads(line) for line in (tmp_path / "one" / "manifest.jsonl").read_text().splitlines()]
    distorted = 0
    for row in rows:
        audio = {role: _audio(tmp_path / "one", row, role) for role in row["audio"]}
        parts = audio["clean"] + audio["noise"] + audio.get("distortion", 0.0)
        np.testing.assert_array_equal(audio["mix"], parts)  # per channel, exactly: every value on the PCM grid
        assert "clean_acoustic" in audio and audio["mix"].shape[0] == (3 if reverb["probability"] else 1)
        steps = row["labels"]["channel"]["steps"]
        assert 2 <= len(steps) <= 4 and row["scene"]["chain"] and row["scene"]["version"] == 2
        distorted += "distortion" in audio
        if not any(not EFFECTS[s["name"]].linear for s in steps):
            assert "distortion" not in audio
    assert distorted >= 3
    assert validate(tmp_path / "one").ok


def test_a_chained_example_re_renders_from_its_manifest_row(corpus: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.build import build
    from audiosynth.plan.pools import load_catalogs
    from audiosynth.render import render
    from audiosynth.scene import Scene

    config = _chained(corpus)
    build(config, tmp_path / "ds", workers=1, progress=False)
    clips = load_catalogs(config).all()
    for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()[:4]:
        row = json.loads(line)
        again = render(Scene.from_dict(row["scene"]), clips, config.output.subtype)
        for role in row["audio"]:
            np.testing.assert_array_equal(again.audio[role], _audio(tmp_path / "ds", row, role))
        assert again.labels["channel"] == row["labels"]["channel"]


def test_validate_measures_the_channel_labels_again(corpus: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    config = _chained(corpus)
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    manifest = out / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["labels"]["channel"]["bandwidth_hz"] += 500.0
    rows[1]["labels"]["channel"]["clipped_fraction"] += 0.01
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = "\n".join(validate(out).problems)
    assert f"{rows[0]['id']}: channel.bandwidth_hz label" in problems
    assert f"{rows[1]['id']}: channel.clipped_fraction label" in problems


def test_float_output_keeps_the_sum_in_float32(corpus: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    config = _chained(corpus, output={"shard_size": 4, "format": "wav", "subtype": "FLOAT"})
    build(config, tmp_path / "ds", workers=1, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert any("distortion" in r["audio"] for r in rows)
    for row in rows:
        audio = {role: _audio(tmp_path / "ds", row, role).astype(np.float32) for role in row["audio"]}
        parts = [audio[r] for r in ("clean", "noise", "distortion") if r in audio]
        np.testing.assert_allclose(audio["mix"], sum(parts), atol=1e-6)
    assert validate(tmp_path / "ds").ok


def test_colour_targets_colours_the_dereverberation_targets_only_when_asked(corpus: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.build import build

    effects = {"mic_response": {"low_shelf_db": [-12.0, -10.0], "high_shelf_db": [5.0, 6.0]}}
    base = {"probability": 1.0, "steps": [1, 1], "effects": effects}
    reverb = {"probability": 1.0, "source": "simulated"}
    energies = {}
    for colour in (False, True):
        config = small_config(corpus, num_examples=4, reverb=reverb, channel={**base, "colour_targets": colour}, output={"shard_size": 4})
        out = tmp_path / str(colour)
        build(config, out, workers=1, progress=False)
        row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
        energies[colour] = {r: float(np.sum(_audio(out, row, r) ** 2)) for r in ("clean_direct", "clean_acoustic", "clean")}
    assert energies[False]["clean_acoustic"] == pytest.approx(energies[True]["clean_acoustic"], rel=1e-6)  # never coloured
    assert energies[False]["clean"] == pytest.approx(energies[True]["clean"], rel=1e-6)  # always coloured (an image)
    assert abs(energies[True]["clean_direct"] / energies[False]["clean_direct"] - 1) > 0.05  # the shelves changed it


def _speech_band_noise(seconds: float, seed: int) -> np.ndarray:
    """Noise below 2.5 kHz, ``(1, N)`` at 16 kHz: what every codec here keeps as a waveform."""
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum[int(2500 / (RATE / 2) * len(spectrum)) :] = 0
    x = np.fft.irfft(spectrum, n)[None]
    return 0.3 * x / np.max(np.abs(x))


@pytest.mark.parametrize("name", sorted(__import__("audiosynth.effects.codec", fromlist=["CODECS"]).CODECS))
def test_each_codec_round_trip_is_aligned_to_one_sample_and_repeats(name: str) -> None:
    from audiosynth.effects import codec

    bitrates = codec.CODECS[name][4]
    for bitrate in [None] if bitrates is None else [min(bitrates), max(bitrates)]:
        params = {"codec": name, "bitrate": bitrate}
        x = _speech_band_noise(3.0, 11)
        y = codec.apply(params, x, RATE)
        assert y.shape == x.shape
        size = 1 << 17
        corr = np.fft.irfft(np.fft.rfft(y[0], size) * np.conj(np.fft.rfft(x[0], size)), size)
        lag = int(np.argmax(np.r_[corr[-400:], corr[:401]])) - 400
        assert abs(lag) <= 1, (name, bitrate, lag)  # the codec's delay removed
        assert np.corrcoef(x[0], y[0])[0, 1] > 0.3  # still the signal (6 kbit/s Opus keeps ~0.5 of it)
        assert not np.array_equal(x, y)
        np.testing.assert_array_equal(codec.apply(params, x, RATE), y)  # the same bits again
        facts = codec.labels(params, x, y, RATE)
        assert facts["codec_rate"] == codec.CODECS[name][3] and facts["delay_samples"] >= 0


@pytest.mark.parametrize("ppm", [-80.0, -12.5, 37.0])
def test_clock_drift_is_the_drawn_one_within_1_ppm_measured_on_a_tone(ppm: float) -> None:
    from audiosynth.effects import device

    seconds, f0 = 20.0, 1000.0
    t = np.arange(int(seconds * RATE)) / RATE
    y = device.apply_drift({"ppm": ppm}, np.sin(2 * np.pi * f0 * t)[None], RATE)
    # the recorded tone's frequency from its phase over time (analytic signal, unwrapped, a line fit
    # away from the ends): a clock fast by ppm records f0 / (1 + ppm 1e-6) cycles per sample-second
    keep = slice(RATE, len(t) - RATE)
    phase = np.unwrap(np.angle(signal.hilbert(y[0])))[keep]
    measured = np.polyfit(t[keep], phase, 1)[0] / (2 * np.pi)
    assert (f0 / measured - 1) * 1e6 == pytest.approx(ppm, abs=1.0)


def test_gain_jumps_set_each_segment_to_its_level() -> None:
    from audiosynth.effects import device

    x = _white(4.0)
    params = {"at": [0.25, 0.6], "gain_db": [-6.0, 4.0]}
    y = device.apply_jumps(params, x, RATE)
    n = x.shape[1]
    ramp = int(device.RAMP_S * RATE)
    for (lo, hi), want in [((0, n // 4), 0.0), ((n // 4 + ramp, int(0.6 * n)), -6.0), ((int(0.6 * n) + ramp, n), 4.0)]:
        got = 10 * np.log10(np.sum(y[0, lo:hi] ** 2) / np.sum(x[0, lo:hi] ** 2))
        assert got == pytest.approx(want, abs=1e-9)


def test_a_dc_offset_moves_the_mean_by_its_value() -> None:
    from audiosynth.effects import device

    x = _white(2.0)
    y = device.apply_dc({"offset": -0.0125}, x, RATE)
    assert np.mean(y - x) == pytest.approx(-0.0125, abs=1e-15)


def test_the_report_shows_the_chain_against_its_configured_ranges(corpus: dict[str, Path], tmp_path: Path) -> None:
    from test_report import Page

    from audiosynth.build import build
    from audiosynth.report import make_report

    config = _chained(corpus, num_examples=16)
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    page = Page(make_report(out, progress=False).read_text())
    coverage = {r["quantity"]: r for r in page.table("coverage-table")}
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    drawn = [s["params"]["below_peak_db"] for r in rows for s in r["scene"]["chain"] if s["name"] == "clipping"]
    clip = coverage["channel.effects.clipping.below_peak_db"]
    assert int(clip["values"]) == len(drawn) > 0
    assert (float(clip["configured min"]), float(clip["configured max"])) == (1.0, 12.0) and clip["outside range"] == "0"
    assert float(clip["sampled min"]) == pytest.approx(min(drawn), abs=1e-3)
    labels = {r["label"]: r for r in page.table("label-stats")}
    assert int(labels["channel_bandwidth_hz"]["values"]) == len(rows)


def test_agc_brings_the_level_to_its_target_and_colours_every_part_alike() -> None:
    from audiosynth.effects import agc
    from audiosynth.render.channel import _apply_stacked

    params = {"target_dbfs": -22.0, "max_gain_db": 24.0, "attack_s": 0.01, "release_s": 0.3}
    rng = np.random.default_rng(3)
    quiet, loud = 10 ** (-40 / 20) * rng.standard_normal(3 * RATE), 10 ** (-12 / 20) * rng.standard_normal(3 * RATE)
    x = np.concatenate([quiet, loud])[None]
    y = agc.apply(params, x, RATE)

    def level(z: np.ndarray) -> float:
        return 10 * np.log10(np.mean(z**2))

    assert level(y[0, 2 * RATE : 3 * RATE]) == pytest.approx(-22.0, abs=1.0)  # raised 18 dB (released up within 2 s)
    assert level(y[0, 4 * RATE :]) == pytest.approx(-22.0, abs=1.0)  # cut 10 dB after the step (fast attack)
    facts = agc.control(params, x, RATE)
    assert facts["gain_max_db"] == pytest.approx(18.0, abs=1.0) and facts["gain_min_db"] == pytest.approx(-10.0, abs=1.5)
    # driven by the mixture, applied to its parts: the parts still sum to the coloured mixture
    speech, noise = 0.5 * x, 0.5 * x[:, ::-1].copy()
    state = agc.control(params, speech + noise, RATE)
    out = _apply_stacked(agc.apply, {**params, **state}, {"s": speech, "n": noise}, RATE)
    np.testing.assert_allclose(out["s"] + out["n"], agc.apply({**params, **state}, speech + noise, RATE), atol=1e-12)


@pytest.mark.parametrize("pink", [False, True])
def test_self_noise_has_its_level_and_colour(pink: bool) -> None:
    from audiosynth.effects import device

    x = _white(5.0, channels=2)
    params = {"level_dbfs": -70.0, "pink": pink, "seed": 9}
    added = device.apply_self_noise(params, x, RATE) - x
    for channel in added:
        assert 10 * np.log10(np.mean(channel**2)) == pytest.approx(-70.0, abs=0.01)
    assert not np.allclose(added[0], added[1])  # each channel its own
    at = _gain_db(x[:1], added[:1], np.array([200.0, 3200.0]))  # relative to white noise
    slope = at[1] - at[0]  # 4 octaves: pink falls 12 dB, white stays
    assert slope == pytest.approx(-12.0 if pink else 0.0, abs=1.5)


def test_amr_mode_switches_within_an_example_change_its_quality_where_drawn() -> None:
    from audiosynth.effects import codec

    x = _speech_band_noise(4.0, 21)
    low, switched = {"codec": "amr_nb", "bitrate": 4750}, {"codec": "amr_nb", "bitrate": 4750, "switches": [[0.5, 12200]]}
    a, b = codec.apply(low, x, RATE), codec.apply(switched, x, RATE)
    n = x.shape[1]

    def snr(y: np.ndarray, part: slice) -> float:
        return float(10 * np.log10(np.sum(x[0, part] ** 2) / np.sum((y[0, part] - x[0, part]) ** 2)))

    first, second = slice(RATE // 4, n // 2 - RATE // 4), slice(n // 2 + RATE // 4, n - RATE // 4)
    assert snr(b, first) == pytest.approx(snr(a, first), abs=0.5)  # the same mode before the switch
    assert snr(b, second) > snr(a, second) + 2.0  # 12.2 kbit/s after it
    size = 1 << 17
    corr = np.fft.irfft(np.fft.rfft(b[0], size) * np.conj(np.fft.rfft(x[0], size)), size)
    assert abs(int(np.argmax(np.r_[corr[-400:], corr[:401]])) - 400) <= 1  # still aligned
    assert codec.labels(switched, x, b, RATE)["bitrates_used"] == [4750, 12200]
    draws = [codec.draw(np.random.default_rng(k), codec.CodecSettings(codecs=("amr_nb",)), RATE) for k in range(200)]
    share = np.mean(["switches" in d for d in draws])
    assert 0.4 < share < 0.6 and all(1 <= len(d["switches"]) <= 3 for d in draws if "switches" in d)


def test_a_split_gets_a_chain_of_its_own(corpus: dict[str, Path], tmp_path: Path) -> None:
    from test_report import Page

    from audiosynth.build import build
    from audiosynth.report import make_report

    channel = {
        "probability": 1.0,
        "steps": [1, 1],
        "effects": {"mic_response": {}},
        "splits": {"test": {"probability": 1.0, "steps": [1, 1], "effects": {"clipping": {"below_peak_db": [3.0, 4.0]}}}},
    }
    config = small_config(corpus, num_examples=30, channel=channel, splits={"train": 0.5, "dev": 0.0, "test": 0.5})
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    names = {split: {s["name"] for r in rows if r["split"] == split for s in r["scene"]["chain"]} for split in ("train", "test")}
    assert names == {"train": {"mic_response"}, "test": {"clipping"}}
    coverage = {r["quantity"]: r for r in Page(make_report(out, progress=False).read_text()).table("coverage-table")}
    test_clip = coverage["channel.splits.test.effects.clipping.below_peak_db"]
    assert int(test_clip["values"]) == sum(r["split"] == "test" for r in rows) and test_clip["outside range"] == "0"
    assert int(coverage["channel.effects.mic_response.peak_q"]["values"]) == sum(r["split"] == "train" for r in rows)


def test_opus_conceals_its_lost_packets() -> None:
    from audiosynth.effects import codec, packet_loss

    t = np.arange(3 * RATE) / RATE
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[None]
    base = {"codec": "opus", "bitrate": 24000}
    lossy = {**base, "loss_rate": 0.2, "mean_burst_packets": 2.0, "loss_seed": 4}
    clean, concealed = codec.apply(base, x, RATE), codec.apply(lossy, x, RATE)
    lost = packet_loss.losses({"loss_rate": 0.2, "mean_burst_packets": 2.0, "seed": 4}, 150)
    frame = 320  # 20 ms at 16 kHz
    gone = [k for k in range(5, 140) if lost[k] and not lost[k - 1]]  # first lost packet of each burst
    assert len(gone) >= 5
    for k in gone:
        part = slice(k * frame + 40, (k + 1) * frame - 40)
        assert np.sqrt(np.mean(concealed[0, part] ** 2)) > 0.05  # concealed, not silence (zeros would be 0)
        assert not np.allclose(concealed[0, part], clean[0, part], atol=1e-3)  # and not the packet itself
    kept = [k for k in range(5, 140) if not any(lost[max(0, k - 3) : k + 1])]
    diff = max(np.max(np.abs(concealed[0, k * frame : (k + 1) * frame] - clean[0, k * frame : (k + 1) * frame])) for k in kept)
    assert diff < 0.2  # packets well after a loss decode as without it (the decoder's state recovers)
    facts = codec.labels(lossy, x, concealed, RATE)
    assert facts["concealed"] and facts["lost_fraction"] == pytest.approx(lost[:150].mean(), abs=0.02)
    draws = [codec.draw(np.random.default_rng(k), codec.CodecSettings(codecs=("opus",)), RATE) for k in range(300)]
    assert 0.2 < np.mean(["loss_rate" in d for d in draws]) < 0.4


@pytest.mark.parametrize("name", sorted(__import__("audiosynth.effects.codec", fromlist=["CODECS"]).CODECS))
def test_every_codec_gives_the_same_bytes_for_1_and_2_workers_and_on_re_render(corpus: dict[str, Path], tmp_path: Path, name: str) -> None:
    from audiosynth.build import build
    from audiosynth.plan.pools import load_catalogs
    from audiosynth.render import render
    from audiosynth.scene import Scene

    channel = {"probability": 1.0, "steps": [1, 1], "effects": {"codec": {"codecs": [name], "loss_probability": 0.5}}}
    config = small_config(corpus, num_examples=4, channel=channel, output={"shard_size": 2})
    build(config, tmp_path / "one", workers=1, progress=False)
    build(config, tmp_path / "two", workers=2, progress=False)
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    clips = load_catalogs(config).all()
    for line in (tmp_path / "one" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert [s["name"] for s in row["labels"]["channel"]["steps"]] == ["codec"]
        audio = {role: _audio(tmp_path / "one", row, role) for role in row["audio"]}
        np.testing.assert_array_equal(audio["mix"], audio["clean"] + audio["noise"] + audio["distortion"])
        again = render(Scene.from_dict(row["scene"]), clips, config.output.subtype)
        for role, x in audio.items():
            np.testing.assert_array_equal(again.audio[role], x)


@pytest.mark.parametrize(
    ("effect", "settings", "message"),
    [
        ("band_limit", {"low_hz": [-5.0, 10.0]}, "band_limit.low_hz: must lie in (0, inf]"),
        ("band_limit", {"order": [0, 4]}, "band_limit.order: must satisfy 1 <= min"),
        ("band_limit", {"path_rates": [8000, 50]}, "band_limit.path_rates.1"),
        ("mic_response", {"peak_q": [0.0, 1.0]}, "mic_response.peak_q"),
        ("mic_response", {"peak_db": [0.0, 600.0]}, "mic_response.peak_db: must lie in [-60, 60]"),
        ("packet_loss", {"loss_rate": [0.5, 1.0]}, "packet_loss.loss_rate: must lie in [0, 0.95]"),
        ("packet_loss", {"mean_burst_packets": [0.0, 2.0]}, "packet_loss.mean_burst_packets"),
        ("packet_loss", {"packet_ms": [0.0, 20.0]}, "packet_loss.packet_ms"),
        ("clipping", {"below_peak_db": [-3.0, 1.0]}, "clipping.below_peak_db"),
        ("clock_drift", {"ppm": [0.0, 1e6]}, "clock_drift.ppm"),
        ("gain_jumps", {"jumps": [1, 1000]}, "gain_jumps.jumps"),
        ("dc_offset", {"offset_dbfs": [-20.0, 6.0]}, "dc_offset.offset_dbfs: must lie in [-inf, 0]"),
        ("self_noise", {"level_dbfs": [-60.0, 3.0]}, "self_noise.level_dbfs"),
        ("agc", {"attack_s": [0.0, 0.1]}, "agc.attack_s"),
        ("codec", {"codecs": ["opus", "speex"]}, "codec"),
        ("codec", {"loss_rate": [0.1, 2.0]}, "codec.loss_rate"),
    ],
)
def test_an_effect_setting_out_of_its_bounds_is_refused_naming_it(corpus: dict[str, Path], effect: str, settings: dict, message: str):
    base = small_config(corpus).to_dict()
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        config_from_dict({**base, "channel": {"probability": 0.5, "effects": {effect: settings}}})
    assert len(str(err.value).splitlines()) == 1


def test_the_compressor_follows_its_static_curve() -> None:
    from audiosynth.effects import agc

    params = {"threshold_dbfs": -30.0, "ratio": 4.0, "attack_s": 0.002, "release_s": 0.05, "makeup_db": 3.0}
    tone = np.sqrt(2) * np.sin(2 * np.pi * 1000 * np.arange(2 * RATE) / RATE)[None]  # RMS 1, steady in 1 ms frames
    for level_dbfs, want_dbfs in [(-40.0, -37.0), (-18.0, -30.0 + 12.0 / 4 + 3.0), (-10.0, -30.0 + 20.0 / 4 + 3.0)]:
        y = agc.apply_compressor(params, 10 ** (level_dbfs / 20) * tone, RATE)
        got = 10 * np.log10(np.mean(y[0, RATE // 2 :] ** 2))
        assert got == pytest.approx(want_dbfs, abs=0.1), level_dbfs
