"""What the app can download: each entry's files (URL, size and sha256 where published) and where it installs.

Qualcomm publishes no checksums for facemap_3dmm or its basis files, so those are trusted on first use: the
sha256 of the first copy seen (downloaded or installed from a file) is recorded and every later copy must
match it (see `install.py`). The BlazeFace files have checksums published by MediaPipe and are byte-identical
to the copies bundled in `facemap_gui/data/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from facemap_gui.core import store
from facemap_gui.core.errors import ModelError

QAIHUB = "https://qaihub-public-assets.s3.us-west-2.amazonaws.com/qai-hub-models/models/facemap_3dmm"
MEDIAPIPE = "https://storage.googleapis.com/mediapipe-assets"
QUALCOMM_LICENCE = (
    "Qualcomm AI Hub model licence: see https://huggingface.co/qualcomm/Facial-Landmark-Detection before redistributing"
)
BASIS_FILES = ("meanFace.npy", "shapeBasis.npy", "blendShape.npy")
# Published beside the basis files: Qualcomm's reference case (models/reference.py reads it).
REFERENCE_FILES = ("face_img.jpg", "face_img_fbox.txt", "face_img_lmk.txt")
# Set to a URL prefix (e.g. an internal mirror holding the same file names) to fetch every file from there
# instead; checksums are checked exactly as for the original URLs.
MIRROR_ENV = "FACEMAP_GUI_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str | None = None  # None: not published, trusted on first use
    size: int | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1].split("?", 1)[0]

    def source_url(self) -> str:
        mirror = os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "landmark", "basis", "detector" or "reference"
    description: str
    licence: str
    files: tuple[RemoteFile, ...]
    precision: str | None = None  # landmark models only
    detector_range: str | None = None  # detectors only

    def install_dir(self) -> Path:
        if self.kind == "landmark":
            return self._model_path().parent
        if self.kind == "basis":
            return store.basis_dir()
        if self.kind == "reference":
            return store.models_dir() / "reference"
        return store.models_dir() / "detectors"

    def paths(self) -> tuple[Path, ...]:
        """The files whose presence means the entry is installed (a model's external data is in its record)."""
        if self.kind == "landmark":
            return (self._model_path(),)
        if self.kind == "basis":
            return tuple(store.basis_dir() / name for name in BASIS_FILES)
        return tuple(self.install_dir() / remote.filename for remote in self.files)

    def bundled_path(self) -> Path | None:
        return store.bundled_detector_path(self.detector_range) if self.detector_range is not None else None

    def _model_path(self) -> Path:
        assert self.precision is not None, f"landmark entry {self.name} has no precision"
        return store.landmark_model_path(self.precision)


def _landmark(precision: str, size_note: str) -> Entry:
    return Entry(
        name=f"facemap_3dmm-{precision}",
        kind="landmark",
        precision=precision,
        licence=QUALCOMM_LICENCE,
        description=f"Qualcomm facemap_3dmm landmark model, ONNX {precision} (release v0.54.0, {size_note})",
        files=(RemoteFile(f"{QAIHUB}/releases/v0.54.0/facemap_3dmm-onnx-{precision}.zip"),),
    )


def _detector(detector_range: str, generation: str, sha256: str, size: int, note: str) -> Entry:
    # Generation-pinned URLs and checksums as listed in MediaPipe's third_party/external_files.bzl.
    filename = store.BUNDLED_DETECTORS[detector_range]
    return Entry(
        name=f"blazeface-{detector_range}",
        kind="detector",
        detector_range=detector_range,
        licence="Apache-2.0 (Google MediaPipe)",
        description=f"MediaPipe BlazeFace {note} (bundled with the app)",
        files=(RemoteFile(f"{MEDIAPIPE}/{filename}?generation={generation}", sha256, size),),
    )


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        _landmark("float", "~21 MB"),
        _landmark("w8a8", "~5 MB"),
        Entry(
            name="basis",
            kind="basis",
            licence=QUALCOMM_LICENCE,
            description="3DMM basis (meanFace, shapeBasis, blendShape) needed to decode the model's 265 outputs",
            files=tuple(RemoteFile(f"{QAIHUB}/v1/{name}") for name in BASIS_FILES),
        ),
        Entry(
            name="reference",
            kind="reference",
            licence=QUALCOMM_LICENCE,
            description="Qualcomm's reference test case (image, face box, 68 landmarks) for `doctor --selftest`",
            files=tuple(RemoteFile(f"{QAIHUB}/v1/{name}") for name in REFERENCE_FILES),
        ),
        _detector(
            "short",
            "1677044301978921",
            "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            229714,
            "short-range face detector",
        ),
        _detector(
            "full",
            "1674261618323821",
            "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            676746,
            "full-range (sparse) face detector",
        ),
    )
}
# What `models download` fetches without names: both precisions (the app switches between them) and the basis.
# The detectors are bundled, so they are downloaded only when named.
DEFAULT_NAMES = ("facemap_3dmm-float", "facemap_3dmm-w8a8", "basis")


def resolve(names: Iterable[str]) -> list[Entry]:
    """Catalogue entries by name, in the order given, without duplicates."""
    entries: list[Entry] = []
    for name in dict.fromkeys(names):
        if name not in ENTRIES:
            raise ModelError(f"{name!r} is not in the model catalogue; known: {', '.join(ENTRIES)}")
        entries.append(ENTRIES[name])
    return entries


def entry_for_download(filename: str) -> tuple[Entry, RemoteFile] | None:
    """The catalogue file a local file is a copy of, judged by its name (as published)."""
    for entry in ENTRIES.values():
        for remote in entry.files:
            if remote.filename == filename:
                return entry, remote
    return None
