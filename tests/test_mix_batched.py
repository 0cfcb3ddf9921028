"""Batched mixing (issue 14, item 2) and batched builds (item 4).

`render_batch` of a batch of mixed scenes (denoising, 2-3 talkers, simulated rooms and catalog
RIRs, microphone arrays, different lengths, PCM_16 and FLOAT) equals rendering each scene alone:
NumPy bit for bit, torch (CPU, float64) within 1e-5 of the float64 per-scene path and bit for bit
against itself alone; no number leaves the device inside the batched torch path but in its one
hand-off (`backend.Fetch`); a torch build in batches writes the bytes of the same build in batches of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import make_corpus, small_config

from audiosynth.catalog import Clip, read_catalog, relative_audio_path, write_catalog
from audiosynth.dsp import backend as backend_module
from audiosynth.dsp import kernels
from audiosynth.plan.planner import Planner
from audiosynth.plan.pools import load_catalogs
from audiosynth.render import mix
from audiosynth.render.load import load_scene
from audiosynth.render.mix import Rendered, render_batch

RATE = 16000
ROOM = {"probability": 1.0, "source": "simulated", "room": {"rt60_s": [0.2, 0.6], "distance_m": [0.7, 1.5]}}
ONE_SPLIT = {"train": 1.0, "dev": 0.0, "test": 0.0}
CASES: dict[str, dict[str, Any]] = {
    "denoising": {"duration_s": [1.0, 2.5]},
    "reverberant": {"reverb": ROOM, "targets": {"direct": True, "early": True, "dry": True}, "duration_s": [1.0, 2.0]},
    "catalog_rir": {"reverb": {"probability": 1.0, "source": "catalog"}, "output": {"format": "wav", "subtype": "FLOAT"}},
    "talkers": {
        "task": "separation",
        "talkers": {"count": [2, 3], "sir_db": [-5, 5]},
        "reverb": {**ROOM, "probability": 0.5},
        "splits": ONE_SPLIT,
    },
    "array": {
        "reverb": {**ROOM, "room": {**ROOM["room"], "array": {"type": "circular", "num_mics": 4, "radius_m": 0.05}}},
        "targets": {"direct": True},
        "output": {"format": "wav", "subtype": "FLOAT"},
    },
}


@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The conftest corpus plus a catalog RIR over a noise floor (its RT60 needs Lundeby's cut, on the host)."""
    root = tmp_path_factory.mktemp("mixed_corpus")
    corpus = make_corpus(root)
    t = np.arange(int(0.6 * RATE)) / RATE
    rir = np.random.default_rng(5).standard_normal(t.size) * (0.05 * np.exp(-6.91 * t / 0.3) + 5e-5)
    rir[20] = 1.0
    path = root / "rirs" / "floor.wav"
    sf.write(path, rir.astype(np.float32), RATE, subtype="FLOAT")
    clips = [*read_catalog(corpus["rirs"]).clips, Clip("rir-floor", relative_audio_path(path, root), "rir", t.size / RATE, RATE, 1)]
    write_catalog(clips, corpus["rirs"])
    return corpus


@pytest.fixture(scope="module")
def scenes(mixed_corpus: dict[str, Path]) -> list[tuple[Any, Any, str]]:
    """``(scene, clips, subtype)``: 3 scenes of each case."""
    out = []
    for changes in CASES.values():
        config = small_config(mixed_corpus, num_examples=3, **changes)
        catalogs = load_catalogs(config)
        planner = Planner(config, catalogs)
        out += [(planner.scene(i), catalogs.all(), config.output.subtype) for i in range(config.num_examples)]
    return out


def _render(backend: str, scenes: list[tuple[Any, Any, str]], order: list[int], size: int) -> dict[int, Rendered]:
    out: dict[int, Rendered] = {}
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        for k, result in zip(chunk, render_batch([load_scene(*scenes[k]) for k in chunk], backend), strict=True):
            assert isinstance(result, Rendered), result
            out[k] = result.to_numpy()
    return out


@pytest.fixture(scope="module")
def alone(scenes: list[tuple[Any, Any, str]]) -> dict[str, dict[int, Rendered]]:
    """Every scene rendered alone (batches of one), on each backend."""
    everything = list(range(len(scenes)))
    return {"numpy": _render("numpy", scenes, everything, 1), "torch": _render("torch", scenes, everything, 1)}


ORDER = [int(k) for k in np.random.default_rng(3).permutation(15)]


def test_the_batch_covers_what_was_asked(scenes: list[tuple[Any, Any, str]], alone: dict[str, dict[int, Rendered]]) -> None:
    rendered = list(alone["numpy"].values())
    assert len(scenes) == 15 and {r.scene.type for r in rendered} == {"denoising", "separation"}
    assert {len(r.scene.sources) for r in rendered} >= {1, 2, 3}
    assert {r.audio["mix"].shape[0] for r in rendered} == {1, 4}  # a 4-microphone array
    assert len({r.audio["mix"].shape[-1] for r in rendered}) >= 5  # different lengths
    assert {subtype for _, _, subtype in scenes} == {"PCM_16", "FLOAT"}
    assert any(r.scene.room is not None for r in rendered) and any(r.scene.sources[0].rir_clip for r in rendered)
    assert any(r.scene.sources[0].rir_clip == "rir-floor" for r in rendered)  # Lundeby's path of the labels


@pytest.mark.parametrize("size", [4, 15])
def test_numpy_batches_are_bit_exact(scenes: list[tuple[Any, Any, str]], alone: dict[str, dict[int, Rendered]], size: int) -> None:
    batched = _render("numpy", scenes, ORDER, size)
    for k, single in alone["numpy"].items():
        assert batched[k].labels == single.labels, k
        assert list(batched[k].audio) == list(single.audio)
        for role, x in single.audio.items():
            assert batched[k].audio[role].dtype == x.dtype and np.array_equal(batched[k].audio[role], x), (k, role)


def _close_labels(a: Any, b: Any, path: str = "") -> None:
    """Labels equal, numbers within 1e-5 relative or one step of their 4-decimal rounding."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close_labels(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _close_labels(x, y, f"{path}[{k}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert a == pytest.approx(b, rel=1e-5, abs=1.01e-4), path
    else:
        assert a == b, path


@pytest.mark.parametrize("size", [5, 15])
def test_torch_batches_are_within_1e_5_of_float64_per_scene_and_equal_alone(
    scenes: list[tuple[Any, Any, str]], alone: dict[str, dict[int, Rendered]], size: int
) -> None:
    pytest.importorskip("torch")
    batched = _render("torch", scenes, ORDER, size)
    worst = 0.0
    for k, reference in alone["numpy"].items():
        got = batched[k]
        assert list(got.audio) == list(reference.audio), k
        _close_labels(got.labels, reference.labels, str(k))
        for role, x in reference.audio.items():
            scale = max(float(np.max(np.abs(x))), 1e-3)
            error = float(np.max(np.abs(got.audio[role] - x))) / scale
            worst = max(worst, error)
            assert error < 1e-5, (k, role, error)
            assert np.array_equal(got.audio[role], alone["torch"][k].audio[role]), (k, role)  # as alone, to the bit
        assert got.labels == alone["torch"][k].labels, k
    assert worst > 0.0  # the two paths differ (torch convolves in shared transforms): the check is not vacuous


def test_torch_per_scene_path_agrees(scenes: list[tuple[Any, Any, str]], alone: dict[str, dict[int, Rendered]]) -> None:
    """The batched torch path against torch's per-scene path (`mix._mix`, the path of NumPy on torch arrays)."""
    pytest.importorskip("torch")
    xp = backend_module.get_backend("torch")
    for k in (0, 4, 10, 13):
        loaded = load_scene(*scenes[k]).on(xp)
        room = mix._simulate([loaded], xp)[0]
        single = mix._mix(loaded, room, xp)
        assert isinstance(single, Rendered)
        single = single.to_numpy()
        _close_labels(alone["torch"][k].labels, single.labels, str(k))
        for role, x in single.audio.items():
            assert np.max(np.abs(alone["torch"][k].audio[role] - x)) < 1e-5, (k, role)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_many_convolutions_share_calls_and_do_not_depend_on_each_other(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    xp = backend_module.get_backend(backend)
    rng = np.random.default_rng(1)
    jobs = [
        (xp.asarray(rng.standard_normal((1, n))), xp.asarray(rng.standard_normal((m, k)) * (rng.random(k) > 0.3)), n)
        for n, m, k in [(16000, 1, 3000), (20000, 4, 2500), (17000, 2, 40), (40000, 1, 5000), (15000, 3, 8000), (1000, 1, 1)]
    ]
    calls = []
    real = type(xp).rfft
    monkeypatch.setattr(type(xp), "rfft", lambda self, x, n: calls.append(n) or real(self, x, n))
    together = kernels.fft_convolve_many(jobs, backend=xp)
    classes = {kernels.size_class(min(x.shape[-1], n) + h.shape[-1] - 1) for x, h, n in jobs}
    assert len(calls) == 2 * len(classes) < 2 * len(jobs)  # signals and filters: one transform call each per class
    for (x, h, n), y in zip(jobs, together, strict=True):
        alone = kernels.fft_convolve_many([(x, h, n)], backend=xp)[0]
        assert tuple(y.shape) == (*h.shape[:-1], n)
        assert np.array_equal(xp.to_numpy(y), xp.to_numpy(alone))  # its bucket's neighbours change nothing
        reference = kernels.fft_convolve(xp.to_numpy(x), xp.to_numpy(h), n)
        assert np.max(np.abs(xp.to_numpy(y) - reference)) < 1e-9 * max(1.0, float(np.max(np.abs(reference))))


def test_size_classes() -> None:
    assert [kernels.size_class(n) for n in (1, 2, 3, 4, 5, 7, 100, 3072, 3073, 4097)] == [1, 2, 3, 4, 6, 8, 128, 3072, 4096, 6144]


def test_no_number_leaves_the_device_inside_batched_mixing_but_in_one_hand_off(
    scenes: list[tuple[Any, Any, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tensor-to-host conversion (cpu, item, float, int, bool, numpy, tolist) raises during
    `render_batch`, except inside `Fetch`'s transfers: at most 2 (the numbers, then the RIRs over a
    noise floor), whatever the batch size. Rooms are simulated beforehand (`simulate_rooms` is the
    room simulator's: its own test checks it)."""
    torch = pytest.importorskip("torch")
    xp = backend_module.get_backend("torch")
    order = list(range(len(scenes)))
    rooms = {}
    for k in order:
        loaded = load_scene(*scenes[k]).on(xp)
        rooms[k] = mix._simulate([loaded], xp)[0]
    transfers: list[int] = []
    real_run = backend_module.Fetch.run

    def counting_run(self: Any) -> None:
        real_run(self)
        transfers.append(self.transfers)

    def refuse(name: str) -> Any:
        real = getattr(torch.Tensor, name)

        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not backend_module.handing_off():
                raise AssertionError(f"a tensor went to the host inside render_batch (Tensor.{name})")
            return real(self, *args, **kwargs)

        return guarded

    def batched(chunk: list[int]) -> list[Any]:
        current = iter([rooms[k] for k in chunk])
        with monkeypatch.context() as patch:
            patch.setattr(mix, "_simulate", lambda loaded, _xp: [next(current) for _ in loaded])
            patch.setattr(backend_module.Fetch, "run", counting_run)
            for name in ("cpu", "item", "numpy", "tolist", "__float__", "__int__", "__bool__", "__index__", "__array__"):
                patch.setattr(torch.Tensor, name, refuse(name))
            with pytest.raises(AssertionError, match="went to the host"):  # the guard works
                float(torch.zeros(()))
            return render_batch([load_scene(*scenes[k]) for k in chunk], xp)

    assert sum(_floors(scenes[k], rooms[k]) for k in order) > 0  # the second transfer is exercised
    for chunk in (order, order[:2], order[9:12]):
        transfers.clear()
        results = batched(chunk)
        assert all(isinstance(r, Rendered) for r in results)
        assert transfers == [2 if any(_floors(scenes[k], rooms[k]) for k in chunk) else 1], (chunk, transfers)
        plain = render_batch([load_scene(*scenes[k]) for k in chunk], xp)
        for got, want in zip(results, plain, strict=True):
            assert got.labels == want.labels
            assert all(torch.equal(got.audio[role], x) for role, x in want.audio.items())


def _floors(scene: tuple[Any, Any, str], room: Any) -> int:
    """How many of a scene's first-microphone RIRs have a noise floor (their RT60 is measured on the host)."""
    loaded = load_scene(*scene)
    rirs = [
        t.reverb.rir[0] if t.reverb is not None else room.rirs[t.position][0].numpy()
        for t in loaded.talkers
        if t.reverb or (t.position is not None and room)
    ]
    return sum(kernels.noise_floor_truncation(np.asarray(rir), RATE) is not None for rir in rirs)


def test_the_hand_off_to_the_writer_is_one_transfer(scenes: list[tuple[Any, Any, str]], alone: dict[str, dict[int, Rendered]]) -> None:
    pytest.importorskip("torch")
    results = render_batch([load_scene(*scenes[k]) for k in range(6)], "torch")
    moved = []
    real = backend_module.Fetch._move
    try:
        backend_module.Fetch._move = lambda self, handles: (handles and moved.append(len(handles))) or real(self, handles)  # type: ignore[method-assign]
        host = mix._fetched(results, backend_module.get_backend("torch"))  # the route from CUDA (on the CPU: zero-copy views)
    finally:
        backend_module.Fetch._move = real  # type: ignore[method-assign]
    assert moved == [sum(len(r.audio) for r in results)]
    for k, r in enumerate(host):
        assert all(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in r.audio.values())
        assert all(np.array_equal(x, alone["torch"][k].audio[role]) for role, x in r.audio.items())


def test_batch_sizes_of_builds(mixed_corpus: dict[str, Path]) -> None:
    from audiosynth.build import worker
    from audiosynth.build.limits import GB, example_memory

    numpy_config = small_config(mixed_corpus, reverb=ROOM)
    assert worker.render_batch_size(numpy_config, load_catalogs(numpy_config)) == 1  # NumPy: one at a time (bits, memory bound)
    config = small_config(mixed_corpus, reverb=ROOM, backend="torch")
    catalogs = load_catalogs(config)
    assert worker.render_batch_size(config, catalogs) == worker.DEVICE_RENDER_BATCH == 16
    cost = example_memory(config, catalogs)[0]
    tight = small_config(mixed_corpus, reverb=ROOM, backend="torch", limits={"max_example_memory_gb": 3.5 * cost / GB})
    assert worker.render_batch_size(tight, catalogs) == 3  # the batch stays within the memory bound


def test_a_torch_build_in_batches_writes_the_bytes_of_batches_of_one(
    mixed_corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from test_golden import digest

    from audiosynth.build import build, worker

    config = small_config(
        mixed_corpus,
        num_examples=10,
        backend="torch",
        speech_level_dbfs=[-35, -30],
        snr_db=[20, 65],  # some noise refused at its final level: re-drawn, per example
        reverb={**ROOM, "probability": 0.6},
        output={"shard_size": 5},
    )
    monkeypatch.setattr(worker, "DEVICE_RENDER_BATCH", 1)
    build(config, tmp_path / "one", workers=1, progress=False)
    monkeypatch.setattr(worker, "DEVICE_RENDER_BATCH", 4)
    build(config, tmp_path / "four", workers=1, progress=False)
    assert (tmp_path / "one" / "rejects.jsonl").read_text()  # re-draws happened
    one = digest(tmp_path / "one")
    assert len([p for p in one if p.endswith((".wav", ".flac"))]) >= 20 and one == digest(tmp_path / "four")
