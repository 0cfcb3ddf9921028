"""Speaker separation: several talkers (``talkers.count``), each image a role ``s1`` ... ``sN``."""

from __future__ import annotations

from .talkers import TalkerTask


class Separation(TalkerTask):
    """The talkers' images are the targets; the mixture is their sum plus noise."""

    name = "separation"
