"""The first-run download dialog (offscreen Qt) against the local test server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar

from facemap_gui.core import store
from facemap_gui.gui.download_dialog import DownloadDialog
from facemap_gui.models.catalogue import MIRROR_ENV
from facemap_gui.models.download import Downloader, Progress
from facemap_gui.models.install import missing
from tests.helpers import FileServer, basis_files, file_server


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    with file_server() as state:
        monkeypatch.setenv(MIRROR_ENV, state.url)
        yield state


def row_texts(dialog: DownloadDialog) -> list[str]:
    return [label.text() for label in dialog.findChildren(QLabel)]


def test_downloads_with_progress_and_accepts(qtbot, server):
    server.files.update(basis_files())
    dialog = DownloadDialog(["basis"])
    qtbot.addWidget(dialog)

    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.show()

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert missing(["basis"]) == []
    assert [i.entry.name for i in dialog.installed] == ["basis"] * 3
    texts = row_texts(dialog)
    assert "shapeBasis.npy" in texts
    assert any(t.startswith("178.8 kB / 178.8 kB, ") and t.endswith("/s") for t in texts)  # size and rate
    assert [bar.value() == bar.maximum() > 0 for bar in dialog.findChildren(QProgressBar)] == [True] * 3


def test_network_failure_explains_the_offline_install(qtbot, server):
    # Nothing is served: every request is a 404, like a proxy refusing the download.
    dialog = DownloadDialog(["facemap_3dmm-float", "basis"], downloader=Downloader(attempts=1))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=10_000)

    text = dialog.message.text()
    assert "HTTP 404" in dialog.error
    assert f"{server.url}/facemap_3dmm-onnx-float.zip" in text and f"{server.url}/blendShape.npy" in text
    assert "facemap-gui models install FILE.zip" in text
    assert dialog.isVisible(), "the dialog stays open so the user can read it"
    with qtbot.waitSignal(dialog.rejected):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert not store.landmark_model_path("float").exists()


def test_cancel_stops_the_download_and_installs_nothing(qtbot, server):
    server.files["meanFace.npy"] = bytes(2_000_000)  # dripped slowly: the download is still running
    server.plan["meanFace.npy"] = ["drip"]
    dialog = DownloadDialog(["basis"])
    qtbot.addWidget(dialog)
    dialog.show()
    first_bar = dialog.findChildren(QProgressBar)[0]  # meanFace.npy's
    qtbot.waitUntil(lambda: first_bar.value() > 0, timeout=10_000)

    with qtbot.waitSignal(dialog.rejected, timeout=10_000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()

    assert dialog.result() == QDialog.DialogCode.Rejected and dialog.error == ""
    assert not (store.basis_dir() / "meanFace.npy").exists()
    parts = list((store.cache_dir() / "downloads").glob(".meanFace.npy.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < 2_000_000, "kept to resume next time"


def test_rows_show_each_attempt_the_retries_and_their_final_state_and_enter_closes(qtbot, server):
    server.files.update(basis_files())
    server.plan["meanFace.npy"] = ["500", "500"]  # a server error on both attempts
    dialog = DownloadDialog(["basis"], downloader=Downloader(attempts=2, backoff_s=0.01))
    qtbot.addWidget(dialog)
    seen: list[str] = []
    relay = dialog.downloader.progress

    def watch(progress: Progress) -> None:  # what each row is told, in order
        seen.append(f"{progress.filename}: {progress.describe()}")
        relay(progress)

    dialog.downloader.progress = watch
    dialog.show()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=10_000)

    assert seen[:3] == [
        "meanFace.npy: connecting (attempt 1 of 2)",
        "meanFace.npy: server error HTTP 500 Internal Server Error; retrying in 0 s",
        "meanFace.npy: connecting (attempt 2 of 2)",
    ]
    details = {name: detail for name, (_, detail) in dialog._rows.items()}
    assert details["meanFace.npy"].text() == "failed (see below)" and "HTTP 500" in details["meanFace.npy"].toolTip()
    assert details["shapeBasis.npy"].text() == details["blendShape.npy"].text() == "not downloaded"
    with qtbot.waitSignal(dialog.rejected, timeout=5_000):
        QTest.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Rejected
