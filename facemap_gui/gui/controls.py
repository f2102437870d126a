"""Making the window's actions, and two of its controllers: the Source menu (what to play) and the View toggles
(overlay, smoothing, tracking)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import platformdirs
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QSlider, QWidget

from facemap_gui.core.choices import DEFAULT_CAMERA_SIZE, MIN_CAMERA_FPS
from facemap_gui.core.errors import InputError
from facemap_gui.live.events import ViewOptions
from facemap_gui.live.settings import Settings
from facemap_gui.live.worker import LiveWorker
from facemap_gui.sinks.overlay import OverlayOptions
from facemap_gui.sources import CameraInfo, camera, list_cameras
from facemap_gui.sources.demo import DEMO_LOOP
from facemap_gui.sources.files import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v")
OVERLAY_TOGGLES = {
    "boxes": ("Face &boxes", "B"),
    "points": ("Land&mark points", "P"),
    "contours": ("&Contours", "C"),
    "axes": ("Head-pose &axes", "A"),
}


def make_action(
    window: QWidget,
    text: str,
    shortcut: str | None = None,
    slot: Callable[[], object] | None = None,
    checkable: bool = False,
    checked: bool = False,
    tip: str = "",
) -> QAction:
    """An action of `window`: its shortcut works in fullscreen too, with the menu bar hidden."""
    action = QAction(text, window)
    action.setCheckable(checkable)
    if checkable:
        action.setChecked(checked)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    if slot:
        action.triggered.connect(slot)
    window.addAction(action)
    return action


class Controller(QObject):
    """A part of the window: owns its actions and widgets, tells the status bar through `message`, and acts on
    the worker in use (the window's `worker_changed` signal calls `set_worker`)."""

    message = Signal(str, bool, object)  # text, error, fix (QAction | None)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window  # the parent of its actions and dialogs
        self._worker: LiveWorker | None = None

    def set_worker(self, worker: LiveWorker | None) -> None:
        self._worker = worker

    def say(self, text: str, error: bool = False, fix: QAction | None = None) -> None:
        self.message.emit(text, error, fix)


class SourceMenu(QObject):
    """The Source menu, File › Open, Open recent and Demo clip; `chosen` carries the source spec picked."""

    chosen = Signal(str)

    def __init__(self, window: QWidget, settings: Settings) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self.current = ""  # the source playing, checked in the menu
        self.open_action = make_action(window, "&Open video or image…", "Ctrl+O", self.open_file)
        self.demo_action = make_action(window, "&Demo clip", "Ctrl+D", lambda: self.chosen.emit(DEMO_LOOP))
        self.refresh_cameras_action = make_action(window, "&Refresh camera list", None, self._fill_menu)
        self.recent_menu = QMenu("Open &recent", window)
        self.menu = QMenu("&Source", window)
        self._cameras_listed = False
        if camera.qt_unavailable() is None:
            from PySide6.QtMultimedia import QMediaDevices

            # Qt tells when a camera comes or goes: the list is rebuilt then (hot-plug), not on every opening.
            self._devices: QObject | None = QMediaDevices(self)
            self._devices.videoInputsChanged.connect(self._fill_menu)
            self.menu.aboutToShow.connect(self._fill_menu_once)
        else:  # nothing tells of changes: list again whenever the menu opens
            self._devices = None
            self.menu.aboutToShow.connect(self._fill_menu)
        self._fill_recent_menu()

    def remember(self, spec: str) -> None:
        """`spec` was opened by the user: a file goes first in Open recent."""
        self._settings.source = spec
        if Path(spec).exists():
            self._settings.add_recent(str(Path(spec).resolve()))
            self._fill_recent_menu()

    def open_folder(self) -> Path:
        """Where the Open dialog starts: the folder of the last file opened, else Videos, else home."""
        folders = [Path(p).parent for p in self._settings.recent_files[:1]]
        folders += [Path(platformdirs.user_videos_dir()), Path.home()]
        return next(f for f in folders if f.is_dir())

    def open_file(self) -> None:
        patterns = " ".join(f"*{s}" for s in (*VIDEO_SUFFIXES, *sorted(IMAGE_SUFFIXES)))
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Open video or image",
            str(self.open_folder()),
            f"Videos and images ({patterns});;All files (*)",
        )
        if path:
            self.chosen.emit(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self._settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.chosen.emit(p))
        self.recent_menu.setEnabled(bool(self._settings.recent_files))

    def _fill_menu_once(self) -> None:
        # Listing probes devices (slow on Windows): do it when the menu is first opened, and on a change.
        if not self._cameras_listed:
            self._fill_menu()

    def _fill_menu(self) -> None:
        self._cameras_listed = True
        menu = self.menu
        menu.clear()
        cameras = list_cameras()
        names = [info.name for info in cameras]
        for info in cameras:
            spec = menu_spec(info, names)
            action = menu.addAction(info.name)
            action.setCheckable(True)
            action.setChecked(self.current == spec)
            action.triggered.connect(lambda _c=False, i=info, s=spec: self.choose_camera(i, s))
            if info.formats:
                menu.addMenu(self._format_menu(info, spec))
        if not cameras:
            menu.addAction("No camera found").setEnabled(False)
        menu.addAction(self.refresh_cameras_action)
        menu.addSeparator()
        menu.addAction(self.open_action)
        menu.addMenu(self.recent_menu)
        menu.addAction(self.demo_action)

    def _format_menu(self, info: CameraInfo, spec: str) -> QMenu:
        """The camera's sizes and rates, checkable, the one remembered for it checked (else Automatic)."""
        submenu = QMenu(f"{info.name} format", self.menu)
        remembered = self._settings.camera_formats.get(info.key, "")
        width, height = DEFAULT_CAMERA_SIZE
        choices = [("", f"Automatic (best ≤{width}x{height} ≥{MIN_CAMERA_FPS:g} fps)")]
        for wanted in sorted({f.wanted for f in info.formats}, reverse=True):
            choices.append((format_text(wanted), "{}x{} @ {:g} fps".format(*wanted)))
        if remembered not in dict(choices):  # a format the camera no longer offers: the default again
            remembered = ""
        group = QActionGroup(submenu)
        for text, label in choices:
            action = submenu.addAction(label)
            action.setCheckable(True)
            action.setChecked(text == remembered)
            group.addAction(action)
            action.triggered.connect(lambda _c=False, t=text: self.choose_camera(info, spec, t))
        return submenu

    def choose_camera(self, info: CameraInfo, spec: str, chosen: str | None = None) -> None:
        """Play camera `info` as `spec` in the format `chosen` (WxH@FPS, "" automatic; None: the one remembered
        for it), and remember that format for this camera."""
        self._use_format(info, chosen)
        self.chosen.emit(spec)

    def restore_format(self, spec: str) -> None:
        """At launch on a camera without --camera-format: the format remembered for it."""
        if not spec.startswith("camera:") or camera.chosen_format() is not None:
            return
        try:
            info = camera.select_camera(spec.removeprefix("camera:"), list_cameras(), "the camera list")
        except InputError:
            return  # opening it tells what is wrong
        self._use_format(info)

    def _use_format(self, info: CameraInfo, chosen: str | None = None) -> None:
        if chosen is None:
            chosen = self._settings.camera_formats.get(info.key, "")
        wanted = next((f.wanted for f in info.formats if format_text(f.wanted) == chosen), None)
        if wanted is None:  # automatic, or a format the camera no longer offers
            self._settings.camera_formats.pop(info.key, None)
        else:
            self._settings.camera_formats[info.key] = chosen
        camera.use_format(wanted)  # the worker opens the camera, and reopens it after an unplug, in this format


def menu_spec(info: CameraInfo, names: list[str]) -> str:
    """`camera:NAME`; by id (Qt), else by index (OpenCV), where two cameras share the name."""
    if names.count(info.name) == 1:
        return f"camera:{info.name}"
    return f"camera:{info.id}" if info.id else info.spec


def format_text(wanted: tuple[int, int, float]) -> str:
    """A size and rate as `--camera-format` writes it (WxH@FPS), as the settings keep it."""
    width, height, fps = wanted
    return f"{width}x{height}@{fps:g}"


class ViewControls(QObject):
    """The overlay, smoothing and tracking toggles and the smoothing strength; kept in the settings. `changed`
    tells that `options` differ."""

    changed = Signal()

    def __init__(self, window: QWidget, settings: Settings, tracking_allowed: bool) -> None:
        super().__init__(window)
        self._settings = s = settings
        self.overlay_actions = {
            name: make_action(window, text, key, self._changed, checkable=True, checked=getattr(s.overlay, name))
            for name, (text, key) in OVERLAY_TOGGLES.items()
        }
        self.smoothing_action = make_action(
            window,
            "&Smoothing",
            "S",
            self._changed,
            checkable=True,
            checked=s.smoothing,
            tip="One Euro filter on landmarks and pose",
        )
        self.tracking_action = make_action(
            window,
            "&Tracking",
            "T",
            self._changed,
            checkable=True,
            checked=s.tracking and tracking_allowed,
            tip="Crop each face where its landmarks were on the previous frame, and run the full-frame detector "
            "only when a face is lost or every few frames (off: detect on every frame)",
        )
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, 100)
        self.strength_slider.setFixedWidth(110)
        self.strength_slider.setToolTip("Smoothing strength: stronger is steadier but lags more")
        self.strength_slider.setValue(round(s.smoothing_strength * 100))
        self.strength_slider.valueChanged.connect(self._changed)

    def options(self, display_area: tuple[int, int] | None = None) -> ViewOptions:
        overlay = OverlayOptions(**{name: a.isChecked() for name, a in self.overlay_actions.items()})
        return ViewOptions(
            overlay=overlay,
            smoothing=self.smoothing_action.isChecked(),
            smoothing_strength=self.strength_slider.value() / 100,
            tracking=self.tracking_action.isChecked(),
            display_area=display_area,
        )

    def _changed(self) -> None:
        view = self.options()
        self._settings.overlay = view.overlay
        self._settings.smoothing, self._settings.smoothing_strength = view.smoothing, view.smoothing_strength
        self._settings.tracking = view.tracking
        self.strength_slider.setEnabled(view.smoothing)
        self.changed.emit()
