"""Audio a source has to decode before it can be catalogued (the output of a Kaldi ``wav.scp`` pipe,
the bytes of a Hugging Face dataset's audio column), written as FLAC files under the catalog's audio
folder (`sources.WalkOptions.audio_dir`) under names the source cannot choose unsafely."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

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


def write_flac(data: bytes, target: Path) -> None:
    """Decode audio bytes (anything libsndfile reads: WAV, FLAC, OGG, MP3, ...) and write them as
    FLAC at ``target`` (folders made; written under a temporary name, then renamed). 8/16-bit PCM
    is written as 16-bit FLAC (sample for sample), a lossy codec's output too, deeper PCM and float as 24-bit. Raises
    `soundfile.LibsndfileError` (or `RuntimeError`/`ValueError`) when the bytes are not audio or
    FLAC cannot hold them (more than 8 channels)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with sf.SoundFile(io.BytesIO(data)) as src:
            subtype = "PCM_16" if src.subtype in _SIXTEEN_BITS else "PCM_24"
            with sf.SoundFile(tmp, "w", src.samplerate, src.channels, subtype, format="FLAC") as dst:
                for block in src.blocks(BLOCK_FRAMES, dtype="float64", always_2d=True):
                    dst.write(block)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
