"""The package's layers, read from the code's own imports with `ast` (lazy imports inside functions
count too). An import only goes down:

    utils -> model, tokenizers -> config -> data, checkpoint -> decode -> eval, report
          -> train, interop -> loading -> classify, serve -> compat -> cli

Two parts on the same level never import each other (train knows no interop, interop no train), and
nothing imports in a cycle. docs/architecture.md draws the same picture.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# part -> level. A part is a top-level module or subpackage of babyllama.
LEVELS = {
    "utils": 0,
    "model": 1, "tokenizers": 1,
    "config": 2,
    "data": 3, "checkpoint": 3,
    "decode": 4,
    "eval": 5, "report": 5,
    "train": 6, "interop": 6,
    "loading": 7,
    "classify": 8,
    "serve": 8,
    "compat": 9,
    "cli": 10,
}
ENTRY = {"babyllama", "babyllama.__main__"}  # the lazy top-level API and `python -m babyllama`


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_imports(root: Path) -> dict[str, set[str]]:
    """module -> the babyllama modules it imports (a `from pkg import name` counts as pkg.name when
    that is a module, else as pkg)."""
    files = {module_name(p, root): p for p in (root / "babyllama").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "babyllama")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] != "babyllama":
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in files else base)
        graph[mod] = {m for m in found if m != mod}
    return graph


def part_of(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in graph.items():
        if src in ENTRY:
            continue
        sp = part_of(src)
        if sp not in LEVELS:
            bad.append(f"{src}: part {sp!r} has no level in tests/test_layers.py; give it one")
            continue
        for dst in sorted(targets):
            dp = part_of(dst)
            if dst in ENTRY:
                bad.append(f"{src} imports {dst}: import the module that defines the name instead")
            elif dp != sp and LEVELS.get(dp, 99) >= LEVELS[sp]:
                bad.append(f"{src} ({sp}, level {LEVELS[sp]}) imports {dst} ({dp}, level {LEVELS.get(dp)})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def imports_of(graph: dict[str, set[str]], part: str) -> set[str]:
    return {part_of(d) for s, ds in graph.items() if part_of(s) == part and s not in ENTRY for d in ds}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return read_imports(SRC)


def test_every_import_goes_down(graph):
    assert violations(graph) == []


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_named_rules(graph):
    assert imports_of(graph, "model") <= {"utils"}, "the model imports nothing of the package but utils"
    assert not imports_of(graph, "decode") & {"train", "interop", "loading", "cli"}
    assert not imports_of(graph, "train") & {"interop", "loading", "cli"}
    assert "data" not in imports_of(graph, "tokenizers"), "a tokenizer trains on plain texts"
    for part in LEVELS:
        if part != "cli":
            assert "cli" not in imports_of(graph, part), f"{part} imports cli"


def test_checker_catches_a_wrong_import(tmp_path):
    """Adding `import babyllama.train` to decode (or a cycle) must fail the rules above."""
    root = tmp_path / "src"
    shutil.copytree(SRC / "babyllama", root / "babyllama", ignore=shutil.ignore_patterns("__pycache__"))
    engine = next((root / "babyllama" / "decode").glob("*.py"))
    engine.write_text("import babyllama.train\n" + engine.read_text(encoding="utf-8"), encoding="utf-8")
    g = read_imports(root)
    assert any("babyllama.train" in v and "decode" in v for v in violations(g))
    assert "train" in imports_of(g, "decode")
    # a lazy import inside a function counts as well, and closes a cycle model -> data -> model
    model = root / "babyllama" / "model.py"
    model.write_text(model.read_text(encoding="utf-8") + "\n\ndef _f():\n    from babyllama.data import loader\n",
                     encoding="utf-8")
    loader = root / "babyllama" / "data" / "loader.py"
    loader.write_text("from babyllama.model import Llama\n" + loader.read_text(encoding="utf-8"), encoding="utf-8")
    g = read_imports(root)
    assert any("babyllama.model" in c and "babyllama.data.loader" in c for c in cycles(g))


def test_relative_imports_are_resolved(tmp_path):
    pkg = tmp_path / "babyllama" / "decode"
    pkg.mkdir(parents=True)
    (tmp_path / "babyllama" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .engine import generate\n")
    (pkg / "engine.py").write_text("from ..train import loop\nfrom . import settings\n")
    (pkg / "settings.py").write_text("")
    g = read_imports(tmp_path)
    assert g["babyllama.decode"] == {"babyllama.decode.engine"}
    assert g["babyllama.decode.engine"] == {"babyllama.train", "babyllama.decode.settings"}
