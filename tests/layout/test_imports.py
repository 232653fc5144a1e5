"""The package's layout rules, checked on the source itself (issue 14).

- No import cycle between aidmp modules, counting every import: top-level, inside functions and
  under ``if TYPE_CHECKING:`` (a type-only cycle still means two modules that can't be read, tested
  or replaced one without the other).
- No module imports another module's private (underscore) names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "aidmp"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str) -> Iterator[tuple[str, list[str]]]:
    """(imported module, imported names) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [a.name for a in node.names]


def _resolve(target: str, names: list[str], modules: dict[str, Path]) -> set[str]:
    """The aidmp modules an import statement reads (``from pkg import mod`` reads ``pkg.mod``)."""
    found = {f"{target}.{n}" for n in names if f"{target}.{n}" in modules}
    if target in modules and (not names or len(found) < len(names)):
        found.add(target)  # a name defined in (or re-exported by) the module itself
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in _imports(path, name):
            if target == "aidmp" or target.startswith("aidmp."):
                graph[name] |= _resolve(target, names, modules) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _without_own_init(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges from a submodule to its own package's ``__init__``: a package facade that
    re-exports its submodules is read through, not depended on."""
    return {m: {t for t in deps if not m.startswith(t + ".")} for m, deps in graph.items()}


def test_no_import_cycles_type_only_imports_included() -> None:
    cycles = _cycles(_without_own_init(_graph()))
    assert cycles == [], "import cycles between aidmp modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _private_imports() -> list[str]:
    modules = _modules()
    bad = []
    for name, path in modules.items():
        for target, names in _imports(path, name):
            if not (target == "aidmp" or target.startswith("aidmp.")) or target == name:
                continue
            for n in names:
                private = n.startswith("_") and not n.startswith("__")
                # a package's private submodule is its own business: its siblings may use it
                sibling = (f"{target}.{n}" in modules
                           and name.rpartition(".")[0] == target)
                if private and not sibling:
                    bad.append(f"{name}: from {target} import {n}")
    return bad


def _private_attribute_reads() -> list[str]:
    """``module._name`` reads where ``module`` is an imported aidmp module."""
    modules = _modules()
    bad = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aidmp"):
                aliases |= {a.asname or a.name for a in node.names
                            if f"{node.module}.{a.name}" in modules}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names
                            if a.name.startswith("aidmp")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{name}: {node.value.id}.{node.attr}")
    return bad


@pytest.mark.parametrize("check", [_private_imports, _private_attribute_reads])
def test_no_module_reads_another_modules_private_names(check: object) -> None:
    assert callable(check)
    found = check()
    assert found == [], "\n".join(found)
