"""Imports go downward: the top-level CLI (`llmpilot.cli`) imports the library and the sub-CLIs,
and nothing under src/llmpilot imports it back (not even lazily inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import llmpilot

PACKAGE = Path(llmpilot.__file__).resolve().parent
#: The entry points that sit above `llmpilot.cli`.
TOP = {"cli.py", "__main__.py"}


def module_name(path: Path) -> str:
    parts = ["llmpilot", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module a file (module `module`) imports, anywhere in it; relative imports resolved, and
    `from a import b` counted as both `a` and `a.b` (b may be a module)."""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def importers_of(target: str, exclude: set[str]) -> list[str]:
    return sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if str(path.relative_to(PACKAGE)) not in exclude
        and any(m == target or m.startswith(target + ".") for m in imported_modules(path, module_name(path)))
    )


def test_no_module_imports_the_top_level_cli() -> None:
    assert importers_of("llmpilot.cli", TOP) == []


def test_the_scanner_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    # The check above can only pass for the right reason if these forms are recognized.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from llmpilot.cli import app\n", encoding="utf-8")
    assert "llmpilot.cli" in imported_modules(probe, "llmpilot.evaluation.probe")
    probe.write_text("from .. import cli\n", encoding="utf-8")
    assert "llmpilot.cli" in imported_modules(probe, "llmpilot.evaluation.probe")
    probe.write_text("import llmpilot.cli as top\n", encoding="utf-8")
    assert "llmpilot.cli" in imported_modules(probe, "llmpilot.evaluation.probe")
    assert module_name(PACKAGE / "evaluation" / "cli.py") == "llmpilot.evaluation.cli"
    assert module_name(PACKAGE / "optimization" / "__init__.py") == "llmpilot.optimization"
