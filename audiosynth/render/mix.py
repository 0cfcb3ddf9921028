"""Mixing a batch of loaded scenes on one array backend. Makes no random choice, reads no file.

Signals come back already on the output grid (quantized for PCM subtypes), and every label
is measured on them, so labels describe the written files exactly. Audio roles: ``mix``; the
images that sum to it (each source's role, e.g. ``clean``, and ``noise``); and targets that
do not (``clean_direct``, ``clean_early``). For PCM output ``noise`` is defined as
``mix - Σ images`` on the integer grid, so the invariant holds exactly in the files, on every
channel. All signals are ``(M, N)`` arrays of the backend: one row per microphone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..acoustics.room import Room, RoomResponse, simulate_rooms
from ..catalog import Catalog
from ..dsp import kernels
from ..dsp.backend import Array, Backend, Fetch, backend_of, get_backend, to_numpy
from ..errors import AudioError, CropError
from ..io.audio import SUBTYPE_BITS
from ..scene import DISTORTION_ROLE, Scene
from .channel import ACOUSTIC_SUFFIX, acoustic_levels, apply_chain, chain_labels
from .labels import measure_labels, measure_labels_deferred
from .levels import scene_level_definition
from .load import LoadedScene, Reverb, load_scene

FLOOR_MARGIN_DB = 20.0  # the written noise must lie this far above the grid's rounding noise


@dataclass(frozen=True)
class Rendered:
    """One rendered example: ``audio`` maps a role (mix, clean, noise, ...) to ``(M, N)`` samples
    (arrays of the backend that rendered it), ``labels`` are plain JSON values."""

    scene: Scene
    audio: dict[str, Array]
    labels: dict[str, Any]

    def to_numpy(self) -> Rendered:
        """The same example with its signals as NumPy float64 arrays (itself when they are already)."""
        if all(isinstance(x, np.ndarray) for x in self.audio.values()):
            return self
        return Rendered(self.scene, {role: to_numpy(x) for role, x in self.audio.items()}, self.labels)


def render(scene: Scene, clips: Catalog, subtype: str = "PCM_16", *, backend: str | Backend = "numpy", device: str = "cpu") -> Rendered:
    """Render ``scene`` with clip ids resolved in ``clips`` for an output ``subtype``: `load_scene`,
    then `render_batch` of one.

    Args:
        scene: the planned example.
        clips: a catalog holding every clip id the scene names (absolute paths).
        subtype: PCM_16, PCM_24 or FLOAT: the grid the returned signals lie on.
        backend, device: where room simulation, convolution, gains, quantization and labels run
            (``numpy``/``torch``, ``cpu``/``cuda``); the signals come back as NumPy arrays, whatever the
            backend (`render_batch` keeps them on the backend).
    Raises:
        `AudioError` for a bad clip, `CropError` for an unusable crop (see `load_scene`, `render_batch`).
    """
    result = render_batch([load_scene(scene, clips, subtype)], backend, device)[0]
    if isinstance(result, AudioError):
        raise result
    return result.to_numpy()


def render_batch(batch: Sequence[LoadedScene], backend: str | Backend = "numpy", device: str = "cpu") -> list[Rendered | AudioError]:
    """Mix loaded scenes on one backend: their rooms simulated (`simulate_rooms`), every signal
    convolved, levelled, limited and quantized, and the labels measured, all on the backend.

    Each result depends on its own scene only, whatever the batch around it (NumPy: the same
    bits; torch within float rounding). Returns per scene its `Rendered` (signals as backend
    arrays), or the `CropError` that refuses it (its noise lies too close to the output grid's
    rounding noise at its final level) or its `LoadedScene.late_error`. The loaded scenes are consumed."""
    xp = get_backend(backend, device)
    scenes = [loaded.on(xp) for loaded in batch]
    rooms = _simulate(scenes, xp)
    if xp.name == "numpy":  # one scene at a time: today's bits (a shared transform length would move them)
        return [_mix(loaded, room, xp) for loaded, room in zip(scenes, rooms, strict=True)]
    return _mix_batch(scenes, rooms, xp)


@dataclass
class _Signals:
    """One scene's reverberation plan for the batched path: the RIR of each talker and of the
    noise (None: dry), the target names, and its convolutions' results once done."""

    talker_reverbs: list[Reverb | None]
    noise_reverb: Reverb | None
    names: list[str]
    jobs: list[tuple[Array, Array, int]]
    wet: list[Array]


def _plan_signals(loaded: LoadedScene, room: RoomResponse | None, xp: Backend) -> _Signals:
    """The convolutions a scene needs (`_mix`'s, one job per signal): wet images, then targets."""
    scene, n = loaded.scene, loaded.scene.num_samples

    def room_reverb(position: int | None) -> Reverb | None:
        if room is None or position is None:
            return None
        return Reverb(room.rirs[position], room.direct[position], room.delays[position])

    talker_reverbs = [t.reverb or room_reverb(t.position) for t in loaded.talkers]
    noise = loaded.noise
    noise_reverb = room_reverb(noise.position) if noise is not None else None
    names = [t for t in loaded.targets if t != "dry"]
    jobs = [(t.dry, r.rir, n) for t, r in zip(loaded.talkers, talker_reverbs, strict=True) if r]
    if noise is not None and noise_reverb is not None:
        jobs.append((noise.dry, noise_reverb.rir, n))
    if names:
        for t, r in zip(loaded.talkers, talker_reverbs, strict=True):
            if r:
                filters = [r.direct if name == "direct" else _early(xp, r, scene.sample_rate, scene.early_ms) for name in names]
                jobs.append((t.dry, _stack_filters(xp, filters), n))
    return _Signals(talker_reverbs, noise_reverb, names, jobs, [])


def _mix_batch(scenes: list[LoadedScene], rooms: list[RoomResponse | None], xp: Backend) -> list[Rendered | AudioError]:
    """`render_batch` on a device: every convolution of every scene in one call per transform
    length (`kernels.fft_convolve_many`), then each scene's gains, limiting, quantization and
    labels as arrays of the backend (no number read back), then one transfer of every number
    the labels and refusals need (`Fetch`). Each scene's arrays go through the same operations
    whatever the batch (a convolution's transform length depends on the scene alone), so a
    scene renders as it does alone."""
    plans = [_plan_signals(loaded, room, xp) for loaded, room in zip(scenes, rooms, strict=True)]
    results = iter(kernels.fft_convolve_many([job for plan in plans for job in plan.jobs], backend=xp))
    for plan in plans:
        plan.wet = [next(results) for _ in plan.jobs]
    fetch = Fetch(xp)
    finishers = [_mix_deferred(loaded, plan, xp, fetch) for loaded, plan in zip(scenes, plans, strict=True)]
    fetch.run()
    return [finish() for finish in finishers]


def _mix_deferred(loaded: LoadedScene, plan: _Signals, xp: Backend, fetch: Fetch) -> Callable[[], Rendered | AudioError]:
    """`_mix` of one scene whose convolutions are done (``plan.wet``), every gain a 0-d array and
    every number queued on ``fetch``; the returned function (after ``fetch.run()``) gives the result."""
    scene, subtype = loaded.scene, loaded.subtype
    level = scene_level_definition(scene)
    talkers, noise = loaded.talkers, loaded.noise
    wet = iter(plan.wet)
    reverberant = sum(1 for r in plan.talker_reverbs if r)
    wet_targets = iter(plan.wet[reverberant + (noise is not None and plan.noise_reverb is not None) :])
    images: dict[str, Array] = {}
    targets: dict[str, Array] = {}
    reverbs: dict[str, Reverb] = {}
    for talker, reverb in zip(talkers, plan.talker_reverbs, strict=True):
        extra: dict[str, Array] = {}
        if reverb is None:
            image = talker.dry
        else:
            reverbs[talker.role], image = reverb, next(wet)
            if plan.names:
                extra = {f"{talker.role}_{t}": x for t, x in zip(plan.names, next(wet_targets), strict=True)}
            if "dry" in loaded.targets:
                extra[f"{talker.role}_dry"] = xp.copy(talker.dry)
        if talker.sir_db is None or not images:
            gain = level.gain_for_level_array(image, talker.level_span, talker.level_dbfs)
        else:
            gain = level.gain_for_ratio_array(next(iter(images.values())), image, talker.sir_db)
        image *= gain
        images[talker.role] = image
        targets.update({role: x * gain for role, x in extra.items()})
    speech = _total(images.values())
    if noise is not None:
        noise_signal = next(wet) if plan.noise_reverb is not None else noise.dry
        if plan.noise_reverb is None and speech.shape[0] > 1:
            noise_signal = xp.repeat(noise_signal, speech.shape[0], axis=0)
        noise_signal *= level.gain_for_ratio_array(speech, noise_signal, noise.snr_db)
    else:
        noise_signal = xp.zeros(tuple(speech.shape))
    limit = kernels.db_to_gain(scene.peak_dbfs)
    peak = xp.max(xp.stack([kernels.peak_array(x) for x in (*images.values(), noise_signal, speech + noise_signal)]))
    gain = _limiting_gain(xp, peak, limit)
    for x in (*images.values(), *targets.values(), noise_signal):
        x *= gain  # x * 1.0 == x: the same values as `_mix`, which skips a gain of 1
    mix = _total(images.values()) + noise_signal
    target_gains: dict[str, Array] = {}
    for role, x in targets.items():
        target_gains[role] = _limiting_gain(xp, kernels.peak_array(x), limit)
        x *= target_gains[role]
    noise_level = fetch.put(kernels.rms_dbfs_array(noise_signal)) if noise is not None else None
    images, noise_signal, mix = _quantize_images(xp, images, noise_signal, mix, subtype)
    targets = {role: _quantize(xp, x, subtype) for role, x in targets.items()}
    if loaded.enrollment is not None:
        enrollment = loaded.enrollment
        targets["enrollment"] = _quantize(
            xp, enrollment * kernels.db_to_gain_array(scene.enrollment_dbfs - kernels.rms_dbfs_array(enrollment)), subtype
        )
    audio = {"mix": mix, **images, "noise": noise_signal, **targets}
    labels = measure_labels_deferred(loaded, audio, reverbs, gain, level, fetch)
    gains_db = {role: fetch.put(20.0 * xp.log10(g)) for role, g in target_gains.items()}

    def finish() -> Rendered | AudioError:
        if noise is not None and noise_level is not None:
            refusal = _floor_refusal(fetch.number(noise_level), noise.clip_id, noise.path, subtype)
            if refusal is not None:
                return refusal
        if loaded.late_error is not None:
            return loaded.late_error
        values = labels()
        values.update({f"{role}_gain_db": round(fetch.number(h), 4) for role, h in gains_db.items()})
        return Rendered(scene, audio, values)

    return finish


def _limiting_gain(xp: Backend, peak: Array, limit: float) -> Array:
    """``min(1, limit / peak)`` (1 for a silent signal) as a 0-d array."""
    return xp.where(peak > 0, xp.clip(limit / xp.where(peak > 0, peak, 1.0), None, 1.0), 1.0)


def rendered_to_numpy(results: Sequence[Rendered | AudioError]) -> list[Rendered | AudioError]:
    """`Rendered.to_numpy` of every result of a batch in one transfer (the hand-off to the writer:
    the signals leave the device once, together)."""
    arrays = [x for r in results if isinstance(r, Rendered) for x in r.audio.values() if not isinstance(x, np.ndarray)]
    if not arrays:
        return [r.to_numpy() if isinstance(r, Rendered) else r for r in results]
    xp = backend_of(*arrays)
    if xp.device == "cpu":  # the host's own memory: each array as it is (torch shares it with NumPy)
        return [r.to_numpy() if isinstance(r, Rendered) else r for r in results]
    return _fetched(results, xp)


def _fetched(results: Sequence[Rendered | AudioError], xp: Backend) -> list[Rendered | AudioError]:
    """`rendered_to_numpy` from a device: every signal of the batch in one `Fetch` transfer."""
    fetch = Fetch(xp)
    handles = [{role: fetch.put(x) for role, x in r.audio.items()} if isinstance(r, Rendered) else {} for r in results]
    fetch.run()
    return [
        Rendered(r.scene, {role: fetch.get(h[role]) for role in r.audio}, r.labels) if isinstance(r, Rendered) else r
        for r, h in zip(results, handles, strict=True)
    ]


def _simulate(scenes: list[LoadedScene], xp: Backend) -> list[RoomResponse | None]:
    """Each scene's room simulated (None without one), one `simulate_rooms` call per sample rate."""
    wanted: dict[int, list[tuple[int, Room]]] = defaultdict(list)
    for k, loaded in enumerate(scenes):
        if loaded.scene.room is not None:
            wanted[loaded.scene.sample_rate].append((k, loaded.scene.room))
    rooms: list[RoomResponse | None] = [None] * len(scenes)
    for rate, pairs in wanted.items():
        for (k, _), response in zip(pairs, simulate_rooms([room for _, room in pairs], rate, xp), strict=True):
            rooms[k] = response
    return rooms


def _mix(loaded: LoadedScene, room: RoomResponse | None, xp: Backend) -> Rendered | AudioError:
    """One loaded scene mixed on ``xp`` (see `render_batch`)."""
    scene, subtype = loaded.scene, loaded.subtype
    rate, n = scene.sample_rate, scene.num_samples
    level = scene_level_definition(scene)

    def room_reverb(position: int | None) -> Reverb | None:
        if room is None or position is None:
            return None
        return Reverb(room.rirs[position], room.direct[position], room.delays[position])

    talkers, noise = loaded.talkers, loaded.noise
    talker_reverbs = [t.reverb or room_reverb(t.position) for t in talkers]
    noise_reverb = room_reverb(noise.position) if noise is not None else None
    # every signal of the scene convolved with its RIR in one batched call, then the short target filters in another
    wet = iter(
        _convolve_each(
            xp,
            [(t.dry, r.rir) for t, r in zip(talkers, talker_reverbs, strict=True) if r]
            + ([(noise.dry, noise_reverb.rir)] if noise is not None and noise_reverb else []),
            n,
        )
    )
    names = [t for t in loaded.targets if t != "dry"]

    def target_filters(r: Reverb) -> Array:
        return _stack_filters(xp, [r.direct if t == "direct" else _early(xp, r, rate, scene.early_ms) for t in names])

    wet_targets = iter(
        _convolve_each(xp, [(t.dry, target_filters(r)) for t, r in zip(talkers, talker_reverbs, strict=True) if r] if names else [], n)
    )
    images: dict[str, Array] = {}
    targets: dict[str, Array] = {}
    reverbs: dict[str, Reverb] = {}
    for talker, reverb in zip(talkers, talker_reverbs, strict=True):
        extra: dict[str, Array] = {}
        if reverb is None:
            image = talker.dry
        else:
            reverbs[talker.role], image = reverb, next(wet)  # (M, n)
            if names:
                extra = {f"{talker.role}_{t}": x for t, x in zip(names, next(wet_targets), strict=True)}
            if "dry" in loaded.targets:
                extra[f"{talker.role}_dry"] = xp.copy(talker.dry)
        if talker.sir_db is None or not images:
            gain = level.gain_for_level(image, talker.level_span, talker.level_dbfs)
        else:  # relative to the first talker: the ratio of the first image to this one is sir_db
            gain = level.gain_for_ratio(next(iter(images.values())), image, talker.sir_db)
        image *= gain  # its own array (or view)
        images[talker.role] = image
        targets.update({role: x * gain for role, x in extra.items()})
    speech = _total(images.values())
    if noise is not None:
        noise_signal = next(wet) if noise_reverb is not None else noise.dry
        if noise_reverb is None and speech.shape[0] > 1:
            noise_signal = xp.repeat(noise_signal, speech.shape[0], axis=0)
        noise_signal *= level.gain_for_ratio(speech, noise_signal, noise.snr_db)
    else:
        noise_signal = xp.zeros(tuple(speech.shape))
    distortion: Array | None = None
    chain_steps: list[dict[str, Any]] = []
    if scene.chain:  # the device/channel effects, on the levelled signals (render.channel)
        acoustic = acoustic_levels(scene, loaded.talkers, images, noise_signal if noise is not None else None, level)
        before = {f"{role}{ACOUSTIC_SUFFIX}": xp.copy(x) for role, x in images.items()}  # each image as it reached the device
        images, noise_signal, targets, distortion, chain_steps = apply_chain(scene, images, noise_signal, targets)
        targets.update(before)
        speech = _total(images.values())
    parts = (*images.values(), noise_signal, *([] if distortion is None else [distortion]))
    mix = speech + noise_signal if distortion is None else speech + noise_signal + distortion
    # the common gain: only the signals that sum to the mixture set it (the mixture's speech keeps
    # its configured level); a target that would still peak above the limit gets its own gain
    peak = max(kernels.peak(x) for x in (*parts, mix))
    limit = kernels.db_to_gain(scene.peak_dbfs)
    gain = min(1.0, limit / peak) if peak > 0 else 1.0
    if gain != 1.0:  # x * 1.0 == x, so the unscaled mixture is already right when gain is 1
        for x in (*parts, *targets.values()):
            x *= gain
        xp.add(_total(images.values()), noise_signal, out=mix)
        if distortion is not None:
            mix += distortion
    target_gains: dict[str, float] = {}
    for role, x in targets.items():
        target_peak = kernels.peak(x)
        target_gains[role] = min(1.0, limit / target_peak) if target_peak > 0 else 1.0
        if target_gains[role] != 1.0:
            x *= target_gains[role]
    if noise is not None:
        refusal = _below_floor(noise_signal, noise.clip_id, noise.path, subtype)
        if refusal is not None:
            return refusal
    if loaded.late_error is not None:
        return loaded.late_error
    if distortion is None:
        images, noise_signal, mix = _quantize_images(xp, images, noise_signal, mix, subtype)
    else:
        images, noise_signal, distortion, mix = _quantize_with_distortion(xp, images, noise_signal, distortion, mix, subtype)
    targets = {role: _quantize(xp, x, subtype) for role, x in targets.items()}
    if loaded.enrollment is not None:
        enrollment = loaded.enrollment
        targets["enrollment"] = _quantize(
            xp, enrollment * kernels.db_to_gain(scene.enrollment_dbfs - kernels.rms_dbfs(enrollment)), subtype
        )
    audio = {"mix": mix, **images, "noise": noise_signal, **({} if distortion is None else {DISTORTION_ROLE: distortion}), **targets}
    labels = measure_labels(loaded, audio, reverbs, gain, level)
    if scene.chain:
        labels["channel"] = {**chain_labels(mix, rate, chain_steps), "acoustic": acoustic}
    labels.update({f"{role}_gain_db": round(20 * np.log10(g), 4) for role, g in target_gains.items()})
    return Rendered(scene, audio, labels)


def grid_floor_dbfs(subtype: str) -> float:
    """RMS of the rounding error of the output grid (uniform, one step wide), dBFS: -101.1 for
    PCM_16, -149.3 for PCM_24 and FLOAT (float32 keeps 24 bits of mantissa)."""
    bits = SUBTYPE_BITS.get(subtype, 24)
    return 20.0 * float(np.log10(2.0 ** -(bits - 1) / np.sqrt(12.0)))


def _below_floor(noise: Array, clip_id: str, path: str, subtype: str) -> CropError | None:
    """`CropError` ``silent_crop`` when the noise, at its final level, is less than
    `FLOOR_MARGIN_DB` above the output grid's rounding noise: the written ``snr_db`` would then
    measure the rounding, not the noise drawn."""
    return _floor_refusal(kernels.rms_dbfs(noise), clip_id, path, subtype)


def _floor_refusal(level: float, clip_id: str, path: str, subtype: str) -> CropError | None:
    """`_below_floor` of a noise whose final level is ``level`` dBFS."""
    floor = grid_floor_dbfs(subtype) + FLOOR_MARGIN_DB
    if level >= floor:
        return None
    return CropError(
        path,
        "silent_crop",
        f"noise at {level:.1f} dBFS after the SNR gain, below {floor:.1f} dBFS ({subtype} floor + {FLOOR_MARGIN_DB:g} dB)",
        clip_id,
    )


def _early(xp: Backend, reverb: Reverb, sample_rate: int, early_ms: float) -> Array:
    """The RIR cut ``early_ms`` after each microphone's direct path."""
    cut = np.round(reverb.delays + early_ms * 1e-3 * sample_rate).astype(int)
    return reverb.rir * (xp.arange(reverb.rir.shape[-1], dtype=xp.int64) < xp.asarray(cut, xp.int64)[:, None])


def _total(arrays: Iterable[Array]) -> Array:
    """``sum(arrays)``, but the array itself (no copy) when there is only one."""
    arrays = list(arrays)
    return arrays[0] if len(arrays) == 1 else sum(arrays)


def _stack_filters(xp: Backend, filters: list[Array]) -> Array:
    """``(T, ..., K)`` from filters of equal leading shape and varying K (zero-padded)."""
    length = max(f.shape[-1] for f in filters)
    return xp.stack([xp.pad_last(f, length) for f in filters])


def _convolve_each(xp: Backend, pairs: list[tuple[Array, Array]], n: int) -> list[Array]:
    """Each signal ``(1, L)`` convolved with its filters ``(..., M, K)``, first ``n`` samples: one
    batched call when the filters agree in shape up to K (one room's RIRs), else a call each."""

    def lift(x: Array, h: Array) -> Array:  # (1, ..., 1, L)
        return x.reshape((1,) * (h.ndim - 1) + tuple(x.shape[-1:]))

    if len({tuple(h.shape[:-1]) for _, h in pairs}) > 1:
        return [kernels.fft_convolve(lift(x, h), h, n) for x, h in pairs]
    if not pairs:
        return []
    signals = xp.stack([lift(x, h) for x, h in pairs])
    return list(kernels.fft_convolve(signals, _stack_filters(xp, [h for _, h in pairs]), n))


def _quantize_with_distortion(
    xp: Backend, images: dict[str, Array], noise: Array, distortion: Array, mix: Array, subtype: str
) -> tuple[dict[str, Array], Array, Array, Array]:
    """`_quantize_images` of a chained scene: images, noise and mixture on the grid, and the
    distortion the rest, so that ``mix == sum(images) + noise + distortion`` (exactly in PCM)."""
    images = {role: _quantize(xp, x, subtype) for role, x in images.items()}
    noise = _quantize(xp, noise, subtype)
    if subtype == "FLOAT":
        distortion = _quantize(xp, distortion, subtype)
        total = sum(xp.astype(x, xp.float32) for x in (*images.values(), noise, distortion))
        return images, noise, distortion, xp.astype(total, xp.float_dtype)
    mix = _quantize(xp, mix, subtype)
    return images, noise, mix - _total(images.values()) - noise, mix


def _quantize(xp: Backend, x: Array, subtype: str) -> Array:
    """``x`` on the output grid: float32 values for FLOAT, else PCM rounding (in place)."""
    return xp.float32_grid(x) if subtype == "FLOAT" else kernels.quantize(x, SUBTYPE_BITS[subtype], out=x)


def _quantize_images(
    xp: Backend, images: dict[str, Array], noise: Array, mix: Array, subtype: str
) -> tuple[dict[str, Array], Array, Array]:
    """Put the images, noise and their mixture ``mix`` (``Σ images + noise``) on the output grid
    with ``mix == Σ images + noise`` exact: for FLOAT the mixture is the float32 sum, for PCM
    the noise is the integer residual. PCM reuses the arrays passed in: they are overwritten."""
    images = {role: _quantize(xp, x, subtype) for role, x in images.items()}
    if subtype == "FLOAT":
        noise = _quantize(xp, noise, subtype)
        total = sum(xp.astype(x, xp.float32) for x in images.values()) + xp.astype(noise, xp.float32)
        return images, noise, xp.astype(total, xp.float_dtype)
    mix = _quantize(xp, mix, subtype)
    residual = _total(images.values())
    return images, (xp.subtract(mix, residual, out=noise) if tuple(noise.shape) == tuple(mix.shape) else mix - residual), mix
