"""Layering rules (import-linter contracts: Qt only in gui/, data flows one way); no pickle, no shell=True."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
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


def test_import_contracts_hold():
    """The import-linter contracts in pyproject.toml: only gui/ imports Qt, and lower layers never import upper
    ones (cli → commands → gui → soak → live → recording → … → errors)."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command, "lint-imports is not beside this Python: pip install -e '.[test]'"
    lint = subprocess.run([command, "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Contracts: 3 kept, 0 broken." in lint.stdout


def test_the_tree_is_ruff_clean_and_ruff_formatted():
    """`ruff check` and `ruff format --check` as configured in pyproject.toml, so CI holds both."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff, "ruff is not beside this Python: pip install -e '.[test]'"
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=PACKAGE.parent, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_the_check_sees_imports():
    # Guard against the pickle rule passing vacuously: it must see an import written in any form.
    sample = PACKAGE.parent / "tests" / "test_architecture.py"
    assert "ast" in imported_modules(sample) and "pathlib" in imported_modules(sample)


def test_no_pickle_and_no_shell_true_anywhere():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "allow_pickle=True" not in text, path
        assert "shell=True" not in text, path
        assert "pickle" not in imported_modules(path), path


# Modules being restructured into the one frame loop (issue 28): their mypy errors (FrameSource without `size`,
# Optional writers, FaceResult against the tracker's protocol) go with that change, then this set is emptied.


def test_package_is_mypy_clean():
    """`mypy facemap_gui` as configured in pyproject.toml ([tool.mypy]): no error anywhere."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "facemap_gui"], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert "No module named mypy" not in result.stderr, "mypy is not installed: pip install -e '.[test]'"
    assert result.returncode in (0, 1) and not result.stderr, result.stdout + result.stderr  # 2: mypy itself failed
    assert result.returncode == 0 and result.stdout.startswith("Success: no issues found"), result.stdout
