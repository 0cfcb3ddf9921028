"""Any folder: every audio file below ROOT, all of one kind (given by the user)."""

from __future__ import annotations

import os
from pathlib import Path

from .sources import AUDIO_EXTENSIONS, Candidate, Source, WalkOptions, candidate, read_text


def walk_folder(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every audio file below ``root`` (links followed, each folder once), id from its path, text from a ``.txt``/``.lab`` beside it."""
    corpus, kind = options.corpus, options.kind
    out = []
    visited: set[tuple[int, int]] = set()  # (device, inode) of folders walked: a symlink loop is entered once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            here = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (here.st_dev, here.st_ino) in visited:
            dirnames[:] = []
            continue
        visited.add((here.st_dev, here.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            audio = Path(dirpath) / name
            if name.startswith(".") or audio.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
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
