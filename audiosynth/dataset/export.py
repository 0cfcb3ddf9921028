"""Export a built dataset to the manifests other toolkits read: NeMo, Lhotse, Kaldi, Hugging
Face audiofolder, RTTM.

Every format reads ``manifest.jsonl`` and writes files per split under ``out_dir``; the audio
is referenced where it lies (absolute paths, or paths relative to ``out_dir`` with
``absolute_paths=False``), except ``hf``, which hard-links (or copies) the files into the
export folder. A row that a format cannot carry (no transcript, no talker segments, no file
for the role asked for) is skipped and listed in the summary with its reason; a dataset with
no row to carry is refused with :class:`~audiosynth.errors.DatasetError` naming the format and
the missing label.

Reader-side notes, per format:

- ``nemo``: ``{split}_manifest.json``, JSON lines. ASR lines: ``audio_filepath``, ``offset``,
  ``duration``, ``text``; the transcript of the exported role (``labels.text`` of a single
  talker, or the segments of talker ``sK`` when ``role="sK"``); a mixture of several talkers
  has no single transcript and is skipped. Diarization datasets give NeMo's diarization lines
  of the mixture instead (``label: infer``, ``text: "-"``, ``num_speakers``, ``rttm_filepath``,
  ``uem_filepath: null``). NeMo's own path-list script pairs audio and RTTM by base name;
  these lines name the RTTM explicitly (``train-000000.mix.flac`` /
  ``train-000000.rttm``).
- ``lhotse``: ``audiosynth_{recordings,supervisions,cuts}_{split}.jsonl.gz``: one Recording
  per example (all channels of the role's file), one SupervisionSegment per talker segment
  (speaker, text, start, duration; all channels), or one covering a single-talker example;
  cuts are ``CutSet.from_manifests`` (cut id = example id). Relative paths resolve against
  the reader's working directory.
- ``kaldi``: a data directory per split: ``wav.scp``, ``segments``, ``utt2spk``,
  ``spk2utt``, ``text``, ``reco2dur``. Kaldi itself reads only WAV, so other files are
  written as ``sox PATH -t wav - |`` pipes (``lhotse.kaldi.load_kaldi_data_dir`` runs them).
  Utterance ids are ``{speaker}-{example id}[-{k}]`` so that utt2spk is sorted both ways;
  a single-talker utterance spans its whole recording. ``text`` holds only the utterances
  with a transcript. Multi-channel files: Kaldi tools read the first channel.
- ``hf``: a Hugging Face ``audiofolder``: ``{split}/metadata.jsonl`` beside the split's audio
  (``file_name`` relative), with id, duration, sample_rate and the labels as columns (nested
  dicts such as ``sir_db`` as JSON strings). ``datasets`` maps the folder ``dev`` to the split
  ``validation``.
- ``rttm``: ``{split}.rttm`` and ``{split}.uem`` (file id = example id): the measured speech
  activity of diarization datasets, else the talker segments (utterance bounds); refused for
  single-talker datasets.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import DatasetError
from ..io.files import TMP_SUFFIX, output_errors, write_atomic
from .rows import row_talkers, speaker_name
from .trust import check_token, dataset_file, has_control, read_build_info, read_rows
from .webdataset import SHARDS_FORMAT

log = logging.getLogger(__name__)

Row = dict[str, Any]


@dataclass
class ExportSummary:
    """What an export wrote: examples per split, files, and the rows it skipped (id, reason)."""

    format: str
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def format_text(self) -> str:
        """A short human-readable account."""
        counts = ", ".join(f"{split} {n}" for split, n in self.counts.items())
        head = f"exported {sum(self.counts.values())} examples to {self.format} in {self.out_dir} ({counts}); {len(self.files)} files"
        return "\n".join([head] + [f"  skipped {i}: {why}" for i, why in self.skipped[:20]])


@dataclass
class _Context:
    """What every format writer gets: the dataset, the role and the path style."""

    root: Path
    out_dir: Path  # where the export will lie (relative paths are relative to it)
    role: str
    absolute_paths: bool
    write_dir: Path = Path()  # where the writers write: a staging folder inside out_dir, moved into place at the end

    def source(self, row: Row, field: str) -> Path:
        """The dataset file a row's ``field`` (``audio.<role>``, ``rttm``) names, checked to be a regular file."""
        rel = row["audio"][field[len("audio.") :]] if field.startswith("audio.") else row[field]
        return dataset_file(self.root, rel, f"{self.root / 'manifest.jsonl'} (id {row['id']})", field)

    def written_path(self, path: Path) -> str:
        """``path`` (symlinks resolved) as the export writes it: absolute or relative to ``out_dir``."""
        real = os.path.realpath(path)  # unlike Path.resolve, never raises (a symlink loop is refused by `source`)
        return real if self.absolute_paths else os.path.relpath(real, os.path.realpath(self.out_dir))

    def audio_path(self, row: Row) -> str:
        """Path of the row's audio for the role, absolute or relative to ``out_dir``."""
        return self.written_path(self.source(row, f"audio.{self.role}"))


@dataclass
class _Talker:
    """One talker utterance of an example: speaker, text, bounds (s) and role."""

    speaker: str
    text: str | None
    start: float
    end: float
    role: str


def talkers(row: Row) -> list[_Talker]:
    """The row's talker segments in time order, or one segment over a single-talker example."""
    segs = [_Talker(speaker_name(t), t.get("text"), t["start"], t["end"], t["role"]) for t in row_talkers(row)]
    return sorted(segs, key=lambda t: (t.start, t.role))


def role_text(row: Row, role: str) -> str | None:
    """The transcript of the audio of ``role``: a single talker's text, or talker ``sK``'s
    segment texts in time order; ``None`` when there is none (or several talkers are mixed)."""
    labels = row["labels"]
    if not labels.get("segments"):
        return labels.get("text")
    own = [t for t in talkers(row) if t.role == role]
    texts = [t.text for t in own if t.text is not None]
    if not own or len(texts) < len(own):
        return None
    return " ".join(texts)


def _jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write JSON lines atomically (temporary name, rename; a full disk leaves nothing at ``path``)."""
    write_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8"))
    return path


def _lines(path: Path, lines: Iterable[str]) -> Path:
    """Write text lines atomically; a line holding a control character (a newline, ...) is refused."""
    lines = list(lines)
    for line in lines:
        if has_control(line):
            raise DatasetError(f"{path}: line {line[:60]!r}...: holds a control character")
    write_atomic(path, "".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path


def _mkdir(path: Path) -> Path:
    with output_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


# --- formats: each takes (context, rows of one split, split, summary) and returns the rows written


def _nemo(ctx: _Context, rows: list[Row], split: str, summary: ExportSummary) -> int:
    records = []
    for row in rows:
        base = {"audio_filepath": ctx.audio_path(row), "offset": 0.0, "duration": row["duration"]}
        if "activity" in row["labels"] and ctx.role == "mix":
            speakers = {a["speaker"] or a["role"] for a in row["labels"]["activity"]}
            rttm_path = ctx.written_path(ctx.source(row, "rttm"))
            records.append(
                {**base, "label": "infer", "text": "-", "num_speakers": len(speakers), "rttm_filepath": rttm_path, "uem_filepath": None}
            )
            continue
        text = role_text(row, ctx.role)
        if text is None:
            summary.skipped.append((row["id"], f"nemo: no transcript (labels.text) for role {ctx.role!r}"))
            continue
        records.append({**base, "text": text})
    if records:
        summary.files.append(_jsonl(ctx.write_dir / f"{split}_manifest.json", records))
    return len(records)


def _lhotse(ctx: _Context, rows: list[Row], split: str, summary: ExportSummary) -> int:
    from lhotse import (
        CutSet,
        Recording,
        RecordingSet,
        SupervisionSegment,
        SupervisionSet,
    )

    recordings, supervisions = [], []
    for row in rows:
        rec = Recording.from_file(ctx.audio_path(row), recording_id=row["id"])
        channel: int | list[int] = 0 if rec.num_channels == 1 else list(range(rec.num_channels))
        for k, t in enumerate(talkers(row)):
            supervisions.append(
                SupervisionSegment(
                    id=f"{row['id']}-{k:03d}",
                    recording_id=row["id"],
                    start=t.start,
                    duration=round(t.end - t.start, 7),
                    channel=channel,
                    text=t.text,
                    speaker=t.speaker,
                    custom={"role": t.role},
                )
            )
        recordings.append(rec)
    recording_set, supervision_set = RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)
    cuts = CutSet.from_manifests(recordings=recording_set, supervisions=supervision_set)
    for name, manifest in (("recordings", recording_set), ("supervisions", supervision_set), ("cuts", cuts)):
        path = ctx.write_dir / f"audiosynth_{name}_{split}.jsonl.gz"
        tmp = path.with_name(f"{path.name}{TMP_SUFFIX}.jsonl.gz")  # lhotse picks the format by the suffix
        with output_errors(tmp):
            try:
                manifest.to_file(tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        os.replace(tmp, path)
        summary.files.append(path)
    return len(recordings)


def _kaldi_id(text: str, row_id: str = "?", field: str = "speaker") -> str:
    """A Kaldi/RTTM field: refused if it holds whitespace or a control character (it would shift or add fields or lines)."""
    return check_token(text, f"row {row_id}", field)


def _kaldi(ctx: _Context, rows: list[Row], split: str, summary: ExportSummary) -> int:
    wav_scp, segments, utt2spk, texts, reco2dur = [], [], [], [], []
    spk2utt: dict[str, list[str]] = defaultdict(list)
    written = 0
    for row in rows:
        if not talkers(row):
            summary.skipped.append((row["id"], "kaldi: no speaker (labels.speaker or labels.segments)"))
            continue
        written += 1
        path = ctx.audio_path(row)
        if has_control(path):  # quoted for the pipe, but a newline would still end the line
            raise DatasetError(f"row {row['id']}: audio path {path!r}: holds a control character")
        if path.lower().endswith(".wav"):
            wav_scp.append(f"{_kaldi_id(row['id'], row['id'], 'id')} {_kaldi_id(path, row['id'], 'audio path')}")
        else:
            wav_scp.append(f"{_kaldi_id(row['id'], row['id'], 'id')} sox {shlex.quote(path)} -t wav - |")
        reco2dur.append(f"{row['id']} {row['duration']}")
        several = len(talkers(row)) > 1
        for k, t in enumerate(talkers(row)):
            speaker = _kaldi_id(t.speaker, row["id"])
            utt = f"{speaker}-{row['id']}" + (f"-{k:03d}" if several else "")
            segments.append(f"{utt} {row['id']} {t.start:.4f} {t.end:.4f}")
            utt2spk.append(f"{utt} {speaker}")
            spk2utt[speaker].append(utt)
            if t.text is not None:
                texts.append(f"{utt} {t.text}")
    data_dir = ctx.write_dir / _kaldi_id(split, "?", "split")
    files = {
        "wav.scp": sorted(wav_scp),
        "segments": sorted(segments),
        "utt2spk": sorted(utt2spk),
        "reco2dur": sorted(reco2dur),
        "spk2utt": [f"{s} {' '.join(sorted(u))}" for s, u in sorted(spk2utt.items())],
    }
    if texts:
        files["text"] = sorted(texts)
    if written:
        _mkdir(data_dir)
        summary.files.extend(_lines(data_dir / name, lines) for name, lines in files.items())
    return written


def _hf_value(value: Any) -> Any:
    """A label as an Arrow-friendly column value (dicts, whose keys vary, as JSON text)."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value


def _hf(ctx: _Context, rows: list[Row], split: str, summary: ExportSummary) -> int:
    split_dir = _mkdir(ctx.write_dir / split)
    records = []
    for row in rows:
        source = ctx.source(row, f"audio.{ctx.role}")  # inside the dataset (trust.check_row), a regular file
        target = split_dir / source.name
        with output_errors(target):
            try:
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        summary.files.append(target)
        labels = {k: _hf_value(v) for k, v in row["labels"].items()}
        records.append(
            {
                "file_name": target.name,
                "id": row["id"],
                "duration": row["duration"],
                "sample_rate": row["sample_rate"],
                "num_channels": row.get("num_channels", 1),
                **labels,
                "text": role_text(row, ctx.role),
            }
        )
    summary.files.append(_jsonl(split_dir / "metadata.jsonl", records))
    return len(records)


def _rttm(ctx: _Context, rows: list[Row], split: str, summary: ExportSummary) -> int:
    lines: list[str] = []
    uem: list[str] = []
    for row in rows:
        labels = row["labels"]
        if "activity" in labels:
            turns = [(a["start"], a["end"], a["speaker"] or a["role"]) for a in labels["activity"]]
        elif labels.get("segments"):
            turns = [(t.start, t.end, t.speaker) for t in talkers(row)]
        else:
            summary.skipped.append((row["id"], "rttm: no talker segments or activity (labels.segments / labels.activity)"))
            continue
        lines.extend(
            f"SPEAKER {_kaldi_id(row['id'], row['id'], 'id')} 1 {s:.3f} {e - s:.3f} <NA> <NA> {_kaldi_id(spk, row['id'])} <NA> <NA>"
            for s, e, spk in turns
        )
        uem.append(f"{row['id']} 1 0.000 {row['duration']:.3f}")
    if uem:
        summary.files.append(_lines(ctx.write_dir / f"{split}.rttm", lines))
        summary.files.append(_lines(ctx.write_dir / f"{split}.uem", uem))
    return len(uem)


STAGING = ".audiosynth-export"  # the writers' folder inside the export folder until every file is written


def _move_into_place(path: Path, stage: Path, out: Path) -> Path:
    """Rename a written file from the staging folder to its place in ``out`` (replacing an older export's)."""
    dest = out / path.relative_to(stage)
    _mkdir(dest.parent)
    os.replace(path, dest)
    return dest


Writer = Callable[[_Context, list[Row], str, ExportSummary], int]

#: Format name -> (writer, the label a row needs, for the refusal message).
FORMATS: dict[str, tuple[Writer, str]] = {
    "nemo": (_nemo, "labels.text (a transcript) or labels.activity"),
    "lhotse": (_lhotse, "audio"),
    "kaldi": (_kaldi, "labels.speaker or labels.segments"),
    "hf": (_hf, "audio"),
    "rttm": (_rttm, "labels.segments or labels.activity (several talkers)"),
}


def export_dataset(
    dataset_dir: str | os.PathLike[str],
    to: str,
    out_dir: str | os.PathLike[str],
    *,
    role: str = "mix",
    absolute_paths: bool = True,
    progress: bool = False,
) -> ExportSummary:
    """Write the dataset in ``dataset_dir`` as format ``to`` (a key of :data:`FORMATS`) under
    ``out_dir``, with the audio of ``role`` (``mix`` by default; ``clean``, ``s1``, ...).

    Raises :class:`DatasetError` for an unknown format, a folder without a manifest, a sharded
    dataset, a row that is malformed or unsafe (`audiosynth.trust.check_row`: every row is
    checked before anything is written), a field a Kaldi/RTTM line cannot hold, or a dataset
    whose labels the format cannot carry (no row exported); :class:`~audiosynth.errors.OutputError`
    when a file cannot be written (disk full): every file is written under a temporary name
    and renamed, so none is left half-written.
    """
    if to not in FORMATS:
        raise DatasetError(f"unknown export format {to!r} (known: {', '.join(FORMATS)})")
    root = Path(dataset_dir)
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: missing (not a built dataset, or the build did not complete)")
    if read_build_info(root).get("format") == SHARDS_FORMAT:
        raise DatasetError(f"{root}: a sharded dataset; convert it first (audiosynth shards to-folder)")
    writer, needed = FORMATS[to]
    out = Path(out_dir)
    summary = ExportSummary(to, out)
    ctx = _Context(root, out, role, absolute_paths)
    by_split: dict[str, list[Row]] = {}
    for row in tqdm(read_rows(root, sharded=False), unit="ex", desc=f"export {to}", disable=not progress, dynamic_ncols=True):
        if to != "rttm" and role not in row["audio"]:
            summary.skipped.append((row["id"], f"no {role!r} audio (roles: {', '.join(row['audio'])})"))
            continue
        by_split.setdefault(row["split"], []).append(row)
    if to != "rttm" and not by_split:
        raise DatasetError(f"{to}: no example of {root} has audio for role {role!r}")
    made = not out.exists()
    ctx.write_dir = stage = out / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    _mkdir(stage)
    try:
        for split, rows in by_split.items():
            written = writer(ctx, rows, split, summary)
            if written:
                summary.counts[split] = written
        if not summary.counts:
            raise DatasetError(f"{to}: no example of {root} can be exported: it needs {needed}")
        summary.files = [_move_into_place(path, stage, out) for path in summary.files]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not any(out.iterdir()):
            out.rmdir()
    for row_id, reason in summary.skipped:
        log.debug("%s: skipped: %s", row_id, reason)
    if summary.skipped:
        log.warning("%s export: %d example(s) skipped (first: %s: %s)", to, len(summary.skipped), *summary.skipped[0])
    return summary
