"""Tasks: one planning piece per kind of example, behind a registry (`base`) that the config's
``task`` names. The built-in pieces are registered here.

To add a task: subclass `Task` (or `TalkerTask`, the talkers-in-noise-and-a-room draw that
denoising, ASR, separation and target speaker share), set ``name``, implement `Task.plan` with
the shared draws (`..clips`, `..noise`, `..rooms`) and the planner's pools, override the facts
that differ (``needs_text``, `Task.max_talkers`, `Task.check_config`, `Task.preflight`,
`Task.duration_bounds_length`, ...), `register` an instance, and write a recipe whose config
sets ``task``. The planner, the config and the Scene need no edit. Register at import time (the
recipe's top level, or a module it imports), not under ``if __name__ == "__main__"``: the
build's worker processes are spawned, and find the task only by importing that code again.
"""

from .asr import ASR
from .base import TASKS, Task, example_id, register, task_names, task_of
from .denoising import Denoising
from .diarization import Diarization
from .separation import Separation
from .talkers import TalkerTask
from .target_speaker import TargetSpeaker

for _task in (Denoising(), Separation(), TargetSpeaker(), ASR(), Diarization()):
    register(_task)

__all__ = [
    "ASR",
    "TASKS",
    "Denoising",
    "Diarization",
    "Separation",
    "TalkerTask",
    "TargetSpeaker",
    "Task",
    "example_id",
    "register",
    "task_names",
    "task_of",
]
