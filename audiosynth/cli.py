"""The ``audiosynth`` command line: each subcommand parses options and calls one library function."""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # built in, no stub; importing it runs no Python, so Ctrl-C has next to no window
import os


def _exit_at_once(signum: int, frame: object) -> None:
    os.write(2, b"interrupted: stopped before or after the build's work (nothing half-written); rerun the same command\n")
    os._exit(130)


if __name__ == "__main__":  # python -m audiosynth.cli: a Ctrl-C while starting up exits quietly (see `main`)
    _signal.signal(_signal.SIGINT, _exit_at_once)

import functools
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from .corpora import SOURCES
from .errors import AudiosynthError, Interrupted

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _fail_cleanly(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn audiosynth's own errors into a one-line message and exit status 1; Ctrl-C into one
    line and status 130."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except Interrupted as err:
            click.echo(str(err), err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except AudiosynthError as err:
            raise click.ClickException(str(err)) from err

    return wrapper


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(package_name="audiosynth")
def main(verbose: bool) -> None:
    """Synthetic, exactly labelled speech datasets: catalog corpora, build, validate."""
    if signal.getsignal(signal.SIGINT) is _exit_at_once and click.get_current_context().invoked_subcommand != "build":
        signal.signal(signal.SIGINT, signal.default_int_handler)  # other commands clean up after a KeyboardInterrupt
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _catalog_help() -> str:
    """The ``catalog`` command's help: what it does, then every registered source and what it expects."""
    sources = "\n".join(f"  {source.name}: {source.description.replace('{mic}', '<mic>')}" for source in SOURCES.values())
    return f"Catalog the corpus at ROOT (laid out as LAYOUT, one of the sources below) into a JSONL file.\n\n\b\nSources:\n{sources}"


@main.command(help=_catalog_help())
@click.argument("layout", type=click.Choice(list(SOURCES)))
@click.argument("root", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Catalog JSONL to write.")
@click.option(
    "--kind",
    type=click.Choice(["speech", "noise", "rir"]),
    help="Kind of every clip (folder, manifests); for corpora of several kinds (dns, rirs_noises, but_reverb): only clips of this kind.",
)
@click.option("--workers", type=int, default=None, help="Processes checking files (default: cores).")
@click.option("--min-duration", type=float, default=0.1, show_default=True, help="Reject clips shorter than this (s).")
@click.option("--max-channels", type=int, default=1, show_default=True, help="Reject clips with more channels.")
@click.option("--mic", default="mic1", show_default=True, help="VCTK microphone.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Rejects JSONL (default: beside the output).")
@click.option(
    "--room-from",
    type=click.Choice(["parent", "none"]),
    default="parent",
    show_default=True,
    help="A RIR's room: its folder below ROOT (RIRs in one folder are positions of one room), or none.",
)
@click.option(
    "--audio-root",
    "audio_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder a manifest's audio paths may lie in besides ROOT (repeatable).",
)
@click.option("--allow-outside", is_flag=True, help="Let a manifest's audio paths point anywhere (you trust the manifest).")
@click.option(
    "--allow-commands", is_flag=True, help="Run a manifest's shell commands (Kaldi wav.scp pipes, Lhotse command sources; you trust it)."
)
@click.option(
    "--text-norm",
    default=None,
    help="Normalize transcripts: keep (the corpus's original), librispeech (upper-case words, no punctuation) or module:function "
    "(marked @text_norm); the original is kept as original_text. Default: the texts as the source gives them.",
)
@click.option(
    "--alignments",
    type=click.Path(exists=True, path_type=Path),
    help="Word/phone alignments by clip id: a CTM, TextGrid or LibriSpeech .alignment.txt file, or a folder searched for them.",
)
@_fail_cleanly
def catalog(
    layout: str,
    root: Path,
    output: Path,
    kind: str | None,
    workers: int | None,
    min_duration: float,
    max_channels: int,
    mic: str,
    rejects: Path | None,
    room_from: str,
    audio_roots: tuple[Path, ...],
    allow_outside: bool,
    allow_commands: bool,
    text_norm: str,
    alignments: Path | None,
) -> None:
    from .corpora.pipeline import catalog_corpus  # the scan stack loads only when a corpus is catalogued

    summary = catalog_corpus(
        layout,
        root,
        output,
        kind=kind,
        workers=workers,
        min_duration_s=min_duration,
        max_channels=max_channels,
        rejects_path=rejects,
        mic=mic,
        room_from=room_from,
        audio_roots=audio_roots,
        allow_outside=allow_outside,
        allow_commands=allow_commands,
        text_norm=text_norm,
        alignments=alignments,
    )
    click.echo(summary.format())


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--num-examples", type=int, help="Override num_examples.")
@click.option("--seed", type=int, help="Override seed.")
@click.option("--workers", type=int, help="Processes (default: cores).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["folder", "webdataset"]),
    default="folder",
    show_default=True,
    help="A folder of audio files, or WebDataset .tar shards.",
)
@click.option(
    "--engine",
    type=click.Choice(["pool", "dask", "ray"]),
    default="pool",
    show_default=True,
    help="Who runs the shards: a local process pool, Dask distributed or Ray (same bytes).",
)
@click.option("--address", help="Dask scheduler (tcp://host:8786) or Ray cluster (host:6379) to use; default: a local one.")
@click.option("--dry-run", is_flag=True, help="Check and estimate only; write nothing.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_fail_cleanly
def build(
    config_path: Path,
    out_dir: Path,
    num_examples: int | None,
    seed: int | None,
    workers: int | None,
    output_format: str,
    engine: str,
    address: str | None,
    dry_run: bool,
    no_progress: bool,
) -> None:
    """Build the dataset described by CONFIG (YAML) into OUT; resumes an unfinished build."""
    from .build.driver import build as run_build
    from .config import load_config

    config = load_config(config_path).with_overrides(num_examples=num_examples, seed=seed)
    result = run_build(
        config, out_dir, workers=workers, progress=not no_progress, dry_run=dry_run, format=output_format, engine=engine, address=address
    )
    click.echo(result.format())


@main.group()
def shards() -> None:
    """Convert between folder datasets and WebDataset shards."""


@shards.command("from-folder")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Sharded dataset to write.")
@click.option("--shard-size", type=int, default=100, show_default=True, help="Examples per .tar shard.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_fail_cleanly
def shards_from_folder(dataset_dir: Path, out_dir: Path, shard_size: int, no_progress: bool) -> None:
    """Pack the folder dataset DIR into WebDataset shards (audio bytes copied, not re-encoded)."""
    from .dataset.convert import folder_to_shards

    index = folder_to_shards(dataset_dir, out_dir, shard_size, progress=not no_progress)
    click.echo(f"wrote {len(index['shards'])} shards, {index['num_examples']} examples -> {out_dir}")


@shards.command("to-folder")
@click.argument("shards_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder dataset to write.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_fail_cleanly
def shards_to_folder_command(shards_dir: Path, out_dir: Path, no_progress: bool) -> None:
    """Unpack the sharded dataset DIR into a folder dataset."""
    from .dataset.convert import shards_to_folder

    click.echo(f"wrote {shards_to_folder(shards_dir, out_dir, progress=not no_progress)} examples -> {out_dir}")


@main.command()
@click.argument("dataset_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(["nemo", "lhotse", "kaldi", "hf", "rttm"]), help="Target format.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option("--role", default="mix", show_default=True, help="Audio role to export (mix, clean, s1, ...).")
@click.option("--relative-paths", is_flag=True, help="Write paths relative to OUT instead of absolute.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_fail_cleanly
def export(dataset_dir: Path, to: str, out_dir: Path, role: str, relative_paths: bool, no_progress: bool) -> None:
    """Export the dataset in DIR to manifests that NeMo, Lhotse, Kaldi, Hugging Face or pyannote read."""
    from .dataset.export import export_dataset

    summary = export_dataset(dataset_dir, to, out_dir, role=role, absolute_paths=not relative_paths, progress=not no_progress)
    click.echo(summary.format_text())


@main.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def validate(out_dir: Path, no_progress: bool) -> None:
    """Check every file and label of the dataset in DIR; exit 1 on any problem."""
    from .dataset.validate import validate as run_validate

    report = run_validate(out_dir, progress=not no_progress)
    click.echo(report.format())
    sys.exit(0 if report.ok else 1)


@main.command("report")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder to write (default: DIR/report).")
@click.option("--no-validate", is_flag=True, help="Do not re-check every example (validate).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@_fail_cleanly
def report_command(dataset_dir: Path, out_dir: Path | None, no_validate: bool, no_progress: bool) -> None:
    """Write an HTML report of the dataset in DIR (index.html and PNG plots); print its path."""
    from .report.page import make_report

    click.echo(str(make_report(dataset_dir, out_dir, run_validate=not no_validate, progress=not no_progress)))


if __name__ == "__main__":
    main()
