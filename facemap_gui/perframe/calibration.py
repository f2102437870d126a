"""A user's neutral face: what their expressions and signals read at rest, so that what is streamed reads 0 there
(eyes: fully open) and the full range above it (docs/streaming.md, "Calibration").

`Calibrator` records the resting face over a few seconds of the source's clock, fed by `CalibrationSink` in every
front end (the window's worker, `track --calibrate`); `Neutral` is the result, kept in
the data folder (live/settings.py) and applied by the streamers (`Streamer.neutral`) to what they send. JSON Lines,
CSV and recordings keep the raw values, so a file stays a measurement, readable with any calibration or none.
Each eye is calibrated and applied on its own, so a wink (one eye closed) stays one: only the `blink` flag looks
at both eyes."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facemap_gui.core.errors import FacemapError
from facemap_gui.perframe import brow_mouth
from facemap_gui.perframe.expressions import ARKIT_NAMES, frame_blendshapes
from facemap_gui.perframe.pipeline import FrameResult
from facemap_gui.perframe.signals import BLINK_BELOW, FaceSignals, clip, frame_signals

AT_REST = ("mouth_open", "mouth_wide", "brow_raise_left", "brow_raise_right")  # signals reading 0 at rest
OPEN = ("eye_open_left", "eye_open_right")  # signals reading 1 at rest
MIN_RANGE = 0.2  # a neutral reading above 0.8 still leaves this much range, so noise is not amplified past it
MIN_OPEN = 0.3  # an eye read almost closed at rest (calibrated mid-blink): divided by no less than this
MIN_FRAMES = 5


def _relative(value: float, rest: float) -> float:
    """0 at `rest`, 1 at 1, clipped."""
    return clip((value - rest) / max(1.0 - rest, MIN_RANGE), 0.0, 1.0)


@dataclass(frozen=True)
class Neutral:
    shapes: dict[str, float]  # ARKit name -> its reading at rest
    signals: dict[str, float]  # AT_REST and OPEN signal -> its reading at rest
    frames: int  # how many frames with a face it was measured on
    # OpenSeeFace's brow and mouth features (brow_mouth.NAMES) -> their raw value at rest; None in a calibration
    # saved before they were recorded (the sender's default rest then)
    brow_mouth: dict[str, float] | None = None

    def apply_shapes(self, shapes: dict[str, float]) -> dict[str, float]:
        return {name: _relative(value, self.shapes.get(name, 0.0)) for name, value in shapes.items()}

    def apply_signals(self, s: FaceSignals) -> FaceSignals:
        changes = {name: _relative(getattr(s, name), self.signals[name]) for name in AT_REST}
        changes.update({name: min(getattr(s, name) / max(self.signals[name], MIN_OPEN), 1.0) for name in OPEN})
        blink = max(changes["eye_open_left"], changes["eye_open_right"]) < BLINK_BELOW
        return dataclasses.replace(s, **changes, blink=blink)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"shapes": self.shapes, "signals": self.signals, "frames": self.frames}
        return data if self.brow_mouth is None else {**data, "brow_mouth": self.brow_mouth}

    @classmethod
    def from_json(cls, data: Any) -> Neutral:
        """Raises ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected an object")
        shapes, signals, frames = data.get("shapes"), data.get("signals"), data.get("frames")
        for name, values, names in (("shapes", shapes, ARKIT_NAMES), ("signals", signals, AT_REST + OPEN)):
            if not isinstance(values, dict) or set(values) != set(names):
                raise ValueError(f"{name}: expected a value for each of {', '.join(names)}")
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name}.{key} is {value!r}, expected 0 to 1")
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < MIN_FRAMES:
            raise ValueError(f"frames is {frames!r}, expected at least {MIN_FRAMES}")
        raw = data.get("brow_mouth")
        if raw is not None and (
            not isinstance(raw, dict)
            or set(raw) != set(brow_mouth.NAMES)
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in raw.values()
            )
        ):
            raise ValueError(f"brow_mouth: expected a finite number for each of {', '.join(brow_mouth.NAMES)}")
        assert isinstance(shapes, dict) and isinstance(signals, dict)
        return cls(
            {k: float(v) for k, v in shapes.items()},
            {k: float(v) for k, v in signals.items()},
            frames,
            None if raw is None else {k: float(v) for k, v in raw.items()},
        )


class Calibrator:
    """Fed each frame (`add`); the first face's median readings once `seconds` of the source's clock have
    passed. Medians: a blink or a twitch during the recording does not move the neutral."""

    def __init__(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds > 0):
            raise FacemapError(f"calibration: {seconds} s, expected a positive number of seconds")
        self.seconds = seconds
        self._first_ms: float | None = None
        self._shapes: list[dict[str, float]] = []
        self._signals: list[FaceSignals] = []
        self._brow_mouth: list[dict[str, float]] = []

    def add(self, result: FrameResult) -> Neutral | None:
        """None while recording; the Neutral at the end. Raises FacemapError when too few frames showed a face."""
        if self._first_ms is None:
            self._first_ms = result.frame.timestamp_ms
        face = result.avatar_face  # the face the streamers follow
        if face is not None:
            self._shapes.append(frame_blendshapes(result, face))
            self._signals.append(frame_signals(result, face))
            self._brow_mouth.append(brow_mouth.measure(face.points()))
        if result.frame.timestamp_ms - self._first_ms < self.seconds * 1000.0:
            return None
        if len(self._shapes) < MIN_FRAMES:
            raise FacemapError(
                f"calibration: a face was seen on {len(self._shapes)} frame(s) of {self.seconds:g} s; look at the "
                "camera with a relaxed, neutral face and calibrate again"
            )
        return Neutral(
            shapes={name: statistics.median(s[name] for s in self._shapes) for name in ARKIT_NAMES},
            signals={name: statistics.median(getattr(s, name) for s in self._signals) for name in AT_REST + OPEN},
            frames=len(self._shapes),
            brow_mouth={name: statistics.median(m[name] for m in self._brow_mouth) for name in brow_mouth.NAMES},
        )


class CalibrationSink:
    """The frame loop's calibration: `start(seconds)` records the neutral face from the next frames (a Calibrator),
    then hands it to `done` (which saves it and streams relative to it). A failure (too few faces, or `done`
    raising FacemapError: not saved) goes to `failed`. Either way the recording ends; until `start`, frames pass."""

    def __init__(self, done: Callable[[Neutral], None], failed: Callable[[FacemapError], None]) -> None:
        self._done = done
        self._failed = failed
        self._calibrator: Calibrator | None = None

    def start(self, seconds: float) -> None:
        """Set from any thread; the next frame starts the recording."""
        self._calibrator = Calibrator(seconds)

    def __call__(self, result: FrameResult) -> None:
        calibrator = self._calibrator
        if calibrator is None:
            return
        try:
            neutral = calibrator.add(result)
            if neutral is None:
                return
            self._calibrator = None
            self._done(neutral)
        except FacemapError as exc:
            self._calibrator = None
            self._failed(exc)
