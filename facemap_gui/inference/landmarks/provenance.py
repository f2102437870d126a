"""Whether a run's files are the real ones or stand-ins (random weights, synthetic data), decided in one place.

A stand-in says so inside its own files, where the mark travels with them wherever they are copied: the ONNX
metadata of a model, the release metadata beside a release replica, a comment in a .npy header, and the
manifest.json that `standins/` writes beside what it makes. `read_provenance` is the one reader of all of them;
a session's ModelInfo carries its value, and every output is labelled from that.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.onnx_proto import load_graph
from facemap_gui.inference.landmarks.release import find_metadata, read_metadata

STAND_IN_KEY = "facemap_gui.stand_in"  # in a stand-in model's ONNX metadata_props, "true"
# In a stand-in .npy's header: a comment numpy's header parser skips.
STAND_IN_NPY_MARK = b"# facemap_gui.stand_in"
MANIFEST_FILE = "manifest.json"  # beside generated files, {"stand_in": true, ...}


@dataclass(frozen=True)
class Provenance:
    """Real (no marks), or a stand-in with every mark that says so ("file: which mark")."""

    marks: tuple[str, ...] = ()

    @property
    def stand_in(self) -> bool:
        return bool(self.marks)

    def summary(self) -> str:
        """The first mark, and how many more there are (a log line's worth)."""
        more = f", and {len(self.marks) - 1} more" if len(self.marks) > 1 else ""
        return f"{self.marks[0]}{more}" if self.marks else "no stand-in marks"


def npy_with_stand_in_mark(array: np.ndarray) -> bytes:
    """`array` as .npy bytes (format 1.0) whose header carries STAND_IN_NPY_MARK."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    length = int.from_bytes(data[8:10], "little")
    header = data[10 : 10 + length].rstrip(b"\n ") + b" " + STAND_IN_NPY_MARK
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"  # numpy aligns the data to 64 bytes
    return data[:8] + len(header).to_bytes(2, "little") + header + data[10 + length :]


def _npy_marked(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
        width = 2 if head[6:7] == b"\x01" else 4  # format 1.0: a 2-byte header length; 2.0 and 3.0: 4 bytes
        length = int.from_bytes(head[8 : 8 + width], "little")
        f.seek(8 + width)
        return STAND_IN_NPY_MARK in f.read(min(length, 1 << 16))


def _manifest_marked(folder: Path) -> bool:
    """Whether a manifest beside the files says stand-in; one that cannot be read is an error, not a "no"."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: damaged ({type(exc).__name__}); delete it, or make the stand-in again") from exc
    return isinstance(data, dict) and bool(data.get("stand_in"))


def read_provenance(files: Iterable[Path], graph: Any = None) -> Provenance:
    """The provenance of the files a run uses together (a model and its basis, basis files, the self-test's
    files), from every mark they carry: a stand-in when any of them is one, so a real model run with a stand-in
    basis is never called real. Missing files are skipped (their loaders report them). `graph`: the model's
    ModelProto when the caller has parsed it already (`inspect_model`), so a large model is not parsed twice."""
    marks = []
    files = [Path(f) for f in files if Path(f).is_file()]
    for path in files:
        if path.suffix == ".onnx":
            props = {p.key: p.value for p in (graph if graph is not None else load_graph(path)).metadata_props}
            if props.get(STAND_IN_KEY, "").lower() == "true":
                marks.append(f"{path}: ONNX metadata {STAND_IN_KEY}")
            release = find_metadata(path.parent)
            if release and read_metadata(release).stand_in:
                marks.append(f"{release}: stand-in release metadata")
        elif path.suffix == ".npy" and _npy_marked(path):
            marks.append(f"{path}: stand-in .npy header")
    folders = dict.fromkeys(path.parent for path in files)
    marks += [f"{folder / MANIFEST_FILE}: stand-in manifest" for folder in folders if _manifest_marked(folder)]
    return Provenance(tuple(marks))
