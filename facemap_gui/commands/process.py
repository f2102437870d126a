"""`facemap-gui process INPUT`: run the pipeline headless on an image, a video or a camera → JSON Lines."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from facemap_gui.commands.batch_options import RECORD_BESIDE, add_batch_options, run_batch_args
from facemap_gui.commands.common import (
    add_run_options,
    add_smoothing_option,
    add_stand_in_option,
    add_stream_option,
    frame_count,
    options_from_args,
    smoother_from,
    with_stand_in,
)
from facemap_gui.commands.destinations import JSON_LINES, RECORDING, output, read_name, recording_companions
from facemap_gui.commands.progress import TerminalProgress
from facemap_gui.core.atomic import replacing
from facemap_gui.core.errors import FacemapError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "process",
        help="run the pipeline headless on an image, video or camera",
        description="Detect faces and 68 landmarks on every frame; write JSON Lines.",
    )
    parser.add_argument("input", type=read_name, help="image, folder of images, video file, camera:N, or demo")
    parser.add_argument("--output", "-o", type=output(JSON_LINES), help="JSON Lines file (default: standard output)")
    parser.add_argument("--frames", type=frame_count, default=0, help="stop after this many frames (0 = all)")
    parser.add_argument(
        "--record",
        type=output(RECORDING, recording_companions),
        nargs="?",
        const=RECORD_BESIDE,
        metavar="OUT.mkv|OUT.mp4",
        help="also record the annotated video, with its landmarks in OUT.jsonl beside it "
        "(with --output-dir: no name, each video goes beside its .jsonl)",
    )
    parser.add_argument("--csv", action="store_true", help="with --record or --output-dir: also write a .csv")
    add_stand_in_option(parser)
    add_stream_option(parser)
    add_smoothing_option(parser, default=0.0)
    add_run_options(parser)
    add_batch_options(parser)
    parser.set_defaults(run=run)


@contextlib.contextmanager
def jsonl_destination(path: Path | None) -> Iterator[BinaryIO]:
    """A file written beside its final name and renamed when the run completes (see atomic.replacing), or
    stdout kept free of native prints.

    QNN's libraries print to stdout from C; with JSON Lines on stdout, fd 1 is pointed at stderr for
    the run and the JSON goes to a private duplicate of the real stdout.
    """
    if path is None:
        sys.stdout.flush()
        private = os.dup(1)
        os.dup2(2, 1)
        stream = os.fdopen(private, "wb", buffering=0)
        try:
            yield stream
        finally:
            os.dup2(private, 1)
            stream.close()
        return
    with replacing(path, keep_partial=True) as part:
        try:
            stream = open(part, "wb", buffering=0)  # noqa: SIM115 - closed in finally
        except OSError as exc:
            raise FacemapError(f"{path}: cannot write the output ({exc.strerror}); choose another folder") from exc
        try:
            yield stream
        finally:
            stream.close()


def check_options(args: argparse.Namespace) -> None:
    """What the single-input run needs beyond the parser (the outputs themselves are checked by cli, see
    commands/destinations.py)."""
    if args.csv and args.record is None:
        raise FacemapError("--csv: needs --record OUT.mkv (the CSV is written beside the recording)")
    if args.output is None and sys.stdout is None:  # started with stdout closed (cli.main holds fd 1 meanwhile)
        raise FacemapError("standard output is closed; give --output FILE for the JSON Lines")


class StopFlag(threading.Event):
    """Set by the first Ctrl+C or SIGTERM. A second one interrupts the frame loop at once; once the run is
    `finishing` (summary, closing files) it only waits, so the summary is never lost."""

    finishing = False
    signum: int = signal.SIGINT


@contextlib.contextmanager
def stop_between_frames() -> Iterator[StopFlag]:
    """Ctrl+C or SIGTERM sets the flag, and the frame loop stops after the frame in hand, so the last line
    written is a whole frame that the summary counts."""
    stop = StopFlag()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and not stop.finishing:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        stop.signum = signum
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace) -> int:
    # The pipeline's modules (numpy, OpenCV, ONNX Runtime, MediaPipe) load when it runs, not for every --help.
    from facemap_gui.run.engine import FrameLoop, RecordingSink, Sink
    from facemap_gui.run.pipeline_builder import build_pipeline
    from facemap_gui.sinks.output import JsonlWriter, frame_record, header_record
    from facemap_gui.sinks.recording import Recorder, recording_format
    from facemap_gui.sinks.streaming import Streamer
    from facemap_gui.sources import open_source
    from facemap_gui.sources.readahead import ReadAhead

    options = with_stand_in(options_from_args(args, args.input), args.stand_in)
    if args.output_dir is not None:
        return run_batch_args(args, options)
    if args.more_inputs or args.record == RECORD_BESIDE:
        raise FacemapError("more than one input, or --record without a file name: needs --output-dir OUT")
    check_options(args)
    source = open_source(args.input)
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        pipeline = build_pipeline(options, video=not source.still)
        stack.callback(pipeline.close)
        stand_in = pipeline.session.model.stand_in
        header = header_record(options, source, pipeline)
        sinks = []
        recorder = None
        if args.record:  # before the output is created, so a refused recording leaves no output behind
            fps, size = recording_format(source)
            recorder = Recorder(args.record, fps=fps, size=size, header=header, csv=args.csv)
            stack.callback(recorder.close)
            sinks.append(Sink("record", RecordingSink(recorder, stand_in, wait=not source.live)))
        stream = stack.enter_context(jsonl_destination(args.output))
        writer = JsonlWriter(stream, args.output or "standard output")
        writer.write(header)
        streamer = stack.enter_context(Streamer(args.stream))
        progress = TerminalProgress(args.frames or source.frame_count)
        loop = FrameLoop(pipeline, smoother=smoother_from(args))
        loop.sinks = [
            Sink("jsonl", lambda result: writer.write(frame_record(result))),
            Sink("stream", streamer.send),
            Sink("progress", lambda _result: progress.update(loop.stats.frames)),
            *sinks,
        ]
        stop = stack.enter_context(stop_between_frames())
        # A file is decoded on a thread of its own, ahead of the pipeline; a camera is read as its frames come.
        frames = source if source.live else stack.enter_context(ReadAhead(source.__iter__))
        try:
            loop.run(frames, stop, args.frames)
        except KeyboardInterrupt:  # a second signal: stop now, still closing every file
            stop.set()
        stop.finishing = True
        interrupted = stop.is_set()
        recording = None if recorder is None else recorder.close()
        extra = {} if recording is None else {"recording": recording.summary()}
        writer.write(loop.stats.record(interrupted=interrupted, stand_in=stand_in, **extra))
        progress.finish(
            loop.stats.frames,
            loop.stats.frames_with_face,
            " (STAND-IN model: landmarks are not real)" if stand_in else "",
        )
    if interrupted:
        raise KeyboardInterrupt(signal.Signals(stop.signum).name)
    return 1 if recording is not None and recording.error else 0
