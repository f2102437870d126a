"""Whether the installed PySide6 is sound on this Python: measured, not looked up by version.

PySide6-Essentials 6.12.0 on CPython 3.11 drops one reference to None on every Qt call that returns nothing; None's
count reaches zero within minutes of a running window and Python aborts ("Fatal Python error: none_dealloc"). From
3.12 on None is immortal and the same bug is harmless. `doctor` and the window's start-up report it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys

PROBE_CALLS = 200
LEAK_PER_CALL = 0.5  # a sound binding reads 0.00; the known bug -1.00 (other threads may move the count a little)


def none_references_lost_per_call(calls: int = PROBE_CALLS) -> float:
    """References to None lost per call of a Qt method returning nothing (QImage.setDotsPerMeterX: no QApplication
    needed). 0.0 on CPython 3.12+, where None's count is fixed."""
    if sys.version_info >= (3, 12):
        return 0.0
    from PySide6.QtGui import QImage

    image = QImage(1, 1, QImage.Format.Format_RGB32)
    before = sys.getrefcount(None)
    for _ in range(calls):
        image.setDotsPerMeterX(3780)
    return (before - sys.getrefcount(None)) / calls


def none_leak_problem(lost_per_call: float | None = None) -> str | None:
    """One line naming the fix when PySide6 loses references to None here (measured unless given), else None."""
    lost = none_references_lost_per_call() if lost_per_call is None else lost_per_call
    if lost < LEAK_PER_CALL:
        return None
    try:
        pyside = f"PySide6-Essentials {importlib.metadata.version('PySide6-Essentials')}"
    except importlib.metadata.PackageNotFoundError:
        pyside = "this PySide6"
    return (
        f"{pyside} on Python {platform.python_version()} loses a reference to None on every Qt call "
        f"returning nothing ({lost:.2f} a call), so the window aborts (none_dealloc) within minutes: run "
        '`pip install "PySide6-Essentials<6.12"` or use Python 3.12+'
    )
