"""What the live worker hands its listener: its states, its events (values, not message text) and the frames."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from facemap_gui.inference.runtime.base import RuntimeInfo
from facemap_gui.perframe.pipeline import FrameResult
from facemap_gui.perframe.smoothing import DEFAULT_STRENGTH
from facemap_gui.sinks.overlay import OverlayOptions
from facemap_gui.sources import Frame


class WorkerState(enum.Enum):
    IDLE = "idle"  # not started, or the source ended (the last frame stays on screen)
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"  # stop() was called; the threads end within its timeout (final state)
    FAILED = "failed"


class EventKind(enum.Enum):
    SWITCHED = "switched"  # a requested runtime/precision switch landed as asked
    FALLBACK = "fallback"  # running elsewhere than asked (at start or after a switch); `detail` says why
    SWITCH_FAILED = "switch failed"  # the switch could not be made; the old session goes on
    FRAME_FAILED = "frame failed"  # the first of a run of failing frames; the stream goes on
    RECOVERED = "recovered"  # frames succeed again after failures
    SOURCE_ERROR = "source error"  # reading the source failed (a camera: retried)
    SOURCE_BACK = "source back"  # a lost camera is back
    CALIBRATED = "calibrated"  # the neutral face is recorded and saved; `detail`: on how many frames
    CALIBRATION_FAILED = "calibration failed"  # not recorded (no face), not saved, or the saved one unreadable


ERROR_EVENTS = {
    EventKind.FALLBACK,
    EventKind.SWITCH_FAILED,
    EventKind.FRAME_FAILED,
    EventKind.SOURCE_ERROR,
    EventKind.CALIBRATION_FAILED,
}


@dataclass(frozen=True)
class WorkerEvent:
    """Something the user is told about, as a value: listeners act on `kind`, never on the wording of `text`."""

    kind: EventKind
    detail: str  # the reason or error as raised, or the runtime now running
    subject: str = ""  # what it is about: the runtime asked for, the frame, the source

    @property
    def error(self) -> bool:
        return self.kind in ERROR_EVENTS

    @property
    def text(self) -> str:
        """One line for the status bar and the log."""
        return {
            EventKind.SWITCHED: f"Now running on {self.detail}",
            EventKind.FALLBACK: f"Running on {self.subject}: {self.detail}",
            EventKind.SWITCH_FAILED: f"Switch to {self.subject} failed: {self.detail}",
            EventKind.FRAME_FAILED: f"Frame {self.subject} failed: {self.detail}",
            EventKind.RECOVERED: f"Processing recovered after {self.detail} failed frame(s)",
            EventKind.SOURCE_ERROR: self.detail,
            EventKind.SOURCE_BACK: f"{self.subject} is back",
            EventKind.CALIBRATED: f"Neutral face calibrated on {self.detail} frames: streaming relative to it",
            EventKind.CALIBRATION_FAILED: self.detail,
        }[self.kind]


@dataclass(frozen=True)
class ViewOptions:
    overlay: OverlayOptions = field(default_factory=OverlayOptions)
    smoothing: bool = True
    smoothing_strength: float = DEFAULT_STRENGTH
    tracking: bool = True  # follow faces between detections (still images never are)
    display_area: tuple[int, int] | None = None  # device px the picture may fill (aspect kept); None: frame size


@dataclass(frozen=True)
class Captured:
    frame: Frame
    captured_at: float  # time.monotonic() when the frame left the source


@dataclass(frozen=True)
class LiveFrame:
    """The newest result, as the window paints it."""

    result: FrameResult
    picture: np.ndarray  # what the window paints: RGB, scaled to the view (`live.picture`), overlay drawn
    captured_at: float
    runtime: RuntimeInfo | None  # None: a preview while the model is made (no landmarks)
    stand_in: bool
    processed: int  # frames processed since start
    dropped: int  # frames skipped to keep up: replaced before inference took them, or read too late
    stage_ms: dict[str, float]  # running averages: detect, preprocess, inference, decode, overlay
    pipeline_ms: float  # running average of the whole per-frame work
    detector_calls: int


class WorkerListener(Protocol):
    """Called from the worker's threads; a GUI forwards these to its own thread."""

    def frame_ready(self) -> None: ...
    def state_changed(self, state: WorkerState, message: str) -> None: ...
    def worker_event(self, event: WorkerEvent) -> None: ...
