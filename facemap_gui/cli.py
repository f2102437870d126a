"""Entry point: `facemap-gui` (the desktop app) and its sub-commands, each in facemap_gui/commands/."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from facemap_gui import __version__
from facemap_gui.core.errors import FacemapError, OneLineMessages, reason
from facemap_gui.core.native import python_stderr_apart

log = logging.getLogger("facemap_gui")
DEFAULT_COMMAND = "gui"
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")  # these act on their own, without any command


def build_parser() -> argparse.ArgumentParser:
    # The commands (and their heavy imports) load here, inside main's signal and error boundary.
    from facemap_gui.commands import COMMANDS
    from facemap_gui.commands.common import OneLineParser

    parser = OneLineParser(
        prog="facemap-gui",
        description="Live facial landmarks (Qualcomm facemap_3dmm) on the Snapdragon NPU, GPU or CPU.",
    )
    parser.add_argument("--version", action="version", version=f"facemap-gui {__version__}")
    verbose: dict[str, Any] = {"action": "count", "help": "more log output (-vv for debug)"}
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
    return {
        name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl+C so that open files are finalised by the same `finally` blocks.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _exit_now(signum: int, _frame: FrameType | None) -> None:
    # Once the outcome is printed, a signal during teardown (closing detectors, the final garbage collection)
    # ends the process with the conventional code instead of a traceback or an "Exception ignored" message.
    os._exit(128 + signum)


def _signal_code(exc: KeyboardInterrupt) -> int:
    name = exc.args[0] if exc.args else ""
    return 128 + (signal.Signals[name] if name in signal.Signals.__members__ else signal.SIGINT)


def one_line(message: str) -> str:
    # Some messages from libraries span lines (urllib's redirect loop takes three): the promise is one.
    return " ".join(message.split())


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is logged, not the stream it was when set up: a caller
    that swaps stderr (a test capturing it, a frozen app without a console) never leaves logs on a closed one."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _Formatter(logging.Formatter):
    """A record logged with its exception (a worker thread's failure) stays its one line; the traceback is
    added with -vv only."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("facemap-gui: %(levelname)s: %(message)s")
        self.tracebacks = tracebacks

    def formatException(self, ei) -> str:
        return super().formatException(ei) if self.tracebacks else ""


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    handler = _StderrHandler()
    handler.addFilter(OneLineMessages())
    handler.setFormatter(_Formatter(tracebacks=verbosity >= 2))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every outcome is one line on stderr and a conventional exit code: 0, 1 (the run
    ended with a problem it reported), 2 (an error to act on, or an unexpected one: its traceback with
    -vv), 128+N on signal N (130 for Ctrl+C), 141 when the reader of stdout went away."""
    handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    if sys.stdout is None:  # started with stdout closed: hold fd 1, or the next file opened would become stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        with python_stderr_apart():
            return _run(argv)
    except KeyboardInterrupt as exc:
        signal.signal(signal.SIGINT, _exit_now)
        signal.signal(signal.SIGTERM, _exit_now)
        print("facemap-gui: interrupted", file=sys.stderr)
        if argv is None:
            # As the program: the files are finished (the `finally` blocks ran), so exit now rather than wait at
            # interpreter shutdown for a library's thread the interrupt left waiting (seen: 1 batch run in ~10).
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            os._exit(_signal_code(exc))
        return _signal_code(exc)
    finally:
        # Called in-process (argv given, as tests do), the caller's handlers come back; as the program, the
        # rest of its life is teardown.
        for sig, handler in handlers.items():
            signal.signal(sig, handler if argv is not None else _exit_now)


def _run(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(with_default_command(sys.argv[1:] if argv is None else argv, _command_names(parser)))
        _setup_logging(args.verbose)
        from facemap_gui.commands.destinations import check_destinations

        check_destinations(parser, args)
        return int(args.run(args) or 0)
    except FacemapError as exc:
        return _error(one_line(str(exc)))
    except BrokenPipeError:
        # `facemap-gui process x | head -1`: the reader has what it wanted. Python must not complain either
        # when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        return 128 + signal.SIGPIPE
    except OSError as exc:
        if exc.filename is None:
            return _unexpected(exc)
        # A file or folder the app could not create or use (an unwritable FACEMAP_GUI_HOME, a vanished folder):
        # name it, since the fix is the user's.
        return _error(
            f"{exc.filename}: {one_line(reason(exc))}; check that the folder exists and is writable (or point "
            "FACEMAP_GUI_HOME or the option that names it elsewhere)"
        )
    except MemoryError as exc:
        return _error(
            f"{_file_in_hand(exc) or 'the input'}: ran out of memory reading it; it is larger than this machine "
            "can hold (or not what it claims to be)"
        )
    except Exception as exc:
        return _unexpected(exc)


def _file_in_hand(exc: BaseException) -> Path | None:
    """The file the innermost frame of a traceback was working on: its first local that is a Path (readers
    take theirs as an argument). Readers that know better say so themselves."""
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        path = next((value for value in frame.f_locals.values() if isinstance(value, Path)), None)
        if path is not None:
            return path
    return None


def _unexpected(exc: Exception) -> int:
    """A bug or a case not foreseen: still one line."""
    return _error(
        f"unexpected {type(exc).__name__}: {one_line(reason(exc))} (run with -vv for the traceback and please "
        "report it)"
    )


def _error(text: str) -> int:
    """The one line every error ends as, exit 2; the traceback of the exception being handled comes with -vv."""
    log.debug("traceback", exc_info=True)
    print(f"facemap-gui: error: {text}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
