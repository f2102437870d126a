"""One measured run: the clip through the app's pipeline (decoding on its own thread, as `process` and the window
read files), smoothing and drawing, optionally recording, timed stage by stage with memory sampled."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from facemap_gui.bench.clip import decoded_frames
from facemap_gui.bench.cpu import ThreadCpu, per_frame_ms
from facemap_gui.bench.memory import peak_rss_mb, rss_mb
from facemap_gui.core.errors import FacemapError
from facemap_gui.core.timing import StageTimes
from facemap_gui.inference.landmarks.decode import NUM_PARAMS, FoldedBasis, decode
from facemap_gui.inference.runtime import PRECISIONS, available_runtimes
from facemap_gui.perframe.smoothing import LandmarkSmoother
from facemap_gui.run.engine import FrameLoop, RecordingSink, Sink
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline
from facemap_gui.sinks.output import header_record
from facemap_gui.sinks.overlay import draw_overlay
from facemap_gui.sinks.recording import Recorder, recording_format
from facemap_gui.sources.files import VideoSource
from facemap_gui.sources.readahead import ReadAhead

RSS_WARM_FRAMES = 100  # the start RSS is taken after this many frames, once models and buffers have settled
RSS_EVERY_S = 30.0
CPU_SAMPLE_EVERY = 30  # frames between per-thread CPU readings (a thread that ends keeps its last one)
# Stages in the order a frame meets them; "detect" and "track" are the frames with and without the full-frame
# detector on the frame's own path, "detect (background)" the periodic pass on its own thread, "overhead" is
# every per-frame step except the models, video decoding and recording (the 1.5 ms budget), "draw and record"
# the recording sink (a copy of the frame, the overlay, the hand-over), and "wait for frame" the
# hand-over from the decoding thread (plus any wait for the decoder when it is slower).
STAGES = (
    "video decode",
    "wait for frame",
    "detect",
    "detect (background)",
    "track",
    "preprocess",
    "inference",
    "decode 265 params",
    "smoothing",
    "draw",
    "draw and record",
    "overhead",
    "frame total",
)


@dataclass
class RunFigures:
    label: str
    frames: int = 0
    frames_with_face: int = 0
    detector_calls: int = 0
    background_detections: int = 0  # of detector_calls: the periodic pass, on its own thread beside tracking
    tracked_faces: int = 0
    lost_tracks: int = 0  # tracked faces that failed the check, so the detector ran on their frame
    seconds: float = 0.0
    build_ms: float = 0.0
    session_ms: float = 0.0
    runtime: str = ""
    stand_in: bool = False
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, MB)
    peak_rss_mb: float = 0.0
    stages: StageTimes = field(default_factory=lambda: StageTimes(STAGES))
    decode_alone_us: dict[int, float] = field(default_factory=dict)  # faces per call -> microseconds a face
    recording: dict[str, Any] | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms a frame by thread, and "process" in total

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def record(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "recall": round(self.frames_with_face / max(self.frames, 1), 4),
            "fps": round(self.fps, 2),
            "seconds": round(self.seconds, 3),
            "detector_calls": self.detector_calls,
            "background_detections": self.background_detections,
            "tracked_faces": self.tracked_faces,
            "lost_tracks": self.lost_tracks,
            "session_ms": round(self.session_ms, 1),
            "build_ms": round(self.build_ms, 1),
            "runtime": self.runtime,
            "stand_in": self.stand_in,
            "rss_mb": [[round(t, 1), round(mb, 1)] for t, mb in self.rss_mb],
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "stages_ms": self.stages.summary(),
            "decode_alone_us_per_face": {str(n): round(us, 1) for n, us in self.decode_alone_us.items()},
            "recording": self.recording,
            "cpu_ms_per_frame": {k: round(v, 3) for k, v in self.cpu_ms.items()},
        }


def run_pipeline(
    options: RunOptions, clip: Path, frames: int, minutes: float, record: Path | None, label: str
) -> RunFigures:
    """Run the clip through the app's pipeline once and measure it."""
    figures = RunFigures(label)
    start = time.perf_counter()
    pipeline = build_pipeline(options)
    figures.build_ms = (time.perf_counter() - start) * 1000.0
    figures.session_ms = pipeline.session.info.session_ms
    figures.runtime = pipeline.session.info.summary()
    figures.stand_in = stand_in = pipeline.session.model.stand_in
    times = figures.stages
    with contextlib.ExitStack() as stack:
        stack.callback(pipeline.close)
        loop = FrameLoop(pipeline, smoother=LandmarkSmoother())
        if record is None:
            loop.sinks.append(Sink("draw", lambda result: draw_overlay(result.frame.rgb, result, stand_in=stand_in)))
        else:
            with VideoSource(clip) as source:
                header = header_record(options, source, pipeline)
            fps, size = recording_format(source)
            recorder = Recorder(record, fps=fps, size=size, header=header)
            stack.callback(recorder.close)
            loop.sinks.append(Sink("draw and record", RecordingSink(recorder, stand_in, wait=True)))
        until = time.monotonic() + minutes * 60.0 if minutes else None
        reader = stack.enter_context(
            ReadAhead(lambda: decoded_frames(clip, None if minutes else frames, until), name="bench-decode")
        )
        threads = ThreadCpu()
        threads.sample()
        cpu_before, cpu_start = threads.by_name(), os.times()
        start = time.perf_counter()
        next_rss = start + RSS_EVERY_S
        waited = time.perf_counter()
        for decoded in reader:
            t0 = time.perf_counter()
            result = loop.step(decoded.frame)
            t4 = time.perf_counter()
            stage = result.timings_ms
            times.add("video decode", decoded.decode_ms)
            times.add("wait for frame", (t0 - waited) * 1000.0)
            times.add("detect" if result.detector_ran else "track", stage["detect"])
            if "background detect" in stage:
                times.add("detect (background)", stage["background detect"])
            times.add("preprocess", stage["preprocess"])
            times.add("inference", stage["inference"])
            times.add("decode 265 params", stage["decode"])
            for name, ms in loop.sink_ms.items():
                times.add(name, ms)
            # The overhead budget: all the per-frame work except the models (detector, landmarks, or the wait
            # for the detector's background pass) and decoding; following tracked faces is not a model, so it
            # counts.
            models_ms = stage["inference"] + (
                stage["detect"] if result.detector_ran else stage.get("background wait", 0.0)
            )
            recording_ms = loop.sink_ms.get("draw and record", 0.0)
            times.add("overhead", (t4 - t0) * 1000.0 - models_ms - recording_ms)
            times.add("frame total", (t4 - waited) * 1000.0)
            figures.frames += 1
            figures.frames_with_face += bool(result.faces)
            figures.detector_calls += result.detector_looked
            figures.background_detections += result.background_detection
            if figures.frames % CPU_SAMPLE_EVERY == 0:
                threads.sample()
            if figures.frames == min(RSS_WARM_FRAMES, max(frames // 2, 1)) or t4 >= next_rss:
                figures.rss_mb.append((t4 - start, rss_mb()))
                next_rss = t4 + RSS_EVERY_S
            waited = time.perf_counter()
        figures.seconds = time.perf_counter() - start
        threads.sample()
        cpu_end = os.times()
        figures.cpu_ms = per_frame_ms(cpu_before, threads.by_name(), figures.frames)
        figures.cpu_ms["process"] = (
            (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) * 1000.0 / max(figures.frames, 1)
        )
        figures.rss_mb.append((figures.seconds, rss_mb()))
        if record is not None:
            figures.recording = recorder.close().summary()
    if pipeline.tracker is not None:
        figures.tracked_faces = pipeline.tracker.tracked_faces
        figures.lost_tracks = pipeline.tracker.lost
    figures.peak_rss_mb = peak_rss_mb()
    figures.decode_alone_us = {faces: decode_alone_us(pipeline.basis, faces) for faces in (1, 4)}
    return figures


def decode_alone_us(basis: FoldedBasis, faces: int, calls: int = 1000) -> float:
    """Microseconds a face to decode `faces` faces' parameters in one call, with warm caches: the decoder's own
    cost. In the running pipeline it is the first code after each inference, which has just streamed the
    model's weights through the caches, so its `decode 265 params` stage also holds refilling them."""
    params = np.random.default_rng(0).normal(0.0, 0.2, (faces, NUM_PARAMS)).astype(np.float32)
    boxes = np.tile([[500, 300, 627, 427]], (faces, 1))
    decode(params, boxes, basis)
    start = time.perf_counter()
    for _ in range(calls):
        decode(params, boxes, basis)
    return (time.perf_counter() - start) / calls / faces * 1e6


def configurations(options: RunOptions, every: bool) -> list[tuple[RunOptions, str]]:
    """(options, label) per runtime/precision to run: the requested one, or with --all each that can run here
    (strictly, so that no row is a silent fallback)."""
    if not every:
        return [(options, f"{options.runtime}/{options.precision}")]
    runs = []
    for runtime, reason in available_runtimes(options.allow_simulator).items():
        for precision in PRECISIONS:
            label = f"{runtime}/{precision}"
            if reason is not None:
                print(f"{label}: skipped, {reason}")
                continue
            try:
                options.model_path(precision)
            except FacemapError as exc:
                print(f"{label}: skipped, {exc}")
                continue
            runs.append((replace(options, runtime=runtime, precision=precision, strict=True), label))
    return runs
