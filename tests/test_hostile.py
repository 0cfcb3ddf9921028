"""Hostile datasets: nothing read from a manifest, build.json or tar may write or read outside
where it belongs, inject a line into a toolkit's file, or end in a traceback.

Every refusal is checked three ways: exit status 1 with one line naming the row/member and the
field, no file appeared or changed anywhere in the sandbox outside the output folder, and
nothing was left inside the output folder."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import small_config

from audiosynth.build import build
from audiosynth.cli import main
from audiosynth.dataset import folder as writers
from audiosynth.dataset.export import export_dataset
from audiosynth.errors import DatasetError
from audiosynth.io import files as io_files


# -- sandbox ----------------------------------------------------------------------------------
@pytest.fixture
def sandbox(folder_and_shards, tmp_path):
    """``tmp_path/a/b/c`` holding copies of the built folder (``ds``) and sharded (``wds``)
    datasets and a file outside them (``secret.txt``); ``..`` paths stay inside ``tmp_path``."""
    _, folder, shards = folder_and_shards
    box = tmp_path / "a" / "b" / "c"
    shutil.copytree(folder, box / "ds", symlinks=True)
    shutil.copytree(shards, box / "wds", symlinks=True)
    (box / "secret.txt").write_text("secret\n")
    return box


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (links not followed) -> (size, mtime ns) of files and links
    ((0, 0) for folders, whose mtime moves when ``skip`` is made and removed), except under ``skip``."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            st = path.lstat()
            out[str(path)] = (0, 0) if path.is_dir() and not path.is_symlink() else (st.st_size, st.st_mtime_ns)
    return out


def rows(ds: Path) -> list[dict]:
    return [json.loads(line) for line in (ds / "manifest.jsonl").read_text().splitlines()]


def write_rows(ds: Path, new: list[dict]) -> None:
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in new))


def edit_first_row(ds: Path, edit) -> None:  # type: ignore[no-untyped-def]
    all_rows = rows(ds)
    edit(all_rows[0])
    write_rows(ds, all_rows)


def refused(args: list[str], root: Path, out: Path | None, *names: str) -> str:
    """Run the CLI; assert exit 1, one line naming ``names``, nothing new/changed outside ``out``
    under ``root`` and nothing inside ``out``. Returns the line."""
    before = snapshot(root, out)
    result = CliRunner().invoke(main, args)
    line = result.output.strip()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "\n" not in line, result.output
    assert len(line) < 1000, line[:300]
    for name in names:
        assert name in line, (name, line)
    assert snapshot(root, out) == before
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))
    return line


# -- tar-slip, both directions ----------------------------------------------------------------
def rewrite_tar(path: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]], edit_json=None) -> None:  # type: ignore[no-untyped-def]
    """Rewrite ``path`` with ``extra`` members inserted after its first member (the first
    example's), and ``edit_json(row)`` applied to the first example's row."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    first_key = members[0][0].name.split(".")[0]
    if edit_json is not None:
        for k, (info, data) in enumerate(members):
            if info.name == f"{first_key}.json":
                row = json.loads(data)
                edit_json(row)
                data = json.dumps(row).encode()
                info.size = len(data)
                members[k] = (info, data)
    members[1:1] = extra
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def file_member(name: str, data: bytes = b"slip") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "row_names_dotdot", "row_names_absolute"])
def test_shards_to_folder_refuses_tar_slip(sandbox, tmp_path, kind):
    tar = sandbox / "wds" / "shards" / "shard-00000.tar"
    with tarfile.open(tar) as archive:
        key = archive.getnames()[0].split(".")[0]
    target = tmp_path / "abs" / "slip.flac"
    if kind == "dotdot":
        rewrite_tar(tar, [file_member("../../slip.flac")])
        named = "../../slip.flac"
    elif kind == "absolute":
        rewrite_tar(tar, [file_member(str(target))])
        named = str(target)
    elif kind == "symlink":
        link = tarfile.TarInfo(f"{key}.evil.flac")
        link.type, link.linkname = tarfile.SYMTYPE, str(sandbox / "secret.txt")
        rewrite_tar(tar, [(link, None)])
        named = f"{key}.evil.flac"
    else:  # the example's own row names a member outside: "../../x.flac" or an absolute path
        named = "../../slip.flac" if kind == "row_names_dotdot" else str(target)
        member = file_member(named)
        rewrite_tar(tar, [member], edit_json=lambda row: row["audio"].update(mix=named))
    out = sandbox / "out"
    line = refused(["shards", "to-folder", str(sandbox / "wds"), "-o", str(out), "--no-progress"], tmp_path, out, "shard-00000.tar")
    assert named in line or repr(named)[:30] in line
    assert not target.exists() and not (sandbox.parent / "slip.flac").exists()


def test_shards_to_folder_tar_slip_in_a_real_subprocess(sandbox, tmp_path):
    rewrite_tar(sandbox / "wds" / "shards" / "shard-00001.tar", [file_member("../../../slip.flac")])
    out = sandbox / "out"
    before = snapshot(tmp_path, out)
    proc = subprocess.run(
        [sys.executable, "-m", "audiosynth.cli", "shards", "to-folder", str(sandbox / "wds"), "-o", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "shard-00001.tar" in proc.stderr and "../../../slip.flac" in proc.stderr
    assert snapshot(tmp_path, out) == before and not out.exists()


@pytest.mark.parametrize("field", ["audio_dotdot", "audio_absolute", "audio_symlink_out", "rttm", "role", "id_slash"])
def test_shards_from_folder_refuses_hostile_rows(sandbox, tmp_path, field):
    ds = sandbox / "ds"
    secret = str(sandbox / "secret.txt")
    if field == "audio_symlink_out":
        os.symlink(secret, ds / "audio" / "00000" / "evil.flac")
    change = {
        "audio_dotdot": lambda r: r["audio"].update(mix="../secret.txt"),
        "audio_absolute": lambda r: r["audio"].update(mix=secret),
        "audio_symlink_out": lambda r: r["audio"].update(mix="audio/00000/evil.flac"),
        "rttm": lambda r: r.update(rttm="../secret.txt"),
        "role": lambda r: r["audio"].update({"../../x": r["audio"]["mix"]}),
        "id_slash": lambda r: r.update(id="../../x"),
    }[field]
    edit_first_row(ds, change)
    out = sandbox / "out"
    line = refused(["shards", "from-folder", str(ds), "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1")
    assert {
        "audio_dotdot": "audio.mix",
        "audio_absolute": "audio.mix",
        "audio_symlink_out": "outside",
        "rttm": "rttm",
        "role": "audio role",
        "id_slash": "id",
    }[field] in line


# -- export: traversal in every path-bearing field --------------------------------------------
HOSTILE_ROWS = {
    "split_dotdot": lambda r, box: r.update(split="../../x"),
    "split_absolute": lambda r, box: r.update(split=str(box / "abs")),
    "id_dotdot": lambda r, box: r.update(id="../../x"),
    "role_dotdot": lambda r, box: r["audio"].update({"../x": r["audio"]["mix"]}),
    "audio_dotdot": lambda r, box: r["audio"].update(mix="../secret.txt"),
    "audio_absolute": lambda r, box: r["audio"].update(mix=str(box / "secret.txt")),
    "audio_symlink_out": lambda r, box: r["audio"].update(mix="audio/00000/evil.flac"),
    "rttm_dotdot": lambda r, box: r.update(rttm="../../x.rttm"),
    "shard_dotdot": lambda r, box: r.update(shard="../../x.tar"),
}
FIELDS = {
    "split_dotdot": "split",
    "split_absolute": "split",
    "id_dotdot": "id",
    "role_dotdot": "audio role",
    "audio_dotdot": "audio.mix",
    "audio_absolute": "audio.mix",
    "audio_symlink_out": "audio.mix",
    "rttm_dotdot": "rttm",
    "shard_dotdot": "shard",
}


@pytest.mark.parametrize("to", ["nemo", "kaldi", "hf"])
@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_export_refuses_traversal(sandbox, tmp_path, case, to):
    ds = sandbox / "ds"
    os.symlink(sandbox / "secret.txt", ds / "audio" / "00000" / "evil.flac")
    edit_first_row(ds, lambda r: HOSTILE_ROWS[case](r, sandbox))
    out = sandbox / "out"
    line = refused(["export", str(ds), "--to", to, "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1", FIELDS[case])
    assert line.startswith("Error: ")


def test_a_hostile_row_anywhere_means_nothing_is_written(sandbox, tmp_path):
    """The bad row is the last: the splits before it must not have been written either."""
    ds = sandbox / "ds"
    all_rows = rows(ds)
    all_rows[-1]["split"] = "../../x"
    write_rows(ds, all_rows)
    out = sandbox / "out"
    out.mkdir()
    (out / "older.txt").write_text("kept")  # an export folder may hold older files: kept as they are
    line = refused(
        ["export", str(ds), "--to", "kaldi", "-o", str(out / "kaldi"), "--no-progress"],
        tmp_path,
        out / "kaldi",
        f"manifest.jsonl:{len(all_rows)}",
        "split",
    )
    assert (out / "older.txt").read_text() == "kept" and "../../x" in line


# -- injection into Kaldi and RTTM lines ------------------------------------------------------
INJECT = {
    "id_newline": (lambda r: r.update(id="x\ny sox /etc/passwd -t wav - |"), "id"),
    "id_pipe": (lambda r: r.update(id="x |"), "id"),
    "speaker_newline": (lambda r: r["labels"].update(speaker="spk0\nSPEAKER x"), "labels.speaker"),
    "speaker_space": (lambda r: r["labels"].update(speaker="spk 0"), "labels.speaker"),
    "text_newline": (lambda r: r["labels"].update(text="HELLO\nspk0-x EVIL"), "labels.text"),
    "segment_speaker": (
        lambda r: r["labels"].update(
            segments=[{"role": "clean", "speaker": "a b\nc", "clip": "c", "text": None, "start": 0.0, "end": 1.0}]
        ),
        "labels.segments[0].speaker",
    ),
}


@pytest.mark.parametrize("to", ["kaldi", "rttm"])
@pytest.mark.parametrize("case", sorted(INJECT))
def test_no_line_injection_into_kaldi_or_rttm(sandbox, tmp_path, case, to):
    ds = sandbox / "ds"
    edit, field = INJECT[case]
    all_rows = rows(ds)
    edit(all_rows[0])
    for row in all_rows[1:]:  # every row a segments row, so that rttm has something to write
        row["labels"]["segments"] = [{"role": "clean", "speaker": "spk0", "clip": "c", "text": None, "start": 0.0, "end": 1.0}]
    write_rows(ds, all_rows)
    out = sandbox / "out"
    refused(["export", str(ds), "--to", to, "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1", field)


def test_kaldi_and_rttm_writers_refuse_whitespace_fields():
    from audiosynth.dataset.export import _kaldi_id

    with pytest.raises(DatasetError, match=r"speaker 'a b'.*whitespace"):
        writers.rttm_text("rec", [{"start": 0.0, "end": 1.0, "speaker": "a b", "role": "s1"}])
    with pytest.raises(DatasetError, match="file id 'r\\\\n1'"):
        writers.rttm_text("r\n1", [])
    with pytest.raises(DatasetError, match="whitespace or a control"):
        _kaldi_id("x\ty", "row1")
    assert writers.rttm_text("rec", [{"start": 0.0, "end": 1.0, "speaker": None, "role": "s1"}]).split()[7] == "s1"


def test_a_wav_path_with_whitespace_is_refused_by_kaldi(folder_and_shards, tmp_path):
    """Plain WAV entries of wav.scp are not quoted: a space in the dataset's path would split the line."""
    config, _, _ = folder_and_shards
    ds = tmp_path / "with space"
    build(
        config.with_overrides(num_examples=2).model_copy(update={"output": config.output.model_copy(update={"format": "wav"})}),
        ds,
        workers=1,
        progress=False,
    )
    with pytest.raises(DatasetError, match=r"audio path .*whitespace"):
        export_dataset(ds, "kaldi", tmp_path / "k")
    assert not (tmp_path / "k").exists()


# -- absurdly long fields ---------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export", "from-folder", "validate", "report"])
def test_a_one_megabyte_id_is_refused_in_one_short_line(sandbox, tmp_path, command):
    ds = sandbox / "ds"
    edit_first_row(ds, lambda r: r.update(id="a" * 1_000_000))
    out = sandbox / "out"
    args = {
        "export": ["export", str(ds), "--to", "nemo", "-o", str(out)],
        "from-folder": ["shards", "from-folder", str(ds), "-o", str(out)],
        "validate": ["validate", str(ds)],
        "report": ["report", str(ds), "-o", str(out), "--no-validate"],
    }[command] + ["--no-progress"]
    if command == "validate":
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "Traceback" not in result.output and len(result.output) < 2000
        assert "manifest.jsonl:1: id 'aaaa" in result.output and "1000002 chars" in result.output
        return
    refused(args, tmp_path, out, "manifest.jsonl:1", "id", "chars")


def test_long_text_is_refused(sandbox, tmp_path):
    ds = sandbox / "ds"
    edit_first_row(ds, lambda r: r["labels"].update(text="A" * 200_000))
    out = sandbox / "out"
    refused(["export", str(ds), "--to", "nemo", "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1", "labels.text")


# -- hostile rows in validate, report and the torch datasets ----------------------------------
def test_validate_names_the_hostile_row_and_reads_nothing_outside(sandbox, tmp_path):
    ds = sandbox / "ds"
    edit_first_row(ds, lambda r: r["audio"].update(mix=str(sandbox / "secret.txt")))
    result = CliRunner().invoke(main, ["validate", str(ds), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "manifest.jsonl:1 (id train-" in result.output and "audio.mix" in result.output and "absolute" in result.output


def test_report_refuses_a_hostile_row(sandbox, tmp_path):
    ds = sandbox / "ds"
    edit_first_row(ds, lambda r: r.update(split="../../../x"))
    out = sandbox / "out"
    refused(["report", str(ds), "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1", "split")


def test_torch_datasets_refuse_hostile_rows(sandbox):
    pytest.importorskip("torch")
    pytest.importorskip("webdataset")
    from audiosynth.torch import ShardDataset, StoredDataset

    edit_first_row(sandbox / "ds", lambda r: r["audio"].update(mix="../secret.txt"))
    with pytest.raises(DatasetError, match=r"manifest\.jsonl:1 .*audio\.mix"):
        StoredDataset(sandbox / "ds", roles=("mix",))
    rewrite_tar(sandbox / "wds" / "shards" / "shard-00000.tar", [], edit_json=lambda r: r["audio"].update(mix="../../secret.txt"))
    with pytest.raises(DatasetError, match=r"shard-00000\.tar: member .*json.*audio\.mix"):
        next(iter(ShardDataset(sandbox / "wds", roles=("mix",))))


# -- build output folders -------------------------------------------------------------------
def _config_file(corpus, path: Path) -> Path:  # type: ignore[no-untyped-def]
    path.write_text(yaml.safe_dump(small_config(corpus, num_examples=2).to_dict()))
    return path


def test_build_refuses_the_filesystem_root_even_in_a_dry_run(corpus, tmp_path):
    config = _config_file(corpus, tmp_path / "c.yaml")
    before = set(os.listdir("/"))
    result = CliRunner().invoke(main, ["build", str(config), "-o", "/", "--dry-run", "--no-progress"])
    assert result.exit_code == 1 and "filesystem root" in result.output and result.output.strip().count("\n") == 0, result.output
    assert set(os.listdir("/")) == before


@pytest.mark.parametrize("dry_run", [False, True])
def test_build_refuses_the_home_folder(corpus, tmp_path, monkeypatch, dry_run):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    monkeypatch.setenv("HOME", str(home))
    config = _config_file(corpus, tmp_path / "c.yaml")
    line = refused(["build", str(config), "-o", "~", "--no-progress"] + ["--dry-run"] * dry_run, tmp_path, None, "home folder")
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"] and line
    with pytest.raises(DatasetError, match="home folder"):
        build(small_config(corpus, num_examples=2), home, workers=1, progress=False, dry_run=dry_run)


@pytest.mark.parametrize("dry_run", [False, True])
def test_build_refuses_a_non_empty_folder_that_is_not_a_dataset(corpus, tmp_path, dry_run):
    mine = tmp_path / "my-thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("...")
    config = _config_file(corpus, tmp_path / "c.yaml")
    refused(["build", str(config), "-o", str(mine), "--no-progress"] + ["--dry-run"] * dry_run, tmp_path, None, "not empty", str(mine))
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]


def test_build_accepts_an_empty_folder_and_resumes_a_dataset(corpus, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = small_config(corpus, num_examples=2)
    build(config, empty, workers=1, progress=False)
    assert build(config, empty, workers=1, progress=False).num_built == 0  # a dataset folder (build.json): resumed


# -- one line, not a traceback: truncated manifests, missing keys, non-JSON build.json --------
BROKEN = ["truncated_manifest", "row_without_labels", "row_without_audio", "build_json_not_json"]


def _break(ds: Path, how: str) -> str:
    """Damage ``ds``; returns what the message must name."""
    if how == "truncated_manifest":
        text = (ds / "manifest.jsonl").read_text()
        (ds / "manifest.jsonl").write_text(text[: len(text) - 40])
        return f"manifest.jsonl:{len(text.splitlines())}"
    if how == "build_json_not_json":
        (ds / "build.json").write_text('{"status": "complete", "for')
        return "build.json"
    key = how.split("_")[-1]
    edit_first_row(ds, lambda r: r.pop(key))
    return f"manifest.jsonl:1: no '{key}' field"


# to-folder reads the tars' rows (see the tar tests), not the manifest: only its build.json here
@pytest.mark.parametrize(
    ("command", "how"), [(c, h) for c in ("export", "report", "from-folder") for h in BROKEN] + [("to-folder", "build_json_not_json")]
)
def test_broken_datasets_give_one_line(sandbox, tmp_path, how, command):
    ds = sandbox / ("wds" if command == "to-folder" else "ds")
    named = _break(ds, how)
    out = sandbox / "out"
    args = {
        "export": ["export", str(ds), "--to", "nemo", "-o", str(out)],
        "report": ["report", str(ds), "-o", str(out), "--no-validate"],
        "from-folder": ["shards", "from-folder", str(ds), "-o", str(out)],
        "to-folder": ["shards", "to-folder", str(ds), "-o", str(out)],
    }[command] + ["--no-progress"]
    refused(args, tmp_path, out, named)


@pytest.mark.parametrize("how", BROKEN)
def test_validate_reports_a_broken_dataset_as_a_problem_line(sandbox, how):
    ds = sandbox / "ds"
    named = _break(ds, how)
    result = CliRunner().invoke(main, ["validate", str(ds), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "problem(s)" in result.output and named in result.output, result.output


def test_a_truncated_tar_is_one_line(sandbox, tmp_path):
    tar = sandbox / "wds" / "shards" / "shard-00001.tar"
    tar.write_bytes(tar.read_bytes()[:3000])
    out = sandbox / "out"
    refused(["shards", "to-folder", str(sandbox / "wds"), "-o", str(out), "--no-progress"], tmp_path, out, "shard-00001.tar")


# -- disk full in export and report ---------------------------------------------------------
def _full_after(monkeypatch, writes: int) -> None:  # type: ignore[no-untyped-def]
    real, count = io_files._write_all, [0]

    def full(handle, data):  # type: ignore[no-untyped-def]
        count[0] += 1
        if count[0] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(io_files, "_write_all", full)


@pytest.mark.parametrize("to", ["kaldi", "hf"])
def test_disk_full_in_export_is_one_line_and_leaves_nothing(sandbox, tmp_path, monkeypatch, to):
    _full_after(monkeypatch, 1)
    out = sandbox / "out"
    refused(["export", str(sandbox / "ds"), "--to", to, "-o", str(out), "--no-progress"], tmp_path, out, "no space left")


def test_disk_full_in_report_is_one_line_and_nothing_half_written(sandbox, tmp_path, monkeypatch):
    _full_after(monkeypatch, 2)
    out = sandbox / "out"
    before = snapshot(tmp_path, out)
    result = CliRunner().invoke(main, ["report", str(sandbox / "ds"), "-o", str(out), "--no-validate", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output and result.output.strip().count("\n") == 0, result.output
    assert "no space left" in result.output and str(out) in result.output
    assert snapshot(tmp_path, out) == before
    assert not (out / "index.html").exists() and not list(out.glob("*.partial"))
    assert len(list(out.glob("*.png"))) == 2  # the two written before the disk filled, complete


# -- StoredDataset and a role only some rows have ------------------------------------------
def test_stored_dataset_names_rows_without_a_role_and_takes_a_fallback(sandbox):
    torch = pytest.importorskip("torch")
    from audiosynth.torch import StoredDataset

    ds = sandbox / "ds"
    all_rows = rows(ds)
    for row in all_rows[:3]:  # only 3 rows have a dry target (here: a copy of the noise file, to tell them apart)
        row["audio"]["clean_dry"] = row["audio"]["noise"]
    write_rows(ds, all_rows)
    with pytest.raises(DatasetError, match=rf"role 'clean_dry': missing in 7 of 10 row\(s\) \(first: {all_rows[3]['id']}, .*fallback="):
        StoredDataset(ds, roles=("mix", "clean_dry"))
    with pytest.raises(DatasetError, match="role 'clean_dry' \\(or its fallback 'nope'\\): missing in 7"):
        StoredDataset(ds, roles=("mix", "clean_dry"), fallback={"clean_dry": "nope"})
    data = StoredDataset(ds, roles=("clean", "noise", "clean_dry"), fallback={"clean_dry": "clean"})
    assert torch.equal(data[0]["clean_dry"], data[0]["noise"]) and not torch.equal(data[0]["clean_dry"], data[0]["clean"])
    assert torch.equal(data[5]["clean_dry"], data[5]["clean"])


# -- the name sets: real corpora pass, and the build refuses what readers would --------------
def test_real_corpus_names_pass_and_the_demo_corpus_too():
    from audiosynth.names import ID, NAME

    for name in (
        "1089-134686-0000",
        "p225_001",
        "noise-free-sound-0001",
        "1089",
        "p225",
        "train",
        "dev",
        "test",
        "clip:demo-spk01-001",
        "demo-rir-0.50s",
        "spk@corpus=a+b",
    ):
        assert NAME.fullmatch(name), name
    assert ID.fullmatch("train-000000") and not ID.fullmatch("a.b")  # an example id ends a tar member's key
    for bad in ("..", ".hidden", "a b", "a/b", "a\nb", "", "a" * 129, "x |", "é"):
        assert not NAME.fullmatch(bad), bad
    demo = Path(__file__).resolve().parents[1] / "data_manifests" / "demo"
    for catalog in demo.glob("*.jsonl"):
        for line in catalog.read_text().splitlines():
            row = json.loads(line)
            assert row.get("speaker") is None or NAME.fullmatch(row["speaker"]), row


def test_a_catalog_speaker_readers_would_refuse_is_refused_before_building(tmp_path):
    from audiosynth.catalog import read_catalog
    from audiosynth.errors import CatalogError

    path = tmp_path / "speech.jsonl"
    row = {"id": "u1", "path": "a.flac", "kind": "speech", "duration": 1.0, "sample_rate": 16000, "num_channels": 1}
    path.write_text(json.dumps({**row, "speaker": "John Smith"}) + "\n")
    with pytest.raises(CatalogError, match=r"speech.jsonl:1: 'speaker' must be a name"):
        read_catalog(path)
    path.write_text(json.dumps({**row, "speaker": "p225", "text": "HELLO\nWORLD"}) + "\n")
    with pytest.raises(CatalogError, match=r"speech.jsonl:1: 'text' holds a control character"):
        read_catalog(path)


# -- a sharded dataset's own paths: the manifest's shard field and shards.json ---------------
def test_sharded_readers_refuse_a_shard_path_leading_out(sandbox, tmp_path):
    wds = sandbox / "wds"
    shutil.copy(wds / "shards" / "shard-00000.tar", sandbox / "x.tar")  # a tar outside the dataset
    edit_first_row(wds, lambda r: r.update(shard="../x.tar"))
    result = CliRunner().invoke(main, ["validate", str(wds), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "manifest.jsonl:1 (id train-" in result.output and "shard '../x.tar'" in result.output
    out = sandbox / "out"
    refused(["report", str(wds), "-o", str(out), "--no-progress"], tmp_path, out, "manifest.jsonl:1", "shard")


def test_shards_json_naming_a_tar_outside_is_refused(sandbox, tmp_path):
    wds = sandbox / "wds"
    index = json.loads((wds / "shards.json").read_text())
    index["shards"][0]["name"] = "../../x.tar"
    (wds / "shards.json").write_text(json.dumps(index))
    out = sandbox / "out"
    refused(["shards", "to-folder", str(wds), "-o", str(out), "--no-progress"], tmp_path, out, "shards.json", "../../x.tar")
    pytest.importorskip("torch")
    from audiosynth.torch import ShardDataset

    with pytest.raises(DatasetError, match=r"shards\.json.*'\.\./\.\./x\.tar'"):
        ShardDataset(wds)


def test_a_build_json_naming_a_device_as_catalog_is_not_read(sandbox):
    """build.json is untrusted too: validate and report must not read /dev/zero (endless) as a catalog."""
    ds = sandbox / "ds"
    info = json.loads((ds / "build.json").read_text())
    info["config"]["catalogs"] = {"speech": ["/dev/zero"], "noise": ["/dev/zero"], "rirs": ["/dev/zero"]}
    (ds / "build.json").write_text(json.dumps(info))
    proc = subprocess.run(
        [sys.executable, "-m", "audiosynth.cli", "report", str(ds), "-o", str(sandbox / "r"), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "transcripts and enrollments not checked" in proc.stderr


def test_build_refuses_to_resume_a_folder_whose_build_json_is_not_json(corpus, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "build.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"ds/build.json: not a readable JSON file"):
        build(small_config(corpus, num_examples=2), out, workers=1, progress=False, dry_run=True)
    assert [p.name for p in out.iterdir()] == ["build.json"]


def test_manifest_lines_name_the_line_that_is_not_utf8_or_nested_too_deeply(tmp_path):
    from audiosynth.dataset.trust import manifest_lines

    path = tmp_path / "manifest.jsonl"
    lines = [b'{"k": %d}' % k for k in range(3000)]  # some 30 kB: the bad lines lie past the first read buffer
    lines[2000] = b'{"id": "\xff\xfe"}'
    lines[2500] = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = list(manifest_lines(path))
    errors = [(where, str(row)) for where, row in got if isinstance(row, DatasetError)]
    assert [where for where, _ in errors] == [f"{path}:2001", f"{path}:2501"]
    assert "not UTF-8" in errors[0][1] and "nested too deeply" in errors[1][1]
    assert [row["k"] for _, row in got if not isinstance(row, DatasetError)] == [k for k in range(3000) if k not in (2000, 2500)]
