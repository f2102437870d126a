"""Puts models into the data directory: from a download, a zip, a folder or single files.

Every file is checked before it is put in place (ONNX inputs/outputs, .npy shapes without unpickling,
checksums) and put in place atomically: the entry's folder is staged beside it and swapped in, then recorded
(records.py), all under the models folder's lock (folder.py). Downloads go through the same checks.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from facemap_gui.core import store
from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import FacemapError, ModelError
from facemap_gui.inference.landmarks.decode import BASIS_SHAPES, load_npy
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.inference.landmarks.onnx_proto import load_graph
from facemap_gui.inference.landmarks.provenance import read_provenance
from facemap_gui.inference.landmarks.release import METADATA_FILES
from facemap_gui.inference.runtime.base import PRECISIONS
from facemap_gui.inference.runtime.check import check_model_runs
from facemap_gui.models import folder
from facemap_gui.models.archive import unpack_zip
from facemap_gui.models.catalogue import DEFAULT_NAMES, ENTRIES, Entry, entry_for_download, resolve
from facemap_gui.models.download import Downloader, DownloadError
from facemap_gui.models.records import (
    FileRecord,
    Installed,
    check_origin,
    expected_sha256,
    installed_records,
    record_installed,
    trust_path,
    trusted_records,
    write_json,
)
from facemap_gui.models.reference import READERS, REFERENCE_FILES

log = logging.getLogger(__name__)

# Operators of a quantised (QDQ or integer) graph: their presence makes an ONNX file the w8a8 variant.
QUANTIZED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
)
KNOWN_FILES = (
    "a facemap_3dmm .onnx or .zip, meanFace/shapeBasis/blendShape .npy, a BlazeFace .tflite, or the "
    "self-test's face_img.jpg/face_img_fbox.txt/face_img_lmk.txt"
)


@dataclass
class _Plan:
    """One entry's files, checked and ready to be copied: source file → installed path."""

    entry: Entry
    copies: list[tuple[Path, Path]]
    stand_in: bool


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds, including those in node attributes and subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            yield from ([attr.t] if attr.HasField("t") else [])
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _external_data(model: Any, model_path: Path) -> list[str]:
    """The external-data files a model refers to, as relative paths beside it (checked to stay there and to
    hold every byte the model reads from them)."""
    ends: dict[str, int] = {}
    for tensor in _tensors(model.graph):
        entries = {entry.key: entry.value for entry in tensor.external_data}
        if "location" in entries:
            offset, length = (entries.get(key, "0") for key in ("offset", "length"))
            if not (offset.isascii() and offset.isdigit() and length.isascii() and length.isdigit()):
                raise ModelError(
                    f"{model_path}: tensor {tensor.name!r} has external-data offset {offset!r} and length "
                    f"{length!r}, not whole numbers; the model is damaged: download the release zip again"
                )
            ends[entries["location"]] = max(ends.get(entries["location"], 0), int(offset) + int(length))
    for location, end in ends.items():
        relative = PurePosixPath(location.replace("\\", "/"))
        file = model_path.parent / relative
        if relative.is_absolute() or ".." in relative.parts or not file.is_file():
            raise ModelError(
                f"{model_path}: its weights file {location!r} is missing or outside the model's "
                "folder; install the whole zip the model came in"
            )
        if file.stat().st_size < end:
            raise ModelError(
                f"{file}: truncated ({file.stat().st_size} bytes, the model reads {end}); download "
                "the release zip again"
            )
    return sorted(ends)


def _plan_landmark(path: Path, precision: str | None) -> _Plan:
    info = inspect_model(path)  # the I/O check (and the release metadata's), with its one-line errors
    model = load_graph(path)
    external = _external_data(model, path)
    check_model_runs(info)
    quantized = any(node.op_type in QUANTIZED_OPS for node in model.graph.node)
    from_metadata = info.metadata.precision if info.metadata and info.metadata.precision in PRECISIONS else None
    precision = precision or from_metadata or ("w8a8" if quantized else "float")
    target = store.landmark_model_path(precision)
    copies = [(path, target)] + [(path.parent / rel, target.parent / rel) for rel in external]
    if info.metadata:  # kept beside the model: its I/O cross-check and tool versions are read from there
        copies.append((info.metadata.path, target.parent / info.metadata.path.name))
    if info.stand_in:
        log.warning("%s is a STAND-IN model with random weights; it is installed as such and labelled everywhere", path)
    return _Plan(ENTRIES[f"facemap_3dmm-{precision}"], copies, info.stand_in)


def _plan_basis(paths: list[Path]) -> _Plan:
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise ModelError(f"{paths[0].parent}: more than one copy of a basis file ({', '.join(sorted(names))})")
    for path in paths:
        load_npy(path, BASIS_SHAPES[path.stem])
    stand_in = read_provenance(paths).stand_in  # one stand-in file makes the whole set a stand-in
    return _Plan(ENTRIES["basis"], [(p, store.basis_dir() / p.name) for p in paths], stand_in)


def _plan_reference(paths: list[Path]) -> _Plan:
    """Qualcomm's self-test files; replicas made from a stand-in say so in a manifest beside them."""
    entry = ENTRIES["reference"]
    for path in paths:
        READERS[path.name](path)
    return _Plan(entry, [(p, entry.install_dir() / p.name) for p in paths], read_provenance(paths).stand_in)


def _plan_detector(path: Path) -> _Plan:
    digest = file_sha256(path)
    for entry in ENTRIES.values():
        if entry.kind == "detector" and entry.files[0].sha256 == digest:
            return _Plan(entry, [(path, entry.paths()[0])], False)
    raise ModelError(
        f"{path}: not one of the published BlazeFace models (sha256 {digest}); use it directly with `--detector FILE`"
    )


def _plan(files: list[Path], precision: str | None, strict: bool, source: str) -> list[_Plan]:
    """Sort files by what they are and check each; unknown files are an error only when named directly."""
    models = [f for f in files if f.suffix.lower() == ".onnx"]
    basis = [f for f in files if f.name in {f"{name}.npy" for name in BASIS_SHAPES}]
    detectors = [f for f in files if f.suffix.lower() == ".tflite"]
    reference = [f for f in files if f.name in REFERENCE_FILES]
    if strict and len(models + basis + detectors + reference) < len(files):
        raise ModelError(f"{files[0]}: not a file this app installs ({KNOWN_FILES})")
    if not (models or basis or detectors or reference):
        metadata = [f for f in files if f.name in METADATA_FILES]
        if metadata:
            raise ModelError(
                f"{source}: has {metadata[0].name} but no .onnx model: an incomplete release; download the zip again"
            )
        raise ModelError(f"{source}: holds nothing this app installs ({KNOWN_FILES})")
    plans = [_plan_landmark(f, precision) for f in models]
    precisions = [p.entry.precision for p in plans]
    if len(set(precisions)) != len(precisions):
        raise ModelError(
            f"{source}: holds more than one {precisions[0]} facemap_3dmm model "
            f"({', '.join(str(f) for f in models)}); install them one at a time"
        )
    if basis:
        plans.append(_plan_basis(basis))
    plans += [_plan_detector(f) for f in detectors]
    plans += [_plan_reference(reference)] if reference else []
    used = {src for plan in plans for src, _ in plan.copies}
    for path in files:
        if path not in used:
            log.info("%s: skipped (not a model file)", path)
    return plans


# --- putting files in place -----------------------------------------------------------------------------


def _place(plan: _Plan, source: str, check: str) -> Installed:
    """Stage the entry's folder (a model and its external data alone; other kinds keep the files already
    there), swap it in and record it; see folder.py for what an interruption leaves."""
    final = plan.entry.install_dir()
    stage = folder.stage_folder(final, keep_current=plan.entry.kind != "landmark")
    files = []
    for copied, target in plan.copies:
        staged = stage / target.relative_to(final)
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copied, staged)
        files.append(FileRecord(target, staged.stat().st_size, file_sha256(staged)))
    installed = Installed(plan.entry, tuple(files), plan.stand_in, source, check)
    folder.swap_in(stage, final, lambda: record_installed(installed))
    return installed


def install_path(path: Path, precision: str | None = None, source: str | None = None) -> list[Installed]:
    """Install what a zip, a folder or a single file holds; returns one Installed per catalogue entry.

    What a file is comes from its name and content: .onnx files are checked as facemap_3dmm models (w8a8
    when the graph is quantised, unless `precision` says), basis .npy files by name and shape, .tflite files
    by their published checksum. A file named like a catalogue download must match its checksum. `source` is
    what the record names as its origin (default: the path; a download's URL)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    source = source or str(path.resolve())
    try:
        with folder.locked():
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
                return _install(_plan(files, precision, False, source), source)
            if path.suffix.lower() == ".zip":
                origin = check_origin(path, source) if entry_for_download(path.name) else None
                store.cache_dir().mkdir(parents=True, exist_ok=True)
                with (
                    tempfile.TemporaryDirectory(prefix=folder.UNPACK_PREFIX, dir=store.cache_dir()) as tmp,
                    _named_in_zip(path, Path(tmp)),
                ):
                    return _install(_plan(unpack_zip(path, Path(tmp)), precision, False, source), source, origin)
            return _install(_plan([path], precision, True, source), source)
    except OSError as exc:
        raise ModelError(f"{path}: could not install into {store.models_dir()} ({exc})") from exc


@contextlib.contextmanager
def _named_in_zip(archive: Path, unpacked: Path) -> Iterator[None]:
    """An error about an unpacked member names it inside the zip the user gave (`models.zip/metadata.json`),
    not in the temporary folder that is gone by the time the message is read."""
    try:
        yield
    except FacemapError as exc:
        text = str(exc).replace(f"{unpacked}{os.sep}", f"{archive}/")
        if text == str(exc):
            raise
        renamed = copy.copy(exc)  # the same kind of error, only its words changed
        renamed.args = (text,)
        raise renamed from exc


def _install(
    plans: list[_Plan], source: str, archive_origin: tuple[str, dict[str, dict]] | None = None
) -> list[Installed]:
    """Check every file named like a catalogue download against its checksum first, then put each plan in
    place and record it; first-use checksums are kept only once their files are installed."""
    installed_records()  # damaged records are refused before anything is replaced
    origins = [[archive_origin] if archive_origin else [] for _ in plans]
    for plan, checked in zip(plans, origins, strict=True):
        checked += [check_origin(src, source) for src, _ in plan.copies if entry_for_download(src.name)]
    results, trusted = [], trusted_records()
    for plan, checked in zip(plans, origins, strict=True):
        notes = []
        for note, first_use in checked:
            for record in first_use.values():
                if plan.stand_in:  # a stand-in never becomes the trusted copy of a real file
                    note += " (not recorded: this is a stand-in)"
                else:
                    note += f" (sha256 {record['sha256']} recorded in {trust_path()})"
            trusted.update({} if plan.stand_in else first_use)
            notes.append(note)
        check = "; ".join(dict.fromkeys(notes)) or "not a catalogue download: checked by content only"
        results.append(_place(plan, source, check))
    if trusted != trusted_records():
        write_json(trust_path(), trusted)
    return results


# --- downloading ----------------------------------------------------------------------------------------


def missing(names: Iterable[str] = DEFAULT_NAMES) -> list[str]:
    """The names among `names` that are not (fully) installed: what a first run has to download."""
    return [e.name for e in resolve(names) if not all(p.is_file() for p in e.paths())]


def download(names: Iterable[str], downloader: Downloader) -> list[Installed]:
    """Download each entry's files (checked against the published or first-use checksum) and install them."""
    downloads = store.cache_dir().resolve() / "downloads"  # as install_path names it
    results = []
    todo = [(entry, remote) for entry in resolve(names) for remote in entry.files]
    for number, (entry, remote) in enumerate(todo):
        url = remote.source_url()
        target = downloads / remote.filename
        log.info("downloading %s from %s", remote.filename, url)
        try:
            downloader.fetch(url, target, expected_sha256(remote), remote.size)
        except DownloadError as exc:  # the offline way names every file still missing, not only this one
            raise DownloadError(url, exc.reason, tuple(r.source_url() for _, r in todo[number:])) from exc
        try:
            installed = install_path(target, entry.precision, url)
        except ModelError as exc:  # the user knows the URL; the downloaded copy is deleted below
            raise ModelError(str(exc).replace(str(target), url)) from exc
        finally:
            target.unlink(missing_ok=True)  # the files are installed (or rejected): no need to keep it
        if entry not in [i.entry for i in installed]:
            raise ModelError(f"{url}: holds no {entry.name} ({KNOWN_FILES} expected)")
        results += installed
    return results
