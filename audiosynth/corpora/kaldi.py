"""Kaldi data directories: ROOT is one data directory (``data/train``, ``data/dev_clean``, ...) holding

- ``wav.scp``: ``<recording-id> <path>``, or an extended filename ``<recording-id> <command> |``
  whose standard output is the audio (``sph2pipe -f wav -p -c 1 x.sph |``, ``sox x.flac -t wav - |``);
- ``segments`` (optional): ``<utterance-id> <recording-id> <start_s> <end_s>`` (an end of ``-1``:
  the recording's end): each utterance a clip with that offset and duration; without ``segments``
  each recording is one utterance whose id is the recording id;
- ``text``: ``<utterance-id> <words...>``; ``utt2spk``: ``<utterance-id> <speaker-id>`` (a speaker
  named as its utterance is Kaldi's "no speaker information", left unknown); ``spk2gender``:
  ``<speaker-id> m|f``; ``utt2lang`` (if present): ``<utterance-id> <language>``;
  ``reco2file_and_channel`` (if present): ``<recording-id> <file-id> A|B|1|2``, the channel a
  recording is of a multi-channel file (a mono file already is its channel: the field is ignored).
  ``spk2utt``, ``utt2dur``, ``reco2dur``, ``feats.scp`` and the like are not read (durations are measured).

A relative path (and a command's working folder) is taken against ROOT's parent, the folder of
the data directories (what ``audiosynth export --to kaldi --relative-paths`` writes; Kaldi itself
resolves them against the folder it runs in, usually the recipe folder above ``data/``). Paths
must lie below ROOT or an ``--audio-root`` (absolute paths usually lie elsewhere: name their
folder). A pipe that only decodes one file (``flac -c -d -s PATH |``, ``sox PATH -t wav - |``,
``sph2pipe -f wav [-p] [-c N] PATH |``: `decoder_input`) is read as that file, no shell run
(unless ``--allow-commands``: then it runs as written). Other pipe commands are refused (reason
``command``) unless ``--allow-commands``: then each runs in a shell (`COMMAND_TIMEOUT_S`) and its
output is written as FLAC into the catalog's audio folder, which is what the catalog names.
Archive entries (``ark:``, ``x.ark:1234``) are not read.
The data directory's name gives the split when it starts with one (``train_clean_100``,
``dev93``, ``test_other``; ``valid*`` is dev, ``eval*`` test).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..names import NAME, has_control
from .sources import GENDERS, Candidate, Rejected, Source, WalkOptions, candidate, channel_count, manifest_audio, seconds, split_of

COMMAND_TIMEOUT_S = 600.0  # one wav.scp pipe command, then it is killed (with its whole process group)
_CHANNELS = {"a": 0, "b": 1, "1": 0, "2": 1}
_ARCHIVE = re.compile(r"^(ark|scp)[a-z,]*:|:\d+(\[[^\]]*\])?$")  # ark:..., scp:..., foo.ark:1234, foo.ark:1234[0:9]


@dataclass
class _Recording:
    """A usable wav.scp line: its audio file, or the command that makes it."""

    number: int  # its line in wav.scp
    path: Path | None
    command: str | None
    channel: int | None = None  # the channel a decoder pipe takes (sph2pipe -c N)

    @property
    def where(self) -> str:
        """``wav.scp:<line>``, for messages."""
        return f"wav.scp:{self.number}"


kaldi_split = split_of  # the split a data directory's name says (train|dev|test), or None


def _lines(path: Path, fields: int | None = None) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of a Kaldi table file's non-blank lines (split on whitespace, into
    at most ``fields``); [] when the file is missing."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, line.split(None, fields - 1) if fields else line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _table(root: Path, name: str, width: int, out: list[Candidate | Rejected], what: str) -> dict[str, tuple[str, str]]:
    """A two- or three-column table: key -> (value, ``file:line``); a line of another width is a
    ``bad_row`` (``what`` says the expected line)."""
    table: dict[str, tuple[str, str]] = {}
    for number, cols in _lines(root / name):
        where = f"{root / name}:{number}"
        if len(cols) != width:
            out.append(Rejected(where, "bad_row", f"{name}:{number}: expected '{what}' (got {len(cols)} fields)"))
            continue
        table[cols[0]] = (cols[-1], where)
    return table


def _wav_scp(root: Path, out: list[Candidate | Rejected], run_commands: bool) -> dict[str, _Recording]:
    """wav.scp's usable lines by recording id; bad lines are `Rejected` into ``out``. A decode-only
    pipe is read as its file unless ``run_commands`` (the user allowed commands: run as written,
    e.g. sph2pipe for shorten-compressed SPHERE files, which libsndfile cannot read)."""
    path = root / "wav.scp"
    recordings: dict[str, _Recording] = {}
    for number, cols in _lines(path, 2):
        where = f"{path}:{number}"
        line = f"wav.scp:{number}"
        if len(cols) < 2:
            out.append(Rejected(where, "bad_row", f"{line}: expected '<recording-id> <path>' or '<recording-id> <command> |'"))
            continue
        reco, spec = cols[0], cols[1].strip()
        if reco in recordings:
            out.append(Rejected(where, "bad_row", f"{line}: recording {reco!r} already in {recordings[reco].where}"))
        elif spec.endswith("|") and not run_commands and (decoded := decoder_input(spec[:-1])) is not None:
            audio = manifest_audio(root.parent, decoded[0])
            if audio is None:
                out.append(Rejected(where, "bad_row", f"{line}: {decoded[0]!r} is not a path"))
            else:
                recordings[reco] = _Recording(number, audio, None, decoded[1])
        elif spec.endswith("|") and spec[:-1].strip():
            recordings[reco] = _Recording(number, None, spec[:-1].strip())
        elif spec.endswith("|") or spec.startswith("|") or spec == "-":
            out.append(Rejected(where, "bad_row", f"{line}: {spec!r} is no file and no input pipe ('<command> |')"))
        elif _ARCHIVE.search(spec):
            out.append(Rejected(where, "bad_row", f"{line}: {spec!r}: archive entries (ark:, x.ark:offset) are not supported"))
        elif (audio := manifest_audio(root.parent, spec)) is None:
            out.append(Rejected(where, "bad_row", f"{line}: {spec!r} is not a path"))
        else:
            recordings[reco] = _Recording(number, audio, None)
    return recordings


_FLAC_FLAGS = {"-c", "-d", "-s", "--stdout", "--decode", "--silent"}


def decoder_input(command: str) -> tuple[str, int | None] | None:
    """The file and channel (0-based) of a pipe that only decodes one file to WAV on its standard
    output, as Kaldi recipes and ``audiosynth export --to kaldi`` write them: ``flac -c -d -s PATH``,
    ``sox PATH -t wav -``, ``sph2pipe -f wav [-p] [-c N] PATH``. Such a line is read directly
    as a file (no shell ever runs it, so no shell character can do anything); any other command
    gives None."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) >= 2 and words[0] == "flac" and set(words[1:-1]) >= {"-c", "-d"} and set(words[1:-1]) <= _FLAC_FLAGS:
        return words[-1], None
    if len(words) == 5 and words[0] == "sox" and words[2:] == ["-t", "wav", "-"]:
        return words[1], None
    if len(words) >= 4 and words[0] == "sph2pipe" and words[1:3] == ["-f", "wav"]:
        flags, channel = words[3:-1], None
        if flags[:1] == ["-p"]:
            flags = flags[1:]
        if len(flags) == 2 and flags[0] == "-c" and flags[1] in ("1", "2"):
            channel, flags = int(flags[1]) - 1, []
        return (words[-1], channel) if not flags else None
    return None


def _run_command(command: str, cwd: Path, target: Path, timeout_s: float) -> str | None:
    """Run a wav.scp pipe command in a shell in ``cwd`` and write its output as FLAC at ``target``;
    None when done, else why not (one line)."""
    from .decoded import write_flac

    proc = subprocess.Popen(  # the user allowed this corpus's commands (--allow-commands)
        command, shell=True, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        data, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the shell and every process of its pipeline
        proc.communicate()
        return f"timed out after {timeout_s:g} s"
    if proc.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return f"failed (exit status {proc.returncode}: {last[0][:200]})"
    if not data:
        return "wrote no audio"
    try:
        write_flac(data, target)
    except OSError as error:
        return f"wrote audio that could not be saved to {target} ({error})"
    except Exception as error:  # noqa: BLE001 - what libsndfile says of the bytes goes in the reject row
        return f"wrote no audio soundfile reads ({type(error).__name__}: {str(error)[:200]})"
    return None


def _audio_for(root: Path, used: dict[str, _Recording], options: WalkOptions, out: list[Candidate | Rejected]) -> dict[str, Path]:
    """The audio file of each used recording (a command's FLAC once it ran); a refused or failed
    command is `Rejected` into ``out``."""
    from .decoded import safe_file_name

    files = {reco: rec.path for reco, rec in used.items() if rec.path is not None}
    commands = {reco: rec for reco, rec in used.items() if rec.command is not None}
    wav_scp = root / "wav.scp"
    if not options.allow_commands:
        for rec in commands.values():
            detail = f"{rec.where}: a pipe command ({rec.command} |); pass --allow-commands to run it (you trust this wav.scp)"
            out.append(Rejected(f"{wav_scp}:{rec.number}", "command", detail))
        return files
    targets = {reco: options.audio_dir / f"{safe_file_name(reco, 'recording')}.flac" for reco in commands}

    def run(reco: str) -> str | None:
        return _run_command(commands[reco].command or "", root.parent, targets[reco], COMMAND_TIMEOUT_S)

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        why = dict(zip(commands, pool.map(run, commands), strict=True))
    for reco, rec in commands.items():
        if why[reco] is None:
            files[reco] = targets[reco]
        else:
            out.append(Rejected(f"{wav_scp}:{rec.number}", "unreadable", f"{rec.where}: the command ({rec.command} |) {why[reco]}"))
    return files


def _end(value: str) -> float | None:
    """A segment's end time (s): a number >= 0, or -1 (the recording's end); None when neither."""
    try:
        if float(value) == -1.0:
            return -1.0
    except ValueError:
        return None
    return seconds(value)


def walk_kaldi(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """One candidate per utterance of the data directory (a segment of its recording with ``segments``)."""
    out: list[Candidate | Rejected] = []
    recordings = _wav_scp(root, out, options.allow_commands)
    # utterance -> (recording, start, end or None for the recording's end, where)
    utterances: dict[str, tuple[str, float, float | None, str]] = {}
    if (root / "segments").is_file():
        for number, cols in _lines(root / "segments"):
            where, line = f"{root / 'segments'}:{number}", f"segments:{number}"
            start, end = (seconds(cols[2]), _end(cols[3])) if len(cols) == 4 else (None, None)
            if start is None or end is None or (end != -1.0 and end <= start):
                out.append(Rejected(where, "bad_row", f"{line}: expected '<utterance-id> <recording-id> <start_s> <end_s>', end > start"))
            elif cols[0] in utterances:
                out.append(Rejected(where, "bad_row", f"{line}: utterance {cols[0]!r} already in {utterances[cols[0]][3]}"))
            elif has_control(cols[0]):
                out.append(Rejected(where, "bad_row", f"{line}: the utterance id holds a control character"))
            elif cols[1] not in recordings:
                out.append(Rejected(where, "bad_row", f"{line}: recording {cols[1]!r} is not in wav.scp (or its line there is bad)"))
            else:
                utterances[cols[0]] = (cols[1], start, None if end == -1.0 else end, line)
    else:
        for reco, rec in recordings.items():
            if has_control(reco):
                out.append(Rejected(f"{root / 'wav.scp'}:{rec.number}", "bad_row", f"{rec.where}: the id holds a control character"))
            else:
                utterances[reco] = (reco, 0.0, None, rec.where)

    texts = {utt: (" ".join(words), number) for number, (utt, *words) in _lines(root / "text")}
    speakers = _table(root, "utt2spk", 2, out, "<utterance-id> <speaker-id>")
    genders = _table(root, "spk2gender", 2, out, "<speaker-id> m|f")
    languages = _table(root, "utt2lang", 2, out, "<utterance-id> <language>")
    channels = _table(root, "reco2file_and_channel", 3, out, "<recording-id> <file-id> <channel A|B|1|2>")
    for spk, (value, where) in list(genders.items()):
        if value.lower() not in GENDERS:
            out.append(Rejected(where, "bad_row", f"spk2gender:{where.rsplit(':', 1)[1]}: gender {value!r} is not m or f"))
            del genders[spk]
    for reco, (value, where) in list(channels.items()):
        if value.lower() not in _CHANNELS:
            line = f"reco2file_and_channel:{where.rsplit(':', 1)[1]}"
            out.append(Rejected(where, "bad_row", f"{line}: channel {value!r} is not A, B, 1 or 2"))
            del channels[reco]

    used = {reco: recordings[reco] for reco, *_ in utterances.values()}
    files = _audio_for(root, used, options, out)
    split = kaldi_split(root.name)
    candidates: list[Candidate] = []
    for utt, (reco, start, end, _) in utterances.items():
        if reco not in files:  # its wav.scp line was refused or its command failed: rejected there
            continue
        speaker: str | None = None
        if utt in speakers:
            speaker, where = speakers[utt]
            if not NAME.fullmatch(speaker):
                detail = f"utt2spk:{where.rsplit(':', 1)[1]}: speaker {speaker[:60]!r} is not a name ({NAME.pattern})"
                out.append(Rejected(where, "bad_row", detail))
                continue
            speaker = None if speaker == utt else speaker
        text, text_line = texts.get(utt, ("", 0))
        if has_control(text):
            out.append(Rejected(f"{root / 'text'}:{text_line}", "bad_row", f"text:{text_line}: the transcript holds a control character"))
            text = ""
        audio = files[reco]
        channel = _CHANNELS[channels[reco][0].lower()] if reco in channels else recordings[reco].channel
        if channel is not None and channel_count(audio) < 2:
            channel = None  # a mono file: wav.scp already gives the channel (sph2pipe -c 1)
        candidates.append(
            candidate(
                audio,
                id=utt,
                kind=options.kind,
                offset=start or None,
                duration=0.0 if end is None else end - start,
                channel=channel,
                speaker=speaker,
                text=text or None,
                language=languages[utt][0] if utt in languages else None,
                gender=GENDERS[genders[speaker][0].lower()] if speaker in genders else None,
                split=split,
                corpus=options.corpus,
            )
        )
    return out + candidates


SOURCE = Source(
    name="kaldi",
    description="ROOT is a Kaldi data dir: wav.scp, segments, text, utt2spk, spk2gender (pipes other than decoders need --allow-commands)",
    walk=walk_kaldi,
    default_kind="speech",
    reads_paths=True,
)
