"""The runtimes by name (npu, gpu, cpu), which of them can run here, and opening sessions with an honest
start-up fallback: NPU/GPU → CPU and w8a8 → float only with a reason the user is shown (never with --strict).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import onnxruntime as ort

from facemap_gui.core.choices import RUNTIME_NAMES
from facemap_gui.core.errors import FacemapError, ModelError, RuntimeUnavailable
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.inference.runtime.base import Runtime, RuntimeInfo, RuntimeSettings
from facemap_gui.inference.runtime.check import check_model_once
from facemap_gui.inference.runtime.qnn import GPU, NPU
from facemap_gui.inference.runtime.session import CpuRuntime, LandmarkSession, landmark_session

log = logging.getLogger(__name__)

RUNTIMES: dict[str, Runtime] = {runtime.key: runtime for runtime in (NPU, GPU, CpuRuntime())}
assert tuple(RUNTIMES) == RUNTIME_NAMES, "choices.RUNTIME_NAMES names these runtimes, in this order"


def available_runtimes(allow_simulator: bool = False) -> dict[str, str | None]:
    """Each runtime key → None when it can run here, else one line saying why not (for menus and doctor)."""
    return {key: runtime.unavailable_reason(allow_simulator) for key, runtime in RUNTIMES.items()}


def open_on_runtime(
    path: Path, runtime: str, precision: str, settings: RuntimeSettings
) -> tuple[ort.InferenceSession, RuntimeInfo]:
    """A ready session for any float-input ONNX model on `runtime`. Without --strict an unavailable NPU/GPU
    runs on the CPU instead; `info.requested` and `info.fallback_reason` then say so (as they do when some
    nodes run off the NPU/GPU). The caller tells the user (`log_fallback`)."""
    if runtime not in RUNTIMES:
        raise FacemapError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    try:
        session, info = RUNTIMES[runtime].create(path, precision, settings)
    except RuntimeUnavailable as exc:
        if runtime == "cpu":
            raise RuntimeUnavailable(f"--runtime {runtime}: {exc}") from exc
        reason = fall_back(settings, f"--runtime {runtime}", exc)
        session, info = RUNTIMES["cpu"].create(path, precision, settings)
        return session, replace(
            info, requested=f"{runtime}/{precision}", fallback_reason=f"{runtime.upper()} unavailable: {reason}"
        )
    if info.fallback_reason:
        info = replace(info, requested=f"{runtime}/{precision}")
    return session, info


def fall_back(settings: RuntimeSettings, request: str, why: FacemapError) -> str:
    """The one rule for every request the run cannot honour (runtime, precision, tracking): with --strict an
    error naming the request; otherwise the reason, which the caller records beside what runs instead (the
    header's `requested` and `fallback_reason`) and tells (stderr, the window's status bar)."""
    if settings.strict:
        raise type(why)(f"{request}: {why}") from why
    return str(why)


def log_fallback(what: str, info: RuntimeInfo) -> None:
    if info.fallback_reason:
        log.warning(
            "%s: asked for %s, running %s because %s", what, info.requested, info.summary(), info.fallback_reason
        )


def open_landmark_session(
    model_path: Callable[[str], Path],
    runtime: str,
    precision: str,
    settings: RuntimeSettings,
    basis: Callable[[Path], Path] | None = None,
) -> LandmarkSession:
    """A ready session for the landmark model of `precision` on `runtime`; `basis(model file)` names the basis
    folder it runs with, so that the session's provenance (real or stand-in) covers both.

    `model_path(precision)` names the model file and raises ModelError when that variant is missing: without
    --strict a missing w8a8 variant runs the float model, with the reason in `info` beside any runtime
    fallback (see `open_on_runtime`), and a warning is logged. With --strict both raise instead.
    """
    requested = f"{runtime}/{precision}"
    reasons: list[str] = []
    try:
        path = model_path(precision)
    except ModelError as exc:
        if precision == "float":
            raise
        reasons.append(f"no w8a8 model ({fall_back(settings, f'--precision {precision}', exc)})")
        precision = "float"
        path = model_path(precision)
    model = inspect_model(path, basis(path) if basis else None)
    check_model_once(model)  # bounded, in a child process: a hostile graph never runs unbounded here
    session, info = open_on_runtime(model.path, runtime, precision, settings)
    if info.fallback_reason:
        reasons.append(info.fallback_reason)
    if reasons:
        info = replace(info, requested=requested, fallback_reason="; ".join(reasons))
        log_fallback("landmark model", info)
    return landmark_session(session, model, info)
