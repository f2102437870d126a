"""The Help menu under pytest-qt: About names the versions and the model in use, the documentation entries open
the docs/ files, and "Copy diagnostics" puts the `doctor --json` report on the clipboard."""

from __future__ import annotations

import json
import sys

import onnxruntime
import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication

from facemap_gui import __version__
from facemap_gui.core.digest import file_sha256
from facemap_gui.gui import help as help_module
from tests.test_gui import wait_frames

WAIT_MS = 60_000  # doctor --json opens a session on every runtime here


def test_about_names_the_versions_and_the_model_in_use(qtbot, open_window, tiny_model):
    window = open_window("demo")
    wait_frames(qtbot, window, lambda live: live.runtime is not None)
    text = window.help.about_text()
    for version in (__version__, qVersion(), PySide6.__version__, onnxruntime.__version__):
        assert f"<b>{version}</b>" in text
    assert "QNN SDK" in text and "onnxruntime-qnn" in text
    assert "STAND-IN" in text and str(tiny_model) in text and file_sha256(tiny_model) in text
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in menu.actions() if a.text()] == [
        "&Keyboard shortcuts",
        "&Documentation",
        "&Copy diagnostics",
        "&About facemap-gui",
    ]


def test_the_documentation_entries_open_the_docs_files(qtbot, open_window, monkeypatch):
    opened = []
    monkeypatch.setattr(help_module.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    window = open_window("fakecam:0")
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    docs = next(a.menu() for a in help_menu.actions() if a.text() == "&Documentation")
    titles = {a.text(): a for a in docs.actions()}
    assert "The window" in titles and "Models" in titles  # docs/gui.md and docs/models.md, by their headings
    titles["The window"].trigger()
    assert opened == [str(help_module.DOCS / "gui.md")]


def test_the_documentation_menu_says_so_when_the_docs_are_not_there(tmp_path):
    assert help_module.doc_pages(tmp_path / "docs") == []


def test_copy_diagnostics_puts_the_doctor_report_on_the_clipboard(qtbot, open_window):
    window = open_window("fakecam:0")
    QGuiApplication.clipboard().setText("")
    window.help.diagnostics_action.trigger()
    assert "Collecting diagnostics" in window.status.text.text()
    qtbot.waitUntil(lambda: "copied to the clipboard" in window.status.text.text(), timeout=WAIT_MS)
    report = json.loads(QGuiApplication.clipboard().text())
    assert set(help_module.DOCTOR_KEYS) <= set(report) and report["facemap_gui"] == __version__
    assert report["platform"]["executable"] == sys.executable  # this installation's doctor


def test_copy_diagnostics_that_fail_say_why(qtbot, open_window, monkeypatch):
    monkeypatch.setattr(help_module, "doctor_command", lambda: [sys.executable, "-c", "raise SystemExit('no luck')"])
    window = open_window("fakecam:0")
    QGuiApplication.clipboard().setText("before")
    window.help.diagnostics_action.trigger()
    qtbot.waitUntil(lambda: "Diagnostics failed" in window.status.text.text(), timeout=WAIT_MS)
    assert "no luck" in window.status.text.text() and QGuiApplication.clipboard().text() == "before"
