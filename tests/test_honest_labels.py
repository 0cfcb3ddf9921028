"""Honest labels on silent or degenerate input (issue 11): silent crops re-drawn, labels outside
the configured ranges flagged, dry targets that do not lower the mixture, activity overlap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosynth.acoustics.room import simulate_room
from audiosynth.build import build
from audiosynth.catalog import Clip, read_catalog, relative_audio_path, write_catalog
from audiosynth.dataset.rows import iter_manifest
from audiosynth.dataset.validate import validate
from audiosynth.dsp import kernels
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import load_segment, render
from tests.conftest import small_config, speechlike

RATE = 16000


def _write(root: Path, name: str, x: np.ndarray) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), RATE, subtype="PCM_16")
    return path


def _catalog(root: Path, kind: str, clips: list[tuple[str, np.ndarray, str | None]], measure: bool = False) -> Path:
    """Write each clip's audio and a catalog of ``kind``; with ``measure`` the clips carry their
    catalog activity (as `audiosynth catalog` measures it)."""
    from audiosynth.corpora import check_audio_file

    rows = []
    for clip_id, x, speaker in clips:
        path = _write(root, f"{kind}/{clip_id}.flac", x)
        active = check_audio_file(path, activity=True)[3] if measure else None
        rows.append(
            Clip(
                clip_id,
                relative_audio_path(path, root),
                kind,
                sf.info(path).duration,
                RATE,
                1,
                speaker=speaker,
                **({"active": active} if measure else {}),
            )
        )
    out = root / f"{kind}.jsonl"
    write_catalog(rows, out)
    return out


def _speech_clips(rng: np.random.Generator, speakers: int = 4, seconds: float = 2.5, pad_s: float = 0.0) -> list:
    pad = np.zeros(int(pad_s * RATE))
    return [
        (f"spk{s}-{u}", np.concatenate([pad, speechlike(rng, seconds + 0.2 * u, RATE, 100 + 25 * s), pad]), f"spk{s}")
        for s in range(speakers)
        for u in range(2)
    ]


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Speech, one all-zero speech clip, and one noise clip that is all zeros from 1 s to 7 s."""
    root = tmp_path_factory.mktemp("gappy")
    rng = np.random.default_rng(3)
    noise = 0.1 * rng.standard_normal(8 * RATE)
    noise[RATE : 7 * RATE] = 0.0
    speech = [*_speech_clips(rng), ("zero-0", np.zeros(3 * RATE), "spk0")]
    return {"speech": _catalog(root, "speech", speech), "noise": _catalog(root, "noise", [("gap", noise, None)]), "rirs": ""}


def _config(corpus: dict[str, Path], **changes):
    data = {
        "catalogs": {"speech": str(corpus["speech"]), "noise": str(corpus["noise"])},
        "num_examples": 40,
        "duration_s": [1.0, 2.0],
        "snr_db": [0.0, 15.0],
        "speech_level_dbfs": [-30.0, -20.0],
        "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
        "output": {"shard_size": 20},
    }
    data.update(changes)
    from audiosynth.config import config_from_dict

    return config_from_dict(data)


def test_silent_crops_are_redrawn_and_counted(gappy: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build(_config(gappy), out, workers=1, progress=False)
    rows = list(iter_manifest(out / "manifest.jsonl"))
    assert len(rows) == 40
    snrs = [r["labels"]["snr_db"] for r in rows]
    assert all(-0.05 <= s <= 15.05 for s in snrs), max(snrs)
    assert not any(r["labels"]["speech_clip"] == "zero-0" for r in rows)
    info = json.loads((out / "build.json").read_text())
    assert info["rejected_clips"].get("silent_crop", 0) > 0  # noise crops in the gap, crops of the all-zero speech clip
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {r["clip"] for r in rejects if r["reason"] == "silent_crop"} == {"gap", "zero-0"}
    assert info["rejected_clips"] == {"silent_crop": 2}  # distinct clips per reason
    assert validate(out, progress=False).ok


def test_catalog_activity_keeps_noise_crops_out_of_silence(gappy: dict[str, Path], tmp_path: Path) -> None:
    """With the catalog's activity the planner draws noise crops over active audio: no re-draw."""
    rng = np.random.default_rng(3)
    noise = 0.1 * rng.standard_normal(8 * RATE)
    noise[RATE : 7 * RATE] = 0.0
    corpus = {"speech": gappy["speech"], "noise": _catalog(tmp_path, "noise", [("gap", noise, None)], measure=True)}
    active = read_catalog(corpus["noise"]).by_id("gap").active
    assert active is not None and [round(a, 2) for a in active[0]] == [0.0, 1.0] and [round(a, 2) for a in active[-1]] == [7.0, 8.0]
    out = tmp_path / "ds"
    build(_config(corpus, speech_level_dbfs=[-25.0, -25.0]), out, workers=1, progress=False)
    rejects = (out / "rejects.jsonl").read_text().splitlines() if (out / "rejects.jsonl").exists() else []
    assert not [r for r in map(json.loads, rejects) if r["clip"] == "gap"]  # only the all-zero speech clip's crops
    assert all(0 <= r["labels"]["snr_db"] <= 15.0001 for r in iter_manifest(out / "manifest.jsonl"))


def test_validate_and_report_flag_labels_outside_the_configured_range(gappy: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.report import make_report

    out = tmp_path / "ds"
    build(_config(gappy, num_examples=6, output={"shard_size": 6}), out, workers=1, progress=False)
    assert validate(out, progress=False).ok
    # row 2: the noise silenced in the files (mix = clean), its snr_db label made consistent with them
    lines = (out / "manifest.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    clean, _ = sf.read(out / row["audio"]["clean"])
    noise_info = sf.info(out / row["audio"]["noise"])
    sf.write(out / row["audio"]["noise"], np.zeros_like(clean), RATE, subtype=noise_info.subtype)
    sf.write(out / row["audio"]["mix"], clean, RATE, subtype=noise_info.subtype)
    row["labels"]["snr_db"] = round(kernels.power_ratio_db(clean, np.zeros_like(clean)), 4)
    lines[2] = json.dumps(row)
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    report = validate(out, progress=False)
    assert not report.ok
    assert any(row["id"] in p and "snr_db" in p and "outside the configured range" in p for p in report.problems), report.problems
    assert sum("outside the configured range" in p for p in report.problems) == 1
    html = make_report(out, tmp_path / "report", run_validate=False, progress=False, num_examples_shown=0).read_text()
    coverage = html[html.index('id="coverage"') :]
    snr_row = coverage[coverage.index("<td>snr_db</td>") :].split("</tr>")[0]
    assert "FAIL" in snr_row and "<td>1</td>" in snr_row


def test_cli_validate_exits_1_on_an_out_of_range_label(gappy: dict[str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "ds"
    build(_config(gappy, num_examples=4, output={"shard_size": 4}), out, workers=1, progress=False)
    info = json.loads((out / "build.json").read_text())
    info["config"]["speech_level_dbfs"] = [-60.0, -50.0]  # every row's speech level is now outside
    (out / "build.json").write_text(json.dumps(info))
    result = subprocess.run([sys.executable, "-m", "audiosynth.cli", "validate", str(out), "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "speech_level_dbfs" in result.stdout + result.stderr and "outside the configured range" in result.stdout + result.stderr


def _room_config(corpus: dict[str, Path], dry: bool):
    return small_config(
        corpus,
        num_examples=8,
        speech_level_dbfs=[-25.0, -25.0],
        snr_db=[10.0, 10.0],
        reverb={"probability": 1.0, "source": "simulated", "room": {"rt60_s": [0.6, 0.9], "distance_m": [2.0, 3.0]}},
        targets={"direct": False, "early": False, "dry": dry},
        output={"format": "wav", "subtype": "FLOAT", "peak_dbfs": -1.0},
    )


def test_dry_targets_do_not_lower_the_mixture(corpus: dict[str, Path]) -> None:
    """With targets.dry the mixture is the one without it (speech at the configured level), and
    the dry target's own gain label exactly explains its level."""
    with_dry, without = (_room_config(corpus, flag) for flag in (True, False))
    catalogs = load_catalogs(with_dry)
    clips = catalogs.all()
    planners = Planner(with_dry, catalogs), Planner(without, catalogs)
    scaled = 0
    for index in range(8):
        a, b = (render(p.scene(index), clips, "FLOAT") for p in planners)
        for role in ("mix", "clean", "noise"):
            np.testing.assert_array_equal(a.audio[role], b.audio[role])
        source = a.scene.sources[0]
        assert a.labels["speech_level_dbfs"] == pytest.approx(source.level_dbfs + a.labels["gain_db"], abs=0.01)
        assert a.labels["gain_db"] > -3.0  # the dry signal no longer sets the common gain
        dry_gain = a.labels["clean_dry_gain_db"]
        scaled += dry_gain < 0
        assert kernels.peak_dbfs(a.audio["clean_dry"]) <= -1.0 + 1e-4
        # clean_dry == dry source x level gain x 10^((gain_db + clean_dry_gain_db) / 20)
        rate, n = a.scene.sample_rate, a.scene.num_samples
        dry = load_segment(source.segment, clips, rate, n)[:1]
        room = simulate_room(a.scene.room, rate)
        image = kernels.fft_convolve(dry[None], room.rirs[source.position][None], n)[0]
        seg_len = kernels.resampled_length(source.segment.length, clips.by_id(source.segment.clip_id).sample_rate, rate)
        level_gain_db = source.level_dbfs - kernels.rms_dbfs(image[0, source.segment.onset : source.segment.onset + seg_len])
        expected = dry * kernels.db_to_gain(level_gain_db + a.labels["gain_db"] + dry_gain)
        np.testing.assert_allclose(a.audio["clean_dry"], expected, rtol=3e-5, atol=1e-7)  # labels rounded to 1e-4 dB
    assert scaled >= 4  # most dry targets are louder than the limit in these rooms


def test_activity_overlap_ratio_meets_the_target(tmp_path: Path) -> None:
    """Clips with 0.6 s of silence at both ends: in ratio mode the speech overlap measured on the
    written images meets the drawn target (within 0.03) when the catalog knows the clips' activity."""
    rng = np.random.default_rng(5)
    speech = _catalog(tmp_path, "speech", _speech_clips(rng, speakers=4, seconds=2.0, pad_s=0.6), measure=True)
    noise = _catalog(tmp_path, "noise", [("n", 0.05 * rng.standard_normal(4 * RATE), None)])
    for target in (0.25, 0.5):
        out = tmp_path / f"ds{target}"
        config = _config(
            {"speech": speech, "noise": noise},
            task="separation",
            num_examples=6,
            output={"shard_size": 6},
            talkers={"count": [2, 2], "overlap": "ratio", "overlap_ratio": [target, target]},
        )
        build(config, out, workers=1, progress=False)
        for row in iter_manifest(out / "manifest.jsonl"):
            images = [sf.read(out / row["audio"][r])[0] for r in ("s1", "s2")]
            spans = [span for x in images for span in kernels.activity_segments(x, RATE)]
            measured = kernels.overlap_ratio(spans)
            assert row["labels"]["activity_overlap_ratio"] == pytest.approx(measured, abs=1e-3)
            assert measured == pytest.approx(target, abs=0.03)
            assert row["labels"]["overlap_ratio"] > measured + 0.05  # the segment-based one counts the silence
        assert validate(out, progress=False).ok


def test_diarization_never_uses_a_silent_clip(gappy: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ds"
    config = _config(
        gappy,
        task="diarization",
        num_examples=4,
        output={"shard_size": 4},
        noise_probability=0.0,
        session={"duration_s": [12.0, 15.0], "speakers": [3, 3]},
    )
    build(config, out, workers=1, progress=False)
    rows = list(iter_manifest(out / "manifest.jsonl"))
    assert not any(s["segment"]["clip_id"] == "zero-0" for r in rows for s in r["scene"]["sources"])
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {(r["clip"], r["reason"]) for r in rejects} == {("zero-0", "silent")}  # a whole clip: excluded


def test_catalog_active_field_round_trips_and_is_checked(tmp_path: Path) -> None:
    from audiosynth.errors import CatalogError

    row = {"id": "a", "path": "a.wav", "kind": "noise", "duration": 2.0, "sample_rate": RATE, "num_channels": 1}
    clip = Clip.from_dict({**row, "active": [[0.0, 0.5], [1.0, 2.0]]})
    assert clip.active == ((0.0, 0.5), (1.0, 2.0)) and clip.to_dict()["active"] == [[0.0, 0.5], [1.0, 2.0]]
    assert "active" not in Clip.from_dict(row).to_dict()  # old catalogs: no field, nothing written
    for bad in ([[0.5, 0.2]], [[0.0, 1.0], [0.5, 1.5]], [[0.0, 3.0]], "0-1", [[0.0]]):
        with pytest.raises(CatalogError, match=r"cat.jsonl:3: 'active'"):
            Clip.from_dict({**row, "active": bad}, "cat.jsonl:3")


def test_crops_of_clips_without_activity_are_drawn_as_before() -> None:
    from audiosynth.plan.clips import crop_offset

    clip = Clip("a", "a.wav", "noise", 10.0, RATE)
    for seed in range(20):
        expected = int(np.random.default_rng(seed).integers(0, clip.num_samples - RATE + 1))
        assert crop_offset(np.random.default_rng(seed), clip, RATE) == expected
