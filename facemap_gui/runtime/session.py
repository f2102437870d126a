"""ONNX Runtime sessions for the landmark model, with the node placement recorded for every session."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facemap_gui.errors import FacemapError, ModelError
from facemap_gui.landmarks.decode import INPUT_SIZE, NUM_PARAMS
from facemap_gui.landmarks.model import ModelInfo
from facemap_gui.runtime.base import Runtime, RuntimeInfo, RuntimeSettings

log = logging.getLogger(__name__)

CPU_EP = "CPUExecutionProvider"


class LandmarkSession:
    """Runs (N, 3, 128, 128) crops → (N, 265) parameters, batching when the model has a dynamic batch."""

    def __init__(self, session: ort.InferenceSession, model: ModelInfo, info: RuntimeInfo) -> None:
        self._session = session
        self.model = model
        self.info = info

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.empty((0, NUM_PARAMS), dtype=np.float32)
        name_in, name_out = self.model.input_name, self.model.output_name
        if self.model.dynamic_batch or len(batch) == 1:
            return self._session.run([name_out], {name_in: batch})[0]
        return np.concatenate([self._session.run([name_out], {name_in: crop[None]})[0] for crop in batch])


def graph_assignment(session: ort.InferenceSession) -> dict[str, list[str]]:
    """Op types of the nodes each execution provider runs (needs `base_session_options`)."""
    ops: dict[str, list[str]] = defaultdict(list)
    for subgraph in session.get_provider_graph_assignment_info():
        ops[subgraph.ep_name].extend(node.op_type for node in subgraph.get_nodes())
    return dict(ops)


def nodes_by_ep(session: ort.InferenceSession) -> dict[str, int]:
    return {ep: len(ops) for ep, ops in graph_assignment(session).items()}


def base_session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    options.log_severity_level = 4  # fatal only: ORT's errors also arrive as exceptions, reported in one line
    return options


def ort_error_line(exc: Exception) -> str:
    """The first line of an ONNX Runtime error, without its C++ source location prefix."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.rsplit("] : ", 1)[-1][:300]


def create_session(path: Path, options: ort.SessionOptions, providers: list[str] | None,
                   error: type[FacemapError]) -> tuple[ort.InferenceSession, float]:
    """Create an ORT session and time it; an ORT failure becomes `error` with one line naming the file."""
    start = time.perf_counter()
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own pybind exception types (Fail, InvalidGraph, EPFail, ...)
        raise error(f"{path}: ONNX Runtime cannot load the model ({ort_error_line(exc)})") from exc
    return session, (time.perf_counter() - start) * 1000.0


def ready_session(session: ort.InferenceSession, model: ModelInfo, info: RuntimeInfo,
                  error: type[FacemapError]) -> LandmarkSession:
    """Wrap a session after one run on a blank crop, so that a backend that loads but cannot execute
    fails here, where a fallback is still possible, and not on the first frame."""
    landmark_session = LandmarkSession(session, model, info)
    try:
        landmark_session.run(np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32))
    except Exception as exc:  # as above: ORT's own exception types
        raise error(f"{model.path}: the model loads on {info.device} but does not run ({ort_error_line(exc)})"
                    ) from exc
    return landmark_session


class CpuRuntime(Runtime):
    """ONNX Runtime's CPU execution provider: available everywhere onnxruntime installs."""

    key = "cpu"
    label = "CPU (ONNX Runtime)"

    def unavailable_reason(self, allow_simulator: bool = False) -> str | None:
        return None

    def open(self, model: ModelInfo, precision: str, settings: RuntimeSettings) -> LandmarkSession:
        session, session_ms = create_session(model.path, base_session_options(), [CPU_EP], ModelError)
        info = RuntimeInfo(runtime=self.key, precision=precision, device=self.label,
                           nodes_by_ep=nodes_by_ep(session), session_ms=session_ms)
        return ready_session(session, model, info, ModelError)


def open_cpu_session(model: ModelInfo, precision: str = "float") -> LandmarkSession:
    return CpuRuntime().open(model, precision, RuntimeSettings())


def with_fixed_batch(model: ModelInfo) -> ModelInfo:
    """The same model seen through a session whose batch dimension was fixed to 1."""
    return replace(model, dynamic_batch=False)
