"""Build configuration: a YAML file validated (pydantic v2) before any work starts.

Every random quantity is a ``[min, max]`` range; every error names the dotted field path
and the bad value, e.g. ``config.yaml: snr_db: min must be <= max (got [20.0, 5.0])``.
"""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError

if TYPE_CHECKING:
    from .plan.tasks import Task

SPLITS = ("train", "dev", "test")
Range = tuple[float, float]


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000  # Hz
MIN_DURATION_S = 0.05  # s: the shortest example or session (five 10 ms activity frames)
MAX_PAUSE_S = 60.0  # s: longest pause or overlap between two turns of a session


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_range(value: Range) -> Range:
    low, high = value
    if low > high:
        raise ValueError(f"min must be <= max (got [{low}, {high}])")
    return value


def _check_long_enough(value: Range) -> Range:
    if value[0] < MIN_DURATION_S:
        raise ValueError(f"must be >= {MIN_DURATION_S:g} s (got [{value[0]}, {value[1]}])")
    return value


def _check_talker_count(value: tuple[int, int]) -> tuple[int, int]:
    if not 1 <= value[0] <= value[1] <= 8:
        raise ValueError(f"must satisfy 1 <= min <= max <= 8 (got [{value[0]}, {value[1]}])")
    return value


class CatalogsConfig(_Model):
    """Catalog JSONL files to draw from; relative paths are relative to the config file."""

    speech: list[str] = Field(min_length=1)
    noise: list[str] = Field(default_factory=list)
    rirs: list[str] = Field(default_factory=list)
    text_norm: str | None = Field(
        None,
        description="one transcript normalization for every speech catalog: keep, librispeech or module:function, applied "
        "to each clip's original_text (else text); null: the texts as the catalogs hold them",
    )

    @field_validator("speech", "noise", "rirs", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, os.PathLike)) else value


class SplitsConfig(_Model):
    """Share of examples per split; speakers never cross splits. A speaker whose catalog clips
    declare a split keeps it (unless ``use_catalog_splits`` is false); the other speakers are
    partitioned by seed over the shares."""

    train: float = Field(0.8, ge=0, le=1)
    dev: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    disjoint_noise: bool = False
    disjoint_rirs: bool = False
    use_catalog_splits: bool = Field(True, description="false: ignore the catalogs' splits, partition every speaker by seed")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitsConfig:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + dev + test must be 1 (got {total:g})")
        return self

    def fractions(self) -> dict[str, float]:
        """Split name -> share of examples."""
        return {name: getattr(self, name) for name in SPLITS}


Point = tuple[float, float, float]


class ArrayConfig(_Model):
    """Microphones: one, a linear or circular array, or explicit offsets from the array centre (m).
    The array is placed at a random position and, with ``random_rotation``, a random azimuth."""

    type: Literal["single", "linear", "circular", "explicit"] = "single"
    num_mics: int = Field(4, ge=2, le=64)
    spacing_m: float = Field(0.05, gt=0)
    radius_m: float = Field(0.05, gt=0)
    positions_m: list[Point] | None = None
    random_rotation: bool = True

    @model_validator(mode="after")
    def _explicit_has_positions(self) -> ArrayConfig:
        if self.type == "explicit" and not self.positions_m:
            raise ValueError("reverb.room.array.positions_m: type 'explicit' needs a list of [x, y, z] offsets")
        return self


class RoomConfig(_Model):
    """Ranges for a simulated shoebox room (metres, seconds). Walls get the absorption that
    gives the drawn RT60, or, with ``wall_absorption``, each wall (and, with ``octave_bands``,
    each octave band of each wall) draws its own energy absorption coefficient."""

    length_m: Range = (3.0, 10.0)
    width_m: Range = (3.0, 8.0)
    height_m: Range = (2.4, 4.0)
    rt60_s: Range = (0.2, 1.0)
    distance_m: Range = (0.5, 3.0)
    wall_margin_m: float = Field(0.5, ge=0.1)
    source_height_m: Range = (1.2, 1.9)
    mic_height_m: Range = (0.8, 1.5)
    wall_absorption: Range | None = None
    octave_bands: bool = False
    array: ArrayConfig = Field(default_factory=ArrayConfig)

    _ranges = field_validator("length_m", "width_m", "height_m", "rt60_s", "distance_m", "source_height_m", "mic_height_m")(_check_range)

    @field_validator("wall_absorption")
    @classmethod
    def _absorption(cls, value: Range | None) -> Range | None:
        if value is not None and not (0 < value[0] <= value[1] < 1):
            raise ValueError(f"must satisfy 0 < min <= max < 1 (got [{value[0]}, {value[1]}])")
        return value

    @field_validator("length_m", "width_m", "height_m", "rt60_s", "distance_m")
    @classmethod
    def _positive(cls, value: Range) -> Range:
        if value[0] <= 0:
            raise ValueError(f"must be > 0 (got [{value[0]}, {value[1]}])")
        return value


class ReverbConfig(_Model):
    """Whether and how speech is reverberated."""

    probability: float = Field(0.0, ge=0, le=1)
    source: Literal["catalog", "simulated"] = "simulated"
    simulator: Literal["ism", "pyroomacoustics"] = "ism"
    early_s: float | None = Field(
        0.08, gt=0, le=1.0, description="image sources up to here (s, at most 1), a diffuse tail after (null: image sources only)"
    )
    room: RoomConfig = Field(default_factory=RoomConfig)
    num_channels: int | None = Field(
        None, ge=1, description="catalog RIRs: use only those with this many channels (null: all, which must agree)"
    )

    @model_validator(mode="after")
    def _channels_of_catalog_rirs(self) -> ReverbConfig:
        if self.num_channels is not None and self.source != "catalog":
            raise ValueError("num_channels chooses catalog RIRs, but source is 'simulated' (its channels are room.array's)")
        return self


class TargetsConfig(_Model):
    """Dereverberation targets written for reverberant examples (they do not sum to the mixture)."""

    direct: bool = True
    early: bool = True
    dry: bool = False
    early_ms: float = Field(50.0, gt=0, description="direct path plus reflections up to this long after it")


class TalkersConfig(_Model):
    """Several talkers per example (separation, target speaker, multi-talker ASR).

    ``count`` talkers, each a different speaker of the example's split; talker k > 1 is scaled
    so that Σ s1² / Σ sk² is drawn from ``sir_db``. ``overlap``: ``max`` (the example lasts as
    long as the longest utterance, the others at random onsets in it), ``min`` (every
    utterance cropped to the shortest: fully overlapped) or ``ratio`` (utterances one after
    the other, overlapping so that overlapped time / speech time is drawn from ``overlap_ratio``).
    ``enrollment`` writes another utterance of talker 1's speaker as the ``enrollment`` role."""

    count: tuple[int, int] = (1, 1)
    sir_db: Range = (-5.0, 5.0)
    overlap: Literal["max", "min", "ratio"] = "max"
    overlap_ratio: Range = (0.2, 0.5)
    enrollment: bool = False
    enrollment_dbfs: float = Field(-25.0, le=0)

    _ranges = field_validator("sir_db", "overlap_ratio")(_check_range)

    _count = field_validator("count")(_check_talker_count)

    @field_validator("overlap_ratio")
    @classmethod
    def _ratio(cls, value: Range) -> Range:
        if not 0 <= value[0] <= value[1] <= 0.5:
            raise ValueError(f"must lie in [0, 0.5] (got [{value[0]}, {value[1]}])")
        return value


class SessionConfig(_Model):
    """Long conversations for diarization (``task: diarization``), in the spirit of NeMo's speech
    data simulator: turns of ``speakers`` talkers until ``duration_s``; the next turn goes to
    another talker with ``switch_probability``; it overlaps the previous turn by ``overlap_s``
    with ``overlap_probability``, else follows it after a pause drawn from ``pause_s``.
    Activity (RTTM) is measured on each talker's written image in 10 ms frames: active where
    the frame level is within ``activity_db`` of the talker's loudest frame."""

    speakers: tuple[int, int] = (2, 4)
    duration_s: Range = (60.0, 120.0)
    switch_probability: float = Field(0.8, ge=0, le=1)
    overlap_probability: float = Field(0.15, ge=0, le=1)
    overlap_s: Range = (0.2, 1.0)
    pause_s: Range = (0.1, 1.0)
    level_spread_db: float = Field(6.0, ge=0, description="talkers' levels differ by up to this much")
    activity_db: float = Field(-40.0, lt=0)

    _ranges = field_validator("duration_s", "overlap_s", "pause_s")(_check_range)

    _long_enough = field_validator("duration_s")(_check_long_enough)

    @field_validator("overlap_s", "pause_s")
    @classmethod
    def _turn_gap(cls, value: Range) -> Range:
        if not 0 <= value[0] <= value[1] <= MAX_PAUSE_S:
            raise ValueError(f"must satisfy 0 <= min <= max <= {MAX_PAUSE_S:g} s (got [{value[0]}, {value[1]}])")
        return value

    _speakers = field_validator("speakers")(_check_talker_count)


class OutputConfig(_Model):
    """How audio is written."""

    format: Literal["flac", "wav"] = "flac"
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_16"
    peak_dbfs: float = Field(-1.0, le=0, description="common gain keeps every written signal below this peak")
    shard_size: int = Field(100, ge=1, description="examples per shard (unit of work and resume)")

    @model_validator(mode="after")
    def _flac_is_integer(self) -> OutputConfig:
        if self.format == "flac" and self.subtype == "FLOAT":
            raise ValueError("FLAC cannot store FLOAT samples; use format: wav or subtype PCM_16/PCM_24")
        return self


class ChannelConfig(_Model):
    """Device and channel effects (`audiosynth.effects`). With ``probability``, an example gets a
    chain of ``steps`` (min, max) effects drawn by weight, without repeats, from ``effects``
    (name -> that effect's settings: its ranges and ``weight``), in the natural order of a capture
    path (``order: natural``: microphone, clipping, band, network) or a drawn one. Linear steps
    (response, band) colour every image and the noise; ``colour_targets`` colours the dereverberation
    targets too. Non-linear steps (clipping, packet loss) change the mixture, the difference written
    as the ``distortion`` role. ``splits`` gives a split a chain of its own (e.g. a test set of
    devices none of the training set has): each entry is a whole chain setting for that split.
    Off by default (and then left out of the config's dict)."""

    probability: float = Field(0.0, ge=0, le=1, description="share of examples with a device/channel chain")
    steps: tuple[int, int] = (1, 3)
    order: Literal["natural", "random"] = "natural"
    colour_targets: bool = False
    effects: dict[str, Any] = Field(default_factory=dict)
    splits: dict[str, ChannelConfig] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _step_counts(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"must satisfy 1 <= min <= max (got [{value[0]}, {value[1]}])")
        return value

    @field_validator("effects", mode="before")
    @classmethod
    def _known_effects(cls, value: Any) -> dict[str, Any]:
        from .effects import EffectSettings, effect

        if not isinstance(value, dict):
            raise ValueError(f"must map effect names to their settings (got {type(value).__name__})")
        out = {}
        for name, settings in value.items():
            known = effect(str(name))  # ValueError naming the registered effects
            if isinstance(settings, EffectSettings):
                out[str(name)] = settings
                continue
            try:
                out[str(name)] = known.settings.model_validate(settings or {})
            except ValidationError as err:  # named from the effect down: "clipping.below_peak_db: ..."
                first = err.errors()[0]
                where = ".".join(str(part) for part in (name, *first["loc"]))
                raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
        return out

    @model_validator(mode="after")
    def _effects_when_on(self) -> ChannelConfig:
        if self.probability > 0 and not self.effects:
            raise ValueError("probability > 0 needs at least one effect under channel.effects")
        nested = [name for name, chain in self.splits.items() if chain.splits]
        if nested:
            raise ValueError(f"splits.{nested[0]}: a split's chain cannot have splits of its own")
        return self

    def for_split(self, split: str) -> ChannelConfig:
        """The chain setting of ``split``: its own when ``splits`` names it, else this one."""
        return self.splits.get(split, self)

    def is_off(self) -> bool:
        return self == ChannelConfig()

    def is_on(self) -> bool:
        """Whether some split's examples may get a chain."""
        return self.probability > 0 or any(chain.probability > 0 for chain in self.splits.values())


class LimitsConfig(_Model):
    """Resource limits checked in pre-flight (they do not change what is built)."""

    max_example_memory_gb: float = Field(4.0, gt=0, description="refuse configs whose largest example needs more to render (GB)")


class Config(_Model):
    """A dataset build: its task, catalogs, sizes and every randomized quantity as a range.

    ``task`` names a registered task (`audiosynth.plan.tasks`: denoising, separation,
    target_speaker, asr, diarization, and any registered since), which checks the config too."""

    task: str = "denoising"
    catalogs: CatalogsConfig
    sample_rate: int = Field(16000, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)
    seed: int = Field(0, ge=0)
    num_examples: int = Field(100, ge=1)
    duration_s: Range = (3.0, 6.0)
    min_speech_ratio: float = Field(0.5, gt=0, le=1, description="speech covers at least this share of an example")
    snr_db: Range = (0.0, 20.0)
    speech_level_dbfs: Range = (-35.0, -15.0)
    require_text: bool = False
    allow_upsampling: bool = False
    talkers: TalkersConfig = Field(default_factory=TalkersConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)
    noise_probability: float = Field(1.0, ge=0, le=1, description="share of examples with background noise")
    noise_channels: Literal["reject", "downmix", "first", "random"] = Field(
        "reject", description="a multichannel noise clip: refused, its channels' mean, channel 0, or a channel drawn per example"
    )
    reverb: ReverbConfig = Field(default_factory=ReverbConfig)
    targets: TargetsConfig = Field(default_factory=TargetsConfig)
    backend: Literal["numpy", "torch"] = "numpy"
    device: Literal["cpu", "cuda"] = "cpu"
    splits: SplitsConfig = Field(default_factory=SplitsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    channel: ChannelConfig = Field(default_factory=ChannelConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    _ranges = field_validator("duration_s", "snr_db", "speech_level_dbfs")(_check_range)

    _long_enough = field_validator("duration_s")(_check_long_enough)

    @field_validator("task")
    @classmethod
    def _registered_task(cls, value: str) -> str:
        names = _task_names()
        if value not in names:
            raise ValueError(f"must be a registered task: {', '.join(names)}")
        return value

    @field_validator("speech_level_dbfs")
    @classmethod
    def _below_full_scale(cls, value: Range) -> Range:
        if value[1] > 0:
            raise ValueError(f"must be <= 0 dBFS (got [{value[0]}, {value[1]}])")
        return value

    @model_validator(mode="after")
    def _sources_exist(self) -> Config:
        if not self.catalogs.noise and self.noise_probability > 0:
            raise ValueError("catalogs.noise: noise_probability > 0 needs at least one noise catalog")
        _task(self.task).check_config(self)
        if self.reverb.probability > 0 and self.reverb.source == "catalog" and not self.catalogs.rirs:
            raise ValueError("catalogs.rirs: reverb.source is 'catalog' but no RIR catalog is given")
        array = self.reverb.room.array
        mics = 1 if array.type == "single" else len(array.positions_m or ()) if array.type == "explicit" else array.num_mics
        if self.output.format == "flac" and self.reverb.probability > 0 and mics > 8:
            raise ValueError(f"output.format: FLAC holds at most 8 channels, the array has {mics}; use format: wav")
        if self.device == "cuda" and self.backend != "torch":
            raise ValueError("device: 'cuda' needs backend: torch")
        unknown = sorted(set(self.channel.splits) - set(SPLITS))
        if unknown:
            raise ValueError(f"channel.splits: {unknown[0]!r} is not a split ({', '.join(SPLITS)})")
        if self.channel.is_on() and self.backend == "torch":
            raise ValueError("channel: device/channel effects render on the NumPy backend only (backend: torch does not run them yet)")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (ranges as lists); ``channel`` left out while off, so that configs
        without effects keep the dict (and fingerprint) they had before effects existed."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        if self.channel.is_off():
            del data["channel"]
        return data

    def fingerprint(self) -> str:
        """Stable hash of everything that determines the output bytes (``limits`` does not)."""
        data = {k: v for k, v in self.to_dict().items() if k != "limits"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def with_overrides(self, **changes: Any) -> Config:
        """A validated copy with top-level fields changed (``None`` values are ignored)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return config_from_dict(data)


def _task_names() -> tuple[str, ...]:
    """The registered task names. The registry is the planner's (each task is a planning piece,
    and the planner imports this module), so it is looked up when a config is validated."""
    from .plan.tasks import task_names

    return task_names()


def _task(name: str) -> Task:
    """The registered task ``name`` (see `_task_names`)."""
    from .plan.tasks import task_of

    return task_of(name)


MAX_MESSAGE_CHARS = 1500  # a config error is one line of at most about this many characters


def _format_errors(err: ValidationError, source: str, data: Any = None) -> str:
    """pydantic's errors as ONE line: ``source: field: message (got value)`` per distinct error,
    joined by ``; ``, each value cut (`_show`) and the whole bounded by `MAX_MESSAGE_CHARS`."""
    lines: list[str] = []
    for item in err.errors():
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "finite_number":  # NaN or Inf: name the field (not its element) and show it whole
            loc = item["loc"][:-1] if item["loc"] and isinstance(item["loc"][-1], int) else item["loc"]
            whole = _lookup(data, loc)
            bad = item.get("input")
            kind = "NaN" if isinstance(bad, float) and bad != bad else "Inf"
            line = f"{'.'.join(map(str, loc))}: {kind} is not allowed (got {_cut(_plain(whole))})"
        else:
            if not path and ": " in message:  # model-level checks name their own field first
                path, message = message.split(": ", 1)
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            got = item.get("input")
            got_text = "" if isinstance(got, dict) or "got " in message or not item["loc"] else f" (got {_show(got)})"
            line = f"{path}: {_cut(' '.join(message.split()))}{got_text}"
        if line not in lines:  # [inf, inf]: one line for the field, not one per element
            lines.append(line)
    text = f"{source}: {lines[0]}"
    for k, line in enumerate(lines[1:], start=1):
        if len(text) + len(line) + 2 > MAX_MESSAGE_CHARS:
            return f"{text}; and {len(lines) - k} more error(s)"
        text += f"; {line}"
    return text


def _cut(text: str, limit: int = 200) -> str:
    """``text`` cut to about ``limit`` characters (a 2 MB value must not make a 2 MB message)."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


def _show(value: Any, limit: int = 80) -> str:
    """A bounded ``repr`` of a raw config value: cheap even for an alias-expanded million-leaf list."""
    shower = reprlib.Repr()
    shower.maxstring, shower.maxother, shower.maxlist, shower.maxdict, shower.maxlevel = limit, limit, 10, 10, 4
    return _cut(shower.repr(value), limit)


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    """The value at ``loc`` in the raw config (None where it cannot be followed)."""
    for key in loc:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _plain(value: Any) -> str:
    """A raw config value as the message shows it (numbers as floats: ``[nan, 10.0]``)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def config_from_dict(data: dict[str, Any], base_dir: str | os.PathLike[str] | None = None, source: str = "config") -> Config:
    """Validate a config dict; relative catalog paths are resolved against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping (got {type(data).__name__})")
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, data)) from err
    if base_dir is None:
        return config
    base = Path(base_dir)

    def resolve(paths: list[str]) -> list[str]:  # realpath never raises on a symlink loop
        return [os.path.realpath(base / p) if not Path(p).is_absolute() else p for p in paths]

    catalogs = config.catalogs.model_copy(update={name: resolve(getattr(config.catalogs, name)) for name in ("speech", "noise", "rirs")})
    return config.model_copy(update={"catalogs": catalogs})


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config; errors name the file and the field path."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block forever
            raise ConfigError(f"{path}: not a regular file (a config is a YAML file)")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}{_yaml_problem(err)}") from err
    except RecursionError:  # yaml composes nested collections recursively
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    return config_from_dict(data, path.parent, str(path))


def _yaml_problem(err: yaml.YAMLError) -> str:
    """``: not valid YAML (problem at line L, column C)`` of a PyYAML error, on one line."""
    mark = getattr(err, "problem_mark", None)
    if isinstance(err, yaml.reader.ReaderError):  # a NUL or other control character
        problem = (
            f"unacceptable character #x{err.character:04x} at position {err.position}" if isinstance(err.character, int) else err.reason
        )
    else:
        problem = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f": not valid YAML ({_cut(' '.join(str(problem).split()))}{where})"
