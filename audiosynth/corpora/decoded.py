"""Audio a source has to decode before it can be catalogued (the output of a Kaldi ``wav.scp`` pipe,
the bytes of a Hugging Face dataset's audio column, a Lhotse ``command`` source), written as FLAC files
under the catalog's audio folder (`sources.WalkOptions.audio_dir`) under names the source cannot
choose unsafely, and never through a link planted there (`audio_target`, `write_new`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import soundfile as sf

BLOCK_FRAMES = 65536
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What libsndfile decodes to at most 16 bits of precision (8/16-bit PCM, companded, lossy codecs): written as 16-bit FLAC.
_SIXTEEN_BITS = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "ULAW", "ALAW", "GSM610", "VORBIS", "OPUS"} | {"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}
)


def safe_file_name(name: str, fallback: str) -> str:
    """``name`` as one path component: letters, digits, ``.``, ``_``, ``-`` only (others become
    ``_``), no leading dot, at most 100 characters; a changed name gets 8 hex digits of its hash so
    that two names cannot become one. ``fallback`` (itself safe) when nothing is left."""
    safe = _UNSAFE.sub("_", name).lstrip("._-")[:100]
    if not safe:
        return fallback
    if safe != name:
        safe = f"{safe}-{hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
    return safe


def audio_target(audio_dir: Path, *parts: str) -> Path:
    """``audio_dir / parts...``, its folders below ``audio_dir`` made; raises `OSError` when one of
    them is a link or no folder (a link planted there would have the file written elsewhere)."""
    folder = audio_dir
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts[:-1]:
        folder = folder / part
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        if folder.is_symlink() or not folder.is_dir():
            raise OSError(f"{folder} is a link or no folder: nothing is written through it")
    return folder / parts[-1]


def write_new(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``target`` with ``write(handle)``: into a temporary file beside it created anew (what
    lies at its name, a link too, is removed first, never followed), then renamed over ``target``
    (a link there is replaced, not followed). The temporary file is removed on any error."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_flac(data: bytes, target: Path) -> None:
    """Decode audio bytes (anything libsndfile reads: WAV, FLAC, OGG, MP3, ...) and write them as
    FLAC at ``target`` (its folder made: `audio_target` checks those below the audio folder; `write_new`). 8/16-bit PCM is written as
    16-bit FLAC (sample for sample), a lossy codec's output too, deeper PCM and float as 24-bit.
    Raises `soundfile.LibsndfileError` (or `RuntimeError`/`ValueError`) when the bytes are not
    audio or FLAC cannot hold them (more than 8 channels), `OSError` when it cannot be written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(io.BytesIO(data)) as src:
        subtype = "PCM_16" if src.subtype in _SIXTEEN_BITS else "PCM_24"

        def copy(handle: BinaryIO) -> None:
            with sf.SoundFile(handle, "w", src.samplerate, src.channels, subtype, format="FLAC") as dst:
                for block in src.blocks(BLOCK_FRAMES, dtype="float64", always_2d=True):
                    dst.write(block)

        write_new(target, copy)
