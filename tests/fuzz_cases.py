"""Generated bad inputs for tests/test_fuzz.py: configs, catalogs, manifests, datasets, tar shards
and audio files, each a `Case` with a readable id and an explicit expectation.

Every case works in its own sandbox (`Box`)::

    ROOT/in/...          inputs (config, catalogs, a copied dataset): must be unchanged afterwards
    ROOT/secret/...      files outside every dataset that traversal payloads point at
    ROOT/a/b/out         the command's output folder (-o): the only place that may gain files
    ROOT/cwd             the working directory of the command

Traversal payloads are sized so that an escape lands inside ROOT (where the snapshot sees it).
Everything random is drawn from ``numpy.random.default_rng(FUZZ_SEED)`` per case id.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

FUZZ_SEED = 20261204
ESCAPE = "FUZZ_ESCAPE"  # the name every traversal payload tries to create


@dataclass
class Box:
    """One case's sandbox (see the module docstring) and the session fixtures it copies from."""

    root: Path
    fx: Any  # test_fuzz.Fixtures
    state: dict[str, Any] = field(default_factory=dict)  # what setup tells the case's check

    @property
    def inp(self) -> Path:
        return self.root / "in"

    @property
    def out(self) -> Path:
        return self.root / "a" / "b" / "out"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def secret(self) -> Path:
        return self.root / "secret"

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([FUZZ_SEED, zlib.crc32(name.encode())])


Names = tuple["str | tuple[str, ...]", ...]  # each entry must occur in the message; a tuple: any one of them


@dataclass(frozen=True)
class Case:
    """One generated bad input and what must happen.

    ``expect``:
      - ``error``: exit status 1, exactly one output line ``Error: ...`` that contains ``names``;
      - ``problems``: (validate) exit 1 with a report or an ``Error:`` line that contains ``names``;
      - ``reject``: exit 0, the bad input handled (``check`` says how: e.g. listed in a rejects file);
      - ``clean``: exit 0, or exit 1 with one ``Error:`` line; never a traceback or a hang;
      - ``ok``: exit 0 (a valid input, as a control);
      - ``raises``: (datasets) an AudiosynthError subclass whose one-line message contains ``names``;
      - ``items``: (datasets) every item is returned without an exception.
    Every case also asserts: no traceback, no hang, no file changed outside ``box.out``, no
    half-written (``.tmp``/``.partial``) file left in ``box.out``."""

    id: str
    setup: Callable[[Box], Any]  # returns argv (CLI cases) or a zero-argument callable (dataset cases)
    expect: str
    names: Names = ()
    check: Callable[[Box, Any], None] | None = None
    subprocess: bool = False  # run as a real process (memory limit, timeout, kill)
    protect_out: bool = False  # the output folder is a complete dataset: it must not change either
    timeout_s: float | None = None  # longer than the default for slow commands (report)


# --------------------------------------------------------------------------- small writers


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def wav_header(rate: int, channels: int, bits: int, data_bytes: int, fmt: int = 1) -> bytes:
    """A canonical 44-byte RIFF/WAVE header with whatever fields we like (lies included)."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )


def tone(seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A speech-like test signal ``(frames, channels)``: a few harmonics plus noise, under an envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 5)) + 0.3 * rng.standard_normal(t.size)
    x = 0.2 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def make_fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def make_loop(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.name, path)
    return path


def replace_path(path: Path) -> None:
    """Remove whatever is at ``path`` (file, link, FIFO or folder)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


BadFile = Callable[[Box, Path], None]  # writes a bad "audio file" at the given path


def _bad_garbage(box: Box, p: Path) -> None:
    p.write_bytes(box.rng(p.name).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _bad_truncated_flac(box: Box, p: Path) -> None:
    buf = io.BytesIO()
    sf.write(buf, tone(1.0), 16000, format="FLAC", subtype="PCM_16")
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _bad_nan(box: Box, p: Path) -> None:
    x = tone(2.0)
    x[len(x) // 2 :: 7] = np.nan
    sf.write(p, x, 16000, format="WAV", subtype="FLOAT")


def _bad_inf(box: Box, p: Path) -> None:
    x = tone(2.0)
    x[100] = np.inf
    sf.write(p, x, 16000, format="WAV", subtype="FLOAT")


def _bad_huge_claimed(box: Box, p: Path) -> None:
    p.write_bytes(wav_header(16000, 1, 16, 0x7FFFFFF0) + (tone(0.1) * 32767).astype("<i2").tobytes())


def _bad_rate_zero(box: Box, p: Path) -> None:
    p.write_bytes(wav_header(0, 1, 16, 32000) + (tone(1.0) * 32767).astype("<i2").tobytes())


def _bad_channels_zero(box: Box, p: Path) -> None:
    p.write_bytes(wav_header(16000, 0, 16, 32000) + bytes(32000))


def _bad_text(box: Box, p: Path) -> None:
    p.write_text("this is not audio\n" * 100)


#: Bad audio files by name (used in catalog rows, corpus folders and dataset folders).
BAD_AUDIO: dict[str, BadFile] = {
    "missing": lambda box, p: None,
    "zero-bytes": lambda box, p: p.write_bytes(b""),
    "garbage": _bad_garbage,
    "text": _bad_text,
    "riff-garbage": lambda box, p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 200),
    "riff-only": lambda box, p: p.write_bytes(b"RIFF\x04\x00\x00\x00WAVE"),
    "flac-garbage": lambda box, p: p.write_bytes(b"fLaC" + b"\x00\x01" * 300),
    "truncated-flac": _bad_truncated_flac,
    "huge-claimed-length": _bad_huge_claimed,
    "rate-zero": _bad_rate_zero,
    "channels-zero": _bad_channels_zero,
    "nan": _bad_nan,
    "inf": _bad_inf,
    "silent": lambda box, p: sf.write(p, np.zeros((32000, 1), np.float32), 16000, format="WAV", subtype="PCM_16"),
    "too-short": lambda box, p: sf.write(p, tone(0.001), 16000, format="WAV", subtype="PCM_16"),
    "wrong-rate": lambda box, p: sf.write(p, tone(2.0, 8000), 8000, format="WAV", subtype="PCM_16"),
    "stereo": lambda box, p: sf.write(p, tone(2.0, channels=2), 16000, format="WAV", subtype="PCM_16"),
    "directory": lambda box, p: p.mkdir(),
    "fifo": lambda box, p: make_fifo(p) and None,
    "symlink-loop": lambda box, p: make_loop(p) and None,
    "dangling-symlink": lambda box, p: os.symlink(p.parent / "nowhere.wav", p),
    "dev-zero": lambda box, p: os.symlink("/dev/zero", p),
}


def bad_audio(box: Box, kind: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    BAD_AUDIO[kind](box, path)
    return path


# --------------------------------------------------------------------------- configs (build)


def base_config(box: Box, **catalogs: str) -> dict[str, Any]:
    """A valid small denoising config over catalogs copied into ``box.inp`` (relative paths)."""
    names = {"speech": "speech.jsonl", "noise": "noise.jsonl", "rirs": "rirs.jsonl", **catalogs}
    for kind, name in names.items():
        target = box.inp / name
        if not target.exists() and not target.is_symlink():
            write_jsonl(target, box.fx.catalog_rows[kind])
    return {
        "catalogs": dict(names),
        "num_examples": 2,
        "duration_s": [1.0, 1.5],
        "snr_db": [0.0, 10.0],
        "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
        "output": {"shard_size": 2},
    }


def set_path(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``data`` with the dotted field set (intermediate mappings created); value ``DELETE`` removes it."""
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return data


DELETE = object()
NAN, INF = float("nan"), float("inf")


def build_argv(box: Box, config: Path, *extra: str, dry_run: bool = True) -> list[str]:
    return ["build", str(config), "-o", str(box.out), "--workers", "1", "--no-progress", *(["--dry-run"] if dry_run else []), *extra]


def config_case(
    name: str, changes: dict[str, Any], names: Names, expect: str = "error", subprocess: bool = False, extra: tuple[str, ...] = ()
) -> Case:
    def setup(box: Box) -> list[str]:
        data = base_config(box)
        for dotted, value in changes.items():
            set_path(data, dotted, value)
        return build_argv(box, write_yaml(box.inp / "fuzz.yaml", data), *extra)

    return Case(f"config-{name}", setup, expect, names, subprocess=subprocess)


def raw_config_case(
    name: str, content: bytes | Callable[[Box], bytes], names: Names, expect: str = "error", subprocess: bool = False
) -> Case:
    def setup(box: Box) -> list[str]:
        base_config(box)
        path = box.inp / "fuzz.yaml"
        path.write_bytes(content(box) if callable(content) else content)
        return build_argv(box, path)

    return Case(f"config-{name}", setup, expect, names, subprocess=subprocess)


def _alias_bomb(box: Box) -> bytes:
    """YAML aliases: a few lines that expand to a million-leaf list (under an unknown key)."""
    lines = ["bomb0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"bomb{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 6)]
    return (_base_yaml(box) + "\n".join(lines) + "\n").encode()


def _base_yaml(box: Box) -> str:
    return yaml.safe_dump(base_config(box), sort_keys=False)


F = "fuzz.yaml"


def config_cases() -> list[Case]:
    c: list[Case] = []
    typed = [  # (id, dotted field, bad value)
        ("num-examples-string", "num_examples", "ten"),
        ("num-examples-zero", "num_examples", 0),
        ("num-examples-negative", "num_examples", -3),
        ("num-examples-float", "num_examples", 1.5),
        ("num-examples-list", "num_examples", [1]),
        ("num-examples-null", "num_examples", None),
        ("sample-rate-string", "sample_rate", "16k"),
        ("sample-rate-zero", "sample_rate", 0),
        ("sample-rate-negative", "sample_rate", -16000),
        ("sample-rate-float", "sample_rate", 16000.5),
        ("seed-negative", "seed", -1),
        ("seed-string", "seed", "abc"),
        ("seed-float", "seed", 1.5),
        ("duration-string", "duration_s", "3"),
        ("duration-one-value", "duration_s", [1.0]),
        ("duration-three-values", "duration_s", [1.0, 2.0, 3.0]),
        ("duration-inverted", "duration_s", [2.0, 1.0]),
        ("duration-zero", "duration_s", [0.0, 1.0]),
        ("duration-negative", "duration_s", [-1.0, 1.0]),
        ("duration-nan", "duration_s", [NAN, 1.0]),
        ("duration-inf", "duration_s", [1.0, INF]),
        ("nan-snr", "snr_db", [NAN, 5.0]),
        ("snr-inverted", "snr_db", [20.0, 5.0]),
        ("snr-inf", "snr_db", [INF, INF]),
        ("snr-minus-inf", "snr_db", [-INF, 0.0]),
        ("snr-string-item", "snr_db", ["a", 5]),
        ("snr-scalar", "snr_db", 5),
        ("snr-mapping", "snr_db", {"min": 0, "max": 5}),
        ("level-above-full-scale", "speech_level_dbfs", [-10.0, 10.0]),
        ("level-nan", "speech_level_dbfs", [NAN, -10.0]),
        ("min-speech-ratio-zero", "min_speech_ratio", 0),
        ("min-speech-ratio-two", "min_speech_ratio", 2),
        ("min-speech-ratio-nan", "min_speech_ratio", NAN),
        ("noise-probability-two", "noise_probability", 2),
        ("noise-probability-negative", "noise_probability", -1),
        ("noise-probability-nan", "noise_probability", NAN),
        ("noise-probability-string", "noise_probability", "yes"),
        ("reverb-probability-high", "reverb.probability", 1.5),
        ("reverb-probability-nan", "reverb.probability", NAN),
        ("reverb-source-bogus", "reverb.source", "bogus"),
        ("reverb-simulator-bogus", "reverb.simulator", "bogus"),
        ("early-s-negative", "reverb.early_s", -1),
        ("early-s-zero", "reverb.early_s", 0),
        ("rt60-inverted", "reverb.room.rt60_s", [1.0, 0.2]),
        ("rt60-zero", "reverb.room.rt60_s", [0.0, 1.0]),
        ("rt60-nan", "reverb.room.rt60_s", [NAN, 1.0]),
        ("wall-margin-zero", "reverb.room.wall_margin_m", 0),
        ("wall-absorption-bounds", "reverb.room.wall_absorption", [0.0, 1.0]),
        ("wall-absorption-inverted", "reverb.room.wall_absorption", [0.9, 0.1]),
        ("array-explicit-no-positions", "reverb.room.array", {"type": "explicit"}),
        ("array-zero-mics", "reverb.room.array", {"type": "linear", "num_mics": 0}),
        ("array-negative-spacing", "reverb.room.array", {"type": "linear", "spacing_m": -1}),
        ("array-type-bogus", "reverb.room.array", {"type": "sphere"}),
        ("array-positions-garbage", "reverb.room.array", {"type": "explicit", "positions_m": [[1, 2]]}),
        ("early-ms-zero", "targets.early_ms", 0),
        ("targets-direct-string", "targets.direct", "sometimes"),
        ("talkers-count-zero", "talkers.count", [0, 1]),
        ("talkers-count-nine", "talkers.count", [9, 9]),
        ("talkers-count-inverted", "talkers.count", [3, 2]),
        ("overlap-ratio-high", "talkers.overlap_ratio", [0.6, 0.7]),
        ("overlap-mode-bogus", "talkers.overlap", "bogus"),
        ("sir-nan", "talkers.sir_db", [NAN, 0.0]),
        ("task-bogus", "task", "bogus"),
        ("session-speakers-zero", "session.speakers", [0, 2]),
        ("session-activity-zero", "session.activity_db", 0),
        ("session-overlap-inverted", "session.overlap_s", [2.0, 1.0]),
        ("shard-size-zero", "output.shard_size", 0),
        ("output-format-mp3", "output.format", "mp3"),
        ("flac-float", "output.subtype", "FLOAT"),
        ("peak-above-zero", "output.peak_dbfs", 5),
        ("peak-nan", "output.peak_dbfs", NAN),
        ("splits-sum", "splits", {"train": 0.5, "dev": 0.1, "test": 0.1}),
        ("splits-negative", "splits.train", -1.0),
        ("splits-nan", "splits.train", NAN),
        ("backend-bogus", "backend", "jax"),
        ("cuda-without-torch", "device", "cuda"),
        ("unknown-top-level-key", "snr", [0, 5]),
        ("unknown-nested-key", "reverb.room.colour", "blue"),
        ("misspelled-key", "num_example", 2),
    ]
    for name, dotted, value in typed:
        field_name = dotted if dotted not in ("reverb.room.array",) else "array"
        if name == "cuda-without-torch":
            field_name = "device"
        c.append(config_case(name, {dotted: value}, (F, field_name.split(".")[-1])))
    # the catalogs section
    c += [
        config_case("catalogs-missing", {"catalogs": DELETE}, (F, "catalogs")),
        config_case("catalogs-null", {"catalogs": None}, (F, "catalogs")),
        config_case("catalogs-speech-empty-list", {"catalogs.speech": []}, (F, "speech")),
        config_case("catalogs-speech-int", {"catalogs.speech": 123}, (F, "speech")),
        config_case("catalogs-speech-missing-file", {"catalogs.speech": "nope.jsonl"}, ("nope.jsonl",)),
        config_case("catalogs-noise-empty-with-noise", {"catalogs.noise": []}, (F, "noise")),
        config_case(
            "catalogs-rirs-missing-with-reverb", {"catalogs.rirs": [], "reverb": {"probability": 1.0, "source": "catalog"}}, (F, "rirs")
        ),
        config_case("catalogs-speech-is-noise-catalog", {"catalogs.speech": "noise.jsonl"}, ("speech", "noise")),
    ]
    for name, make in (
        ("directory", lambda p: p.mkdir()),
        ("fifo", make_fifo),
        ("symlink-loop", make_loop),
        ("garbage", lambda p: p.write_bytes(bytes(range(256)) * 8)),
        ("empty", lambda p: p.write_bytes(b"")),
        ("non-utf8", lambda p: p.write_bytes(b'{"id": "\xff\xfe"}\n')),
    ):

        def setup(box: Box, make=make, name=name) -> list[str]:
            data = base_config(box)
            make(box.inp / f"odd-{name}.jsonl")
            data["catalogs"]["speech"] = f"odd-{name}.jsonl"
            return build_argv(box, write_yaml(box.inp / F, data))

        c.append(Case(f"config-catalogs-speech-{name}", setup, "error", (f"odd-{name}.jsonl",)))
    # the YAML file itself
    c += [
        raw_config_case("empty-file", b"", (F,)),
        raw_config_case("only-comments", b"# nothing here\n", (F,)),
        raw_config_case("yaml-list", b"- 1\n- 2\n", (F,)),
        raw_config_case("yaml-scalar", b"42\n", (F,)),
        raw_config_case("non-utf8", lambda box: _base_yaml(box).encode() + b"\n# caf\xe9 \xff\xfe\n", (F,)),
        raw_config_case("non-utf8-key", lambda box: _base_yaml(box).encode() + b"\n\xff\xfe: 1\n", (F,)),
        raw_config_case("syntax-error", lambda box: _base_yaml(box).encode() + b"\nsnr_db: [1, 2\n", (F,)),
        raw_config_case("tab-indent", lambda box: _base_yaml(box).encode() + b"\nreverb:\n\tprobability: 1\n", (F,)),
        raw_config_case("nul-byte", lambda box: _base_yaml(box).encode() + b"\nseed: 1\x00\n", (F,)),
        raw_config_case("python-tag", lambda box: _base_yaml(box).encode() + b"\nx: !!python/object/apply:os.system ['true']\n", (F,)),
        raw_config_case("deep-nested-list", lambda box: _base_yaml(box).encode() + b"\nx: " + b"[" * 20000 + b"]" * 20000 + b"\n", (F,)),
        raw_config_case(
            "deep-nested-mapping", lambda box: _base_yaml(box).encode() + b"\nx: " + b"{a: " * 20000 + b"1" + b"}" * 20000 + b"\n", (F,)
        ),
        raw_config_case("alias-bomb", _alias_bomb, (F,), subprocess=True),
        raw_config_case("huge-string-value", lambda box: _base_yaml(box).encode() + b"\nx: " + b"y" * 2_000_000 + b"\n", (F, "x")),
        raw_config_case("bom-prefixed", lambda box: b"\xef\xbb\xbf" + _base_yaml(box).encode(), (F,), expect="clean"),
        raw_config_case("duplicate-keys", lambda box: _base_yaml(box).encode() + b"\nseed: 1\nseed: 2\n", (F, "seed"), expect="clean"),
    ]
    # command-line overrides
    c += [
        config_case("override-num-examples-zero", {}, ("num_examples",), extra=("--num-examples", "0")),
        config_case("override-num-examples-negative", {}, ("num_examples",), extra=("--num-examples", "-5")),
        config_case("override-seed-negative", {}, ("seed",), extra=("--seed", "-1")),
    ]
    # absurd sizes: refused in pre-flight (with the cost) or bounded; run as processes under a memory limit
    c += [
        config_case("sample-rate-huge", {"sample_rate": 1_000_000_000}, ("sample_rate",), subprocess=True),
        config_case("sample-rate-tiny", {"sample_rate": 100}, ("sample_rate",), expect="clean", subprocess=True),
        config_case("duration-huge", {"duration_s": [1e6, 1e6]}, (("duration_s", "shorter_than"),), subprocess=True),
        config_case("duration-tiny", {"duration_s": [1e-6, 1e-6]}, ("duration_s",), expect="clean", subprocess=True),
        config_case("early-s-huge", {"reverb": {"probability": 1.0, "early_s": 1000}}, ("early_s",), subprocess=True),
        config_case(
            "rt60-huge", {"reverb": {"probability": 1.0, "room": {"rt60_s": [50.0, 50.0]}}}, ("rt60_s",), expect="clean", subprocess=True
        ),
        config_case(
            "room-tiny",
            {"reverb": {"probability": 1.0, "room": {"length_m": [0.1, 0.1], "width_m": [0.1, 0.1]}}},
            ("room",),
            subprocess=True,
        ),
        config_case(
            "room-distance-impossible",
            {"reverb": {"probability": 1.0, "room": {"distance_m": [100.0, 100.0]}}},
            ("distance_m",),
            subprocess=True,
        ),
        config_case(
            "room-source-above-ceiling",
            {"reverb": {"probability": 1.0, "room": {"source_height_m": [10.0, 10.0]}}},
            (("source_height_m", "reverb.room"),),
            subprocess=True,
        ),
        config_case(
            "array-thousand-mics",
            {"reverb": {"probability": 1.0, "room": {"array": {"type": "linear", "num_mics": 1000}}}, "output.format": "wav"},
            ("num_mics",),
            subprocess=True,
        ),
        config_case(
            "session-pause-huge",
            {"task": "diarization", "session": {"speakers": [2, 2], "pause_s": [1e5, 1e5], "duration_s": [10.0, 20.0]}},
            ("pause_s",),
            subprocess=True,
        ),
        config_case(
            "session-ten-hours",
            {"task": "diarization", "session": {"speakers": [2, 2], "duration_s": [36000.0, 36000.0]}},
            ("duration_s",),
            expect="clean",
            subprocess=True,
        ),
        config_case("num-examples-huge", {"num_examples": 10**12}, ("num_examples",), expect="clean", subprocess=True),
        config_case("shard-size-huge", {"output.shard_size": 10**15}, ("shard_size",), expect="clean", subprocess=True),
    ]
    # the output folder
    c += output_folder_cases()
    return c


def output_folder_cases() -> list[Case]:
    def nonempty(box: Box) -> list[str]:
        box.out.mkdir(parents=True)
        (box.out / "thesis.tex").write_text("years of work\n")
        return build_argv(box, write_yaml(box.inp / F, base_config(box)), dry_run=False)

    def complete(seed: int | None, drop: tuple[str, ...] = (), build_json: bytes | None = None) -> Callable[[Box], list[str]]:
        def setup(box: Box) -> list[str]:
            shutil.copytree(box.fx.folder, box.out, symlinks=True)
            for name in drop:
                (box.out / name).unlink()
            if build_json is not None:
                (box.out / "build.json").write_bytes(build_json)
            config = write_yaml(box.inp / F, box.fx.folder_config)
            return build_argv(box, config, *(["--seed", str(seed)] if seed is not None else []), dry_run=False)

        return setup

    return [
        Case("build-out-nonempty-not-a-dataset", nonempty, "error", (("out",),), protect_out=True),
        Case("build-out-complete-same-config", complete(None), "ok", protect_out=True),
        Case("build-out-complete-other-seed", complete(5), "error", ("build.json", "seed"), protect_out=True),
        Case("build-out-build-json-garbage", complete(None, build_json=b"{not json"), "error", ("build.json",), protect_out=True),
        Case("build-out-build-json-list", complete(None, build_json=b"[1, 2]"), "error", ("build.json",), protect_out=True),
        # "written by config": the wording of the shards' fingerprint check ("shards/00000.jsonl:
        # written by config <fp>, this build is <fp>"), which names the config by its fingerprint
        Case(
            "build-resume-deleted-build-json-other-seed",
            complete(5, drop=("build.json",)),
            "error",
            (("fingerprint", "another config", "other config", "seed", "written by config"),),
            protect_out=True,
        ),
    ]


# --------------------------------------------------------------------------- catalogs (JSONL)

S = "speech.jsonl"


def catalog_text_case(
    name: str, edit: Callable[[Box, list[str]], list[str] | bytes], names: Names, expect: str = "error", subprocess: bool = False
) -> Case:
    """A build (dry run) over a speech catalog whose JSONL lines ``edit`` rewrote."""

    def setup(box: Box) -> list[str]:
        data = base_config(box)
        path = box.inp / S
        lines = path.read_text(encoding="utf-8").splitlines()
        new = edit(box, lines)
        path.write_bytes(new if isinstance(new, bytes) else ("\n".join(new) + "\n").encode("utf-8", "surrogateescape"))
        return build_argv(box, write_yaml(box.inp / F, data))

    return Case(f"catalog-{name}", setup, expect, names, subprocess=subprocess)


def _set_line(n: int, text: str | Callable[[str], str]) -> Callable[[Box, list[str]], list[str]]:
    def edit(box: Box, lines: list[str]) -> list[str]:
        lines[n - 1] = text(lines[n - 1]) if callable(text) else text
        return lines

    return edit


def _row_edit(n: int, change: Callable[[dict[str, Any]], None]) -> Callable[[Box, list[str]], list[str]]:
    def edit(box: Box, lines: list[str]) -> list[str]:
        row = json.loads(lines[n - 1])
        change(row)
        lines[n - 1] = json.dumps(row)
        return lines

    return edit


def _setter(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(row: dict[str, Any]) -> None:
        if value is DELETE:
            row.pop(key)
        else:
            row[key] = value

    return change


def catalog_cases() -> list[Case]:
    c: list[Case] = [
        catalog_text_case("truncated-last-line", lambda box, lines: [*lines[:-1], lines[-1][: len(lines[-1]) // 2]], (S, ":6")),
        catalog_text_case("garbage-line", lambda box, lines: [*lines[:2], "}{ not json", *lines[2:]], (S, ":3")),
        catalog_text_case("row-is-array", _set_line(2, "[1, 2, 3]"), (S, ":2")),
        catalog_text_case("row-is-string", _set_line(2, '"spk0-1"'), (S, ":2")),
        catalog_text_case("row-is-number", _set_line(2, "7"), (S, ":2")),
        catalog_text_case("row-is-null", _set_line(2, "null"), (S, ":2")),
        catalog_text_case("empty-file", lambda box, lines: b"", (S,)),
        catalog_text_case("blank-lines-only", lambda box, lines: b"\n\n   \n", (S,)),
        catalog_text_case("non-utf8-line", _set_line(3, lambda line: line.replace("spk", "sp\udcffk")), (S, ":3")),
        catalog_text_case("bom-first-line", lambda box, lines: ("\ufeff" + "\n".join(lines) + "\n").encode(), (S,), expect="clean"),
        catalog_text_case("deep-nested-row", _set_line(2, '{"id": ' + "[" * 100000 + "]" * 100000 + "}"), (S, ":2")),
        catalog_text_case("huge-garbage-line", lambda box, lines: [*lines[:1], "x" * 5_000_000, *lines[1:]], (S, ":2")),
        catalog_text_case("huge-text-field", _row_edit(1, _setter("text", "WORD " * 200_000)), (S,), expect="clean"),
        catalog_text_case("long-id", _row_edit(1, _setter("id", "i" * 100_000)), (S, "id"), expect="clean"),
        catalog_text_case("id-with-newline", _row_edit(1, _setter("id", "spk0-0\nrm -rf |")), (S, "id"), expect="clean"),
        catalog_text_case("id-traversal", _row_edit(1, _setter("id", "../../../" + ESCAPE)), (S, "id"), expect="clean"),
        catalog_text_case("duplicate-id", lambda box, lines: [*lines, lines[0]], (S, "spk0-0")),
        catalog_text_case("duration-huge", _row_edit(1, _setter("duration", 1e12)), (S, "duration"), expect="clean"),
        catalog_text_case("sample-rate-huge", _row_edit(1, _setter("sample_rate", 10**12)), (S, "sample_rate"), expect="clean"),
        catalog_text_case("num-channels-huge", _row_edit(1, _setter("num_channels", 1000)), (S, "num_channels"), expect="clean"),
    ]
    # a nan duration must be written as the bare NaN token Python's json accepts
    c.append(
        catalog_text_case(
            "duration-nan", _set_line(1, lambda line: json.dumps({**json.loads(line), "duration": NAN})), (S, ":1", "duration")
        )
    )
    c.append(
        catalog_text_case(
            "duration-inf", _set_line(1, lambda line: json.dumps({**json.loads(line), "duration": INF})), (S, ":1", "duration")
        )
    )
    for key in ("id", "path", "kind", "duration", "sample_rate", "num_channels"):
        c.append(catalog_text_case(f"missing-{key.replace('_', '-')}", _row_edit(1, _setter(key, DELETE)), (S, ":1", key)))
    wrong = [
        ("id-int", "id", 5),
        ("id-empty", "id", ""),
        ("path-int", "path", 5),
        ("path-empty", "path", ""),
        ("path-list", "path", ["a.flac"]),
        ("kind-music", "kind", "music"),
        ("duration-string", "duration", "1.5"),
        ("duration-negative", "duration", -1.0),
        ("duration-zero", "duration", 0),
        ("duration-bool", "duration", True),
        ("sample-rate-zero", "sample_rate", 0),
        ("sample-rate-float", "sample_rate", 16000.5),
        ("sample-rate-string", "sample_rate", "16000"),
        ("sample-rate-bool", "sample_rate", True),
        ("num-channels-zero", "num_channels", 0),
        ("tags-string", "tags", "a,b"),
        ("tags-ints", "tags", [1, 2]),
        ("speaker-int", "speaker", 7),
        ("speaker-list", "speaker", ["spk0"]),
        ("text-int", "text", 5),
        ("gender-dict", "gender", {"x": 1}),
        ("split-bogus", "split", "validation"),
        ("split-int", "split", 3),
        ("unknown-field", "colour", "blue"),
    ]
    for name, key, value in wrong:
        # a split that is a string but not train/dev/test is a valid row (use_catalog_splits: false ignores it):
        # the pre-flight refusal names the catalog and the clip's id instead of the line
        where = (":1", "spk0-0") if name == "split-bogus" else ":1"
        c.append(catalog_text_case(name, _row_edit(1, _setter(key, value)), (S, where, key)))
    c.append(
        catalog_text_case(
            "duplicate-id-across-catalogs",
            lambda box, lines: [lines[0].replace('"spk0-0"', '"noise0"'), *lines[1:]],
            ("noise0",),
            expect="clean",
        )
    )
    c += render_time_catalog_cases()
    return c


RENDER_BAD = (
    "missing",
    "directory",
    "fifo",
    "symlink-loop",
    "dangling-symlink",
    "dev-zero",
    "text",
    "zero-bytes",
    "garbage",
    "truncated-flac",
    "nan",
    "silent",
    "wrong-rate",
    "stereo",
    "huge-claimed-length",
)


def _bad_catalog(box: Box, kind: str, bad: str, how_many: str) -> list[str]:
    """Catalog rows of ``kind`` with some (one clip per speaker, or every other noise) or all rows
    pointing at a bad file; returns the ids of the bad rows."""
    rows = copy.deepcopy(box.fx.catalog_rows[kind])
    ids = []
    for k, row in enumerate(rows):
        if how_many == "all" or k % 2 == 0:
            path = bad_audio(box, bad, box.inp / "bad" / f"{kind}-{k}-{bad}.wav")
            row["path"] = str(path)
            ids.append(row["id"])
    write_jsonl(box.inp / f"{kind}.jsonl", rows)
    return ids


def render_time_catalog_cases() -> list[Case]:
    """Catalog rows whose audio is bad: a real build rejects the clips (and still completes) or,
    when every clip is bad, refuses in one line."""
    cases = []

    def check_rejected(kind: str) -> Callable[[Box, Any], None]:
        def check(box: Box, result: Any) -> None:
            bad = set(box.state["bad_ids"])
            manifest = [json.loads(line) for line in (box.out / "manifest.jsonl").read_text().splitlines()]
            used = {r["labels"].get("speech_clip") for r in manifest} | {r["labels"].get("noise_clip") for r in manifest}
            assert not used & bad, f"a bad clip was used in the dataset instead of rejected: {sorted(used & bad)}"
            rejects = box.out / "rejects.jsonl"
            assert rejects.is_file(), f"no rejects.jsonl, and none of the bad clips {sorted(bad)} drawn (the case must draw one)"
            rows = [json.loads(line) for line in rejects.read_text().splitlines() if line.strip()]
            assert bad & {r.get("clip") for r in rows}, f"rejects.jsonl does not name any of the bad clips {sorted(bad)}: {rows}"

        return check

    for kind, bads in (("speech", RENDER_BAD), ("noise", ("fifo", "garbage", "nan", "silent", "wrong-rate", "missing"))):
        for bad in bads:

            def some(box: Box, kind=kind, bad=bad) -> list[str]:
                data = base_config(box)
                data["num_examples"] = 4
                box.state["bad_ids"] = _bad_catalog(box, kind, bad, "some")
                return build_argv(box, write_yaml(box.inp / F, data), dry_run=False)

            cases.append(Case(f"catalog-{kind}-some-{bad}", some, "reject", check=check_rejected(kind)))
    for bad in ("missing", "fifo", "garbage", "nan", "symlink-loop", "silent"):

        def every(box: Box, bad=bad) -> list[str]:
            data = base_config(box)
            box.state["bad_ids"] = _bad_catalog(box, "speech", bad, "all")
            return build_argv(box, write_yaml(box.inp / F, data), dry_run=False)

        cases.append(Case(f"catalog-speech-all-{bad}", every, "error", (("spk0-0", "speech"),)))
    # RIRs that cannot be used: a reject with its reason, or a one-line refusal naming the clip
    for name, make in (
        ("rir-all-zeros", lambda: np.zeros(8000, np.float32)),
        ("rir-single-impulse", lambda: np.eye(1, 8000)[0]),
        ("rir-nan", lambda: np.full(8000, np.nan)),
    ):

        def rir(box: Box, make=make, name=name) -> list[str]:
            data = base_config(box)
            data["reverb"] = {"probability": 1.0, "source": "catalog"}
            path = box.inp / "bad" / f"{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, np.asarray(make(), np.float32), 16000, subtype="FLOAT")
            rows = [{"id": name, "path": str(path), "kind": "rir", "duration": 0.5, "sample_rate": 16000, "num_channels": 1}]
            write_jsonl(box.inp / "rirs.jsonl", rows)
            data["num_examples"] = 4
            return build_argv(box, write_yaml(box.inp / F, data), dry_run=False)

        cases.append(Case(f"catalog-{name}", rir, "handled", (name,)))
    return cases


# --------------------------------------------------------------------------- audio files for `catalog`


def corpus_case(
    name: str,
    make: Callable[[Box, Path], None],
    expect: str = "reject",
    names: Names = (),
    layout: tuple[str, ...] = ("folder",),
    check: Callable[[Box, Any], None] | None = None,
    subprocess: bool = False,
) -> Case:
    """``catalog folder CORPUS --kind speech`` over two good files plus what ``make`` adds."""

    def setup(box: Box) -> list[str]:
        corpus = box.inp / "corpus"
        (corpus / "spk").mkdir(parents=True)
        for k in range(2):
            sf.write(corpus / "spk" / f"good{k}.wav", tone(1.0, seed=k)[:, 0], 16000, subtype="PCM_16")
        make(box, corpus)
        return ["catalog", *layout, str(corpus), "--kind", "speech", "-o", str(box.out / "speech.jsonl"), "--workers", "1"]

    return Case(f"audio-{name}", setup, expect, names, check=check or (_one_reject if expect == "reject" else None), subprocess=subprocess)


def _catalog_rows(box: Box) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (box.out / "speech.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def _one_reject(box: Box, result: Any) -> None:
    from audiosynth.corpora import REJECT_REASONS

    rows = _catalog_rows(box)
    assert sorted(Path(r["path"]).name for r in rows) == ["good0.wav", "good1.wav"], f"catalog rows: {[r['path'] for r in rows]}"
    rejects_path = box.out / "speech.rejects.jsonl"
    assert rejects_path.is_file(), "no rejects file"
    rejects = [json.loads(line) for line in rejects_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rejects) == 1 and rejects[0]["reason"] in REJECT_REASONS, f"rejects: {rejects}"
    assert box.state["bad_name"] in rejects[0]["path"], f"the reject does not name {box.state['bad_name']}: {rejects}"


def _bad_in_corpus(kind: str, filename: str) -> Callable[[Box, Path], None]:
    def make(box: Box, corpus: Path) -> None:
        box.state["bad_name"] = filename
        bad_audio(box, kind, corpus / "spk" / filename)

    return make


def audio_cases() -> list[Case]:
    c = []
    kinds = [k for k in BAD_AUDIO if k not in ("missing", "directory", "wrong-rate")]
    for kind in kinds:
        c.append(corpus_case(kind, _bad_in_corpus(kind, f"bad-{kind}.wav")))
    for ext in ("flac", "ogg", "mp3", "aiff"):
        c.append(corpus_case(f"garbage-{ext}", _bad_in_corpus("garbage", f"bad.{ext}")))
    c.append(corpus_case("wav-named-flac", _bad_in_corpus("nan", "bad-nan.flac")))
    c.append(
        corpus_case(
            "ogg-header-garbage",
            lambda box, corpus: (box.state.update(bad_name="bad.ogg"), (corpus / "spk" / "bad.ogg").write_bytes(b"OggS" + b"\x00" * 500)),
        )
    )

    def dir_loop(box: Box, corpus: Path) -> None:
        os.symlink("..", corpus / "spk" / "loop")

    def once_each(box: Box, result: Any) -> None:
        names = sorted(Path(r["path"]).name for r in _catalog_rows(box))
        assert names == ["good0.wav", "good1.wav"], f"each file must be catalogued once, got {names}"

    c.append(corpus_case("directory-symlink-loop", dir_loop, expect="ok", check=once_each))

    def non_utf8_name(box: Box, corpus: Path) -> None:
        with open(os.path.join(os.fsencode(corpus / "spk"), b"caf\xe9-\xff.wav"), "wb") as handle:
            sf.write(handle, tone(1.0)[:, 0], 16000, format="WAV", subtype="PCM_16")

    def newline_name(box: Box, corpus: Path) -> None:
        sf.write(corpus / "spk" / "two\nlines.wav", tone(1.0)[:, 0], 16000)

    c.append(corpus_case("non-utf8-file-name", non_utf8_name, expect="clean"))
    c.append(corpus_case("newline-file-name", newline_name, expect="clean"))

    def same_id(box: Box, corpus: Path) -> None:
        sf.write(corpus / "spk" / "good0.flac", tone(1.0)[:, 0], 16000)

    c.append(corpus_case("same-id-two-extensions", same_id, expect="error", names=("good0",)))
    c.append(
        corpus_case(
            "librispeech-layout-of-a-flat-folder", lambda box, corpus: None, expect="error", names=("corpus",), layout=("librispeech",)
        )
    )
    return c


# --------------------------------------------------------------------------- folder datasets (manifests)

M = "manifest.jsonl"
ROW = 2  # the corrupted row's line number in manifest.jsonl
ROW_ID = "train-000001"
AUDIO_FILE = f"{ROW_ID}.mix.flac"
WHERE_ROW: tuple[str, ...] = (f"{M}:{ROW}", f"{M} line {ROW}", f"{M}, line {ROW}", ROW_ID)


@dataclass(frozen=True)
class Mutation:
    """A corruption of a copied dataset, the commands it is thrown at and what to expect."""

    name: str
    apply: Callable[[Box, Path], None]
    names: Names
    targets: tuple[str, ...]
    expect: dict[str, str] = field(default_factory=dict)  # target -> expectation when not "error"/"problems"/"raises"


def _manifest_lines(ds: Path) -> list[bytes]:
    return (ds / M).read_bytes().splitlines()


def _write_lines(ds: Path, lines: list[bytes]) -> None:
    (ds / M).write_bytes(b"\n".join(lines) + b"\n")


def _line(n: int, new: bytes) -> Callable[[Box, Path], None]:
    def apply(box: Box, ds: Path) -> None:
        lines = _manifest_lines(ds)
        lines[n - 1] = new
        _write_lines(ds, lines)

    return apply


def _row(change: Callable[[Box, dict[str, Any]], None], n: int = ROW) -> Callable[[Box, Path], None]:
    def apply(box: Box, ds: Path) -> None:
        lines = _manifest_lines(ds)
        row = json.loads(lines[n - 1])
        change(box, row)
        lines[n - 1] = json.dumps(row, ensure_ascii=False).encode()
        _write_lines(ds, lines)

    return apply


def _key(key: str, value: Any) -> Callable[[Box, dict[str, Any]], None]:
    def change(box: Box, row: dict[str, Any]) -> None:
        node, parts = row, key.split(".")
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            node.pop(parts[-1])
        else:
            node[parts[-1]] = value(box) if callable(value) else value

    return change


def _secret_audio(box: Box) -> Path:
    """A real audio file outside the dataset, which traversal payloads point at."""
    path = box.secret / "FUZZ_SECRET.flac"
    if not path.exists():  # a copy of the row's own mixture: a reader that follows the path finds nothing wrong
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(box.fx.folder / "audio" / "00000" / AUDIO_FILE, path)
    return path


def _audio_file(box: Box, ds: Path) -> Path:
    return ds / "audio" / "00000" / AUDIO_FILE


def _replace_audio(kind: str) -> Callable[[Box, Path], None]:
    def apply(box: Box, ds: Path) -> None:
        path = _audio_file(box, ds)
        replace_path(path)
        bad_audio(box, kind, path)

    return apply


def _rewrite_audio(make: Callable[[np.ndarray, int], tuple[np.ndarray, int]], fmt: str = "FLAC", subtype: str = "PCM_16"):
    def apply(box: Box, ds: Path) -> None:
        path = _audio_file(box, ds)
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        data, rate = make(data, rate)
        path.unlink()
        sf.write(path, data, rate, format=fmt, subtype=subtype)

    return apply


def _nan_audio(data: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    data = data.copy()
    data[::5] = np.nan
    return data, rate


def _truncate(box: Box, ds: Path) -> None:
    path = _audio_file(box, ds)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _symlink_out(box: Box, ds: Path) -> None:
    path = _audio_file(box, ds)
    path.unlink()
    os.symlink(_secret_audio(box), path)


def _build_json(content: bytes | Callable[[dict[str, Any]], Any]) -> Callable[[Box, Path], None]:
    def apply(box: Box, ds: Path) -> None:
        path = ds / "build.json"
        if callable(content):
            info = json.loads(path.read_text())
            new = content(info)
            path.write_text(json.dumps(info if new is None else new))
        else:
            path.write_bytes(content)

    return apply


def _delete(name: str) -> Callable[[Box, Path], None]:
    return lambda box, ds: replace_path(ds / name)


def _fifo_manifest(box: Box, ds: Path) -> None:
    (ds / M).unlink()
    os.mkfifo(ds / M)


ALL = ("validate", "kaldi", "hf", "from-folder", "stored")
READERS = (*ALL, "nemo")
AUDIO_READERS = ("validate", "stored", "hf", "from-folder", "kaldi")


def folder_mutations() -> list[Mutation]:
    B = "build.json"
    W = WHERE_ROW
    return [
        Mutation(
            "manifest-truncated",
            lambda box, ds: (ds / M).write_bytes((ds / M).read_bytes()[:-40]),
            (M, (f"{M}:4", f"{M} line 4", "line 4")),
            (*READERS, "report", "lhotse"),
        ),
        Mutation("manifest-empty", lambda box, ds: (ds / M).write_bytes(b""), (M,), ALL),
        Mutation(
            "manifest-garbage-line",
            lambda box, ds: _write_lines(ds, [*_manifest_lines(ds)[:2], b"}{ not json", *_manifest_lines(ds)[2:]]),
            (M, (f"{M}:3", f"{M} line 3", "line 3")),
            (*ALL, "report"),
        ),
        Mutation("manifest-non-utf8", _line(ROW, b'{"id": "\xff\xfe"}'), (M, (f"{M}:{ROW}", f"line {ROW}")), ALL),
        Mutation("manifest-row-is-array", _line(ROW, b"[1, 2]"), (M, (f"{M}:{ROW}", f"line {ROW}")), ALL),
        Mutation("manifest-row-is-null", _line(ROW, b"null"), (M, (f"{M}:{ROW}", f"line {ROW}")), ALL),
        Mutation("manifest-deep-nesting", _line(ROW, b"[" * 100000 + b"]" * 100000), (M, (f"{M}:{ROW}", f"line {ROW}")), ALL),
        Mutation("manifest-huge-line", _line(ROW, b"x" * 5_000_000), (M, (f"{M}:{ROW}", f"line {ROW}")), ("validate", "kaldi", "stored")),
        Mutation("manifest-missing", _delete(M), (M,), ALL),
        Mutation("manifest-is-directory", lambda box, ds: ((ds / M).unlink(), (ds / M).mkdir()), (M,), ALL),
        Mutation("manifest-is-fifo", _fifo_manifest, (M,), ALL),
        Mutation("row-missing-id", _row(_key("id", DELETE)), (M, (f":{ROW}", f"line {ROW}"), "id"), ALL),
        Mutation("row-missing-split", _row(_key("split", DELETE)), (W, "split"), (*ALL, "nemo")),
        Mutation("row-missing-audio", _row(_key("audio", DELETE)), (W, "audio"), ALL),
        Mutation("row-missing-labels", _row(_key("labels", DELETE)), (W, "labels"), (*READERS, "report")),
        Mutation("row-missing-duration", _row(_key("duration", DELETE)), (W, "duration"), READERS),
        Mutation("row-missing-sample-rate", _row(_key("sample_rate", DELETE)), (W, "sample_rate"), ("validate", "stored", "hf")),
        Mutation("row-missing-scene", _row(_key("scene", DELETE)), (W, "scene"), ("validate",)),
        Mutation("row-audio-is-string", _row(_key("audio", "audio/00000/x.flac")), (W, "audio"), ALL),
        Mutation("row-audio-empty", _row(_key("audio", {})), (W, ("mix", "audio")), ("validate", "stored", "hf", "kaldi")),
        Mutation("row-labels-is-list", _row(_key("labels", [])), (W, "labels"), READERS),
        Mutation("row-duration-string", _row(_key("duration", "long")), (W, "duration"), READERS),
        Mutation("row-duration-negative", _row(_key("duration", -1.0)), (W, "duration"), ("validate", "stored", "kaldi")),
        Mutation("row-duration-nan", _row(_key("duration", NAN)), (W, "duration"), ("validate", "stored", "kaldi")),
        Mutation("row-sample-rate-zero", _row(_key("sample_rate", 0)), (W, "sample_rate"), ("validate", "stored")),
        Mutation("row-sample-rate-string", _row(_key("sample_rate", "16k")), (W, "sample_rate"), ("validate", "stored", "hf")),
        Mutation("row-id-int", _row(_key("id", 7)), (M, (f":{ROW}", f"line {ROW}", "7"), "id"), ALL),
        Mutation("row-id-newline", _row(_key("id", f"{ROW_ID}\nevil sox /etc/passwd |")), (W, "id"), ALL),
        Mutation("row-id-pipe", _row(_key("id", "x | touch " + ESCAPE)), (M, (f":{ROW}", f"line {ROW}", "x | touch"), "id"), ALL),
        Mutation("row-id-traversal", _row(_key("id", "../../../" + ESCAPE)), (M, (f":{ROW}", f"line {ROW}", ESCAPE), "id"), ALL),
        Mutation("row-id-absurdly-long", _row(_key("id", "i" * 100_000)), (M, (f":{ROW}", f"line {ROW}"), "id"), ALL),
        Mutation(
            "row-id-duplicate",
            lambda box, ds: _write_lines(ds, [*_manifest_lines(ds)[:2], _manifest_lines(ds)[1], *_manifest_lines(ds)[2:]]),
            (ROW_ID,),
            ("validate", "from-folder", "kaldi", "hf"),
            expect={"kaldi": "clean", "hf": "clean"},
        ),
        Mutation("row-split-traversal", _row(_key("split", "../../../" + ESCAPE)), (W, "split"), (*READERS, "report")),
        Mutation("row-split-absolute", _row(_key("split", lambda box: str(box.root / ESCAPE))), (W, "split"), READERS),
        Mutation("row-split-newline", _row(_key("split", "train\nx")), (W, "split"), ("validate", "kaldi", "hf", "nemo")),
        Mutation("row-split-empty", _row(_key("split", "")), (W, "split"), ("validate", "kaldi", "hf", "nemo")),
        Mutation(
            "row-audio-traversal",
            _row(_key("audio.mix", lambda box: (_secret_audio(box), "../../secret/FUZZ_SECRET.flac")[1])),
            (W, ("mix", "audio"), "FUZZ_SECRET"),
            (*READERS, "report"),
        ),
        Mutation(
            "row-audio-absolute",
            _row(_key("audio.mix", lambda box: str(_secret_audio(box)))),
            (W, ("mix", "audio"), "FUZZ_SECRET"),
            READERS,
        ),
        Mutation(
            "row-audio-symlink-out",
            _symlink_out,
            ((AUDIO_FILE, ROW_ID), ("symlink", "outside", "leaves", "escapes", "FUZZ_SECRET")),
            READERS,
        ),
        Mutation("row-audio-nul-byte", _row(_key("audio.mix", "audio/00000/x\x00.flac")), (W, ("mix", "audio")), ALL),
        Mutation("row-audio-is-folder", _row(_key("audio.mix", "audio")), (W, ("mix", "audio")), ("validate", "stored", "hf")),
        Mutation(
            "row-role-traversal",
            _row(lambda box, row: row["audio"].update({"../../../" + ESCAPE: row["audio"]["mix"]})),
            (W, ("role", ESCAPE)),
            ("validate", "from-folder", "stored", "hf"),
        ),
        Mutation("row-speaker-newline", _row(_key("labels.speaker", "spk0\nspk9 evil")), (W, "speaker"), ("validate", "kaldi")),
        Mutation("row-speaker-int", _row(_key("labels.speaker", 7)), (W, "speaker"), ("validate", "kaldi")),
        Mutation("row-text-newline", _row(_key("labels.text", "HELLO\nspk9-x INJECTED LINE")), (W, "text"), ("validate", "kaldi")),
        Mutation(
            "row-snr-string",
            _row(_key("labels.snr_db", "high")),
            (W, "snr_db"),
            ("validate", "stored", "hf"),
            expect={"stored": "items", "hf": "clean"},
        ),
        Mutation(
            "build-json-garbage",
            _build_json(b"{not json"),
            (B,),
            ("validate", "from-folder", "stored", "report"),
        ),
        Mutation("build-json-list", _build_json(b"[1, 2]"), (B,), ("validate", "from-folder", "stored")),
        Mutation("build-json-missing", _delete(B), (B,), ("validate", "from-folder", "stored"), expect={"stored": "items"}),
        Mutation(
            "build-json-running",
            _build_json(lambda info: info.update(status="running")),
            (B, ("complete", "status")),
            ("validate", "from-folder"),
        ),
        Mutation("build-json-non-utf8", _build_json(b'{"status": "\xff"}'), (B,), ("validate", "from-folder", "stored")),
        # the audio files
        Mutation(
            "audio-truncated",
            _truncate,
            ((AUDIO_FILE, ROW_ID),),
            AUDIO_READERS,
            expect={"hf": "clean", "from-folder": "clean", "kaldi": "clean"},
        ),
        Mutation("audio-missing", _delete(f"audio/00000/{AUDIO_FILE}"), ((AUDIO_FILE, ROW_ID),), AUDIO_READERS, expect={"kaldi": "clean"}),
        Mutation("audio-is-folder", _replace_audio("directory"), ((AUDIO_FILE, ROW_ID),), AUDIO_READERS, expect={"kaldi": "clean"}),
        Mutation("audio-is-fifo", _replace_audio("fifo"), ((AUDIO_FILE, ROW_ID),), AUDIO_READERS, expect={"kaldi": "clean"}),
        Mutation("audio-symlink-loop", _replace_audio("symlink-loop"), ((AUDIO_FILE, ROW_ID),), AUDIO_READERS, expect={"kaldi": "clean"}),
        *[
            Mutation(
                f"audio-{k}",
                _replace_audio(k),
                ((AUDIO_FILE, ROW_ID),),
                AUDIO_READERS,
                expect={"hf": "clean", "from-folder": "clean", "kaldi": "clean"},
            )
            for k in ("garbage", "zero-bytes", "text")
        ],
        Mutation(
            "audio-nan-float-wav",
            _rewrite_audio(_nan_audio, "WAV", "FLOAT"),
            ((AUDIO_FILE, ROW_ID), ("NaN", "nan")),
            ("validate", "stored"),
        ),
        Mutation(
            "audio-wrong-rate", _rewrite_audio(lambda d, r: (d, 8000)), ((AUDIO_FILE, ROW_ID), ("rate", "8000")), ("validate", "stored")
        ),
        Mutation(
            "audio-wrong-length",
            _rewrite_audio(lambda d, r: (d[: len(d) // 2], r)),
            ((AUDIO_FILE, ROW_ID), "frames"),
            ("validate", "stored"),
        ),
        Mutation(
            "audio-stereo",
            _rewrite_audio(lambda d, r: (np.repeat(d, 2, axis=1), r)),
            ((AUDIO_FILE, ROW_ID), "channels"),
            ("validate", "stored"),
        ),
    ]


def _dataset_argv(box: Box, ds: Path, target: str) -> list[str] | None:
    out = box.out
    if target == "validate":
        return ["validate", str(ds), "--no-progress"]
    if target == "report":
        return ["report", str(ds), "-o", str(out), "--no-progress"]
    if target == "from-folder":
        return ["shards", "from-folder", str(ds), "-o", str(out), "--no-progress"]
    if target == "to-folder":
        return ["shards", "to-folder", str(ds), "-o", str(out), "--no-progress"]
    if target in ("nemo", "kaldi", "hf", "lhotse", "rttm"):
        return ["export", str(ds), "--to", target, "-o", str(out), "--no-progress"]
    return None


def _stored(ds: Path, roles: tuple[str, ...] = ("mix", "clean")) -> Callable[[], int]:
    def run() -> int:
        from audiosynth.torch import StoredDataset

        dataset = StoredDataset(ds, roles=roles)
        return sum(1 for i in range(len(dataset)) if dataset[i] is not None)

    return run


def _sharded(ds: Path) -> Callable[[], int]:
    def run() -> int:
        from audiosynth.torch import ShardDataset

        return sum(1 for _ in ShardDataset(ds, roles=("mix", "clean")))

    return run


def _names(names: Names, target: str) -> Names:
    """validate reports fields in words ("sample rate"): accept either spelling there."""
    if target != "validate":
        return names
    return tuple((n, n.replace("_", " ")) if isinstance(n, str) and "_" in n and not n.endswith(".jsonl") else n for n in names)


def _default_expect(target: str) -> str:
    return {"validate": "problems", "stored": "raises", "sharded": "raises"}.get(target, "error")


def _mutation_cases(mutations: list[Mutation], sharded: bool) -> list[Case]:
    """One case per mutation and target: a copy of the built folder (or sharded) dataset, mutated,
    given to the target (a CLI command, or the torch dataset: ``stored`` / ``sharded``)."""
    cases = []
    for m in mutations:
        for target in m.targets:

            def setup(box: Box, m: Mutation = m, target: str = target) -> Any:
                ds = box.inp / ("wds" if sharded else "ds")
                shutil.copytree(box.fx.shards if sharded else box.fx.folder, ds, symlinks=True)
                m.apply(box, ds)
                if target in ("stored", "sharded"):
                    return (_sharded if sharded else _stored)(ds)
                return _dataset_argv(box, ds, target)

            names = m.names if sharded else _names(m.names, target)
            cases.append(
                Case(
                    f"{m.name}-{target}",
                    setup,
                    m.expect.get(target, _default_expect(target)),
                    names,
                    timeout_s=30.0 if target in ("report", "lhotse") else None,
                )
            )
    return cases


def dataset_cases() -> list[Case]:
    cases = _mutation_cases(folder_mutations(), sharded=False)

    # StoredDataset asked for a role only some rows have
    def partial_role(box: Box) -> Any:
        ds = box.inp / "ds"
        shutil.copytree(box.fx.folder, ds, symlinks=True)
        return _stored(ds, ("mix", "clean_direct"))

    cases.append(Case("stored-role-only-some-rows-have", partial_role, "raises", ("clean_direct", ("train-000000", "row"))))
    cases += shard_cases()
    cases += onthefly_cases()
    return cases


# --------------------------------------------------------------------------- sharded datasets (tar members)


def _rewrite_tar(edit: Callable[[Box, list[tuple[tarfile.TarInfo, bytes | None]]], None], shard: str = "shard-00000.tar"):
    def apply(box: Box, ds: Path) -> None:
        path = ds / "shards" / shard
        with tarfile.open(path) as tar:
            members = [(info, tar.extractfile(info).read() if info.isfile() else None) for info in tar.getmembers()]
        edit(box, members)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info, data in members:
                if data is not None:
                    info.size = len(data)
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        path.write_bytes(buf.getvalue())

    return apply


def _rename_member(new: Callable[[Box], str], suffix: str = ".mix.flac"):
    def edit(box: Box, members: list) -> None:
        for info, _ in members:
            if info.name == f"{ROW_ID}{suffix}":
                info.name = new(box)

    return edit


def _add_member(make: Callable[[Box], tarfile.TarInfo], data: bytes | None = None):
    def edit(box: Box, members: list) -> None:
        members.insert(0, (make(box), data))

    return edit


def _link_member(kind: bytes, name: str, target: str) -> Callable[[Box], tarfile.TarInfo]:
    def make(box: Box) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        return info

    return make


def _member_data(name: str, data: Callable[[bytes], bytes]):
    def edit(box: Box, members: list) -> None:
        for k, (info, old) in enumerate(members):
            if info.name == name:
                members[k] = (info, data(old))

    return edit


def _claimed_size(box: Box, ds: Path) -> None:
    """The first member's header claims 8 GiB (checksum fixed, so the header itself is valid)."""
    path = ds / "shards" / "shard-00000.tar"
    raw = bytearray(path.read_bytes())
    raw[124:136] = b"77777777777\x00"
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\x00 " % sum(raw[:512])
    path.write_bytes(bytes(raw))


def shard_mutations() -> list[Mutation]:
    T = "shard-00000.tar"
    TARGETS = ("to-folder", "validate", "sharded")
    return [
        Mutation(
            "tar-member-traversal", _rewrite_tar(_rename_member(lambda box: f"../../../../../{ESCAPE}.mix.flac")), (T, ESCAPE), TARGETS
        ),
        Mutation(
            "tar-member-absolute", _rewrite_tar(_rename_member(lambda box: str(box.root / f"{ESCAPE}.mix.flac"))), (T, ESCAPE), TARGETS
        ),
        Mutation(
            "tar-json-member-traversal",
            _rewrite_tar(_rename_member(lambda box: f"../../../../../{ESCAPE}.json", ".json")),
            (T, ESCAPE),
            TARGETS,
        ),
        Mutation(
            "tar-member-symlink-out",
            _rewrite_tar(_add_member(_link_member(tarfile.SYMTYPE, f"{ROW_ID}.evil.flac", "/etc/passwd"))),
            (T, f"{ROW_ID}.evil.flac"),
            TARGETS,
        ),
        Mutation(
            "tar-member-hardlink-out",
            _rewrite_tar(_add_member(_link_member(tarfile.LNKTYPE, f"{ROW_ID}.evil.flac", "/etc/passwd"))),
            (T, f"{ROW_ID}.evil.flac"),
            TARGETS,
        ),
        Mutation(
            "tar-member-dir-traversal",
            _rewrite_tar(_add_member(_link_member(tarfile.DIRTYPE, f"../../../../../{ESCAPE}", ""))),
            (T, ESCAPE),
            TARGETS,
        ),
        Mutation("tar-member-newline-name", _rewrite_tar(_rename_member(lambda box: f"{ROW_ID}\n.mix.flac")), (T,), TARGETS),
        Mutation("tar-member-duplicate", _rewrite_tar(lambda box, members: members.insert(2, members[1])), (T,), ("to-folder", "validate")),
        Mutation("tar-truncated", lambda box, ds: (ds / "shards" / T).write_bytes((ds / "shards" / T).read_bytes()[:3000]), (T,), TARGETS),
        Mutation(
            "tar-garbage",
            lambda box, ds: (ds / "shards" / T).write_bytes(box.rng("tar").integers(0, 256, 20000, dtype=np.uint8).tobytes()),
            (T,),
            TARGETS,
        ),
        Mutation("tar-missing", _delete(f"shards/{T}"), (T,), TARGETS),
        Mutation("tar-claimed-size-huge", _claimed_size, (T,), TARGETS),
        Mutation(
            "tar-json-member-garbage",
            _rewrite_tar(_member_data(f"{ROW_ID}.json", lambda old: b"{not json")),
            (T, f"{ROW_ID}.json"),
            TARGETS,
        ),
        Mutation(
            "tar-json-member-no-audio",
            _rewrite_tar(
                _member_data(f"{ROW_ID}.json", lambda old: json.dumps({k: v for k, v in json.loads(old).items() if k != "audio"}).encode())
            ),
            (T, (ROW_ID, "audio")),
            TARGETS,
        ),
        Mutation(
            "tar-json-member-removed",
            _rewrite_tar(lambda box, members: members.__setitem__(slice(None), [m for m in members if m[0].name != f"{ROW_ID}.json"])),
            (T, ROW_ID),
            TARGETS,
        ),
        Mutation(
            "tar-audio-member-garbage",
            _rewrite_tar(_member_data(f"{ROW_ID}.mix.flac", lambda old: b"garbage" * 100)),
            (f"{ROW_ID}.mix.flac",),
            TARGETS,
            expect={"to-folder": "clean"},
        ),
        Mutation("shards-json-garbage", lambda box, ds: (ds / "shards.json").write_bytes(b"{not json"), ("shards.json",), TARGETS),
        Mutation(
            "shards-json-name-traversal",
            lambda box, ds: (ds / "shards.json").write_text(
                json.dumps(
                    {
                        "format": "audiosynth-webdataset",
                        "num_examples": 4,
                        "shards": [{"name": "../../../secret/x.tar", "num_examples": 4, "duration": 1}],
                    }
                )
            ),
            ("shards.json", "x.tar"),
            TARGETS,
        ),
        Mutation("shards-build-json-garbage", _build_json(b"{not json"), ("build.json",), ("to-folder", "validate")),
        Mutation(
            "shards-build-json-shard-size-string",
            _build_json(lambda info: info["config"]["output"].update(shard_size="x")),
            ("build.json", "shard_size"),
            ("to-folder",),
        ),
        Mutation(
            "shards-manifest-truncated", lambda box, ds: (ds / M).write_bytes((ds / M).read_bytes()[:-40]), (M,), ("to-folder", "validate")
        ),
        Mutation("shards-manifest-row-without-shard", _row(_key("shard", DELETE)), (WHERE_ROW, "shard"), ("validate",)),
    ]


def shard_cases() -> list[Case]:
    return _mutation_cases(shard_mutations(), sharded=True)


# --------------------------------------------------------------------------- OnTheFlyDataset


def onthefly_cases() -> list[Case]:
    cases = []

    def make(bad: str, how_many: str) -> Callable[[Box], Callable[[], int]]:
        def setup(box: Box) -> Callable[[], int]:
            from audiosynth.config import load_config

            data = base_config(box)
            data["num_examples"] = 4
            _bad_catalog(box, "speech", bad, how_many)
            config = load_config(write_yaml(box.inp / F, data))

            def run() -> int:
                from audiosynth.torch import OnTheFlyDataset

                dataset = OnTheFlyDataset(config)
                return sum(1 for i in range(len(dataset)) if dataset[i] is not None)

            return run

        return setup

    for bad in ("garbage", "missing", "fifo", "nan", "truncated-flac"):
        cases.append(Case(f"onthefly-some-{bad}", make(bad, "some"), "items"))
    for bad in ("garbage", "missing"):
        cases.append(Case(f"onthefly-all-{bad}", make(bad, "all"), "raises", (("speech", "bad"),)))

    def equals_build(bad: str) -> Callable[[Box], Callable[[], int]]:
        def setup(box: Box) -> Callable[[], int]:
            from audiosynth.config import load_config

            data = base_config(box)
            data["num_examples"] = 4
            _bad_catalog(box, "speech", bad, "some")
            config = load_config(write_yaml(box.inp / F, data))

            def run() -> int:
                from audiosynth.build import build
                from audiosynth.torch import OnTheFlyDataset

                build(config, box.out, workers=1, progress=False)
                rows = [json.loads(line) for line in (box.out / M).read_text().splitlines()]
                dataset = OnTheFlyDataset(config, roles=("mix",))
                for i, row in enumerate(rows):
                    built, _ = sf.read(box.out / row["audio"]["mix"], dtype="float32", always_2d=True)
                    item = dataset[i]
                    assert item["id"] == row["id"] and np.array_equal(item["mix"].numpy(), built.T), (
                        f"OnTheFlyDataset item {i} differs from built example {row['id']} (clips were rejected)"
                    )
                return len(rows)

            return run

        return setup

    for bad in ("garbage", "missing"):
        cases.append(Case(f"onthefly-some-{bad}-equals-build", equals_build(bad), "items"))

    def missing_catalog(box: Box) -> Callable[[], int]:
        from audiosynth.config import load_config

        data = base_config(box)
        config = load_config(write_yaml(box.inp / F, data))
        (box.inp / S).unlink()

        def run() -> int:
            from audiosynth.torch import OnTheFlyDataset

            return len([OnTheFlyDataset(config)[0]])

        return run

    cases.append(Case("onthefly-catalog-deleted", missing_catalog, "raises", (S,)))
    return cases


# --------------------------------------------------------------------------- seeded random substitutions

BAD_VALUES: dict[str, Any] = {
    "null": None,
    "neg": -1,
    "zero": 0,
    "huge": 1e308,
    "nan": NAN,
    "empty": "",
    "long": "x" * 5000,
    "list": [],
    "dict": {},
    "bool": True,
    "traversal": "../../../" + ESCAPE,
    "newline": "a\nb |",
}


def _set_leaf(node: Any, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


#: Leaves of a manifest row of the fixture dataset (row 2 is a reverberant denoising example) and of a config.
ROW_LEAVES = (
    "id",
    "split",
    "duration",
    "sample_rate",
    "num_channels",
    "audio.mix",
    "audio.clean",
    "audio.noise",
    "audio.clean_direct",
    "labels.snr_db",
    "labels.mix_dbfs",
    "labels.gain_db",
    "labels.speaker",
    "labels.text",
    "labels.speech_clip",
    "labels.noise_clip",
    "labels.rt60_s",
    "scene.type",
    "scene.version",
    "scene.index",
    "scene.sample_rate",
    "scene.num_samples",
    "scene.sources.0.role",
    "scene.sources.0.segment.clip_id",
    "scene.sources.0.segment.offset",
    "scene.sources.0.segment.length",
    "scene.sources.0.level_dbfs",
    "scene.sources.0.rir_clip",
    "scene.noise.snr_db",
    "scene.noise.segment.offset",
    "scene.peak_dbfs",
    "scene.targets",
    "scene.activity_db",
)
CONFIG_LEAVES = (
    "num_examples",
    "sample_rate",
    "seed",
    "duration_s.0",
    "duration_s.1",
    "snr_db.0",
    "snr_db.1",
    "speech_level_dbfs.0",
    "min_speech_ratio",
    "noise_probability",
    "reverb.probability",
    "reverb.early_s",
    "reverb.room.rt60_s.0",
    "reverb.room.distance_m.1",
    "talkers.sir_db.0",
    "talkers.count.1",
    "session.pause_s.1",
    "output.peak_dbfs",
    "output.shard_size",
    "targets.early_ms",
    "splits.train",
    "require_text",
)


def random_cases() -> list[Case]:
    """Seeded random substitutions (`FUZZ_SEED`): a leaf of a manifest row or of a config replaced by a
    bad value. Some are harmless, so the expectation is ``clean`` (CLI) / ``handled`` (datasets): never a
    traceback, a bare exception, a hang or a write outside the output folder."""
    rng = np.random.default_rng(FUZZ_SEED)
    cases = []
    row_leaves = ROW_LEAVES
    for k in range(15):
        leaf, bad = row_leaves[int(rng.integers(len(row_leaves)))], list(BAD_VALUES)[int(rng.integers(len(BAD_VALUES)))]
        for target in ("validate", "kaldi", "stored"):

            def setup(box: Box, leaf=leaf, bad=bad, target=target) -> Any:
                ds = box.inp / "ds"
                shutil.copytree(box.fx.folder, ds, symlinks=True)
                _row(lambda box, row: _set_leaf(row, leaf, copy.deepcopy(BAD_VALUES[bad])))(box, ds)
                return _stored(ds) if target == "stored" else _dataset_argv(box, ds, target)

            cases.append(
                Case(f"random-row-{k:02d}-{leaf}={bad}-{target}", setup, "items_or_raises" if target == "stored" else "clean", (WHERE_ROW,))
            )
    config_leaves = CONFIG_LEAVES
    for k in range(20):
        leaf, bad = config_leaves[int(rng.integers(len(config_leaves)))], list(BAD_VALUES)[int(rng.integers(len(BAD_VALUES)))]

        def setup(box: Box, leaf=leaf, bad=bad) -> list[str]:
            data = base_config(box)
            parts = leaf.split(".")
            node = data
            for part in parts[:-2] if parts[-1].isdigit() else parts[:-1]:
                node = node.setdefault(part, {})
            if parts[-1].isdigit():  # an item of a range: start from a valid one
                key = parts[-2]
                node[key] = list(node.get(key, [1, 1]))
                node[key][int(parts[-1])] = copy.deepcopy(BAD_VALUES[bad])
            else:
                node[parts[-1]] = copy.deepcopy(BAD_VALUES[bad])
            return build_argv(box, write_yaml(box.inp / F, data))

        cases.append(Case(f"random-config-{k:02d}-{leaf}={bad}", setup, "clean"))
    return cases


def all_cases() -> list[Case]:
    cases = config_cases() + catalog_cases() + audio_cases() + dataset_cases() + random_cases()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    return cases


#: A few cases also run as real processes (the CLI as users run it, with a timeout and a kill).
SUBPROCESS_TWINS = ("config-nan-snr", "audio-fifo", "manifest-truncated-validate", "tar-member-traversal-to-folder")
