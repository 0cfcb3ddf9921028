"""Scenes: plain data that describe one example completely, so it re-renders bit for bit.

A Scene is made by the planner (every random choice) and consumed by the renderer (none).
Sample counts are integers: ``offset``/``length`` at the clip's own rate, ``onset`` and
``num_samples`` at the scene's output rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .acoustics.room import Room

SCENE_VERSION = 1


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
    def from_dict(cls, d: dict[str, Any]) -> "Segment":
        return cls(d["clip_id"], int(d["offset"]), int(d["length"]), int(d.get("onset", 0)), bool(d.get("loop", False)))


@dataclass(frozen=True)
class Source:
    """One talker: its speech segment, its level, and its reverberation (a catalog RIR, or
    position ``position`` in the scene's room). The first talker's image has RMS
    ``level_dbfs`` over the segment's samples; a later one with ``sir_db`` is scaled so that
    Σ first² / Σ this² equals it."""

    role: str
    segment: Segment
    level_dbfs: float
    rir_clip: str | None = None
    position: int | None = None
    sir_db: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "segment": self.segment.to_dict(),
            "level_dbfs": self.level_dbfs,
            "rir_clip": self.rir_clip,
            "position": self.position,
            "sir_db": self.sir_db,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Source":
        sir = d.get("sir_db")
        return cls(d["role"], Segment.from_dict(d["segment"]), float(d["level_dbfs"]), d.get("rir_clip"), d.get("position"),
                   None if sir is None else float(sir))


@dataclass(frozen=True)
class Noise:
    """Background noise: a (looped) segment scaled to ``snr_db`` against all speech images;
    with a ``position`` in the scene's room it is spatialized there, else the same on every mic.
    ``channel`` says which signal of a multichannel clip is used: ``None`` (a mono clip: its
    only channel), ``k`` (channel k) or ``"mean"`` (the mean of all channels)."""

    segment: Segment
    snr_db: float
    position: int | None = None
    channel: int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"segment": self.segment.to_dict(), "snr_db": self.snr_db, "position": self.position}
        return out if self.channel is None else {**out, "channel": self.channel}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Noise":
        channel = d.get("channel")
        return cls(Segment.from_dict(d["segment"]), float(d["snr_db"]), d.get("position"),
                   channel if channel is None or channel == "mean" else int(channel))


@dataclass(frozen=True)
class Scene:
    """Everything needed to render example ``index`` of a dataset. ``targets`` names the
    dereverberation targets to write for reverberant sources (``direct``: the direct path;
    ``early``: the direct path and reflections up to ``early_ms`` after it; ``dry``: the
    source before the room). ``enrollment`` is another utterance of the first talker's
    speaker, written on its own at ``enrollment_dbfs``. In a diarization session several
    sources share a role (the turns of one talker); ``activity_db`` sets its activity labels."""

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
    type: str = "denoising"
    version: int = SCENE_VERSION

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
        """Plain JSON-ready dict, with ``type`` and ``version`` keys."""
        return {
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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scene":
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
            type=d.get("type", "denoising"),
            version=int(d.get("version", SCENE_VERSION)),
        )


def is_image_role(role: str) -> bool:
    """Whether audio role ``role`` is one of the images that sum to the mixture
    (``clean``, ``s1`` ... ``sN``, ``noise``), as opposed to a target such as ``s1_dry``."""
    return role in ("clean", "noise") or (role.startswith("s") and role[1:].isdigit())
