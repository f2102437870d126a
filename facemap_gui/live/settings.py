"""The app's settings and the user's neutral face (calibration.py): versioned JSON files in the data directory,
restored on launch (Qt-free), written atomically.

A file that is unreadable, of another version or with wrong values falls back to defaults (no calibration) with
a warning, never an error: losing preferences must not stop the app from starting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from facemap_gui.core import store
from facemap_gui.core.atomic import write_atomic
from facemap_gui.core.errors import FacemapError
from facemap_gui.inference.runtime import PRECISIONS, RUNTIME_NAMES
from facemap_gui.perframe.calibration import Neutral
from facemap_gui.perframe.smoothing import DEFAULT_STRENGTH
from facemap_gui.sinks.overlay import OverlayOptions
from facemap_gui.sinks.streaming import PROTOCOLS, StreamTarget

log = logging.getLogger(__name__)

VERSION = 1
MAX_RECENT = 8


@dataclass
class Settings:
    source: str = "camera:0"
    runtime: str = "cpu"
    precision: str = "float"
    overlay: OverlayOptions = field(default_factory=OverlayOptions)
    smoothing: bool = True
    smoothing_strength: float = DEFAULT_STRENGTH
    tracking: bool = True
    hud: bool = True
    output_folder: str = ""  # empty: the user's Videos folder
    geometry: str = ""  # QWidget.saveGeometry(), base64
    recent_files: list[str] = field(default_factory=list)
    camera_formats: dict[str, str] = field(default_factory=dict)  # CameraInfo.key: WxH@FPS chosen in the menu
    ask_download: bool = True  # offer the model download at start-up while the real model is missing
    stream: bool = False  # send the tracking to the targets of `stream_protocols`
    stream_protocols: list[str] = field(default_factory=lambda: ["osf"])  # keys of streaming.PROTOCOLS, never empty
    stream_osf: str = "osf://127.0.0.1:11573"  # each protocol's target, kept while it is not chosen
    stream_vmc: str = "vmc://127.0.0.1:39539"
    stream_ifm: str = "ifm://127.0.0.1:49983"
    stream_vts: str = "vts://127.0.0.1:8001"

    def add_recent(self, path: str) -> None:
        self.recent_files = [path, *(p for p in self.recent_files if p != path)][:MAX_RECENT]

    def stream_target(self, protocol: str) -> StreamTarget:
        return StreamTarget.parse(getattr(self, f"stream_{protocol}"))

    def stream_targets(self) -> list[StreamTarget]:
        """Where the tracking goes: the chosen protocols' targets, in PROTOCOLS' order; none while not streaming."""
        return [self.stream_target(p) for p in PROTOCOLS if p in self.stream_protocols] if self.stream else []

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"version": VERSION, **data}

    @classmethod
    def from_json(cls, data: Any) -> Settings:
        """Raises ValueError naming the first wrong value; missing keys keep their defaults."""
        version = data.get("version") if isinstance(data, dict) else None
        if version != VERSION:
            raise ValueError(f"version {version!r}, expected {VERSION}")
        if "stream_protocols" not in data and "stream_protocol" in data:  # from when one was streamed at a time
            data = {**data, "stream_protocols": [data["stream_protocol"]]}
        values = _checked("settings", data, dataclasses.asdict(cls()))
        values["overlay"] = OverlayOptions(**values.get("overlay", {}))
        formats = data.get("camera_formats", {})  # keys are the user's cameras, not known in advance
        if not isinstance(formats, dict) or not all(isinstance(v, str) for v in formats.values()):
            raise ValueError(f"camera_formats is {formats!r}, expected an object of WxH@FPS texts")
        values["camera_formats"] = formats
        settings = cls(**values)
        if settings.runtime not in RUNTIME_NAMES or settings.precision not in PRECISIONS:
            raise ValueError(f"unknown runtime/precision {settings.runtime}/{settings.precision}")
        if not 0.0 <= settings.smoothing_strength <= 1.0:  # the slider holds 0-100 %: 1e300 overflowed it
            raise ValueError(f"smoothing_strength {settings.smoothing_strength!r}, expected 0 to 1")
        chosen = settings.stream_protocols
        if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(PROTOCOLS):
            raise ValueError(f"stream_protocols {chosen!r}, expected some of {', '.join(PROTOCOLS)}, each once")
        for protocol in PROTOCOLS:
            text = getattr(settings, f"stream_{protocol}")
            try:
                usable = StreamTarget.parse(text).protocol == protocol
            except FacemapError:
                usable = False
            if not usable:
                raise ValueError(f"stream_{protocol} {text!r}, expected {protocol}://HOST:PORT")
        settings.recent_files = settings.recent_files[:MAX_RECENT]
        return settings


def _checked(name: str, value: Any, default: Any) -> Any:
    """`value` if it has the type of `default` (dicts key by key, lists item by item as strings)."""
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{name} is {value!r}, expected an object")
        return {k: _checked(f"{name}.{k}", value[k], d) for k, d in default.items() if k in value}
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} is {value!r}, expected a list of strings")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(default):
        raise ValueError(f"{name} is {value!r}, expected a {type(default).__name__}")
    if isinstance(value, float) and not math.isfinite(value):  # JSON from Python may hold NaN and Infinity
        raise ValueError(f"{name} is {value!r}, expected a finite number")
    return value


def output_folder(settings: Settings) -> Path:
    """Where recordings go: the chosen folder, else facemap-gui in the user's Videos folder."""
    return (
        Path(settings.output_folder)
        if settings.output_folder
        else (Path(platformdirs.user_videos_dir()) / store.APP_NAME)
    )


def settings_path() -> Path:
    return store.home() / "settings.json"


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """The saved settings, or defaults and a one-line warning when the file is unusable."""
    path = path or settings_path()
    if not path.is_file():
        return Settings(), None
    try:
        return Settings.from_json(json.loads(path.read_text(encoding="utf-8"))), None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:  # Recursion: JSON nested deeply
        warning = f"{path}: settings unreadable ({exc}); using defaults"
        log.warning("%s", warning)
        return Settings(), warning


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Written beside and renamed, so a crash mid-write never leaves a half file. Failure is logged only."""
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(settings.to_json(), indent=2))
    except OSError as exc:
        log.warning("%s: cannot save settings (%s)", path, exc.strerror or exc)


def calibration_path() -> Path:
    return store.home() / "neutral_face.json"


def load_calibration(path: Path | None = None) -> tuple[Neutral | None, str | None]:
    """The user's saved neutral face, or None (and a one-line warning when the file is unusable)."""
    path = path or calibration_path()
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version') if isinstance(data, dict) else None!r}, expected {VERSION}")
        return Neutral.from_json(data), None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        warning = f"{path}: calibration unreadable ({exc}); streaming uncalibrated until you calibrate again"
        log.warning("%s", warning)
        return None, warning


def save_calibration(neutral: Neutral, path: Path | None = None) -> Path:
    """Written beside and renamed. Raises FacemapError naming the file when it cannot be written."""
    path = path or calibration_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"version": VERSION, **neutral.to_json()}, indent=2))
    except OSError as exc:
        raise FacemapError(f"{path}: cannot save the calibration ({exc.strerror or exc}); check the folder") from exc
    return path
