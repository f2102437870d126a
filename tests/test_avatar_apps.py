"""iFacialMocap and VTube Studio receivers on 127.0.0.1: a UDP socket parsing iFacialMocap's published text format,
and a WebSocket server speaking VTube Studio's documented plugin API (token prompt granted and denied,
authentication, inject, errors 50 and 454, a restart mid-run), checking every message's shape and ranges."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import socket
import stat
import threading

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from facemap_gui.core import store
from facemap_gui.perframe.expressions import ARKIT_NAMES, blendshapes
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.signals import face_signals
from facemap_gui.sinks.streaming import Streamer, StreamTarget, vts
from facemap_gui.sources import Frame
from tests.test_expressions import FACES

SMILE = FACES["smile"]
WAIT_S = 30.0  # a bound for the test to fail rather than hang; never what decides a pass


def smile_frame(index: int = 0) -> FrameResult:
    points = np.asarray(SMILE["landmarks"], float)
    face = FaceResult(
        box=tuple(SMILE["box"]),
        crop_box=tuple(SMILE["box"]),
        score=0.9,
        landmarks=points,
        pose=(12.0, -5.0, 3.0),
        focal=450.0,
    )
    width, height = SMILE["size"]
    return FrameResult(frame=Frame(index, index * 33.3, np.zeros((height, width, 3), np.uint8)), faces=[face])


# iFacialMocap: `name-value|...|=head#rx,ry,rz,px,py,pz|rightEye#rx,ry,rz|leftEye#rx,ry,rz|`
IFM_BLEND = re.compile(r"([A-Za-z]+(?:_[LR])?)-(\d{1,3})")


def parse_ifm(datagram: bytes) -> tuple[dict[str, int], dict[str, list[float]]]:
    text = datagram.decode("ascii")
    blend_part, transform_part = text.split("|=", 1)
    shapes = {}
    for item in blend_part.split("|"):
        match = IFM_BLEND.fullmatch(item)
        assert match, item
        shapes[match[1]] = int(match[2])
    assert transform_part.endswith("|")
    transforms = {}
    for item in transform_part[:-1].split("|"):
        name, values = item.split("#")
        transforms[name] = [float(v) for v in values.split(",")]
    return shapes, transforms


def test_ifacialmocap_datagrams_follow_the_published_format():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(WAIT_S)
    frame = smile_frame()
    with Streamer([StreamTarget("ifm", "127.0.0.1", receiver.getsockname()[1])]) as streamer:
        streamer.send(frame)
        shapes, transforms = parse_ifm(receiver.recv(65536))
    receiver.close()
    expected = blendshapes(frame.faces[0])
    assert len(shapes) == 52 and all(0 <= v <= 100 for v in shapes.values())
    assert shapes["eyeBlink_L"] == round(expected["eyeBlinkLeft"] * 100)
    assert shapes["mouthSmile_R"] == round(expected["mouthSmileRight"] * 100) >= 80  # the astronaut's smile
    assert shapes["jawOpen"] == round(expected["jawOpen"] * 100) and "tongueOut" in shapes
    assert {n.replace("_L", "Left").replace("_R", "Right") for n in shapes} == set(ARKIT_NAMES)
    signals = face_signals(frame.faces[0], frame.frame.size)
    assert list(transforms) == ["head", "rightEye", "leftEye"]
    assert transforms["head"] == pytest.approx(
        [signals.pitch, signals.yaw, signals.roll, signals.head_x, signals.head_y, -signals.head_z], abs=1e-3
    )
    assert transforms["rightEye"] == transforms["leftEye"] == [0.0, 0.0, 0.0]


class FakeVts:
    """VTube Studio's plugin API as its README documents it, on 127.0.0.1: `grant` answers the token prompt
    (True: a token, False: APIError 50, None: the user never answers); `inject_error` answers injects with that
    APIError; `stall`: after the first inject, reads nothing more until stopped (a VTS that hangs). Every message
    received is checked and kept in `messages`."""

    def __init__(
        self, port: int = 0, grant: bool | None = True, inject_error: int | None = None, stall: bool = False
    ) -> None:
        self.grant, self.inject_error = grant, inject_error
        self.stalled = threading.Event() if stall else None
        self.stopping = threading.Event()
        self.messages: queue.Queue[dict] = queue.Queue()
        self.tokens = {"tok-granted"}
        self.server = serve(self._handle, "127.0.0.1", port, ping_interval=None, close_timeout=1)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, ws) -> None:
        with contextlib.suppress(ConnectionClosed):  # the sender going away mid-answer, as VTS sees it
            self._answer(ws)

    def _answer(self, ws) -> None:
        authenticated = False
        for raw in ws:
            message = json.loads(raw)
            check_message(message)
            self.messages.put(message)
            kind, data = message["messageType"], message["data"]
            reply = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": message["requestID"]}
            if kind == "AuthenticationTokenRequest":
                if self.grant is None:
                    continue
                if self.grant:
                    reply |= {
                        "messageType": "AuthenticationTokenResponse",
                        "data": {"authenticationToken": "tok-granted"},
                    }
                else:
                    reply |= {"messageType": "APIError", "data": {"errorID": 50, "message": "User denied API access."}}
            elif kind == "AuthenticationRequest":
                authenticated = data["authenticationToken"] in self.tokens
                reply |= {
                    "messageType": "AuthenticationResponse",
                    "data": {"authenticated": authenticated, "reason": "ok"},
                }
            elif kind == "InjectParameterDataRequest":
                assert authenticated
                if self.inject_error:
                    reply |= {
                        "messageType": "APIError",
                        "data": {
                            "errorID": self.inject_error,
                            "message": "Parameter MouthOpen is controlled by another plugin.",
                        },
                    }
                else:
                    reply |= {"messageType": "InjectParameterDataResponse", "data": {}}
                if self.stalled is not None:
                    self.stalled.set()
                    self.stopping.wait()
                    return
            ws.send(json.dumps(reply))

    def next(self, kind: str | None = None) -> dict:
        while True:
            message = self.messages.get(timeout=WAIT_S)
            if kind is None or message["messageType"] == kind:
                return message

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.thread.join(WAIT_S)


def check_message(message: dict) -> None:
    """The envelope and data of every request, as the API documents them."""
    assert set(message) == {"apiName", "apiVersion", "requestID", "messageType", "data"}
    assert message["apiName"] == "VTubeStudioPublicAPI" and message["apiVersion"] == "1.0"
    assert re.fullmatch(r"[\x20-\x7e]{1,64}", message["requestID"])
    data = message["data"]
    if message["messageType"] in ("AuthenticationTokenRequest", "AuthenticationRequest"):
        assert data["pluginName"] == "facemap-gui" and 3 <= len(data["pluginDeveloper"]) <= 32
    if message["messageType"] == "AuthenticationTokenRequest":
        import base64
        import io

        from PIL import Image

        assert Image.open(io.BytesIO(base64.b64decode(data["pluginIcon"]))).size == (128, 128)
    if message["messageType"] == "InjectParameterDataRequest":
        assert data["mode"] == "set"
        ids = [p["id"] for p in data["parameterValues"]]
        # No eye gaze: we cannot know it. No face: nothing but faceFound false.
        assert len(ids) == len(set(ids)) and set(ids) == (set(vts.RANGES) if data["faceFound"] is True else set())
        for value in data["parameterValues"]:
            low, high = vts.RANGES[value["id"]]
            assert set(value) == {"id", "value"} and low <= value["value"] <= high, value


def wait_for(condition) -> None:
    event = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not reached")


def test_vts_token_granted_stored_privately_and_reused_then_values_injected_and_resent():
    server = FakeVts()
    target = StreamTarget("vts", "127.0.0.1", server.port)
    try:
        with Streamer([target]) as streamer:
            streamer.send(smile_frame())
            assert server.next()["messageType"] == "AuthenticationTokenRequest"
            assert server.next()["data"]["authenticationToken"] == "tok-granted"
            first = server.next("InjectParameterDataRequest")
            values = {p["id"]: p["value"] for p in first["data"]["parameterValues"]}
            assert values["MouthSmile"] >= 0.9 and values["FaceAngleX"] == pytest.approx(12.0, abs=1e-6)
            assert server.next("InjectParameterDataRequest")["data"] == first["data"]  # no new frame: re-sent
            wait_for(lambda: streamer.status()[0].packets_per_s > 0)
        path = store.home() / vts.TOKENS_FILE
        assert json.loads(path.read_text()) == {f"127.0.0.1:{server.port}": "tok-granted"}
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        while not server.messages.empty():
            server.messages.get()
        with Streamer([target]) as streamer:  # a new connection: the stored token, no prompt
            streamer.send(smile_frame(1))
            assert server.next()["messageType"] == "AuthenticationRequest"
            assert server.next()["messageType"] == "InjectParameterDataRequest"
    finally:
        server.stop()


def test_vts_is_told_face_found_false_while_no_face_is_tracked_and_true_when_it_returns():
    server = FakeVts()
    empty = FrameResult(frame=smile_frame().frame, faces=[])
    try:
        with Streamer([StreamTarget("vts", "127.0.0.1", server.port)]) as streamer:
            streamer.send(smile_frame())
            assert server.next("InjectParameterDataRequest")["data"]["faceFound"] is True
            streamer.send(empty)
            lost = server.next("InjectParameterDataRequest")
            while lost["data"]["faceFound"]:  # the face's values may be re-sent once before the empty frame's
                lost = server.next("InjectParameterDataRequest")
            assert lost["data"]["parameterValues"] == []
            assert server.next("InjectParameterDataRequest")["data"] == lost["data"]  # re-sent while it lasts
            streamer.send(smile_frame(2))
            found = server.next("InjectParameterDataRequest")
            while not found["data"]["faceFound"]:
                found = server.next("InjectParameterDataRequest")
            assert len(found["data"]["parameterValues"]) == len(vts.RANGES)
    finally:
        server.stop()


def test_vts_denied_prompt_and_parameter_owned_by_another_plugin_are_told_once_each(caplog):
    server = FakeVts(grant=False)
    try:
        with Streamer([StreamTarget("vts", "127.0.0.1", server.port)]) as streamer:
            streamer.send(smile_frame())
            server.next("AuthenticationTokenRequest")
            wait_for(lambda: streamer.status()[0].error and "denied" in streamer.status()[0].error)
            server.next("AuthenticationTokenRequest")  # asked again after the back-off, denied again: told again
            wait_for(lambda: sum("denied in VTube Studio's prompt" in r.getMessage() for r in caplog.records) == 2)
            server.grant, server.inject_error = True, vts.ERROR_CONTROLLED
            server.next("AuthenticationTokenRequest")  # retried after the back-off
            server.next("InjectParameterDataRequest")
            server.next("InjectParameterDataRequest")
            wait_for(lambda: "error 454" in (streamer.status()[0].error or ""))
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if "the tracking goes on" in r.getMessage()]
    assert sum("denied in VTube Studio's prompt" in w for w in warnings) == 2  # once for each prompt denied
    assert sum("error 454: Parameter MouthOpen is controlled by another plugin" in w for w in warnings) == 1


def test_vts_not_running_prompt_unanswered_and_restart_never_block_a_frame():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with Streamer([StreamTarget("vts", "127.0.0.1", port)]) as streamer:
        for index in range(300):  # nothing listens: every send returns at once
            streamer.send(smile_frame(index))
        wait_for(lambda: "not running" in (streamer.status()[0].error or ""))
        server = FakeVts(port=port, grant=None)  # VTS starts; the user leaves the prompt open
        try:
            server.next("AuthenticationTokenRequest")
            wait_for(lambda: streamer.status()[0].waiting == "allow facemap-gui in VTube Studio's prompt")
            assert streamer.status()[0].line() == f"vts://127.0.0.1:{port} · waiting for you"
            assert streamer.status()[0].error is None  # "not running" is over: it connected and asked
            for index in range(300):
                streamer.send(smile_frame(index))
            server.stop()  # VTS closes ...
            server = FakeVts(port=port)  # ... and starts again: asked again, granted, values flow
            server.next("AuthenticationTokenRequest")
            server.next("InjectParameterDataRequest")
            assert streamer.status()[0].waiting is None
            server.stop()  # restarted mid-run: reconnects with the stored token
            server = FakeVts(port=port)
            assert server.next()["messageType"] == "AuthenticationRequest"
            server.next("InjectParameterDataRequest")
        finally:
            server.stop()


def test_a_vts_that_stops_reading_never_blocks_a_frame_and_is_told():
    server = FakeVts(stall=True)
    try:
        with Streamer([StreamTarget("vts", "127.0.0.1", server.port)]) as streamer:
            streamer.send(smile_frame())
            server.next("InjectParameterDataRequest")
            wait_for(server.stalled.is_set)
            frame, frames = smile_frame(1), 0  # every send returns while VTS reads nothing, until the buffers fill
            while "not reading what it is sent" not in (streamer.status()[0].error or ""):
                streamer.send(frame)
                frames += 1
                assert frames < 1_000_000
    finally:
        server.stop()
    assert frames > 100  # the buffers took a good many frames first


def test_a_vts_connection_found_closing_refuses_the_next_injection_as_closed():
    """The sender's thread may find VTS closing (reading replies) just before a frame's thread writes: that write
    must end as the connection's own "closed", which the frame's thread handles, not as websockets' state error."""
    server = FakeVts()
    try:
        connection = vts._Connection(f"ws://127.0.0.1:{server.port}", "127.0.0.1", server.port, threading.Event())
        connection.sock.setblocking(False)
    finally:
        server.stop()  # VTS goes away: a close frame, then the end of the stream
    with pytest.raises(vts.VtsProblem, match="closed the connection"):
        for _ in range(int(WAIT_S / 0.05)):
            connection.replies()
            threading.Event().wait(0.05)
    with pytest.raises(vts.VtsProblem, match="closed the connection"):
        connection.inject('{"messageType": "InjectParameterDataRequest"}')
    connection.close()
