#!/usr/bin/env python3
"""Render assets/facemap-gui.svg to the window icon (a PNG inside the package, so an installed app has it)
and the Windows .exe icon (assets/facemap-gui.ico).

    python packaging/make_icons.py

Run after editing the SVG; the renders are committed so that builds need neither Qt's SVG module nor Pillow.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

PROJECT = Path(__file__).resolve().parents[1]
ASSETS = PROJECT / "assets"
WINDOW_ICON = PROJECT / "facemap_gui" / "data" / "facemap-gui.png"
SVG = ASSETS / "facemap-gui.svg"
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def render(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])  # QImage text/SVG rendering needs a Gui application
    render(256).save(str(WINDOW_ICON))
    Image.open(WINDOW_ICON).save(ASSETS / "facemap-gui.ico", sizes=ICO_SIZES)
    print(f"wrote {WINDOW_ICON} and {ASSETS / 'facemap-gui.ico'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
