"""The plain decode-and-show loop `facemap-gui bench --cpu` measures the window against: the CPU that showing a
video costs before any tracking. A thread decodes the file with PyAV (one decoding thread, as the app) at the
file's own clock and converts each frame to RGB; the GUI thread paints it scaled into a 960x540 widget with
QPainter. It depends only on the libraries, not on facemap_gui, so it stays an independent reference.

    python facemap_gui/bench/plain_show.py CLIP --frames N

shows N frames (or the whole clip) and exits.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import av
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget


class Frames(QObject):
    arrived = Signal(object)
    ended = Signal()


class View(QWidget):
    def __init__(self, frames: int) -> None:
        super().__init__()
        self.left = frames
        self.image: QImage | None = None
        self.pixels: np.ndarray | None = None
        self.resize(960, 540)

    def show_frame(self, rgb: np.ndarray) -> None:
        self.pixels = rgb
        self.image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888)
        self.repaint()
        self.left -= 1
        if self.left == 0:
            QApplication.quit()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        if self.image is not None:
            painter.drawImage(self.rect(), self.image)
        painter.end()


def read(clip: str, frames: Frames, stop: threading.Event) -> None:
    with av.open(clip) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        start = time.monotonic()
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            if stop.wait(max(0.0, start + float(frame.time or 0.0) - time.monotonic())):
                return
            frames.arrived.emit(rgb)
    frames.ended.emit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=0, help="frames to show (0: the whole clip)")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    view = View(args.frames)
    frames, stop = Frames(), threading.Event()
    frames.arrived.connect(view.show_frame, Qt.ConnectionType.QueuedConnection)
    frames.ended.connect(app.quit, Qt.ConnectionType.QueuedConnection)
    view.show()
    reader = threading.Thread(target=read, args=(args.clip, frames, stop), daemon=True)
    reader.start()
    app.exec()
    stop.set()
    reader.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
