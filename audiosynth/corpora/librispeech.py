"""LibriSpeech: ``ROOT/[<subset>/]<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``, transcripts
in ``<speaker>-<chapter>.trans.txt``, genders in ``SPEAKERS.TXT``; a subset (train-*, dev-*, test-*) is a split."""

from __future__ import annotations

import re
from pathlib import Path

from .sources import GENDERS, Candidate, Source, WalkOptions, audio_files, candidate, read_table, subdirs

_SUBSET = re.compile(r"^(train|dev|test)(?:[-_].*)?$")


def walk_librispeech(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every ``<speaker>-<chapter>-<utt>`` file, with its transcript, its speaker's gender and its subset's split."""
    corpus, kind = options.corpus, options.kind
    subsets = [d for d in subdirs(root) if _SUBSET.match(d.name)] or [root]
    genders = _librispeech_genders(root / "SPEAKERS.TXT") or _librispeech_genders(root.parent / "SPEAKERS.TXT")
    out = []
    for subset in subsets:
        match = _SUBSET.match(subset.name)
        for speaker in subdirs(subset):
            for chapter in subdirs(speaker):
                texts = read_table(chapter / f"{speaker.name}-{chapter.name}.trans.txt")
                for audio in audio_files(chapter):
                    out.append(
                        candidate(
                            audio,
                            id=audio.stem,
                            kind=kind,
                            speaker=speaker.name,
                            language="en",
                            text=" ".join(texts.get(audio.stem, ())) or None,
                            gender=genders.get(speaker.name),
                            split=match.group(1) if match else None,
                            corpus=corpus,
                        )
                    )
    return out


def _librispeech_genders(path: Path) -> dict[str, str]:
    """SPEAKERS.TXT (``ID | SEX | SUBSET | MINUTES | NAME``, ';' comments) -> speaker -> gender."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cols = [c.strip() for c in line.split("|")]
        if line.startswith(";") or len(cols) < 2 or cols[1].lower() not in GENDERS:
            continue
        out[cols[0]] = GENDERS[cols[1].lower()]
    return out


SOURCE = Source(
    name="librispeech",
    description="ROOT/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac, or the same below subsets such as ROOT/dev-clean/",
    walk=walk_librispeech,
    default_kind="speech",
)
