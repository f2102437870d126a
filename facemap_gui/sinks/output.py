"""The JSON Lines schema shared by `process --output` and recordings: header, one line a frame, summary."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from facemap_gui import __version__
from facemap_gui.core.errors import FacemapError, reason, shown, write_fix
from facemap_gui.core.timing import StageTimes
from facemap_gui.perframe import expressions
from facemap_gui.perframe.pipeline import FrameResult, Pipeline
from facemap_gui.perframe.signals import frame_signals

if TYPE_CHECKING:
    from facemap_gui.run.pipeline_builder import RunOptions
    from facemap_gui.sources import FrameSource


def header_record(options: RunOptions, source: FrameSource, pipeline: Pipeline) -> dict[str, Any]:
    """What a run used: input, model (with its sha256 and whether it is a stand-in), detector and where
    each model actually ran."""
    model = pipeline.session.model
    detector = pipeline.detector
    return {
        "type": "header",
        "version": __version__,
        "input": {
            "name": source.name,
            "size": list(source.size) if source.size else None,
            "fps": source.fps,
            "frames": source.frame_count,
        },
        "model": {"path": str(model.path), "sha256": model.sha256, "stand_in": model.stand_in},
        "detector": None
        if detector is None
        else {
            "path": str(options.detector_path()),
            "backend": detector.name,
            "runtime": detector.info.__dict__
            if hasattr(detector, "info")
            else {"runtime": "cpu", "device": "MediaPipe (LiteRT)"},
        },
        "fixed_box": list(options.box) if options.box else None,
        "tracking": {
            "enabled": pipeline.tracker is not None,
            "redetect_every": options.redetect_every,
            "requested": "on" if pipeline.config.tracking_fallback else "",
            "fallback_reason": pipeline.config.tracking_fallback,
        },
        "runtime": pipeline.session.info.__dict__,
    }


DECIMALS = 3  # pixels, degrees and milliseconds in every file: a thousandth is below any measurement's precision


def frame_record(result: FrameResult, origin: tuple[int, float] = (0, 0.0)) -> dict[str, Any]:
    """One frame's line; `origin` (frame index, timestamp) is subtracted, so a recording counts from its first
    frame. A still image's line names its file."""
    frame = result.frame
    return {
        "type": "frame",
        "frame": frame.index - origin[0],
        "timestamp_ms": round(frame.timestamp_ms - origin[1], DECIMALS),
        **({"file": frame.file} if frame.file is not None else {}),
        "faces": [
            {
                "id": face.track_id,
                "box": list(face.box),
                "crop_box": list(face.crop_box),
                "score": round(face.score, 4),
                # float64 first: a float32 rounded to 3 places still prints as 166.09100341796875
                "landmarks": np.round(face.landmarks.astype(np.float64), DECIMALS).tolist(),
                "pose": {
                    name: round(value, DECIMALS)
                    for name, value in zip(("yaw", "pitch", "roll"), face.pose, strict=True)
                },
                "signals": frame_signals(result, face).record(),
                "blendshapes": expressions.record(expressions.frame_blendshapes(result, face)),
            }
            for face in result.faces
        ],
        "detector_ran": result.detector_ran,
        "background_detection": result.background_detection,
        "failed_faces": result.failed_faces,
        "timings_ms": {stage: round(ms, DECIMALS) for stage, ms in result.timings_ms.items()},
    }


@dataclass
class RunStats:
    """Per-stage timings and counts over a run, summarised as mean, median and p95."""

    frames: int = 0
    frames_with_face: int = 0
    faces: int = 0
    failed_faces: int = 0
    timings: StageTimes = field(default_factory=StageTimes)

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        self.faces += len(result.faces)
        self.failed_faces += result.failed_faces
        self.frames_with_face += bool(result.faces)
        for stage, ms in result.timings_ms.items():
            self.timings.add(stage, ms)

    def record(self, **extra: Any) -> dict[str, Any]:
        return {
            "type": "summary",
            "frames": self.frames,
            "faces": self.faces,
            "failed_faces": self.failed_faces,
            "frames_with_face": self.frames_with_face,
            "timings_ms": self.timings.summary(),
            **extra,
        }


class JsonlWriter:
    """Writes one JSON object per line straight to an unbuffered binary stream, so a killed run leaves only
    complete lines; a write that fails part-way (a full disk) is cut back to the last complete line and raised
    as one line naming `name`."""

    def __init__(self, stream: IO[bytes], name: object) -> None:
        self._stream = stream
        self._name = name
        fd = stream.fileno()
        self._complete = os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(os.fstat(fd).st_mode) else None

    def write(self, record: dict[str, Any]) -> None:
        # allow_nan=False: NaN or Infinity would make the line invalid JSON; the pipeline never lets them through.
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
        try:
            done = 0
            while done < len(line):  # a short write is followed by the error that cut it (ENOSPC)
                done += self._stream.write(line[done:])
        except BrokenPipeError:
            raise  # the reader of stdout went away: cli ends the run quietly
        except OSError as exc:
            if self._complete is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._stream.fileno(), self._complete)
            raise FacemapError(f"{shown(self._name)}: cannot write ({reason(exc)}); {write_fix(exc)}") from exc
        if self._complete is not None:
            self._complete += len(line)
