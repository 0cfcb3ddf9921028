"""LibriTTS (OpenSLR 60) and LibriTTS-R (OpenSLR 141, the same layout, restored audio):
``ROOT/[<subset>/]<speaker>/<chapter>/<speaker>_<chapter>_<paragraph>_<sentence>.wav``, beside each
wav its ``.normalized.txt`` and ``.original.txt``, and per chapter ``<speaker>_<chapter>.trans.tsv``
(``id <TAB> original <TAB> normalized``); genders in ``speakers.tsv`` (``READER GENDER SUBSET NAME``,
a header line, tab-separated) or ``SPEAKERS.txt`` (LibriSpeech's ``ID | SEX | SUBSET | MINUTES |
NAME``), in ROOT or beside a subset; a subset (``train-clean-100``, ``dev-clean``, ``test-other``...)
is a split.

text = the normalized text (``trans.tsv``, else the ``.normalized.txt``, else the original's);
``original_text`` = the original text when it differs (``--text-norm`` then normalizes the
original, and ``keep`` restores it).

LibriTTS-R ships lists of utterances whose restoration failed,
``libritts_r_failed_speech_restoration_examples/<subset>_bad_sample_list.txt`` (one
``./<subset>/<speaker>/<chapter>/<id>.wav`` per line): when that folder is in ROOT or beside it
(or beside ROOT's folder, for ROOT a subset), the utterances it lists are rejects naming its file
and line. ``libritts`` and ``libritts_r`` are the same walker, registered twice so that the
catalog's corpus names which one it is.
"""

from __future__ import annotations

from pathlib import Path

from .sources import GENDERS, LIBRI_SUBSET, Candidate, Rejected, Source, WalkOptions, audio_files, candidate, read_text, subdirs

BAD_LISTS = "libritts_r_failed_speech_restoration_examples"


def walk_libritts(root: Path, options: WalkOptions) -> list[Candidate | Rejected]:
    """Every ``<speaker>_<chapter>_<par>_<sent>`` utterance with its normalized text, its speaker's
    gender and its subset's split; those in a LibriTTS-R bad-sample list are rejects."""
    subsets = [d for d in subdirs(root) if LIBRI_SUBSET.match(d.name)]
    is_subset = not subsets and bool(LIBRI_SUBSET.match(root.name))
    subsets = subsets or [root]
    above = [root, root.parent] if not is_subset else [root, root.parent, root.parent.parent]
    genders = next((g for folder in above[:2] if (g := _genders(folder))), {})
    bad = _bad_samples([folder / BAD_LISTS for folder in above])
    out: list[Candidate | Rejected] = []
    for subset in subsets:
        match = LIBRI_SUBSET.match(subset.name)
        for speaker in subdirs(subset):
            for chapter in subdirs(speaker):
                texts = _trans_tsv(chapter / f"{speaker.name}_{chapter.name}.trans.tsv")
                for audio in audio_files(chapter):
                    if audio.stem in bad:
                        out.append(Rejected(str(audio), "bad_row", f"listed as a failed speech restoration in {bad[audio.stem]}"))
                        continue
                    original, normalized = texts.get(audio.stem, (None, None))
                    original = original or read_text(audio.with_suffix(".original.txt"))
                    text = normalized or read_text(audio.with_suffix(".normalized.txt")) or original
                    out.append(
                        candidate(
                            audio,
                            id=audio.stem,
                            kind=options.kind,
                            speaker=speaker.name,
                            language="en",
                            text=text,
                            original_text=original if original != text else None,
                            gender=genders.get(speaker.name),
                            split=match.group(1) if match else None,
                            corpus=options.corpus,
                        )
                    )
    return out


def _trans_tsv(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """A chapter's ``trans.tsv`` -> id -> (original, normalized) texts (None where a column is missing or blank)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cols = [" ".join(c.split()) or None for c in line.split("\t")]
        original, normalized = (cols[1] if len(cols) > 1 else None), (cols[2] if len(cols) > 2 else None)
        if cols[0] and (original or normalized):
            out[cols[0]] = (original, normalized)
    return out


def _genders(folder: Path) -> dict[str, str]:
    """``speakers.tsv`` (a header, then ``id <TAB> F|M <TAB> subset <TAB> name``) or ``SPEAKERS.txt``
    (``id | F|M | subset | minutes | name``, ';' comments) in ``folder`` -> speaker -> gender."""
    out = {}
    for name, separator in (("speakers.tsv", "\t"), ("SPEAKERS.txt", "|"), ("SPEAKERS.TXT", "|")):
        path = folder / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            cols = [c.strip() for c in line.split(separator)]
            if not line.startswith(";") and len(cols) >= 2 and cols[1].lower() in GENDERS:
                out[cols[0]] = GENDERS[cols[1].lower()]
        if out:
            return out
    return out


def _bad_samples(folders: list[Path]) -> dict[str, str]:
    """The utterance ids in the ``*_bad_sample_list.txt`` files of the first of ``folders`` that
    exists -> ``file:line`` where each is listed."""
    for folder in folders:
        if not folder.is_dir():
            continue
        out: dict[str, str] = {}
        for path in sorted(folder.glob("*_bad_sample_list.txt")):
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                name = line.strip().rsplit("/", 1)[-1]
                if name:
                    out.setdefault(name.removesuffix(".wav"), f"{path}:{number}")
        return out
    return {}


SOURCE = Source(
    name="libritts",
    description="ROOT/[<subset>/]<speaker>/<chapter>/<speaker>_<chapter>_<par>_<sent>.wav with .normalized.txt beside each",
    walk=walk_libritts,
    default_kind="speech",
)
SOURCE_R = Source(
    name="libritts_r",
    description="LibriTTS-R: the libritts layout; utterances in libritts_r_failed_speech_restoration_examples/ are rejected",
    walk=walk_libritts,
    default_kind="speech",
)
