"""Transcript normalizations: one per dataset, so that texts from several corpora agree.

A normalization is a function ``str -> str`` named in `TEXT_NORMS` (``keep``: as the corpus wrote
it; ``librispeech``: upper-case words without punctuation, as LibriSpeech's transcripts are), or a
user's function given as ``package.module:function`` and marked with the `text_norm` decorator
(a config may come from elsewhere: only a function its author marked as a normalization is ever
called, never ``os:system``). `catalog_corpus` applies it to every row
and keeps the corpus's text as ``original_text`` when it changed; a build applies the config's
``text_norm`` to the catalogs it reads (from ``original_text`` when there is one), so that mixed
sources get one normalization whatever they were catalogued with.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import unicodedata
from collections.abc import Callable

from ..catalog import Clip
from ..errors import CatalogError
from ..names import has_control

Normalizer = Callable[[str], str]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def keep(text: str) -> str:
    """The text as the corpus wrote it."""
    return text


def librispeech(text: str) -> str:
    """Upper-case words, apostrophes kept inside words, every other punctuation mark a space, one
    space between words: "Hello, world -- it's 9 o'clock!" -> "HELLO WORLD IT'S 9 O'CLOCK"."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).upper()
    words = re.sub(r"[^\w']+", " ", text).split()
    return " ".join(w.strip("'") for w in words if w.strip("'"))


TEXT_NORMS: dict[str, Normalizer] = {"keep": keep, "librispeech": librispeech}


_MARK = "__audiosynth_text_norm__"


def text_norm(function: Normalizer) -> Normalizer:
    """Mark ``function`` (``str -> str``) as a text normalization that configs and ``--text-norm``
    may name as ``module:function``."""
    setattr(function, _MARK, True)
    return function


def text_normalizer(name: str) -> Normalizer:
    """The normalization ``name``: a key of `TEXT_NORMS` or ``module:function`` (imported, and
    marked with `text_norm`). Raises `CatalogError` naming what is wrong."""
    if name in TEXT_NORMS:
        return TEXT_NORMS[name]
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise CatalogError(f"text normalization must be one of {', '.join(TEXT_NORMS)} or module:function (got {name!r})")
    try:
        function = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise CatalogError(f"text normalization {name!r}: cannot import it ({err})") from None
    if not callable(function) or not getattr(function, _MARK, False):
        raise CatalogError(f"text normalization {name!r} is not marked as one: decorate it with @audiosynth.corpora.text.text_norm")
    return function


def normalize_clip(clip: Clip, normalize: Normalizer) -> Clip:
    """``clip`` with its text normalized from the corpus's text (``original_text`` when kept, else
    ``text``); the corpus's text is kept as ``original_text`` when the result differs. A function
    that returns no string, or a control character, raises `CatalogError` naming the clip."""
    source = clip.original_text if clip.original_text is not None else clip.text
    if source is None or normalize is keep:
        return dataclasses.replace(clip, text=source, original_text=None)
    text = normalize(source)
    if not isinstance(text, str) or has_control(text):
        raise CatalogError(f"clip {clip.id}: the text normalization returned {text!r} for {source!r} (a string without control characters)")
    return dataclasses.replace(clip, text=text or None, original_text=source if text != source else None)
