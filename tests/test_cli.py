"""The command line itself: the default command's options work without naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from facemap_gui.cli import build_parser, main, with_default_command

COMMANDS = {"gui", "process", "demo", "models", "doctor", "bench"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["gui"]),
        (["-v"], ["-v", "gui"]),
        (["-vv", "--source", "demo"], ["-vv", "gui", "--source", "demo"]),
        (["--runtime", "npu"], ["gui", "--runtime", "npu"]),
        (["--source", "process"], ["gui", "--source", "process"]),  # a value, not a command
        (["-v", "process", "x.mp4"], ["-v", "process", "x.mp4"]),
        (["--version"], ["--version"]),
        (["-v", "-h"], ["-v", "-h"]),
    ],
)
def test_the_default_command_is_inserted_only_where_no_command_is_named(argv, expected):
    assert with_default_command(argv, COMMANDS) == expected


def test_default_command_options_parse_without_naming_it():
    parser = build_parser()
    args = parser.parse_args(with_default_command(["-v", "--source", "demo", "--runtime", "npu", "-v"], COMMANDS))
    assert (args.command, args.source, args.runtime, args.verbose) == ("gui", "demo", "npu", 1)
    assert parser.parse_args(["-vv", "doctor"]).verbose == 2  # a leading count is kept when none follows


def test_a_wrong_option_still_names_itself(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--no-such-option"])
    assert stop.value.code == 2 and "--no-such-option" in capsys.readouterr().err


def test_plain_facemap_gui_with_options_starts_the_app(tiny_model):
    """Past argument parsing: without a display the app's own one-line error, not 'unrecognized arguments'."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "facemap_gui.cli", "-v", "--source", "demo", "--model", str(tiny_model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.startswith("facemap-gui: error: no display"), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-frames", "300:100"], "'300:100': expected FROM:TO with FROM below TO, e.g. 100:400"),
        (["--record-frames", "10"], "'': expected a whole number"),  # TO missing
        (["--record-frames", "10:20"], "--record-frames needs --quit-after-frames N (N >= 1)"),
    ],
)
def test_record_frames_is_checked_before_any_window_opens(capsys, args, message):
    from tests.helpers import cli_main

    code, err = cli_main(capsys, "gui", "--source", "demo", *args)
    assert code == 2 and message in err.strip().splitlines()[-1] and "Traceback" not in err, err


@pytest.mark.parametrize("verbosity", [0, 2])
def test_a_failure_logged_with_its_exception_is_one_line_unless_vv(capsys, verbosity):
    """A worker thread's failure is logged with its exception (`log.exception`): one line on stderr, its traceback
    with -vv only, as for every other error."""
    import logging

    from facemap_gui import cli

    cli._setup_logging(verbosity)
    try:
        raise ImportError("sympy is required")
    except ImportError:
        logging.getLogger("facemap_gui.live.worker").exception("starting demo:0 failed")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "facemap-gui: ERROR: starting demo:0 failed"
    if verbosity < 2:
        assert lines == lines[:1]
    else:
        assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "ImportError: sympy is required"
