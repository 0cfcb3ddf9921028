"""Any folder: every audio file below ROOT, all of one kind (given by the user)."""

from __future__ import annotations

from pathlib import Path

from .sources import AUDIO_EXTENSIONS, Candidate, Source, WalkOptions, candidate, files_below, read_text


def walk_folder(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every audio file below ``root`` (links followed, each folder once), id from its path, text from a ``.txt``/``.lab`` beside it."""
    corpus, kind = options.corpus, options.kind
    out = []
    for audio in files_below(root):
        text = read_text(audio.with_suffix(".txt")) or read_text(audio.with_suffix(".lab"))
        clip_id = audio.relative_to(root).with_suffix("").as_posix().replace("/", "-")
        out.append(candidate(audio, id=clip_id, kind=kind, text=text, corpus=corpus))
    return out


SOURCE = Source(
    name="folder",
    description="audio files (" + ", ".join(sorted(AUDIO_EXTENSIONS)) + ") anywhere below ROOT",
    walk=walk_folder,
    needs_kind=True,
    corpus_from_root=True,
)
