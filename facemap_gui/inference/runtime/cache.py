"""Compiled-model (EPContext) cache for QNN HTP sessions, in the user cache directory.

Compiling a model for the HTP is the slow part of opening an NPU session; the compiled context is saved as
an ONNX file with the context embedded and loaded next time. A context is tied to the model bytes, the
precision, the backend options, the SoC and the ONNX Runtime / QNN versions, so all of them are in the key:
a change of any of them is a different file, never a stale hit. An entry that will not load, or whose bytes
changed since it was written (checked against the sha256 kept beside it), is compiled again, not an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from facemap_gui.core import store
from facemap_gui.core.atomic import replacing, write_atomic
from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import RuntimeUnavailable

log = logging.getLogger(__name__)

FORMAT = "2"  # bump when the way entries are written changes
# Opens (and runs once) a session of a model file with extra session config entries; raises RuntimeUnavailable.
CreateSession = Callable[[Path, dict[str, str]], tuple[ort.InferenceSession, float]]


def cache_root() -> Path:
    return store.cache_dir() / "compiled"


def entry_for(source: Path, sha256: str, precision: str, context: dict[str, str]) -> Path:
    """The cache file for the model `source` (whose content hash is `sha256`) compiled for `precision` under
    `context` (backend options, device, versions): a hash of all of them, with the name kept readable."""
    key = {"format": FORMAT, "model_sha256": sha256, "precision": precision, "onnxruntime": ort.__version__, **context}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache_root() / f"{source.stem}-{precision}-{digest}.onnx"


def load_or_compile(
    entry: Path, source: Path, create: CreateSession
) -> tuple[tuple[ort.InferenceSession, float], str | None]:
    """A session from the cached context when it loads, else compiled from `source` while the context is
    written to the cache. Returns the session with its creation time, and "loaded", "written", "rebuilt"
    (an unusable entry was replaced) or None (the cache could not be written)."""
    state = "written"
    digest = entry.with_name(f"{entry.name}.sha256")
    if entry.is_file():
        # QNN loads a context binary with flipped bits without complaint and computes garbage with it (seen:
        # landmarks off by 1e4-1e8 px), so the bytes are checked before ONNX Runtime sees them.
        recorded = digest.read_text(encoding="ascii", errors="replace").strip() if digest.is_file() else None
        problem = None
        if recorded != file_sha256(entry):
            problem = f"{entry}: its bytes changed since it was written (sha256 mismatch)"
        else:
            try:
                return create(entry, {}), "loaded"
            except RuntimeUnavailable as exc:
                problem = str(exc)
        log.warning("compiled-model cache: %s; compiling it again", problem)
        state = "rebuilt"
    # Written beside the entry and renamed when complete. ORT refuses to overwrite a file, hence the unlinks;
    # writing the empty part first finds an unwritable cache here, where it costs only the cache, not the NPU.
    try:
        with replacing(entry) as part:
            try:
                entry.parent.mkdir(parents=True, exist_ok=True)
                entry.unlink(missing_ok=True)
                digest.unlink(missing_ok=True)
                part.write_bytes(b"")
                part.unlink()
            except OSError as exc:
                log.warning(
                    "%s: cannot write the compiled-model cache (%s); compiling without it",
                    entry.parent,
                    exc.strerror or exc,
                )
                return create(source, {}), None
            result = create(
                source, {"ep.context_enable": "1", "ep.context_file_path": str(part), "ep.context_embed_mode": "1"}
            )
            if not part.is_file():
                log.warning("%s: ONNX Runtime wrote no compiled model; the next session compiles again", entry)
                return result, None
            # The entry was removed above, so a crash before it is renamed into place just compiles again.
            write_atomic(digest, file_sha256(part))
    except OSError as exc:
        log.warning(
            "%s: cannot write the compiled-model cache (%s); the next session compiles again",
            entry,
            exc.strerror or exc,
        )
        return result, None
    return result, state
