"""BUT Speech@FIT Reverb Database (``BUT_ReverbDB_rel_19_06_RIR-Only.tgz``), and any multi-position
RIR set laid out one folder per room.

BUT ReverbDB: ``ROOT[/BUT_ReverbDB_rel_19_06_RIR-Only]/<room>/MicID01/<SpkID01_20190503_S>/<NN>/``
holds ``RIR/IR_sweep_15s_45Hzto22kHz_FS16kHz.v00.wav`` (the RIR of loudspeaker position SpkID at
microphone NN), ``silence/*.wav`` (the room's background noise at that microphone) and
``mic_meta.txt``; ``<SpkID...>/spk_meta.txt`` and ``<room>/env_meta.txt`` describe the loudspeaker
and the room. The meta files are ``$Key<TAB>value`` lines: ``$EnvMicID`` N with
``$EnvMic<N>{Width,Depth,Height}`` (m), ``$EnvMic<N>RelRT60`` (s) and ``$EnvMic<N>RelDistance`` (m);
``$EnvSpk1{Width,Depth,Height}``; ``$Env{Width,Depth,Height}``. Rooms: ``VUT_FIT_Q301``,
``VUT_FIT_L207``, ``VUT_FIT_L212``, ``VUT_FIT_L227``, ``VUT_FIT_C236``, ``VUT_FIT_D105``, ``VUT_FIT_E112``,
``Hotel_SkalskyDvur_Room112``, ``Hotel_SkalskyDvur_ConferenceRoom2``.

Every RIR below ``<room>/`` has ``room`` = ``<room>`` (all its microphone and loudspeaker positions are
positions of one room, so a scene's talkers are placed in one room), tags ``config:MicID01``,
``source:SpkID01_20190503_S``, ``mic:01`` and, from the meta files, ``rt60:``, ``distance_m:``,
``mic_xyz:w,d,h``, ``source_xyz:w,d,h`` and ``room_m:WxDxH``; its id is
``<room>-MicID01-SpkID01_20190503_S-01-v00``. The ``silence`` recordings are noise clips tagged
``room:<room>``; other files below a microphone folder (the LibriSpeech release's retransmitted
speech) are not read. ``--kind rir`` / ``--kind noise`` keeps only the RIRs / the silences (a build
reads one catalog per kind; with ``--kind rir`` the scan also refuses RIRs whose decay cannot be measured).

Any other multi-position RIR set: ``ROOT/<room>/**/<rir>.wav``: every audio file below a top folder
is a RIR of that room (id ``<room>-<path below it joined by ->``), a multi-channel file one clip per
channel; files directly in ROOT are RIRs of rooms of their own. Meta files that are missing or
malformed leave their tags out.
"""

from __future__ import annotations

from pathlib import Path

from .sources import Candidate, Source, WalkOptions, audio_files, candidate, channel_count, files_below, finite_number, subdirs

RIR_DIR = "RIR"
NOISE_DIR = "silence"


def walk_but_reverb(root: Path, options: WalkOptions) -> list[Candidate]:
    """Every RIR (and BUT ``silence`` recording) of every room folder."""
    releases = [d for d in subdirs(root) if d.name.startswith("BUT_ReverbDB")]
    tops = releases if releases and len(releases) == len(subdirs(root)) else [root]
    out: list[Candidate] = []
    for top in tops:
        prefix = f"{top.name}-" if len(tops) > 1 else ""
        for room in subdirs(top):
            out += _room(room, prefix, options)
        if options.kind in (None, "rir"):
            for audio in audio_files(top):
                out += _rirs(audio, prefix + audio.stem, None, (), options)
    return out


def _room(room: Path, prefix: str, options: WalkOptions) -> list[Candidate]:
    """The clips below one room folder."""
    env = read_meta(room / "env_meta.txt")
    but = bool(env) or any(d.name.startswith("MicID") for d in subdirs(room))
    size = [env.get(f"Env{axis}") for axis in ("Width", "Depth", "Height")]
    room_tags = (f"room_m:{'x'.join(size)}",) if all(size) else ()  # type: ignore[arg-type]
    out: list[Candidate] = []
    for audio in files_below(room):
        rel = audio.relative_to(room)
        folder = rel.parts[-2] if len(rel.parts) > 1 else ""
        if but and folder not in (RIR_DIR, NOISE_DIR):
            continue  # retransmitted speech, or anything else below a microphone: not a RIR
        kind = "noise" if but and folder == NOISE_DIR else "rir"
        if options.kind not in (None, kind):
            continue
        tags = (*_position_tags(rel, room), *room_tags) if but else ()
        clip_id = prefix + "-".join((room.name, *_id_parts(rel, but)))
        if kind == "noise":
            out.append(candidate(audio, id=clip_id, kind="noise", tags=(*tags, f"room:{room.name}"), corpus=options.corpus))
        else:
            out += _rirs(audio, clip_id, room.name, tags, options)
    return out


def _rirs(audio: Path, clip_id: str, room: str | None, tags: tuple[str, ...], options: WalkOptions) -> list[Candidate]:
    """A RIR file's clips: the file, or one per channel of a multi-channel file."""
    channels = channel_count(audio)
    own_room = room or (audio.stem if channels > 1 else None)
    fields = {"kind": "rir", "room": own_room, "tags": tags, "corpus": options.corpus}
    if channels == 1:
        return [candidate(audio, id=clip_id, **fields)]
    return [candidate(audio, id=f"{clip_id}-ch{k}", channel=k, **fields) for k in range(channels)]


def _id_parts(rel: Path, but: bool) -> tuple[str, ...]:
    """The path parts naming a clip: BUT's ``RIR`` folder dropped and ``IR_sweep_....v00`` shortened to ``v00``."""
    parts = rel.with_suffix("").parts
    if not but:
        return parts
    *folders, stem = parts
    version = stem.rsplit(".", 1)[-1] if "." in stem else stem
    return (*(p for p in folders if p != RIR_DIR), version)


def _position_tags(rel: Path, room: Path) -> tuple[str, ...]:
    """``config:``, ``source:``, ``mic:`` from the folders, and the meta files' positions and RT60."""
    folders = rel.parts[:-2]  # MicID01, SpkID01_..., 01
    tags = [f"{name}:{value}" for name, value in zip(("config", "source", "mic"), folders, strict=False)]
    if len(folders) >= 3:
        mic = read_meta(room.joinpath(*folders[:3], "mic_meta.txt"))
        spk = read_meta(room.joinpath(*folders[:2], "spk_meta.txt"))
        n = mic.get("EnvMicID", "")
        for key, tag in ((f"EnvMic{n}RelRT60", "rt60"), (f"EnvMic{n}RelDistance", "distance_m")):
            if finite_number(mic.get(key)):
                tags.append(f"{tag}:{mic[key]}")
        tags += _xyz(mic, f"EnvMic{n}", "mic_xyz") + _xyz(spk, "EnvSpk1", "source_xyz")
    return tuple(tags)


def _xyz(meta: dict[str, str], key: str, tag: str) -> list[str]:
    values = [meta.get(f"{key}{axis}") for axis in ("Width", "Depth", "Height")]
    return [f"{tag}:{','.join(values)}"] if all(finite_number(v) for v in values) else []  # type: ignore[arg-type]


def read_meta(path: Path) -> dict[str, str]:
    """A BUT ``*_meta.txt``: ``$Key<TAB>value`` lines -> key (without ``$``) -> value ({} when missing)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("$"):
            continue
        key, _, value = line[1:].replace("\t", " ", 1).partition(" ")
        if key and value.strip():
            out[key] = value.strip()
    return out


SOURCE = Source(
    name="but_reverb",
    description=(
        "ROOT[/BUT_ReverbDB_*]/<room>/MicID01/<SpkID>/<NN>/{RIR,silence}/*.wav (+ *_meta.txt), or any ROOT/<room>/**/<rir>.wav: "
        "one room per top folder; --kind K keeps one kind"
    ),
    walk=walk_but_reverb,
)
