"""The Qualcomm QNN execution provider (onnxruntime-qnn plugin): NPU through the HTP backend, GPU through
the GPU backend, each on a device picked by its hardware type and with every node's placement checked.

Why it is done this way: `providers=["QNNExecutionProvider"]` silently runs on the CPU, and on x86 the plugin
offers the HTP *simulator* as a CPU-type device, far slower than the CPU EP (docs/performance.md). So the plugin
is registered once, a device is chosen by type (the simulator only when explicitly allowed), and a session whose
nodes left the device is reported as a fallback (or refused with --strict).
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from facemap_gui.core.choices import SIMULATOR_SLOWER
from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import RuntimeUnavailable
from facemap_gui.core.native import captured_native_output
from facemap_gui.inference.landmarks.onnx_proto import load_graph
from facemap_gui.inference.runtime import cache
from facemap_gui.inference.runtime.base import Runtime, RuntimeInfo, RuntimeSettings
from facemap_gui.inference.runtime.session import base_session_options, create_session, graph_assignment, warm_up

QNN_EP = "QNNExecutionProvider"
ALLOW_SIMULATOR_ENV = "FACEMAP_GUI_ALLOW_SIMULATOR"
NPU_FP32_ENV = "FACEMAP_GUI_NPU_FP32"
# The SoC the simulator imitates: SC8380XP, Snapdragon X Elite, this app's target. On x86 Linux the QNN EP
# refuses fp16 without one; on a real Snapdragon the backend detects the SoC itself.
SIMULATED_SOC_MODEL = "60"
# What Qualcomm's own apps ask of the HTP: fastest clocks, most optimised graph.
HTP_OPTIONS = {
    "htp_performance_mode": "burst",
    "htp_graph_finalization_optimization_mode": "3",
    # QNN converts graph I/O to and from 8 bit itself, so every node of a w8a8 model is on the NPU
    # and "anything on the CPU is a fallback" holds for both precisions.
    "offload_graph_io_quantization": "0",
}

_lock = threading.Lock()
_registration: list[str | None] = []  # empty until tried; then [None] (registered) or [why not]


def qnn_versions() -> dict[str, str]:
    """onnxruntime-qnn and the QAIRT (QNN SDK) version it ships, or {} when it is not installed."""
    try:
        import onnxruntime_qnn
    except ImportError:
        return {}
    info = getattr(onnxruntime_qnn, "build_and_package_info", None)
    return {"onnxruntime-qnn": onnxruntime_qnn.__version__, "qnn": str(getattr(info, "qnn_version", "unknown"))}


def register_plugin() -> str | None:
    """Register the QNN EP library with ONNX Runtime, once per process. None when it is registered,
    else one line saying why it cannot be."""
    with _lock:
        if not _registration:
            _registration.append(_register())
        return _registration[0]


def _register() -> str | None:
    try:
        import onnxruntime_qnn
    except ImportError:
        return _not_installed()
    library = Path(onnxruntime_qnn.get_library_path())
    if not library.is_file():
        return f"{library}: the QNN EP library is missing; reinstall onnxruntime-qnn"
    try:
        ort.register_execution_provider_library(QNN_EP, str(library))
    except Exception as exc:  # ORT's own exception types; any failure means "not usable here"
        text = str(exc).strip().splitlines()
        return f"{library}: ONNX Runtime cannot load the QNN EP ({text[0] if text else type(exc).__name__})"
    return None


def _not_installed() -> str:
    if sys.platform == "win32" and platform.machine() == "ARM64":
        return "onnxruntime-qnn is not installed: `pip install facemap-gui` again brings it (the NPU and GPU runtimes)"
    return (
        "onnxruntime-qnn is not installed; on this machine it would only offer the x86 HTP simulator, for "
        'development: `pip install "facemap-gui[simulator]"`'
    )


def qnn_devices() -> list[ort.OrtEpDevice]:
    """The devices the QNN EP offers (none when the plugin cannot be registered)."""
    if register_plugin() is not None:
        return []
    return [device for device in ort.get_ep_devices() if device.ep_name == QNN_EP]


def simulator_allowed(flag: bool) -> bool:
    return flag or os.environ.get(ALLOW_SIMULATOR_ENV) == "1"


def is_simulator(device: ort.OrtEpDevice) -> bool:
    # The x86 wheel's libQnnHtp is the HTP simulator, and the plugin reports it as a CPU-type device.
    return device.device.type == ort.OrtHardwareDeviceType.CPU and platform.machine().lower() in ("x86_64", "amd64")


@dataclass(frozen=True)
class QnnRuntime(Runtime):
    """A QNN backend (`htp` or `gpu`) on the QNN device of one hardware type."""

    key: str
    label: str
    backend_type: str
    device_type: ort.OrtHardwareDeviceType
    has_simulator: bool  # the x86 HTP simulator may stand in for this device when allowed

    def select_device(self, allow_simulator: bool) -> tuple[ort.OrtEpDevice, str]:
        """The device to run on and its label; RuntimeUnavailable with the reason when there is none."""
        reason = register_plugin()
        if reason is not None:
            raise RuntimeUnavailable(reason)
        devices = qnn_devices()
        for device in devices:
            if device.device.type == self.device_type:
                return device, self.label
        simulators = [d for d in devices if is_simulator(d)] if self.has_simulator else []
        if simulators and simulator_allowed(allow_simulator):
            return simulators[0], f"{self.label} simulator on {platform.machine()}"
        if simulators:
            raise RuntimeUnavailable(
                f"no Snapdragon {self.key.upper()} here, only the x86 HTP simulator ({SIMULATOR_SLOWER}); pass "
                f"--allow-simulator or set {ALLOW_SIMULATOR_ENV}=1 to use it for testing"
            )
        found = ", ".join(sorted(d.device.type.name for d in devices)) or "none"
        raise RuntimeUnavailable(
            f"the QNN EP found no {self.key.upper()} on this machine "
            f"(QNN devices: {found}; {platform.system()} {platform.machine()})"
        )

    def unavailable_reason(self, allow_simulator: bool = False) -> str | None:
        try:
            self.select_device(allow_simulator)
        except RuntimeUnavailable as exc:
            return str(exc)
        return None

    def provider_options(self, precision: str, simulator: bool) -> dict[str, str]:
        options = {"backend_type": self.backend_type}
        if self.backend_type != "htp":
            return options
        options.update(HTP_OPTIONS)
        if precision == "float":
            # Qualcomm runs float models in fp16 on the HTP; fp32 is slower but bit-closer to the CPU.
            options["enable_htp_fp16_precision"] = "0" if os.environ.get(NPU_FP32_ENV) == "1" else "1"
        if simulator:
            options["soc_model"] = SIMULATED_SOC_MODEL
        return options

    def create(self, path: Path, precision: str, settings: RuntimeSettings) -> tuple[ort.InferenceSession, RuntimeInfo]:
        device, label = self.select_device(settings.allow_simulator)
        provider_options = self.provider_options(precision, is_simulator(device))
        symbolic = symbolic_dims(path)

        def session_options(config: dict[str, str]) -> ort.SessionOptions:
            # --strict is enforced by check_placement rather than ORT's session.disable_cpu_ep_fallback: the
            # effect is the same (no session with nodes off the device) but the error names the operators.
            options = base_session_options()
            for name in symbolic:
                # QNN compiles static shapes only: a dynamic batch would silently put every node on the CPU.
                options.add_free_dimension_override_by_name(name, 1)
            for key, value in config.items():
                options.add_session_config_entry(key, value)
            options.add_provider_for_devices([device], provider_options)
            return options

        def open_model(source: Path, config: dict[str, str]) -> tuple[ort.InferenceSession, float]:
            session, session_ms = create_session(source, session_options(config), None, RuntimeUnavailable)
            warm_up(session, source, label, RuntimeUnavailable)
            return session, session_ms

        with captured_native_output(fds=(1,)):  # libQnnHtp prints "# LIBNATIVE" lines on stdout
            if self.backend_type == "htp":
                context = {**provider_options, **device_identity(device), **qnn_versions()}
                entry = cache.entry_for(path, file_sha256(path), precision, context)
                (session, session_ms), cache_state = cache.load_or_compile(entry, path, open_model)
            else:
                (session, session_ms), cache_state = open_model(path, {}), None
        assignment = graph_assignment(session)
        info = RuntimeInfo(
            runtime=self.key,
            precision=precision,
            device=label,
            nodes_by_ep={ep: len(ops) for ep, ops in assignment.items()},
            session_ms=session_ms,
            cache=cache_state,
            fallback_reason=self.check_placement(assignment, label, settings.strict),
        )
        return session, info

    def check_placement(self, assignment: dict[str, list[str]], label: str, strict: bool) -> str | None:
        """None when every node runs on QNN; else the reason (RuntimeUnavailable with --strict)."""
        off = sorted({op for ep, ops in assignment.items() if ep != QNN_EP for op in ops})
        if not off:
            return None
        moved = sum(len(ops) for ep, ops in assignment.items() if ep != QNN_EP)
        total = sum(len(ops) for ops in assignment.values())
        eps = ", ".join(sorted(ep.removesuffix("ExecutionProvider") for ep in assignment if ep != QNN_EP))
        reason = f"{moved} of {total} nodes run on {eps}, not on the {label} ({', '.join(off)})"
        if strict:
            raise RuntimeUnavailable(f"--strict: {reason}")
        return reason


def symbolic_dims(path: Path) -> set[str]:
    """Names of the symbolic dimensions of the model's inputs (the landmark stand-ins' batch)."""
    graph = load_graph(path).graph
    initializers = {init.name for init in graph.initializer}
    return {
        dim.dim_param
        for value in graph.input
        if value.name not in initializers
        for dim in value.type.tensor_type.shape.dim
        if dim.dim_param
    }


def device_identity(device: ort.OrtEpDevice) -> dict[str, str]:
    """What a compiled context is tied to besides its options: the device (and so the SoC) and the CPU."""
    hardware = device.device
    return {
        "device": f"{hardware.type.name}:{hardware.vendor}:{hardware.vendor_id:#x}:{hardware.device_id:#x}",
        "device_metadata": repr(sorted(dict(hardware.metadata).items())),
        "processor": platform.processor() or platform.machine(),
    }


NPU = QnnRuntime("npu", "NPU (QNN HTP)", "htp", ort.OrtHardwareDeviceType.NPU, has_simulator=True)
GPU = QnnRuntime("gpu", "GPU (QNN GPU)", "gpu", ort.OrtHardwareDeviceType.GPU, has_simulator=False)
