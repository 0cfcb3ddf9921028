"""MUSAN: ``ROOT/{music,noise,speech}/<source>/*.wav`` (or the same below ``ROOT/musan/``), with each
source's ``ANNOTATIONS``; music and noise are noise clips, speech is speech."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .sources import GENDERS, Candidate, Source, WalkOptions, audio_files, candidate, read_table, subdirs

_LANGUAGES = {
    "english": "en",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "dutch": "nl",
    "portuguese": "pt",
    "russian": "ru",
    "chinese": "zh",
    "japanese": "ja",
    "polish": "pl",
}
_MUSAN_KINDS = {"music": "noise", "noise": "noise", "speech": "speech"}


def walk_musan(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every file of every source of each category; its kind is ``kind``, else its category's."""
    corpus, kind = options.corpus, options.kind
    if not any((root / c).is_dir() for c in _MUSAN_KINDS) and (root / "musan").is_dir():
        root = root / "musan"
    out = []
    for category, default_kind in _MUSAN_KINDS.items():
        for source in subdirs(root / category):
            notes = read_table(source / "ANNOTATIONS")
            for audio in audio_files(source):
                fields = _musan_fields(category, notes.get(audio.stem, []))
                out.append(
                    candidate(
                        audio,
                        id=audio.stem,
                        kind=kind or default_kind,
                        corpus=corpus,
                        tags=(category, source.name, *fields.pop("tags")),
                        **fields,
                    )
                )
    return out


def _musan_fields(category: str, cols: list[str]) -> dict[str, Any]:
    """MUSAN ANNOTATIONS columns after the stem: music ``genre[,genre] Y|N artist``; speech ``m|f language``."""
    if category == "speech" and cols:
        language = _LANGUAGES.get(cols[1].lower(), cols[1].lower()) if len(cols) > 1 else None
        return {"gender": GENDERS.get(cols[0].lower()), "language": language, "tags": tuple(cols[2:])}
    if category == "music" and cols:
        vocals = {"y": ("vocals",), "n": ("no_vocals",)}.get(cols[1].lower(), cols[1:2]) if len(cols) > 1 else ()
        artist = tuple(f"artist:{a}" for a in cols[2:3])
        return {"tags": (*(g for g in cols[0].split(",") if g), *vocals, *artist, *cols[3:])}
    return {"tags": tuple(cols)}


SOURCE = Source(name="musan", description="ROOT/{music,noise,speech}/<source>/*.wav", walk=walk_musan)
