"""ARCHITECTURE.md is kept true: the layers it declares and the module map it lists.

The test reads two things from ARCHITECTURE.md -- the fenced ``layers`` block (lowest layer
first, each line ``name: module-prefix ...``) and every ``hybridflow/...`` path in the
"Module map" section -- and checks the package against them:

- no module imports a module of a higher layer (lazy imports inside functions and
  ``TYPE_CHECKING`` imports count too: a dependency is a dependency);
- no import cycle between modules;
- no module imports a private name (``_x``) of another module, nor a private module of
  another package;
- every module of the package is in the map, and everything in the map exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "hybridflow"
DOC = ROOT / "ARCHITECTURE.md"


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _layers() -> list[tuple[str, list[str]]]:
    match = re.search(r"```layers\n(.*?)```", _doc(), flags=re.S)
    assert match, "ARCHITECTURE.md has no ```layers block"
    layers = []
    for line in match.group(1).strip().splitlines():
        name, _, prefixes = line.partition(":")
        layers.append((name.strip(), prefixes.split()))
    return layers


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int:
    """Index of the layer whose longest prefix matches ``module`` (``hybridflow.`` stripped)."""
    short = module.removeprefix("hybridflow").lstrip(".")
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (short == prefix or short.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def _resolve(node: ast.ImportFrom, module: str, modules: dict[str, Path]) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module, modules):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every hybridflow import."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, modules)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:  # `from pkg import module`
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m.split(".")[0] == "hybridflow"]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m in modules:
        for target, _, _ in _imports(m, modules):
            if target in modules and target != m:
                graph[m].add(target)
    return graph


def test_layers_block_covers_every_module() -> None:
    layers = _layers()
    unplaced = [m for m in _modules() if m != "hybridflow" and _layer_of(m, layers) < 0]
    assert not unplaced, f"modules in no layer of ARCHITECTURE.md: {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    layers, modules = _layers(), _modules()
    upward = []
    for m in modules:
        here = _layer_of(m, layers)
        for target, _, line in _imports(m, modules):
            there = _layer_of(target, layers)
            if there > here:
                upward.append(
                    f"{modules[m].relative_to(ROOT)}:{line} ({layers[here][0]}) imports "
                    f"{target} ({layers[there][0]})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _graph()
    # Packages' __init__ re-export their modules; an edge into a package from its own
    # module is the normal `from . import x` shape, not a cycle of concepts.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(module: str, modules: dict[str, Path]) -> str:
    return module if _is_package(module, modules) else module.rpartition(".")[0]


def test_no_private_imports_across_modules() -> None:
    modules = _modules()
    private = []
    for m in modules:
        for target, name, line in _imports(m, modules):
            where = f"{modules[m].relative_to(ROOT)}:{line}"
            if name is not None and _private(name) and target != m:
                private.append(f"{where} imports {name} from {target}")
            if _private(target.rpartition(".")[2]):
                owner = target.rpartition(".")[0]
                if not _package_of(m, modules).startswith(owner):
                    private.append(f"{where} imports the private module {target}")
    assert not private, "private imports:\n" + "\n".join(private)


def _mapped_paths() -> set[str]:
    match = re.search(r"^## Module map\n(.*?)(?=^## |\Z)", _doc(), flags=re.S | re.M)
    assert match, "ARCHITECTURE.md has no '## Module map' section"
    return set(re.findall(r"`(hybridflow/[\w/]+(?:\.py|/))`", match.group(1)))


def test_module_map_is_complete_and_true() -> None:
    mapped = _mapped_paths()
    missing_files = sorted(p for p in mapped if not (SRC / p).exists())
    real = {
        str(p.relative_to(SRC))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.read_text(encoding="utf-8").strip()
    }
    packages = {p for p in mapped if p.endswith("/")}
    unmapped = sorted(
        p
        for p in real
        if p not in mapped
        and not (p.endswith("__init__.py") and p[: -len("__init__.py")] in packages)
    )
    assert not missing_files, f"in ARCHITECTURE.md's map but not in the package: {missing_files}"
    assert not unmapped, f"package modules missing from ARCHITECTURE.md's map: {unmapped}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from hybridflow.study.runner import run_study\n", "upward"),
        ("from hybridflow.inference.posterior import _private\n", "private"),
    ],
)
def test_the_checks_catch_what_they_claim(tmp_path: Path, source: str, expected: str) -> None:
    """The detectors above are not vacuous: a planted upward and private import are seen."""
    modules = {"hybridflow.models.planted": tmp_path / "planted.py"}
    modules["hybridflow.models.planted"].write_text(source, encoding="utf-8")
    layers = _layers()
    found = _imports("hybridflow.models.planted", modules)
    ((target, name, _),) = found
    if expected == "upward":
        assert _layer_of(target, layers) > _layer_of("hybridflow.models.planted", layers)
    else:
        assert name is not None and _private(name)
