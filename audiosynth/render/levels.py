"""Level and SNR/SIR definitions, by name: one entry serves the gain (render), the label
(`labels`) and the check (``dataset.validate``, ``dataset.ranges``).

Today there is one entry, ``power``: a ratio of two signals is the ratio of their energies over
all samples, and a talker's level is its RMS over the samples its utterance spans. A new
definition (ITU-T P.56 active speech level, BS.1770 loudness, ...) is one more `LevelDefinition`
in `LEVEL_DEFINITIONS`; an example names its definition (default `DEFAULT_LEVEL_DEFINITION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..dsp import kernels
from ..dsp.backend import Array
from ..scene import DEFAULT_LEVEL_DEFINITION


@dataclass(frozen=True)
class LevelDefinition:
    """How levels and ratios of signals are measured (the base class is ``power``).

    Signals are ``(M, N)`` arrays of any backend (or ``(N,)``); ``span`` picks the samples a
    level is measured over (a slice, or a boolean mask ``(N,)``), on the first microphone."""

    name: str
    snr_db_text: str  # the labels' definitions in words, for build.json (``label_definitions``)
    speech_level_text: str

    def ratio_db(self, signal: Array, interference: Array) -> float:
        """SNR / SIR of ``signal`` against ``interference`` (dB)."""
        return kernels.power_ratio_db(signal, interference)

    def gain_for_ratio(self, signal: Array, interference: Array, ratio_db: float) -> float:
        """Amplitude gain for ``interference`` so that `ratio_db` of ``signal`` against it is ``ratio_db``."""
        return kernels.gain_for_ratio(signal, interference, ratio_db)

    def speech_level_dbfs(self, image: Array, span: Any) -> float:
        """A talker's level (dBFS): its image's first microphone over ``span``."""
        return kernels.rms_dbfs(image[0, span])

    def gain_for_level(self, image: Array, span: Any, level_dbfs: float) -> float:
        """Amplitude gain that gives ``image`` the `speech_level_dbfs` ``level_dbfs``."""
        return kernels.db_to_gain(level_dbfs - self.speech_level_dbfs(image, span))

    # The same definitions as 0-d arrays of the signals' backend, for the batched device path
    # (`mix.render_batch` on torch), which never waits for the host between scenes. A new
    # definition overrides these too (they must agree with the float ones within float rounding).

    def ratio_db_array(self, signal: Array, interference: Array) -> Array:
        """`ratio_db` as a 0-d array."""
        return kernels.power_ratio_db_array(signal, interference)

    def gain_for_ratio_array(self, signal: Array, interference: Array, ratio_db: Any) -> Array:
        """`gain_for_ratio` as a 0-d array (``ratio_db`` a number or an array)."""
        return kernels.db_to_gain_array(self.ratio_db_array(signal, interference) - ratio_db)

    def speech_level_dbfs_array(self, image: Array, span: Any) -> Array:
        """`speech_level_dbfs` as a 0-d array (a mask ``span`` is summed over, not indexed by)."""
        if isinstance(span, slice):
            return kernels.rms_dbfs_array(image[0, span])
        return kernels.masked_rms_dbfs_array(image[0], span)

    def gain_for_level_array(self, image: Array, span: Any, level_dbfs: Any) -> Array:
        """`gain_for_level` as a 0-d array."""
        return kernels.db_to_gain_array(level_dbfs - self.speech_level_dbfs_array(image, span))

    def ratio_from_levels_db(self, signal_dbfs: float, interference_dbfs: float) -> float | None:
        """The ratio of two signals from their written ``<role>_dbfs`` labels (RMS over all samples
        of equally long signals), or None when this definition cannot tell it from them."""
        return signal_dbfs - interference_dbfs


POWER = LevelDefinition(
    "power",
    snr_db_text="10*log10(sum(speech^2) / sum(noise^2)) over all samples of the written files, speech = mix - noise (the clean image(s))",
    speech_level_text="RMS of the first talker's written image over the samples its utterance spans (the drawn level + gain_db)",
)
LEVEL_DEFINITIONS: dict[str, LevelDefinition] = {POWER.name: POWER}


def level_definition(name: str | None = None) -> LevelDefinition:
    """The definition registered as ``name`` (None: `DEFAULT_LEVEL_DEFINITION`); ValueError naming the known ones."""
    name = name or DEFAULT_LEVEL_DEFINITION
    try:
        return LEVEL_DEFINITIONS[name]
    except KeyError:
        raise ValueError(f"unknown level definition {name!r} (known: {', '.join(sorted(LEVEL_DEFINITIONS))})") from None


def scene_level_definition(scene: Any) -> LevelDefinition:
    """The definition a Scene (or a manifest row's ``scene`` dict) names, ``power`` when it names none."""
    name = scene.get("level_definition") if isinstance(scene, dict) else getattr(scene, "level_definition", None)
    return level_definition(name)
