"""AISHELL-1 (OpenSLR 33): ``ROOT/data_aishell/wav/{train,dev,test}/<speaker>/BAC009<speaker>W<nnnn>.wav``
(ROOT may also be ``data_aishell`` itself), transcripts in ``data_aishell/transcript/aishell_transcript_v0.8.txt``
(``BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购``: the id, then the words separated by
spaces, kept as given), genders in ``resource_aishell/speaker.info`` (``0002 F``, the speaker's
number and F / M; beside ``data_aishell`` or inside ROOT) when present. language = zh; the folder
below ``wav`` is the split. A wav without a transcript line is catalogued without text.

``data_aishell.tgz`` holds one ``<speaker>.tar.gz`` per speaker in ``wav/``; they must be
extracted first (``cd data_aishell/wav && for f in *.tar.gz; do tar -xzf "$f"; done``). A
folder with only those tarballs is refused with that hint; a tarball left beside extracted
speakers is a reject. Nothing is extracted here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CatalogError
from .sources import GENDERS, Candidate, Rejected, Source, WalkOptions, audio_files, candidate, read_table, subdirs

SPLITS = ("train", "dev", "test")
TRANSCRIPT = "transcript/aishell_transcript_v0.8.txt"
EXTRACT = 'cd {wav} && for f in *.tar.gz; do tar -xzf "$f"; done'


def walk_aishell(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every utterance of every speaker of every split, with its transcript and its speaker's gender."""
    data = root / "data_aishell" if (root / "data_aishell").is_dir() else root
    wav = data / "wav"
    texts = read_table(data / TRANSCRIPT)
    genders = _genders(data.parent / "resource_aishell" / "speaker.info") or _genders(root / "resource_aishell" / "speaker.info")
    tarballs = sorted(wav.glob("*.tar.gz")) + sorted(p for s in SPLITS for p in (wav / s).glob("*.tar.gz"))
    out: list[Candidate | Rejected] = []
    for split in SPLITS:
        for speaker in subdirs(wav / split):
            for audio in audio_files(speaker):
                words = texts.get(audio.stem)
                out.append(
                    candidate(
                        audio,
                        id=audio.stem,
                        kind=options.kind,
                        speaker=speaker.name,
                        text=" ".join(words) if words else None,
                        language="zh",
                        gender=genders.get(speaker.name),
                        split=split,
                        corpus=options.corpus,
                    )
                )
    if not out and tarballs:
        raise CatalogError(
            f"{wav}: holds {len(tarballs)} speaker tarballs ({tarballs[0].name}, ...) but no extracted wav folders; "
            f"extract them first: {EXTRACT.format(wav=wav)}"
        )
    detail = f"a speaker's tarball that is not extracted; extract it: {EXTRACT.format(wav=wav)}"
    return out + [Rejected(str(t), "not_audio", detail) for t in tarballs]


def _genders(path: Path) -> dict[str, str]:
    """speaker.info (``0002 F`` or ``S0002 F`` per line) -> ``S0002`` -> gender."""
    out = {}
    for key, cols in read_table(path).items():
        if cols and cols[0].lower() in GENDERS:
            out[key if key.startswith("S") else f"S{key}"] = GENDERS[cols[0].lower()]
    return out


SOURCE = Source(
    name="aishell",
    description="ROOT/data_aishell/wav/{train,dev,test}/<speaker>/*.wav with data_aishell/transcript/aishell_transcript_v0.8.txt",
    walk=walk_aishell,
    default_kind="speech",
)
