"""render = load + mix: a batch of loaded scenes renders as each scene alone, on NumPy (the same
bits) and torch (within 1e-5), and with the torch backend no array leaves torch while mixing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import make_corpus, small_config

from audiosynth.build.worker import render_example, render_examples
from audiosynth.catalog import Clip, read_catalog, relative_audio_path, write_catalog
from audiosynth.plan import Planner, load_catalogs
from audiosynth.render import load_scene, render, render_batch
from audiosynth.render.mix import Rendered

RATE = 16000
ROOM = {"probability": 1.0, "source": "simulated", "room": {"rt60_s": [0.2, 0.5], "distance_m": [0.7, 1.5]}}
ONE_SPLIT = {"train": 1.0, "dev": 0.0, "test": 0.0}


@pytest.fixture(scope="module")
def batch_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test corpus plus a catalog RIR over a noise floor at -60 dB (its RT60 needs the noise-floor cut)."""
    root = tmp_path_factory.mktemp("batch_corpus")
    corpus = make_corpus(root)
    rng = np.random.default_rng(11)
    t = np.arange(int(0.6 * RATE)) / RATE
    rir = rng.standard_normal(t.size) * (0.05 * np.exp(-6.91 * t / 0.3) + 1e-3 * 0.05)
    rir[20] = 1.0
    path = root / "rirs" / "floor.wav"
    sf.write(path, rir.astype(np.float32), RATE, subtype="FLOAT")
    clips = [*read_catalog(corpus["rirs"]).clips, Clip("rir-floor", relative_audio_path(path, root), "rir", t.size / RATE, RATE, 1)]
    write_catalog(clips, corpus["rirs"])
    return corpus


CASES: dict[str, dict[str, Any]] = {
    "reverberant": {"reverb": ROOM, "targets": {"direct": True, "early": True, "dry": True}},
    "catalog_rir": {"reverb": {"probability": 1.0, "source": "catalog"}, "output": {"format": "wav", "subtype": "FLOAT"}},
    "talkers": {
        "task": "separation",
        "talkers": {"count": [3, 3], "sir_db": [-5, 5]},
        "reverb": {**ROOM, "probability": 0.5},
        "splits": ONE_SPLIT,
    },
    "array": {
        "reverb": {**ROOM, "room": {**ROOM["room"], "array": {"type": "linear", "num_mics": 3, "spacing_m": 0.05}}},
        "targets": {"direct": True},
        "output": {"format": "wav", "subtype": "PCM_24"},
    },
    "enrollment": {"task": "target_speaker", "talkers": {"count": [2, 2], "overlap": "max", "enrollment": True}},
    "session": {
        "task": "diarization",
        "session": {"speakers": [2, 3], "duration_s": [12, 16], "overlap_probability": 0.3},
        "reverb": {"probability": 0.5},
        "splits": ONE_SPLIT,
    },
}


@pytest.fixture(scope="module")
def scenes(batch_corpus: dict[str, Path]) -> list[tuple[Any, Any, str]]:
    """``(scene, clips, subtype)`` of every case, 2 or 3 scenes each."""
    out = []
    for name, changes in CASES.items():
        config = small_config(batch_corpus, num_examples=2 if name == "session" else 3, **changes)
        catalogs = load_catalogs(config)
        planner = Planner(config, catalogs)
        out += [(planner.scene(i), catalogs.all(), config.output.subtype) for i in range(config.num_examples)]
    return out


def _loaded(scenes: list[tuple[Any, Any, str]], order: list[int]) -> list[Any]:
    return [load_scene(*scenes[k]) for k in order]


def _batches(backend: str, scenes: list[tuple[Any, Any, str]], order: list[int], size: int) -> dict[int, Rendered]:
    """Each scene of ``order`` rendered in batches of ``size``, by its index in ``scenes``."""
    out: dict[int, Rendered] = {}
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        results = render_batch(_loaded(scenes, chunk), backend)
        for k, result in zip(chunk, results, strict=True):
            assert isinstance(result, Rendered), result
            out[k] = result
    return out


@pytest.fixture(scope="module")
def singles(scenes: list[tuple[Any, Any, str]]) -> list[Rendered]:
    """Every scene rendered alone on NumPy, as `render` does."""
    return [render(*scene) for scene in scenes]


def _orders(count: int) -> list[tuple[list[int], int]]:
    rng = np.random.default_rng(0)
    forward = list(range(count))
    return [
        (forward, 4),
        (forward[::-1], count),
        ([int(k) for k in rng.permutation(count)], 3),
        ([int(k) for k in rng.permutation(count)], 5),
    ]


def test_the_cases_cover_what_a_batch_meets(scenes: list[tuple[Any, Any, str]], singles: list[Rendered]) -> None:
    types = {scene.type for scene, _, _ in scenes}
    assert {"denoising", "separation", "target_speaker", "diarization"} <= types
    assert any(r.audio["mix"].shape[0] == 3 for r in singles)  # multichannel
    assert any("clean_dry" in r.audio and "clean_early" in r.audio for r in singles)  # targets of a simulated room
    assert any(r.scene.sources[0].rir_clip for r in singles)  # a catalog RIR
    assert any(r.scene.type == "diarization" and r.scene.room is not None for r in singles)  # a reverberant session


@pytest.mark.parametrize("case", range(4))
def test_a_numpy_batch_equals_single_renders_bit_for_bit(scenes: list[tuple[Any, Any, str]], singles: list[Rendered], case: int) -> None:
    order, size = _orders(len(scenes))[case]
    batched = _batches("numpy", scenes, order, size)
    for k, single in enumerate(singles):
        assert batched[k].labels == single.labels, k
        assert list(batched[k].audio) == list(single.audio)
        for role, x in single.audio.items():
            assert batched[k].audio[role].dtype == x.dtype and np.array_equal(batched[k].audio[role], x), (k, role)


def test_a_torch_batch_equals_single_renders_within_1e_5(scenes: list[tuple[Any, Any, str]], singles: list[Rendered]) -> None:
    torch = pytest.importorskip("torch")
    order, size = _orders(len(scenes))[2]
    batched = _batches("torch", scenes, order, size)
    alone = [render(*scene, backend="torch") for scene in scenes]  # a batch of one, handed back as NumPy
    for k, single in enumerate(singles):
        assert all(isinstance(x, torch.Tensor) for x in batched[k].audio.values())  # render_batch keeps the backend's arrays
        assert all(isinstance(x, np.ndarray) for x in alone[k].audio.values())
        assert batched[k].labels == alone[k].labels, k  # torch alone and in a batch: the same computation
        assert batched[k].labels.keys() == single.labels.keys()
        for role, x in single.audio.items():
            assert np.array_equal(batched[k].to_numpy().audio[role], alone[k].audio[role]), (k, role)
            assert np.max(np.abs(batched[k].to_numpy().audio[role] - x)) < 1e-5, (k, role)


def test_torch_rt60_labels_agree_with_numpy(batch_corpus: dict[str, Path]) -> None:
    """The RIR measurements run on the backend too: over a noise floor (Lundeby's cut, line fits) as well."""
    pytest.importorskip("torch")
    config = small_config(batch_corpus, num_examples=8, reverb={"probability": 1.0, "source": "catalog"})
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    floors = 0
    for i in range(8):
        a, b = (render(planner.scene(i), catalogs.all(), backend=backend) for backend in ("numpy", "torch"))
        floors += a.scene.sources[0].rir_clip == "rir-floor"
        for key in ("rt60_s", "rt60_t30_s", "drr_db", "c50_db"):
            assert a.labels[key] == pytest.approx(b.labels[key], abs=2e-4), (i, key)
    assert floors > 0


def _refusing_torch() -> Any:
    torch = pytest.importorskip("torch")

    from audiosynth.dsp.backend import handing_off

    class Refusing(torch.Tensor):
        """A tensor that refuses to become anything but a tensor (scalars via item/float still work),
        except in the one hand-off of a batch's numbers to the host (`backend.Fetch`)."""

        def __array__(self, *args: Any, **kwargs: Any) -> Any:
            if not handing_off():
                raise AssertionError("an array left torch (__array__)")
            return super().__array__(*args, **kwargs)

        def numpy(self, *args: Any, **kwargs: Any) -> Any:
            if not handing_off():
                raise AssertionError("an array left torch (.numpy())")
            return super().numpy(*args, **kwargs)

        def tolist(self) -> Any:
            raise AssertionError("an array left torch (.tolist())")

    return torch, Refusing


def test_with_torch_no_array_leaves_torch_inside_render_batch(scenes: list[tuple[Any, Any, str]]) -> None:
    torch, Refusing = _refusing_torch()
    refusing = lambda a: torch.as_tensor(np.asarray(a)).as_subclass(Refusing)  # noqa: E731
    with pytest.raises(AssertionError, match="left torch"):  # the guard works
        np.asarray(refusing(np.zeros(3)) * 2.0)
    loaded = [scene.map_arrays(refusing) for scene in _loaded(scenes, list(range(len(scenes))))]
    assert all(isinstance(t.dry, Refusing) for scene in loaded for t in scene.talkers)
    results = render_batch(loaded, "torch")
    plain = render_batch(_loaded(scenes, list(range(len(scenes)))), "torch")
    for got, want in zip(results, plain, strict=True):
        assert isinstance(got, Rendered) and isinstance(want, Rendered)
        assert got.labels == want.labels
        for role, x in want.audio.items():
            assert torch.equal(got.audio[role].as_subclass(torch.Tensor), x), role


def test_a_scene_refused_while_mixing_does_not_disturb_its_batch(batch_corpus: dict[str, Path]) -> None:
    """A noise too close to the output grid at its final level is refused with a CropError in
    its place of the batch; the other scenes render as alone."""
    config = small_config(batch_corpus, num_examples=12, speech_level_dbfs=[-35, -30], snr_db=[30, 70])
    catalogs = load_catalogs(config)
    planner = Planner(config, catalogs)
    scenes = [planner.scene(i) for i in range(12)]
    results = render_batch([load_scene(s, catalogs.all(), "PCM_16") for s in scenes])
    refused = [k for k, r in enumerate(results) if not isinstance(r, Rendered)]
    assert 0 < len(refused) < 12
    assert all(results[k].reason == "silent_crop" and results[k].clip_id == scenes[k].noise.segment.clip_id for k in refused)
    for k, scene in enumerate(scenes):
        if k not in refused:
            alone = render(scene, catalogs.all())
            assert all(np.array_equal(alone.audio[role], results[k].audio[role]) for role in alone.audio)


def _hostile_corpus(batch_corpus: dict[str, Path], root: Path) -> dict[str, Path]:
    """The batch corpus with one speech clip unreadable, one all zeros, and the RIR catalog dropped."""
    speech = read_catalog(batch_corpus["speech"])
    base = batch_corpus["speech"].parent
    clips = []
    for k, clip in enumerate(speech.clips):
        path = base / clip.path
        if k in (1, 7, 13):
            path = root / f"broken{k}.flac"
            path.write_bytes(b"not audio" * 100)
        elif k == 4:
            path = root / "zeros.flac"
            sf.write(path, np.zeros(clip.num_samples, dtype=np.float32), RATE, subtype="PCM_16")
        clips.append(dataclasses.replace(clip, path=str(path)))
    write_catalog(clips, root / "speech.jsonl")
    return {"speech": root / "speech.jsonl", "noise": batch_corpus["noise"]}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_examples_are_redrawn_exactly_as_single_ones(batch_corpus: dict[str, Path], tmp_path: Path, backend: str) -> None:
    """The worker's batches: bad clips (at load) and refused noise (while mixing) re-draw each
    example as alone, with the same reject rows, in any batch and order."""
    if backend == "torch":
        pytest.importorskip("torch")
    config = small_config(
        _hostile_corpus(batch_corpus, tmp_path), num_examples=14, speech_level_dbfs=[-35, -30], snr_db=[20, 65], backend=backend
    )
    catalogs = load_catalogs(config)
    planner, clips = Planner(config, catalogs), catalogs.all()
    alone = [render_example(planner, i, clips, config) for i in range(14)]
    rejects = [r for _, met in alone for r in met]
    assert {"silent", "unreadable"} & {r["reason"] for r in rejects}, rejects  # bad clips, met while loading
    assert any("after the SNR gain" in r["detail"] for r in rejects), rejects  # noise refused while mixing
    for order in (list(range(14)), [int(k) for k in np.random.default_rng(1).permutation(14)]):
        batched = render_examples(planner, order, clips, config)
        for k, (rendered, rejects) in zip(order, batched, strict=True):
            assert rejects == alone[k][1], k
            assert rendered.scene == alone[k][0].scene and rendered.labels == alone[k][0].labels
            assert all(isinstance(x, np.ndarray) for x in rendered.audio.values())  # handed off as NumPy
            assert all(np.array_equal(x, alone[k][0].audio[role]) for role, x in rendered.audio.items()), k


def test_a_build_rendering_in_batches_writes_the_same_bytes(
    batch_corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's batch size (`RENDER_BATCH`, a seam for GPUs) changes no byte of a build, re-draws included."""
    from test_golden import digest

    from audiosynth.build import build, worker

    config = small_config(
        _hostile_corpus(batch_corpus, tmp_path),
        num_examples=10,
        speech_level_dbfs=[-35, -30],
        snr_db=[20, 65],
        reverb={"probability": 0.5},
        output={"shard_size": 5},
    )
    build(config, tmp_path / "one", workers=1, progress=False)
    monkeypatch.setattr(worker, "RENDER_BATCH", 3)
    build(config, tmp_path / "three", workers=1, progress=False)
    assert (tmp_path / "one" / "rejects.jsonl").read_text()  # re-draws happened
    assert digest(tmp_path / "three") == digest(tmp_path / "one")
