"""VTube Studio's public plugin API (DenchiSoft/VTubeStudio README): a WebSocket client that injects the tracking
into VTS's input parameters.

The first connection asks VTS for a token (VTS shows the user a prompt); the token is kept in the data folder, per
host:port, and each connection authenticates with it. Then every frame's parameters are injected (mode "set"),
and the latest is re-sent twice a second when no new frame comes, as VTS drops injected values after 1 s. All of
it runs on a thread of its own behind a one-slot mailbox: `send` never waits, whatever VTS does. Problems (VTS not
running, the prompt denied, another plugin owning a parameter, VTS closing) are told once and retried with
back-off."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from facemap_gui.core import store
from facemap_gui.core.atomic import replacing
from facemap_gui.core.mailbox import Mailbox
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
    """close() was called while waiting for VTS: leave, closing the connection normally."""


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


class VtsSender(SenderStatus):
    """One VTS target: `send(parameters)` hands the latest values to the connection's thread and returns; empty
    values say no face is tracked (`faceFound: false`, nothing injected)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__(name)
        self._key = f"{host}:{port}"
        self._url = f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"
        self._mailbox: Mailbox[dict[str, float]] = Mailbox()
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._delay = RETRY_FIRST_S
        self._latest: dict[str, float] | None = None
        self._thread = threading.Thread(target=self._run, name=f"stream {name}", daemon=True)
        self._thread.start()

    def send(self, values: dict[str, float]) -> None:
        self._mailbox.put(values)

    def close(self) -> None:
        """Stops the thread (it closes the connection on its way out) without waiting for it."""
        self._closed = True
        self._stop.set()
        self._mailbox.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with (
                    connect(self._url, open_timeout=OPEN_TIMEOUT_S, close_timeout=1.0) as ws,
                    contextlib.suppress(_Stopped),
                ):
                    self._session(ws)
            except ConnectionClosed:
                self._report("VTube Studio closed the connection; reconnecting")
            except VtsProblem as exc:
                self._report(str(exc))
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI):
                self._report("VTube Studio is not running there, or its API is off (VTS: Settings › Start API)")
            self._stop.wait(self._delay)
            self._delay = min(self._delay * 2, RETRY_MAX_S)

    def _session(self, ws: ClientConnection) -> None:
        token = _read_tokens().get(self._key) or self._new_token(ws)
        if not self._call(ws, "AuthenticationRequest", {**PLUGIN, "authenticationToken": token}).get("authenticated"):
            self._forget_token()
            raise VtsProblem("VTube Studio no longer accepts the plugin's token; asking for a new one")
        self._delay = RETRY_FIRST_S
        while not self._stop.is_set():
            # Nothing new: the latest again (also right after reconnecting to a restarted VTS).
            values = self._mailbox.get(timeout=RESEND_S)
            values = self._latest if values is None else values
            if values is None or self._stop.is_set():
                continue
            self._latest = values
            request = {
                "faceFound": bool(values),  # no values: no face is tracked
                "mode": "set",
                "parameterValues": [{"id": name, "value": value} for name, value in values.items()],
            }
            try:
                self._call(ws, "InjectParameterDataRequest", request)
            except ApiError as exc:  # e.g. another plugin owns a parameter: keep the connection, back off
                self._report(f"VTube Studio refused the values ({exc})")
                self._stop.wait(self._delay)
                self._delay = min(self._delay * 2, RETRY_MAX_S)
            else:
                self._count_sent()
                self._delay = RETRY_FIRST_S

    def _new_token(self, ws: ClientConnection) -> str:
        self._report("waiting for the user to allow facemap-gui in VTube Studio's prompt")
        try:
            data = self._call(ws, "AuthenticationTokenRequest", {**PLUGIN, "pluginIcon": _icon()}, TOKEN_PROMPT_S)
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
        self, ws: ClientConnection, kind: str, data: dict[str, Any], timeout: float = REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        """Send one request and return the data of its reply (other messages, such as events, are skipped)."""
        request_id = f"facemap-{next(self._ids)}"
        message = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": request_id}
        ws.send(json.dumps({**message, "messageType": kind, "data": data}))
        waited = 0.0
        while waited < timeout:
            if self._stop.is_set():
                raise _Stopped
            try:
                reply = json.loads(ws.recv(timeout=RESEND_S))
            except TimeoutError:
                waited += RESEND_S
                continue
            except ValueError:
                raise VtsProblem("VTube Studio sent something that is not JSON") from None
            if not isinstance(reply, dict) or reply.get("requestID") != request_id:
                continue
            if not isinstance(answer := reply.get("data"), dict):
                answer = {}
            if reply.get("messageType") == "APIError":
                raise ApiError(answer.get("errorID", 0), f"error {answer.get('errorID')}: {answer.get('message', '')}")
            return answer
        raise VtsProblem(f"VTube Studio did not answer {kind} within {timeout:.0f} s")
