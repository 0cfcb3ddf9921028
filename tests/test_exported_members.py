import importlib
import subprocess
import sys

import audiosynth


def test_all_exports_resolve_and_are_listed():
    for name in audiosynth.__all__:
        assert getattr(audiosynth, name) is not None, name
    importlib.import_module("audiosynth.build")  # the submodule must not shadow the exported function
    assert audiosynth.build_dataset.__module__ == "audiosynth.build.driver" and callable(audiosynth.build_dataset)
    assert audiosynth.validate_dataset.__name__ == "validate" and audiosynth.render_scene.__name__ == "render"
    assert audiosynth.Clip.__module__ == "audiosynth.catalog"
    assert {"Clip", "Config", "Scene", "Planner", "render_scene", "build_dataset", "validate_dataset", "catalog_corpus"} <= set(audiosynth.__all__)


def test_cli_help_does_not_import_the_heavy_stack():
    code = "import sys; from audiosynth.cli import main; print(sorted(m for m in ('scipy', 'soxr', 'pyroomacoustics', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
