"""The house rules on structure, checked over the AST of search/ and web/ (like
../shared/tools/structure-check.py): no import cycles between modules (imports inside functions
count; a package's __init__ re-exporting its modules is not a cycle) and no ``_private`` name
imported from another module. Also: search/ never imports Flask (only ``newsearch serve`` reaches
into web/), and only search/embed/ imports torch, sentence-transformers, OpenVINO or NNCF."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("search", "web")
HEAVY = ("torch", "sentence_transformers", "openvino", "nncf")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = f
    return mods


def _imports(name: str, f: Path, mods: dict[str, Path]) -> tuple[set[str], list[str], set[str]]:
    """(project modules imported, private names imported from another module, all top names)."""
    pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    private: list[str] = []
    tops: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            tops.add(target.split(".")[0])
            for a in node.names:
                if f"{target}.{a.name}" in mods:
                    deps.add(f"{target}.{a.name}")
                elif target in mods:
                    deps.add(target)
                    if a.name.startswith("_") and not a.name.startswith("__") and target != name:
                        private.append(f"{name} imports {a.name} from {target}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                tops.add(a.name.split(".")[0])
                if a.name in mods:
                    deps.add(a.name)
    deps.discard(name)
    return deps, private, tops


def _cycles(edges: dict[str, set[str]], mods: dict[str, Path]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 and not any(mods[m].name == "__init__.py" for m in comp):
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_and_no_private_names_across_modules():
    mods = _modules()
    edges, private = {}, []
    for name, f in mods.items():
        edges[name], p, _ = _imports(name, f, mods)
        private += p
    assert _cycles(edges, mods) == []
    assert private == []


def test_layering():
    mods = _modules()
    for name, f in mods.items():
        _, _, tops = _imports(name, f, mods)
        if name.startswith("search"):
            assert "flask" not in tops, name
            # The command line starts the server: the one place search/ reaches into web/.
            assert "web" not in tops or name == "search.cli", name
        heavy = set(HEAVY) - ({"openvino"} if name == "search.vectors" else set())
        if not name.startswith("search.embed"):  # vectors.py: the int8 scan runs on OpenVINO
            assert not tops & heavy, f"{name} imports {tops & heavy}"


def test_the_checker_sees_a_cycle_and_a_private_import(tmp_path):
    """The checks above can fail: a planted cycle and a planted private import are found."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from pkg.b import _hidden\n")
    b.write_text("def f():\n    from pkg import a\n")
    mods = {"pkg.a": a, "pkg.b": b}
    edges = {}
    found = []
    for name, f in mods.items():
        edges[name], p, _ = _imports(name, f, mods)
        found += p
    assert _cycles(edges, mods) == [["pkg.a", "pkg.b"]]
    assert found == ["pkg.a imports _hidden from pkg.b"]


def test_public_surface_is_exported_and_lazy():
    import subprocess
    import sys

    import search

    for name in search.__all__:
        assert getattr(search, name) is not None, name
    from search.engine import Engine

    assert search.Engine is Engine
    code = "import sys, search.cli; print('whoosh' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # `newsearch --help` loads neither


def test_all_names_the_exports():
    import search

    assert set(search.__all__) == {"__version__", *search._EXPORTS}
