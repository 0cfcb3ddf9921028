"""Scenes: plain data that describe one example completely, so it re-renders bit for bit.

A Scene is made by the planner (every random choice) and consumed by the renderer (none).
Sample counts are integers: ``offset``/``length`` at the clip's own rate, ``onset`` and
``num_samples`` at the scene's output rate.

Seams for what comes next, each with today's behaviour as its default, which `to_dict` leaves
out (so today's scenes keep their dict, and older manifests load): a source's `path` (a static
source is a path of one point), the noise's ``field`` kind (`NOISE_FIELDS`), the effect `chain`
and the ``level_definition`` that every gain uses. The first planner that writes a seam at
another value changes the dict, and bumps `SCENE_VERSION` so that older readers refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeAlias

from .acoustics.room import Room

SCENE_VERSION = 2  # the newest scene format read; a scene writes the oldest that holds it
CHAIN_SCENE_VERSION = 2  # scenes with an effect chain (older readers must refuse them)
NOISE_FIELDS = ("mono", "point")  # how noise reaches the microphones: the same everywhere, or from a point of the room
DEFAULT_LEVEL_DEFINITION = "power"  # the level / SNR definition of every gain (all-samples power ratio)

Param: TypeAlias = bool | int | float | str | tuple["Param", ...] | None  # an effect parameter: JSON, lists as tuples


@dataclass(frozen=True)
class Segment:
    """Read ``length`` samples of clip ``clip_id`` from ``offset`` (circularly if ``loop``),
    resample to the output rate and place the result at ``onset`` in the example."""

    clip_id: str
    offset: int
    length: int
    onset: int = 0
    loop: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"clip_id": self.clip_id, "offset": self.offset, "length": self.length, "onset": self.onset, "loop": self.loop}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        return cls(d["clip_id"], int(d["offset"]), int(d["length"]), int(d.get("onset", 0)), bool(d.get("loop", False)))


@dataclass(frozen=True)
class Waypoint:
    """At output sample ``sample`` a source is at point ``point`` of the scene's room (an index
    into ``Room.sources_m``, whose RIRs the room simulation computes)."""

    point: int
    sample: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "sample": self.sample}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Waypoint:
        return cls(int(d["point"]), int(d.get("sample", 0)))


def static_path(point: int | None) -> tuple[Waypoint, ...]:
    """The path of a source that stays at room point ``point`` (``()``: not in a simulated room)."""
    return () if point is None else (Waypoint(point),)


@dataclass(frozen=True)
class Source:
    """One talker: its speech segment, its level, and its reverberation (a catalog RIR, or a
    `path` through the scene's room). The first talker's image has RMS ``level_dbfs`` over
    the segment's samples; a later one with ``sir_db`` is scaled so that Σ first² / Σ this²
    equals it.

    ``path``: where the source is, as waypoints in time (samples from 0, increasing); ``()``
    for a source that is not in a simulated room, one waypoint at sample 0 for a static one
    (every source today; see `position`)."""

    role: str
    segment: Segment
    level_dbfs: float
    rir_clip: str | None = None
    path: tuple[Waypoint, ...] = ()
    sir_db: float | None = None

    def __post_init__(self) -> None:
        samples = [w.sample for w in self.path]
        if samples and (samples[0] != 0 or any(b <= a for a, b in pairwise(samples))):
            raise ValueError(f"source {self.role!r}: path samples must start at 0 and increase (got {samples})")
        if self.path and self.rir_clip is not None:
            raise ValueError(f"source {self.role!r}: a catalog RIR ({self.rir_clip!r}) and a path in the room")

    @property
    def position(self) -> int | None:
        """The room point of a static source (None when it is not in a simulated room); refused
        for a moving one, whose position depends on time (read `path`)."""
        if len(self.path) > 1:
            raise ValueError(f"source {self.role!r} moves ({len(self.path)} waypoints): it has a path, not a position")
        return self.path[0].point if self.path else None

    @property
    def moving(self) -> bool:
        """Whether the source changes place during the example."""
        return len(self.path) > 1

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; a static path is written as today's ``position`` (a moving one as ``path``)."""
        where: dict[str, Any] = {"path": [w.to_dict() for w in self.path]} if self.moving else {"position": self.position}
        return {
            "role": self.role,
            "segment": self.segment.to_dict(),
            "level_dbfs": self.level_dbfs,
            "rir_clip": self.rir_clip,
            **where,
            "sir_db": self.sir_db,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        sir, position = d.get("sir_db"), d.get("position")
        static = static_path(None if position is None else int(position))
        path = tuple(Waypoint.from_dict(w) for w in d["path"]) if d.get("path") else static
        return cls(
            d["role"], Segment.from_dict(d["segment"]), float(d["level_dbfs"]), d.get("rir_clip"), path, None if sir is None else float(sir)
        )


@dataclass(frozen=True)
class Noise:
    """Background noise: a (looped) segment scaled to ``snr_db`` against all speech images.
    ``field`` says how it reaches the microphones (`NOISE_FIELDS`): ``mono``, the same signal
    on every microphone, or ``point``, spatialized from point ``position`` of the scene's room.
    ``channel`` says which signal of a multichannel clip is used: ``None`` (a mono clip: its
    only channel), ``k`` (channel k) or ``"mean"`` (the mean of all channels)."""

    segment: Segment
    snr_db: float
    position: int | None = None
    channel: int | str | None = None
    field: str = "mono"

    def __post_init__(self) -> None:
        if self.field not in NOISE_FIELDS:
            raise ValueError(f"noise field {self.field!r} is not one of {', '.join(NOISE_FIELDS)}")
        if (self.field == "point") != (self.position is not None):
            raise ValueError(f"a {self.field} noise field {'needs' if self.field == 'point' else 'has no'} position (got {self.position})")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; ``field`` is left out where the position implies it (``point`` with one, ``mono`` without)."""
        out: dict[str, Any] = {"segment": self.segment.to_dict(), "snr_db": self.snr_db, "position": self.position}
        if self.channel is not None:
            out["channel"] = self.channel
        return out if self.field == _implied_field(self.position) else {**out, "field": self.field}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Noise:
        channel, position = d.get("channel"), d.get("position")
        return cls(
            Segment.from_dict(d["segment"]),
            float(d["snr_db"]),
            position,
            channel if channel is None or channel == "mean" else int(channel),
            d.get("field") or _implied_field(position),
        )


def _implied_field(position: int | None) -> str:
    """The noise field a manifest without ``field`` means: ``point`` where it gives a position, else ``mono``."""
    return "mono" if position is None else "point"


@dataclass(frozen=True)
class EffectStep:
    """One step of a scene's effect chain: effect ``name`` (found by name in the effect
    registry) with the ``params`` the planner drew, applied to the audio ``roles`` it names.
    ``params`` are (name, value) pairs in drawing order; values are JSON scalars or tuples."""

    name: str
    params: tuple[tuple[str, Param], ...] = ()
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # lists as tuples, anything but JSON refused: a step stays frozen and hashable
        object.__setattr__(self, "params", tuple((str(k), _frozen(v)) for k, v in self.params))
        object.__setattr__(self, "roles", tuple(str(r) for r in self.roles))

    def params_dict(self) -> dict[str, Param]:
        """The parameters as a dict, for the effect's ``apply``."""
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": {k: _plain(v) for k, v in self.params}, "roles": list(self.roles)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EffectStep:
        return cls(str(d["name"]), tuple(dict(d.get("params") or {}).items()), tuple(d.get("roles", ())))


def _frozen(value: Any) -> Param:
    """A JSON value with its lists as tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"effect parameter {value!r}: not a JSON number, string, boolean, null or list")


def _plain(value: Param) -> Any:
    """A parameter as JSON holds it (tuples as lists)."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Scene:
    """Everything needed to render example ``index`` of a dataset. ``targets`` names the
    dereverberation targets to write for reverberant sources (``direct``: the direct path;
    ``early``: the direct path and reflections up to ``early_ms`` after it; ``dry``: the
    source before the room). ``enrollment`` is another utterance of the first talker's
    speaker, written on its own at ``enrollment_dbfs``. In a diarization session several
    sources share a role (the turns of one talker); ``activity_db`` sets its activity labels.
    ``chain``: effect steps, applied in order, each to the roles it names (none today);
    ``level_definition``: the name of the level / SNR definition that every gain of the example
    uses. ``type`` is the task that planned it (see `audiosynth.plan.tasks`)."""

    id: str
    index: int
    split: str
    sample_rate: int
    num_samples: int
    sources: tuple[Source, ...]
    noise: Noise | None = None
    room: Room | None = None
    peak_dbfs: float = -1.0
    targets: tuple[str, ...] = ()
    early_ms: float = 50.0
    enrollment: Segment | None = None
    enrollment_dbfs: float = -25.0
    activity_db: float = -40.0
    chain: tuple[EffectStep, ...] = ()
    level_definition: str = DEFAULT_LEVEL_DEFINITION
    type: str = "denoising"
    version: int = 1

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def clip_ids(self) -> set[str]:
        """Every catalog clip the scene reads: utterances, noise, catalog RIRs, enrollment."""
        ids = {s.segment.clip_id for s in self.sources} | {s.rir_clip for s in self.sources if s.rir_clip}
        ids |= {seg.clip_id for seg in (self.noise.segment if self.noise else None, self.enrollment) if seg}
        return ids

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, with ``type`` and ``version`` keys; the seams at their defaults
        (no effect chain, the default level definition) are left out."""
        out: dict[str, Any] = {
            "type": self.type,
            "version": self.version,
            "id": self.id,
            "index": self.index,
            "split": self.split,
            "sample_rate": self.sample_rate,
            "num_samples": self.num_samples,
            "sources": [s.to_dict() for s in self.sources],
            "noise": self.noise.to_dict() if self.noise else None,
            "room": self.room.to_dict() if self.room else None,
            "peak_dbfs": self.peak_dbfs,
            "targets": list(self.targets),
            "early_ms": self.early_ms,
            "enrollment": self.enrollment.to_dict() if self.enrollment else None,
            "enrollment_dbfs": self.enrollment_dbfs,
            "activity_db": self.activity_db,
        }
        if self.chain:
            out["chain"] = [step.to_dict() for step in self.chain]
        if self.level_definition != DEFAULT_LEVEL_DEFINITION:
            out["level_definition"] = self.level_definition
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scene:
        """Inverse of `to_dict`; refuses scenes written by a newer format version."""
        if int(d.get("version", 0)) > SCENE_VERSION:
            raise ValueError(f"scene {d.get('id')!r} has version {d['version']}, newer than {SCENE_VERSION}")
        return cls(
            id=d["id"],
            index=int(d["index"]),
            split=d["split"],
            sample_rate=int(d["sample_rate"]),
            num_samples=int(d["num_samples"]),
            sources=tuple(Source.from_dict(s) for s in d["sources"]),
            noise=Noise.from_dict(d["noise"]) if d.get("noise") else None,
            room=Room.from_dict(d["room"]) if d.get("room") else None,
            peak_dbfs=float(d.get("peak_dbfs", -1.0)),
            targets=tuple(d.get("targets", ())),
            early_ms=float(d.get("early_ms", 50.0)),
            enrollment=Segment.from_dict(d["enrollment"]) if d.get("enrollment") else None,
            enrollment_dbfs=float(d.get("enrollment_dbfs", -25.0)),
            activity_db=float(d.get("activity_db", -40.0)),
            chain=tuple(EffectStep.from_dict(step) for step in d.get("chain") or ()),
            level_definition=str(d.get("level_definition") or DEFAULT_LEVEL_DEFINITION),
            type=d.get("type", "denoising"),
            version=int(d.get("version", 1)),
        )


DISTORTION_ROLE = "distortion"  # what non-linear channel effects changed: mix == sum(images) + noise + distortion


def is_image_role(role: str) -> bool:
    """Whether audio role ``role`` is one of the signals that sum to the mixture
    (``clean``, ``s1`` ... ``sN``, ``noise``, ``distortion``), as opposed to a target such as ``s1_dry``."""
    return role in ("clean", "noise", DISTORTION_ROLE) or (role.startswith("s") and role[1:].isdigit())
