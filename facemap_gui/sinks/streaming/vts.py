"""VTube Studio's public plugin API (DenchiSoft/VTubeStudio README): a WebSocket client that injects the tracking
into VTS's input parameters.

The first connection asks VTS for a token (VTS shows the user a prompt); the token is kept in the data folder, per
host:port, and each connection authenticates with it. Then every frame's parameters are injected (mode "set"),
and the latest is re-sent twice a second when no new frame comes, as VTS drops injected values after 1 s.
Connecting and authenticating happen on a thread of its own; each frame's values are then written by the frame's
own thread, without waiting: a hand-over to another thread every frame cost more CPU than all the rest of streaming.
Problems (VTS not running, the prompt denied, another plugin owning a parameter, VTS closing) are told once and
retried with back-off."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import operator
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from facemap_gui.core import store
from facemap_gui.core.atomic import replacing
from facemap_gui.perframe.signals import FaceSignals, clip
from facemap_gui.sinks.streaming.status import SenderStatus

DEFAULT_PORT = 8001
PLUGIN = {"pluginName": "facemap-gui", "pluginDeveloper": "facemap-gui project"}
RESEND_S = 0.5  # VTS reverts an injected parameter to its own tracking 1 s after the last value
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # back-off between attempts after a problem
OPEN_TIMEOUT_S, REPLY_TIMEOUT_S = 3.0, 5.0
TOKEN_PROMPT_S = 120.0  # how long the user may take to answer VTS's "allow this plugin?" prompt
TOKENS_FILE = "vts-tokens.json"
ERROR_DENIED, ERROR_CONTROLLED = 50, 454  # VTS's ErrorID: user denied the token; parameter owned by another plugin

# VTS's default input parameters and their ranges (its parameter list): angles in degrees, positions in VTS's
# own units, the rest 0..1 (MouthX -1..1).
RANGES = {
    "FaceAngleX": (-30.0, 30.0),
    "FaceAngleY": (-30.0, 30.0),
    "FaceAngleZ": (-90.0, 90.0),
    "FacePositionX": (-15.0, 15.0),
    "FacePositionY": (-15.0, 15.0),
    "FacePositionZ": (-10.0, 10.0),
    "EyeOpenLeft": (0.0, 1.0),
    "EyeOpenRight": (0.0, 1.0),
    "MouthOpen": (0.0, 1.0),
    "MouthSmile": (0.0, 1.0),
    "MouthX": (-1.0, 1.0),
    "Brows": (0.0, 1.0),
    "BrowLeftY": (0.0, 1.0),
    "BrowRightY": (0.0, 1.0),
}
POSITION_PER_M = 100.0  # VTS's face position units: centimetres from the camera axis
REST_DISTANCE_M = 0.6  # FacePositionZ 0; nearer is positive, 1 per 3 cm


def parameters(signals: FaceSignals, shapes: dict[str, float]) -> dict[str, float]:
    """VTS's input parameters from the signals and ARKit expressions, each within its RANGES."""
    s = signals

    def brow(outer_up: float, raised: float, down: float) -> float:  # 0.5 at rest, up to 1 raised, down to 0 lowered
        return 0.5 + (max(shapes["browInnerUp"], outer_up, raised) - down) / 2

    smile = (shapes["mouthSmileLeft"] + shapes["mouthSmileRight"]) / 2
    frown = (shapes["mouthFrownLeft"] + shapes["mouthFrownRight"]) / 2
    values = {
        "FaceAngleX": s.yaw,
        "FaceAngleY": s.pitch,
        "FaceAngleZ": s.roll,
        "FacePositionX": s.head_x * POSITION_PER_M,
        "FacePositionY": s.head_y * POSITION_PER_M,
        "FacePositionZ": (REST_DISTANCE_M - s.head_z) * POSITION_PER_M / 3,
        "EyeOpenLeft": s.eye_open_left,
        "EyeOpenRight": s.eye_open_right,
        "MouthOpen": shapes["jawOpen"],
        "MouthSmile": 0.5 + (smile - frown) / 2,  # VTS binds it to the mouth's form: 0 sad, 0.5 rest, 1 smile
        "MouthX": shapes["mouthLeft"] - shapes["mouthRight"],
        "BrowLeftY": brow(shapes["browOuterUpLeft"], s.brow_raise_left, shapes["browDownLeft"]),
        "BrowRightY": brow(shapes["browOuterUpRight"], s.brow_raise_right, shapes["browDownRight"]),
    }
    values["Brows"] = (values["BrowLeftY"] + values["BrowRightY"]) / 2
    return {name: clip(value, *RANGES[name]) for name, value in values.items()}


class VtsProblem(Exception):
    """What went wrong, in words for the status bar."""


class _Stopped(Exception):
    """close() was called while waiting for VTS: leave, closing the connection."""


class _Closed(VtsProblem):
    def __init__(self) -> None:
        super().__init__("VTube Studio closed the connection; reconnecting")


class ApiError(VtsProblem):
    def __init__(self, error_id: int, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def _tokens_path() -> Path:
    return store.home() / TOKENS_FILE


def _read_tokens() -> dict[str, str]:
    try:
        tokens = json.loads(_tokens_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: VTS is simply asked again
        return {}
    return {k: v for k, v in tokens.items() if isinstance(v, str)} if isinstance(tokens, dict) else {}


def _write_tokens(tokens: dict[str, str]) -> None:
    """Only the user may read the file (a token lets any program act as this plugin in VTS)."""
    path = _tokens_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as part:
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(tokens, file)


def _icon() -> str:
    """The app's icon as VTS wants it: a 128x128 PNG in base64."""
    from PIL import Image

    with Image.open(Path(__file__).resolve().parents[2] / "data" / "facemap-gui.png") as image:
        buffer = io.BytesIO()
        image.convert("RGBA").resize((128, 128)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _injection(face_found: str, parameters: str) -> str:
    """An InjectParameterDataRequest with its request number (%d) left out."""
    return (
        '{"apiName":"VTubeStudioPublicAPI","apiVersion":"1.0","requestID":"facemap-%d",'
        f'"messageType":"InjectParameterDataRequest","data":{{"faceFound":{face_found},"mode":"set",'
        f'"parameterValues":[{parameters}]}}}}'
    )


# An injection in one %-format with the parameters in RANGES' order: json.dumps of the nested request, every frame,
# cost several times as much. 4 decimals: a thousandth of a degree, a micrometre in VTS's positions.
_FACE = _injection("true", ",".join(f'{{"id":"{name}","value":%.4f}}' for name in RANGES))
_NO_FACE = _injection("false", "")
_VALUES = operator.itemgetter(*RANGES)


class _Connection:
    """One WebSocket connection to VTS: websockets' sans-I/O protocol over a plain socket. The sender's thread opens
    it and authenticates, waiting on the socket with timeouts; then the socket turns non-blocking: each frame's
    thread writes its injection, the sender's thread reads the replies now and then, and neither waits."""

    def __init__(self, url: str, host: str, port: int, stop: threading.Event) -> None:
        self._stop = stop
        self._protocol = ClientProtocol(parse_uri(url))  # no extensions: nothing arrives compressed
        self._unsent = b""  # what a non-blocking socket has not taken yet
        self._text = bytearray()  # a message arriving in fragments
        self.sock = socket.create_connection((host, port), timeout=OPEN_TIMEOUT_S)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._protocol.send_request(self._protocol.connect())
            self.sock.sendall(b"".join(self._protocol.data_to_send()))
            deadline = time.monotonic() + OPEN_TIMEOUT_S
            while (
                self._protocol.state is State.CONNECTING
                and self._protocol.handshake_exc is None
                and time.monotonic() < deadline
            ):
                self._take(self.sock.recv(65536))
            if self._protocol.handshake_exc is not None:
                raise self._protocol.handshake_exc
            if self._protocol.state is not State.OPEN:
                raise TimeoutError
            self.sock.settimeout(RESEND_S)  # waiting for a reply checks for close() this often
        except BaseException:
            self.sock.close()
            raise

    def _take(self, data: bytes) -> list[bytes]:
        """Feeds what the socket gave (b"": it closed) to the protocol; returns the whole text messages."""
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        messages = []
        for event in self._protocol.events_received():
            if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.CONT):
                self._text += event.data
                if event.fin:
                    messages.append(bytes(self._text))
                    self._text.clear()
        self._unsent += b"".join(self._protocol.data_to_send())  # pongs, the answer to a close
        if self._protocol.state not in (State.CONNECTING, State.OPEN):
            raise _Closed
        return messages

    def _frame(self, text: str) -> bytes:
        self._protocol.send_text(text.encode())
        return b"".join(self._protocol.data_to_send())

    def call(self, kind: str, request: str, request_id: str, timeout: float) -> dict[str, Any]:
        """Send one request and wait for the data of its reply (other messages, such as events, are skipped)."""
        self.sock.sendall(self._unsent + self._frame(request))
        self._unsent = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._stop.is_set():
                raise _Stopped
            try:
                messages = self._take(self.sock.recv(65536))
            except TimeoutError:
                continue
            for message in messages:
                reply = _parse(message)
                if isinstance(reply, dict) and reply.get("requestID") == request_id:
                    return _answer(reply)
        raise VtsProblem(f"VTube Studio did not answer {kind} within {timeout:.0f} s")

    def inject(self, request: str) -> bool:
        """Writes `request` without waiting, unless the socket still holds part of the last one (VTS is not reading
        what it is sent): False then."""
        if self._protocol.state is not State.OPEN:  # closing, as the sender's thread found reading replies
            raise _Closed
        try:
            if self._unsent:
                self._write()
            if self._unsent:
                return False
            self._unsent = self._frame(request)
            self._write()
        except OSError:  # reset, broken pipe: as good as closed
            raise _Closed from None
        return True

    def _write(self) -> None:
        try:
            sent = self.sock.send(self._unsent)
        except BlockingIOError:
            sent = 0
        self._unsent = self._unsent[sent:]

    def replies(self) -> int:
        """Reads, without waiting, the replies to the injections since the last call: how many were fine.
        Read in one go every RESEND_S, not a frame at a time: that halved what VTS cost the frame's thread."""
        fine = 0
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    return fine
                for message in self._take(data):
                    if b"APIError" in message:  # the others are acknowledgements: not parsed
                        _answer(_parse(message))
                    fine += 1
        except OSError:
            raise _Closed from None

    def close(self) -> None:
        """Says goodbye if the socket takes it at once, and closes."""
        with contextlib.suppress(Exception):
            self._protocol.send_close()
            self.sock.setblocking(False)
            self.sock.send(b"".join(self._protocol.data_to_send()))
        self.sock.close()


def _parse(message: bytes) -> Any:
    try:
        return json.loads(message)
    except ValueError:
        raise VtsProblem("VTube Studio sent something that is not JSON") from None


def _answer(reply: Any) -> dict[str, Any]:
    """The data of a reply; an APIError raised."""
    answer = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(answer, dict):
        answer = {}
    if isinstance(reply, dict) and reply.get("messageType") == "APIError":
        raise ApiError(answer.get("errorID", 0), f"error {answer.get('errorID')}: {answer.get('message', '')}")
    return answer


class VtsSender(SenderStatus):
    """One VTS target: `send(parameters)` writes the values to VTS from the calling thread once connected (never
    waiting; nothing is sent before); empty values say no face is tracked (`faceFound: false`, nothing injected)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__(name)
        self._host, self._port, self._key = host, port, f"{host}:{port}"
        self._url = f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"
        self._stop, self._wake = threading.Event(), threading.Event()
        self._lock = threading.Lock()  # the connection, and who writes to it
        self._connection: _Connection | None = None
        self._ids = itertools.count(1)
        self._delay = RETRY_FIRST_S
        self._paused_until = 0.0  # after VTS refused values: none sent until then
        self._latest: dict[str, float] | None = None
        self._sent_at = 0.0
        self._thread = threading.Thread(target=self._run, name=f"stream {name}", daemon=True)
        self._thread.start()

    def send(self, values: dict[str, float]) -> None:
        self._latest = values
        if not self._lock.acquire(blocking=False):  # the sender's thread is reading replies: the next frame goes
            return
        try:
            if self._connection is not None and not self._closed:
                self._inject(self._connection, values)
        except _Closed:  # the sender's thread sees it gone and reconnects
            self._connection = None
            self._wake.set()
        finally:
            self._lock.release()

    def _inject(self, connection: _Connection, values: dict[str, float]) -> None:
        """Called with the lock held; raises when the connection is gone."""
        now = time.monotonic()
        if now < self._paused_until:
            return
        # No values: no face is tracked.
        request = _FACE % (next(self._ids), *_VALUES(values)) if values else _NO_FACE % next(self._ids)
        if not connection.inject(request):
            self._report("VTube Studio is not reading what it is sent; dropping values")
            return
        self._sent_at = now
        self._count_sent()

    def _check_replies(self, connection: _Connection) -> None:
        """Called with the lock held; raises when the connection is gone."""
        try:
            if connection.replies():
                self._delay = RETRY_FIRST_S
        except ApiError as exc:  # e.g. another plugin owns a parameter: keep the connection, back off
            self._report(f"VTube Studio refused the values ({exc})")
            self._paused_until = time.monotonic() + self._next_delay()

    def _next_delay(self) -> float:
        """How long to back off after a problem; each problem in a row doubles it, up to RETRY_MAX_S."""
        delay, self._delay = self._delay, min(self._delay * 2, RETRY_MAX_S)
        return delay

    def close(self) -> None:
        """Stops the thread (it closes the connection on its way out) without waiting for it."""
        self._closed = True
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except _Stopped:
                return
            except VtsProblem as exc:
                self._report(str(exc))
            except (OSError, InvalidHandshake, InvalidURI):
                self._report("VTube Studio is not running there, or its API is off (VTS: Settings › Start API)")
            self._stop.wait(self._next_delay())

    def _session(self) -> None:
        connection = _Connection(self._url, self._host, self._port, self._stop)
        try:
            token = _read_tokens().get(self._key) or self._new_token(connection)
            if not self._call(connection, "AuthenticationRequest", {**PLUGIN, "authenticationToken": token}).get(
                "authenticated"
            ):
                self._forget_token()
                raise VtsProblem("VTube Studio no longer accepts the plugin's token; asking for a new one")
            self._delay = RETRY_FIRST_S
            connection.sock.setblocking(False)
            with self._lock:
                self._connection = connection
            while not self._stop.is_set():
                self._wake.wait(RESEND_S)
                self._wake.clear()
                with self._lock:
                    if self._connection is not connection:  # a frame's thread found it closed
                        raise _Closed
                    self._check_replies(connection)
                    # Nothing new: the latest again (also right after reconnecting to a restarted VTS).
                    if self._latest is not None and time.monotonic() - self._sent_at >= RESEND_S:
                        self._inject(connection, self._latest)
        finally:
            with self._lock:
                self._connection = None
                connection.close()

    def _new_token(self, connection: _Connection) -> str:
        try:
            with self._waiting_for_user("allow facemap-gui in VTube Studio's prompt"):
                data = self._call(
                    connection, "AuthenticationTokenRequest", {**PLUGIN, "pluginIcon": _icon()}, TOKEN_PROMPT_S
                )
        except ApiError as exc:
            if exc.error_id == ERROR_DENIED:
                raise VtsProblem("the plugin was denied in VTube Studio's prompt; it asks again later") from None
            raise
        token = data.get("authenticationToken")
        if not isinstance(token, str) or not token:
            raise VtsProblem("VTube Studio sent no token")
        tokens = _read_tokens()
        tokens[self._key] = token
        with contextlib.suppress(OSError):  # not kept: VTS asks again next time, nothing worse
            _write_tokens(tokens)
        return token

    def _forget_token(self) -> None:
        tokens = _read_tokens()
        if tokens.pop(self._key, None) is not None:
            with contextlib.suppress(OSError):
                _write_tokens(tokens)

    def _call(
        self, connection: _Connection, kind: str, data: dict[str, Any], timeout: float = REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        request_id = f"facemap-{next(self._ids)}"
        message = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": request_id}
        return connection.call(kind, json.dumps({**message, "messageType": kind, "data": data}), request_id, timeout)
