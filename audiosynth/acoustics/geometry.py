"""Microphone array layouts and rotations: pure functions of numbers, positions in metres."""

from __future__ import annotations

import numpy as np


def linear_array(num_mics: int, spacing_m: float) -> np.ndarray:
    """``num_mics`` microphones on the x axis, ``spacing_m`` apart, centred at 0: ``(M, 3)``."""
    x = (np.arange(num_mics) - (num_mics - 1) / 2) * spacing_m
    return np.stack([x, np.zeros(num_mics), np.zeros(num_mics)], axis=1)


def circular_array(num_mics: int, radius_m: float) -> np.ndarray:
    """``num_mics`` microphones evenly on a horizontal circle of ``radius_m``: ``(M, 3)``."""
    angle = 2 * np.pi * np.arange(num_mics) / num_mics
    return np.stack([radius_m * np.cos(angle), radius_m * np.sin(angle), np.zeros(num_mics)], axis=1)


def rotate_z(points: np.ndarray, azimuth_rad: float) -> np.ndarray:
    """Rotate ``(N, 3)`` points about the vertical axis by ``azimuth_rad``."""
    c, s = np.cos(azimuth_rad), np.sin(azimuth_rad)
    return np.asarray(points @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]))
