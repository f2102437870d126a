"""What the app records about installed models: `installed.json` says what was installed from where with its
sha256 (for `verify`), `trusted.json` holds the checksums first seen for files Qualcomm publishes none for (trust
on first use). Damaged records are refused with a one-line error before anything relies on them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from facemap_gui import store
from facemap_gui.atomic import write_atomic
from facemap_gui.errors import ModelError
from facemap_gui.landmarks.model import file_sha256
from facemap_gui.models.catalogue import Entry, RemoteFile, entry_for_download

RECORD_FILE = "installed.json"
TRUST_FILE = "trusted.json"


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


def expected_sha256(remote: RemoteFile) -> str | None:
    """The sha256 a copy of `remote` must have: published in the catalogue, or recorded at first use."""
    return remote.sha256 or read_records(trust_path()).get(remote.filename, {}).get("sha256")


def check_origin(path: Path, source: str) -> tuple[str, dict[str, dict]]:
    """Compare a file named like a catalogue download with its known checksum (raises ModelError if it
    differs). Returns how it was vouched for, and the trust record to keep if this is its first use."""
    remote = entry_for_download(path.name)[1]
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


def record_installed(installed: Installed) -> None:
    records = read_records(record_path())
    files = {
        f.path.relative_to(store.models_dir()).as_posix(): {"size": f.size, "sha256": f.sha256} for f in installed.files
    }
    previous = records.get(installed.entry.name, {}).get("files", {}) if installed.entry.kind == "basis" else {}
    records[installed.entry.name] = {
        "source": installed.source,
        "check": installed.check,
        "stand_in": installed.stand_in,
        "installed": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {**previous, **files},
    }
    write_json(record_path(), records)


def recorded_files(entry: Entry) -> dict[Path, FileRecord]:
    files = read_records(record_path()).get(entry.name, {}).get("files", {})
    try:
        return {
            store.models_dir() / rel: FileRecord(store.models_dir() / rel, int(f["size"]), str(f["sha256"]))
            for rel, f in files.items()
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{record_path()}: damaged (the files of {entry.name}: {exc!r}); delete it and install the models again"
        ) from exc
