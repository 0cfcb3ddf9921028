"""Several sources in one build: a Lhotse LibriSpeech catalog (declared splits), a NeMo manifest
(speakers without a split), DNS noise and RIRS_NOISES rooms. Speakers keep their declared split or
are split by seed, as the config says; both talkers of a scene share one room; the dataset validates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
from sources_kit import build_and_validate, catalog, noise_file, rir_file, speech_file

SPLITS = {"train": 0.4, "dev": 0.3, "test": 0.3}


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("mixed")
    # Lhotse manifests of a LibriSpeech copy: dev-clean (2 speakers) and train-clean-100 (3 speakers)
    manifests = tmp / "manifests"
    manifests.mkdir()
    for part, speakers in (("dev-clean", ("1272", "1462")), ("train-clean-100", ("19", "26", "27"))):
        recs, sups = [], []
        for s, speaker in enumerate(speakers):
            for u in range(2):
                utt = f"{speaker}-100-{u:04d}"
                audio = tmp / "LibriSpeech" / part / speaker / "100" / f"{utt}.flac"
                speech_file(audio, 1.6 + 0.2 * u, f0=100.0 + 25 * s + 10 * u, seed=100 * s + u + len(part))
                recs.append(Recording.from_file(audio))
                sups.append(SupervisionSegment(utt, utt, 0.0, recs[-1].duration, channel=0, text=f"WORDS {u}", speaker=speaker))
        RecordingSet.from_recordings(recs).to_file(manifests / f"librispeech_recordings_{part}.jsonl.gz")
        SupervisionSet.from_segments(sups).to_file(manifests / f"librispeech_supervisions_{part}.jsonl.gz")
    # a NeMo manifest: six speakers, no split; one long recording cut in two segments
    nemo = tmp / "nemo"
    lines = []
    for s in range(6):
        speech_file(nemo / f"talk{s}.wav", 4.0, f0=130.0 + 20 * s, seed=50 + s)
        lines += [
            {"audio_filepath": f"talk{s}.wav", "offset": 0.1, "duration": 1.8, "text": "first", "speaker": f"nemo{s}"},
            {"audio_filepath": f"talk{s}.wav", "offset": 2.1, "duration": 1.7, "text": "second", "speaker": f"nemo{s}"},
        ]
    (nemo / "manifest.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    # DNS noise and RIRS_NOISES rooms (two rooms of two positions each)
    for k in range(2):
        noise_file(tmp / "DNS" / "datasets_fullband" / "noise_fullband" / f"door_Freesound_validated_{k}.wav", 3.0, seed=k)
    small = tmp / "RIRS_NOISES" / "simulated_rirs" / "smallroom"
    listed = []
    for room in ("Room001", "Room002"):
        for k in (1, 2):
            rir_file(small / room / f"{room}-{k:05d}.wav", rt60=0.3 + 0.1 * k, seed=k + len(listed))
            listed.append(
                f"--rir-id smallroom-{room}-{k:05d} --room-id smallroom-{room} "
                f"RIRS_NOISES/simulated_rirs/smallroom/{room}/{room}-{k:05d}.wav"
            )
    (small / "rir_list").write_text("\n".join(listed) + "\n")

    out = {name: tmp / f"{name}.jsonl" for name in ("lhotse", "nemo", "noise", "rirs")}
    catalog("lhotse", manifests, out["lhotse"], audio_roots=(tmp / "LibriSpeech",))
    catalog("nemo", nemo / "manifest.json", out["nemo"])
    catalog("dns", tmp / "DNS", out["noise"], kind="noise")
    catalog("rirs_noises", tmp / "RIRS_NOISES", out["rirs"], kind="rir")
    return out


def test_catalogs_of_four_sources_build_one_dataset(catalogs: dict[str, Path], tmp_path: Path) -> None:
    rows = build_and_validate(
        tmp_path / "ds",
        [catalogs["lhotse"], catalogs["nemo"]],
        [catalogs["noise"]],
        [catalogs["rirs"]],
        task="separation",
        talkers={"count": [2, 2]},
        num_examples=12,
        splits=SPLITS,
    )
    rooms = json.loads("[" + ",".join(catalogs["rirs"].read_text().splitlines()) + "]")
    room_of = {clip["id"]: clip["room"] for clip in rooms}
    speakers: dict[str, set[str]] = {}
    for row in rows:
        used = [source["rir_clip"] for source in row["scene"]["sources"]]
        assert len({room_of[rir] for rir in used}) == 1, used  # both talkers in one room
        for segment in row["labels"]["segments"]:
            speakers.setdefault(row["split"], set()).add(segment["speaker"])
        assert "door_Freesound" in row["labels"]["noise_clip"]  # DNS noise
    assert {"1272", "1462"} & speakers["dev"] and speakers["dev"] <= {"1272", "1462"} | {f"nemo{s}" for s in range(6)}  # declared dev stay
    assert {"19", "26", "27"} & speakers["train"] and not {"19", "26", "27"} & (speakers["dev"] | speakers["test"])
    assert speakers["test"] and speakers["test"] <= {f"nemo{s}" for s in range(6)}  # no declared test: split by seed
    assert all(not (speakers[a] & speakers[b]) for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")))


def test_declared_splits_ignored_when_the_config_says_so(catalogs: dict[str, Path], tmp_path: Path) -> None:
    rows = build_and_validate(
        tmp_path / "ds",
        [catalogs["lhotse"], catalogs["nemo"]],
        [catalogs["noise"]],
        num_examples=16,
        splits={**SPLITS, "use_catalog_splits": False},
    )
    speakers: dict[str, set[str]] = {}
    for row in rows:
        speakers.setdefault(row["split"], set()).add(row["labels"]["speaker"])
    assert set(speakers) == {"train", "dev", "test"}
    declared_dev = {"1272", "1462"}
    assert declared_dev & (speakers["train"] | speakers["test"]) or not declared_dev <= speakers["dev"]
    assert all(not (speakers[a] & speakers[b]) for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")))


def test_noise_clips_keep_their_declared_split_with_disjoint_noise(catalogs: dict[str, Path], tmp_path: Path) -> None:
    from audiosynth.catalog import Clip, write_catalog

    clips = []
    for split in ("train", "dev", "test", None):
        for k in range(2):
            path = (
                noise_file(tmp_path / "wham" / f"{split}_{k}.wav", 3.0, seed=k + 7 * len(str(split))) is not None
                and f"wham/{split}_{k}.wav"
            )
            clips.append(Clip(f"{split}-{k}", str(path), "noise", 3.0, 16000, split=split))
    write_catalog(clips, tmp_path / "noise.jsonl")
    rows = build_and_validate(
        tmp_path / "ds", [catalogs["nemo"]], [tmp_path / "noise.jsonl"], num_examples=24, splits={**SPLITS, "disjoint_noise": True}
    )
    used: dict[str, set[str]] = {}
    for row in rows:
        used.setdefault(row["split"], set()).add(row["labels"]["noise_clip"])
    undeclared = {"None-0", "None-1"}
    for split in ("train", "dev", "test"):
        assert used[split] <= {f"{split}-0", f"{split}-1"} | undeclared, used  # declared noises stay in their split
    assert all(sum(clip in used[s] for s in used) <= 1 for clip in undeclared)  # an undeclared clip: one split at most
    ignored = build_and_validate(
        tmp_path / "ds2",
        [catalogs["nemo"]],
        [tmp_path / "noise.jsonl"],
        num_examples=24,
        splits={**SPLITS, "disjoint_noise": True, "use_catalog_splits": False},
    )
    assert any(row["labels"]["noise_clip"].split("-")[0] not in (row["split"], "None") for row in ignored)
