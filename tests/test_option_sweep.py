"""Every numeric option of every command, fed NaN, infinities, negatives, huge numbers and words: exit 2 with
one stderr line naming the option, never a traceback and never a run. The options come from the argparse
parsers themselves, so an option added later is swept too (and one left as a bare `type=int` fails here).
Every option that writes a file is swept the same way: pointed at a file the app did not write, or at an input of
the same command line, it exits 2 before the command runs (a bare `type=Path` fails here)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facemap_gui import cli
from facemap_gui.cli import build_parser, main
from tests.helpers import assert_one_line, cli_main

BAD_VALUES = ["nan", "inf", "-inf", "-1", "1e400", "9" * 30, "many", "", "0x10"]


def numeric_options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from numeric_options(sub, (*path, name))
        elif action.option_strings and (action.type in (int, float) or getattr(action.type, "numeric", False)):
            yield path, action


OPTIONS = [(path, action.option_strings[-1], action.type) for path, action in numeric_options(build_parser())]


def test_the_sweep_finds_the_options_of_every_command():
    found = {(path, option) for path, option, _ in OPTIONS}
    assert {
        (("process",), "--frames"),
        (("bench",), "--minutes"),
        (("bench",), "--soak"),
        (("gui",), "--box"),
        (("models", "download"), "--timeout"),
        (("models", "stand-in"), "--seed"),
        (("demo",), "--frames"),
        (("process",), "--min-score"),
    } <= found
    assert len(found) >= 20


@pytest.mark.parametrize(("path", "option", "kind"), OPTIONS, ids=[" ".join((*p, o)) for p, o, _ in OPTIONS])
def test_bad_values_of_every_numeric_option_are_one_line(capsys, path, option, kind):
    assert kind not in (int, float), f"{option}: use commands.common.in_range, which refuses NaN and infinities"
    for value in BAD_VALUES:
        if kind.__name__ == "parse_box":
            value = f"0,0,{value},9"
        with pytest.raises(SystemExit) as exited:
            main([*path, f"{option}={value}"])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exited.value.code == 2 and len(lines) == 1 and "Traceback" not in err, (value, err)
        assert f"argument {option}" in lines[0] and "--help" in lines[0], (value, err)


# Every option that writes a file: declared with commands.destinations' `output`/`output_folder` types, found here
# from the parsers, each pointed at a file the app did not write and at an input of the same command line.
def path_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from path_options(sub, (*path, name))
        elif action.type is not None and not getattr(action.type, "numeric", False):
            yield path, action


PATH_OPTIONS = list(path_options(build_parser()))
WRITERS = [(path, action) for path, action in PATH_OPTIONS if getattr(action.type, "writes", None)]
WRITER_IDS = [" ".join((*p, max(a.option_strings, key=len) if a.option_strings else a.dest)) for p, a in WRITERS]


def test_every_file_option_says_whether_it_is_read_or_written():
    for path, action in PATH_OPTIONS:
        assert action.type is not Path, f"{path} {action.dest}: use destinations.read_path or output(...)"
    assert set(WRITER_IDS) >= {
        "process --output",
        "process --record",
        "process --output-dir",
        "bench --json",
        "bench --record",
        "gui --screenshot",
        "models stand-in directory",
    }


@pytest.fixture
def commands_that_only_record_their_args(monkeypatch):
    """cli.main with every command's `run` replaced: what reaches it is what the guard let through."""
    ran: list[argparse.Namespace] = []
    build = cli.build_parser

    def parser_with_stub_runs() -> argparse.ArgumentParser:
        parser = build()
        stack = [parser]
        while stack:
            current = stack.pop()
            if "run" in current._defaults:
                current.set_defaults(run=lambda args: ran.append(args) or 0)
            for action in current._actions:
                if isinstance(action, argparse._SubParsersAction):
                    stack += action.choices.values()
        return parser

    monkeypatch.setattr(cli, "build_parser", parser_with_stub_runs)
    return ran


def command_line(path: tuple[str, ...], action: argparse.Action, value: Path, given: Path) -> list[str]:
    """`path` with `action` set to `value`, a required input to `given`."""
    option = [action.option_strings[0], str(value)] if action.option_strings else [str(value)]
    needs_input = path == ("process",)
    return [*path, *([str(given)] if needs_input else []), *option]


@pytest.mark.parametrize(("path", "action"), WRITERS, ids=WRITER_IDS)
def test_no_output_option_replaces_a_file_the_app_did_not_write(
    tmp_path, capsys, commands_that_only_record_their_args, path, action
):
    given = tmp_path / "in.mp4"
    given.write_bytes(b"\x00\x00\x00\x18ftypmp42 not ours")
    foreign = tmp_path / "theirs.dat"
    foreign.write_bytes(b"a file the user keeps")
    target = foreign
    if files := getattr(action.type, "folder_files", None):  # a folder: a foreign file where it would write one
        target = tmp_path / "folder"
        args = build_parser().parse_args(command_line(path, action, target, given))
        name = next(iter(files(target, args)))
        target.mkdir()
        foreign = target / name
        foreign.write_bytes(b"a file the user keeps")
    before = {p: p.read_bytes() for p in (given, foreign)}
    for value in (target, given):
        if value == given and target != foreign:
            continue  # a folder option: its files are checked, not the folder
        code, err = cli_main(capsys, *command_line(path, action, value, given))
        assert_one_line(code, err, str(foreign if value == target else given))
        assert "already exists" in err or "is also" in err, err
    assert {p: p.read_bytes() for p in before} == before
    assert commands_that_only_record_their_args == []
