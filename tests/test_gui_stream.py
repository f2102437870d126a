"""Streaming from the window (pytest-qt, offscreen): the Stream menu and its target dialogs send OpenSeeFace packets
to a real UDP receiver on 127.0.0.1 while frames flow, formats are ticked on and off side by side, the choice
survives a restart of the window, and a receiver that is not running is told once while the frames go on."""

from __future__ import annotations

import math
import socket
import struct
import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from facemap_gui.gui.stream import TargetDialog
from facemap_gui.live.settings import Settings, load_calibration, load_settings
from facemap_gui.sinks.streaming import StreamTarget
from facemap_gui.sources.demo import DEMO_LOOP
from tests.test_avatar_apps import FakeVts

WAIT_MS = 20_000
# OpenSeeFace's facetracker packet, one per face (little-endian): time, id, width, height, eye open right/left,
# success, PnP error, quaternion, Euler angles, translation, 68 confidences, 68 (y, x), 70 3D points, 14 features.
OSF_FACE = struct.Struct("<d i 2f 2f B f 4f 3f 3f 68f 136f 210f 14f")


class Receiver:
    """A UDP socket on 127.0.0.1 that the test polls for what has arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []

    def count(self) -> int:
        while True:
            try:
                self.datagrams.append(self.sock.recv(65536))
            except BlockingIOError:
                return len(self.datagrams)


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def receiver() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield receiver
    for r in made:
        r.sock.close()


def answer_question(button: QMessageBox.StandardButton, asked: list[str]) -> None:
    """Answers the next modal question box (its exec() blocks the test until it closes), keeping its text."""

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        asked.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, answer)


def fill_target_dialog(host: str, port: int) -> None:
    """Answers the modal target dialog once it is open (exec() blocks the test until it closes)."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, TargetDialog):
            QTimer.singleShot(20, answer)
            return
        dialog.host.setText(host)
        dialog.port.setValue(port)
        dialog.accept()

    QTimer.singleShot(0, answer)


def ticked(window) -> list[bool]:
    """The Stream menu's format check boxes: OpenSeeFace, VMC, iFacialMocap, VTube Studio."""
    return [action.isChecked() for action in window.stream.protocol_actions.values()]


def test_osf_from_the_stream_menu_reaches_a_receiver_and_is_remembered(qtbot, open_window, receivers):
    osf, vmc = receivers(), receivers()
    before = time.time()
    window = open_window(DEMO_LOOP, Settings())
    assert not window.stream.action.isChecked() and not any(ticked(window))
    assert not window.stream.label.isVisible() and not window.stream.off_action.isEnabled()
    fill_target_dialog("127.0.0.1", osf.port)
    window.stream.target_actions["osf"].trigger()  # Stream › Targets › OpenSeeFace UDP…
    assert window.stream.target_actions["osf"].text() == f"OpenSeeFace UDP: osf://127.0.0.1:{osf.port}…"
    window.stream.protocol_actions["osf"].trigger()
    qtbot.waitUntil(lambda: osf.count() >= 20, timeout=WAIT_MS)
    datagrams, after = list(osf.datagrams), time.time()  # each sent before `after`
    frame = window.latest.result.frame
    for datagram in datagrams:
        assert len(datagram) % OSF_FACE.size == 0 and OSF_FACE.size == 1785
        face = OSF_FACE.unpack_from(datagram)
        assert before <= face[0] <= after and face[1] == 0 and face[2:4] == frame.size and face[6] == 1
        assert all(0.0 <= c <= 1.0 for c in face[18:86]) and all(math.isfinite(v) for v in face[86:222])
    processed = window.latest.processed
    qtbot.waitUntil(lambda: window.latest.processed > processed + 5, timeout=WAIT_MS)  # frames go on
    line = f"streaming to osf://127.0.0.1:{osf.port} · "
    qtbot.waitUntil(
        lambda: window.stream.label.text().startswith(line) and window.stream.label.text() != f"{line}0 pkt/s",
        timeout=WAIT_MS,
    )
    assert window.stream.label.isVisible() and window.stream.action.isChecked()
    signals = {name: label.text() for name, label in window.hud.signals.items()}  # the first face's, in the HUD
    assert signals["Distance"].endswith(" m") and signals["Blink"] in ("yes", "no")
    assert all(0.0 <= float(v.split()[1]) <= 1.0 for v in signals["Eyes"].split(" · "))

    # VMC ticked as well: OSC bundles to its own target while OpenSeeFace's packets go on.
    window.settings.stream_vmc = f"vmc://127.0.0.1:{vmc.port}"
    window.stream.protocol_actions["vmc"].trigger()
    osf_sent = osf.count()
    qtbot.waitUntil(lambda: vmc.count() >= 5 and osf.count() >= osf_sent + 5, timeout=WAIT_MS)
    assert ticked(window) == [True, True, False, False] and all(d.startswith(b"#bundle\0") for d in vmc.datagrams)
    assert window.stream.label.text().count(" pkt/s") == 2
    # OpenSeeFace unticked: its sender is gone once VMC bundles arrive, VMC goes on.
    window.stream.protocol_actions["osf"].trigger()
    vmc_sent = vmc.count()
    qtbot.waitUntil(lambda: vmc.count() >= vmc_sent + 5, timeout=WAIT_MS)
    osf_sent = osf.count()
    qtbot.waitUntil(lambda: vmc.count() >= vmc_sent + 10, timeout=WAIT_MS)
    assert osf.count() == osf_sent and window.settings.stream_protocols == ["vmc"]
    window.stream.protocol_actions["osf"].trigger()
    qtbot.waitUntil(lambda: osf.count() > osf_sent, timeout=WAIT_MS)

    window.close()  # saves the settings
    settings, warning = load_settings()
    assert warning is None and settings.stream and settings.stream_protocols == ["vmc", "osf"]
    assert settings.stream_targets() == [
        StreamTarget("osf", "127.0.0.1", osf.port),
        StreamTarget("vmc", "127.0.0.1", vmc.port),
    ]
    before, vmc_before = osf.count(), vmc.count()
    again = open_window(DEMO_LOOP, settings)
    assert again.stream.action.isChecked() and ticked(again) == [True, True, False, False]
    qtbot.waitUntil(lambda: osf.count() >= before + 10 and vmc.count() >= vmc_before + 10, timeout=WAIT_MS)


def test_the_toolbar_toggle_and_its_shortcut_stop_and_resume_streaming(qtbot, open_window, receivers):
    osf = receivers()
    window = open_window(DEMO_LOOP, Settings(stream=True, stream_osf=f"osf://127.0.0.1:{osf.port}"))
    qtbot.waitUntil(lambda: osf.count() >= 5, timeout=WAIT_MS)
    assert window.stream.action.shortcut().toString() == "Ctrl+T"
    window.stream.action.trigger()
    assert not window.settings.stream and not any(ticked(window))
    qtbot.waitUntil(lambda: window.worker.stream_status() == [], timeout=WAIT_MS)  # the sender is closed
    sent = osf.count()
    processed = window.latest.processed
    qtbot.waitUntil(lambda: window.latest.processed > processed + 5, timeout=WAIT_MS)
    assert osf.count() == sent and not window.stream.label.isVisible()
    window.stream.action.trigger()
    qtbot.waitUntil(lambda: osf.count() > sent, timeout=WAIT_MS)


def test_vtube_studio_from_the_stream_menu_is_asked_once_then_injected_with_every_frame_and_let_go(
    qtbot, open_window, receivers
):
    server = FakeVts()  # checks every message's envelope, parameters and ranges as VTS documents them
    try:
        window = open_window(DEMO_LOOP, Settings(stream_vts=f"vts://127.0.0.1:{server.port}"))
        window.stream.protocol_actions["vts"].trigger()
        assert server.next()["messageType"] == "AuthenticationTokenRequest"
        assert server.next()["messageType"] == "AuthenticationRequest"
        qtbot.waitUntil(lambda: window.latest is not None, timeout=WAIT_MS)
        processed = window.latest.processed
        injected = [server.next("InjectParameterDataRequest") for _ in range(30)]  # (the window's events wait)
        qtbot.waitUntil(lambda: window.latest.processed > processed + 5, timeout=WAIT_MS)  # frames went on
        assert len({message["requestID"] for message in injected}) == 30
        assert any(message["data"]["faceFound"] for message in injected)
        qtbot.waitUntil(lambda: "· 0 pkt/s" not in window.stream.label.text(), timeout=WAIT_MS)
        assert window.stream.label.text().startswith(f"streaming to vts://127.0.0.1:{server.port} · ")
        # OpenSeeFace ticked beside it: VTS's connection stays up (no new authentication), injections go on.
        osf = receivers()
        window.settings.stream_osf = f"osf://127.0.0.1:{osf.port}"
        window.stream.protocol_actions["osf"].trigger()
        qtbot.waitUntil(lambda: osf.count() >= 10, timeout=WAIT_MS)
        since = [server.messages.get_nowait()["messageType"] for _ in range(server.messages.qsize())]
        assert len(since) >= 5 and set(since) == {"InjectParameterDataRequest"}, since
        window.stream.off_action.trigger()  # the connection closes: the server's handler ends
        qtbot.waitUntil(lambda: not window.stream.label.isVisible(), timeout=WAIT_MS)
    finally:
        server.stop()


def free_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 that nothing listens on (until the test binds it again)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_vtube_studios_prompt_is_a_wait_that_never_covers_an_error_and_ends_when_vts_goes(qtbot, open_window):
    server = FakeVts(grant=None)  # the user leaves VTS's "allow this plugin?" prompt open
    target, osf_port = f"vts://127.0.0.1:{server.port}", free_port(socket.SOCK_DGRAM)
    try:
        settings = Settings(stream=True, stream_osf=f"osf://127.0.0.1:{osf_port}", stream_vts=target)
        window = open_window(DEMO_LOOP, settings)
        refused = f"osf://127.0.0.1:{osf_port}: nothing is listening there (is the receiving app running?)"
        qtbot.waitUntil(lambda: window.status.text.text().startswith(refused), timeout=WAIT_MS)
        window.stream.protocol_actions["vts"].trigger()  # VTube Studio ticked beside the failing OpenSeeFace
        qtbot.waitUntil(lambda: window.stream.label.text().endswith(f" | {target} · waiting for you"), timeout=WAIT_MS)
        told = f"{target}: waiting for you to allow facemap-gui in VTube Studio's prompt"
        assert window.stream.label.toolTip() == f"{refused}\n{told}"
        assert window.status.text.text().startswith(refused)  # the wait does not cover the problem
        assert window.status.text.property("error")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as osf:  # OpenSeeFace's receiver starts
            osf.bind(("127.0.0.1", osf_port))
            qtbot.waitUntil(lambda: window.status.text.text() == told, timeout=WAIT_MS)  # no problem left: told
            assert not window.status.text.property("error")
            assert window.stream.label.toolTip() == told
    finally:
        server.stop()  # VTS closes with its prompt open: a problem now, no longer a wait (OpenSeeFace's is back)
    qtbot.waitUntil(lambda: window.stream.label.text().endswith(" pkt/s ⚠"), timeout=WAIT_MS)
    gone = ("VTube Studio closed the connection; reconnecting", "VTube Studio is not running there, or its API is off")
    assert window.stream.label.toolTip().split("\n")[-1].removeprefix(f"{target}: ").startswith(gone)
    assert window.status.text.property("error")


def test_a_refused_receiver_is_told_once_and_the_frames_go_on(qtbot, open_window, caplog):
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: each send draws an ICMP port unreachable
    window = open_window(DEMO_LOOP, Settings(stream=True, stream_osf=f"osf://127.0.0.1:{port}"))
    problem = f"osf://127.0.0.1:{port}: nothing is listening there (is the receiving app running?); streaming goes on"
    qtbot.waitUntil(lambda: window.status.text.text() == problem, timeout=WAIT_MS)
    assert window.status.text.property("error")
    processed = window.latest.processed
    qtbot.waitUntil(lambda: window.latest.processed > processed + 30, timeout=WAIT_MS)  # a second of frames more
    told = [r for r in caplog.records if r.name == "facemap_gui.gui.status" and r.getMessage() == problem]
    assert len(told) == 1 and window.status.text.text() == problem
    assert window.stream.label.text().startswith(f"streaming to osf://127.0.0.1:{port} · ")
    assert window.stream.label.text().endswith(" pkt/s ⚠")  # the words in its tooltip, the status bar beside it
    assert window.stream.label.toolTip() == problem.removesuffix("; streaming goes on")


def test_the_target_dialog_keeps_a_bad_host_and_says_so(qtbot):
    dialog = TargetDialog(StreamTarget("vmc", "127.0.0.1", 39539))
    qtbot.addWidget(dialog)
    for host, problem in [
        ("no/such", "vmc://no/such:39539: nothing may follow the port"),
        ("39600", "vmc://39600:39539: '39600' is a number, not a host name nor a whole IPv4 address (a.b.c.d)"),
        ("my host", "vmc://my host:39539: spaces or control characters in it"),
        ("224.0.0.1", "vmc://224.0.0.1:39539: 224.0.0.1 is not the address of one host"),
    ]:
        dialog.host.setText(host)
        dialog.accept()  # the CLI's check: the same words as --stream
        assert dialog.result() != QDialog.DialogCode.Accepted and not dialog.problem.isHidden()
        assert dialog.problem.text().startswith(problem), dialog.problem.text()
        assert dialog.target == StreamTarget("vmc", "127.0.0.1", 39539)
    dialog.host.setText("::1")
    dialog.port.setValue(39540)
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.target == StreamTarget("vmc", "::1", 39540)


def test_the_target_dialog_says_where_packets_go_and_asks_before_leaving_this_machine(qtbot):
    dialog = TargetDialog(StreamTarget("vmc", "127.0.0.1", 39539))
    qtbot.addWidget(dialog)
    assert dialog.destination.text() == "Packets go to 127.0.0.1, port 39539 (this computer only)."
    dialog.host.setText("localhost")
    dialog.port.setValue(39540)
    assert dialog.destination.text() == "Packets go to localhost, port 39540 (this computer only)."
    dialog.host.setText("39600")
    assert dialog.destination.text().startswith("Packets go nowhere until the host is a valid")
    dialog.host.setText("192.168.1.20")
    assert dialog.destination.text().startswith("Packets go to 192.168.1.20, port 39540 (another machine: your")
    asked: list[str] = []
    answer_question(QMessageBox.StandardButton.No, asked)
    dialog.accept()
    assert len(asked) == 1 and "192.168.1.20" in asked[0] and "unencrypted" in asked[0]
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.target == StreamTarget("vmc", "127.0.0.1", 39539)
    answer_question(QMessageBox.StandardButton.Yes, asked)
    dialog.accept()
    assert len(asked) == 2 and dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.target == StreamTarget("vmc", "192.168.1.20", 39540)


def test_a_stream_error_clears_when_the_target_changes_or_streaming_stops(qtbot, open_window, receivers):
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: each send draws an ICMP port unreachable
    live = receivers()
    window = open_window(DEMO_LOOP, Settings(stream=True, stream_osf=f"osf://127.0.0.1:{port}"))
    problem = f"osf://127.0.0.1:{port}: nothing is listening there"
    qtbot.waitUntil(lambda: window.status.text.text().startswith(problem), timeout=WAIT_MS)
    fill_target_dialog("127.0.0.1", live.port)
    window.stream.target_actions["osf"].trigger()
    assert window.status.text.text() == f"Streaming to osf://127.0.0.1:{live.port}"
    assert not window.status.text.property("error")
    assert window.stream.label.text().startswith(f"streaming to osf://127.0.0.1:{live.port} ")  # not the old one
    qtbot.waitUntil(lambda: live.count() >= 5, timeout=WAIT_MS)
    assert not window.status.text.property("error")

    fill_target_dialog("127.0.0.1", port)  # back to the closed port: the error comes back, then streaming stops
    window.stream.target_actions["osf"].trigger()
    qtbot.waitUntil(lambda: window.status.text.text().startswith(problem), timeout=WAIT_MS)
    window.stream.action.trigger()
    assert window.status.text.text() == "Streaming stopped" and not window.status.text.property("error")
    assert not window.stream.label.isVisible()


def test_calibrate_neutral_face_from_the_stream_menu_saves_it_and_streams_relative_to_it(qtbot, open_window):
    window = open_window(DEMO_LOOP, Settings())
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces), timeout=WAIT_MS)
    assert window.stream.calibrate_action in window.stream.menu.actions()
    assert window.stream.calibrate_action.shortcut().toString() == "Ctrl+Shift+N"
    window.stream.calibrate_action.trigger()
    assert window.status.text.text().startswith("Calibrating: look at the camera with a relaxed, neutral face")
    qtbot.waitUntil(lambda: window.status.text.text().startswith("Neutral face calibrated on "), timeout=WAIT_MS)
    assert not window.status.text.property("error")
    neutral, warning = load_calibration()
    assert neutral is not None and warning is None and neutral.frames >= 5
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a sender made now starts from the saved face
    receiver.bind(("127.0.0.1", 0))
    window.settings.stream_ifm = f"ifm://127.0.0.1:{receiver.getsockname()[1]}"
    window.stream.protocol_actions["ifm"].trigger()
    qtbot.waitUntil(lambda: window.worker.stream_status() != [], timeout=WAIT_MS)
    assert window.worker._streamer is not None and window.worker._streamer.neutral == neutral
    receiver.close()
