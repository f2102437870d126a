"""What a runtime is (a name, why it cannot run here, how it opens a session) and what a session reports
about itself: which runtime and precision run, and where the nodes went."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from facemap_gui.core.choices import PRECISIONS  # noqa: F401  (re-exported: runtime.PRECISIONS)


@dataclass(frozen=True)
class RuntimeInfo:
    runtime: str  # the runtime actually running: "npu", "gpu" or "cpu"
    precision: str  # "float" or "w8a8"
    device: str  # human-readable, e.g. "CPU (ONNX Runtime)", "NPU (QNN HTP)"
    nodes_by_ep: dict[str, int] = field(default_factory=dict)
    session_ms: float = 0.0  # session creation (with a compiled-model cache: loading the cached model)
    requested: str = ""  # what the user asked for ("npu/w8a8"), when a fallback changed it
    fallback_reason: str | None = None  # why the run differs from the request, or why nodes left the NPU/GPU
    cache: str | None = None  # compiled-model (EPContext) cache: "loaded", "written" or "rebuilt"; None = unused
    io: str = ""  # the landmark model's I/O types and quantisation, e.g. "input uint8 (scale 0.0039, ...)"

    def summary(self) -> str:
        """One line for the window's header, the HUD tooltip and logs."""
        nodes = ", ".join(
            f"{count} on {ep.removesuffix('ExecutionProvider')}" for ep, count in sorted(self.nodes_by_ep.items())
        )
        text = f"{self.runtime.upper()} {self.precision} — {self.device}"
        details = "; ".join(part for part in (nodes, self.io) if part)
        return f"{text} ({details})" if details else text


@dataclass(frozen=True)
class RuntimeSettings:
    """How strictly a session must match the request, and which test-only devices may be used."""

    allow_simulator: bool = False  # let `npu` use the x86 HTP simulator (FACEMAP_GUI_ALLOW_SIMULATOR=1 too)
    strict: bool = False  # fail instead of falling back or running nodes off the requested device


class Runtime(abc.ABC):
    """One place a model can run. Registered by key in `runtime.registry.RUNTIMES`."""

    key: str
    label: str  # for menus and messages, e.g. "NPU (QNN HTP)"

    @abc.abstractmethod
    def unavailable_reason(self, allow_simulator: bool = False) -> str | None:
        """None when this runtime can open a session here, else one line saying why not."""

    @abc.abstractmethod
    def create(self, path: Path, precision: str, settings: RuntimeSettings) -> tuple[ort.InferenceSession, RuntimeInfo]:
        """A session for the ONNX model at `path` (float inputs), already run once, and what it reports.
        RuntimeUnavailable when this runtime cannot run it (or, with --strict, not wholly on its device)."""
