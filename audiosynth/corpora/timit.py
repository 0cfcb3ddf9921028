"""TIMIT (LDC93S1): ``ROOT/{TRAIN,TEST}/DR<n>/<speaker>/<sentence>.WAV`` (NIST SPHERE with a .WAV
name, e.g. ``TRAIN/DR1/FCJF0/SA1.WAV``) and beside each ``<sentence>.TXT`` (``0 46797 She had your
dark suit...``: a sample range, then the prompt), ``.WRD`` (``3050 5723 she``) and ``.PHN``
(``0 3050 h#``): word and phone boundaries in samples at 16 kHz.

Also read: the lower-case copies (``timit/train/dr1/fcjf0/sa1.wav``, ``sa1.wrd``) and the Kaggle
copy, whose audio is converted to RIFF as ``SA1.WAV.wav`` next to the original ``SA1.WAV`` (the
RIFF file is taken when both are there), the TRAIN/TEST folders directly in ROOT or one folder down
(``ROOT/TIMIT/TRAIN``, ``ROOT/data/TRAIN``); ROOT may also be the TRAIN or TEST folder itself.

Each clip: id ``<speaker>-<sentence>`` (``FCJF0-SA1``: the two SA sentences are read by every
speaker), speaker the folder's name upper-cased, gender from its first letter (F/M), split
``train``/``test`` from the folder (TIMIT has no dev set: the test speakers stay ``test``), tags the
dialect region (``DR1``), the sentence type (``SA``, ``SI`` or ``SX``) and ``core_test`` for the
24 speakers of the core test set; the prompt as the text; words (``.WRD``) and phones (``.PHN``,
pauses ``h#``, ``pau``, ``epi`` included) in seconds from the clip's start, as listed (TIMIT's word
intervals may overlap a little). A malformed ``.WRD``/``.PHN`` line leaves the clip without
words/phones (a warning names file:line) but catalogued: its audio is fine; words past the end of
the audio are dropped after the scan (`alignments.fit`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .alignments import Interval
from .sources import GENDERS, Candidate, Source, WalkOptions, candidate, subdirs

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # the rate of TIMIT's .WRD / .PHN sample indices
SPLITS = ("train", "test")
CORE_TEST = frozenset(  # the core test set: two men and a woman per dialect region, DR1 to DR8
    {
        *("MDAB0", "MWBT0", "FELC0", "MTAS1", "MWEW0", "FPAS0", "MJMP0", "MLNT0", "FPKT0", "MLLL0", "MTLS0", "FJLM0"),
        *("MBPM0", "MKLT0", "FNLP0", "MCMJ0", "MJDH0", "FMGD0", "MGRT0", "MNJM0", "FDHC0", "MJLN0", "MPAM0", "FMLD0"),
    }
)
_REGION = re.compile(r"^DR\d+$")
_SENTENCE = re.compile(r"^(S[AIX])\d+$")
_PROMPT = re.compile(r"^\s*\d+\s+\d+\s+(.*?)\s*$", re.DOTALL | re.ASCII)
_MARK = re.compile(r"^\s*(\d{1,12})\s+(\d{1,12})\s+(\S+)\s*$", re.ASCII)  # sample indices: 12 digits are years of audio


def walk_timit(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every sentence of every speaker, with its prompt, words, phones, dialect region and split."""
    out = []
    for split_dir, split in _split_dirs(root):
        for region in subdirs(split_dir):
            for speaker in subdirs(region):
                out += _speaker(speaker, region.name.upper(), split, options)
    return out


def _split_dirs(root: Path) -> list[tuple[Path, str | None]]:
    """The TRAIN / TEST folders (any case) in ROOT or one folder down, with their splits; ROOT itself
    when it is one; else ROOT, holding the DR folders, with no split."""
    if root.name.lower() in SPLITS:
        return [(root, root.name.lower())]
    for base in (root, *subdirs(root)):
        found: list[tuple[Path, str | None]] = [(d, d.name.lower()) for d in subdirs(base) if d.name.lower() in SPLITS]
        if found:
            return found
    return [(root, None)]


def _speaker(folder: Path, region: str, split: str | None, options: WalkOptions) -> list[Candidate]:
    """The sentences in one speaker's folder."""
    files = {p.name.lower(): p for p in folder.iterdir() if not p.name.startswith(".") and not p.is_dir()}
    audio: dict[str, Path] = {}  # sentence (lower case) -> its audio; the RIFF copy wins
    for name, path in files.items():
        if name.endswith(".wav") and (name.endswith(".wav.wav") or name.split(".")[0] not in audio):
            audio[name.split(".")[0]] = path
    speaker = folder.name.upper()
    out = []
    for sentence, path in sorted(audio.items()):
        kind = _SENTENCE.match(sentence.upper())
        tags = [region] if _REGION.match(region) else []
        tags += [kind.group(1)] if kind else []
        tags += ["core_test"] if split == "test" and speaker in CORE_TEST else []
        out.append(
            candidate(
                path,
                id=f"{speaker}-{sentence.upper()}",
                kind=options.kind,
                speaker=speaker,
                text=_prompt(files.get(f"{sentence}.txt")),
                language="en",
                gender=GENDERS.get(speaker[:1].lower()),
                split=split,
                tags=tuple(tags),
                corpus=options.corpus,
                words=_marks(files.get(f"{sentence}.wrd"), "words"),
                phones=_marks(files.get(f"{sentence}.phn"), "phones"),
            )
        )
    return out


def _prompt(path: Path | None) -> str | None:
    """A ``.TXT`` file's prompt (after its sample range), or None (missing, or no range: a warning)."""
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    match = _PROMPT.match(text)
    if match is None:
        logger.warning("%s:1: expected '<start> <end> <prompt>'; the clip is catalogued without a transcript", path)
        return None
    return " ".join(match.group(1).split()) or None


def _marks(path: Path | None, name: str) -> tuple[Interval, ...] | None:
    """A ``.WRD`` / ``.PHN`` file's ``<start> <end> <label>`` lines in seconds (sorted by start, as
    listed otherwise), or None when missing or malformed (a warning names file:line)."""
    if path is None or not path.is_file():
        return None
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = _MARK.match(line)
        if match is None or int(match.group(2)) < int(match.group(1)) or not match.group(3).isprintable():
            logger.warning(
                "%s:%d: expected '<start> <end> <label>' (samples, start <= end); the clip is catalogued without %s", path, number, name
            )
            return None
        out.append((match.group(3), int(match.group(1)) / SAMPLE_RATE, int(match.group(2)) / SAMPLE_RATE))
    return tuple(sorted(out, key=lambda x: x[1]))


SOURCE = Source(
    name="timit",
    description="ROOT/{TRAIN,TEST}/DR<n>/<speaker>/<sentence>.WAV with .TXT/.WRD/.PHN beside (any case; Kaggle's .WAV.wav too)",
    walk=walk_timit,
    default_kind="speech",
)
