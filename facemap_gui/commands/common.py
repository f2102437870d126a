"""Options shared by the commands that run the pipeline (process, gui, bench)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facemap_gui.errors import FacemapError
from facemap_gui.pipeline_builder import RunOptions
from facemap_gui.runtime import PRECISIONS, RUNTIME_NAMES
from facemap_gui.streaming import StreamTarget
from facemap_gui.tracking import REDETECT_EVERY


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected X0,Y0,X1,Y1 (inclusive pixel corners)") from None
    if x1 <= x0 or y1 <= y0 or min(x0, y0) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= X0 < X1 and 0 <= Y0 < Y1")
    return x0, y0, x1, y1


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and runtime")
    group.add_argument("--model", type=Path, help="facemap_3dmm ONNX file (default: the installed model)")
    group.add_argument("--basis-dir", type=Path, help="folder with meanFace.npy, shapeBasis.npy, blendShape.npy")
    group.add_argument("--detector", type=Path, help="BlazeFace .tflite (default: the bundled model)")
    group.add_argument("--detector-range", choices=("short", "full"), default="full",
                       help="bundled BlazeFace model: short (faces close to the camera) or full (default)")
    group.add_argument("--detector-backend", choices=("mediapipe", "onnx"), default="mediapipe",
                       help="run BlazeFace through MediaPipe (default) or through ONNX Runtime on --runtime, "
                            "so detection can use the NPU too")
    group.add_argument("--box", type=parse_box, metavar="X0,Y0,X1,Y1",
                       help="skip the detector and use this inclusive face box on every frame")
    group.add_argument("--max-faces", type=int, default=4, help="most faces per frame (default 4)")
    group.add_argument("--min-score", type=float, default=0.5, help="detector score threshold (default 0.5)")
    group.add_argument("--expand-box", action=argparse.BooleanOptionalAction, default=True,
                       help="grow the face box 1.2x before cropping, as Qualcomm's evaluation does")
    group.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=True,
                       help="follow faces from frame to frame and run the detector only when one is lost or "
                            "every --redetect-every frames (default on; off: detect on every frame)")
    group.add_argument("--redetect-every", type=int, default=REDETECT_EVERY, metavar="N",
                       help=f"while tracking, run the full-frame detector at least every N frames to find new "
                            f"faces (default {REDETECT_EVERY})")
    group.add_argument("--runtime", choices=RUNTIME_NAMES, default="cpu", help="where the model runs")
    group.add_argument("--precision", choices=PRECISIONS, default="float", help="model variant")
    group.add_argument("--allow-simulator", action="store_true",
                       help="let --runtime npu use the x86 HTP simulator (for tests; 100x slower than CPU)")
    group.add_argument("--strict", action="store_true",
                       help="fail instead of falling back or running part of the model off the NPU")


def stream_target(text: str) -> StreamTarget:
    try:
        return StreamTarget.parse(text)
    except FacemapError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--stream {text}: ")) from None


def add_stream_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", type=stream_target, action="append", default=[], metavar="osf|vmc://HOST:PORT",
                        help="send the tracking live to an avatar app, as OpenSeeFace UDP (osf://, default "
                             "127.0.0.1:11573) or VMC (vmc://, default 127.0.0.1:39539); repeatable")


def options_from_args(args: argparse.Namespace, source: str) -> RunOptions:
    if args.max_faces < 1:
        raise FacemapError(f"--max-faces {args.max_faces}: must be at least 1")
    if args.redetect_every < 1:
        raise FacemapError(f"--redetect-every {args.redetect_every}: must be at least 1 (1 = detect every frame)")
    return RunOptions(source=source, model=args.model, basis_dir=args.basis_dir, detector=args.detector,
                      detector_range=args.detector_range, detector_backend=args.detector_backend, box=args.box,
                      max_faces=args.max_faces, min_score=args.min_score, expand_box=args.expand_box,
                      runtime=args.runtime, precision=args.precision, allow_simulator=args.allow_simulator,
                      strict=args.strict, tracking=args.tracking, redetect_every=args.redetect_every)
