"""What a name, id or text read from elsewhere (a catalog, a manifest, a tar) may hold, and how
an error message shows such a value (bounded, whatever its size)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TypeGuard

#: Ids, splits, speaker names and path components: a letter or digit, then up to 127 of these.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+@=-]{0,127}")
#: Example ids: as `NAME` without ``.``.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:+@=-]{0,127}")
#: Audio roles (``mix``, ``clean``, ``s1_dry``, ...).
ROLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
MAX_TEXT = 100_000  # characters of a transcript or clip id


def is_number(value: Any) -> TypeGuard[float]:
    """Whether a value read from JSON is a number (an int or float, not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a 1 MB id must not make a 1 MB message):
    its head, and its tail, which keeps a path's file name whole when it is at most ``limit`` long."""
    text = repr(value)
    if len(text) <= limit:
        return text
    base = value.rsplit("/", 1)[-1] if isinstance(value, str) else ""
    keep = min(max(limit // 2, len(repr(base))), limit, len(text) - limit)
    return f"{text[:limit]}...{text[-keep:]}({len(text)} chars)"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character or a line/paragraph separator."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)
