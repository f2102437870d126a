"""The one frame loop every front end runs (the window's worker, `process`, batch jobs, `track`, the headless demo,
`bench`): a frame goes through the pipeline, then the per-frame stages (smoothing), then every sink.

A sink is anything called with each result: a JSON Lines or CSV writer, the recorder (`RecordingSink`), a
streamer's `send`, the window's picture, a progress display. Every sink of a run gets the same result, so what is
written, recorded, shown and streamed always agree; a front end only chooses its sinks and options.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from facemap_gui.perframe.pipeline import FrameResult, Pipeline
from facemap_gui.perframe.smoothing import LandmarkSmoother
from facemap_gui.sinks.output import RunStats
from facemap_gui.sinks.overlay import OverlayOptions, draw_overlay
from facemap_gui.sinks.recording import Recorder
from facemap_gui.sources.base import Frame


@dataclass(frozen=True)
class Sink:
    name: str  # what `FrameLoop.sink_ms` calls its time
    write: Callable[[FrameResult], object]


@dataclass
class FrameLoop:
    """`step(frame)` runs one frame through the pipeline, the smoother (when set) and the sinks, in that order;
    `run(frames)` steps until the frames end, `stop` is set or `limit` frames are done. `stats` counts what the
    pipeline found; `sink_ms` holds the last frame's time in the smoother ("smoothing") and in each sink."""

    pipeline: Pipeline
    sinks: list[Sink] = field(default_factory=list)
    smoother: LandmarkSmoother | None = None
    stats: RunStats = field(default_factory=RunStats)
    sink_ms: dict[str, float] = field(default_factory=dict)

    def step(self, frame: Frame) -> FrameResult:
        result = self.pipeline.process(frame)
        self.stats.add(result)
        t0 = time.perf_counter()
        if self.smoother is not None:
            result = self.smoother.apply(result)
        t1 = time.perf_counter()
        self.sink_ms["smoothing"] = (t1 - t0) * 1000.0
        for sink in self.sinks:
            sink.write(result)
            t0, t1 = t1, time.perf_counter()
            self.sink_ms[sink.name] = (t1 - t0) * 1000.0
        return result

    def run(self, frames: Iterable[Frame], stop: threading.Event | None = None, limit: int = 0) -> None:
        for frame in frames:
            self.step(frame)
            if (stop is not None and stop.is_set()) or (limit and self.stats.frames >= limit):
                return


@dataclass
class RecordingSink:
    """Draws the overlay on a copy of each frame (at the source's size) and hands it to the recorder: a file
    waits for the encoder (`wait`) rather than lose frames, a live source drops them (counted)."""

    recorder: Recorder
    stand_in: bool
    wait: bool
    overlay: OverlayOptions = field(default_factory=OverlayOptions)

    def __call__(self, result: FrameResult) -> None:
        annotated = draw_overlay(result.frame.rgb.copy(), result, self.overlay, stand_in=self.stand_in)
        self.recorder.submit(result, annotated, wait=self.wait)
