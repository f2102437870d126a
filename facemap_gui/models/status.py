"""What is installed: each catalogue entry's files found on disk and checked by content, verified against
the records and published checksums, and removed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import BASIS_SHAPES, load_npy
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.inference.landmarks.provenance import read_provenance
from facemap_gui.inference.runtime.check import check_model_runs
from facemap_gui.models import folder
from facemap_gui.models.catalogue import ENTRIES, Entry
from facemap_gui.models.records import FileRecord, installed_records, record_path, recorded_files, write_json
from facemap_gui.models.reference import READERS


@dataclass(frozen=True)
class EntryStatus:
    entry: Entry
    files: tuple[FileRecord, ...]  # the entry's files found on disk, measured now
    missing: tuple[Path, ...]
    record: dict  # empty when the files were not installed by this app
    stand_in: bool
    problem: str = ""  # why the installed files cannot be used, if they cannot

    @property
    def installed(self) -> bool:
        return bool(self.files) and not self.missing


def _content_problem(entry: Entry, path: Path) -> str:
    """Check one installed file by content; returns the problem or ""."""
    try:
        if entry.kind == "landmark" and path == entry.paths()[0]:
            inspect_model(path)
        if entry.kind == "basis":
            load_npy(path, BASIS_SHAPES[path.stem])
        if entry.kind == "reference":
            READERS[path.name](path)
    except ModelError as exc:
        return str(exc)
    return ""


def status(entry: Entry) -> EntryStatus:
    record = installed_records().get(entry.name, {})
    expected = list(dict.fromkeys([*entry.paths(), *recorded_files(entry)]))
    present = tuple(FileRecord(p, p.stat().st_size, file_sha256(p)) for p in expected if p.is_file())
    problems = [problem for f in present if (problem := _content_problem(entry, f.path))]
    # What the install found, or the files' own marks (files copied in by hand have no record).
    stand_in = bool(record.get("stand_in")) or (not problems and read_provenance(f.path for f in present).stand_in)
    return EntryStatus(
        entry, present, tuple(p for p in expected if not p.is_file()), record, stand_in, "; ".join(problems)
    )


def verify(entry: Entry) -> list[str]:
    """What is wrong with an entry's installed files (empty when all is well): changed since they were
    installed, not the published file, or unusable."""
    current = status(entry)
    if not (current.files or current.record or entry.bundled_path()):
        return ["not installed"]
    problems = [f"{p}: missing" for p in current.missing if current.files or current.record]
    recorded = recorded_files(entry)
    for f in current.files:
        if f.path in recorded and recorded[f.path].sha256 != f.sha256:
            problems.append(
                f"{f.path}: changed since it was installed (sha256 {f.sha256}, recorded {recorded[f.path].sha256})"
            )
        published = entry.files[0].sha256 if entry.kind == "detector" else None
        if published and f.sha256 != published:
            problems.append(f"{f.path}: sha256 {f.sha256} is not the published {published}")
    bundled = entry.bundled_path()
    if bundled and file_sha256(bundled) != entry.files[0].sha256:
        problems.append(
            f"{bundled}: the bundled copy is damaged (sha256 differs from the published one); reinstall facemap-gui"
        )
    if entry.kind == "landmark" and entry.paths()[0].is_file() and not current.problem:
        try:
            check_model_runs(inspect_model(entry.paths()[0]))
        except ModelError as exc:
            problems.append(str(exc))
    return problems + ([current.problem] if current.problem else [])


def required(entry: Entry) -> bool:
    """Whether tracking needs this entry: the basis always, a landmark model unless another precision is
    installed (detectors are bundled, the reference case serves only the self-test)."""
    if entry.kind == "basis":
        return True
    landmarks = [e for e in ENTRIES.values() if e.kind == "landmark"]
    return entry.kind == "landmark" and not any(e.paths()[0].is_file() for e in landmarks)


def remove(entry: Entry) -> list[Path]:
    """Delete an entry's installed files and its record; returns what was deleted. Damaged records stop the
    removal before any file goes, and only files inside the entry's folder are ever named (records.py)."""
    with folder.locked():
        current = status(entry)
        records = installed_records()
        removed = [f.path for f in current.files]
        if entry.kind == "landmark":
            shutil.rmtree(entry.install_dir(), ignore_errors=True)
        else:
            for path in removed:
                path.unlink()
        if records.pop(entry.name, None) is not None:
            write_json(record_path(), records)
    return removed
