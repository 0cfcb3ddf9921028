"""Target speaker extraction: talkers as for separation, plus an enrollment utterance of talker 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .talkers import TalkerTask

if TYPE_CHECKING:
    from ...config import Config


class TargetSpeaker(TalkerTask):
    """``s1`` is the target; the ``enrollment`` role is another utterance of its speaker."""

    name = "target_speaker"

    def check_config(self, config: Config) -> None:
        if not config.talkers.enrollment:
            raise ValueError("talkers.enrollment: task 'target_speaker' needs enrollment: true")
