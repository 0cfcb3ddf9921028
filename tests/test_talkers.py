"""Several talkers: separation, target speaker, multi-talker ASR labels."""

import json

import numpy as np
import pytest
from conftest import small_config

from audiosynth.catalog import read_catalog
from audiosynth.dsp import kernels
from audiosynth.errors import PreflightError
from audiosynth.plan import Planner, load_catalogs, speaker_of
from audiosynth.render import render


def renders(corpus, n=10, task="separation", **changes):
    changes.setdefault("splits", {"train": 1.0, "dev": 0.0, "test": 0.0})  # 6 speakers: one split for 3 talkers
    config = small_config(corpus, num_examples=n, task=task, **changes)
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    return [render(planner.scene(i), catalogs.all()) for i in range(n)]


def test_sir_and_snr_are_measured_and_on_target(corpus):
    for r in renders(corpus, talkers={"count": [2, 3], "sir_db": [-6, 6]}, reverb={"probability": 0.5}):
        roles = [s.role for s in r.scene.sources]
        assert roles == [f"s{k + 1}" for k in range(len(roles))] and 2 <= len(roles) <= 3
        np.testing.assert_array_equal(r.audio["mix"], sum(r.audio[x] for x in roles) + r.audio["noise"])
        first = r.audio["s1"]
        for source in r.scene.sources[1:]:  # planned pairwise SIR against the first talker
            assert abs(kernels.power_ratio_db(first, r.audio[source.role]) - source.sir_db) < 0.1
        for role in roles:  # labelled SIR against all the other talkers
            others = sum(r.audio[x] for x in roles if x != role)
            assert abs(kernels.power_ratio_db(r.audio[role], others) - r.labels["sir_db"][role]) < 1e-3
        speech = sum(r.audio[x] for x in roles)
        assert abs(kernels.power_ratio_db(speech, r.audio["noise"]) - r.labels["snr_db"]) < 1e-3
        assert abs(r.labels["snr_db"] - r.scene.noise.snr_db) < 0.1


@pytest.mark.parametrize("target", [0.1, 0.25, 0.4])
def test_overlap_ratio_matches_label_and_target(corpus, target):
    rs = renders(corpus, n=12, talkers={"count": [2, 3], "overlap": "ratio", "overlap_ratio": [target, target]})
    for r in rs:
        segments = r.labels["segments"]
        intervals = [(round(s["start"] * 16000), round(s["end"] * 16000)) for s in segments]
        assert kernels.overlap_ratio(intervals) == pytest.approx(r.labels["overlap_ratio"], abs=1e-4)
        # activity measured on the written talker images agrees with the segment boundaries
        for seg in segments:
            active = np.flatnonzero(np.abs(r.audio[seg["role"]][0]) > 0)
            assert abs(active[0] / 16000 - seg["start"]) < 0.06 and abs((active[-1] + 1) / 16000 - seg["end"]) < 0.06
        assert abs(r.labels["overlap_ratio"] - target) < 0.05
    assert abs(np.mean([r.labels["overlap_ratio"] for r in rs]) - target) < 0.05


def test_min_and_max_modes(corpus):
    for r in renders(corpus, n=6, talkers={"count": [2, 2], "overlap": "min"}):
        assert r.labels["overlap_ratio"] == pytest.approx(1.0)
        assert all(s["start"] == 0 and s["end"] == pytest.approx(r.scene.duration) for s in r.labels["segments"])
    for r in renders(corpus, n=6, talkers={"count": [2, 2], "overlap": "max"}):
        longest = max(s["end"] - s["start"] for s in r.labels["segments"])
        assert longest == pytest.approx(r.scene.duration)
        assert all(s["text"] for s in r.labels["segments"])  # every utterance is whole


def test_segment_texts_are_the_catalog_transcripts(corpus):
    catalog = read_catalog(corpus["speech"])
    for r in renders(corpus, n=8, task="asr", talkers={"count": [2, 2], "overlap": "ratio"}):
        for seg in r.labels["segments"]:
            clip = catalog.by_id(seg["clip"])
            assert seg["text"] == clip.text and seg["speaker"] == clip.speaker
        assert len({s["speaker"] for s in r.labels["segments"]}) == 2


def test_enrollment_is_the_target_speaker_and_not_in_the_mixture(corpus):
    catalog = read_catalog(corpus["speech"])
    for r in renders(corpus, n=10, task="target_speaker", talkers={"count": [2, 2], "enrollment": True}):
        target = catalog.by_id(r.scene.sources[0].segment.clip_id)
        enrolled = catalog.by_id(r.labels["enrollment_clip"])
        assert enrolled.speaker == target.speaker == r.labels["target_speaker"]
        assert enrolled.id not in {s.segment.clip_id for s in r.scene.sources}
        assert r.audio["enrollment"].shape[-1] == round(enrolled.duration * 16000)
        assert kernels.rms_dbfs(r.audio["enrollment"]) == pytest.approx(-25.0, abs=0.05)


def test_no_speaker_in_two_splits(corpus):
    config = small_config(
        corpus, num_examples=30, task="separation", talkers={"count": [2, 2]}, splits={"train": 0.4, "dev": 0.3, "test": 0.3}
    )
    planner = Planner(config, load_catalogs(config))
    seen: dict[str, set[str]] = {}
    for i in range(30):
        scene = planner.scene(i)
        for source in scene.sources:
            seen.setdefault(speaker_of(planner.catalogs.speech.by_id(source.segment.clip_id)), set()).add(scene.split)
    assert all(len(splits) == 1 for splits in seen.values()) and len(seen) >= 5


def test_preflight_needs_enough_speakers_per_split(corpus):
    config = small_config(corpus, task="separation", talkers={"count": [2, 3]})
    with pytest.raises(PreflightError, match=r"6 speakers cannot fill 3 disjoint splits \(train, dev, test\) with 3 each"):
        Planner(config, load_catalogs(config))


def test_validate_checks_transcripts_and_enrollment(corpus, tmp_path):
    import json

    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    config = small_config(
        corpus,
        task="target_speaker",
        num_examples=6,
        talkers={"count": [2, 2], "enrollment": True},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    assert validate(out, progress=False).ok
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rows[0]["labels"]["segments"][0]["text"] = "SOMETHING ELSE"
    rows[1]["labels"]["enrollment_clip"] = rows[1]["labels"]["segments"][0]["clip"]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = validate(out, progress=False).problems
    assert any(p.startswith(rows[0]["id"]) and "speaker/text differ" in p for p in problems)
    assert any(p.startswith(rows[1]["id"]) and "enrollment is not another utterance" in p for p in problems)


def test_talkers_share_the_microphone_count_of_catalog_rirs(corpus, tmp_path):
    """A mono and a 2-channel RIR in one catalog: refused (one channel count per dataset), or with
    ``reverb.num_channels`` every scene's talkers get RIRs of that channel count."""
    import soundfile as sf

    from audiosynth.catalog import Clip, write_catalog

    rate = 16000
    stereo = tmp_path / "stereo.wav"
    decay = np.exp(-np.arange(4000) / 800.0) * np.random.default_rng(0).standard_normal(4000) * 0.05
    decay[10] = 1.0
    sf.write(stereo, np.stack([decay, np.roll(decay, 3)], 1).astype(np.float32), rate, subtype="FLOAT")
    mono = read_catalog(corpus["rirs"]).clips[0]
    rirs = tmp_path / "rirs.jsonl"
    write_catalog(
        [
            Clip(mono.id, str(corpus["rirs"].parent / mono.path), "rir", mono.duration, rate, 1),
            Clip("stereo", str(stereo), "rir", sf.info(stereo).duration, rate, 2),
        ],
        rirs,
    )
    with pytest.raises(PreflightError, match=r"reverb\.num_channels"):
        renders({**corpus, "rirs": rirs}, n=16, talkers={"count": [2, 3]}, reverb={"probability": 1.0, "source": "catalog"})
    for wanted in (1, 2):
        out = renders(
            {**corpus, "rirs": rirs},
            n=8,
            talkers={"count": [2, 3]},
            reverb={"probability": 1.0, "source": "catalog", "num_channels": wanted},
        )
        for r in out:
            assert r.audio["mix"].shape[0] == wanted
            assert all(x.shape == r.audio["mix"].shape for role, x in r.audio.items() if role != "enrollment")
            np.testing.assert_allclose(
                r.audio["mix"], sum(r.audio[role] for role in r.audio if role == "noise" or role[1:].isdigit()), atol=1e-12
            )


def _late_speech_corpus(root, active: bool):
    """Six speakers whose utterances are silent for their first 60 %: the overlap of whole
    utterances (what ratio mode meets without catalog activity) and that of speech differ."""
    import soundfile as sf
    from conftest import speechlike

    from audiosynth.catalog import Clip, relative_audio_path, write_catalog

    rng, rate, clips = np.random.default_rng(3), 16000, []
    for s in range(6):
        for u in range(2):
            voice = speechlike(rng, 1.2, rate, 100 + 20 * s)
            signal = np.concatenate([1e-4 * rng.standard_normal(int(1.8 * rate)).astype(np.float32), voice])
            path = root / f"spk{s}_{u}.flac"
            sf.write(path, signal, rate, subtype="PCM_16")
            clips.append(
                Clip(
                    f"spk{s}-{u}",
                    relative_audio_path(path, root),
                    "speech",
                    signal.size / rate,
                    rate,
                    1,
                    speaker=f"spk{s}",
                    active=((1.8, 3.0),) if active else None,
                )
            )
    write_catalog(clips, root / "speech.jsonl")
    return {"speech": root / "speech.jsonl"}


@pytest.mark.parametrize("active", [False, True])
def test_validate_checks_the_overlap_that_ratio_mode_targeted(tmp_path, active):
    """Without catalog activity ratio mode places whole utterances (the overlap_ratio label meets the
    target and validate checks that one); with it, the speech overlap measured on the images does."""
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    corpus = _late_speech_corpus(tmp_path, active)
    config = small_config(
        corpus,
        num_examples=6,
        task="separation",
        noise_probability=0.0,
        duration_s=[2.0, 3.0],
        catalogs={"speech": str(corpus["speech"]), "noise": []},
        splits={"train": 1.0, "dev": 0.0, "test": 0.0},
        talkers={"count": [2, 2], "overlap": "ratio", "overlap_ratio": [0.4, 0.4]},
    )
    build(config, tmp_path / "ds", workers=1, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    targeted = "activity_overlap_ratio" if active else "overlap_ratio"
    other = "overlap_ratio" if active else "activity_overlap_ratio"
    assert all(abs(r["labels"][targeted] - 0.4) < 0.05 for r in rows)
    assert any(abs(r["labels"][other] - 0.4) > 0.05 for r in rows)  # the check can tell which one was meant
    assert validate(tmp_path / "ds", progress=False).problems == []


def test_validate_remeasures_the_speech_overlap_on_the_files(corpus, tmp_path):
    """activity_overlap_ratio is measured on the written images again: a row that lies about it is named."""
    from audiosynth.build import build
    from audiosynth.dataset.validate import validate

    config = small_config(
        corpus, num_examples=4, task="separation", talkers={"count": [2, 2]}, splits={"train": 1.0, "dev": 0.0, "test": 0.0}
    )
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    assert validate(out, progress=False).problems == []
    manifest = out / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    true = rows[0]["labels"]["activity_overlap_ratio"]
    rows[0]["labels"]["activity_overlap_ratio"] = round(min(1.0, true + 0.2), 4)
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = validate(out, progress=False).problems
    assert [p for p in problems if "activity_overlap_ratio" in p] == [
        f"{rows[0]['id']}: activity_overlap_ratio label {rows[0]['labels']['activity_overlap_ratio']} but the files give {true:.4f}"
    ]
