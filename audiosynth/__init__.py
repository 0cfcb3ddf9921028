"""audiosynth: synthetic, exactly labelled audio datasets for speech.

Public names are imported lazily (PEP 562) so that ``audiosynth --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Clip": "catalog", "Catalog": "catalog", "read_catalog": "catalog", "write_catalog": "catalog",
    "catalog_corpus": "corpora",
    "Config": "config", "config_from_dict": "config", "load_config": "config",
    "Scene": "scene", "Segment": "scene", "Source": "scene", "Noise": "scene", "Room": "room",
    "Catalogs": "plan", "Planner": "plan", "load_catalogs": "plan", "plan": "plan", "demo_dir": "plan",
    "Rendered": "render", "render": "render",
    "build": "build", "validate": "validate",
    "AudiosynthError": "errors", "AudioError": "errors", "CatalogError": "errors", "ConfigError": "errors",
    "DatasetError": "errors", "PreflightError": "errors",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'audiosynth' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = module if name == _EXPORTS[name] and not hasattr(module, name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
