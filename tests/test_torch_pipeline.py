"""The training-time pipeline: I/O in DataLoader workers, mixing on the device (OnTheFlyLoader),
dynamic mixing by epoch, ShardDataset crops."""

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("webdataset")

from conftest import small_config  # noqa: E402

from audiosynth.build import build  # noqa: E402
from audiosynth.dataset.rows import iter_manifest  # noqa: E402
from audiosynth.plan.planner import item_rng  # noqa: E402
from audiosynth.torch import (  # noqa: E402
    DeviceRenderer,
    LoadedDataset,
    OnTheFlyDataset,
    OnTheFlyLoader,
    ShardDataset,
    StoredDataset,
    collate_loaded,
)

ROLES = ("mix", "clean", "noise")
PCM16_STEP = 1.0 / 32768


@pytest.fixture(scope="module")
def rooms(corpus, tmp_path_factory):
    """A build with a simulated room in most examples (targets on), 6 examples."""
    config = small_config(
        corpus,
        num_examples=6,
        reverb={"probability": 0.7, "source": "simulated", "room": {"rt60_s": [0.2, 0.4], "length_m": [3, 5], "width_m": [3, 4]}},
    )
    out = tmp_path_factory.mktemp("pipeline_rooms") / "ds"
    build(config, out, workers=1, progress=False)
    return config, out


def _written(folder, row, role):
    data, _ = sf.read(folder / row["audio"][role], dtype="float32", always_2d=True)
    return torch.from_numpy(data.T.copy())


def _batches(loader):
    return list(loader)


def _items(batches, role):
    """Per example, its unpadded signal of ``role``."""
    return [b[role][k, :, : b["lengths"][role][k]] for b in batches for k in range(len(b["id"]))]


@pytest.mark.parametrize("fixture", ["folder_and_shards", "rooms"])
def test_epoch_0_equals_the_built_examples_on_numpy(fixture, request):
    config, folder = request.getfixturevalue(fixture)[:2]
    rows = list(iter_manifest(folder / "manifest.jsonl"))
    roles = ROLES + (("clean_direct", "clean_early") if fixture == "rooms" else ())
    loader = OnTheFlyLoader(config, roles=roles, batch_size=4, backend="numpy", fallback={"clean_direct": "clean", "clean_early": "clean"})
    batches = _batches(loader)
    assert [i for b in batches for i in b["id"]] == [r["id"] for r in rows]
    assert [lab for b in batches for lab in b["labels"]] == [r["labels"] for r in rows]
    if fixture == "rooms":  # the rooms were simulated in batches of 4 and of 2, and still give the build's bytes
        assert sum("clean_direct" in r["audio"] for r in rows) >= 3
    for role in roles:
        for row, got in zip(rows, _items(batches, role), strict=True):
            source = role if role in row["audio"] else "clean"
            assert torch.equal(got, _written(folder, row, source)), (row["id"], role)


def test_epoch_0_on_the_torch_backend_within_one_pcm_step(rooms):
    config, folder = rooms
    rows = list(iter_manifest(folder / "manifest.jsonl"))
    batches = _batches(OnTheFlyLoader(config, roles=ROLES, batch_size=3, backend="torch"))
    exact = total = 0
    for role in ROLES:
        for row, got in zip(rows, _items(batches, role), strict=True):
            want = _written(folder, row, role)
            assert got.shape == want.shape
            assert float((got - want).abs().max()) <= PCM16_STEP * 1.0001, (row["id"], role)
            exact, total = exact + int((got == want).sum()), total + want.numel()
    assert exact / total > 0.999  # off by one step only where a value lies within rounding of a half step
    for b_labels, row in zip([lab for b in batches for lab in b["labels"]], rows, strict=True):
        assert b_labels["snr_db"] == pytest.approx(row["labels"]["snr_db"], abs=0.01)


def test_epoch_0_draws_are_todays():
    for index, attempt in ((0, 0), (7, 0), (3, 2)):
        legacy = np.random.default_rng([11, 0, index] + ([attempt] if attempt else []))
        assert np.array_equal(item_rng(11, index, attempt).random(8), legacy.random(8))
        assert not np.array_equal(item_rng(11, index, attempt, epoch=1).random(8), item_rng(11, index, attempt).random(8))
    with pytest.raises(ValueError, match="epoch -1"):
        item_rng(0, 0, epoch=-1)


def test_epochs_differ_and_repeat_with_the_same_seed(folder_and_shards):
    config = folder_and_shards[0]

    def epoch(e, seed=None):
        cfg = config if seed is None else config.with_overrides(seed=seed)
        loader = OnTheFlyLoader(cfg, roles=("mix", "clean"), batch_size=5, backend="numpy")
        loader.set_epoch(e)
        return _items(_batches(loader), "mix")

    e0, e1, e2 = epoch(0), epoch(1), epoch(2)
    again = epoch(1)
    assert all(torch.equal(a, b) for a, b in zip(e1, again, strict=True))  # reproducible
    for x, y in ((e0, e1), (e1, e2), (e0, e2)):
        assert all(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(x, y, strict=True))  # every mixture new
    other_seed = epoch(1, seed=config.seed + 1)
    assert all(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(e1, other_seed, strict=True))
    fly = OnTheFlyDataset(config, roles=("mix",))  # the per-item dataset draws the same epoch-1 mixtures
    fly.set_epoch(1)
    assert all(torch.equal(fly[i]["mix"], e1[i]) for i in range(len(fly)))
    assert torch.equal(fly[(0, 3)]["mix"], e0[3])


def test_batch_on_the_device_with_shapes_and_lengths(folder_and_shards):
    config, folder, _ = folder_and_shards
    rows = list(iter_manifest(folder / "manifest.jsonl"))
    loader = OnTheFlyLoader(config, roles=("mix", "clean"), batch_size=4, device="cpu")
    batches = _batches(loader)
    assert len(loader) == 3 and [len(b["id"]) for b in batches] == [4, 4, 2]
    frames = [round(r["duration"] * r["sample_rate"]) for r in rows]
    k = 0
    for b in batches:
        size = len(b["id"])
        lengths = b["lengths"]["mix"]
        assert lengths.tolist() == frames[k : k + size] and torch.equal(b["lengths"]["clean"], lengths)
        for role in ("mix", "clean"):
            x = b[role]
            assert x.device.type == "cpu" and x.dtype == torch.float32
            assert tuple(x.shape) == (size, 1, max(frames[k : k + size]))
            for j in range(size):
                assert not x[j, :, lengths[j] :].any()  # zero padding past each true length
                assert x[j, :, : lengths[j]].abs().max() > 0
        assert b["index"] == list(range(k, k + size))
        k += size


def test_shard_crops_are_one_window_of_every_role_and_follow_the_epoch(folder_and_shards):
    _, folder, shards = folder_and_shards
    rows = {r["id"]: r for r in iter_manifest(folder / "manifest.jsonl")}
    dataset = ShardDataset(shards, roles=ROLES, crop_s=0.4, seed=5)
    first = {item["id"]: item for item in dataset}
    assert len(first) == len(rows) and all(x["mix"].shape == (1, 6400) for x in first.values())
    for id_, item in first.items():
        mix = _written(folder, rows[id_], "mix")
        starts = [s for s in range(mix.shape[-1] - 6400 + 1) if torch.equal(mix[:, s : s + 6400], item["mix"])]
        assert starts, id_
        assert any(all(torch.equal(_written(folder, rows[id_], role)[:, s : s + 6400], item[role]) for role in ROLES) for s in starts), id_
    assert all(torch.equal(first[i]["mix"], item["mix"]) for i, item in ((x["id"], x) for x in dataset))  # repeats
    shuffled = ShardDataset(shards, roles=("mix",), crop_s=0.4, seed=5, shuffle_buffer=4)
    assert all(torch.equal(first[x["id"]]["mix"], x["mix"]) for x in shuffled)  # the window follows the example, not the order
    stored = StoredDataset(folder, roles=("mix",), crop_s=0.4, seed=5)  # and equals the folder's window of the same example
    assert all(torch.equal(first[stored.rows[i]["id"]]["mix"], stored[i]["mix"]) for i in range(len(stored)))
    dataset.set_epoch(1)
    second = {item["id"]: item for item in dataset}
    assert sum(not torch.equal(first[i]["mix"], second[i]["mix"]) for i in first) >= len(first) - 1


def test_two_workers_give_the_items_of_none(folder_and_shards):
    config = folder_and_shards[0]
    runs = []
    for workers in (0, 2):
        loader = OnTheFlyLoader(config, roles=("mix", "noise"), batch_size=3, backend="numpy", num_workers=workers, shuffle=True, seed=2)
        loader.set_epoch(1)
        runs.append(_batches(loader))
    assert [b["id"] for b in runs[0]] == [b["id"] for b in runs[1]] != [[f"x{i}" for i in range(3)]]
    assert sorted(i for b in runs[0] for i in b["index"]) == list(range(config.num_examples))
    assert [b["index"] for b in runs[0]] != [list(range(k, min(k + 3, 10))) for k in range(0, 10, 3)]  # shuffled
    for role in ("mix", "noise"):
        assert all(torch.equal(a, b) for a, b in zip(_items(runs[0], role), _items(runs[1], role), strict=True))
    assert [b["labels"] for b in runs[0]] == [b["labels"] for b in runs[1]]


def test_a_draw_the_renderer_refuses_is_redrawn_as_the_build_does(folder_and_shards, monkeypatch):
    import audiosynth.render.mix as mix
    from audiosynth.errors import CropError
    from audiosynth.render.mix import render

    config = folder_and_shards[0]
    dataset = LoadedDataset(config)
    examples = collate_loaded([dataset[0], dataset[1]])
    real, first_draw = mix.render_batch, examples[0].loaded.scene

    def refuse_example_0_once(batch, backend="numpy", device="cpu"):
        out = real(batch, backend, device)
        return [
            CropError("noise.wav", "silent_crop", "refused by the test", loaded.scene.noise.segment.clip_id)
            if loaded.scene is first_draw
            else r
            for loaded, r in zip(batch, out, strict=True)
        ]

    monkeypatch.setattr(mix, "render_batch", refuse_example_0_once)
    batch = DeviceRenderer(config, roles=("mix",), backend="numpy")(examples)
    assert examples[0].attempt == 1 and [r["reason"] for r in examples[0].draws.rejects] == ["silent_crop"]
    assert examples[1].attempt == 0 and batch["id"] == ["train-000000", "train-000001"]
    with dataset._config.get(0) as (planner, clips, _):
        want = render(planner.scene(0, 1), clips, config.output.subtype)
    n = want.audio["mix"].shape[-1]
    assert int(batch["lengths"]["mix"][0]) == n
    assert torch.equal(batch["mix"][0, :, :n], torch.from_numpy(want.audio["mix"].astype(np.float32)))


def test_the_training_example_runs():
    import math
    import runpy
    from pathlib import Path

    example = runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" / "train_on_the_fly.py"))
    loss = example["main"](["--num-examples", "8", "--epochs", "2", "--batch-size", "4", "--num-workers", "0", "--device", "cpu"])
    assert math.isfinite(loss) and 0 < loss < 1
