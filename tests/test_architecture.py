"""Layering rules: only facemap_gui/gui imports Qt; the core stays importable and testable without it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "facemap_gui"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_gui_imports_qt():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "gui" in path.relative_to(PACKAGE).parts[:1]:
            continue
        qt = {m for m in imported_modules(path) if m.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6")}
        if qt:
            offenders.append(f"{path.relative_to(PACKAGE)}: {sorted(qt)}")
    assert offenders == []


def test_the_check_sees_imports():
    # Guard against the rule passing vacuously: it must see an import written in any form.
    sample = PACKAGE.parent / "tests" / "test_architecture.py"
    assert "ast" in imported_modules(sample) and "pathlib" in imported_modules(sample)


def test_no_pickle_and_no_shell_true_anywhere():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "allow_pickle=True" not in text, path
        assert "shell=True" not in text, path
        assert "pickle" not in imported_modules(path), path
