"""Denoising (and dereverberation): the talkers' mixture in noise; one talker's image is ``clean``."""

from __future__ import annotations

from .talkers import TalkerTask


class Denoising(TalkerTask):
    """Speech in noise (and a room, with its dereverberation targets); several talkers are ``s1`` ... ``sN``."""

    name = "denoising"

    def roles(self, count: int) -> list[str]:
        return ["clean"] if count == 1 else super().roles(count)
