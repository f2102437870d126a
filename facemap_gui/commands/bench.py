"""`facemap-gui bench [INPUT]`: how fast the pipeline runs on this machine, stage by stage, and against a
straight-line script on the same clip.

The clip runs as the app runs it: decoding on its own thread (as `process` and the window read files), then
detection or tracking, landmarks, smoothing and drawing. Without INPUT a 720p H.264 clip of the demo photo is
rendered once and cached. The straight-line script (`bench/straight_line.py`) runs the same clip in the same run
for the ratio. The jobs live in the `facemap_gui.bench` package; this module is the command.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facemap_gui.bench import SCENES
from facemap_gui.commands.common import MAX_FRAMES, MAX_MINUTES, add_run_options, in_range, options_from_args
from facemap_gui.commands.destinations import RECORDING, REPORT, output, read_path, recording_companions
from facemap_gui.core.errors import FacemapError, InputError

if TYPE_CHECKING:
    from facemap_gui.bench.measure import RunFigures
    from facemap_gui.run.pipeline_builder import RunOptions


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="measure the pipeline's speed here, stage by stage",
        description="Per-stage median/p95/mean ms, FPS, face recall, detector calls, session time "
        "and memory, with a straight-line script on the same clip for the ratio.",
    )
    parser.add_argument(
        "input",
        nargs="?",
        type=read_path,
        help="a video file (default: a generated 720p clip of the demo photo, see --scene)",
    )
    parser.add_argument(
        "--scene",
        choices=tuple(SCENES),
        default="far",
        help="generated clip: far (face 80-135 px tall, the demo clip) or near (200-340 px)",
    )
    parser.add_argument("--frames", type=in_range(int, 1, MAX_FRAMES), default=300, help="frames per run (default 300)")
    parser.add_argument(
        "--minutes",
        type=in_range(float, 0, MAX_MINUTES),
        default=0.0,
        help="loop the clip for this long instead (memory-growth check: RSS sampled every 30 s; no baseline)",
    )
    parser.add_argument(
        "--repeat",
        type=in_range(int, 1, 1000),
        default=1,
        help="alternate pipeline and baseline runs this many times; FPS is the median",
    )
    parser.add_argument("--all", action="store_true", help="every runtime and precision that can run here")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the straight-line script on the clip and print the ratio",
    )
    parser.add_argument(
        "--record",
        type=output(RECORDING, recording_companions),
        metavar="OUT.mkv",
        help="also record the annotated video (adds the recorder's hand-over and encoding)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also measure CPU ms a frame of `process` and of the window (child processes, 60+N "
        "frames minus 60; the window offscreen without a display; INPUT needs 60+N frames)",
    )
    parser.add_argument("--json", type=output(REPORT), metavar="FILE", help="write every figure to this JSON file")
    parser.add_argument(
        "--soak",
        type=in_range(float, 0, MAX_MINUTES, above=True),
        metavar="MINUTES",
        help="soak test instead: the live worker on the demo clip for MINUTES, switching runtime/"
        "precision and starting/stopping recordings; exit 1 on any exception",
    )
    add_run_options(parser)
    parser.set_defaults(run=run)


def bench_options(args: argparse.Namespace, clip: Path) -> RunOptions:
    """The user's options; without --model the installed model, else the full-architecture stand-in."""
    from facemap_gui.run.pipeline_builder import with_stand_in

    options = options_from_args(args, str(clip))
    return with_stand_in(options) if options.model is None else options


def input_clip(args: argparse.Namespace) -> Path:
    from facemap_gui.bench.clip import bench_clip
    from facemap_gui.sources import open_source
    from facemap_gui.sources.files import VideoSource

    if args.input is None:
        return bench_clip(args.scene, args.frames)
    with open_source(str(args.input)) as source:
        if not isinstance(source, VideoSource):
            raise InputError(f"{args.input}: bench needs a video file (or no INPUT for the generated clip)")
    return args.input


def run(args: argparse.Namespace) -> int:
    # The pipeline's modules (numpy, OpenCV, ONNX Runtime, MediaPipe) load when it runs, not for every --help.
    from facemap_gui.bench.baseline import baseline_available, run_baseline
    from facemap_gui.bench.measure import configurations, run_pipeline
    from facemap_gui.bench.report import load_average, print_run, print_summary, summarise, write_json

    if args.soak is not None:
        return run_soak_command(args)
    clip = input_clip(args)
    options = bench_options(args, clip)
    print(
        f"facemap-gui bench: {clip} · {args.frames if not args.minutes else f'{args.minutes:g} min of'} frames · "
        f"{platform.machine()}, {os.cpu_count()} CPUs · load average {load_average()}"
    )
    runs = configurations(options, args.all)
    baseline = args.baseline and not args.minutes
    if baseline and not baseline_available():
        print("baseline skipped: a packaged app cannot run the straight-line script (a pip install can)")
        baseline = False
    report: dict[str, Any] = {
        "input": str(clip),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
        "runs": [],
        "baseline": [],
    }
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
            straight = run_baseline(clip, options, args.frames)
            report["baseline"].append(straight)
            print(
                f"  baseline (straight-line script, full-range detector on every frame): {straight['fps']:.1f} fps, "
                f"face on {straight['frames_with_face']}/{straight['frames']} frames"
            )
    report["load_average_end"] = load_average()
    summary = summarise(results, report["baseline"])
    report["summary"] = summary
    print_summary(summary, report["load_average_end"])
    if args.cpu:
        report["cpu_ms_per_frame"] = run_cpu(args, clip, options)
    if args.json:
        write_json(args.json, report)
    return 0


def run_cpu(args: argparse.Namespace, clip: Path, options: RunOptions) -> dict[str, Any]:
    from facemap_gui.bench.clip import bench_clip
    from facemap_gui.bench.cpu import WARM_FRAMES, measure_paths
    from facemap_gui.bench.report import load_average
    from facemap_gui.gui.app import has_display

    clip = clip if args.input else bench_clip(args.scene, WARM_FRAMES + args.frames)
    print(
        f"\nCPU (user + system) a frame, ({WARM_FRAMES}+{args.frames} frames minus {WARM_FRAMES}), median of "
        f"{args.repeat} · load average {load_average()}"
    )
    figures = measure_paths(clip, options, args.frames, args.repeat, offscreen=not has_display())
    for path, values in figures.items():
        print(f"  {path}: {values['median']:.2f} ms ({values['low']:.2f}-{values['high']:.2f})")
    return figures


def run_soak_command(args: argparse.Namespace) -> int:
    from facemap_gui.bench.report import write_json
    from facemap_gui.live.soak import SOURCE as SOAK_SOURCE
    from facemap_gui.live.soak import run_soak

    report = run_soak(bench_options(args, Path(SOAK_SOURCE)), args.soak)
    print("\n".join(report.lines()))
    if args.json:
        write_json(args.json, report.record())
    return 0 if report.passed else 1
