"""The main window's actions, menus and toolbar."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QSlider,
    QToolBar,
    QToolButton,
)

from facemap_gui.gui.icons import dot_icon, text_icon, widest
from facemap_gui.runtime import PRECISIONS, RUNTIME_NAMES
from facemap_gui.sources.demo import DEMO_LOOP

RUNTIMES = {name: name.upper() for name in RUNTIME_NAMES}
RUNTIME_KEYS = {name: f"Ctrl+{number}" for number, name in enumerate(RUNTIME_NAMES, 1)}
PRECISION_KEYS = {"float": "Ctrl+F", "w8a8": "Ctrl+8"}
OVERLAY_TOGGLES = {
    "boxes": ("Face &boxes", "B"),
    "points": ("Land&mark points", "P"),
    "contours": ("&Contours", "C"),
    "axes": ("Head-pose &axes", "A"),
}


class Controls:
    """MainWindow's actions and where they appear; the slots they call are the window's."""

    def _action(
        self,
        text: str,
        shortcut: str | None = None,
        slot: Callable[[], object] | None = None,
        checkable: bool = False,
        checked: bool = False,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if checkable:
            action.setChecked(checked)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        if slot:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work in fullscreen too, with the menu bar hidden
        return action

    def _build_actions(self) -> None:
        s = self.settings
        self.open_action = self._action("&Open video or image…", "Ctrl+O", self.open_file)
        self.demo_action = self._action("&Demo clip", "Ctrl+D", lambda: self.start_source(DEMO_LOOP))
        self.record_action = self._action(
            "&Record",
            "Ctrl+R",
            self.toggle_recording,
            checkable=True,
            tip="Record the annotated view and its landmarks",
        )
        self.record_action.setIcon(dot_icon(QColor("#ff5252")))
        self.folder_action = self._action("Output &folder…", None, self.choose_output_folder)
        self.download_action = self._action(
            "Download &models…",
            None,
            self.download_models,
            tip="Download Qualcomm's facemap_3dmm models (float and w8a8)",
        )
        self.quit_action = self._action("&Quit", "Ctrl+Q", self.close)
        self.refresh_cameras_action = self._action("&Refresh camera list", None, self._fill_source_menu)
        self.runtime_group = QActionGroup(self, exclusive=True)
        self.runtime_actions: dict[str, QAction] = {}
        for runtime, label in RUNTIMES.items():
            action = self._action(label, RUNTIME_KEYS[runtime], checkable=True)
            action.setData(runtime)
            self.runtime_group.addAction(action)
            self.runtime_actions[runtime] = action
        self.runtime_group.triggered.connect(self._choice_triggered)
        self.precision_group = QActionGroup(self, exclusive=True)
        self.precision_actions: dict[str, QAction] = {}
        for precision in PRECISIONS:
            action = self._action(precision, PRECISION_KEYS[precision], checkable=True)
            action.setData(precision)
            self.precision_group.addAction(action)
            self.precision_actions[precision] = action
        self.precision_group.triggered.connect(self._choice_triggered)
        self.overlay_actions = {
            name: self._action(text, key, self._view_changed, checkable=True, checked=getattr(s.overlay, name))
            for name, (text, key) in OVERLAY_TOGGLES.items()
        }
        self.smoothing_action = self._action(
            "&Smoothing",
            "S",
            self._view_changed,
            checkable=True,
            checked=s.smoothing,
            tip="One Euro filter on landmarks and pose",
        )
        self.tracking_action = self._action(
            "&Tracking",
            "T",
            self._view_changed,
            checkable=True,
            checked=s.tracking and self.options.tracking is not False,
            tip="Crop each face where its landmarks were on the previous frame, and run the full-frame detector "
            "only when a face is lost or every few frames (off: detect on every frame)",
        )
        self.hud_action = self._action("&HUD panel", "H", self._toggle_hud, checkable=True, checked=s.hud)
        self.fullscreen_action = self._action("&Full screen", "F11", self._toggle_fullscreen, checkable=True)
        self._action("Leave full screen", "Esc", self._leave_fullscreen)
        self._build_help_actions()
        self._build_stream_actions()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        file_menu.addAction(self.record_action)
        file_menu.addAction(self.folder_action)
        file_menu.addAction(self.download_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.source_menu = bar.addMenu("&Source")
        self.source_menu.aboutToShow.connect(self._fill_source_menu_once)
        self._cameras_listed = False
        runtime_menu = bar.addMenu("&Runtime")
        runtime_menu.addActions(list(self.runtime_actions.values()))
        runtime_menu.aboutToShow.connect(self._update_availability)
        precision_menu = bar.addMenu("&Precision")
        precision_menu.addActions(list(self.precision_actions.values()))
        precision_menu.aboutToShow.connect(self._update_availability)
        view_menu = bar.addMenu("&View")
        view_menu.addActions(list(self.overlay_actions.values()))
        view_menu.addSeparator()
        view_menu.addAction(self.smoothing_action)
        view_menu.addAction(self.tracking_action)
        view_menu.addSeparator()
        view_menu.addAction(self.hud_action)
        view_menu.addAction(self.fullscreen_action)
        self._build_stream_menu(bar)
        self._build_help_menu(bar)
        self._fill_recent_menu()

    def _build_toolbar(self) -> None:
        bar = self.toolbar = QToolBar("Controls", self, movable=False, objectName="controls")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addAction(self.open_action)
        bar.addAction(self.demo_action)
        bar.addSeparator()
        bar.addAction(self.record_action)
        record = bar.widgetForAction(self.record_action)
        record.setObjectName("recordButton")
        record.setFixedWidth(widest(record, ("&Record", "Stop &recording")))  # the toolbar must not shift
        bar.addSeparator()
        bar.addWidget(QLabel("RUNTIME", objectName="toolbarLabel"))
        bar.addActions(list(self.runtime_actions.values()))
        bar.addSeparator()
        bar.addWidget(QLabel("PRECISION", objectName="toolbarLabel"))
        bar.addActions(list(self.precision_actions.values()))
        bar.addSeparator()
        bar.addAction(self.smoothing_action)
        self.strength_slider = QSlider(
            Qt.Orientation.Horizontal,
            minimum=0,
            maximum=100,
            fixedWidth=110,
            toolTip="Smoothing strength: stronger is steadier but lags more",
        )
        self.strength_slider.setValue(round(self.settings.smoothing_strength * 100))
        self.strength_slider.valueChanged.connect(self._view_changed)
        bar.addWidget(self.strength_slider)
        bar.addSeparator()
        bar.addAction(self.stream_action)
        self.addToolBar(bar)
        # What does not fit a narrow window goes behind Qt's extension button: make it visible and say so.
        more = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        more.setIcon(text_icon("»", QColor("#d7dae0")))
        more.setToolTip("More controls")
