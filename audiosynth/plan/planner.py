"""The planner: ``scene(i) = plan(config, catalogs, seed, i)``, a pure function.

Every random choice of example ``i`` comes from ``numpy.random.default_rng([seed, 0, i])``,
never from a shared running generator, so any subset, order or number of workers gives the
same scenes. Dynamic mixing (a training loop drawing new mixtures every epoch) sets
`Planner.epoch`: epoch 0 is the built dataset, epoch ``e > 0`` draws item ``i`` from a stream of
its own (see `item_rng`). Splits are assigned per speaker once (stream ``[seed, 1]``), so no speaker is in
two splits. The pre-flight check in `Planner.__init__` refuses configs the catalogs cannot
satisfy, and says why. The planner holds the pools of every split; the config's task
(`audiosynth.plan.tasks`) draws each scene from them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..catalog import Catalog, Clip
from ..config import SPLITS, Config
from ..errors import PreflightError
from ..scene import CHAIN_SCENE_VERSION, Scene
from .chain import chain_rng, draw_chain
from .pools import Catalogs, assign_speakers, no_speaker_cause, partition, speaker_of, split_counts
from .rooms import array_layout, check_all_reverberant, check_room_ranges, room_of
from .tasks import task_of

EPOCH_STREAM = 4  # the seed-sequence stream of epochs > 0 (0: epoch 0's items; 1, 2, 3: the split pools)


def item_rng(seed: int, index: int, attempt: int = 0, epoch: int = 0) -> np.random.Generator:
    """The generator of example ``index`` (draw ``attempt``) in ``epoch``: independent of every other
    example and epoch. Attempt 0 is the example's first draw; later ones re-draw it when a clip it
    used is bad. Epoch 0 is the built dataset (``[seed, 0, index(, attempt)]``); epoch ``e > 0``
    draws from ``[seed, EPOCH_STREAM, e, index, attempt]``, so every epoch of a training loop sees
    new mixtures, reproducibly."""
    if epoch < 0:
        raise ValueError(f"epoch {epoch}: must be >= 0")
    if epoch == 0:
        return np.random.default_rng([seed, 0, index] + ([attempt] if attempt else []))
    return np.random.default_rng([seed, EPOCH_STREAM, epoch, index, attempt])


class Planner:
    """Pre-flight checks and per-split clip pools for one config; `scene(i)` plans example i.

    The pools a task draws from, per split name: ``speech`` (usable utterances), ``by_speaker``
    (speaker -> its utterances), ``noise``, ``rirs`` (catalog RIRs) and ``rir_rooms`` (room -> its
    RIRs); ``speakers`` lists each split's speakers. ``epoch`` (0: the built dataset) selects the
    draws of `scene` (see `item_rng`); the pools do not depend on it.
    """

    def __init__(self, config: Config, catalogs: Catalogs) -> None:
        self.config = config
        self.catalogs = catalogs
        self.epoch = 0
        self.sample_rate = config.sample_rate
        fractions = config.splits.fractions()
        self.counts = split_counts(config.num_examples, fractions)
        self.task = task_of(config.task)
        self.max_talkers = self.task.max_talkers(config)
        self.task.preflight(self)
        self.excluded: Counter[str] = Counter()
        self.excluded_rirs = 0  # catalog RIRs left out by reverb.num_channels
        speech = [c for c in catalogs.speech if self._usable_speech(c)]
        if not speech:
            names = catalogs.speech.name if len(catalogs.speech.name) <= 300 else catalogs.speech.name[:300] + "..."
            raise PreflightError(
                f"catalogs.speech: no usable speech clip among the {len(catalogs.speech)} clip(s) of {names or 'no catalog'}: "
                f"excluded {dict(self.excluded)}{self._rate_hint(catalogs.speech)}"
            )
        self.speakers = assign_speakers(
            speech,
            fractions,
            np.random.default_rng([config.seed, 1]),
            config.splits.use_catalog_splits,
            catalogs.speech.name,
            self.max_talkers,
        )
        speaker_split = {spk: name for name, spks in self.speakers.items() for spk in spks}
        self.speech: dict[str, tuple[Clip, ...]] = {
            name: tuple(c for c in speech if speaker_split.get(speaker_of(c)) == name) for name in SPLITS
        }
        self.by_speaker: dict[str, dict[str, tuple[Clip, ...]]] = {name: {} for name in SPLITS}
        for name in SPLITS:
            for clip in self.speech[name]:
                self.by_speaker[name].setdefault(speaker_of(clip), ())
                self.by_speaker[name][speaker_of(clip)] += (clip,)
            if config.talkers.enrollment:  # talker 1 needs a second utterance for the enrollment
                self.by_speaker[name] = {spk: clips for spk, clips in self.by_speaker[name].items() if len(clips) >= 2}
                self.speech[name] = tuple(c for c in self.speech[name] if speaker_of(c) in self.by_speaker[name])
        multichannel = next((c for c in catalogs.noise if c.num_channels > 1), None)
        if multichannel is not None and config.noise_probability > 0 and config.noise_channels == "reject":
            raise PreflightError(
                f"catalogs.noise: noise clip {multichannel.id!r} has {multichannel.num_channels} channels; "
                "set noise_channels: downmix, first or random to use multichannel noise"
            )
        self.noise = self._pools(catalogs.noise, config.splits.disjoint_noise, fractions, "noise clips", 2)
        need_rirs = config.reverb.probability > 0 and config.reverb.source == "catalog"
        self.rirs = (
            self._pools(self._rir_catalog(catalogs.rirs), config.splits.disjoint_rirs, fractions, "RIRs", 3, room_of)
            if need_rirs
            else dict.fromkeys(SPLITS, ())
        )
        self.rir_rooms: dict[str, dict[str, tuple[Clip, ...]]] = {name: {} for name in SPLITS}  # split -> room -> its RIRs
        for name in SPLITS:
            for clip in self.rirs[name]:
                self.rir_rooms[name][room_of(clip)] = (*self.rir_rooms[name].get(room_of(clip), ()), clip)
        if config.reverb.probability > 0 and config.reverb.source == "simulated":
            check_room_ranges(config.reverb.room)
            check_all_reverberant(config.reverb.probability, len(array_layout(config.reverb.room.array)), "reverb.room.array has")
        for name in SPLITS:
            if self.counts[name] == 0:
                continue
            if not self.speech[name]:
                raise PreflightError(
                    f"split {name!r}: {no_speaker_cause(name, catalogs.speech, config.splits.use_catalog_splits, self.excluded)}"
                )
            most = self.max_talkers
            if len(self.by_speaker[name]) < most:
                raise PreflightError(
                    f"split {name!r}: {len(self.by_speaker[name])} usable speaker(s) for up to {most} talkers per example"
                    + (" (enrollment needs speakers with two utterances or more)" if config.talkers.enrollment else "")
                )
            if not self.noise[name] and config.noise_probability > 0:
                raise PreflightError(f"split {name!r}: no usable noise clip{self._rate_hint(catalogs.noise)}")
            if need_rirs and not self.rirs[name]:
                raise PreflightError(f"split {name!r}: reverb.source is 'catalog' but no usable RIR")

    # -- pre-flight helpers -------------------------------------------------------------
    def _rir_catalog(self, rirs: Catalog) -> Catalog:
        """The catalog RIRs of the one channel count a dataset has: ``reverb.num_channels`` when
        set (the others left out, counted in `excluded_rirs`), else all, which must agree; with
        several channels every example must be reverberant (a dry one would be mono)."""
        reverb = self.config.reverb
        counts = Counter(c.num_channels for c in rirs if self._reachable(c))
        wanted = reverb.num_channels
        if wanted is None and len(counts) > 1:
            found = " and ".join(f"{n} channel{'s' * (n > 1)} ({k} RIR{'s' * (k > 1)})" for n, k in sorted(counts.items()))
            raise PreflightError(
                f"catalogs.rirs: RIRs of {found}: a dataset has one channel count; "
                f"set reverb.num_channels to one of {', '.join(map(str, sorted(counts)))}"
            )
        if wanted is not None and counts and wanted not in counts:
            raise PreflightError(
                f"reverb.num_channels: no RIR in catalogs.rirs has {wanted} channels (they have {', '.join(map(str, sorted(counts)))})"
            )
        channels = wanted or (next(iter(counts)) if counts else 1)
        check_all_reverberant(reverb.probability, channels, "catalog RIRs have")
        kept = [c for c in rirs if wanted is None or c.num_channels == wanted]
        self.excluded_rirs = len(rirs) - len(kept)
        if self.excluded_rirs:
            logging.getLogger(__name__).info(
                "reverb.num_channels %d: %d catalog RIR(s) of other channel counts left out", wanted, self.excluded_rirs
            )
        return Catalog(kept, rirs.root, rirs.name)

    def _reachable(self, clip: Clip) -> bool:
        return clip.sample_rate >= self.sample_rate or self.config.allow_upsampling

    def _rate_hint(self, catalog: Catalog) -> str:
        rates = sorted({c.sample_rate for c in catalog})
        if rates and not any(r >= self.sample_rate for r in rates) and not self.config.allow_upsampling:
            return (
                f"; sample_rate {self.sample_rate} Hz is above every clip's rate ({rates[-1]} Hz max): "
                "lower sample_rate or set allow_upsampling: true"
            )
        return ""

    def _usable_speech(self, clip: Clip) -> bool:
        min_duration = self.config.min_speech_ratio * self.config.duration_s[0]
        reason = (
            "sample_rate_below_output"
            if not self._reachable(clip)
            else "no_text"
            if (self.config.require_text or self.task.needs_text) and not clip.text
            else f"shorter_than_{min_duration:g}s"
            if clip.duration < min_duration
            else "too_many_channels"
            if clip.num_channels != 1
            else None
        )
        if reason:
            self.excluded[reason] += 1
        return reason is None

    def _pools(
        self,
        catalog: Catalog,
        disjoint: bool,
        fractions: dict[str, float],
        what: str,
        stream: int,
        group: Callable[[Clip], str] | None = None,
    ) -> dict[str, tuple[Clip, ...]]:
        """The usable clips of each split: all of them, or (``disjoint``) a partition of them, or of
        their groups (RIRs: their rooms, so that no room is in two splits). A clip (or group) whose
        catalog declares a split keeps it (WHAM!'s tr/cv/tt), unless ``use_catalog_splits`` is false."""
        usable = [c for c in catalog if self._reachable(c)]
        if not disjoint:
            return {name: tuple(usable) for name in SPLITS}
        keys = [group(c) if group else c.id for c in usable]
        declared: dict[str, str] = {}
        if self.config.splits.use_catalog_splits:
            for clip, key in zip(usable, keys, strict=True):
                if clip.split is not None and declared.setdefault(key, clip.split) != clip.split:
                    raise PreflightError(f"{what}: room {key!r} holds clips of the catalog splits {declared[key]} and {clip.split}")
        unique = [key for key in dict.fromkeys(keys) if key not in declared]
        rng = np.random.default_rng([self.config.seed, stream])
        label = what if len(set(keys)) == len(keys) else f"rooms of {what}"
        parts = partition(unique, fractions, rng, label, 0 if declared else 1) if unique else {}
        split_of = {key: name for name, part in parts.items() for key in part} | declared
        return {
            name: tuple(sorted((c for c, key in zip(usable, keys, strict=True) if split_of[key] == name), key=lambda c: c.id))
            for name in SPLITS
        }

    # -- planning ---------------------------------------------------------------------
    def split_of(self, index: int) -> str:
        """Split of example ``index``: train first, then dev, then test."""
        if not 0 <= index < self.config.num_examples:
            raise IndexError(f"example index {index} outside 0..{self.config.num_examples - 1}")
        for name in SPLITS:
            if index < self.counts[name]:
                return name
            index -= self.counts[name]
        raise AssertionError("unreachable")

    def scene(self, index: int, attempt: int = 0, epoch: int | None = None) -> Scene:
        """Plan example ``index``: every random choice, none left to the renderer; ``attempt`` > 0
        re-draws it from a stream of its own (see `item_rng`), in ``epoch`` (default `epoch`). The
        config's task draws it."""
        epoch = self.epoch if epoch is None else epoch
        scene = self.task.plan(self, item_rng(self.config.seed, index, attempt, epoch), self.split_of(index), index)
        channel = self.config.channel.for_split(scene.split)
        chain = draw_chain(channel, chain_rng(self.config.seed, index, attempt, epoch), self.sample_rate)
        return dataclasses.replace(scene, chain=chain, version=CHAIN_SCENE_VERSION) if chain else scene


def plan(config: Config, catalogs: Catalogs, seed: int, index: int) -> Scene:
    """Scene ``index`` of the dataset given by ``config`` with ``seed`` (convenience form)."""
    return Planner(config.with_overrides(seed=seed), catalogs).scene(index)


def demo_dir() -> Path:
    """The shipped demo corpus (``data_manifests/demo`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "data_manifests" / "demo"
