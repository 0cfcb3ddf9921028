"""Check a built dataset against its manifest: files, formats and labels re-measured."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from . import kernels
from .catalog import Catalog, read_catalog
from .audio import read_audio
from .scene import is_image_role

SNR_TOLERANCE_DB = 0.01
log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    """Problems found, one line each as ``<example id>: <what>``."""

    num_examples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.num_examples > 0

    def format(self) -> str:
        head = f"validated {self.num_examples} examples: " + ("OK" if self.ok else f"{len(self.problems)} problem(s)")
        return "\n".join([head, *(f"  {p}" for p in self.problems[:50])] + ([f"  ... {len(self.problems) - 50} more"] if len(self.problems) > 50 else []))


def iter_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Rows of a manifest.jsonl, read lazily."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def row_talkers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A manifest row's talker utterances (role, speaker, clip, text, start, end in s): its
    ``segments``, or one spanning a single-talker example; ``speaker`` may be None."""
    labels = row["labels"]
    if labels.get("segments"):
        return list(labels["segments"])
    if not labels.get("speech_clip"):
        return []
    return [{"role": row["scene"]["sources"][0]["role"], "speaker": labels.get("speaker"), "clip": labels["speech_clip"],
             "text": labels.get("text"), "start": 0.0, "end": row["duration"]}]


def speaker_name(talker: dict[str, Any]) -> str:
    """A talker's speaker; a clip with no speaker stands for its own."""
    return talker["speaker"] or f"clip:{talker['clip']}"


def row_speakers(row: dict[str, Any]) -> list[str]:
    """The speakers of a manifest row."""
    return [speaker_name(t) for t in row_talkers(row)]


Files = Callable[[str], "bytes | None"]  # a dataset file's bytes by the path a row gives (None: missing)


def folder_files(root: Path) -> Files:
    """`Files` of a folder dataset: paths relative to ``root``."""
    return lambda rel: (root / rel).read_bytes() if (root / rel).is_file() else None


def flac_md5_matches(data: bytes, samples: np.ndarray) -> bool:
    """Whether FLAC file ``data``'s STREAMINFO MD5 is that of ``samples`` (float ``(channels, N)`` as
    decoded), per the FLAC spec: MD5 of the samples as interleaved little-endian signed integers of
    the stream's bit depth, in whole bytes. True for a non-FLAC or an MD5 of zeros ("not computed")."""
    if data[:4] != b"fLaC" or len(data) < 42 or data[4] & 0x7F != 0:  # STREAMINFO is the first block
        return True
    stored = data[26:42]
    if stored == bytes(16):
        return True
    bits = ((int.from_bytes(data[18:26], "big") >> 36) & 0x1F) + 1
    width = (bits + 7) // 8
    ints = np.round(samples.T * 2.0 ** (bits - 1)).astype("<i4", order="C")  # interleaved: frame by frame
    pcm = ints.view(np.uint8).reshape(-1, 4)[:, :width] if width != 4 else ints.view(np.uint8)
    return hashlib.md5(np.ascontiguousarray(pcm).tobytes()).digest() == stored


def check_rttm(name: str, data: bytes | None, row: dict[str, Any]) -> list[str]:
    """The RTTM file exists, parses, and holds exactly the row's activity labels (to 1 ms)."""
    if data is None:
        return [f"rttm: missing file {name}"]
    try:
        turns = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in (line.split() for line in data.decode().splitlines()) if f]
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        return [f"rttm: unreadable {name} ({err})"]
    labelled = [(a["start"], a["end"], a["speaker"] or a["role"]) for a in row["labels"]["activity"]]
    if len(turns) != len(labelled) or any(abs(a[0] - b[0]) > 1e-3 or abs(a[1] - b[1]) > 2e-3 or a[2] != b[2] for a, b in zip(turns, labelled)):
        return [f"rttm: {name} does not match labels.activity"]
    return []


def check_against_catalog(row: dict[str, Any], speech: Catalog) -> list[str]:
    """Every segment's speaker and text are its catalog clip's; the enrollment is another
    utterance of the target speaker, absent from the mixture."""
    labels, problems = row["labels"], []
    talkers = row_talkers(row)
    for seg in talkers:
        if seg["clip"] not in speech:
            problems.append(f"clip {seg['clip']!r} is not in the speech catalogs")
            continue
        clip = speech.by_id(seg["clip"])
        if seg["speaker"] != clip.speaker or (seg["text"] is not None and seg["text"] != clip.text):
            problems.append(f"segment of {seg['clip']}: speaker/text differ from the catalog")
    if "enrollment_clip" in labels:
        enrolled = speech.by_id(labels["enrollment_clip"]) if labels["enrollment_clip"] in speech else None
        if enrolled is None or enrolled.speaker != labels["target_speaker"] or enrolled.id in {t["clip"] for t in talkers}:
            problems.append("enrollment is not another utterance of the target speaker")
    return problems


def _speech_catalog(root: Path) -> Catalog | None:
    """The speech catalogs named in build.json, when they can still be read."""
    try:
        paths = json.loads((root / "build.json").read_text())["config"]["catalogs"]["speech"]
        return Catalog.merge([read_catalog(p) for p in paths])
    except (OSError, KeyError, ValueError):
        return None


def check_row(root: Path, row: dict[str, Any], files: Files | None = None) -> list[str]:
    """Every problem of one manifest row (empty when it is consistent); ``files`` reads the
    row's files (default: the folder ``root``; a tar shard's members for a sharded dataset)."""
    files = files or folder_files(root)
    problems: list[str] = []
    audio: dict[str, np.ndarray] = {}
    infos: dict[str, Any] = {}
    expected_frames = int(round(row["duration"] * row["sample_rate"]))
    for role, rel in row["audio"].items():
        data = files(rel)
        if data is None:
            problems.append(f"{role}: missing file {rel}")
            continue
        try:
            info = infos[role] = sf.info(io.BytesIO(data))
            audio[role], _ = read_audio(io.BytesIO(data))
        except (sf.LibsndfileError, RuntimeError) as err:
            problems.append(f"{role}: unreadable {rel} ({err})")
            continue
        if not flac_md5_matches(data, audio[role]):
            problems.append(f"{role}: FLAC STREAMINFO MD5 does not match its samples")
        if info.samplerate != row["sample_rate"]:
            problems.append(f"{role}: sample rate {info.samplerate} != {row['sample_rate']}")
        if role == "enrollment":
            expected = int(round(row["labels"].get("enrollment_duration", 0) * row["sample_rate"]))
            if info.frames != expected:
                problems.append(f"enrollment: {info.frames} frames != labels.enrollment_duration")
        elif info.frames != expected_frames:
            problems.append(f"{role}: {info.frames} frames != duration {row['duration']} s x {row['sample_rate']} Hz")
        if role == "mix" and info.channels != row.get("num_channels", 1):
            problems.append(f"mix: {info.channels} channels != {row.get('num_channels')}")
    if problems or "mix" not in audio:
        return problems or ["no mix"]
    images = [x for role, x in audio.items() if is_image_role(role)]
    if images:
        residual = np.max(np.abs(audio["mix"] - sum(images)))
        step = 2.0**-15 if "PCM_16" in infos["mix"].subtype else 1e-6
        if residual > step * 1.01:
            problems.append(f"mix != sum of images + noise (max residual {residual:.3g})")
    label = row["labels"].get("snr_db")
    if label is not None and "noise" in audio:
        speech = sum(x for role, x in audio.items() if is_image_role(role) and role != "noise")
        measured = kernels.power_ratio_db(speech, audio["noise"])
        if abs(measured - label) > SNR_TOLERANCE_DB:
            problems.append(f"snr_db label {label:.3f} but the files give {measured:.3f}")
    sir = row["labels"].get("sir_db")
    if isinstance(sir, dict):
        for role, value in sir.items():
            others = sum(x for r, x in audio.items() if r in sir and r != role)
            measured = kernels.power_ratio_db(audio[role], others)
            if abs(measured - value) > SNR_TOLERANCE_DB:
                problems.append(f"sir_db[{role}] label {value:.3f} but the files give {measured:.3f}")
    activity = row["labels"].get("activity")
    if activity is not None:
        name = row.get("rttm", f"{row['id']}.rttm")
        problems.extend(check_rttm(name, files(name) if "rttm" in row else None, row))
        rate = row["sample_rate"]
        threshold = row["scene"].get("activity_db", -40.0)
        for role in dict.fromkeys(a["role"] for a in activity):
            measured = [(a / rate, b / rate) for a, b in kernels.activity_segments(audio[role][0], rate, threshold)]
            labelled = [(a["start"], a["end"]) for a in activity if a["role"] == role]
            if len(measured) != len(labelled) or any(abs(m - l) > 0.01 for pm, pl in zip(measured, labelled) for m, l in zip(pm, pl)):
                problems.append(f"activity of {role}: the labels differ from the activity measured on the file by more than 10 ms")
    segments = row["labels"].get("segments")
    if segments:
        rate = row["sample_rate"]
        measured = kernels.overlap_ratio([(round(seg["start"] * rate), round(seg["end"] * rate)) for seg in segments])
        if abs(measured - row["labels"]["overlap_ratio"]) > 1e-3:
            problems.append(f"overlap_ratio label {row['labels']['overlap_ratio']} but the segments give {measured:.4f}")
    return problems


def validate(out_dir: str | os.PathLike[str], progress: bool = True) -> ValidationReport:
    """Check every example of the dataset in ``out_dir``; also that no speaker crosses splits."""
    root = Path(out_dir)
    report = ValidationReport()
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        report.problems.append(f"{manifest}: missing (the build did not complete)")
        return report
    build_info = root / "build.json"
    info = json.loads(build_info.read_text()) if build_info.is_file() else {}
    if info.get("status") != "complete":
        report.problems.append(f"{build_info}: missing or not marked complete")
    speech = _speech_catalog(root)
    if speech is None:
        log.warning("%s: speech catalogs unreadable: transcripts and enrollments not checked", root)
    speaker_splits: dict[str, set[str]] = {}
    seen: set[str] = set()
    for row, files in tqdm(_examples(root, manifest, info, report), desc="validate", unit="ex", disable=not progress):
        report.num_examples += 1
        if row["id"] in seen:
            report.problems.append(f"{row['id']}: duplicate id")
        seen.add(row["id"])
        report.problems.extend(f"{row['id']}: {p}" for p in check_row(root, row, files))
        if speech is not None:
            report.problems.extend(f"{row['id']}: {p}" for p in check_against_catalog(row, speech))
        for speaker in row_speakers(row):
            speaker_splits.setdefault(speaker, set()).add(row["split"])
    for speaker, splits in sorted(speaker_splits.items()):
        if len(splits) > 1:
            report.problems.append(f"speaker {speaker!r} appears in splits {sorted(splits)}")
    return report


def _examples(root: Path, manifest: Path, info: dict[str, Any], report: ValidationReport) -> Iterator[tuple[dict[str, Any], Files]]:
    """Each manifest row and how to read its files: from the folder, or (a WebDataset-sharded
    dataset, per ``info`` from build.json) from the members of its tar, streamed tar by tar in the manifest's order."""
    if info.get("format") != "audiosynth-webdataset":  # shards.SHARDS_FORMAT (shards imports this module)
        for row in iter_manifest(manifest):
            yield row, folder_files(root)
        return
    from .shards import iter_tar_examples  # shards imports this module

    tars: dict[str, Iterator[tuple[dict[str, Any], dict[str, bytes]]]] = {}
    for row in iter_manifest(manifest):
        if "shard" not in row:
            report.problems.append(f"{row['id']}: no 'shard' in a sharded dataset's row")
            continue
        if row["shard"] not in tars:
            tars = {row["shard"]: iter_tar_examples(root / row["shard"])}  # one open tar at a time
        member_row, members = next(tars[row["shard"]], (None, {}))
        if member_row is None or member_row["id"] != row["id"]:
            report.problems.append(f"{row['id']}: not the next example of {row['shard']} (found {member_row and member_row['id']})")
            continue
        yield row, members.get

