"""`facemap-gui bench [INPUT]`: how fast the pipeline runs on this machine, stage by stage, and against a
straight-line script on the same clip.

The clip runs as the app runs it: decoding on its own thread (as `process` and the window read files), then
detection or tracking, landmarks, smoothing and drawing. Without INPUT a 720p H.264 clip of the demo photo is
rendered once and cached. `benchmarks/straight_line.py` (source checkout) runs the same clip in the same run for
the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import psutil

from facemap_gui.atomic import replacing, write_atomic
from facemap_gui.commands.common import MAX_FRAMES, MAX_MINUTES, add_run_options, in_range, options_from_args
from facemap_gui.commands.demo import demo_options
from facemap_gui.config import RunOptions, build_pipeline
from facemap_gui.errors import FacemapError, InputError
from facemap_gui.landmarks.decode import NUM_PARAMS, FoldedBasis, decode
from facemap_gui.models import store
from facemap_gui.models.store import PRECISIONS
from facemap_gui.output import StageTimes, header_record
from facemap_gui.overlay import draw_overlay
from facemap_gui.recording import Recorder
from facemap_gui.runtime import available_runtimes
from facemap_gui.smoothing import LandmarkSmoother
from facemap_gui.soak import SOURCE as SOAK_SOURCE
from facemap_gui.soak import run_soak
from facemap_gui.sources import Frame, open_source
from facemap_gui.sources.demo import DEMO_FPS, DEMO_SIZE, demo_photo_path, render_pan_zoom
from facemap_gui.sources.files import VideoSource, read_image_rgb
from facemap_gui.sources.readahead import ReadAhead

log = logging.getLogger(__name__)

# Photo magnification per scene: "far" is exactly the demo clip (face 80-135 px tall in 720p), "near" puts the
# face 200-340 px tall, as in front of a laptop camera.
SCENES = {"far": 1.0, "near": 2.5}
BASELINE_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "straight_line.py"
RSS_WARM_FRAMES = 100  # the start RSS is taken after this many frames, once models and buffers have settled
RSS_EVERY_S = 30.0
# Stages in the order a frame meets them; "detect" and "track" are the frames with and without the full-frame
# detector on the frame's own path, "detect (background)" the periodic pass on its own thread, "overhead" is
# every per-frame step except the models and video decoding (the 1.5 ms budget), and "wait for frame" the
# hand-over from the decoding thread (plus any wait for the decoder when it is slower).
STAGES = ("video decode", "wait for frame", "detect", "detect (background)", "track", "preprocess", "inference",
          "decode 265 params", "smoothing", "draw", "record (hand-over)", "overhead", "frame total")


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    info = psutil.Process().memory_info()
    if hasattr(info, "peak_wset"):  # Windows keeps the peak working set itself
        return info.peak_wset / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# -- the clip ------------------------------------------------------------------------------------------------


def bench_clip(scene: str, frames: int) -> Path:
    """The cached H.264 clip of `scene` (rendered once, x264's default settings like a typical camera file)."""
    path = store.cache_dir() / "bench" / f"{scene}-{DEMO_SIZE[0]}x{DEMO_SIZE[1]}-{frames}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = read_image_rgb(demo_photo_path())
    if SCENES[scene] != 1.0:
        photo = cv2.resize(photo, None, fx=SCENES[scene], fy=SCENES[scene], interpolation=cv2.INTER_CUBIC)
    log.info("rendering the %s bench clip (%d frames) to %s", scene, frames, path)
    with replacing(path) as part, av.open(str(part), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(DEMO_FPS))
        stream.width, stream.height = DEMO_SIZE
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            rgb = render_pan_zoom(photo, (index % 300) / 300)  # the demo source's motion, frame for frame
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


# -- decoding, on its own thread (ReadAhead) ------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    frame: Frame
    decode_ms: float


def decoded_frames(path: Path, limit: int | None = None, until: float | None = None) -> Iterator[Decoded]:
    """The clip's frames with their decoding times: once, or with `until` (a time.monotonic deadline) looped until
    then; at most `limit` frames. Indices and timestamps keep increasing across loops."""

    def done(count: int) -> bool:
        return (limit is not None and count >= limit) or (until is not None and time.monotonic() >= until)

    count, offset_ms = 0, 0.0
    while True:
        with VideoSource(path) as source:
            last_ms = 0.0
            while not done(count):
                start = time.perf_counter()
                frame = source.read()
                decode_ms = (time.perf_counter() - start) * 1000.0
                if frame is None:
                    break
                last_ms = frame.timestamp_ms
                yield Decoded(Frame(count, offset_ms + last_ms, frame.rgb), decode_ms)
                count += 1
            offset_ms += last_ms + 1000.0 / source.fps
        if until is None or done(count):
            return


# -- one measured run ---------------------------------------------------------------------------------------


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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "frames": self.frames, "frames_with_face": self.frames_with_face,
                "recall": round(self.frames_with_face / max(self.frames, 1), 4), "fps": round(self.fps, 2),
                "seconds": round(self.seconds, 3), "detector_calls": self.detector_calls,
                "background_detections": self.background_detections,
                "tracked_faces": self.tracked_faces, "lost_tracks": self.lost_tracks,
                "session_ms": round(self.session_ms, 1),
                "build_ms": round(self.build_ms, 1), "runtime": self.runtime, "stand_in": self.stand_in,
                "rss_mb": [[round(t, 1), round(mb, 1)] for t, mb in self.rss_mb],
                "peak_rss_mb": round(self.peak_rss_mb, 1), "stages_ms": self.stages.summary(),
                "decode_alone_us_per_face": {str(n): round(us, 1) for n, us in self.decode_alone_us.items()},
                "recording": self.recording}


def run_pipeline(options: RunOptions, clip: Path, frames: int, minutes: float, record: Path | None,
                 label: str) -> RunFigures:
    """Run the clip through the app's pipeline once and measure it."""
    figures = RunFigures(label)
    start = time.perf_counter()
    pipeline = build_pipeline(options)
    figures.build_ms = (time.perf_counter() - start) * 1000.0
    figures.session_ms = pipeline.session.info.session_ms
    figures.runtime = pipeline.session.info.summary()
    figures.stand_in = stand_in = pipeline.session.model.stand_in
    smoother = LandmarkSmoother()
    times = figures.stages
    with contextlib.ExitStack() as stack:
        stack.callback(pipeline.close)
        recorder = None
        if record is not None:
            with VideoSource(clip) as source:
                header = header_record(options, source, pipeline)
            recorder = Recorder(record, fps=source.fps, size=source.size, header=header)
            stack.callback(recorder.close)
        until = time.monotonic() + minutes * 60.0 if minutes else None
        reader = stack.enter_context(ReadAhead(lambda: decoded_frames(clip, None if minutes else frames, until),
                                               name="bench-decode"))
        start = time.perf_counter()
        next_rss = start + RSS_EVERY_S
        waited = time.perf_counter()
        for decoded in reader:
            t0 = time.perf_counter()
            result = pipeline.process(decoded.frame)
            t1 = time.perf_counter()
            result = smoother.apply(result)
            t2 = time.perf_counter()
            annotated = draw_overlay(decoded.frame.rgb, result, stand_in=stand_in)
            t3 = time.perf_counter()
            if recorder is not None:
                recorder.submit(result, annotated, wait=True)
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
            times.add("smoothing", (t2 - t1) * 1000.0)
            times.add("draw", (t3 - t2) * 1000.0)
            if recorder is not None:
                times.add("record (hand-over)", (t4 - t3) * 1000.0)
            # The overhead budget: all the per-frame work except the models (detector, landmarks, or the wait
            # for the detector's background pass) and decoding; following tracked faces is not a model, so it
            # counts.
            models_ms = stage["inference"] + (stage["detect"] if result.detector_ran
                                              else stage.get("background wait", 0.0))
            times.add("overhead", (t3 - t0) * 1000.0 - models_ms)
            times.add("frame total", (t4 - waited) * 1000.0)
            figures.frames += 1
            figures.frames_with_face += bool(result.faces)
            figures.detector_calls += result.detector_looked
            figures.background_detections += result.background_detection
            if figures.frames == min(RSS_WARM_FRAMES, max(frames // 2, 1)) or t4 >= next_rss:
                figures.rss_mb.append((t4 - start, rss_mb()))
                next_rss = t4 + RSS_EVERY_S
            waited = time.perf_counter()
        figures.seconds = time.perf_counter() - start
        figures.rss_mb.append((figures.seconds, rss_mb()))
        if recorder is not None:
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


def run_baseline(clip: Path, options: RunOptions, frames: int) -> dict[str, Any]:
    """benchmarks/straight_line.py on the same clip, in its own process (its own warm-up and memory)."""
    model = options.model_path("float")
    command = [sys.executable, str(BASELINE_SCRIPT), str(clip), "--model", str(model), "--basis-dir",
               str(options.basis_path(model)), "--detector", str(store.bundled_detector_path("full")),
               "--frames", str(frames)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FacemapError(f"{BASELINE_SCRIPT}: the straight-line script failed ({error})")
    return json.loads(lines[-1])


# -- the command ----------------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="measure the pipeline's speed here, stage by stage",
                            description="Per-stage median/p95/mean ms, FPS, face recall, detector calls, session time "
                                        "and memory, with a straight-line script on the same clip for the ratio.")
    parser.add_argument("input", nargs="?", type=Path,
                        help="a video file (default: a generated 720p clip of the demo photo, see --scene)")
    parser.add_argument("--scene", choices=tuple(SCENES), default="far",
                        help="generated clip: far (face 80-135 px tall, the demo clip) or near (200-340 px)")
    parser.add_argument("--frames", type=in_range(int, 1, MAX_FRAMES), default=300,
                        help="frames per run (default 300)")
    parser.add_argument("--minutes", type=in_range(float, 0, MAX_MINUTES), default=0.0,
                        help="loop the clip for this long instead (memory-growth check: RSS sampled every 30 s; "
                             "no baseline)")
    parser.add_argument("--repeat", type=in_range(int, 1, 1000), default=1,
                        help="alternate pipeline and baseline runs this many times; FPS is the median")
    parser.add_argument("--all", action="store_true", help="every runtime and precision that can run here")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run benchmarks/straight_line.py on the clip and print the ratio")
    parser.add_argument("--record", type=Path, metavar="OUT.mkv",
                        help="also record the annotated video (adds the recorder's hand-over and encoding)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure to this JSON file")
    parser.add_argument("--soak", type=in_range(float, 0, MAX_MINUTES, above=True), metavar="MINUTES",
                        help="soak test instead: the live worker on the demo clip for MINUTES, switching runtime/"
                             "precision and starting/stopping recordings; exit 1 on any exception")
    add_run_options(parser)
    parser.set_defaults(run=run)


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


def bench_options(args: argparse.Namespace, clip: Path) -> RunOptions:
    """The user's options; without --model the installed model, else the full-architecture stand-in."""
    options = options_from_args(args, str(clip))
    if options.model is None:
        options = replace(options, model=demo_options().model)
    return options


def input_clip(args: argparse.Namespace) -> Path:
    if args.input is None:
        return bench_clip(args.scene, args.frames)
    with open_source(str(args.input)) as source:
        if not isinstance(source, VideoSource):
            raise InputError(f"{args.input}: bench needs a video file (or no INPUT for the generated clip)")
    return args.input


def run(args: argparse.Namespace) -> int:
    if args.soak is not None:
        return run_soak_command(args)
    clip = input_clip(args)
    options = bench_options(args, clip)
    print(f"facemap-gui bench: {clip} · {args.frames if not args.minutes else f'{args.minutes:g} min of'} frames · "
          f"{platform.machine()}, {os.cpu_count()} CPUs · load average {load_average()}")
    runs = configurations(options, args.all)
    baseline = args.baseline and not args.minutes
    if baseline and not BASELINE_SCRIPT.is_file():
        print(f"baseline skipped: {BASELINE_SCRIPT} is in the source checkout only")
        baseline = False
    report: dict[str, Any] = {"input": str(clip), "machine": platform.platform(), "cpus": os.cpu_count(),
                              "load_average_start": load_average(), "runs": [], "baseline": []}
    results: dict[str, list[RunFigures]] = {}
    for repeat in range(args.repeat):
        for run_options, label in runs:
            try:
                figures = run_pipeline(run_options, clip, args.frames, args.minutes, args.record, label)
            except FacemapError as exc:
                print(f"{label}: failed, {exc}")
                continue
            results.setdefault(label, []).append(figures)
            report["runs"].append(figures.record())
            print_run(figures, repeat)
        if baseline:
            figures = run_baseline(clip, options, args.frames)
            report["baseline"].append(figures)
            print(f"  baseline (straight-line script, full-range detector on every frame): {figures['fps']:.1f} fps, "
                  f"face on {figures['frames_with_face']}/{figures['frames']} frames")
    report["load_average_end"] = load_average()
    summary = summarise(results, report["baseline"])
    report["summary"] = summary
    print_summary(summary, report["load_average_end"])
    if args.json:
        write_json(args.json, report)
    return 0


def run_soak_command(args: argparse.Namespace) -> int:
    report = run_soak(bench_options(args, Path(SOAK_SOURCE)), args.soak)
    print("\n".join(report.lines()))
    if args.json:
        write_json(args.json, report.record())
    return 0 if report.passed else 1


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def summarise(results: dict[str, list[RunFigures]], baseline: list[dict[str, Any]]) -> dict[str, Any]:
    base_fps = statistics.median(b["fps"] for b in baseline) if baseline else None
    out: dict[str, Any] = {"baseline_fps_median": base_fps}
    for label, runs in results.items():
        fps = statistics.median(r.fps for r in runs)
        out[label] = {"fps_median": round(fps, 2), "fps_best": round(max(r.fps for r in runs), 2),
                      "ratio": round(fps / base_fps, 2) if base_fps else None}
    return out


def print_run(figures: RunFigures, repeat: int) -> None:
    label = " (STAND-IN model: speed only, its landmarks are not real)" if figures.stand_in else ""
    print(f"\n{figures.label} run {repeat + 1}: {figures.runtime}{label}")
    print(f"  {'stage':<20}{'median ms':>10}{'p95 ms':>10}{'mean ms':>10}{'frames':>8}")
    stages = figures.stages.summary()
    if figures.recording and figures.recording["encode_ms"]:
        stages["encode (recorder)"] = figures.recording["encode_ms"]
    for stage, values in stages.items():
        print(f"  {stage:<20}{values['median']:>10.3f}{values['p95']:>10.3f}{values['mean']:>10.3f}"
              f"{values['count']:>8}")
    start_mb, end_mb = figures.rss_mb[0][1], figures.rss_mb[-1][1]
    print(f"  {figures.fps:.1f} fps end to end · face on {figures.frames_with_face}/{figures.frames} frames · "
          f"full-frame detector on {figures.detector_calls} frames ({figures.background_detections} of them in "
          f"the background), {figures.tracked_faces} faces tracked "
          f"({figures.lost_tracks} lost)")
    alone = ", ".join(f"{us:.0f} µs a face for {n}" for n, us in figures.decode_alone_us.items())
    print(f"  decoding the 265 parameters alone, warm caches: {alone}")
    print(f"  session {figures.session_ms:.0f} ms (pipeline {figures.build_ms:.0f} ms) · RSS {start_mb:.0f} MB "
          f"after warm-up → {end_mb:.0f} MB at the end ({figures.seconds:.0f} s) · peak {figures.peak_rss_mb:.0f} MB")
    if figures.recording:
        print(f"  recorded {figures.recording['frames']} frames with {figures.recording['codec']} "
              f"({figures.recording['dropped']} dropped) to {figures.recording['video']}")


def print_summary(summary: dict[str, Any], load: list[float] | None) -> None:
    base = summary["baseline_fps_median"]
    print(f"\nsummary (median of runs) · load average at the end {load}")
    for label, values in summary.items():
        if label == "baseline_fps_median":
            continue
        ratio = f" = {values['ratio']:.2f}x the straight-line script ({base:.1f} fps)" if values["ratio"] else ""
        print(f"  {label}: {values['fps_median']:.1f} fps (best {values['fps_best']:.1f}){ratio}")


def write_json(path: Path, report: dict[str, Any]) -> None:
    try:
        write_atomic(path, json.dumps(report, indent=1) + "\n")
    except OSError as exc:
        raise FacemapError(f"{path}: cannot write the report ({exc.strerror}); choose another folder") from exc
