"""Entry point: `facemap-gui` (the desktop app) and its sub-commands, each in facemap_gui/commands/."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from facemap_gui import __version__
from facemap_gui.commands import COMMANDS
from facemap_gui.errors import FacemapError

log = logging.getLogger("facemap_gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facemap-gui",
        description="Live facial landmarks (Qualcomm facemap_3dmm) on the Snapdragon NPU, GPU or CPU.",
    )
    parser.add_argument("--version", action="version", version=f"facemap-gui {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl+C so that open files are finalised by the same `finally` blocks.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facemap-gui: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv if argv is not None else sys.argv[1:])])
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.run(args) or 0)
    except FacemapError as exc:
        print(f"facemap-gui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facemap-gui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
