"""Choosing the runtime and precision in the window: what can run here, why not, and the switch."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QDialog, QToolButton, QWidget

from facemap_gui.core.errors import FacemapError
from facemap_gui.gui.controls import Controller, make_action
from facemap_gui.inference.runtime import PRECISIONS, RUNTIME_NAMES, available_runtimes
from facemap_gui.run.pipeline_builder import RunOptions

RUNTIMES = {name: name.upper() for name in RUNTIME_NAMES}
RUNTIME_KEYS = {name: f"Ctrl+{number}" for number, name in enumerate(RUNTIME_NAMES, 1)}
PRECISION_KEYS = {"float": "Ctrl+F", "w8a8": "Ctrl+8"}


def precision_availability(options: RunOptions) -> dict[str, str | None]:
    """Each precision → None when its model is there, else why not and what to do about it in the window."""
    reasons: dict[str, str | None] = {}
    for precision in PRECISIONS:
        try:
            options.model_path(precision)
            reasons[precision] = None
        except FacemapError:
            reasons[precision] = (
                f"Qualcomm's {precision} model is not installed: File > Download models… installs it"
                if options.model is None
                else f"{options.model.name} has no {precision} variant beside it in {options.model.parent}: put "
                f"{options.variant_path(precision).name} there and choose {precision} again"
            )
    return reasons


class RuntimeChooser(Controller):
    """The runtime and precision actions (menus and toolbar buttons), greyed with the reason where they cannot
    run, and File › Download models. `chosen` (runtime, precision) asks for a switch; `options` gives the
    window's run options, whose runtime and precision are what runs."""

    chosen = Signal(str, str)

    def __init__(self, window: QWidget, options: Callable[[], RunOptions]) -> None:
        super().__init__(window)
        self._options = options
        self.download_action = make_action(
            window,
            "Download &models…",
            None,
            self.download_models,
            tip="Download Qualcomm's facemap_3dmm models (float and w8a8)",
        )
        self.runtime_actions = self._group(RUNTIMES, RUNTIME_KEYS)
        self.precision_actions = self._group({p: p for p in PRECISIONS}, PRECISION_KEYS)
        self._unavailable: dict[str, str] = {}  # runtime or precision key -> why it cannot run here
        self.update_availability()
        self.check_choice(options().runtime, options().precision)

    def _group(self, labels: dict[str, str], keys: dict[str, str]) -> dict[str, QAction]:
        group = QActionGroup(self)
        actions: dict[str, QAction] = {}
        for key, label in labels.items():
            action = actions[key] = make_action(self._window, label, keys[key], checkable=True)
            action.setData(key)
            group.addAction(action)
        group.triggered.connect(self._choice_triggered)
        return actions

    def choice(self) -> tuple[str, str]:
        return self._checked(self.runtime_actions), self._checked(self.precision_actions)

    @staticmethod
    def _checked(actions: dict[str, QAction]) -> str:
        return next(key for key, action in actions.items() if action.isChecked())

    def check_choice(self, runtime: str, precision: str) -> None:
        for actions, wanted in ((self.runtime_actions, runtime), (self.precision_actions, precision)):
            if wanted not in self._unavailable:
                actions[wanted].setChecked(True)
            elif not any(a.isChecked() for a in actions.values()):
                # At start: the first usable one (told as a fallback). With --strict, or when nothing runs here (no
                # model at all), the one asked for, and the worker fails saying why.
                usable = (
                    a for key, a in actions.items() if key not in self._unavailable and not self._options().strict
                )
                next(usable, actions[wanted]).setChecked(True)

    def update_availability(self) -> None:
        """Unavailable runtimes and precisions stay clickable (greyed, the reason as tooltip), so that choosing
        one can say why it is not there."""
        self._unavailable = {}
        options = self._options()
        for actions, reasons in (
            (self.runtime_actions, available_runtimes(options.allow_simulator)),
            (self.precision_actions, precision_availability(options)),
        ):
            for key, action in actions.items():
                reason = reasons.get(key, "not available")
                if reason:
                    self._unavailable[key] = reason
                action.setToolTip(reason or f"{action.text()} ({action.shortcut().toString()})")
                for button in action.associatedObjects():  # the toolbar's
                    if isinstance(button, QToolButton):
                        button.setProperty("unavailable", reason is not None)
                        button.style().polish(button)

    def _choice_triggered(self, action: QAction) -> None:
        self.update_availability()
        options = self._options()
        if action.data() in self._unavailable:
            self.check_choice(options.runtime, options.precision)  # back to what runs
            self._tell_unavailable(action.data())
            return
        self.chosen.emit(*self.choice())

    def _tell_unavailable(self, key: str) -> None:
        """Why `key` (a runtime or precision) cannot be chosen, with the fix as a button where there is one."""
        label = RUNTIMES.get(key, key)
        fix = self.download_action if key in PRECISIONS and self._options().model is None else None
        self.say(f"{label} is not available: {self._unavailable[key]}", error=True, fix=fix)

    def tell_unavailable_choice(self, runtime: str, precision: str) -> None:
        """A runtime or precision asked for at start (command line, settings) that cannot run: say what runs
        instead and why, as a fallback always is."""
        running = self.choice()
        for key, instead in ((runtime, running[0]), (precision, running[1])):
            if key in self._unavailable and key != instead:
                self.say(
                    f"{RUNTIMES.get(key, key)} is not available, using "
                    f"{RUNTIMES.get(instead, instead)}: {self._unavailable[key]}",
                    error=True,
                )

    def download_models(self) -> None:
        from facemap_gui.gui.download_dialog import DownloadDialog

        if DownloadDialog(parent=self._window).exec() == QDialog.DialogCode.Accepted:
            self.update_availability()
            self.say("Models installed: choose them in the Runtime and Precision menus")
