"""The one guard for every option that writes a file, checked by cli before any command runs.

Each such option is declared with an `output(kind)` type (a folder with `output_folder(files)`), each option
naming a file the command reads with `read_path`, so the guard finds them in the parsers (tests/
test_option_sweep.py sweeps them, and refuses a bare `type=Path`). An output is refused, with one line, when it is
the same file as an input or another output of the run, or when a file is already there that the app did not
write as that kind of output (a video, a model, a report of another kind); an empty file, an app-written output
of the same kind (replaced, as a re-run does) and a FIFO or device (written through) are fine."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from facemap_gui.core.atomic import is_special
from facemap_gui.core.errors import FacemapError, shown

HEAD_BYTES = 4096  # enough to see the first line of any output the app writes


@dataclass(frozen=True)
class Kind:
    """A kind of output and how to recognise one the app wrote from the start of the file; without a mark, a
    file already there is never replaced, and `never` says what to do."""

    what: str
    mark: Callable[[bytes], bool] | None
    never: str = ""


JSON_LINES = Kind("JSON Lines", lambda head: head.startswith(b'{"type":"header"'))
CSV = Kind("landmark CSV", lambda head: head.startswith(b"frame,timestamp_ms,face,"))
REPORT = Kind("bench report", lambda head: head.startswith(b'{\n "report": "facemap-gui'))
SCREENSHOT = Kind("screenshot", lambda head: head.startswith(b"\x89PNG") and b"Software\x00facemap-gui" in head)
FAILURE_LIST = Kind("batch failure list", lambda head: head.startswith(b'{"input":'))
RECORDING = Kind("recording", None, "choose another name (recordings never overwrite)")
NEW_FILE = Kind("file", None, "choose a new or empty folder (facemap-gui never replaces these files)")

# What `--record X.mkv` writes beside the video (recording.landmark_paths, without importing the recorder).
Companions = Callable[[Path, argparse.Namespace], dict[str, tuple[Path, Kind]]]


def read_path(text: str) -> Path:
    """An argparse `type=` for a file or folder the command reads (the guard never lets an output replace it)."""
    return Path(text)


def read_name(text: str) -> str:
    """As `read_path` for an input that may also be a camera, the demo or a glob (kept as the text given)."""
    return text


read_path.reads = read_name.reads = True  # type: ignore[attr-defined]


def output(kind: Kind, companions: Companions | None = None) -> Callable[[str], Path]:
    """An argparse `type=` for a file the command writes, of `kind`, with the files written beside it."""

    def parse(text: str) -> Path:
        return Path(text)

    parse.writes = kind  # type: ignore[attr-defined]
    parse.companions = companions  # type: ignore[attr-defined]
    return parse


def output_folder(files: Callable[[Path, argparse.Namespace], dict[str, Kind]]) -> Callable[[str], Path]:
    """An argparse `type=` for a folder the command writes `files(folder, args)` into (name: kind); the files
    of its own inputs (a batch's) are checked where they are found."""

    def parse(text: str) -> Path:
        return Path(text)

    parse.writes = True  # type: ignore[attr-defined]
    parse.folder_files = files  # type: ignore[attr-defined]
    return parse


def recording_companions(video: Path, args: argparse.Namespace) -> dict[str, tuple[Path, Kind]]:
    jsonl = {"'s landmarks": (video.with_suffix(".jsonl"), JSON_LINES)}
    return jsonl | ({"'s CSV": (video.with_suffix(".csv"), CSV)} if getattr(args, "csv", False) else {})


def chosen_actions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Iterator[argparse.Action]:
    """The actions of the parser and of every sub-command the command line chose."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if (name := getattr(args, action.dest, None)) in action.choices:
                yield from chosen_actions(action.choices[name], args)
        else:
            yield action


def _values(action: argparse.Action, args: argparse.Namespace) -> list[Path]:
    value = getattr(args, action.dest, None)
    values = value if isinstance(value, list) else [value]
    return [Path(v) for v in values if v not in (None, Path())]  # Path(): a bare --record names no file


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return a.resolve() == b.resolve()


def written_by_app(path: Path, kind: Kind) -> bool:
    """True when `path` may be replaced by an output of `kind`: it is empty or the app wrote it as one (a kind
    without a mark is never replaced)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
    except OSError:
        return False
    return kind.mark is not None and (not head or kind.mark(head))


@dataclass(frozen=True)
class _Output:
    label: str  # what names it in `is also ...`: "--output", "--record's landmarks"
    path: Path
    kind: Kind
    fix: str  # "choose another --output file"
    in_folder: bool = False  # one of the files an output folder gets

    def refuse(self, problem: str) -> FacemapError:
        named = shown(self.path) if self.in_folder else f"{self.label} {shown(self.path)}"
        return FacemapError(f"{named}: {problem}; {self.fix}")


def _label(action: argparse.Action, positional: str) -> str:
    return max(action.option_strings, key=len) if action.option_strings else positional


def _outputs(action: argparse.Action, args: argparse.Namespace) -> Iterator[_Output]:
    label = _label(action, str(action.metavar or action.dest))
    for path in _values(action, args):
        if files := getattr(action.type, "folder_files", None):
            if path.exists() and not path.is_dir():
                raise FacemapError(f"{label} {shown(path)}: not a folder; choose a folder to write in")
            for name, kind in files(path, args).items():
                yield _Output(label, path / name, kind, "choose a new or empty folder", in_folder=True)
            continue
        fix = f"choose another {label} file"
        writes = getattr(action.type, "writes", None)
        assert isinstance(writes, Kind), f"{label}: an output file option's type is made by output()"
        yield _Output(label, path, writes, fix)
        companions = getattr(action.type, "companions", None)
        for suffix, (beside, kind) in (companions(path, args) if companions else {}).items():
            yield _Output(f"{label}{suffix}", beside, kind, fix)


def check_destinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before anything runs, an output that would replace an input, another output or a file the app did
    not write (see the module docstring)."""
    inputs: list[tuple[str, Path]] = []
    outputs: list[_Output] = []
    for action in chosen_actions(parser, args):
        if getattr(action.type, "reads", False):
            label = _label(action, "the input")
            for path in _values(action, args):
                inputs.append((label, path))
                if path.is_dir():  # --basis-dir: the files in it
                    inputs += [(f"{label}'s {p.name}", p) for p in sorted(path.iterdir()) if p.is_file()]
        elif getattr(action.type, "writes", None):
            outputs += _outputs(action, args)
    named = inputs + [(out.label, out.path) for out in outputs]
    for out in outputs:
        if is_special(out.path.resolve()):
            continue  # /dev/null or a pipe is written through, never replaced
        for what, other in named:
            if other is not out.path and _same_file(out.path, other):  # `is not`: every entry but itself
                raise out.refuse(f"is also {what}")
        if out.path.exists() and not written_by_app(out.path, out.kind):
            if out.kind.mark is None:
                raise FacemapError(f"{shown(out.path)}: already exists; {out.kind.never}")
            raise out.refuse(f"already exists and is not a {out.kind.what} file facemap-gui wrote")
