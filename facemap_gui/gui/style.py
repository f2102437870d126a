"""The look: Qt's Fusion style with a dark palette (video reads best on dark) and a few named widgets styled."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

Named = TypeVar("Named", bound=QObject)

ACCENT = "#3d8bfd"
STYLE_SHEET = f"""
QToolBar#controls {{ spacing: 4px; padding: 4px 8px; border: none; background: #24262b; }}
QToolBar#controls QToolButton {{ padding: 4px 10px; border-radius: 4px; color: #d7dae0; }}
QToolBar#controls QToolButton:hover {{ background: #34373e; }}
QToolBar#controls QToolButton:checked {{ background: {ACCENT}; color: white; }}
QToolBar#controls QToolButton:disabled, QToolBar#controls QToolButton[unavailable="true"] {{ color: #4b5059; }}
QToolBar#controls QToolButton#qt_toolbar_ext_button {{ padding: 2px; background: #34373e; }}
QToolBar#controls QToolButton#recordButton {{ color: #ff6b6b; font-weight: bold; }}
QToolBar#controls QToolButton#recordButton:checked {{ background: #d64545; color: white; }}
QLabel#toolbarLabel {{ color: #8a93a6; font-size: 8pt; font-weight: bold; letter-spacing: 1px; padding: 0 4px 0 8px; }}
QFrame#hud {{ background: #1b1d22; border-left: 1px solid #2c2f36; }}
QLabel#hudSection {{ color: #8a93a6; font-size: 8pt; font-weight: bold; letter-spacing: 1px; padding-top: 10px; }}
QLabel#hudKey {{ color: #aab1bf; }}
QLabel#hudValue {{ color: #f2f4f8; font-family: monospace; }}
QLabel#standInBanner {{ background: #b3261e; color: white; font-weight: bold; padding: 6px; }}
QLabel#standInBanner[preparing="true"] {{ background: #2c4a7a; }}
QLabel#messageTitle {{ color: #f2f4f8; font-size: 18pt; }}
QLabel#messageDetail {{ color: #aab1bf; padding: 0 60px; }}
QLabel#statusText[error="true"] {{ color: #ff8a80; }}
MessagePage QPushButton {{ padding: 7px 18px; border-radius: 4px; background: #2f333a; color: #e6e8ec;
                           border: 1px solid #3a3f47; }}
MessagePage QPushButton:hover {{ background: {ACCENT}; border-color: {ACCENT}; color: white; }}
QLabel#stateLabel {{ color: #8a93a6; padding: 0 8px; }}
QLabel#stateLabel[state="running"] {{ color: #5fd38d; }}
QLabel#stateLabel[state="failed"] {{ color: #ff8a80; }}
QLabel#recordingLabel {{ color: #ff6b6b; font-weight: bold; padding: 0 8px; }}
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#202227",
        QPalette.ColorRole.WindowText: "#e6e8ec",
        QPalette.ColorRole.Base: "#17181c",
        QPalette.ColorRole.AlternateBase: "#24262b",
        QPalette.ColorRole.Text: "#e6e8ec",
        QPalette.ColorRole.Button: "#2b2e34",
        QPalette.ColorRole.ButtonText: "#e6e8ec",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2b2e34",
        QPalette.ColorRole.ToolTipText: "#e6e8ec",
        QPalette.ColorRole.PlaceholderText: "#7c8392",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c616b"))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)


def named(widget: Named, name: str) -> Named:
    """`widget` with the object name the style sheet (and the tests) find it by."""
    widget.setObjectName(name)
    return widget
