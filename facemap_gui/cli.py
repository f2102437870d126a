"""Entry point: `facemap-gui` (the desktop app) and its sub-commands, each in facemap_gui/commands/."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from types import FrameType

from facemap_gui import __version__
from facemap_gui.commands import COMMANDS
from facemap_gui.errors import FacemapError

log = logging.getLogger("facemap_gui")
DEFAULT_COMMAND = "gui"
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")  # these act on their own, without any command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facemap-gui",
        description="Live facial landmarks (Qualcomm facemap_3dmm) on the Snapdragon NPU, GPU or CPU.",
    )
    parser.add_argument("--version", action="version", version=f"facemap-gui {__version__}")
    verbose = {"action": "count", "help": "more log output (-vv for debug)"}
    parser.add_argument("-v", "--verbose", default=0, **verbose)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    for command in sub.choices.values():  # -v after the command too; SUPPRESS keeps a leading -v's count
        command.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbose)
    return parser


def with_default_command(argv: list[str], commands: set[str]) -> list[str]:
    """`argv` with `gui` inserted after the leading -v options when no command is named, so the default
    command's options work without naming it (`facemap-gui --source demo`, `facemap-gui -v`)."""
    lead = 0
    while lead < len(argv) and re.fullmatch(r"-v+|--verbose", argv[lead]):
        lead += 1
    rest = argv[lead:]
    if rest and (rest[0] in commands or rest[0] in TOP_LEVEL_OPTIONS):
        return argv
    return [*argv[:lead], DEFAULT_COMMAND, *rest]


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._subparsers._group_actions for name in action.choices}


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
    args = parser.parse_args(with_default_command(sys.argv[1:] if argv is None else argv, _command_names(parser)))
    _setup_logging(args.verbose)
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
