"""The JSON Lines schema shared by `process --output` and recordings: header, one line a frame, summary."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from facemap_gui import __version__
from facemap_gui.pipeline import FrameResult, Pipeline

if TYPE_CHECKING:
    from facemap_gui.config import RunOptions
    from facemap_gui.sources import FrameSource


def header_record(options: RunOptions, source: FrameSource, pipeline: Pipeline) -> dict[str, Any]:
    """What a run used: input, model (with its sha256 and whether it is a stand-in), detector and where
    each model actually ran."""
    model = pipeline.session.model
    detector = pipeline.detector
    return {
        "type": "header",
        "version": __version__,
        "input": {"name": source.name, "size": list(getattr(source, "size", (0, 0))), "fps": source.fps,
                  "frames": source.frame_count},
        "model": {"path": str(model.path), "sha256": model.sha256, "stand_in": model.stand_in},
        "detector": None if detector is None else {
            "path": str(options.detector_path()), "backend": detector.name,
            "runtime": detector.info.__dict__ if hasattr(detector, "info") else {"runtime": "cpu",
                                                                                 "device": "MediaPipe (LiteRT)"}},
        "fixed_box": list(options.box) if options.box else None,
        "tracking": {"enabled": pipeline.tracker is not None, "redetect_every": options.redetect_every},
        "runtime": pipeline.session.info.__dict__,
    }


class StageTimes:
    """Per-stage milliseconds over a whole run in fixed memory (72 KB a stage), however long the run: an exact
    sum and a count per logarithmic bin (0.2% wide, from 1 µs to 100 s), so the mean is exact and the median and
    p95 are within 0.1% (the centre of the bin holding that frame's time). Stages are reported in `order`, then
    as first seen."""

    LOW_MS = 0.001  # bin 0 holds everything below this, reported as 0
    RATIO = 1.002
    BINS = 1 + math.ceil(math.log(100_000.0 / LOW_MS) / math.log(RATIO))

    def __init__(self, order: tuple[str, ...] = ()) -> None:
        self._order = order
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}

    def add(self, stage: str, ms: float) -> None:
        counts = self._counts.get(stage)
        if counts is None:
            counts = self._counts[stage] = np.zeros(self.BINS, np.int64)
            self._sums[stage] = 0.0
        index = 0 if ms < self.LOW_MS else min(self.BINS - 1, 1 + int(math.log(ms / self.LOW_MS, self.RATIO)))
        counts[index] += 1
        self._sums[stage] += ms

    def __contains__(self, stage: str) -> bool:
        return stage in self._counts

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {mean, median, p95, count}} in ms, for the stages with at least one frame."""
        stages = sorted(self._counts, key=lambda s: self._order.index(s) if s in self._order else len(self._order))
        return {stage: self.stage_summary(stage) for stage in stages}

    def stage_summary(self, stage: str) -> dict[str, float]:
        """{mean, median, p95, count} in ms of one stage that has had a frame."""
        cumulative = np.cumsum(self._counts[stage])
        count = int(cumulative[-1])

        def percentile(q: float) -> float:
            index = int(np.searchsorted(cumulative, math.floor(q * (count - 1)), side="right"))
            return 0.0 if index == 0 else self.LOW_MS * self.RATIO ** (index - 0.5)

        return {"mean": round(self._sums[stage] / count, 3), "median": round(percentile(0.5), 3),
                "p95": round(percentile(0.95), 3), "count": count}


def frame_record(result: FrameResult) -> dict[str, Any]:
    return {
        "type": "frame",
        "frame": result.frame.index,
        "timestamp_ms": round(result.frame.timestamp_ms, 3),
        "faces": [
            {
                "box": list(face.box),
                "crop_box": list(face.crop_box),
                "score": round(face.score, 4),
                "landmarks": np.round(face.landmarks, 3).tolist(),
                "pose": {"yaw": round(face.pose[0], 3), "pitch": round(face.pose[1], 3),
                         "roll": round(face.pose[2], 3)},
            }
            for face in result.faces
        ],
        "detector_ran": result.detector_ran,
        "background_detection": result.background_detection,
        "failed_faces": result.failed_faces,
        "timings_ms": {stage: round(ms, 3) for stage, ms in result.timings_ms.items()},
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
        return {"type": "summary", "frames": self.frames, "faces": self.faces, "failed_faces": self.failed_faces,
                "frames_with_face": self.frames_with_face, "timings_ms": self.timings.summary(), **extra}


class JsonlWriter:
    """Writes one JSON object per line and flushes it, so a killed run leaves only complete lines."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        # allow_nan=False: NaN or Infinity would make the line invalid JSON; the pipeline never lets them through.
        self._stream.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self._stream.flush()
