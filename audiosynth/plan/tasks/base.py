"""The task registry: one `Task` per kind of example, found by the config's ``task`` name.

A task says what it asks of the config and of the clips, draws its scenes (its sources and
their roles, its targets) from the planner's pools with the example's own generator, and tells
the checks of a built dataset what its examples are like. A new task is a subclass registered
here (`register`) plus a recipe; nothing else in the planner changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...registry import Registry

if TYPE_CHECKING:  # the planner imports the registry, not the other way round
    from ...config import Config
    from ...scene import Scene
    from ..planner import Planner


class Task:
    """One kind of example. Subclasses set `name` and override what differs.

    Every draw of `plan` comes from the ``rng`` it is given, in a fixed order: the same config,
    seed and index give the same scene.
    """

    name: str = ""
    needs_text: bool = False  # speech clips without a transcript are left out of the pools

    def check_config(self, config: Config) -> None:
        """Refuse a config this task cannot use: raise ``ValueError("<field>: why")``. Runs in the
        config's validation, before any work starts."""

    def preflight(self, planner: Planner) -> None:
        """Refuse (`PreflightError`) what the config and the catalogs cannot give together; runs
        before the planner builds its pools."""

    def max_talkers(self, config: Config) -> int:
        """The most talkers (different speakers) of one example: every split needs that many."""
        return config.talkers.count[1]

    def plan(self, planner: Planner, rng: np.random.Generator, split: str, index: int) -> Scene:
        """Example ``index`` of ``split``: every random choice, drawn from ``rng``."""
        raise NotImplementedError(f"task {self.name!r} does not plan scenes")

    # -- what the checks of a built dataset (validate, report, limits) need to know ----------
    def duration_bounds_length(self, config: Config) -> bool:
        """Whether ``duration_s`` bounds the length of every example."""
        return True

    def longest_example_s(self, config: Config, longest_clip_s: float) -> tuple[float, str]:
        """The longest example the config allows (s), given the longest speech clip, and the
        config field that sets it."""
        return config.duration_s[1], "duration_s"

    def labels_speech_level(self, config: Config) -> bool:
        """Whether ``speech_level_dbfs`` sets the ``speech_level_dbfs`` label (the first talker's level)."""
        return True

    def labels_sir(self, config: Config) -> bool:
        """Whether talkers after the first are set by ``talkers.sir_db`` (``sir_db`` labels)."""
        return False


TASKS: Registry[Task] = Registry("task")


def register(task: Task) -> Task:
    """Add ``task`` to the registry under its name (refused if the name is taken or unsafe)."""
    if not task.name.isidentifier():
        raise ValueError(f"task name {task.name!r} is not an identifier")
    return TASKS.add(task.name, task)


def task_of(name: str) -> Task:
    """The registered task ``name``."""
    return TASKS.find(name)


def task_names() -> tuple[str, ...]:
    """The registered task names, sorted."""
    return tuple(sorted(TASKS))


def example_id(split: str, index: int) -> str:
    """The id of example ``index`` (of split ``split``): ``train-000042``."""
    return f"{split}-{index:06d}"
