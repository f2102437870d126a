"""`facemap-gui demo`: try the app with nothing installed: the built-in clip, the bundled detector, and the
real landmark model when installed or else a generated stand-in that is labelled as such everywhere."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from facemap_gui.commands.common import MAX_FRAMES, in_range

if TYPE_CHECKING:
    from facemap_gui.run.pipeline_builder import RunOptions

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run on the built-in demo clip (no webcam or download needed)")
    parser.add_argument("--headless", action="store_true", help="no window: process the clip and print figures")
    parser.add_argument(
        "--frames", type=in_range(int, 1, MAX_FRAMES), default=300, help="frames to process when headless (default 300)"
    )
    parser.set_defaults(run=run)


def run_headless(options: RunOptions, frames: int) -> int:
    from facemap_gui.run.engine import FrameLoop  # the pipeline loads when it runs (see process.run)
    from facemap_gui.run.pipeline_builder import build_pipeline
    from facemap_gui.sources import open_source
    from facemap_gui.sources.readahead import ReadAhead

    with open_source(f"demo:{frames}") as source:
        pipeline = build_pipeline(options)
        loop = FrameLoop(pipeline)
        try:
            with ReadAhead(source.__iter__) as reader:  # rendered ahead, as process reads a file
                loop.run(reader)
        finally:
            pipeline.close()
    stats = loop.stats
    label = " (STAND-IN model: landmarks are not real)" if pipeline.session.model.stand_in else ""
    print(f"demo: {stats.frames} frames, face found on {stats.frames_with_face}{label}")
    for stage, figures in stats.timings.summary().items():
        print(f"  {stage:<18} median {figures['median']:7.2f} ms   p95 {figures['p95']:7.2f} ms")
    print(f"  {'runtime':<18} {pipeline.session.info.summary()}")
    return 0


def run(args: argparse.Namespace) -> int:
    from facemap_gui.gui.app import has_display
    from facemap_gui.run.pipeline_builder import RunOptions, demo_options
    from facemap_gui.sources.demo import DEMO_LOOP

    if args.headless or not has_display():
        if not args.headless:
            print("facemap-gui: no display found, running the demo headless", file=sys.stderr)
        return run_headless(demo_options(), args.frames)
    from facemap_gui.gui.app import run_gui  # Qt only when a window is wanted

    # The window's start-up path, as for `gui`: the stand-in, if needed, is made while the clip plays.
    return run_gui(RunOptions(source=DEMO_LOOP), offer_download=False)
