"""ONNX Runtime sessions for the landmark model, with the node placement recorded for every session."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facemap_gui.core.errors import FacemapError, ModelError
from facemap_gui.inference.landmarks.decode import NUM_PARAMS
from facemap_gui.inference.landmarks.model import ModelInfo
from facemap_gui.inference.runtime.base import Runtime, RuntimeInfo, RuntimeSettings

CPU_EP = "CPUExecutionProvider"
# A model's 265 outputs are O(1) (angles / (pi/2), offsets / 60, ...); beyond this they decode to nonsense.
MAX_PARAMETER = 1e3


class LandmarkSession:
    """Runs (N, 3, 128, 128) float crops → (N, 265) float parameters, batching when the model has a dynamic
    batch (else crop by crop) and converting to and from the model's own I/O type (quantised or float16) in
    one vectorised step each way, so callers never see which it is."""

    def __init__(self, session: ort.InferenceSession, model: ModelInfo, info: RuntimeInfo) -> None:
        self._session = session
        self.model = model
        self.info = info

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.empty((0, NUM_PARAMS), dtype=np.float32)
        model_in, model_out = self.model.input, self.model.output
        feed = model_in.to_model(batch)
        if self.model.dynamic_batch or len(batch) == 1:
            raw = self._session.run([model_out.name], {model_in.name: feed})[0]
        else:
            raw = np.concatenate([self._session.run([model_out.name], {model_in.name: crop[None]})[0] for crop in feed])
        return model_out.from_model(raw)


_intra_op_threads = 0  # ONNX Runtime's default (one a physical core)


def set_intra_op_threads(threads: int) -> None:
    """Threads of each session created from now on in this process; batch workers share the cores this way."""
    global _intra_op_threads
    _intra_op_threads = threads


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
    options.intra_op_num_threads = _intra_op_threads
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    # ORT's worker threads spin-wait for work: between operators of a run that saves a wake-up each, but by
    # default they go on spinning after the run, taking the cores the decoding thread and the detector need.
    # So they spin within a run and stop when it returns (figures: docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 4  # fatal only: ORT's errors also arrive as exceptions, reported in one line
    return options


def ort_error_line(exc: Exception) -> str:
    """The first line of an ONNX Runtime error, without its C++ source location prefix."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.rsplit("] : ", 1)[-1][:300]


def create_session(
    path: Path, options: ort.SessionOptions, providers: list[str] | None, error: type[FacemapError]
) -> tuple[ort.InferenceSession, float]:
    """Create an ORT session and time it; an ORT failure becomes `error` with one line naming the file."""
    start = time.perf_counter()
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own pybind exception types (Fail, InvalidGraph, EPFail, ...)
        raise error(f"{path}: ONNX Runtime cannot load the model ({ort_error_line(exc)})") from exc
    return session, (time.perf_counter() - start) * 1000.0


# ORT's names of the I/O element types the app converts to and from (see landmarks.model.IO_TYPES).
ORT_TYPES = {
    f"tensor({name})": dtype
    for name, dtype in (
        ("float", "float32"),
        ("float16", "float16"),
        ("uint8", "uint8"),
        ("int8", "int8"),
        ("uint16", "uint16"),
    )
}


def warm_up(session: ort.InferenceSession, path: Path, device: str, error: type[FacemapError]) -> None:
    """One run on zeros of the model's own input type, so that a backend that loads a model but cannot
    execute it fails at start-up, where a fallback is still possible, and not on the first frame."""
    feeds = {}
    for value in session.get_inputs():
        if value.type not in ORT_TYPES:
            raise error(
                f"{path}: input '{value.name}' is {value.type}; this app runs models with "
                f"{', '.join(ORT_TYPES.values())} inputs"
            )
        feeds[value.name] = np.zeros([d if isinstance(d, int) else 1 for d in value.shape], ORT_TYPES[value.type])
    try:
        session.run(None, feeds)
    except Exception as exc:  # ORT's own exception types
        raise error(f"{path}: the model loads on {device} but does not run ({ort_error_line(exc)})") from exc


def landmark_session(session: ort.InferenceSession, model: ModelInfo, info: RuntimeInfo) -> LandmarkSession:
    """Wrap a session of the landmark model; a runtime that fixed the batch to 1 (QNN) runs crops one by one."""
    batch_fixed = isinstance(session.get_inputs()[0].shape[0], int)
    return LandmarkSession(
        session,
        replace(model, dynamic_batch=model.dynamic_batch and not batch_fixed),
        replace(info, io=model.io_summary()),
    )


class CpuRuntime(Runtime):
    """ONNX Runtime's CPU execution provider: available everywhere onnxruntime installs."""

    key = "cpu"
    label = "CPU (ONNX Runtime)"

    def unavailable_reason(self, allow_simulator: bool = False) -> str | None:
        return None

    def create(self, path: Path, precision: str, settings: RuntimeSettings) -> tuple[ort.InferenceSession, RuntimeInfo]:
        session, session_ms = create_session(path, base_session_options(), [CPU_EP], ModelError)
        warm_up(session, path, self.label, ModelError)
        return session, RuntimeInfo(
            runtime=self.key,
            precision=precision,
            device=self.label,
            nodes_by_ep=nodes_by_ep(session),
            session_ms=session_ms,
        )
