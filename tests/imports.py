"""The project's import graph, read from its sources with `ast` (imports inside functions too)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project_modules() -> list[str]:
    """Every module of `app` and `cnn_core`, e.g. "cnn_core.model.graph"."""
    names = []
    for package in ("app", "cnn_core"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@functools.cache
def project_imports(module: str) -> frozenset[str]:
    """The project modules (`app.*`, `cnn_core.*`) that `module`'s source imports anywhere in it
    (at the top or inside a function), read with `ast`: `{"app.jobspec", ...}`."""
    path = module_file(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("app", "cnn_core") and module_file(name):
                found.add(name)
    return frozenset(found)


def module_file(name: str) -> Path | None:
    """The source file of project module `name` (`a/b.py` or `a/b/__init__.py`), or None."""
    path = ROOT / name.replace(".", "/")
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.exists()), None)


def reachable(module: str) -> set[str]:
    """Every project module `module` imports, directly or through others (and their packages)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:n]) for n in range(1, len(parts))]  # importing runs packages
        todo += sorted(project_imports(name))
    return seen - {module}
