"""Tasks: one piece per kind of example behind a registry (`base`), found by the config's
``task``. The built-in ones are registered here; a new task is a `Task` subclass passed to
`register`, plus a recipe."""

from .asr import ASR
from .base import TASKS, Task, example_id, register, task_names, task_of
from .denoising import Denoising
from .diarization import Diarization
from .separation import Separation
from .talkers import TalkerTask
from .target_speaker import TargetSpeaker

for _task in (Denoising(), Separation(), TargetSpeaker(), ASR(), Diarization()):
    register(_task)

__all__ = ["ASR", "TASKS", "Denoising", "Diarization", "Separation", "TalkerTask", "TargetSpeaker", "Task", "example_id",
           "register", "task_names", "task_of"]
