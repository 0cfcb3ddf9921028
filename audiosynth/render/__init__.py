"""Rendering: a Scene to signals (mixture, images, targets, noise) and the labels measured on them.

`load` reads a scene's audio on the CPU (`LoadedScene`); `mix.render_batch` mixes a batch of
loaded scenes on one array backend; `render` is the two for one scene. `levels` holds the
level / SNR definitions, `labels` the labels and their definitions.
"""

from .load import LoadedScene, load_scene, load_segment
from .mix import Rendered, render, render_batch

__all__ = ["LoadedScene", "Rendered", "load_scene", "load_segment", "render", "render_batch"]
