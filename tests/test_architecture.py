"""The house rules of docs/ARCHITECTURE.md, read from the code's own imports: no import runs up a floor, and no
module (nor package) imports itself through others. Every import counts, also one inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# The floors, bottom up: an import may go down or sideways within a floor, never up.
FLOORS = {"core": 0, "models": 1, "tasks": 1, "quant": 2, "compress": 2, "train": 3, "study": 3, "deploy": 3,
          "auto": 3,
          "cli": 4, "__main__": 5}


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The redge modules the file `path` (module `name`) imports (absolute and relative, at any depth of the file)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import redge.x.y.attr` -> the module redge.x.y
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module -> the redge modules it imports."""
    files = {module_name(p, root): p for p in (root / "redge").rglob("*.py")}
    return {name: imports_of(path, name, set(files)) for name, path in files.items()}


def floor_of(module: str) -> tuple[str, int] | None:
    """(layer, floor) of a module; None for the package root `redge` itself."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    layer = parts[1]
    if layer not in FLOORS:
        raise AssertionError(f"{module}: layer {layer!r} has no floor; add it to FLOORS and docs/ARCHITECTURE.md")
    return layer, FLOORS[layer]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow from a module to one on a higher floor."""
    bad = []
    for src, targets in graph.items():
        here = floor_of(src)
        for dst in targets:
            there = floor_of(dst)
            if here and there and there[1] > here[1]:
                bad.append(f"{src} ({here[0]}, floor {here[1]}) imports {dst} ({there[0]}, floor {there[1]})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Layer -> the other layers it imports (redge.<layer>)."""
    out: dict[str, set[str]] = {}
    for src, targets in graph.items():
        a = src.split(".")[:2]
        for dst in targets:
            b = dst.split(".")[:2]
            if len(a) == 2 and len(b) == 2 and a != b:
                out.setdefault(".".join(a), set()).add(".".join(b))
    return out


def test_no_import_runs_up_a_floor() -> None:
    assert upward_imports(import_graph()) == []


def test_no_module_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_layer_import_cycles() -> None:
    assert cycles(package_graph(import_graph())) == []


@pytest.fixture
def toy_tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "redge"
    for layer in ("core", "models", "quant", "cli"):
        (pkg / layer).mkdir(parents=True)
        (pkg / layer / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "errors.py").write_text("X = 1\n")
    (pkg / "models" / "a.py").write_text("from redge.core.errors import X\n")
    (pkg / "quant" / "b.py").write_text("from redge.models import a\n")
    (pkg / "cli" / "main.py").write_text("import redge.quant.b\n")
    return tmp_path


def test_rules_catch_an_upward_import_and_a_cycle(toy_tree: Path) -> None:
    """The checks can fail: a lazy import from models up to quant is both an upward arrow and a cycle."""
    graph = import_graph(toy_tree)
    assert upward_imports(graph) == [] and cycles(graph) == []
    (toy_tree / "redge" / "models" / "a.py").write_text(
        "from redge.core.errors import X\n\ndef f():\n    from ..quant import b\n    return b\n")
    graph = import_graph(toy_tree)
    assert upward_imports(graph) == ["redge.models.a (models, floor 1) imports redge.quant.b (quant, floor 2)"]
    assert cycles(graph) == [["redge.models.a", "redge.quant.b"]]
    assert cycles(package_graph(graph)) == [["redge.models", "redge.quant"]]
