"""Fuzz test (issue 11): generated bad configs, catalogs, manifests, datasets, tar shards and audio
files thrown at ``build``, ``catalog``, ``validate``, ``report``, ``export``, ``shards`` and the
PyTorch datasets. The cases and their expectations are in ``fuzz_cases.py``; for every case:

- the expectation of the case holds: exit status 1 with exactly one line ``Error: ...`` that
  names the file (and row / line / member) and the field, or a handled reject (exit 0, the bad
  input listed as a reject), or, for the datasets, an `AudiosynthError` whose one-line message
  names the file or row;
- no traceback (and no uncaught exception: CliRunner would hide it) and no hang (a timeout per case);
- no file created, changed or removed outside the case's output folder (the inputs, a copied
  complete dataset included, are hashed before and after), and nothing named ``FUZZ_ESCAPE``
  appears beside the sandbox;
- no half-written ``.tmp`` / ``.partial`` file is left in the output folder.

Cases run in-process through click's CliRunner (SIGALRM timeout); a few also as real processes
(``-subprocess`` ids), and the ones with absurd sizes only as processes under a memory limit.
Rerun everything with ``python -m pytest -q -p no:cacheprovider tests/test_fuzz.py`` or one family with
e.g. ``-k "config-"``, ``-k "manifest- or row-"``, ``-k "tar- or shards-"``, ``-k "stored or sharded or onthefly"``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_corpus
from fuzz_cases import ESCAPE, SUBPROCESS_TWINS, Box, Case, all_cases

from audiosynth.cli import main
from audiosynth.errors import AudiosynthError

CASE_TIMEOUT_S = 15.0  # in-process: a case that takes longer hangs
PROCESS_TIMEOUT_S = 40.0  # real processes (start-up included)
PROCESS_MEMORY_BYTES = 4 << 30  # address-space limit of a real process: absurd sizes must be refused, not tried
MAX_ERROR_CHARS = 2000  # "one line": also a bounded one
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) [\w.]+: ")  # logging lines a real process may print besides the error

CASES = all_cases()
BY_ID = {case.id: case for case in CASES}


# --------------------------------------------------------------------------- session fixtures


@dataclass
class Fixtures:
    """Read-only material every case copies from."""

    catalog_rows: dict[str, list[dict[str, Any]]]  # speech / noise / rirs rows, absolute audio paths
    folder: Path  # a complete folder dataset (4 examples, 2 shards)
    shards: Path  # the same config built as WebDataset shards
    folder_config: dict[str, Any]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixtures:
    from audiosynth.build import build
    from audiosynth.catalog import read_catalog
    from audiosynth.config import config_from_dict

    root = tmp_path_factory.mktemp("fuzz-fixtures")
    paths = make_corpus(root / "corpus", speakers=3, per_speaker=2)
    rows = {}
    for kind, path in paths.items():
        catalog = read_catalog(path)
        rows[kind] = [{**clip.to_dict(), "path": str(catalog.resolve(clip))} for clip in catalog]
    config = {
        "catalogs": {k: str(v) for k, v in paths.items()},
        "num_examples": 4,
        "duration_s": [2.8, 3.2],
        "snr_db": [0.0, 10.0],
        "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
        "reverb": {"probability": 0.5, "source": "catalog"},
        "output": {"shard_size": 2},
    }
    build(config_from_dict(config), root / "folder", workers=1, progress=False)
    build(config_from_dict(config), root / "shards", workers=1, progress=False, format="webdataset")
    manifest = [json.loads(line) for line in (root / "folder" / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 4 and all(r["labels"].get("text") for r in manifest), "the fixture needs transcripts (nemo, kaldi text)"
    assert any("clean_direct" in r["audio"] for r in manifest) and not all("clean_direct" in r["audio"] for r in manifest)
    return Fixtures(rows, root / "folder", root / "shards", config)


# --------------------------------------------------------------------------- running one case


class CaseTimeout(BaseException):
    """Raised by SIGALRM in the case's thread; a BaseException so that no `except Exception` swallows it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"hang: no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    exit_code: int
    output: str  # stdout and stderr
    exception: BaseException | None = None  # an exception the command did not handle (in-process only)


def run_in_process(argv: list[str], box: Box, timeout_s: float | None) -> Outcome:
    os.chdir(box.cwd)
    with deadline(timeout_s or CASE_TIMEOUT_S):
        result = CliRunner().invoke(main, argv)
    unhandled = None if result.exception is None or isinstance(result.exception, SystemExit) else result.exception
    return Outcome(result.exit_code, result.output, unhandled)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (PROCESS_MEMORY_BYTES, PROCESS_MEMORY_BYTES))


def run_process(argv: list[str], box: Box) -> Outcome:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "audiosynth.cli", *argv],
            cwd=box.cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROCESS_TIMEOUT_S,
            preexec_fn=_limit_memory,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: the process ran past {PROCESS_TIMEOUT_S:g} s (killed)")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if not LOG_LINE.match(line)]
    return Outcome(done.returncode, "\n".join(lines) + "\n")


Snapshot = dict[str, tuple]


def snapshot(root: Path, skip: Path | None) -> Snapshot:
    """Every entry under ``root`` (not descending into ``skip``): kind and content hash / link target.
    FIFOs and devices are recorded, never opened."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames) + filenames:
            path = here / name
            if path == skip:
                continue
            rel = str(path.relative_to(root))
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISDIR(mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("special", stat.S_IFMT(mode))
        dirnames[:] = [d for d in dirnames if skip is None or here / d != skip]
    return out


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [
        f"{'created' if k not in before else 'removed' if k not in after else 'changed'} {k}" for k in keys if before.get(k) != after.get(k)
    ]


def has_names(text: str, names: tuple) -> list[str]:
    """The entries of ``names`` that ``text`` lacks (a tuple entry: any one of its strings)."""
    missing = []
    for entry in names:
        options = entry if isinstance(entry, tuple) else (entry,)
        if not any(option in text for option in options):
            missing.append(" or ".join(repr(o) for o in options))
    return missing


def error_line(outcome: Outcome, names: tuple) -> str:
    """Assert the output is exactly one bounded ``Error:`` line naming ``names``; return it."""
    lines = [line for line in outcome.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), (
        f"expected one 'Error: ...' line, got {len(lines)} line(s):\n{_short(outcome.output)}"
    )
    line = lines[0]
    assert len(line) <= MAX_ERROR_CHARS, f"the error line is {len(line)} characters long: {_short(line)}"
    missing = has_names(line, names)
    assert not missing, f"the error does not name {', '.join(missing)}: {_short(line)}"
    return line


def _short(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text)} chars]"


def check_cli(case: Case, box: Box, outcome: Outcome, log_text: str) -> None:
    assert outcome.exception is None, (
        f"unhandled {type(outcome.exception).__name__} (a traceback for a user): {_short(str(outcome.exception), 600)}"
    )
    printed = outcome.output + log_text
    if "Traceback" in printed:
        last = [line for line in printed[printed.index("Traceback") :].splitlines() if line.strip() and not line.startswith(" ")]
        pytest.fail(f"a traceback was printed, ending: {_short(last[-1] if last else printed, 600)}")
    code = outcome.exit_code
    if case.expect == "error":
        assert code == 1, f"exit status {code}, expected 1:\n{_short(outcome.output)}"
        error_line(outcome, case.names)
    elif case.expect == "problems":
        assert code == 1, f"exit status {code}, expected 1 (a problem to report):\n{_short(outcome.output)}"
        if outcome.output.lstrip().startswith("Error: "):
            error_line(outcome, case.names)
        else:
            missing = has_names(outcome.output, case.names)
            assert not missing, f"the report does not name {', '.join(missing)}:\n{_short(outcome.output)}"
    elif case.expect in ("reject", "ok"):
        expected = "the bad input rejected, the rest done" if case.expect == "reject" else "valid input"
        assert code == 0, f"exit status {code}, expected 0 ({expected}):\n{_short(outcome.output)}"
    elif case.expect == "clean":
        assert code in (0, 1), f"exit status {code}:\n{_short(outcome.output)}"
        if code == 1 and not outcome.output.startswith("validated "):  # validate's report lists its problems
            error_line(outcome, ())
    elif case.expect == "handled":
        assert code in (0, 1), f"exit status {code}:\n{_short(outcome.output)}"
        if code == 1:
            error_line(outcome, case.names)
        else:
            rejects = box.out / "rejects.jsonl"
            text = rejects.read_text(encoding="utf-8", errors="replace") if rejects.is_file() else ""
            missing = has_names(text, case.names)
            assert not missing, f"exit 0 but rejects.jsonl does not name {', '.join(missing)}"
    else:
        raise AssertionError(f"unknown expectation {case.expect!r}")
    if case.check is not None:
        case.check(box, outcome)


def check_dataset(case: Case, run: Any) -> None:
    try:
        with deadline(case.timeout_s or CASE_TIMEOUT_S):
            count = run()
    except (CaseTimeout, AssertionError):
        raise
    except AudiosynthError as err:
        kind, message = type(err).__name__, str(err)
        assert case.expect in ("raises", "items_or_raises"), f"{kind} on an input that must be handled: {_short(message)}"
        assert "\n" not in message.strip() and len(message) <= MAX_ERROR_CHARS, f"not one bounded line: {_short(message)}"
        missing = has_names(message, case.names)
        assert not missing, f"{kind} does not name {', '.join(missing)}: {_short(message)}"
        return
    except Exception as err:  # noqa: BLE001 - what the case is about
        pytest.fail(
            f"bare {type(err).__module__}.{type(err).__name__} instead of an AudiosynthError naming the file/row: {_short(str(err), 600)}"
        )
    assert case.expect in ("items", "items_or_raises"), (
        f"no error: {count} items read from a bad dataset (expected an AudiosynthError naming {case.names})"
    )


def run_case(case: Case, fx: Fixtures, tmp_path: Path, caplog: pytest.LogCaptureFixture, as_process: bool) -> None:
    box = Box(tmp_path, fx)
    for folder in (box.inp, box.out.parent, box.cwd):
        folder.mkdir(parents=True, exist_ok=True)
    beside = set(os.listdir(tmp_path.parent))
    cwd = os.getcwd()
    skip = None if case.protect_out else box.out
    failures: list[str] = []
    prepared = case.setup(box)
    before = snapshot(box.root, skip)
    try:
        if callable(prepared):
            check_dataset(case, prepared)
        else:
            outcome = run_process(prepared, box) if as_process else run_in_process(prepared, box, case.timeout_s)
            check_cli(case, box, outcome, caplog.text)
    except (AssertionError, CaseTimeout, pytest.fail.Exception) as err:
        failures.append(str(err).split("\nassert ")[0])
    finally:
        os.chdir(cwd)
    changed = changes(before, snapshot(box.root, skip))
    if changed:
        what = (
            "the complete dataset given as output folder (or the sandbox) changed"
            if case.protect_out
            else "files changed outside the output folder"
        )
        failures.append(f"{what}:\n  " + "\n  ".join(changed[:20]))
    escaped = [name for name in set(os.listdir(tmp_path.parent)) - beside if ESCAPE in name]
    if escaped:
        failures.append(f"written beside the sandbox: {escaped}")
    if box.out.is_dir():
        litter = [str(p.relative_to(box.out)) for p in box.out.rglob("*") if p.name.endswith((".tmp", ".partial"))]
        if litter:
            failures.append(f"half-written files left in the output folder: {litter}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
    shutil.rmtree(tmp_path, ignore_errors=True)  # ~600 sandboxes with dataset copies: keep only the failing ones


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fuzz(case: Case, fx: Fixtures, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_case(case, fx, tmp_path, caplog, as_process=case.subprocess)


@pytest.mark.parametrize("case_id", SUBPROCESS_TWINS, ids=[f"{i}-subprocess" for i in SUBPROCESS_TWINS])
def test_fuzz_as_a_process(case_id: str, fx: Fixtures, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_case(BY_ID[case_id], fx, tmp_path, caplog, as_process=True)


def test_the_fuzz_is_big_and_covers_every_family() -> None:
    assert len(CASES) + len(SUBPROCESS_TWINS) >= 200
    families = {
        "config-": 60,
        "catalog-": 40,
        "audio-": 15,
        "manifest-": 20,
        "row-": 60,
        "build-json-": 5,
        "tar-": 20,
        "shards-": 4,
        "onthefly-": 3,
    }
    for prefix, least in families.items():
        assert sum(c.id.startswith(prefix) for c in CASES) >= least, prefix
    for target in ("-validate", "-report", "-nemo", "-kaldi", "-hf", "-lhotse", "-from-folder", "-to-folder", "-stored", "-sharded"):
        assert any(c.id.endswith(target) for c in CASES), target
    assert any(c.id.startswith("build-") for c in CASES) and any(c.id.startswith("audio-") for c in CASES)
