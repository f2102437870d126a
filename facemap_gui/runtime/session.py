"""ONNX Runtime sessions for the landmark model, with the node placement recorded for every session."""

from __future__ import annotations

import logging
import time
from collections import Counter

import numpy as np
import onnxruntime as ort

from facemap_gui.errors import ModelError
from facemap_gui.landmarks.model import ModelInfo
from facemap_gui.runtime.base import RuntimeInfo

log = logging.getLogger(__name__)


class LandmarkSession:
    """Runs (N, 3, 128, 128) crops → (N, 265) parameters, batching when the model has a dynamic batch."""

    def __init__(self, session: ort.InferenceSession, model: ModelInfo, info: RuntimeInfo) -> None:
        self._session = session
        self.model = model
        self.info = info

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.empty((0, 265), dtype=np.float32)
        name_in, name_out = self.model.input_name, self.model.output_name
        if self.model.dynamic_batch or len(batch) == 1:
            return self._session.run([name_out], {name_in: batch})[0]
        return np.concatenate([self._session.run([name_out], {name_in: crop[None]})[0] for crop in batch])


def nodes_by_ep(session: ort.InferenceSession) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for subgraph in session.get_provider_graph_assignment_info():
        counts[subgraph.ep_name] += len(subgraph.get_nodes())
    return dict(counts)


def base_session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    options.log_severity_level = 3
    return options


def build_session(model: ModelInfo, options: ort.SessionOptions, providers: list[str] | None,
                  runtime: str, precision: str, device: str) -> LandmarkSession:
    """Create the ORT session; any ORT failure becomes a one-line ModelError naming the file."""
    start = time.perf_counter()
    try:
        session = ort.InferenceSession(str(model.path), options, providers=providers)
    except Exception as exc:  # ORT raises its own pybind exception types (Fail, InvalidGraph, ...)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model.path}: ONNX Runtime cannot load the model ({first_line[:300]})") from exc
    info = RuntimeInfo(runtime=runtime, precision=precision, device=device, nodes_by_ep=nodes_by_ep(session),
                       session_ms=(time.perf_counter() - start) * 1000.0)
    return LandmarkSession(session, model, info)


def open_cpu_session(model: ModelInfo, precision: str = "float") -> LandmarkSession:
    return build_session(model, base_session_options(), ["CPUExecutionProvider"], "cpu", precision,
                         "CPU (ONNX Runtime)")
