"""What a runtime session reports about itself: which runtime and precision run, and where the nodes went."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RuntimeInfo:
    runtime: str  # the runtime actually running: "npu", "gpu" or "cpu"
    precision: str  # "float" or "w8a8"
    device: str  # human-readable, e.g. "CPU (ONNX Runtime)", "NPU (QNN HTP)"
    nodes_by_ep: dict[str, int] = field(default_factory=dict)
    session_ms: float = 0.0
    requested: str = ""  # what the user asked for, when a fallback changed it
    fallback_reason: str | None = None

    def summary(self) -> str:
        nodes = ", ".join(f"{count} on {ep.removesuffix('ExecutionProvider')}"
                          for ep, count in sorted(self.nodes_by_ep.items()))
        text = f"{self.runtime.upper()} {self.precision} — {self.device}"
        return f"{text} ({nodes})" if nodes else text
