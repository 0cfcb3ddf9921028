"""OnTheFlyDataset re-draws an example whose clip is bad exactly as the build does."""

import json
import shutil

import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from conftest import small_config  # noqa: E402

from audiosynth.build import build  # noqa: E402
from audiosynth.dataset.rows import iter_manifest  # noqa: E402
from audiosynth.torch import OnTheFlyDataset  # noqa: E402


def test_items_equal_the_built_examples_when_clips_are_bad(corpus, tmp_path):
    shutil.copytree(corpus["speech"].parent, tmp_path / "corpus")
    copy = {name: tmp_path / "corpus" / path.name for name, path in corpus.items()}
    config = small_config(copy, num_examples=8, output={"shard_size": 4})
    build(config, tmp_path / "ref", workers=1, progress=False)
    used = list(dict.fromkeys(row["labels"]["speech_clip"] for row in iter_manifest(tmp_path / "ref/manifest.jsonl")))
    paths = {json.loads(line)["id"]: json.loads(line)["path"] for line in copy["speech"].read_text().splitlines()}
    (tmp_path / "corpus" / paths[used[0]]).write_bytes(b"no longer audio" * 50)  # unreadable
    (tmp_path / "corpus" / paths[used[1]]).unlink()  # missing
    out = tmp_path / "ds"
    build(config, out, workers=1, progress=False)
    redrawn = {json.loads(line)["example"] for line in (out / "rejects.jsonl").read_text().splitlines()}
    assert redrawn
    fly = OnTheFlyDataset(config, roles=("mix", "clean", "noise"))
    for i, row in enumerate(iter_manifest(out / "manifest.jsonl")):
        item = fly[i]
        assert item["id"] == row["id"] and item["labels"] == row["labels"], i
        for role in ("mix", "clean", "noise"):
            written, _ = sf.read(out / row["audio"][role], dtype="float32", always_2d=True)
            assert torch.equal(item[role], torch.from_numpy(written.T.copy())), (i, role)
