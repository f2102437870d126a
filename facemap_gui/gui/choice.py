"""Choosing the runtime and precision in the window: what can run here, why not, and the switch."""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog

from facemap_gui.errors import FacemapError
from facemap_gui.gui.controls import RUNTIMES
from facemap_gui.live.events import WorkerState
from facemap_gui.pipeline_builder import RunOptions
from facemap_gui.runtime import PRECISIONS, available_runtimes


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


class RuntimeChoice:
    """MainWindow's runtime and precision menus and toolbar buttons, greyed with the reason where they cannot run."""

    def _choice(self) -> tuple[str, str]:
        return self.runtime_group.checkedAction().data(), self.precision_group.checkedAction().data()

    def _check_choice(self, runtime: str, precision: str) -> None:
        for actions, wanted in ((self.runtime_actions, runtime), (self.precision_actions, precision)):
            if wanted not in self._unavailable:
                actions[wanted].setChecked(True)
            elif not any(a.isChecked() for a in actions.values()):
                # At start: the first usable one (told as a fallback). With --strict, or when nothing runs here (no
                # model at all), the one asked for, and the worker fails saying why.
                usable = (a for key, a in actions.items() if key not in self._unavailable and not self.options.strict)
                next(usable, actions[wanted]).setChecked(True)

    def _update_availability(self) -> None:
        """Unavailable runtimes and precisions stay clickable (greyed, the reason as tooltip), so that choosing
        one can say why it is not there."""
        self._unavailable = {}
        for actions, reasons in (
            (self.runtime_actions, available_runtimes(self.options.allow_simulator)),
            (self.precision_actions, precision_availability(self.options)),
        ):
            for key, action in actions.items():
                reason = reasons.get(key, "not available")
                if reason:
                    self._unavailable[key] = reason
                action.setToolTip(reason or f"{action.text()} ({action.shortcut().toString()})")
                button = self.toolbar.widgetForAction(action)
                button.setProperty("unavailable", reason is not None)
                button.style().polish(button)

    def _choice_triggered(self, action: QAction) -> None:
        self._update_availability()
        if action.data() in self._unavailable:
            self._check_choice(self.options.runtime, self.options.precision)  # back to what runs
            self._tell_unavailable(action.data())
            return
        self.switch_session()

    def _tell_unavailable(self, key: str) -> None:
        """Why `key` (a runtime or precision) cannot be chosen, with the fix as a button where there is one."""
        label = RUNTIMES.get(key, key)
        fix = self.download_action if key in PRECISIONS and self.options.model is None else None
        self.show_status(f"{label} is not available: {self._unavailable[key]}", error=True, fix=fix)

    def _tell_unavailable_choice(self, runtime: str, precision: str) -> None:
        """A runtime or precision asked for at start (command line, settings) that cannot run: say what runs
        instead and why, as a fallback always is."""
        running = self._choice()
        for key, instead in ((runtime, running[0]), (precision, running[1])):
            if key in self._unavailable and key != instead:
                self.show_status(
                    f"{RUNTIMES.get(key, key)} is not available, using "
                    f"{RUNTIMES.get(instead, instead)}: {self._unavailable[key]}",
                    error=True,
                )

    def download_models(self) -> None:
        from facemap_gui.gui.download_dialog import DownloadDialog

        if DownloadDialog(parent=self).exec() == QDialog.DialogCode.Accepted:
            self._update_availability()
            self.show_status("Models installed: choose them in the Runtime and Precision menus")

    def switch_session(self) -> None:
        runtime, precision = self._choice()
        if self.worker is None or self.worker.state is WorkerState.FAILED:
            self.start_source(self.options.source, remember=False)
            return
        self.options = dataclasses.replace(self.options, runtime=runtime, precision=precision)
        self.worker.request_switch(runtime, precision)
        self.show_status(f"Switching to {RUNTIMES[runtime]} {precision}…")

    def _sync_choice_to_session(self) -> None:
        """Check the runtime and precision actually running (after a failed switch or a fallback)."""
        worker = self.worker
        if worker is None or worker.pipeline is None or worker.switching:
            return
        info = worker.pipeline.session.info
        self._check_choice(info.runtime, info.precision)
        self.settings.runtime, self.settings.precision = info.runtime, info.precision
