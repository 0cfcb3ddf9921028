"""VCTK: ``ROOT/wav48_silence_trimmed/<speaker>/<speaker>_<nnn>_<mic>.flac`` (0.92) or
``ROOT/wav48/<speaker>/*.wav`` (0.80), transcripts in ``ROOT/txt/``, speakers in ``speaker-info.txt``."""

from __future__ import annotations

from pathlib import Path

from ..errors import CatalogError
from .sources import GENDERS, Candidate, Source, WalkOptions, audio_files, candidate, read_table, read_text, subdirs


def walk_vctk(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every utterance of microphone ``mic``, with its transcript and its speaker's gender and accent."""
    corpus, kind, mic = options.corpus, options.kind, options.mic
    if mic not in ("mic1", "mic2"):
        raise CatalogError(f"VCTK mic must be 'mic1' or 'mic2' (got {mic!r})")
    wav_dir, suffix = root / "wav48_silence_trimmed", f"_{mic}"
    if not wav_dir.is_dir() and (root / "wav48").is_dir():  # VCTK 0.80: one mic, no suffix
        wav_dir, suffix = root / "wav48", ""
    info = {}
    for spk, cols in read_table(root / "speaker-info.txt").items():
        if spk.upper() != "ID" and len(cols) >= 2:
            accent = cols[2] if len(cols) > 2 else None
            info[f"p{spk}" if spk.isdigit() else spk] = (GENDERS.get(cols[1].lower()), accent)
    out = []
    for speaker in subdirs(wav_dir):
        gender, accent = info.get(speaker.name, (None, None))
        for audio in audio_files(speaker):
            if not audio.stem.endswith(suffix):
                continue
            utt = audio.stem[: len(audio.stem) - len(suffix)]
            out.append(
                candidate(
                    audio,
                    id=audio.stem,
                    kind=kind,
                    speaker=speaker.name,
                    language="en",
                    gender=gender,
                    text=read_text(root / "txt" / speaker.name / f"{utt}.txt"),
                    tags=(f"accent:{accent}",) if accent else (),
                    corpus=corpus,
                )
            )
    return out


SOURCE = Source(
    name="vctk",
    description="ROOT/wav48_silence_trimmed/<speaker>/<speaker>_<nnn>_{mic}.flac (or ROOT/wav48/<speaker>/*.wav)",
    walk=walk_vctk,
    default_kind="speech",
)
