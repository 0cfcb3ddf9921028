"""LibriSpeech: ``ROOT/[<subset>/]<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``, transcripts
in ``<speaker>-<chapter>.trans.txt``, genders in ``SPEAKERS.TXT``; a subset (train-*, dev-*, test-*) is a split.

Alignments merged into the corpus tree are picked up: a chapter's ``<speaker>-<chapter>.alignment.txt``
(the condensed MFA word alignments, CorentinJ/librispeech-alignments) gives words, an ``<utt>.TextGrid``
beside the audio (MFA's output, e.g. Lugosch et al.'s) words (when no .alignment.txt has them) and
phones (`alignments`; a malformed one is skipped with a warning naming file:line).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .alignments import Alignments, read_librispeech_alignment, read_textgrid
from .sources import GENDERS, LIBRI_SUBSET, Candidate, Source, WalkOptions, audio_files, candidate, read_table, subdirs

logger = logging.getLogger(__name__)


def walk_librispeech(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every ``<speaker>-<chapter>-<utt>`` file, with its transcript, its speaker's gender and its subset's split."""
    corpus, kind = options.corpus, options.kind
    subsets = [d for d in subdirs(root) if LIBRI_SUBSET.match(d.name)] or [root]
    genders = _librispeech_genders(root / "SPEAKERS.TXT") or _librispeech_genders(root.parent / "SPEAKERS.TXT")
    out = []
    for subset in subsets:
        match = LIBRI_SUBSET.match(subset.name)
        for speaker in subdirs(subset):
            for chapter in subdirs(speaker):
                texts = read_table(chapter / f"{speaker.name}-{chapter.name}.trans.txt")
                files = audio_files(chapter)
                aligned = _alignments_beside(chapter, f"{speaker.name}-{chapter.name}", files)
                for audio in files:
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
                            words=aligned.words.get(audio.stem),
                            phones=aligned.phones.get(audio.stem),
                        )
                    )
    return out


def _alignments_beside(chapter: Path, name: str, audio: list[Path]) -> Alignments:
    """The alignments in a chapter's folder: ``<name>.alignment.txt``, then each ``<utt>.TextGrid``
    (the first file to give an utterance its words keeps them); problems are logged."""
    out = Alignments()
    if (chapter / f"{name}.alignment.txt").is_file():
        out.merge(read_librispeech_alignment(chapter / f"{name}.alignment.txt"))
    for path in audio:
        grid = path.with_suffix(".TextGrid")
        if grid.is_file():
            found = read_textgrid(grid)
            found.words = {utt: words for utt, words in found.words.items() if utt not in out.words}
            out.merge(found)
    for problem in out.problems:
        logger.warning("alignment skipped: %s", problem)
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
