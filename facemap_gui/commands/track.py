"""`facemap-gui track`: run a camera (or a file, or the demo) without a window and stream the tracking to avatar
apps; what someone streaming live puts in autostart. Ctrl+C stops it cleanly.

A file and the demo play at their own clock, as in the window (`live.pacing.FilePacer`), so an avatar app gets
them at the speed they were filmed; `demo` loops for ever, as the window plays it."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from facemap_gui.commands.common import (
    add_run_options,
    add_smoothing_option,
    add_stand_in_option,
    add_stream_option,
    in_range,
    options_from_args,
    smoother_from,
    with_stand_in,
)
from facemap_gui.commands.process import stop_between_frames
from facemap_gui.core.choices import DEFAULT_STRENGTH
from facemap_gui.core.errors import FacemapError, InputError

if TYPE_CHECKING:
    from facemap_gui.perframe.calibration import CalibrationSink, Neutral
    from facemap_gui.sinks.streaming import Streamer

MAX_CALIBRATE_S = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "track",
        help="track a camera without a window and stream it to avatar apps",
        description="Track faces on a camera (or a file or the demo, at their own clock) without a window and send "
        "them live to avatar apps: OpenSeeFace, VMC, iFacialMocap or VTube Studio receivers (VSeeFace, Warudo, "
        "VNyan, VTube Studio, ...).",
    )
    parser.add_argument(
        "--source", default="camera:0", help="camera:N (default camera:0), a video file, or demo (looped)"
    )
    add_stand_in_option(parser)
    add_stream_option(parser)
    add_smoothing_option(parser, default=DEFAULT_STRENGTH)
    parser.add_argument(
        "--calibrate",
        type=in_range(float, 0, MAX_CALIBRATE_S, above=True),
        metavar="SECONDS",
        help="first record your neutral face for SECONDS (keep still and relaxed), save it, and stream every "
        "expression relative to it; without it, the neutral face saved last (here or in the window) is used",
    )
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.stream:
        raise FacemapError(
            "track: nothing to send to; add --stream osf://127.0.0.1:11573 or --stream vmc://127.0.0.1:39539"
        )
    from facemap_gui.live.pacing import FilePacer
    from facemap_gui.live.settings import load_calibration
    from facemap_gui.run.engine import FrameLoop, Sink
    from facemap_gui.run.pipeline_builder import build_pipeline  # the pipeline loads when it runs (see process.run)
    from facemap_gui.sinks.streaming import Streamer
    from facemap_gui.sources import open_source
    from facemap_gui.sources.demo import looped

    spec = looped(args.source)
    options = with_stand_in(options_from_args(args, spec), args.stand_in)
    source = open_source(spec)
    read_errors: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        pipeline = build_pipeline(options, video=not source.still)
        stack.callback(pipeline.close)
        streamer = stack.enter_context(Streamer(args.stream))
        sinks = [Sink("stream", streamer.send)]
        if args.calibrate:
            sinks.insert(0, Sink("calibrate", calibration(args.calibrate, streamer)))
        else:
            streamer.neutral = load_calibration()[0]
        stop = stack.enter_context(stop_between_frames())
        relative = ", relative to your calibrated neutral face" if streamer.neutral is not None else ""
        print(
            f"facemap-gui: tracking {source.name}, streaming to {', '.join(map(str, streamer.targets))}{relative} "
            "(Ctrl+C stops)",
            file=sys.stderr,
            flush=True,
        )
        frames = source if source.live else FilePacer(source, stop, read_errors.append).frames()
        try:
            FrameLoop(pipeline, sinks, smoother_from(args)).run(frames, stop)
        except KeyboardInterrupt:  # a second signal: stop now, still closing everything
            stop.set()
    if stop.is_set():
        raise KeyboardInterrupt
    if read_errors:
        raise InputError(read_errors[0])
    return 0


def calibration(seconds: float, streamer: Streamer) -> CalibrationSink:
    """The sink that records the neutral face over the run's first `seconds`, then saves it and has `streamer`
    send relative to it (before that, raw values go out); a failure ends the run."""
    from facemap_gui.live.settings import save_calibration
    from facemap_gui.perframe.calibration import CalibrationSink

    def done(neutral: Neutral) -> None:
        path = save_calibration(neutral)
        streamer.neutral = neutral
        print(
            f"facemap-gui: neutral face calibrated on {neutral.frames} frames and saved to {path}; "
            "streaming relative to it",
            file=sys.stderr,
            flush=True,
        )

    def failed(exc: FacemapError) -> None:
        raise exc

    sink = CalibrationSink(done, failed)
    sink.start(seconds)
    print(
        f"facemap-gui: calibrating: look at the camera with a relaxed, neutral face for {seconds:g} s",
        file=sys.stderr,
        flush=True,
    )
    return sink
