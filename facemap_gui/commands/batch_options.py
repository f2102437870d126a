"""`process`'s batch options (`--output-dir` and what goes with it) and the hand-over to facemap_gui.batch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from facemap_gui.commands.common import in_range
from facemap_gui.commands.destinations import FAILURE_LIST, output_folder, read_name
from facemap_gui.core.choices import BATCH_FAILURES
from facemap_gui.core.errors import FacemapError

if TYPE_CHECKING:
    from facemap_gui.run.pipeline_builder import RunOptions

RECORD_BESIDE = Path()  # `--record` without a name: with --output-dir, the video goes beside each JSON Lines


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "more_inputs", nargs="*", type=read_name, metavar="INPUT", help="with --output-dir: more inputs"
    )
    group = parser.add_argument_group("batch (many files: see docs/batch.md)")
    group.add_argument(
        "--output-dir",
        type=output_folder(lambda _folder, _args: {BATCH_FAILURES: FAILURE_LIST}),
        metavar="OUT",
        help="process every video and folder of images under the inputs (folders, globs, files) "
        "into OUT/<relative path>.jsonl; complete outputs are skipped",
    )
    group.add_argument(
        "--jobs",
        type=in_range(int, 1, 256),
        default=0,
        metavar="N",
        help="worker processes (default: one per core, at most one per file)",
    )
    group.add_argument("--force", action="store_true", help="redo files whose outputs are complete")
    group.add_argument(
        "--cluster",
        metavar="ray|ray://HOST:PORT",
        help='run the files as Ray tasks, on a local Ray instance or a cluster (pip install "facemap-gui[cluster]")',
    )


def run_batch_args(args: argparse.Namespace, options: RunOptions) -> int:
    from facemap_gui.batch import BatchSettings, run_batch

    refused = {
        "--output": args.output,
        "--stream": args.stream,
        "--record FILE": args.record not in (None, RECORD_BESIDE),
    }
    for option, value in refused.items():
        if value:
            raise FacemapError(
                f"{option}: not with --output-dir (each input gets OUT/<relative path>.jsonl; "
                "--record alone records beside it)"
            )
    settings = BatchSettings(
        out_dir=args.output_dir,
        jobs=args.jobs,
        csv=args.csv,
        record=args.record is not None,
        force=args.force,
        frames=args.frames,
        cluster=args.cluster,
    )
    return run_batch([args.input, *args.more_inputs], options, settings)
