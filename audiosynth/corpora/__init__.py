"""Catalogue real corpora on disk into catalog JSONL files: one module per source (layout or
manifest format) behind a registry (`sources`), the per-file scan (`scan`) and the shared pipeline
(`pipeline.catalog_corpus`).

The registry loads light (no NumPy, no soundfile), so that ``audiosynth --help`` lists the sources
fast; the pipeline's names are imported on first use (PEP 562). A new source is one module with its
walker and `Source`, plus one entry in ``_REGISTERED``.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import (
    aishell,
    but_reverb,
    commonvoice,
    dns,
    folder,
    huggingface,
    kaldi,
    lhotse_manifests,
    librispeech,
    libritts,
    musan,
    nemo,
    rirs_noises,
    timit,
    vctk,
    wham,
)
from .sources import SOURCES, Source, register

__all__ = ["LAYOUTS", "REJECT_REASONS", "SOURCES", "CatalogSummary", "Source", "catalog_corpus", "check_audio_file", "register"]

_REGISTERED = (
    librispeech.SOURCE,
    vctk.SOURCE,
    musan.SOURCE,
    folder.SOURCE,
    nemo.SOURCE,
    lhotse_manifests.SOURCE,
    timit.SOURCE,
    kaldi.SOURCE,
    huggingface.SOURCE,
    commonvoice.SOURCE,
    aishell.SOURCE,
    libritts.SOURCE,
    libritts.SOURCE_R,
    dns.SOURCE,
    wham.SOURCE,
    rirs_noises.SOURCE,
    but_reverb.SOURCE,
)
for _source in _REGISTERED:
    register(_source)
LAYOUTS = tuple(SOURCES)  # the registered sources' names (kept for callers of the old tuple)

_LAZY = {"catalog_corpus": "pipeline", "CatalogSummary": "pipeline", "check_audio_file": "scan", "REJECT_REASONS": "scan"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
