"""What the app records about installed models: `installed.json` says what was installed from where with its
sha256 (for `verify`), `trusted.json` holds the checksums first seen for files Qualcomm publishes none for (trust
on first use). Both are read through one checked reader each: damaged records, unknown entries and paths that
leave an entry's folder are refused with a one-line error before anything relies on them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from facemap_gui.core import store
from facemap_gui.core.atomic import write_atomic
from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import ModelError
from facemap_gui.models.catalogue import ENTRIES, Entry, RemoteFile, entry_for_download

RECORD_FILE = "installed.json"
TRUST_FILE = "trusted.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileRecord:
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Installed:
    entry: Entry
    files: tuple[FileRecord, ...]
    stand_in: bool
    source: str
    check: str  # how the source was vouched for: a checksum, trust on first use, or its content only


def read_json(path: Path) -> dict:
    """A JSON object of objects (installed.json, trusted.json, a manifest's top level), or ModelError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: damaged ({exc}); delete it and install the models again") from exc
    return data


def read_records(path: Path) -> dict[str, dict]:
    records = read_json(path)
    wrong = next((name for name, value in records.items() if not isinstance(value, dict)), None)
    if wrong is not None:
        raise ModelError(
            f"{path}: damaged (its entry {wrong!r} is not an object); delete it and install the models again"
        )
    return records


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def trust_path() -> Path:
    return store.models_dir() / TRUST_FILE


def record_path() -> Path:
    return store.models_dir() / RECORD_FILE


def trusted_records() -> dict[str, dict]:
    """trusted.json, each entry checked to hold a sha256 (a malformed one would refuse every genuine copy)."""
    records = read_records(trust_path())
    wrong = next((n for n, r in records.items() if not _SHA256.fullmatch(str(r.get("sha256")))), None)
    if wrong is not None:
        raise ModelError(
            f"{trust_path()}: damaged (its entry {wrong!r} has no sha256); delete that entry and install "
            "the models again"
        )
    return records


def expected_sha256(remote: RemoteFile) -> str | None:
    """The sha256 a copy of `remote` must have: published in the catalogue, or recorded at first use."""
    return remote.sha256 or trusted_records().get(remote.filename, {}).get("sha256")


def check_origin(path: Path, source: str) -> tuple[str, dict[str, dict]]:
    """Compare a file named like a catalogue download with its known checksum (raises ModelError if it
    differs). Returns how it was vouched for, and the trust record to keep if this is its first use."""
    found = entry_for_download(path.name)
    assert found is not None, f"{path.name} is not a catalogue download"  # the callers check first
    remote = found[1]
    digest = file_sha256(path)
    expected = expected_sha256(remote)
    if expected is None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return (
            f"{path.name}: no published checksum, trusted on first use",
            {remote.filename: {"sha256": digest, "size": path.stat().st_size, "first_seen": now, "source": source}},
        )
    origin = "published" if remote.sha256 else "first-use"
    if digest != expected:
        fix = (
            ""
            if remote.sha256
            else (
                f" If the publisher really replaced the file, delete its entry from {trust_path()} and install again."
            )
        )
        raise ModelError(
            f"{path}: sha256 {digest} differs from the {origin} checksum {expected} of "
            f"{remote.filename}: damaged or not the original file, nothing installed.{fix}"
        )
    return f"{path.name}: sha256 matches the {origin} checksum", {}


def _files(entry: Entry, record: dict) -> dict[Path, FileRecord]:
    """The files a record names, each checked to lie inside the entry's own folder and, but for a model's
    external data, to be one of its catalogue files (a tampered record must not make `remove` delete, or
    `verify` read, anything else)."""
    folder = entry.install_dir()
    try:
        files = {}
        for rel, f in record.get("files", {}).items():
            relative = PurePosixPath(str(rel))
            path = store.models_dir() / relative
            if relative.is_absolute() or ".." in relative.parts or not path.resolve().is_relative_to(folder.resolve()):
                raise ValueError(f"{rel!r} is outside {folder}")
            if entry.kind != "landmark" and path not in entry.paths():  # a model's external data has any name
                raise ValueError(f"{rel!r} is not one of its files")
            files[path] = FileRecord(path, int(f["size"]), str(f["sha256"]))
        return files
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{record_path()}: damaged (the files of {entry.name}: {exc}); delete it and install the models again"
        ) from exc


def installed_records() -> dict[str, dict]:
    """installed.json, every entry checked (a catalogue name, files inside its folder): the one reader of it."""
    records = read_records(record_path())
    for name, record in records.items():
        if name not in ENTRIES:
            raise ModelError(
                f"{record_path()}: records {name!r}, which is not in the model catalogue; delete that entry "
                "(or the file) and install the models again"
            )
        _files(ENTRIES[name], record)
    return records


def recorded_files(entry: Entry) -> dict[Path, FileRecord]:
    return _files(entry, installed_records().get(entry.name, {}))


def record_installed(installed: Installed) -> None:
    """Add an install to installed.json (the caller holds the data folder's lock: a read-modify-write)."""
    records = installed_records()
    files = {
        f.path.relative_to(store.models_dir()).as_posix(): {"size": f.size, "sha256": f.sha256} for f in installed.files
    }
    previous = records.get(installed.entry.name, {}).get("files", {}) if installed.entry.kind != "landmark" else {}
    records[installed.entry.name] = {
        "source": installed.source,
        "check": installed.check,
        "stand_in": installed.stand_in,
        "installed": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {**previous, **files},
    }
    write_json(record_path(), records)
