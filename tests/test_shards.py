"""WebDataset output of `build`, and conversion between folder and sharded datasets."""

import io
import json
import tarfile

import numpy as np
import pytest
import soundfile as sf
from test_build import tree_digest

from audiosynth.build import build
from audiosynth.dataset.convert import folder_to_shards, shards_to_folder
from audiosynth.errors import DatasetError

wds = pytest.importorskip("webdataset")


@pytest.fixture
def builds(folder_and_shards):
    """The same config built as a folder and as shards (1 worker)."""
    return folder_and_shards


def _decode(sample):
    out = {"json": json.loads(sample["json"])}
    for key, value in sample.items():
        if key.endswith(".flac"):
            out[key] = sf.read(io.BytesIO(value), dtype="int16", always_2d=True)[0]
    return out


def test_webdataset_build_layout_and_determinism(builds, tmp_path):
    config, _, shards = builds
    tars = sorted((shards / "shards").glob("*.tar"))
    assert [t.name for t in tars] == ["shard-00000.tar", "shard-00001.tar", "shard-00002.tar"]
    index = json.loads((shards / "shards.json").read_text())
    assert [s["num_examples"] for s in index["shards"]] == [4, 4, 2]
    rows = [json.loads(line) for line in (shards / "manifest.jsonl").read_text().splitlines()]
    assert abs(sum(s["duration"] for s in index["shards"]) - sum(r["duration"] for r in rows)) < 1e-6
    with tarfile.open(tars[0]) as tar:
        members = tar.getmembers()
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.mode == 0o644 for m in members)
    assert members[0].name.startswith(rows[0]["id"] + ".")
    assert json.loads((shards / "build.json").read_text())["format"] == "audiosynth-webdataset"
    build(config, tmp_path / "two", workers=2, progress=False, format="webdataset")
    assert tree_digest(tmp_path / "two") == tree_digest(shards)
    again = build(config, shards, workers=1, progress=False, format="webdataset")
    assert again.num_built == 0
    with pytest.raises(DatasetError, match="not 'audiosynth-folder'"):
        build(config, shards, workers=1, progress=False)


def test_webdataset_reads_the_same_samples_as_the_folder_build(builds):
    _, folder, shards = builds
    urls = [str(p) for p in sorted((shards / "shards").glob("*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False).map(_decode))
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert [s["__key__"] for s in samples] == [r["id"] for r in rows]
    for sample, row in zip(samples, rows, strict=True):
        assert sample["json"]["labels"] == row["labels"] and sample["json"]["scene"] == row["scene"]
        for role, rel in row["audio"].items():
            written, _ = sf.read(folder / rel, dtype="int16", always_2d=True)
            np.testing.assert_array_equal(sample[f"{role}.flac"], written)


def test_folder_shards_folder_round_trip(builds, tmp_path):
    _, folder, shards = builds
    index = folder_to_shards(folder, tmp_path / "s", shard_size=3)
    assert [s["num_examples"] for s in index["shards"]] == [3, 3, 3, 1]
    assert shards_to_folder(tmp_path / "s", tmp_path / "f") == 10
    assert tree_digest(tmp_path / "f") == tree_digest(folder)  # audio bytes, rows, shard files, build.json
    assert shards_to_folder(shards, tmp_path / "g") == 10  # a sharded build converts to the folder build
    assert tree_digest(tmp_path / "g") == tree_digest(folder)
    with pytest.raises(DatasetError, match="format"):
        folder_to_shards(shards, tmp_path / "x")


def test_validate_reads_sharded_datasets_and_catches_a_tampered_member(folder_and_shards, tmp_path):
    import io
    import shutil

    import numpy as np
    import soundfile as sf

    from audiosynth.dataset.validate import validate

    _, _, wds = folder_and_shards
    report = validate(wds, progress=False)
    assert report.ok and report.num_examples == 10
    copy = tmp_path / "wds"
    shutil.copytree(wds, copy)

    def silenced(data: bytes) -> bytes:
        audio, rate = sf.read(io.BytesIO(data))
        buffer = io.BytesIO()
        sf.write(buffer, np.zeros_like(audio), rate, format="FLAC", subtype="PCM_16")
        return buffer.getvalue()

    _rewrite_member(copy / "shards" / "shard-00000.tar", "train-000001.noise.flac", silenced)  # silence one noise image
    problems = validate(copy, progress=False).problems
    assert any(p.startswith("train-000001: mix != sum of images + noise") for p in problems), problems
    assert len({p.split(":")[0] for p in problems}) == 1


def _rewrite_member(tar_path, name, change):
    """Rewrite the tar at ``tar_path`` with member ``name``'s bytes replaced by ``change(bytes)``."""
    with tarfile.open(tar_path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.name == name:
                data = change(data)
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _tar(path, members):
    """Write a tar of ``(name, bytes)`` members."""
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("order", "why"),
    [
        (["a.json", "a.mix.flac", "a.mix.flac"], "a second member of that name"),
        (["a.json", "b.json", "a.mix.flac"], "not consecutive"),
    ],
)
def test_tar_examples_refuse_duplicate_and_scattered_members(tmp_path, order, why):
    from audiosynth.dataset.webdataset import tar_examples

    path = _tar(tmp_path / "x.tar", [(name, b"{}") for name in order])
    with pytest.raises(DatasetError, match=rf"x\.tar: member 'a\.mix\.flac': .*{why}"):
        list(tar_examples(path))


def test_to_folder_and_validate_refuse_tars_that_are_not_the_manifest(folder_and_shards, tmp_path):
    import shutil

    from audiosynth.dataset.validate import validate

    _, _, wds = folder_and_shards
    dropped = tmp_path / "dropped"  # shards.json without the first tar: its examples would vanish
    shutil.copytree(wds, dropped)
    index = json.loads((dropped / "shards.json").read_text())
    index["shards"] = index["shards"][1:]
    (dropped / "shards.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match=r"shard-00001\.tar: member \S+\.json \(id \S+\): not the next row of .*manifest\.jsonl"):
        shards_to_folder(dropped, tmp_path / "out1")
    assert not (tmp_path / "out1").exists()
    assert any("shards.json: lists tars" in p for p in validate(dropped, progress=False).problems)

    edited = tmp_path / "edited"  # a tar's row disagrees with the manifest (what ShardDataset would read)
    shutil.copytree(wds, edited)

    def other_speaker(data: bytes) -> bytes:
        row = json.loads(data)
        row["labels"]["speaker"] = "someone-else"
        return json.dumps(row).encode()

    _rewrite_member(edited / "shards" / "shard-00000.tar", "train-000001.json", other_speaker)
    with pytest.raises(DatasetError, match=r"train-000001\.json \(id train-000001\): differs from its row in .*manifest\.jsonl in labels$"):
        shards_to_folder(edited, tmp_path / "out2")
    problems = validate(edited, progress=False).problems
    assert any(p.startswith("train-000001: ") and "differs from its row" in p for p in problems), problems
