"""`facemap-gui models ...`: download, install (offline), list, verify and remove models; make stand-ins."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from facemap_gui.commands.common import in_range
from facemap_gui.commands.destinations import NEW_FILE, Kind, output_folder, read_path
from facemap_gui.core import store
from facemap_gui.core.choices import PRECISIONS
from facemap_gui.core.network import redact
from facemap_gui.core.progress import ProgressLine
from facemap_gui.models.catalogue import DEFAULT_NAMES, ENTRIES, resolve

# Each action imports what it uses (installing reads models with onnx, ~0.6 s): the parser builds without them.
if TYPE_CHECKING:
    from facemap_gui.models.download import Progress
    from facemap_gui.models.records import Installed
    from facemap_gui.models.status import EntryStatus


def _settled(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`run`, after what an interrupted install left in the models folder is finished or rolled back."""

    def settled(args: argparse.Namespace) -> int:
        from facemap_gui.models.folder import settle

        settle()
        return run(args)

    return settled


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="download, install, list, verify and remove models; make stand-ins")
    models_sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    names_help = f"catalogue names: {', '.join(ENTRIES)}"

    fetch = models_sub.add_parser("download", help=f"download models (default: {' '.join(DEFAULT_NAMES)})")
    fetch.add_argument("names", nargs="*", metavar="NAME", help=names_help)
    fetch.add_argument("--force", action="store_true", help="download again what is already installed")
    fetch.add_argument(
        "--timeout",
        type=in_range(float, 0, 3600, above=True),
        default=30.0,
        metavar="S",
        help="seconds to wait for the server before retrying (default 30)",
    )
    fetch.set_defaults(run=_settled(run_download))

    install = models_sub.add_parser(
        "install", help="install zips, folders or files fetched elsewhere (offline machines, proxies)"
    )
    install.add_argument("paths", nargs="+", type=read_path, metavar="PATH")
    install.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="install the .onnx as this variant (default: w8a8 if its graph is quantised)",
    )
    install.set_defaults(run=_settled(run_install))

    models_sub.add_parser("list", help="what is installed: where, size, sha256, stand-in or real").set_defaults(
        run=_settled(run_list)
    )

    check = models_sub.add_parser("verify", help="check installed files against their checksums and content")
    check.add_argument("names", nargs="*", metavar="NAME", help=f"{names_help} (default: everything installed)")
    check.set_defaults(run=_settled(run_verify))

    delete = models_sub.add_parser("remove", help="delete installed models")
    delete.add_argument("names", nargs="+", metavar="NAME", help=names_help)
    delete.set_defaults(run=_settled(run_remove))

    stand_in = models_sub.add_parser(
        "stand-in", help="write a stand-in model with the real I/O and random weights (for tests/benchmarks)"
    )
    stand_in.add_argument("directory", type=output_folder(stand_in_files), metavar="DIR")
    stand_in.add_argument(
        "--arch",
        choices=("full", "tiny"),
        default="full",
        help="full: the real architecture, ~5.42M random parameters; tiny: for fast tests",
    )
    stand_in.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float",
        help="w8a8: also write facemap_3dmm_w8a8.onnx, quantised on face crops from the demo clip",
    )
    stand_in.add_argument("--seed", type=in_range(int, 0, 2**32 - 1), default=0)
    stand_in.add_argument(
        "--as-release",
        action="store_true",
        help="write facemap_3dmm-onnx-<precision>.zip laid out as Qualcomm's release zips "
        "(w8a8 with uint8 I/O), labelled as a stand-in inside",
    )
    stand_in.set_defaults(run=run_stand_in)


class ProgressBar:
    """Download progress on stderr: one line per file, redrawn in place on a terminal, printed once when
    the file is complete otherwise (logs stay readable)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.line = ProgressLine(stream)

    def __call__(self, progress: Progress) -> None:
        bar = ""
        if progress.fraction is not None:
            filled = round(progress.fraction * 24)
            bar = f"[{'#' * filled}{'.' * (24 - filled)}] {progress.fraction:4.0%}  "
        line = f"{progress.filename}  {bar}{progress.describe()}"
        if progress.finished:
            self.line.keep(line)
        else:
            self.line.show(line, at_once=bool(progress.note))


def _report(installed: Installed) -> str:
    label = " (STAND-IN: not the real model, results made with it are not real)" if installed.stand_in else ""
    files = ", ".join(str(f.path) for f in installed.files)
    return f"installed {installed.entry.name}{label}: {files}\n  {installed.check}"


def run_download(args: argparse.Namespace) -> int:
    from facemap_gui.models.download import Downloader
    from facemap_gui.models.install import download, missing
    from facemap_gui.models.records import expected_sha256, trust_path

    entries = resolve(args.names or DEFAULT_NAMES)
    todo = [e for e in entries if args.force or missing([e.name])]
    for entry in entries:
        if entry not in todo:
            print(f"{entry.name}: already installed in {entry.install_dir()} (--force downloads it again)")
    unverified = [r.filename for e in todo for r in e.files if expected_sha256(r) is None]
    if unverified:
        print(
            f"facemap-gui: no published checksum for {', '.join(unverified)}: trusting the first download, its "
            f"sha256 is recorded in {trust_path()} and every later copy must match it",
            file=sys.stderr,
        )
    for installed in download([e.name for e in todo], Downloader(timeout_s=args.timeout, progress=ProgressBar())):
        print(_report(installed))
    return 0


def run_install(args: argparse.Namespace) -> int:
    from facemap_gui.models.install import install_path

    for path in args.paths:
        for installed in install_path(path, args.precision):
            print(_report(installed))
    return 0


def _describe(current: EntryStatus) -> list[str]:
    """The status, then detail lines: each short, or a single path or URL (so the list fits a terminal)."""
    entry = current.entry
    if current.problem:
        return [f"UNUSABLE: {current.problem}"]
    if current.installed:
        source = f"from {current.record.get('source', 'not recorded (copied in by hand?)')}"
        if current.stand_in:
            return ["installed, STAND-IN", "random weights or synthetic data: results are not real", source]
        return ["installed, real", source]
    if current.files:
        return ["INCOMPLETE: missing " + ", ".join(p.name for p in current.missing)]
    if entry.bundled_path():
        return ["bundled with the app", f"a download would go to {entry.paths()[0]}"]
    return [
        "not installed",
        f"download: facemap-gui models download {entry.name}",
        "offline: fetch these elsewhere, then `facemap-gui models install FILE` here:",
        *(f"  {redact(r.source_url())}" for r in entry.files),
    ]


def _file_lines(current: EntryStatus) -> list[str]:
    from facemap_gui.core.digest import file_sha256
    from facemap_gui.models.download import format_size

    bundled = current.entry.bundled_path()
    files = [(f.path, f.size, f.sha256) for f in current.files] or (
        [(bundled, bundled.stat().st_size, file_sha256(bundled))] if bundled else []
    )
    return [line for path, size, sha256 in files for line in (f"{path}  {format_size(size)}", f"  sha256 {sha256}")]


def _stand_in_lines() -> list[str]:
    """The stand-in `demo` and `process --stand-in` generate: not in the catalogue, but on disk all the same."""
    from facemap_gui.inference.landmarks.provenance import read_provenance
    from facemap_gui.models.download import format_size
    from facemap_gui.models.standins import MODEL_FILE

    model = store.stand_in_dir("full") / MODEL_FILE
    if not model.is_file():
        return ["not generated yet", "made by `facemap-gui demo` or `facemap-gui process --stand-in`"]
    state = ["generated, STAND-IN", "random weights: results are not real"]
    return [
        *(state if read_provenance([model]).stand_in else ["generated"]),
        f"{model}  {format_size(model.stat().st_size)}",
    ]


def _release_lines(current: EntryStatus) -> list[str]:
    """The tool versions a release model was built with, from the metadata file installed beside it."""
    from facemap_gui.inference.landmarks.release import find_metadata, format_tool_versions, read_metadata

    folder = current.entry.install_dir()
    metadata = find_metadata(folder) if current.entry.kind == "landmark" and not current.problem else None
    versions = read_metadata(metadata).tool_versions if metadata else {}
    return [f"built with {format_tool_versions(versions)} ({metadata})"] if versions else []


def run_list(args: argparse.Namespace) -> int:
    from facemap_gui.models.status import status

    print(f"data directory: {store.home()}")
    print("  (set FACEMAP_GUI_HOME to use another)")
    rows = [
        (entry.name, [*_describe(current), *_release_lines(current), *_file_lines(current)])
        for entry, current in ((e, status(e)) for e in ENTRIES.values())
    ]
    for name, (first, *details) in [*rows, ("stand-in", _stand_in_lines())]:
        print(f"{name:<20} {first}")
        for line in details:
            print(f"    {line}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Every catalogue entry (or those named) with its state; exit 1 when one is damaged, or missing but needed."""
    from facemap_gui.models.status import required, verify

    failed = False
    for entry in resolve(args.names) if args.names else ENTRIES.values():
        problems = verify(entry)
        state = "FAILED" if problems else "OK"
        if problems == ["not installed"] and not args.names:  # a named entry must be there; others if needed
            fix = f"needed to track faces: facemap-gui models download {entry.name} (offline: models install FILE)"
            state, problems = ("MISSING", [fix]) if required(entry) else ("not installed (optional)", [])
        failed |= state in ("FAILED", "MISSING")
        print(f"{entry.name:<20} {state}")
        for problem in problems:
            print(f"    {problem}")
    return 1 if failed else 0


def run_remove(args: argparse.Namespace) -> int:
    from facemap_gui.models.status import remove

    for entry in resolve(args.names):
        removed = remove(entry)
        kept = " (the copy bundled with the app stays)" if entry.bundled_path() else ""
        print(
            f"removed {entry.name}: {', '.join(map(str, removed))}{kept}"
            if removed
            else f"{entry.name}: not installed, nothing to remove{kept}"
        )
    return 0


def stand_in_files(_folder: Path, args: argparse.Namespace) -> dict[str, Kind]:
    """What `models stand-in DIR` writes into DIR: never over a file already there."""
    if args.as_release:
        from facemap_gui.models.standins.replica import release_folder

        return {f"{release_folder(args.precision)}.zip": NEW_FILE}
    from facemap_gui.models.catalogue import BASIS_FILES
    from facemap_gui.models.standins import MANIFEST_FILE, MODEL_FILE, W8A8_FILE

    names = [MODEL_FILE, *BASIS_FILES, MANIFEST_FILE, *[W8A8_FILE] * (args.precision == "w8a8")]
    return dict.fromkeys(names, NEW_FILE)


def run_stand_in(args: argparse.Namespace) -> int:
    from facemap_gui.models.standins import STAND_IN_NOTE, write_stand_in

    if args.as_release:
        from facemap_gui.models.standins.replica import write_release

        path = write_release(args.directory, args.precision, arch=args.arch, seed=args.seed)
        print(f"wrote {path} ({STAND_IN_NOTE})")
        return 0
    path = write_stand_in(args.directory, arch=args.arch, seed=args.seed, precision=args.precision)
    print(f"wrote {path} and its basis files ({STAND_IN_NOTE})")
    return 0
