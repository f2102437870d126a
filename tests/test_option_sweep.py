"""Every numeric option of every command, fed NaN, infinities, negatives, huge numbers and words: exit 2 with
one stderr line naming the option, never a traceback and never a run. The options come from the argparse
parsers themselves, so an option added later is swept too (and one left as a bare `type=int` fails here)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from facemap_gui.cli import build_parser, main

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
