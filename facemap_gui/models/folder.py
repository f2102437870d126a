"""The models folder is shared by every facemap-gui process: one lock serialises the changes to it (installed.json,
trusted.json, folder swaps), and what a killed install left behind is settled the next time the folder is opened.

An install stages an entry's folder beside it (`.NAME-new-*`), moves the current one aside (`.NAME-old`), renames
the stage into place and records it; only then is the old folder deleted. A process killed between those steps
leaves `.NAME-old`: the next opening keeps the new folder if installed.json agrees with it, else puts the old one
back. Staging folders and `cache/unpack-*` folders are removed when no process holds the lock (their owner died).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from facemap_gui.core import store
from facemap_gui.core.digest import file_sha256
from facemap_gui.models.catalogue import ENTRIES
from facemap_gui.models.records import recorded_files

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
UNPACK_PREFIX = "unpack-"  # zips are unpacked into cache/unpack-* by installs, under the lock


_LOCKS: dict[Path, filelock.FileLock] = {}


def _lock() -> filelock.FileLock:
    path = store.models_dir() / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # One object per path, so a nested `locked()` in the same thread re-enters instead of waiting for itself.
    return _LOCKS.setdefault(path, filelock.FileLock(path))


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the models folder's lock (waiting for another process's install), with leftovers settled first."""
    lock = _lock()
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.warning("%s: another facemap-gui is changing the models; waiting for it to finish", store.models_dir())
        lock.acquire()
    try:
        if lock.lock_counter == 1:
            _settle()
        yield
    finally:
        lock.release()


def settle() -> None:
    """Finish or roll back what a killed install left; nothing when another process holds the lock (then the
    leftovers are its work in progress) or when the folder cannot even hold a lock file (nothing installed)."""
    try:
        lock = _lock()
        lock.acquire(timeout=0)
    except (filelock.Timeout, OSError):
        return
    try:
        _settle()
    finally:
        lock.release()


def _old(final: Path) -> Path:
    return final.with_name(f".{final.name}-old")


def _stages(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}-new-*"))


def _agrees_with_records(folder: Path) -> bool:
    """True when every file installed.json records in `folder` has the recorded sha256 (the swap was recorded)."""
    recorded = [f for e in ENTRIES.values() for p, f in recorded_files(e).items() if p.is_relative_to(folder)]
    return bool(recorded) and all(f.path.is_file() and file_sha256(f.path) == f.sha256 for f in recorded)


def _settle() -> None:
    for final in dict.fromkeys(e.install_dir() for e in ENTRIES.values()):
        old = _old(final)
        if old.is_dir():
            if final.is_dir() and _agrees_with_records(final):
                log.warning("%s: finishing an install that was interrupted", final)
                shutil.rmtree(old)
            else:
                log.warning("%s: an install was interrupted; the previous files are put back", final)
                shutil.rmtree(final, ignore_errors=True)
                old.rename(final)
        for stage in _stages(final):
            shutil.rmtree(stage, ignore_errors=True)
    for stale in (store.models_dir().rglob(".*.part"), store.cache_dir().glob(f"{UNPACK_PREFIX}*")):
        for path in stale:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def stage_folder(final: Path, keep_current: bool) -> Path:
    """A new hidden staging folder beside `final`, holding a copy of `final`'s files when `keep_current`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}-new-", dir=final.parent))
    if keep_current and final.is_dir():
        shutil.copytree(final, stage, dirs_exist_ok=True)
    return stage


def swap_in(stage: Path, final: Path, commit: Callable[[], None]) -> None:
    """Replace folder `final` by `stage`, then `commit` (record it). On any exception, a signal included, the
    previous folder is put back; a process killed on the way leaves `.NAME-old` for `settle` to resolve."""
    old = _old(final)
    had_final = final.is_dir()
    try:
        if had_final:
            final.rename(old)
        stage.rename(final)
        commit()
    except BaseException:
        if old.is_dir():
            shutil.rmtree(final, ignore_errors=True)
            old.rename(final)
        elif not had_final:
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
