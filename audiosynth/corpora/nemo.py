"""NeMo manifests: JSON lines with ``audio_filepath``, ``duration``, ``offset``, ``text``, and
``speaker`` / ``lang`` / ``gender`` / ``split`` when present; ROOT is the manifest file.

A line with an ``offset`` or a ``duration`` shorter than its file is a segment of that file. Paths
are relative to the manifest's folder; they must lie below it or an ``--audio-root``.
"""

from __future__ import annotations

from pathlib import Path

from .sources import GENDERS, Candidate, Rejected, Source, WalkOptions, candidate, manifest_audio, read_jsonl, seconds, unique_ids


def walk_nemo(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """One candidate per manifest line (a segment when it has an offset or a duration)."""
    out: list[Candidate | Rejected] = []
    candidates: list[Candidate] = []
    for number, row in read_jsonl(root):
        if isinstance(row, Rejected):
            out.append(row)
            continue
        where = f"{root}:{number}"
        audio = manifest_audio(root.parent, row.get("audio_filepath"))
        duration = seconds(row.get("duration"))
        offset = seconds(row.get("offset", 0.0))
        if audio is None or duration is None or duration == 0 or offset is None:
            field = "audio_filepath" if audio is None else "offset" if offset is None else "duration"
            out.append(Rejected(where, "bad_row", f"'{field}' is missing or not valid (got {row.get(field)!r})"))
            continue
        text = row.get("text")
        speaker = row.get("speaker")
        candidates.append(
            candidate(
                audio,
                id=audio.with_suffix("").name,
                kind=options.kind,
                duration=duration,
                offset=offset or None,
                text=text if isinstance(text, str) and text.strip() and text != "-" else None,
                speaker=str(speaker) if isinstance(speaker, (str, int)) and not isinstance(speaker, bool) else None,
                language=row.get("lang") if isinstance(row.get("lang"), str) else None,
                gender=GENDERS.get(str(row.get("gender", "")).lower()),
                split=row.get("split") if row.get("split") in ("train", "dev", "test") else None,
                corpus=options.corpus,
            )
        )
    return out + list(unique_ids(candidates))


SOURCE = Source(
    name="nemo",
    description="ROOT is a NeMo JSON-lines manifest (audio_filepath, duration, offset, text, speaker)",
    walk=walk_nemo,
    default_kind="speech",
    corpus_from_root=True,
    reads_paths=True,
    root_is_file=True,
)
