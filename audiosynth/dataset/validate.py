"""Check a built dataset against its manifest: files, formats and labels re-measured."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..catalog import Catalog
from ..dsp import kernels
from ..errors import DatasetError
from ..io.audio import audio_mismatches, read_dataset_audio
from ..names import is_number
from ..render.channel import mixture_measures
from ..render.levels import scene_level_definition
from ..scene import DISTORTION_ROLE, is_image_role
from .ranges import check_label_ranges, label_ranges, speech_catalog, texts_known
from .rows import row_speakers, row_talkers
from .trust import read_build_info, read_rows, show
from .webdataset import SHARDS_FORMAT, check_listed, check_tar_example, shard_urls, tar_examples

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
        more = [f"  ... {len(self.problems) - 50} more"] if len(self.problems) > 50 else []
        return "\n".join([head, *(f"  {p}" for p in self.problems[:50]), *more])


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
    if len(turns) != len(labelled) or any(
        abs(a[0] - b[0]) > 1e-3 or abs(a[1] - b[1]) > 2e-3 or a[2] != b[2] for a, b in zip(turns, labelled, strict=True)
    ):
        return [f"rttm: {name} does not match labels.activity"]
    return []


def check_against_catalog(row: dict[str, Any], speech: Catalog, texts: bool = True) -> list[str]:
    """Every segment's speaker and (with ``texts``) text are its catalog clip's; the enrollment is
    another utterance of the target speaker, absent from the mixture."""
    labels, problems = row["labels"], []
    talkers = row_talkers(row)
    for seg in talkers:
        if seg["clip"] not in speech:
            problems.append(f"clip {seg['clip']!r} is not in the speech catalogs")
            continue
        clip = speech.by_id(seg["clip"])
        if seg["speaker"] != clip.speaker or (texts and seg.get("text") is not None and seg["text"] != clip.text):
            problems.append(f"segment of {seg['clip']}: speaker/text differ from the catalog")
    if "enrollment_clip" in labels:
        enrolled = speech.by_id(labels["enrollment_clip"]) if labels["enrollment_clip"] in speech else None
        if enrolled is None or enrolled.speaker != labels["target_speaker"] or enrolled.id in {t["clip"] for t in talkers}:
            problems.append("enrollment is not another utterance of the target speaker")
    return problems


def _number_label(row: dict[str, Any], key: str, problems: list[str]) -> float | None:
    """Label ``key`` of ``row`` when it is a finite number; None when absent or null, or (with a
    problem ``labels.<key> <value>: not a number`` appended) when it is anything else."""
    value = row["labels"].get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"labels.{key} {show(value)}: not a number")
        return None
    return float(value)


def _check_channel(row: dict[str, Any], audio: dict[str, np.ndarray]) -> list[str]:
    """A chained example's ``channel`` labels measured on its mixture file again: the effective
    bandwidth (within 1 Hz) and the clipped share (within 1e-6)."""
    channel = row["labels"].get("channel")
    if not isinstance(channel, dict):
        return []
    problems = []
    measured = mixture_measures(audio["mix"], row["sample_rate"])
    for name, tolerance in (("bandwidth_hz", 1.0), ("clipped_fraction", 1e-6)):
        label = channel.get(name)
        if not is_number(label):
            problems.append(f"channel.{name}: missing or not a number")
        elif abs(measured[name] - label) > tolerance:
            problems.append(f"channel.{name} label {label:g} but the mixture file gives {measured[name]:g}")
    return problems


def check_row(root: Path, row: dict[str, Any], files: Files | None = None) -> list[str]:
    """Every problem of one manifest row (empty when it is consistent); ``files`` reads the
    row's files (default: the folder ``root``; a tar shard's members for a sharded dataset)."""
    files = files or folder_files(root)
    problems: list[str] = []
    audio: dict[str, np.ndarray] = {}
    infos: dict[str, Any] = {}
    for role, rel in row["audio"].items():
        data = files(rel)
        if data is None:
            problems.append(f"{role}: missing file {rel}")
            continue
        try:
            stored = read_dataset_audio(data, row, role, dtype="float64", strict=False)  # the readers' one decoder: NaN refused
        except DatasetError as err:
            problems.append(str(err))
            continue
        audio[role], infos[role] = stored.data.T, stored
        problems.extend(audio_mismatches(row, role, stored.sample_rate, stored.frames, stored.channels))
        if not flac_md5_matches(data, audio[role]):
            problems.append(f"{role}: FLAC STREAMINFO MD5 does not match its samples")
    if problems or "mix" not in audio:
        return problems or ["no mix"]
    images = [x for role, x in audio.items() if is_image_role(role)]
    if images:
        residual = np.max(np.abs(audio["mix"] - sum(images)))
        step = 2.0**-15 if "PCM_16" in infos["mix"].subtype else 1e-6
        if residual > step * 1.01:
            problems.append(f"mix != sum of images + noise (max residual {residual:.3g})")
    level = scene_level_definition(row["scene"])  # the SNR / SIR definition the example's gains used
    label = _number_label(row, "snr_db", problems)
    if label is not None and "noise" in audio:
        speech = sum(x for role, x in audio.items() if is_image_role(role) and role not in ("noise", DISTORTION_ROLE))
        measured = level.ratio_db(speech, audio["noise"])
        if abs(measured - label) > SNR_TOLERANCE_DB:
            problems.append(f"snr_db label {label:.3f} but the files give {measured:.3f}")
    problems.extend(_check_channel(row, audio))
    sir = row["labels"].get("sir_db")
    if isinstance(sir, dict):
        for role, value in sir.items():
            others = sum(x for r, x in audio.items() if r in sir and r != role)
            measured = level.ratio_db(audio[role], others)
            if abs(measured - value) > SNR_TOLERANCE_DB:
                problems.append(f"sir_db[{role}] label {value:.3f} but the files give {measured:.3f}")
    activity = row["labels"].get("activity")
    if activity is not None:
        name = row.get("rttm", f"{row['id']}.rttm")
        problems.extend(check_rttm(name, files(name) if "rttm" in row else None, row))
        rate = row["sample_rate"]
        threshold = row["scene"].get("activity_db", -40.0)
        for role in dict.fromkeys(a["role"] for a in activity):
            spans = [(a / rate, b / rate) for a, b in kernels.activity_segments(audio[role][0], rate, threshold)]
            labelled = [(a["start"], a["end"]) for a in activity if a["role"] == role]
            if len(spans) != len(labelled) or any(
                abs(m - n) > 0.01 for pm, pl in zip(spans, labelled, strict=True) for m, n in zip(pm, pl, strict=True)
            ):
                problems.append(f"activity of {role}: the labels differ from the activity measured on the file by more than 10 ms")
    overlap = _number_label(row, "activity_overlap_ratio", problems)
    if overlap is not None and activity is None and isinstance(sir, dict):  # several talkers outside a session
        rate, threshold = row["sample_rate"], row["scene"].get("activity_db", -40.0)
        measured = kernels.activity_overlap_ratio([audio[role][0] for role in sir], rate, threshold)
        if abs(measured - overlap) > 1e-3:
            problems.append(f"activity_overlap_ratio label {overlap} but the files give {measured:.4f}")
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
    try:
        info = read_build_info(root)
    except DatasetError as err:
        report.problems.append(str(err))
        info = {}
    if info.get("status") != "complete":
        report.problems.append(f"{build_info}: missing or not marked complete")
    speech = speech_catalog(root)
    if speech is None:
        log.warning("%s: speech catalogs unreadable: transcripts and enrollments not checked", root)
    texts = texts_known(info.get("config") or {})
    if speech is not None and not texts:
        log.warning("%s: transcripts not compared with the catalogs (catalogs.text_norm is a user's function)", root)
    ranges = label_ranges(info.get("config") or {}, speech)
    speaker_splits: dict[str, set[str]] = {}
    seen: set[str] = set()
    for row, files in tqdm(_examples(root, manifest, info, report), desc="validate", unit="ex", disable=not progress):
        report.num_examples += 1
        if row["id"] in seen:
            report.problems.append(f"{row['id']}: duplicate id")
        seen.add(row["id"])
        try:
            report.problems.extend(f"{row['id']}: {p}" for p in check_row(root, row, files))
            report.problems.extend(f"{row['id']}: {p}" for p in check_label_ranges(row, ranges))
        except (KeyError, TypeError, ValueError, IndexError) as err:  # a row that passed the trust checks, inconsistent within
            report.problems.append(f"{row['id']}: malformed row ({type(err).__name__}: {show(err)})")
        if speech is not None:
            report.problems.extend(f"{row['id']}: {p}" for p in check_against_catalog(row, speech, texts))
        for speaker in row_speakers(row):
            speaker_splits.setdefault(speaker, set()).add(row["split"])
    for speaker, splits in sorted(speaker_splits.items()):
        if len(splits) > 1:
            report.problems.append(f"speaker {speaker!r} appears in splits {sorted(splits)}")
    return report


def _examples(root: Path, manifest: Path, info: dict[str, Any], report: ValidationReport) -> Iterator[tuple[dict[str, Any], Files]]:
    """Each manifest row and how to read its files: from the folder, or (a WebDataset-sharded
    dataset, per ``info`` from build.json) from the members of its tar, streamed tar by tar in the manifest's order."""
    sharded = info.get("format") == SHARDS_FORMAT
    rows = read_rows(root, sharded=sharded, problems=report.problems)  # a bad row is a problem line, and skipped
    if not sharded:
        for row in rows:
            yield row, folder_files(root)
        return
    listed = None
    try:  # shards.json, what ShardDataset reads: safe names, the manifest's tars
        listed = [Path(url).name for url in shard_urls(root)] if (root / "shards.json").exists() else None
    except DatasetError as err:
        report.problems.append(str(err))
    named: list[str] = []
    tars: dict[str, Iterator[tuple[str, Any, dict[str, bytes]]]] = {}
    for row in rows:
        if row["shard"] not in tars:
            tars = {row["shard"]: tar_examples(root / row["shard"])}  # one open tar at a time
            named.append(Path(row["shard"]).name)
        try:
            where, member_row, members = next(tars[row["shard"]], (None, None, {}))
        except DatasetError as err:
            report.problems.append(f"{row['id']}: {err}")
            tars = {row["shard"]: iter([])}
            continue
        found = member_row.get("id") if isinstance(member_row, dict) else None
        if where is None or not isinstance(member_row, dict) or found != row["id"]:
            report.problems.append(f"{row['id']}: not the next example of {row['shard']} (found {show(found)})")
            continue
        try:
            check_tar_example(where, member_row, members)
            check_listed(where, member_row, row["shard"], row, manifest)
        except DatasetError as err:
            report.problems.append(f"{row['id']}: {err}")
            continue
        yield row, members.get
    if listed is not None and listed != list(dict.fromkeys(named)):
        report.problems.append(f"{root / 'shards.json'}: lists tars {show(listed)}, the manifest's rows are in {show(named)}")
