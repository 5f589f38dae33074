"""The shape of the package (issue #16): modules stay small enough to read, and no module depends
on itself through others, counting the imports made inside functions too (a lazy import only
hides a cycle until the day both modules are loaded in the other order). The layers between the
sub-packages are checked by import-linter (``lint-imports``, the contracts in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    names = {}
    for path in sorted(BOT.rglob("*.py")):
        parts = path.relative_to(BOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The modules of bot/ that ``path`` imports anywhere in it (top level, in functions, under
    TYPE_CHECKING); ``from package import module`` counts as importing that module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these by responsibility (at most {MAX_LINES} lines): {long}"


def test_no_import_cycles_even_through_function_level_imports():
    graph = _graph()
    assert "bot.wiring" in graph["bot.cli"], "the walk sees imports made inside functions"
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_nothing_the_app_runs_imports_the_measurement_package():
    """bot.ops (evaluation, BEIR, benchmarks) is imported only by the CLI's eval and bench."""
    importers = {name for name, imported in _graph().items()
                 if any(m == "bot.ops" or m.startswith("bot.ops.") for m in imported)
                 and not name.startswith("bot.ops")}
    assert importers == {"bot.cli"}
