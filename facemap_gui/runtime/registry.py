"""The runtimes by name (npu, gpu, cpu), which of them can run here, and opening a session with an honest
start-up fallback: NPU/GPU → CPU and w8a8 → float only with a reason the user is shown (never with --strict).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from facemap_gui.errors import FacemapError, ModelError, RuntimeUnavailable
from facemap_gui.landmarks.model import inspect_model
from facemap_gui.runtime.base import Runtime, RuntimeSettings
from facemap_gui.runtime.qnn import GPU, NPU
from facemap_gui.runtime.session import CpuRuntime, LandmarkSession

log = logging.getLogger(__name__)

RUNTIMES: dict[str, Runtime] = {runtime.key: runtime for runtime in (NPU, GPU, CpuRuntime())}


def available_runtimes(allow_simulator: bool = False) -> dict[str, str | None]:
    """Each runtime key → None when it can run here, else one line saying why not (for menus and doctor)."""
    return {key: runtime.unavailable_reason(allow_simulator) for key, runtime in RUNTIMES.items()}


def open_landmark_session(model_path: Callable[[str], Path], runtime: str, precision: str,
                          settings: RuntimeSettings) -> LandmarkSession:
    """A ready session for the model of `precision` on `runtime`.

    `model_path(precision)` names the model file and raises ModelError when that variant is missing. Without
    --strict a missing w8a8 variant runs the float model and an unavailable NPU/GPU runs on the CPU; either
    way `info.requested` and `info.fallback_reason` say so and a warning is logged. With --strict they raise.
    """
    if runtime not in RUNTIMES:
        raise FacemapError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    requested = f"{runtime}/{precision}"
    reasons: list[str] = []
    try:
        path = model_path(precision)
    except ModelError as exc:
        if settings.strict or precision == "float":
            raise
        reasons.append(f"no w8a8 model ({exc})")
        precision = "float"
        path = model_path(precision)
    model = inspect_model(path)
    try:
        session = RUNTIMES[runtime].open(model, precision, settings)
    except RuntimeUnavailable as exc:
        if settings.strict or runtime == "cpu":
            raise RuntimeUnavailable(f"--runtime {runtime}: {exc}") from exc
        reasons.append(f"{runtime.upper()} unavailable: {exc}")
        session = RUNTIMES["cpu"].open(model, precision, settings)
    if session.info.fallback_reason:
        reasons.append(session.info.fallback_reason)
    if reasons:
        session.info = replace(session.info, requested=requested, fallback_reason="; ".join(reasons))
        log.warning("asked for %s, running %s because %s", requested, session.info.summary(),
                    session.info.fallback_reason)
    return session
