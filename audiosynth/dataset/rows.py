"""Manifest rows as every reader sees them: streamed rows, their talkers and speakers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .trust import manifest_lines


def iter_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Rows of a manifest.jsonl, read lazily, NOT checked (readers of untrusted datasets use
    `audiosynth.trust.read_rows`); a line that is not JSON raises a one-line `DatasetError`."""
    for _, row in manifest_lines(Path(path)):
        if isinstance(row, DatasetError):
            raise row
        yield row


def row_talkers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A manifest row's talker utterances (role, speaker, clip, text, start, end in s): its
    ``segments``, or one spanning a single-talker example; ``speaker`` may be None."""
    labels = row["labels"]
    if labels.get("segments"):
        return list(labels["segments"])
    if not labels.get("speech_clip"):
        return []
    return [
        {
            "role": row["scene"]["sources"][0]["role"],
            "speaker": labels.get("speaker"),
            "clip": labels["speech_clip"],
            "text": labels.get("text"),
            "start": 0.0,
            "end": row["duration"],
        }
    ]


def speaker_name(talker: dict[str, Any]) -> str:
    """A talker's speaker; a clip with no speaker stands for its own."""
    return talker["speaker"] or f"clip:{talker['clip']}"


def row_speakers(row: dict[str, Any]) -> list[str]:
    """The speakers of a manifest row."""
    return [speaker_name(t) for t in row_talkers(row)]
