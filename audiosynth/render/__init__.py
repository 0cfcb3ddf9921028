"""Rendering: a Scene to signals (mixture, images, targets, noise) and the labels measured on them."""

from .mix import Rendered, load_segment, render

__all__ = ["Rendered", "load_segment", "render"]
