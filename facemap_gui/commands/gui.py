"""`facemap-gui gui` (also plain `facemap-gui`): the desktop app, scriptable for tests and bug reports."""

from __future__ import annotations

import argparse
import dataclasses

from facemap_gui.commands.common import add_run_options, frame_count, options_from_args
from facemap_gui.commands.destinations import SCREENSHOT, output, read_name
from facemap_gui.core.errors import FacemapError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "gui",
        help="the desktop app (the default command)",
        description="Live view with landmarks, runtime/precision menus, recording.",
    )
    parser.add_argument(
        "--source", type=read_name, help="camera:N, a video or image file, or demo (default: the last one used)"
    )
    parser.add_argument(
        "--quit-after-frames",
        type=frame_count,
        default=0,
        metavar="N",
        help="run unattended: after N processed frames (or the end of the source) save --screenshot and exit",
    )
    parser.add_argument(
        "--screenshot",
        type=output(SCREENSHOT),
        metavar="FILE.png",
        help="where --quit-after-frames saves a picture of the whole window",
    )
    parser.add_argument(
        "--record-frames",
        type=frame_range,
        metavar="FROM:TO",
        help="with --quit-after-frames: record processed frames FROM to TO into the output folder (long-run tests)",
    )
    add_run_options(parser)
    # Unset runtime/precision fall back to the saved settings instead of add_run_options' defaults.
    parser.set_defaults(run=run, runtime=None, precision=None)


def frame_range(text: str) -> tuple[int, int]:
    """FROM:TO, two frame counts with FROM < TO."""
    start, _, stop = text.partition(":")
    first, last = frame_count(start), frame_count(stop)
    if first >= last:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected FROM:TO with FROM below TO, e.g. 100:400")
    return int(first), int(last)


def run(args: argparse.Namespace) -> int:
    for option, value in (("--screenshot", args.screenshot), ("--record-frames", args.record_frames)):
        if value and args.quit_after_frames < 1:
            raise FacemapError(f"{option} needs --quit-after-frames N (N >= 1): it belongs to an unattended run")
    from facemap_gui.live.settings import load_settings  # the engine loads when it runs (see process.run)

    settings, warning = load_settings()
    options = options_from_args(args, args.source or settings.source)
    options = dataclasses.replace(
        options, runtime=args.runtime or settings.runtime, precision=args.precision or settings.precision
    )
    from facemap_gui.gui.app import run_gui  # Qt loads only when a window is wanted

    return run_gui(
        options,
        quit_after_frames=args.quit_after_frames,
        screenshot=args.screenshot,
        record_frames=args.record_frames,
        loaded_settings=(settings, warning),
    )
