"""Golden bytes: a build of every recipe (NumPy backend, PCM and float output) keeps the sha256 of
every file it writes, so a refactor that changes one byte fails here; the torch backend stays
within 1e-5 of the NumPy build.

After a change of bytes on purpose, rewrite the digests (and say why in the commit):

    python tests/test_golden.py --write

PCM output has one set of digests everywhere. Float output keeps float64's last bits, and those
differ between CPU kinds (NumPy's and soxr's SIMD paths: an AVX-512 machine sums in another order),
so a float build has one recorded set per kind of machine the tests have run on; it must equal one
of them. On a new kind of machine, after checking that its PCM builds pass unchanged:

    python tests/test_golden.py --add-machine

A recipe's float set is recorded only once two kinds of machine have given theirs (CI may run on
either): a recipe added on one kind (``device_robust``) has its PCM digests alone until then
(``--add-machine`` on the other kind, then keep its float entry). The chain's float path is tested
numerically in ``tests/test_effects.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiosynth.build import build
from audiosynth.config import config_from_dict

ROOT = Path(__file__).resolve().parent.parent
DIGESTS = Path(__file__).parent / "golden" / "digests.json"
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.py"))
FORMATS = {"pcm": {}, "float": {"format": "wav", "subtype": "FLOAT"}}
# Effects left out of a recipe's golden build: FFmpeg's and libopus' encoders pick their SIMD code by
# CPU at run time, so their output may differ between kinds of machine even in PCM. Their bytes are
# tested to repeat on one machine (tests/test_effects.py: 1 and 2 workers, re-render, every codec).
WITHOUT_EFFECTS = {"device_robust": ("codec",)}
TORCH_RECIPES = ("denoising", "multichannel_denoising", "separation", "dereverberation")


def recipe_config(name: str, output: str, **changes: Any):
    """The recipe's own settings over the shipped demo corpus: 6 examples in shards of 3, seed 0."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings = json.loads(json.dumps(module.SETTINGS))
    demo = ROOT / "data_manifests" / "demo"
    reverb = settings.get("reverb", {})
    rirs = [str(demo / "rirs.jsonl")] if reverb.get("probability", 0) > 0 and reverb.get("source") == "catalog" else []
    settings["catalogs"] = {"speech": [str(demo / "speech.jsonl")], "noise": [str(demo / "noise.jsonl")], "rirs": rirs}
    for effect in WITHOUT_EFFECTS.get(name, ()):  # see WITHOUT_EFFECTS
        settings["channel"]["effects"].pop(effect)
    settings.update(seed=0, num_examples=6, **changes)
    settings["output"] = {**settings.get("output", {}), "shard_size": 3, **FORMATS[output]}
    return config_from_dict(settings)


def _content(path: Path) -> bytes:
    """A file's bytes; for rows, without the build fingerprint (it hashes the catalogs' absolute paths)."""
    if path.suffix != ".jsonl":
        return path.read_bytes()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return json.dumps([{k: v for k, v in row.items() if k != "fingerprint"} for row in rows]).encode()


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file of a dataset but build.json (it names the catalogs' absolute paths)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(_content(p)).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "build.json"
    }


def built(name: str, output: str, out: Path, **changes: Any) -> Path:
    build(recipe_config(name, output, **changes), out, workers=1, progress=False)
    return out


RECORDED = json.loads(DIGESTS.read_text())
BUILDS = [(n, o) for n in RECIPES for o in sorted(FORMATS) if f"{n}/{o}" in RECORDED]


def test_every_recipe_has_its_pcm_digests():
    assert [n for n in RECIPES if f"{n}/pcm" not in RECORDED] == []


@pytest.mark.parametrize(("name", "output"), BUILDS)
def test_every_recipe_writes_the_recorded_bytes(name, output, tmp_path):
    got = digest(built(name, output, tmp_path / "ds"))
    sets = recorded(json.loads(DIGESTS.read_text()), f"{name}/{output}")
    if got not in sets:  # show the difference to the nearest recorded set
        assert got == min(sets, key=lambda want: sum(got.get(k) != v for k, v in want.items()) + len(set(got) - set(want)))


def recorded(table: dict[str, Any], key: str) -> list[dict[str, str]]:
    """The recorded digest sets of one build: one for PCM, one per kind of machine for float."""
    value = table[key]
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", TORCH_RECIPES)
def test_the_torch_backend_stays_within_1e_5_of_numpy(name, tmp_path):
    pytest.importorskip("torch")
    numpy_out = built(name, "float", tmp_path / "numpy")
    torch_out = built(name, "float", tmp_path / "torch", backend="torch")
    files = sorted(p.relative_to(numpy_out) for p in numpy_out.rglob("*.wav"))
    assert files and files == sorted(p.relative_to(torch_out) for p in torch_out.rglob("*.wav"))
    worst = max(float(np.max(np.abs(sf.read(numpy_out / f)[0] - sf.read(torch_out / f)[0]))) for f in files)
    assert worst < 1e-5, worst


if __name__ == "__main__" and sys.argv[1:] in (["--write"], ["--add-machine"]):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        now = {f"{n}/{o}": digest(built(n, o, Path(tmp) / n / o)) for n in RECIPES for o in sorted(FORMATS)}
    if sys.argv[1] == "--write":
        table: dict[str, Any] = {k: [v] if k.endswith("/float") else v for k, v in now.items()}
    else:  # the float sets of this machine beside those of the others; PCM must be unchanged
        table = json.loads(DIGESTS.read_text())
        changed = [k for k, v in now.items() if not k.endswith("/float") and k in table and v != table[k]]
        if changed:
            sys.exit(f"PCM digests changed ({', '.join(changed)}): that is a change of bytes, not a machine; use --write")
        for k, v in now.items():
            if k not in table:
                table[k] = [v] if k.endswith("/float") else v
            elif k.endswith("/float") and v not in recorded(table, k):
                table[k] = [*recorded(table, k), v]
    DIGESTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote the digests of {len(table)} builds to {DIGESTS}")  # noqa: T201  the command line's report
