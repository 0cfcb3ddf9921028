"""What every recipe shares: its command line (-o, --num-examples, --seed, catalogs, reverb,
splits, workers) and the build-then-validate run. A recipe only writes its config.

Reverb options: ``--reverb simulated|catalog|none`` (default: the recipe's), ``--rirs`` (RIR
catalogs; implies ``--reverb catalog``) and ``--reverb-probability``. Split options: ``--splits``
(``train=0.8,dev=0.1,test=0.1`` or ``0.8,0.1,0.1``) and ``--ignore-catalog-splits``. Every
`AudiosynthError` (a refused option, config or pre-flight) ends the recipe with one line
``error: ...`` on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .build.driver import BuildSummary, build
from .config import SPLITS, config_from_dict
from .dataset.validate import validate
from .errors import AudiosynthError, ConfigError
from .plan.planner import demo_dir

REVERB_SOURCES = ("simulated", "catalog", "none")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults that say something, reflows each plain paragraph of the description and
    keeps indented ones (command examples) as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in textwrap.dedent(text).strip().split("\n\n"):
            if paragraph.startswith((" ", "\t")):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(paragraphs)


def recipe_parser(
    description: str, settings: dict[str, Any] | None = None, reverb: Sequence[str] = REVERB_SOURCES
) -> argparse.ArgumentParser:
    """The options every recipe takes; a recipe may add its own.

    Args:
        description: the recipe's docstring (shown whole by ``--help``).
        settings: the recipe's config dict, for the defaults shown.
        reverb: the reverb sources the recipe allows; without ``none`` every example must be reverberant.
    """
    settings = settings or {}
    demo = demo_dir()
    base = settings.get("reverb", {})
    splits = {name: settings.get("splits", {}).get(name, default) for name, default in zip(SPLITS, (0.8, 0.1, 0.1), strict=True)}
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    parser.add_argument("-o", "--out", required=True, type=Path, help="dataset folder to write (resumed if unfinished)")
    parser.add_argument("--num-examples", type=int, default=200, help="examples to build")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    parser.add_argument("--speech", nargs="+", default=[str(demo / "speech.jsonl")], help="speech catalog(s)")
    parser.add_argument("--noise", nargs="+", default=[str(demo / "noise.jsonl")], help="noise catalog(s)")
    parser.add_argument(
        "--rirs", nargs="+", default=None, help="RIR catalog(s); implies --reverb catalog (default with --reverb catalog: the demo RIRs)"
    )
    allowed = "" if tuple(reverb) == REVERB_SOURCES else f"; this recipe takes {' or '.join(reverb)}"
    parser.add_argument(
        "--reverb",
        choices=REVERB_SOURCES,
        default=None,
        help=f"reverb: simulated rooms, catalog RIRs or none{allowed} (default: {base.get('source', 'simulated')})",
    )
    parser.add_argument(
        "--reverb-probability",
        type=float,
        default=None,
        metavar="P",
        help=f"share of reverberant examples (default: {base.get('probability', 0.0):g})",
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=None,
        metavar="SHARES",
        help="shares of examples per split: train=0.8,dev=0.1,test=0.1 or three numbers "
        f"(default: {','.join(f'{n}={v:g}' for n, v in splits.items())})",
    )
    parser.add_argument(
        "--ignore-catalog-splits", action="store_true", help="partition every speaker by seed, ignoring the splits the catalogs declare"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(reverb_sources=tuple(reverb))
    return parser


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.8,dev=0.1,test=0.1`` (a split not named gets 0) or ``0.8,0.1,0.1`` -> shares."""
    items = [item.strip() for item in text.replace(" ", ",").split(",") if item.strip()]
    named = [item.partition("=") for item in items]
    if all(sep for _, sep, _ in named):
        names = [name for name, _, _ in named]
        unknown = sorted(set(names) - set(SPLITS))
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"name each of {', '.join(SPLITS)} at most once (got {text!r})")
        values = {name: value for name, _, value in named}
    elif not any(sep for _, sep, _ in named) and len(items) == len(SPLITS):
        values = dict(zip(SPLITS, items, strict=True))
    else:
        raise ValueError(f"give train=X,dev=Y,test=Z or three numbers (got {text!r})")
    try:
        shares = {name: float(values.get(name, 0.0)) for name in SPLITS}
    except ValueError:
        raise ValueError(f"shares must be numbers (got {text!r})") from None
    if not all(math.isfinite(v) for v in shares.values()):
        raise ValueError(f"shares must be finite numbers (got {text!r})")
    return shares


def recipe_settings(args: argparse.Namespace, settings: dict[str, Any], reverb: Sequence[str] | None = None) -> dict[str, Any]:
    """The config dict that ``args`` make of a recipe's ``settings``; contradictory options raise `ConfigError`."""
    allowed = tuple(reverb if reverb is not None else getattr(args, "reverb_sources", REVERB_SOURCES))
    base = dict(settings.get("reverb", {}))
    source = args.reverb or ("catalog" if args.rirs else base.get("source", "simulated"))
    needs = "this recipe needs reverb in every example"
    if source not in allowed:
        if source == "none":
            raise ConfigError(f"--reverb: {needs}; choose {' or '.join(allowed)}")
        raise ConfigError(f"{'--rirs' if args.rirs else '--reverb catalog'}: this recipe simulates its rooms; catalog RIRs cannot be used")
    if args.rirs and source != "catalog":
        raise ConfigError(f"--rirs: RIR catalogs are used with --reverb catalog only (got --reverb {source})")
    probability = args.reverb_probability
    if probability is not None:
        if not 0 <= probability <= 1:
            raise ConfigError(f"--reverb-probability: must lie in [0, 1] (got {probability:g})")
        if source == "none":
            raise ConfigError("--reverb-probability: has no effect with --reverb none")
        if "none" not in allowed and probability != 1:
            raise ConfigError(f"--reverb-probability: {needs} (got {probability:g})")
    if source == "none":
        base["probability"] = 0.0
    else:
        base["source"] = source
        if probability is not None:
            base["probability"] = probability
    out = {**settings, "reverb": base}
    if args.splits or args.ignore_catalog_splits:
        splits = dict(settings.get("splits", {}))
        if args.splits:
            try:
                splits.update(parse_splits(",".join(args.splits)))
            except ValueError as err:
                raise ConfigError(f"--splits: {err}") from None
        if args.ignore_catalog_splits:
            splits["use_catalog_splits"] = False
        out["splits"] = splits
    rirs = (args.rirs or [str(demo_dir() / "rirs.jsonl")]) if source == "catalog" else []
    out["catalogs"] = {"speech": args.speech, "noise": args.noise, "rirs": rirs}
    return {**out, "seed": args.seed, "num_examples": args.num_examples}


def run_recipe(args: argparse.Namespace, settings: dict[str, Any]) -> BuildSummary:
    """Build ``settings`` (a config dict without catalogs, seed and size) as ``args`` say, then validate.
    A refusal (`AudiosynthError`) prints one line ``error: ...`` and exits with status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_dict(recipe_settings(args, settings), Path.cwd(), "recipe")
        summary = build(config, args.out, workers=args.workers, progress=not args.no_progress)
        assert isinstance(summary, BuildSummary)
        print(summary.format())
        report = validate(args.out, progress=not args.no_progress)
    except AudiosynthError as err:
        print("error: " + "; ".join(line.strip() for line in str(err).splitlines() if line.strip()), file=sys.stderr)
        raise SystemExit(1) from None
    print(report.format())
    if not report.ok:
        raise SystemExit(1)
    return summary
