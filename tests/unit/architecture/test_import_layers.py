"""Imports run one way: cli/serving -> indexing/search -> store/sources/model -> images -> settings/errors.

Parses every module of ``src/clipvec`` (no import needed, so it also sees imports inside
functions and under ``TYPE_CHECKING``) and fails on an import of a higher layer or of a
sibling package of the same layer, and on a circle of module-level imports. The checker is
tested too, on a planted tree with an upward import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

# Each component and its layer; a component may import its own modules and lower layers only.
LAYERS: dict[str, int] = {
    "clipvec.base": 0,  # clipvec/__init__.py, settings, errors, locations, shell, assets (data)
    "clipvec.images": 1,
    "clipvec.model": 2,
    "clipvec.store": 2,
    "clipvec.sources": 2,
    "clipvec.indexing": 3,
    "clipvec.search": 3,
    "clipvec.serving": 4,
    "clipvec.cli": 4,
}
BASE_MODULES = {
    "clipvec",
    "clipvec.settings",
    "clipvec.errors",
    "clipvec.locations",
    "clipvec.shell",
    "clipvec.assets",
}
ENTRY_POINTS = {"clipvec.__main__"}  # `python -m clipvec`: above every layer


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def component(module: str) -> str | None:
    """The layered component a ``clipvec...`` module belongs to (None: not one of ours)."""
    if module in BASE_MODULES:
        return "clipvec.base"
    parts = module.split(".")
    if parts[0] != "clipvec" or len(parts) < 2:
        return None
    return ".".join(parts[:2]) if ".".join(parts[:2]) in LAYERS else None


def imports_of(root: Path, path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every ``clipvec`` import in ``path``."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                base = ".".join(parent[: len(parent) - node.level + 1] + ([base] if base else []))
            # "from clipvec.x import y" may import the module clipvec.x.y or a name in clipvec.x
            targets = [f"{base}.{alias.name}" for alias in node.names] if base else []
            targets = [
                t
                if (root / Path(*t.split("."))).exists() or (root / f"{t.replace('.', '/')}.py").exists()
                else base
                for t in targets
            ]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "clipvec":
                found.append((target, node.lineno, id(node) in top_level))
    return found


def layer_violations(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "clipvec").rglob("*.py")):
        source = module_name(root, path)
        if source in ENTRY_POINTS:
            continue
        mine = component(source)
        assert mine is not None, f"{source} is in no layer: add it to LAYERS"
        for target, line, _ in imports_of(root, path):
            theirs = component(target)
            if theirs is None or theirs == mine:
                continue
            if LAYERS[theirs] >= LAYERS[mine]:
                kind = "upward" if LAYERS[theirs] > LAYERS[mine] else "sideways"
                problems.append(
                    f"{path.relative_to(root)}:{line}: {kind} import of {target} ({mine} -> {theirs})"
                )
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Circles of module-level imports between clipvec modules (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for path in (root / "clipvec").rglob("*.py"):
        graph.setdefault(module_name(root, path), set())
    for path in (root / "clipvec").rglob("*.py"):
        source = module_name(root, path)
        for target, _, top in imports_of(root, path):
            while target and target not in graph:
                target = target.rpartition(".")[0]
            if top and target and target != source and not source.startswith(target + "."):
                graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_imports_run_one_way():
    problems = layer_violations(SRC)
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_no_import_circles():
    assert import_cycles(SRC) == []


def test_every_package_is_in_a_layer():
    packages = {module_name(SRC, p.parent) for p in (SRC / "clipvec").glob("*/__init__.py")}
    assert {p for p in packages if component(p) is None} == set()


@pytest.mark.parametrize(
    ("module", "code", "expected"),
    [
        ("images/bad.py", "from clipvec.store import ImageStore\n", "upward import of clipvec.store"),
        (
            "store/bad.py",
            "def f():\n    import clipvec.sources.s3\n",
            "sideways import of clipvec.sources.s3",
        ),
        ("settings.py", "from clipvec.cli import main\n", "upward import of clipvec.cli"),
    ],
)
def test_the_check_finds_a_planted_import(tmp_path, module, code, expected):
    root = tmp_path / "src"
    for package in ("clipvec", "clipvec/images", "clipvec/store", "clipvec/sources", "clipvec/cli"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "clipvec" / "sources" / "s3.py").write_text("")
    (root / "clipvec" / module).write_text(code)
    problems = layer_violations(root)
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_check_finds_a_planted_circle(tmp_path):
    root = tmp_path / "src"
    (root / "clipvec" / "images").mkdir(parents=True)
    (root / "clipvec" / "__init__.py").write_text("")
    (root / "clipvec" / "images" / "__init__.py").write_text("")
    (root / "clipvec" / "images" / "a.py").write_text("from clipvec.images.b import x\n")
    (root / "clipvec" / "images" / "b.py").write_text("from clipvec.images.a import y\n")
    assert import_cycles(root) == [["clipvec.images.a", "clipvec.images.b"]]
