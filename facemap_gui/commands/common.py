"""Options shared by the commands that run the pipeline (process, gui, bench)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from facemap_gui.commands.destinations import read_path
from facemap_gui.core.choices import CAMERA_BACKENDS, PRECISIONS, REDETECT_EVERY, RUNTIME_NAMES, SIMULATOR_SLOWER
from facemap_gui.core.errors import FacemapError

if TYPE_CHECKING:  # the parsers build without the pipeline's imports (numpy, OpenCV, ONNX): see choices.py
    from facemap_gui.perframe.smoothing import LandmarkSmoother
    from facemap_gui.run.pipeline_builder import RunOptions
    from facemap_gui.sinks.streaming import StreamTarget

MAX_PIXELS = 100_000  # a coordinate beyond any image's side; the pipeline checks the box against the image
MAX_FRAMES = 10**9
MAX_MINUTES = 7 * 24 * 60


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the option, like every other error (the usage is in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


Number = TypeVar("Number", int, float)


def in_range(kind: type[Number], low: float, high: float, *, above: bool = False) -> Callable[[str], Number]:
    """An argparse `type=` for a finite `kind` from `low` (exclusive with `above`) to `high`: every numeric
    option of every command is one of these, so NaN, infinities and absurd sizes stop at the parser."""
    wanted = f"{'above' if above else 'from'} {kind(low)} {'and at most' if above else 'to'} {kind(high)}"

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r}: expected {'a whole number' if kind is int else 'a number'} {wanted}"
            ) from None
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"{text[:40]!r}: must be {wanted}")
        return value

    parse.numeric = True  # type: ignore[attr-defined]  # found by the option sweep in tests/test_option_sweep.py
    return parse


frame_count = in_range(int, 0, MAX_FRAMES)
_coordinate = in_range(int, 0, MAX_PIXELS)
_side = in_range(int, 1, MAX_PIXELS)
_fps = in_range(float, 0, 1000, above=True)


def parse_box(text: str) -> tuple[int, int, int, int]:
    values = text.split(",")
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text[:60]!r}: expected X0,Y0,X1,Y1 (inclusive pixel corners)")
    x0, y0, x1, y1 = (_coordinate(v) for v in values)
    if x1 <= x0 or y1 <= y0:
        raise argparse.ArgumentTypeError(f"{text!r}: need X0 < X1 and Y0 < Y1")
    return x0, y0, x1, y1


parse_box.numeric = True  # type: ignore[attr-defined]


def parse_camera_format(text: str) -> tuple[int, int, float | None]:
    """WxH or WxH@FPS, e.g. 1280x720@30."""
    size, at, rate = text.partition("@")
    width, x, height = size.lower().partition("x")
    if not x:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected WIDTHxHEIGHT or WIDTHxHEIGHT@FPS, e.g. 1280x720@30")
    return int(_side(width)), int(_side(height)), _fps(rate) if at else None


parse_camera_format.numeric = True  # type: ignore[attr-defined]


def add_camera_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("camera")
    group.add_argument(
        "--camera-backend",
        choices=CAMERA_BACKENDS,
        default="auto",
        help="capture cameras through Qt Multimedia (names, formats; Media Foundation on Windows) or OpenCV; "
        "auto (default): Qt where PySide6-Addons is installed, OpenCV otherwise",
    )
    group.add_argument(
        "--camera-format",
        type=parse_camera_format,
        metavar="WxH[@FPS]",
        help="capture format, one the camera lists (`facemap-gui cameras`); default: the largest at or below "
        "1280x720 with at least 30 fps",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_camera_options(parser)
    group = parser.add_argument_group("model and runtime")
    group.add_argument("--model", type=read_path, help="facemap_3dmm ONNX file (default: the installed model)")
    group.add_argument("--basis-dir", type=read_path, help="folder with meanFace.npy, shapeBasis.npy, blendShape.npy")
    group.add_argument("--detector", type=read_path, help="BlazeFace .tflite (default: the bundled model)")
    group.add_argument(
        "--detector-range",
        choices=("short", "full"),
        help="bundled BlazeFace model: short (faces close to the camera) or full (default); not with --detector",
    )
    group.add_argument(
        "--detector-backend",
        choices=("mediapipe", "onnx"),
        default="mediapipe",
        help="run BlazeFace through MediaPipe (default) or through ONNX Runtime on --runtime, "
        "so detection can use the NPU too",
    )
    group.add_argument(
        "--box",
        type=parse_box,
        metavar="X0,Y0,X1,Y1",
        help="skip the detector and use this inclusive face box on every frame",
    )
    group.add_argument("--max-faces", type=in_range(int, 1, 64), default=4, help="most faces per frame (default 4)")
    group.add_argument(
        "--min-score", type=in_range(float, 0, 1), default=0.5, help="detector score threshold (default 0.5)"
    )
    group.add_argument(
        "--expand-box",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="grow the face box 1.2x before cropping, as Qualcomm's evaluation does",
    )
    group.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        help="follow faces from frame to frame and run the detector only when one is lost or "
        "every --redetect-every frames (default: on where there is something to follow; off: detect on every "
        "frame); asked for where it cannot run (still images, --box), it is a fallback",
    )
    group.add_argument(
        "--redetect-every",
        type=in_range(int, 1, MAX_FRAMES),
        default=REDETECT_EVERY,
        metavar="N",
        help=f"while tracking, run the full-frame detector at least every N frames to find new "
        f"faces (default {REDETECT_EVERY})",
    )
    group.add_argument("--runtime", choices=RUNTIME_NAMES, default="cpu", help="where the model runs")
    group.add_argument("--precision", choices=PRECISIONS, default="float", help="model variant")
    group.add_argument(
        "--allow-simulator",
        action="store_true",
        help=f"let --runtime npu use the x86 HTP simulator (for tests; {SIMULATOR_SLOWER})",
    )
    group.add_argument(
        "--strict", action="store_true", help="fail instead of falling back or running part of the model off the NPU"
    )


def stream_target(text: str) -> StreamTarget:
    from facemap_gui.sinks.streaming import StreamTarget

    try:
        return StreamTarget.parse(text)
    except FacemapError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_stream_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        type=stream_target,
        action="append",
        default=[],
        metavar="osf|vmc|ifm|vts://HOST:PORT",
        help="send the tracking live to an avatar app, as OpenSeeFace UDP (osf://, default "
        "127.0.0.1:11573), VMC (vmc://, default 127.0.0.1:39539), iFacialMocap (ifm://, default 127.0.0.1:49983) "
        "or VTube Studio's plugin API (vts://, default 127.0.0.1:8001); repeatable",
    )


def add_smoothing_option(parser: argparse.ArgumentParser, default: float) -> None:
    """One Euro smoothing of every output of the run (files, recording, streams alike): `track` smooths by
    default, as the window does; `process` writes the landmarks as found unless asked."""
    parser.add_argument(
        "--smoothing",
        type=in_range(float, 0, 1),
        default=default,
        metavar="0..1",
        help=f"One Euro smoothing strength of every output (default {default:g}; 0 = off)",
    )


def add_stand_in_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="without the real model: use the generated STAND-IN (random weights, labelled as "
        "such in the output; made once, as `demo` does)",
    )


def with_stand_in(options: RunOptions, wanted: bool) -> RunOptions:
    """--stand-in: the generated stand-in (its session warns that it is one; the output says so too)."""
    if not wanted:
        return options
    if options.model is not None:
        raise FacemapError("--stand-in: not with --model (the stand-in is the model)")
    from facemap_gui.run.pipeline_builder import with_stand_in

    return with_stand_in(options)


def smoother_from(args: argparse.Namespace) -> LandmarkSmoother | None:
    from facemap_gui.perframe.smoothing import LandmarkSmoother

    return LandmarkSmoother(args.smoothing) if args.smoothing > 0 else None


def options_from_args(args: argparse.Namespace, source: str) -> RunOptions:
    from facemap_gui.run.pipeline_builder import RunOptions
    from facemap_gui.sources import camera

    # Process-wide: every camera this run opens, also one reopened after an unplug, comes back the same way.
    camera.configure(args.camera_backend, args.camera_format)

    return RunOptions(
        source=source,
        model=args.model,
        basis_dir=args.basis_dir,
        detector=args.detector,
        detector_range=args.detector_range,
        detector_backend=args.detector_backend,
        box=args.box,
        max_faces=args.max_faces,
        min_score=args.min_score,
        expand_box=args.expand_box,
        runtime=args.runtime,
        precision=args.precision,
        allow_simulator=args.allow_simulator,
        strict=args.strict,
        tracking=args.tracking,
        redetect_every=args.redetect_every,
    )
