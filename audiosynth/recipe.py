"""What every recipe shares: its command line (-o, --num-examples, --seed, catalogs, workers)
and the build-then-validate run. A recipe only writes its config."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from .build import BuildSummary, build
from .config import config_from_dict
from .plan import demo_dir
from .validate import validate


def recipe_parser(description: str) -> argparse.ArgumentParser:
    """The options every recipe takes; a recipe may add its own."""
    demo = demo_dir()
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-o", "--out", required=True, type=Path, help="dataset folder to write (resumed if unfinished)")
    parser.add_argument("--num-examples", type=int, default=200, help="examples to build")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    parser.add_argument("--speech", nargs="+", default=[str(demo / "speech.jsonl")], help="speech catalog(s)")
    parser.add_argument("--noise", nargs="+", default=[str(demo / "noise.jsonl")], help="noise catalog(s)")
    parser.add_argument("--rirs", nargs="*", default=[str(demo / "rirs.jsonl")], help="RIR catalog(s)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run_recipe(args: argparse.Namespace, settings: dict[str, Any]) -> BuildSummary:
    """Build ``settings`` (a config dict without catalogs, seed and size) as ``args`` say, then validate."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    catalogs = {"speech": args.speech, "noise": args.noise, "rirs": args.rirs}
    config = config_from_dict({**settings, "catalogs": catalogs, "seed": args.seed, "num_examples": args.num_examples}, Path.cwd(), "recipe")
    summary = build(config, args.out, workers=args.workers, progress=not args.no_progress)
    assert isinstance(summary, BuildSummary)
    print(summary.format())
    report = validate(args.out, progress=not args.no_progress)
    print(report.format())
    if not report.ok:
        raise SystemExit(1)
    return summary
