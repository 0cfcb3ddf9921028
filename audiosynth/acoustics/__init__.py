"""Acoustics: rooms to impulse responses (image sources + a decaying tail, pyroomacoustics as the reference)."""
