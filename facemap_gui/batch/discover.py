"""What a batch runs: every video, and every folder of images, under the inputs (folders, globs, files)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from facemap_gui.core.choices import BATCH_FAILURES
from facemap_gui.core.errors import FacemapError, InputError, shown
from facemap_gui.sources.files import IMAGE_SUFFIXES, VideoSource, not_media

# Tried as videos without looking inside: one that does not open is a failure, not a file to pass over.
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".mkv",
        ".avi",
        ".mov",
        ".webm",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".ogv",
    }
)


OUTPUT_SUFFIXES = (".jsonl", ".csv", ".mkv")  # what a job may write for its input (batch.job.FileJob.outputs)


@dataclass
class Found:
    jobs: dict[str, Path] = field(default_factory=dict)  # relative path (names the outputs) → video or folder
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why it is not an input)

    def add(self, relative: str, source: Path) -> None:
        if f"{relative}.jsonl" == BATCH_FAILURES:
            raise FacemapError(
                f"{shown(source)}: its output would be OUT/{BATCH_FAILURES}, the batch's failure list; "
                "rename it or give the folder it is in"
            )
        if (other := self.jobs.setdefault(relative, source)) != source:
            raise FacemapError(
                f"{shown(source)} and {shown(other)}: both would be written as {shown(relative)}.jsonl; "
                "give them to separate runs or --output-dir folders"
            )

    def consider(self, path: Path, relative: str) -> None:
        """A file by its extension, else by its content (as `process` opens it)."""
        if problem := not_media(path):
            self.skipped.append((str(path), problem))
        elif path.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
            self.add(relative, path)
        else:
            try:
                VideoSource(path).close()
            except InputError as exc:
                self.skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
            else:
                self.add(relative, path)

    def check_outputs(self, out_dir: Path) -> None:
        """Refuse a batch where an input has the name of another input's output (with any options)."""
        sources = {source.resolve(): source for source in self.jobs.values()}
        for relative in self.jobs:
            for suffix in OUTPUT_SUFFIXES:
                if (source := sources.get(out_dir / f"{relative}{suffix}")) is not None:
                    raise FacemapError(
                        f"{shown(source)}: is where the output of {shown(relative)} would go; choose another "
                        "--output-dir"
                    )

    def walk(self, top: Path, base: Path, out_dir: Path) -> None:
        """Every file under `top`; a folder holding images is one image sequence. Hidden files and folders
        (part files among them) and the output folder are left out."""
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != out_dir)
            names = sorted(f for f in files if not f.startswith("."))
            if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in names):
                self.add(_relative(here, base), here)
            for name in (f for f in names if Path(f).suffix.lower() not in IMAGE_SUFFIXES):
                self.consider(here / name, _relative(here / name, base))


def _relative(path: Path, base: Path) -> str:
    relative = path.relative_to(base).as_posix()
    return path.name if relative == "." else relative


def _glob_base(pattern: str) -> Path:
    """The folder before a glob's first wildcard: matches are named relative to it."""
    parts = Path(pattern).parts
    literal = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return Path(*parts[:literal]) if literal else Path()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def discover(inputs: list[str], out_dir: Path) -> Found:
    """The jobs of `inputs`. The output folder is never read as an input: it may be inside an input folder or a
    glob's base folder (it is left out of them), but not be one (its outputs would be the next run's inputs)."""
    found = Found()
    out_dir = out_dir.resolve()
    for spec in inputs:
        magic = glob.has_magic(spec)
        if not magic and not os.path.lexists(spec):
            raise FacemapError(f"{shown(spec)}: no such file or folder; give videos, folders or a quoted glob")
        base = _glob_base(spec) if magic else Path(spec) if Path(spec).is_dir() else Path(spec).parent
        if base.resolve() == out_dir and (magic or Path(spec).is_dir()):
            raise FacemapError(
                f"--output-dir {shown(out_dir)}: is the folder of the inputs {shown(spec)}, so the next run would "
                "take the outputs for inputs; choose another folder (one inside it is fine)"
            )
        matches = [spec]
        if magic:
            matches = sorted(glob.glob(spec, recursive=True))
            if _inside(out_dir, base.resolve()):  # the outputs are among the matches: leave them out
                matches = [m for m in matches if not _inside(Path(m), out_dir)]
            if not matches:
                raise FacemapError(
                    f"{shown(spec)}: matches no file; check the pattern (quote it so the shell leaves it)"
                )
        for match in map(Path, matches):
            if match.is_dir():
                found.walk(match, base, out_dir)
            else:
                found.consider(match, _relative(match, base))
    found.check_outputs(out_dir)
    return found
