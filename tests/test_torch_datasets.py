"""PyTorch datasets: stored folders, WebDataset shards, rendered on the fly."""

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("webdataset")

from torch.utils.data import DataLoader  # noqa: E402

from audiosynth.dataset.rows import iter_manifest  # noqa: E402
from audiosynth.torch import OnTheFlyDataset, ShardDataset, StoredDataset, collate_pad  # noqa: E402


@pytest.fixture
def built(folder_and_shards):
    return folder_and_shards


def _epoch_ids(dataset, **kwargs):
    loader = DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=collate_pad, **kwargs)
    return [i for batch in loader for i in batch["id"]]


def _datasets(built):
    config, folder, shards = built
    return {
        "stored": StoredDataset(folder, roles=("mix", "clean", "noise")),
        "shards": ShardDataset(shards, roles=("mix", "clean", "noise")),
        "shuffled": ShardDataset(shards, roles=("mix",), shuffle_buffer=5, seed=3),
        "on_the_fly": OnTheFlyDataset(config, roles=("mix", "clean", "noise")),
    }


@pytest.mark.parametrize("name", ["stored", "shards", "shuffled", "on_the_fly"])
def test_every_example_once_per_epoch_with_two_workers(built, name):
    ids = [r["id"] for r in iter_manifest(built[1] / "manifest.jsonl")]
    dataset = _datasets(built)[name]
    seen = _epoch_ids(dataset)
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    if name == "shuffled":
        dataset.set_epoch(1)
        assert sorted(_epoch_ids(dataset)) == sorted(ids)


def test_items_equal_the_written_files(built):
    _, folder, _ = built
    rows = list(iter_manifest(folder / "manifest.jsonl"))
    stored, shards, fly = (_datasets(built)[k] for k in ("stored", "shards", "on_the_fly"))
    from_shards = {item["id"]: item for item in shards}
    for i, row in enumerate(rows):
        item = fly[i]
        assert item["id"] == row["id"] and item["labels"] == row["labels"]
        for role in ("mix", "clean", "noise"):
            written, _ = sf.read(folder / row["audio"][role], dtype="float32", always_2d=True)
            expected = torch.from_numpy(written.T.copy())
            assert torch.equal(item[role], expected), (i, role)
            assert torch.equal(stored[i][role], expected) and torch.equal(from_shards[row["id"]][role], expected)
            assert item[role].dtype == torch.float32 and item[role].shape == (
                row["num_channels"],
                round(row["duration"] * row["sample_rate"]),
            )


def test_crops_have_the_length_and_follow_the_epoch(built):
    _, folder, _ = built
    dataset = StoredDataset(folder, roles=("mix", "clean"), crop_s=0.5, seed=1)
    first = [dataset[i]["mix"] for i in range(len(dataset))]
    assert all(x.shape == (1, 8000) for x in first)
    assert all(torch.equal(a, dataset[i]["mix"]) for i, a in enumerate(first))
    dataset.set_epoch(1)
    second = [dataset[i]["mix"] for i in range(len(dataset))]
    assert sum(not torch.equal(a, b) for a, b in zip(first, second, strict=True)) >= len(first) - 1
    rows = list(iter_manifest(folder / "manifest.jsonl"))
    item = dataset[0]  # the crop is the same window of every role, cut from the written file
    whole, _ = sf.read(folder / rows[0]["audio"]["clean"], dtype="float32", always_2d=True)
    mix, _ = sf.read(folder / rows[0]["audio"]["mix"], dtype="float32", always_2d=True)
    start = next(s for s in range(len(mix) - 8000 + 1) if np.array_equal(mix[s : s + 8000].T, item["mix"].numpy()))
    assert np.array_equal(whole[start : start + 8000].T, item["clean"].numpy())
    long = StoredDataset(folder, roles=("mix",), crop_s=10.0)[0]["mix"]  # longer than any example: zero-padded
    assert long.shape == (1, 160000) and torch.all(long[:, len(mix) :] == 0)


def test_collate_pad_pads_and_reports_lengths():
    batch = [{"id": "a", "labels": {}, "mix": torch.ones(1, 3)}, {"id": "b", "labels": {}, "mix": torch.ones(1, 5)}]
    out = collate_pad(batch)
    assert out["mix"].shape == (2, 1, 5) and out["lengths"]["mix"].tolist() == [3, 5]
    assert out["mix"][0, 0].tolist() == [1, 1, 1, 0, 0] and out["id"] == ["a", "b"]
