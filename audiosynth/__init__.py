"""audiosynth: synthetic, exactly labelled audio datasets for speech.

Public names are imported lazily (PEP 562) so that ``audiosynth --help`` starts fast.
"""

from __future__ import annotations

import importlib  # already loaded by the interpreter: importing audiosynth costs nothing (typing is not needed)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers take the name as true
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute). Functions named like their module are exported under a longer
# name, since importing the submodule ``audiosynth.build`` would shadow a function ``build``.
_RENAMED = {
    "build_dataset": ("build", "build"),
    "validate_dataset": ("dataset.validate", "validate"),
    "render_scene": ("render", "render"),
    "plan_scene": ("plan", "plan"),
}
_EXPORTS = {
    "Clip": "catalog",
    "Catalog": "catalog",
    "read_catalog": "catalog",
    "write_catalog": "catalog",
    "catalog_corpus": "corpora",
    "Config": "config",
    "config_from_dict": "config",
    "load_config": "config",
    "Scene": "scene",
    "Segment": "scene",
    "Source": "scene",
    "Noise": "scene",
    "Room": "acoustics.room",
    "Catalogs": "plan",
    "Planner": "plan",
    "load_catalogs": "plan",
    "demo_dir": "plan",
    "Rendered": "render",
    "simulate_ism": "acoustics.ism",
    "simulate_pra": "acoustics.ism",
    "AudiosynthError": "errors",
    "AudioError": "errors",
    "CatalogError": "errors",
    "ConfigError": "errors",
    "DatasetError": "errors",
    "PreflightError": "errors",
}
__all__ = sorted([*_EXPORTS, *_RENAMED, "__version__"])


def __getattr__(name: str) -> Any:
    module_name, attribute = _RENAMED.get(name) or (_EXPORTS.get(name), name)
    if module_name is None:
        raise AttributeError(f"module 'audiosynth' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
