"""Lhotse manifests: ROOT is a folder of JSON-lines manifests as Lhotse recipes write them,
``<prefix>_recordings_<part>.jsonl.gz`` (a RecordingSet) with ``<prefix>_supervisions_<part>.jsonl.gz``
(its SupervisionSet), e.g. ``librispeech_recordings_dev-clean.jsonl.gz`` +
``librispeech_supervisions_dev-clean.jsonl.gz``, or ``<prefix>_cuts_<part>.jsonl.gz`` (a CutSet);
``.jsonl`` too. Several parts in one folder are several parts of the catalog; a part whose name
starts with train / dev (valid, validation, val) / test (eval; `sources.split_of`) is that split. A part with a
recordings manifest is read from it and its supervisions (a cuts manifest of the same part, as
``lhotse cut simple`` and ``audiosynth export --to lhotse`` write beside them, holds the same and is
not read again); a part with only cuts is read from its cuts.

Every supervision is a clip: id, ``start`` (+ its cut's ``start``, in a CutSet) as the offset into
the recording, duration, speaker, text, language, gender (``gender`` or ``custom["gender"]``),
``alignment["word"]`` / ``["phone"]`` (Lhotse times them from the recording's start; kept relative
to the clip). A recording (or a cut) without supervisions is one whole-recording clip (noise and
RIR sets). Channels: a supervision on one channel of a multi-channel file is that channel of the
file; a recording whose channels are one file each (one AudioSource per channel, as the AMI and
CHiME recipes write) gives each clip the file of its channel; a supervision on all channels of one
file is the whole file, and one on channels spread over several files is its first channel.

Audio sources: ``file`` paths relative to the manifest's folder (Lhotse reads them relative to the
working directory; a path found there under an ``--audio-root`` is taken from it), which they must
lie below (or an ``--audio-root``); ``command`` runs (in ROOT) only with ``--allow-commands``, its
output written as FLAC beside the catalog; ``url``, ``memory`` and ``shar`` sources, mixed cuts and
recordings with transforms other than ``Resample`` (speed perturbation, volume, reverb...) are
rejected. The manifests are read line by line with the ``lhotse`` package's own classes
(``Recording`` / ``SupervisionSegment`` / ``MonoCut`` / ``MultiCut.from_dict``), so that a bad line
is one reject naming its file and line.
"""

from __future__ import annotations

import copy
import io
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CatalogError
from ..names import NAME, has_control
from .sources import (
    GENDERS,
    MAX_SECONDS,
    Candidate,
    Rejected,
    Source,
    WalkOptions,
    candidate,
    manifest_audio,
    read_jsonl,
    split_of,
    unique_ids,
)

MANIFEST = re.compile(r"^(?:(?P<prefix>.+?)[_.-])?(?P<type>recordings|supervisions|cuts)(?:[_.-](?P<part>.+?))?\.jsonl(?:\.gz)?$")
COMMAND_TIMEOUT_S = 600.0  # one recording's shell command
KEPT_TRANSFORMS = frozenset({"Resample"})  # times in seconds do not change; audiosynth resamples every clip itself
ALIGNMENT_SLACK_S = 0.01  # an alignment item may overrun its supervision by this much (rounding); it is clipped
INSTALL = "pip install 'audiosynth[lhotse]'"


class _Bad(Exception):
    """A row that cannot be used: ``reason`` (`scan.REJECT_REASONS`) and a one-line ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class _Part:
    """The manifests of one part (``<prefix>``, ``<part>``) of ROOT."""

    prefix: str
    name: str
    files: dict[str, Path] = field(default_factory=dict)  # recordings / supervisions / cuts -> file

    @property
    def split(self) -> str | None:
        """train / dev / test when the part's name starts with one (`sources.SPLIT_WORDS`)."""
        return split_of(self.name)


def _file_part(path: Path) -> list[_Part]:
    """The part of one manifest file ``path``: a cuts file alone, a recordings or supervisions file
    with its partner beside it (none when the name is no Lhotse manifest's)."""
    parts = [part for part in manifest_parts(path.parent) if path in part.files.values()]
    for part in parts:
        if part.files.get("cuts") == path:
            part.files = {"cuts": path}
        else:
            part.files.pop("cuts", None)
    return parts


def manifest_parts(root: Path) -> list[_Part]:
    """The Lhotse manifests directly in the folder ``root``, grouped by part (sorted by name)."""
    parts: dict[tuple[str, str], _Part] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        match = MANIFEST.match(path.name)
        if match is None or path.name.startswith(".") or path.is_dir():
            continue
        key = (match["prefix"] or "", match["part"] or "")
        part = parts.setdefault(key, _Part(*key))
        if match["type"] in part.files:  # the same part both as .jsonl and .jsonl.gz: the first by name
            continue
        part.files[match["type"]] = path
    return [parts[key] for key in sorted(parts)]


def walk_lhotse(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every supervision of every part of ``root`` as a clip (a whole recording when it has none);
    ``root`` a manifest file: its part only (a cuts file: read as cuts)."""
    folder, parts = (root.parent, _file_part(root)) if root.is_file() else (root, manifest_parts(root))
    if not parts:
        return []
    try:
        import lhotse
    except ImportError as err:
        raise CatalogError(f"{root}: reading Lhotse manifests needs the lhotse package ({err}); {INSTALL}") from None
    reader = _Reader(folder, options, lhotse)
    for part in parts:
        if "recordings" in part.files:
            reader.read_recordings_part(part)
        elif "cuts" in part.files:
            reader.read_cuts_part(part)
        else:
            path = part.files["supervisions"]
            wanted = path.name.replace("supervisions", "recordings", 1)
            reader.out.append(Rejected(str(path), "bad_row", f"no recordings manifest for its supervisions ({wanted} is not in {root})"))
    return reader.out + unique_ids(reader.candidates)


class _Reader:
    """Reads the parts of one ROOT into candidates and rejects (one instance per walk)."""

    def __init__(self, root: Path, options: WalkOptions, lhotse: Any) -> None:
        self.root, self.options, self.lhotse = root, options, lhotse
        self.out: list[Rejected] = []
        self.candidates: list[Candidate] = []
        self._sources: dict[str, list[Path | None]] = {}  # a recording's sources resolved (None: rejected)
        self._seen: set[tuple[Any, ...]] = set()  # the clips made, by what they are (cuts repeat supervisions)
        self._written: set[str] = set()  # audio files written from commands

    # ------------------------------------------------------------------ parts

    def read_recordings_part(self, part: _Part) -> None:
        """A RecordingSet and, if the part has one, its SupervisionSet."""
        recordings: dict[str, tuple[Any, str]] = {}
        bad_ids: set[str] = set()  # ids of the recording lines rejected
        for where, row in self._rows(part.files["recordings"]):
            try:
                recording = self._deserialize(self.lhotse.Recording, row, "recording")
                if str(recording.id) in recordings:
                    raise _Bad("bad_row", f"recording id {recording.id!r} is repeated (first at {recordings[str(recording.id)][1]})")
            except _Bad as bad:
                self.out.append(Rejected(where, bad.reason, bad.detail))
                bad_ids.add(str(row.get("id")))
                continue
            recordings[str(recording.id)] = (recording, where)
        supervised: dict[str, list[tuple[str, Any]]] = {}
        if "supervisions" in part.files:
            for where, row in self._rows(part.files["supervisions"]):
                try:
                    supervision = self._deserialize(self.lhotse.SupervisionSegment, row, "supervision")
                    if str(supervision.recording_id) not in recordings:
                        said = " (its line was rejected)" if str(supervision.recording_id) in bad_ids else ""
                        raise _Bad("bad_row", f"recording {supervision.recording_id!r} is not in {part.files['recordings'].name}{said}")
                except _Bad as bad:
                    self.out.append(Rejected(where, bad.reason, bad.detail))
                    continue
                supervised.setdefault(str(supervision.recording_id), []).append((where, supervision))
        for recording_id, (recording, where) in recordings.items():
            self._recording_clips(part, recording, where, 0.0, supervised.get(recording_id, []), None)

    def read_cuts_part(self, part: _Part) -> None:
        """A CutSet: the supervisions of every cut (the cut itself when it has none)."""
        for where, row in self._rows(part.files["cuts"]):
            kind = row.get("type")
            try:
                if kind == "MixedCut":
                    raise _Bad("bad_row", f"cut {row.get('id')!r} is a MixedCut (cuts mixed or padded together): no single recording")
                if kind not in ("MonoCut", "MultiCut", "Cut"):
                    raise _Bad("bad_row", f"'type' must be MonoCut or MultiCut (got {kind!r})")
                cut = self._deserialize(self.lhotse.MultiCut if kind == "MultiCut" else self.lhotse.MonoCut, row, "cut")
                if cut.recording is None:
                    raise _Bad("bad_row", f"cut {cut.id!r} has no recording (features only)")
                start, duration = _number(cut.start, "start"), _number(cut.duration, "duration")
            except _Bad as bad:
                self.out.append(Rejected(where, bad.reason, bad.detail))
                continue
            sups = [(where, s) for s in cut.supervisions]
            whole = (str(cut.id), start, duration, cut.channel)  # a cut without supervisions is one clip
            self._recording_clips(part, cut.recording, where, start, sups, whole)

    # ------------------------------------------------------------------ one recording

    def _recording_clips(
        self,
        part: _Part,
        recording: Any,
        where: str,
        base: float,
        supervisions: list[tuple[str, Any]],
        cut: tuple[str, float, float, Any] | None,
    ) -> None:
        """The clips of one recording: its supervisions (times from ``base``, a cut's start), else
        the whole recording (``cut``: id, start, duration, channels of a cut without supervisions)."""
        try:
            _number(recording.duration, "duration")
        except _Bad as bad:
            self.out.append(Rejected(where, bad.reason, f"recording {recording.id!r}: {bad.detail}"))
            return
        files = self._resolve(recording, where, len(supervisions))
        if not supervisions and (cut is None or _spans(recording, *cut[1:])):
            try:
                clip_id = _name(cut[0] if cut else recording.id, "id")
            except _Bad as bad:
                self.out.append(Rejected(where, bad.reason, bad.detail))
                return
            for k, path in enumerate(files):
                if path is not None:
                    suffix = "" if len(files) == 1 else f"-{(recording.sources[k].channels or [k])[0]}"
                    self._add(path, (path,), id=clip_id + suffix, **self._common(part, None))
            return
        for sup_where, sup in supervisions or [(where, None)]:
            try:
                self._supervision_clip(part, recording, files, base, sup, cut)
            except _Bad as bad:
                self.out.append(Rejected(sup_where, bad.reason, bad.detail))

    def _supervision_clip(self, part: _Part, recording: Any, files: list[Path | None], base: float, sup: Any, cut: Any) -> None:
        """One supervision's clip (``sup`` None: the cut ``cut`` itself); raises `_Bad`."""
        if sup is None:
            sup_id, _, duration, channel = cut  # the cut from its start (``base``)
            start = 0.0
        else:
            sup_id = _name(sup.id, "id")
            try:
                start, duration, channel = _signed(sup.start, "start"), _number(sup.duration, "duration"), sup.channel
            except _Bad as bad:
                raise _Bad(bad.reason, f"supervision {sup_id!r}: {bad.detail}") from None
        what = f"supervision {sup_id!r}" if sup is not None else f"cut {sup_id!r}"
        if duration <= 0:
            raise _Bad("bad_row", f"{what}: 'duration' must be > 0 (got {duration!r})")
        offset = round(base + start, 6)
        if offset < -1e-6:
            raise _Bad("bad_segment", f"{what} starts {-offset:g} s before its recording {recording.id!r}")
        offset = max(0.0, offset)
        source, in_file = _locate(recording, channel, what)
        path = files[source]
        if path is None:  # its recording's audio was rejected (one reject for the recording)
            return
        fields = self._common(part, sup)
        if sup is not None:
            for name, keys in (("words", ("word",)), ("phones", ("phone", "phoneme"))):
                items = next((sup.alignment[k] for k in keys if sup.alignment and sup.alignment.get(k)), None)
                fields[name] = _timed(items, offset, duration, what, keys[0]) if items else None
        key = (sup_id, str(path), offset, round(duration, 6), in_file)
        if key in self._seen:  # the same supervision in another cut (overlapping windows)
            return
        self._seen.add(key)
        self.candidates.append(
            candidate(path, id=sup_id, duration=duration, offset=offset or None, channel=in_file, **fields),
        )

    def _common(self, part: _Part, sup: Any) -> dict[str, Any]:
        """The fields of a clip that come from its part and its supervision (None: no supervision); raises `_Bad`."""
        corpus = part.prefix if part.prefix and self.options.corpus == SOURCE.name else self.options.corpus
        fields: dict[str, Any] = {"kind": self.options.kind, "split": part.split, "corpus": corpus}
        if sup is None:
            return fields
        speaker = sup.speaker
        if speaker is not None and not (isinstance(speaker, (str, int)) and not isinstance(speaker, bool) and NAME.fullmatch(str(speaker))):
            raise _Bad("bad_row", f"supervision {sup.id!r}: 'speaker' {speaker!r} is not a name ({NAME.pattern})")
        text = " ".join(sup.text.split()) if isinstance(sup.text, str) else None
        if text and has_control(text):
            raise _Bad("bad_row", f"supervision {sup.id!r}: 'text' holds a control character")
        custom = sup.custom if isinstance(sup.custom, dict) else {}
        gender = sup.gender if sup.gender is not None else custom.get("gender")
        return {
            **fields,
            "speaker": None if speaker is None else str(speaker),
            "text": text or None,
            "language": sup.language if isinstance(sup.language, str) and sup.language.strip() else None,
            "gender": GENDERS.get(str(gender).strip().lower()) if gender is not None else None,
        }

    def _add(self, audio: Path, key: tuple[Any, ...], **fields: Any) -> None:
        """A whole-file candidate, once per file."""
        if key not in self._seen:
            self._seen.add(key)
            self.candidates.append(candidate(audio, **fields))

    # ------------------------------------------------------------------ audio sources

    def _resolve(self, recording: Any, where: str, num_supervisions: int) -> list[Path | None]:
        """Each of the recording's sources as a local file (None: rejected, one reject per recording)."""
        key = repr((recording.id, [(s.type, s.channels, s.source) for s in recording.sources]))
        if key in self._sources:
            return self._sources[key]
        carried = f" ({num_supervisions} supervision(s) not catalogued)" if num_supervisions else ""
        files: list[Path | None] = [None] * len(recording.sources)
        try:
            if not recording.sources:
                raise _Bad("bad_row", f"recording {recording.id!r} has no audio source")
            odd = [getattr(t, "name", type(t).__name__) for t in recording.transforms or () if type(t).__name__ not in KEPT_TRANSFORMS]
            if odd:
                said = ", ".join(map(str, odd))
                raise _Bad(
                    "bad_row", f"recording {recording.id!r} has transforms {said}: not supported (they change its audio; only Resample is)"
                )
            files = [self._source_file(recording, k, source) for k, source in enumerate(recording.sources)]
        except _Bad as bad:
            self.out.append(Rejected(where, bad.reason, bad.detail + carried))
        self._sources[key] = files
        return files

    def _source_file(self, recording: Any, k: int, source: Any) -> Path:
        """One AudioSource as a local file; raises `_Bad`."""
        kind, value = source.type, source.source
        if kind == "file":
            path = manifest_audio(self.root, value)
            if path is None:
                raise _Bad("bad_row", f"recording {recording.id!r}: source {k} 'source' is not a path (got {value!r})")
            if not Path(value).expanduser().is_absolute() and not path.exists():  # Lhotse: relative to where it runs
                path = next((r / value for r in self.options.audio_roots if (r / value).exists()), path)
            return path
        if kind == "command":
            command = value.strip().removesuffix("|").strip() if isinstance(value, str) else ""
            if not command:
                raise _Bad("bad_row", f"recording {recording.id!r}: source {k} is a command with no command (got {value!r})")
            if not self.options.allow_commands:
                detail = f"recording {recording.id!r}: its audio is the shell command {command!r}; pass --allow-commands to run it"
                raise _Bad("command", detail)
            return self._run(recording, k, command)
        if kind in ("url", "memory", "shar"):
            said = f" {value!r}" if kind == "url" and isinstance(value, str) else ""
            detail = f"recording {recording.id!r}: audio source of type {kind!r}{said} is not read (only 'file' and 'command')"
            raise _Bad("bad_row", detail)
        raise _Bad("bad_row", f"recording {recording.id!r}: unknown audio source type {kind!r}")

    def _run(self, recording: Any, k: int, command: str) -> Path:
        """Run a source's shell command (in ROOT) and write its audio as FLAC into the audio folder; raises `_Bad`."""
        import soundfile as sf

        from .decoded import safe_file_name, write_new

        what = f"recording {recording.id!r}: the command {command!r}"
        try:
            done = subprocess.run(command, shell=True, cwd=self.root, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise _Bad("unreadable", f"{what} ran over {COMMAND_TIMEOUT_S:g} s") from None
        except OSError as err:
            raise _Bad("unreadable", f"{what} did not start ({err})") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise _Bad("unreadable", f"{what} failed (exit {done.returncode}) {said[0][:200]}".rstrip())
        try:
            info = sf.info(io.BytesIO(done.stdout))
            exact = info.subtype.startswith("PCM") or info.subtype in ("ULAW", "ALAW")
            audio, rate = sf.read(io.BytesIO(done.stdout), dtype="int32" if exact else "float64", always_2d=True)
        except Exception as err:  # noqa: BLE001 - whatever it printed, it is no audio soundfile reads
            raise _Bad("not_audio", f"{what} printed no audio ({type(err).__name__}: {err})") from None
        name = safe_file_name(str(recording.id), "recording") + ("" if len(recording.sources) == 1 else f"-{k}")
        n = 1
        while name + ("" if n == 1 else f"-{n}") in self._written:
            n += 1
        name += "" if n == 1 else f"-{n}"
        self._written.add(name)
        fmt = "FLAC" if audio.shape[1] <= 8 else "WAV"  # FLAC holds at most 8 channels
        subtype = "PCM_16" if info.subtype in ("PCM_16", "PCM_S8", "PCM_U8", "ULAW", "ALAW") else "PCM_24" if fmt == "FLAC" else "FLOAT"
        path = self.options.audio_dir / f"{name}.{fmt.lower()}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_new(path, lambda handle: sf.write(handle, audio, rate, format=fmt, subtype=subtype))
        except Exception as err:  # noqa: BLE001 - a full disk, a rate FLAC cannot hold: this recording only
            raise _Bad("unreadable", f"{what}: its audio could not be written to {path} ({type(err).__name__}: {err})") from None
        return path

    # ------------------------------------------------------------------ lines

    def _rows(self, path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
        """``(file:line, row)`` of a manifest, bad JSON lines rejected on the way."""
        for number, row in read_jsonl(path):
            if isinstance(row, Rejected):
                self.out.append(row)
                continue
            yield f"{path}:{number}", row

    @staticmethod
    def _deserialize(cls: Any, row: dict[str, Any], what: str) -> Any:
        """``cls.from_dict`` of a copy of ``row`` (Lhotse pops what it reads); raises `_Bad`."""
        try:
            return cls.from_dict(copy.deepcopy(row))
        except Exception as err:  # noqa: BLE001 - any field Lhotse cannot take is a bad line
            message = " ".join(str(err).split())[:200]
            raise _Bad("bad_row", f"not a Lhotse {what} ({type(err).__name__}: {message})") from None


# ---------------------------------------------------------------------- helpers


def _number(value: Any, name: str) -> float:
    """A time >= 0 in seconds; raises `_Bad` naming the field."""
    number = _signed(value, name)
    if number < 0:
        raise _Bad("bad_row", f"'{name}' must be >= 0 (got {value!r})")
    return number


def _signed(value: Any, name: str) -> float:
    """A time in seconds within `MAX_SECONDS` either way (a cut's supervision may start before the cut); raises `_Bad`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= MAX_SECONDS:
        raise _Bad("bad_row", f"'{name}' must be a number of seconds (got {value!r})")
    return float(value)


def _name(value: Any, field_name: str) -> str:
    """A non-empty id without control characters; raises `_Bad`."""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value) or has_control(str(value)):
        raise _Bad("bad_row", f"'{field_name}' must be a non-empty name without control characters (got {value!r})")
    return str(value)


def _spans(recording: Any, start: float, duration: float, channel: Any) -> bool:
    """Whether a cut is all of its recording (within 1 ms, every channel)."""
    channels = set(channel) if isinstance(channel, list) else {channel}
    return start < 1e-3 and abs(duration - float(recording.duration)) < 1e-3 and channels == set(recording.channel_ids or ())


def _locate(recording: Any, channel: Any, what: str) -> tuple[int, int | None]:
    """Where channel(s) ``channel`` of a recording are: ``(source index, channel within its file)``,
    None for all of the file's channels (the file has one, or all of them are asked); raises `_Bad`."""
    wanted = channel if isinstance(channel, list) else [channel]
    if not wanted or not all(isinstance(c, int) and not isinstance(c, bool) for c in wanted):
        raise _Bad("bad_row", f"{what}: 'channel' must be a channel number or a list of them (got {channel!r})")
    owner: dict[int, tuple[int, int]] = {}
    for k, source in enumerate(recording.sources):
        for index, c in enumerate(source.channels):
            owner.setdefault(c, (k, index))
    missing = [c for c in wanted if c not in owner]
    if missing:
        raise _Bad("no_such_channel", f"{what}: channel {missing[0]} is not a channel of recording {recording.id!r} ({sorted(owner)})")
    k, index = owner[wanted[0]]
    channels = recording.sources[k].channels
    if len(channels) == 1 or (len(wanted) > 1 and sorted(wanted) == sorted(channels)):
        return k, None
    return k, index


def _timed(items: list[Any], offset: float, duration: float, what: str, name: str) -> tuple[tuple[str, float, float], ...]:
    """Alignment items (times from the recording's start) as ``(label, start, end)`` from the clip's
    start, sorted; blank symbols (pauses) are left out; raises `_Bad` for one outside the clip."""
    out = []
    for item in items:
        symbol, start, length = getattr(item, "symbol", None), getattr(item, "start", None), getattr(item, "duration", None)
        if not isinstance(symbol, str) or has_control(symbol):
            raise _Bad("bad_row", f"{what}: a {name} alignment symbol must be text without control characters (got {symbol!r})")
        if not symbol.strip():
            continue
        begin = _number(start, f"{name} alignment start") - offset
        end = begin + _number(length, f"{name} alignment duration")
        if begin < -ALIGNMENT_SLACK_S or end > duration + ALIGNMENT_SLACK_S:
            raise _Bad(
                "bad_row",
                f"{what}: {name} {symbol!r} at {begin + offset:g}-{end + offset:g} s is outside the supervision "
                f"({offset:g}-{offset + duration:g} s; Lhotse alignments are timed from the recording's start)",
            )
        out.append((symbol.strip(), round(max(0.0, begin), 6), round(min(duration, max(0.0, end)), 6)))
    return tuple(sorted(out, key=lambda x: x[1]))


SOURCE = Source(
    name="lhotse",
    description="ROOT is a folder of Lhotse manifests (*_recordings_<part>.jsonl.gz + *_supervisions_<part>.jsonl.gz, *_cuts_*) or one",
    walk=walk_lhotse,
    default_kind="speech",
    reads_paths=True,
    accepts_file=True,
)
