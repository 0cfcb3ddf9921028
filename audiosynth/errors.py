"""Errors raised by audiosynth.

Hierarchy::

    AudiosynthError (ValueError)
    ├── CatalogError      a catalog file or one of its rows is invalid
    ├── ConfigError       a build config is invalid (message names the field path)
    ├── PreflightError    a valid config that cannot produce the dataset asked for
    ├── AudioError        a clip cannot be read or is unusable (unreadable, NaN, silent, ...)
    │   └── CropError     the part of a clip one example uses is unusable (a silent crop)
    ├── DatasetError      a built dataset folder is inconsistent or was built differently
    ├── OutputError       an output file cannot be written (disk full, quota, permissions)
    └── Interrupted       a build stopped by Ctrl-C (SIGINT) at an example or shard boundary
"""

from __future__ import annotations


class AudiosynthError(ValueError):
    """Base class of every error audiosynth raises on purpose."""


class CatalogError(AudiosynthError):
    """A catalog file or row is invalid; the message starts with ``file:line:``."""


class ConfigError(AudiosynthError):
    """A config is invalid; the message names the dotted field path and the bad value."""


class PreflightError(AudiosynthError):
    """The config is valid but the catalogs cannot satisfy it (says why)."""


class AudioError(AudiosynthError):
    """A clip is unusable; ``reason`` is a short machine-readable tag."""

    def __init__(self, path: str, reason: str, detail: str = "", clip_id: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        self.clip_id = clip_id  # the catalog clip, when the reader knows it
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[type[AudioError], tuple[str, str, str, str | None]]:  # every field across process pools
        return (type(self), (self.path, self.reason, self.detail, self.clip_id))


class CropError(AudioError):
    """The crop of a clip that one example uses is unusable (e.g. silent), not the whole clip:
    the example is re-drawn, and the clip stays usable for its later draws."""


class DatasetError(AudiosynthError):
    """A dataset folder does not match what its manifest or build.json says."""


class OutputError(AudiosynthError):
    """An output file cannot be written; the message names the path and what to do."""


class Interrupted(AudiosynthError):
    """A build was stopped by Ctrl-C (SIGINT) between examples: the shard in progress was removed,
    every done shard is complete, and rerunning the same command resumes. The CLI exits 130."""
