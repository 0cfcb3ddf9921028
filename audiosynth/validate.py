"""Check a built dataset against its manifest: files, formats and labels re-measured."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from . import kernels
from .catalog import Catalog, read_catalog
from .audio import audio_mismatches, read_dataset_audio
from .errors import DatasetError
from .scene import is_image_role
from .trust import manifest_lines, show, read_build_info, read_rows

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
    """Rows of a manifest.jsonl, read lazily, NOT checked (readers of untrusted datasets use
    `audiosynth.trust.read_rows`); a line that is not JSON raises a one-line `DatasetError`."""
    for _, row in manifest_lines(Path(path)):
        if isinstance(row, DatasetError):
            raise row
        yield row


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
        if seg["speaker"] != clip.speaker or (seg.get("text") is not None and seg["text"] != clip.text):
            problems.append(f"segment of {seg['clip']}: speaker/text differ from the catalog")
    if "enrollment_clip" in labels:
        enrolled = speech.by_id(labels["enrollment_clip"]) if labels["enrollment_clip"] in speech else None
        if enrolled is None or enrolled.speaker != labels["target_speaker"] or enrolled.id in {t["clip"] for t in talkers}:
            problems.append("enrollment is not another utterance of the target speaker")
    return problems


def speech_catalog(root: Path) -> Catalog | None:
    """The speech catalogs named in build.json, when they can still be read."""
    try:
        paths = read_build_info(root)["config"]["catalogs"]["speech"]
        if not all(isinstance(p, str) and Path(p).is_file() for p in paths):  # untrusted: no FIFO or device (/dev/zero)
            return None
        return Catalog.merge([read_catalog(p) for p in paths])
    except (OSError, KeyError, ValueError, TypeError, DatasetError):
        return None


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
    label = _number_label(row, "snr_db", problems)
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
    overlap = _number_label(row, "activity_overlap_ratio", problems)
    if overlap is not None and activity is None and isinstance(sir, dict):  # several talkers outside a session
        rate, threshold = row["sample_rate"], row["scene"].get("activity_db", -40.0)
        spans = [span for role in sir for span in kernels.activity_segments(audio[role][0], rate, threshold)]
        measured = kernels.overlap_ratio(spans)
        if abs(measured - overlap) > 1e-3:
            problems.append(f"activity_overlap_ratio label {overlap} but the files give {measured:.4f}")
    segments = row["labels"].get("segments")
    if segments:
        rate = row["sample_rate"]
        measured = kernels.overlap_ratio([(round(seg["start"] * rate), round(seg["end"] * rate)) for seg in segments])
        if abs(measured - row["labels"]["overlap_ratio"]) > 1e-3:
            problems.append(f"overlap_ratio label {row['labels']['overlap_ratio']} but the segments give {measured:.4f}")
    return problems


@dataclass(frozen=True)
class LabelRange:
    """A configured range ``[low, high]`` (config field ``name``) and the labels of a row that it
    bounds; ``tolerance`` widens it for what the labels measure (rounding, or a fit for RT60)."""

    name: str
    low: float
    high: float
    tolerance: float
    values: Callable[[dict[str, Any]], list[float]]
    hint: str = ""  # what to do about a value outside, when there is a usual cause

    def outside(self, value: float) -> bool:
        return not self.low - self.tolerance <= value <= self.high + self.tolerance


def _labels(*keys: str, minus: str | None = None) -> Callable[[dict[str, Any]], list[float]]:
    """The first of ``keys`` that a row's labels hold (a number), less the label ``minus``."""
    def values(row: dict[str, Any]) -> list[float]:
        labels = row.get("labels") or {}
        for key in keys:
            value = labels.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return [float(value) - (float(labels.get(minus) or 0.0) if minus else 0.0)]
        return []
    return values


def _sirs(row: dict[str, Any]) -> list[float]:
    """Talker k > 1 against talker 1 (what talkers.sir_db draws): s1_dbfs - sk_dbfs, exact for
    RMS over the same samples (10·log10(Σ s1² / Σ sk²))."""
    labels = row.get("labels") or {}
    roles = [r for r in (labels.get("sir_db") or {}) if r != "s1"] if isinstance(labels.get("sir_db"), dict) else []
    return [labels["s1_dbfs"] - labels[f"{r}_dbfs"] for r in roles if f"{r}_dbfs" in labels and "s1_dbfs" in labels]


def _duration(row: dict[str, Any]) -> list[float]:
    return [float(row["duration"])]


def _overlap_targeted(speech: Catalog | None) -> Callable[[dict[str, Any]], list[float]]:
    """The overlap label that ratio mode met for a row: the speech overlap measured on the images
    (``activity_overlap_ratio``) when every talker's clip has catalog activity, that of whole
    utterances (``overlap_ratio``) when none has; nothing when some have (neither was targeted).
    Without the speech catalogs (moved or unreadable): ``activity_overlap_ratio``."""
    def values(row: dict[str, Any]) -> list[float]:
        if speech is None:
            return _labels("activity_overlap_ratio")(row)
        clips = [speech.by_id(seg["clip"]) for seg in row_talkers(row) if seg["clip"] in speech]
        with_activity = {c.active is not None for c in clips}
        if len(with_activity) != 1:
            return []
        return _labels("activity_overlap_ratio" if with_activity.pop() else "overlap_ratio")(row)
    return values


def label_ranges(config: dict[str, Any], speech: Catalog | None = None) -> list[LabelRange]:
    """The configured ranges (of build.json's ``config``) that bound measured labels, each with
    its tolerance: SNR and SIR 0.1 dB (rounding of the written grid), the speech level 0.1 dB
    (``speech_level_dbfs`` label less the common ``gain_db``), the overlap 0.05 (10 ms activity
    frames; which overlap: see `_overlap_targeted` over the ``speech`` catalogs), duration one sample, the RT60 of simulated rooms 0.05 s + 5 % of the range's top
    (``rt60_s`` is a T20 fit of the RIR made, not the value asked for: within 0.035 s of it)."""
    if not config:
        return []
    task = config.get("task", "denoising")
    talkers, reverb = config.get("talkers") or {}, config.get("reverb") or {}
    room = reverb.get("room") or {}
    multi = task != "diarization" and (talkers.get("count") or [1, 1])[1] > 1
    rate = float(config.get("sample_rate") or 16000)
    wanted: list[tuple[str, Any, float, Callable[[dict[str, Any]], list[float]]]] = []
    if config.get("noise_probability", 1.0) > 0:
        wanted.append(("snr_db", config.get("snr_db"), 0.1, _labels("snr_db")))
    if task != "diarization":
        wanted.append(("speech_level_dbfs", config.get("speech_level_dbfs"), 0.1, _labels("speech_level_dbfs", minus="gain_db")))
        if not multi and task != "asr":  # several talkers or whole transcribed utterances set the length
            wanted.append(("duration_s", config.get("duration_s"), 1.0 / rate, _duration))
    if multi:
        wanted.append(("talkers.sir_db", talkers.get("sir_db"), 0.1, _sirs))
        if talkers.get("overlap") == "ratio":
            wanted.append(("talkers.overlap_ratio", talkers.get("overlap_ratio"), 0.05, _overlap_targeted(speech)))
    if reverb.get("probability", 0) > 0 and reverb.get("source") == "simulated" and room.get("wall_absorption") is None and room.get("rt60_s"):
        wanted.append(("reverb.room.rt60_s", room["rt60_s"], 0.05 + 0.05 * float(room["rt60_s"][1]), _labels("rt60_s", "s1_rt60_s")))
    hints = {"talkers.overlap_ratio": "; ratio mode meets it when the speech catalogs carry activity ('active', written by audiosynth catalog)"}
    return [LabelRange(name, float(span[0]), float(span[1]), tol, values, hints.get(name, "")) for name, span, tol, values in wanted if span is not None]


def check_label_ranges(row: dict[str, Any], ranges: list[LabelRange]) -> list[str]:
    """One problem per label of ``row`` outside its configured range (see `label_ranges`)."""
    return [f"{r.name} label {v:.4g} outside the configured range [{r.low:g}, {r.high:g}] (tolerance {r.tolerance:.3g}){r.hint}"
            for r in ranges for v in r.values(row) if r.outside(v)]


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
    sharded = info.get("format") == "audiosynth-webdataset"  # shards.SHARDS_FORMAT (shards imports this module)
    rows = read_rows(root, sharded=sharded, problems=report.problems)  # a bad row is a problem line, and skipped
    if not sharded:
        for row in rows:
            yield row, folder_files(root)
        return
    from .shards import check_listed, check_tar_example, shard_urls, tar_examples  # shards imports this module

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
        if where is None or found != row["id"]:
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

