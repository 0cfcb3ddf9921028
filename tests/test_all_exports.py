"""The public surface and the import graph: ``audiosynth.__all__``, lazy exports, and every
module importing on its own, in any order, with no cycle (at run time and in the source)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import audiosynth

PACKAGE_DIR = Path(audiosynth.__file__).parent
EXPORTED = [name for name in audiosynth.__all__ if name != "__version__"]


def package_modules() -> list[str]:
    """Every module of the package, from its folders (pkgutil), the package itself first."""
    return ["audiosynth", *sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE_DIR)], "audiosynth."))]


def module_file(name: str) -> Path:
    path = PACKAGE_DIR.joinpath(*name.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with the package this test imported first on the path."""
    env_path = str(PACKAGE_DIR.parent)
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n{code}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# -- __all__ -----------------------------------------------------------------------------------


def test_all_is_exactly_the_lazy_exports_sorted_and_is_dir():
    lazy = set(audiosynth._EXPORTS) | set(audiosynth._RENAMED)
    assert not set(audiosynth._EXPORTS) & set(audiosynth._RENAMED)
    assert audiosynth.__all__ == sorted([*lazy, "__version__"]), "every lazy export listed once, in order, and nothing else"
    assert dir(audiosynth) == audiosynth.__all__


def test_every_export_resolves_to_its_module_attribute():
    for name in EXPORTED:
        module, attribute = audiosynth._RENAMED.get(name) or (audiosynth._EXPORTS[name], name)
        assert getattr(audiosynth, name) is getattr(importlib.import_module(f"audiosynth.{module}"), attribute), name


def test_a_name_not_exported_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'audiosynth' has no attribute 'Planer'"):
        audiosynth.Planer  # noqa: B018 - the access is the test
    with pytest.raises(AttributeError):
        audiosynth.kernels  # noqa: B018 - a module of the package, but not exported


def _own_docstring(obj: object) -> str | None:
    """The docstring written in the source for ``obj`` (not one generated, as dataclasses do)."""
    node = ast.parse(inspect.getsource(obj)).body[0]
    assert isinstance(node, ast.ClassDef | ast.FunctionDef), node
    return ast.get_docstring(node)


def test_every_export_is_a_documented_class_or_function_of_the_package():
    for name in EXPORTED:
        obj = getattr(audiosynth, name)
        assert inspect.isclass(obj) or inspect.isfunction(obj), name
        assert obj.__module__.startswith("audiosynth."), (name, obj.__module__)
        doc = _own_docstring(obj)
        assert doc and len(doc.split()) >= 3, f"{name}: no docstring of its own"


def test_version_is_the_installed_distributions():
    assert audiosynth.__version__ == importlib.metadata.version("audiosynth")


def test_renamed_functions_are_not_shadowed_by_their_submodules():
    importlib.import_module("audiosynth.build")  # the submodule must not shadow the exported function
    assert audiosynth.build_dataset.__module__ == "audiosynth.build.driver" and callable(audiosynth.build_dataset)
    assert audiosynth.validate_dataset.__name__ == "validate" and audiosynth.render_scene.__name__ == "render"


def test_import_is_lazy_and_star_import_gives_all():
    code = (
        "import json, sys\nimport audiosynth\nloaded = sorted(m for m in sys.modules if m.startswith('audiosynth.'))\n"
        "namespace = {}\nexec('from audiosynth import *', namespace)\n"
        "print(json.dumps([loaded, sorted(k for k in namespace if k != '__builtins__')]))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    loaded, star = json.loads(result.stdout)
    assert loaded == [], "import audiosynth loads no submodule"
    assert star == sorted(audiosynth.__all__)


def test_cli_help_does_not_import_the_heavy_stack():
    result = run_python(
        "import sys; from audiosynth.cli import main\n"
        "print(sorted(m for m in ('numpy', 'soundfile', 'tqdm', 'scipy', 'soxr', 'pyroomacoustics', 'torch') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- imports at run time ------------------------------------------------------------------------


def test_pkgutil_finds_every_source_file():
    on_disk = {module_file(m) for m in package_modules()}
    assert on_disk == set(PACKAGE_DIR.rglob("*.py")), "a folder without __init__.py hides its modules from the walk"


def _import_in_order(order: list[str]) -> str:
    """'' when the modules import one after the other in a fresh interpreter, else the error."""
    result = run_python("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in order))
    return "" if result.returncode == 0 else f"{order[0]} first: {result.stderr.strip().splitlines()[-1]}"


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module as the first import: a cycle fails from whichever of its modules is entered
    first, so every entry point is tried (importing the rest after it would enter no new one)."""
    modules = package_modules()
    with ThreadPoolExecutor(2) as pool:  # interpreters in parallel; each its own process
        errors = [e for e in pool.map(_import_in_order, [[m] for m in modules]) if e]
    assert not errors, errors


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_all_modules_import_in_one_interpreter_in_either_order(order: str):
    modules = package_modules()
    assert _import_in_order(modules if order == "sorted" else modules[::-1]) == ""


# -- imports in the source ----------------------------------------------------------------------


def _resolve(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of the package that one import statement of module ``importer`` loads."""
    known = set(package_modules())
    package = importer if module_file(importer).name == "__init__.py" else importer.rpartition(".")[0]
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    loaded = []
    for target in targets:
        parts = target.split(".")
        for depth in range(1, len(parts) + 1):  # a module's packages are imported first
            name = ".".join(parts[:depth])
            if name in known and not (importer == name or importer.startswith(name + ".")):
                loaded.append(name)
    return loaded


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name | ast.Attribute) and (getattr(test, "id", None) or getattr(test, "attr", None)) == "TYPE_CHECKING"


def import_graph(module_level_only: bool = True) -> dict[str, set[str]]:
    """module -> the package's modules it imports: at module level (not in functions, not under
    ``if TYPE_CHECKING:``), or, with ``module_level_only=False``, anywhere in its source."""
    graph: dict[str, set[str]] = {}
    for module in package_modules():
        edges: set[str] = set()

        def visit(node: ast.AST, module: str = module, edges: set[str] = edges) -> None:
            for child in ast.iter_child_nodes(node):
                if module_level_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    continue
                if module_level_only and isinstance(child, ast.If) and _is_type_checking(child.test):
                    for branch in child.orelse:
                        visit(branch)
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    edges.update(_resolve(module, child))
                visit(child)

        visit(ast.parse(module_file(module).read_text(encoding="utf-8")))
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_resolver_follows_relative_imports_and_their_packages():
    graph = import_graph()
    page = graph["audiosynth.report.page"]
    assert {"audiosynth.report.figures", "audiosynth.report.stats"} <= page  # from . import figures; from .stats import ...
    assert {"audiosynth.dataset", "audiosynth.dataset.trust"} <= page  # from ..dataset.trust import ...: its package first
    assert "audiosynth.report" not in page and "audiosynth" not in page  # its own packages are already loading
    assert "audiosynth.dataset.validate" not in page and "audiosynth.dataset.validate" in import_graph(False)["audiosynth.report.page"]
    assert not graph["audiosynth"], "the package's __init__ imports its exports lazily"


def test_no_module_level_import_cycle_in_the_source():
    assert cycles(import_graph()) == []


def test_dsp_imports_nothing_of_the_project():
    graph = import_graph(module_level_only=False)
    for module in (m for m in graph if m == "audiosynth.dsp" or m.startswith("audiosynth.dsp.")):
        outside = {m for m in graph[module] if not (m == "audiosynth.dsp" or m.startswith("audiosynth.dsp."))}
        assert not outside, f"{module} imports {sorted(outside)}"
    code = (
        "import importlib, json, pkgutil, sys\nimport audiosynth.dsp\n"
        "for m in pkgutil.walk_packages(audiosynth.dsp.__path__, 'audiosynth.dsp.'):\n    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('audiosynth'))))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "audiosynth.dsp.kernels" in loaded
    assert [m for m in loaded if m != "audiosynth" and not m.startswith("audiosynth.dsp")] == []
