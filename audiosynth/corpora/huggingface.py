"""Hugging Face datasets held locally; ROOT is one of

- an ``audiofolder``: audio files and a ``metadata.jsonl`` (else ``metadata.csv``) whose ``file_name``
  column names each file relative to the metadata's folder, in ROOT or in split folders below it
  (``train/metadata.jsonl``, ``test/...``); the split is the first folder of the file's path that names one;
- a dataset saved with ``save_to_disk``: a ``Dataset`` folder (``dataset_info.json``, ``state.json``,
  ``data-00000-of-00001.arrow``; its split from its info, else the folder's name), a ``DatasetDict``
  folder (``dataset_dict.json`` and one such folder per split), or a folder of such split folders;
- parquet files with an audio column, anywhere below ROOT as the Hub lays them out
  (``data/train-00000-of-00002.parquet``, ``<config>/test/0000.parquet``); the split from the file's
  name before its first ``-``, else from its folders.

Read with the ``datasets`` package (``pip install 'audiosynth[hf]'``), the audio column never
decoded (``Audio(decode=False)``: ``{"bytes", "path"}``): the column of feature type ``Audio``
(``audio`` when several), else the column named ``audio``. A row's bytes are decoded (WAV, FLAC,
MP3, OGG...: whatever libsndfile reads) and written as FLAC to
``<catalog audio folder>/<split>/<id>.flac``; a row with only a path has it resolved (a relative
one against ROOT), and it must lie below ROOT or an ``--audio-root``. A clip's id is its audio's
file name without the suffix (letters, digits, ``._-``; others replaced), else ``<split>-<row>``;
an id that several splits have gets its split in front (``test-0001``). Columns: text from ``text`` / ``sentence`` /
``transcription`` / ``transcript`` / ``normalized_text``, speaker from ``speaker_id`` / ``speaker``
/ ``client_id``, ``gender``, language from ``language`` / ``locale`` / ``lang``. Split names are
the Hub's (``train``/``training``; ``validation``/``valid``/``val``/``dev``; ``test``/``eval``),
prefixes too (``train.clean.100``, ``validation.clean``). A feature's ``sampling_rate`` is not
applied: the catalog holds each file's own rate.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from ..catalog import Clip
from ..errors import CatalogError
from ..names import NAME, has_control, show
from .sources import GENDERS, Candidate, Rejected, Source, WalkOptions, candidate, manifest_audio, read_csv, read_jsonl, split_of

BATCH_ROWS = 64
TEXT_COLUMNS = ("text", "sentence", "transcription", "transcript", "normalized_text")
SPEAKER_COLUMNS = ("speaker_id", "speaker", "client_id")
LANGUAGE_COLUMNS = ("language", "locale", "lang")
_NO_AUDIO = "no audio column (a feature of type Audio, or a column named 'audio')"
hf_split = split_of  # the split (train|dev|test) a Hub split, folder or file name says (validation.clean: dev), or None


def _datasets() -> ModuleType:
    """The ``datasets`` package, or a `CatalogError` saying how to install it."""
    try:
        return importlib.import_module("datasets")
    except ImportError:
        raise CatalogError("the hf source reads datasets with the 'datasets' package: pip install 'audiosynth[hf]'") from None


@dataclass
class _Walk:
    """What the walk has found: candidates, rejects, and the file names used per split folder."""

    root: Path
    options: WalkOptions
    candidates: list[tuple[Path, Clip, str]] = field(default_factory=list)  # audio, template, split folder
    rejects: list[Rejected] = field(default_factory=list)
    names: dict[str, set[str]] = field(default_factory=dict)  # split folder -> clip names given in it

    def add(self, row: dict[str, Any], audio: Any, base: Path, split_name: str | None, where: str, index: int) -> None:
        """One dataset row: its audio (``{"bytes", "path"}``, a path, bytes, None) and label columns."""
        from .decoded import audio_target, safe_file_name, write_flac

        folder = safe_file_name(split_name or "all", "all")
        said = f"split {split_name or '(none)'!r}, row {index}"
        data, path = _audio_value(audio)
        if data is None and path is None:
            self.rejects.append(Rejected(where, "bad_row", f"{said}: no audio (the audio column is empty)"))
            return
        fields = _fields(row)
        if isinstance(fields, str):
            self.rejects.append(Rejected(where, "bad_row", f"{said}: {fields}"))
            return
        stem = PurePosixPath(path or "").stem
        name = safe_file_name(stem, f"{folder}-{index:06d}") if stem else f"{folder}-{index:06d}"
        used = self.names.setdefault(folder, set())
        first, n = name, 1
        while name in used:  # another row of the split has the file name: the row's index, then a count
            name = f"{first}-{index:06d}" + (f"-{n}" if n > 1 else "")
            n += 1
        used.add(name)
        if data is not None:
            try:
                target = audio_target(self.options.audio_dir, folder, f"{name}.flac")
                write_flac(data, target)
            except Exception as err:  # noqa: BLE001 - what libsndfile says of the bytes goes in the reject row
                detail = f"{said}: the audio bytes are not audio soundfile reads ({str(err)[:200]})"
                self.rejects.append(Rejected(where, "not_audio", detail))
                return
            audio_path = target
        else:
            resolved = manifest_audio(base, path)
            if resolved is None:
                self.rejects.append(Rejected(where, "bad_row", f"{said}: audio path {path!r} is not a path"))
                return
            audio_path = resolved
        split = hf_split(split_name) if split_name else None
        audio_path, clip = candidate(audio_path, id=name, kind=self.options.kind, split=split, corpus=self.options.corpus, **fields)
        self.candidates.append((audio_path, clip, folder))

    def result(self) -> list[Candidate | Rejected]:
        """Rejects, then candidates whose ids are unique: an id of several split folders gets its folder in front."""
        count: dict[str, int] = {}
        for _, clip, _ in self.candidates:
            count[clip.id] = count.get(clip.id, 0) + 1
        out: list[Candidate | Rejected] = list(self.rejects)
        seen: set[str] = set()
        for audio, clip, folder in self.candidates:
            new = clip.id if count[clip.id] == 1 else f"{folder}-{clip.id}"
            n = 1
            while new in seen:
                n += 1
                new = f"{clip.id}-{n}"
            seen.add(new)
            out.append((audio, replace(clip, id=new) if new != clip.id else clip))
        return out


def _audio_value(value: Any) -> tuple[bytes | None, str | None]:
    """An audio cell as ``(bytes, path)``: an undecoded Audio struct, a path, or bytes."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        return (bytes(data) if isinstance(data, (bytes, bytearray)) and data else None), (path if isinstance(path, str) and path else None)
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value), None
    return None, value if isinstance(value, str) and value else None


def _first(row: dict[str, Any], names: Iterable[str]) -> Any:
    """The first of these columns holding a value (not None, not blank)."""
    for name in names:
        value = row.get(name)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _fields(row: dict[str, Any]) -> dict[str, Any] | str:
    """A row's clip fields (text, speaker, gender, language), or what is wrong with them."""
    text = _first(row, TEXT_COLUMNS)
    text = " ".join(text.split()) if isinstance(text, str) else None
    speaker = _first(row, SPEAKER_COLUMNS)
    if isinstance(speaker, bool) or not isinstance(speaker, (str, int, type(None))):
        return f"speaker {speaker!r} is neither text nor a number"
    speaker = None if speaker is None else str(speaker).strip()
    if speaker is not None and not NAME.fullmatch(speaker):
        return f"speaker {speaker[:60]!r} is not a name ({NAME.pattern})"
    language = _first(row, LANGUAGE_COLUMNS)
    language = language.strip() if isinstance(language, str) else None
    if (text and has_control(text)) or (language and has_control(language)):
        return "the text or language holds a control character"
    gender = row.get("gender")
    gender = str(gender).strip().lower() if isinstance(gender, str) else ""
    gender = GENDERS.get(gender)  # Common Voice's male_masculine too
    return {"text": text or None, "speaker": speaker, "language": language or None, "gender": gender}


# --------------------------------------------------------------------------- (a) audiofolder


def _metadata_files(root: Path) -> Iterator[Path]:
    """Each folder's ``metadata.jsonl`` (else ``metadata.csv``) below ``root``, in path order; hidden folders skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in ("metadata.jsonl", "metadata.csv"):
            if name in filenames and (Path(dirpath) / name).is_file():  # not a FIFO or a device
                yield Path(dirpath) / name
                break


def _metadata_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | Rejected]]:
    """``(line, row)`` of a metadata.jsonl / metadata.csv (CSV cells are text; empty ones None)."""
    if path.suffix == ".jsonl":
        yield from read_jsonl(path)
        return
    rows = read_csv(path)
    header = next(rows, (1, []))[1]
    if isinstance(header, Rejected):
        yield 1, header
        return
    for number, row in rows:
        if isinstance(row, Rejected):
            yield number, row
        elif row:  # a blank line is no row
            yield number, {k: (v if v != "" else None) for k, v in zip(header, row, strict=False)}


def _audiofolder(walk: _Walk) -> None:
    for metadata in _metadata_files(walk.root):
        for number, row in _metadata_rows(metadata):
            if isinstance(row, Rejected):
                walk.rejects.append(row)
                continue
            file_name = row.get("file_name")
            where = f"{metadata}:{number}"
            if not isinstance(file_name, str) or not file_name:
                walk.rejects.append(Rejected(where, "bad_row", f"{metadata.name}:{number}: no 'file_name' (got {file_name!r})"))
                continue
            audio = manifest_audio(metadata.parent, file_name)
            try:
                parts = (audio or metadata.parent).parent.relative_to(walk.root).parts
            except ValueError:
                parts = ()
            split_name = next((p for p in parts if hf_split(p)), None)
            walk.add(row, file_name, metadata.parent, split_name, where, number)


# --------------------------------------------------------------------------- (b) save_to_disk, (c) parquet


def _audio_column(features: dict[str, Any], datasets: ModuleType) -> str | None:
    """The audio column: of feature type Audio (``audio`` among several), else a column named ``audio``."""
    audio = [name for name, feature in features.items() if isinstance(feature, datasets.Audio)]
    if "audio" in audio or (not audio and "audio" in features):
        return "audio"
    return audio[0] if audio else None


def _wanted(columns: Iterable[str], audio: str) -> list[str]:
    """The columns read: the audio column and the label columns the dataset has."""
    labels = {*TEXT_COLUMNS, *SPEAKER_COLUMNS, *LANGUAGE_COLUMNS, "gender"}
    return [c for c in columns if c == audio or c in labels]


def _rows(batches: Iterable[dict[str, list[Any]]]) -> Iterator[dict[str, Any]]:
    """Rows of column batches."""
    for batch in batches:
        columns = list(batch)
        yield from (dict(zip(columns, values, strict=True)) for values in zip(*(batch[c] for c in columns), strict=True))


def _load(folder: Path, datasets: ModuleType) -> Any:
    """``datasets.load_from_disk`` (memory-mapped, nothing copied), or a `CatalogError` naming the folder."""
    try:
        return datasets.load_from_disk(str(folder))
    except Exception as err:  # noqa: BLE001 - a broken dataset folder is named in the error
        raise CatalogError(f"{folder}: cannot load the saved dataset ({type(err).__name__}: {str(err)[:300]})") from None


def _check_saved(folder: Path) -> None:
    """Refuse a saved dataset whose ``dataset_dict.json`` split names or ``state.json`` data file
    names are no names: ``../x`` would have ``load_from_disk`` load a folder or file outside ROOT."""
    for path, key in ((folder / "dataset_dict.json", "splits"), (folder / "state.json", "_data_files")):
        if not path.is_file():
            continue
        try:
            names = json.loads(path.read_text(encoding="utf-8")).get(key, [])
        except (ValueError, AttributeError) as err:
            raise CatalogError(f"{path}: not a {path.name} ({str(err)[:80]})") from None
        for name in names if isinstance(names, list) else [names]:
            name = name.get("filename") if key == "_data_files" and isinstance(name, dict) else name
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise CatalogError(f"{path}: {show(name)} is not a {'split' if key == 'splits' else 'file'} name ({NAME.pattern})")
        if key == "splits":
            for name in names if isinstance(names, list) else []:
                _check_saved(folder / name)


def _saved(walk: _Walk, ds: Any, folder: Path, split_name: str | None, datasets: ModuleType) -> None:
    """A saved Dataset's rows (its split: the DatasetDict's key or split folder, else its info's, else its folder's name)."""
    split_name = split_name or (str(ds.split) if getattr(ds, "split", None) is not None else None) or folder.name
    audio = _audio_column(ds.features, datasets)
    if audio is None:
        walk.rejects.append(Rejected(str(folder), "bad_row", f"split {split_name!r}: {_NO_AUDIO}"))
        return
    try:
        ds = ds.select_columns(_wanted(ds.column_names, audio)).cast_column(audio, datasets.Audio(decode=False))
    except Exception as err:  # noqa: BLE001 - a column that is no audio
        walk.rejects.append(Rejected(str(folder), "bad_row", f"split {split_name!r}: column {audio!r} is not audio ({str(err)[:200]})"))
        return
    for index, row in enumerate(_rows(ds.iter(batch_size=BATCH_ROWS))):
        walk.add(row, row[audio], walk.root, split_name, f"{folder}:{index}", index)


def _parquet(walk: _Walk, path: Path, datasets: ModuleType) -> None:
    """One parquet file's rows, read in batches with pyarrow (the audio column as stored: never decoded)."""
    parquet = importlib.import_module("pyarrow.parquet")
    rel = path.relative_to(walk.root)
    stem = path.name.split(".parquet")[0]
    names = [stem.split("-")[0], *reversed(rel.parent.parts)]
    split_name = next((n for n in names if hf_split(n)), None)
    try:
        handle = parquet.ParquetFile(str(path))
        features = datasets.Features.from_arrow_schema(handle.schema_arrow)
    except Exception as err:  # noqa: BLE001 - a file that is no parquet is a reject of its own
        walk.rejects.append(Rejected(str(path), "unreadable", f"not a parquet file pyarrow reads ({type(err).__name__}: {str(err)[:200]})"))
        return
    audio = _audio_column(features, datasets)
    if audio is None:
        walk.rejects.append(Rejected(str(path), "bad_row", f"split {split_name!r}: {_NO_AUDIO}"))
        return
    batches = (batch.to_pydict() for batch in handle.iter_batches(batch_size=BATCH_ROWS, columns=_wanted(features, audio)))
    for index, row in enumerate(_rows(batches)):
        walk.add(row, row[audio], walk.root, split_name, f"{path}:{index}", index)


def walk_hf(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every row of the dataset at ROOT: a save_to_disk folder (or a folder of them), else its audiofolders and parquet files."""
    walk = _Walk(root, options)
    saved: list[tuple[str | None, Any, Path]] = []
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        _check_saved(root)
        datasets = _datasets()
        loaded = _load(root, datasets)
        if isinstance(loaded, datasets.DatasetDict):
            saved = [(str(name), ds, root / str(name)) for name, ds in loaded.items()]
        else:
            saved = [(None, loaded, root)]
    elif folders := [d for d in sorted(root.iterdir()) if d.is_dir() and (d / "state.json").is_file()]:
        datasets = _datasets()
        for d in folders:
            _check_saved(d)
        saved = [(d.name, _load(d, datasets), d) for d in folders]
    if saved:
        for split_name, ds, folder in saved:
            _saved(walk, ds, folder, split_name, datasets)
        return walk.result()
    _audiofolder(walk)
    parquets = sorted(
        p for p in root.rglob("*.parquet") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )  # a FIFO or a device is no file
    if parquets:
        datasets = _datasets()
        for path in parquets:
            _parquet(walk, path, datasets)
    return walk.result()


SOURCE = Source(
    name="hf",
    description="ROOT is a Hugging Face dataset on disk: an audiofolder (metadata.jsonl/.csv), a save_to_disk folder, or *.parquet",
    walk=walk_hf,
    default_kind="speech",
    corpus_from_root=True,
    reads_paths=True,
)
