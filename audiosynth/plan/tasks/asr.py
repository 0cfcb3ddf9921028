"""ASR: transcribed utterances, never cropped, so that every example carries its text."""

from __future__ import annotations

from .talkers import TalkerTask


class ASR(TalkerTask):
    """Speech clips need a transcript; one talker's example holds the whole utterance (it may
    exceed ``duration_s``)."""

    name = "asr"
    needs_text = True
    crops = False
