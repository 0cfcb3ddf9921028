"""Planning: every random draw of a dataset, none left to the renderer.

``scene(i) = plan(config, catalogs, seed, i)``, a pure function of the example's own random stream
(`item_rng`): any subset, order or number of workers gives the same scenes. `pools` splits
speakers and clips; `clips`, `noise` and `rooms` hold the draws that every task shares; `tasks`
holds one piece per task behind a registry (`register`, `task_of`), found by the config's ``task``.
"""

from .planner import Planner, demo_dir, item_rng, plan
from .pools import Catalogs, load_catalogs, partition, speaker_of, split_counts
from .rooms import array_layout, draw_room, room_of
from .tasks import Task, register, task_names, task_of

__all__ = [
    "Catalogs",
    "Planner",
    "Task",
    "array_layout",
    "demo_dir",
    "draw_room",
    "item_rng",
    "load_catalogs",
    "partition",
    "plan",
    "register",
    "room_of",
    "speaker_of",
    "split_counts",
    "task_names",
    "task_of",
]
