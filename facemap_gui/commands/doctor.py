"""`facemap-gui doctor [--json]`: what this machine offers the app (runtimes, devices, models, cameras) and
why a runtime is not available. The first thing to run, and to paste into a bug report.

Each probe reports its own failure, so a broken install still gets a report. The JSON keys are stable
(documented in README.md, "Runtimes"); a probe that failed has the value null and its error under "errors".
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facemap_gui import __version__
from facemap_gui.commands.cameras import camera_lines, probe_camera_backend, probe_cameras

if TYPE_CHECKING:
    from facemap_gui.inference.landmarks.model import ModelInfo

# Distribution names behind what the app imports; the first installed one of each tuple is reported.
PACKAGES: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("onnxruntime",),
    "onnxruntime-qnn": ("onnxruntime-qnn",),
    "mediapipe": ("mediapipe",),
    "PySide6": ("PySide6-Essentials", "PySide6"),
    "cv2": ("opencv-contrib-python", "opencv-python", "opencv-python-headless", "opencv-contrib-python-headless"),
    "av": ("av",),
    "numpy": ("numpy",),
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "doctor",
        help="report runtimes, devices, models and cameras, and what is missing",
        description="Check what this machine offers facemap-gui and why a runtime is not "
        "available. Paste the output into bug reports.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    parser.add_argument(
        "--allow-simulator",
        action="store_true",
        help="count the x86 HTP simulator as an NPU, as `process --allow-simulator` does",
    )
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="run the installed model on Qualcomm's reference case on every runtime and precision "
        "here; exit 0 only when each is within 1%% of the box width",
    )
    parser.set_defaults(run=run)


def _distribution_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def probe_platform() -> dict[str, Any]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "executable": sys.executable,
    }


def probe_packages() -> dict[str, Any]:
    versions: dict[str, Any] = {key: _distribution_version(names) for key, names in PACKAGES.items()}
    from facemap_gui.inference.runtime.qnn import qnn_versions

    versions["qnn-sdk"] = qnn_versions().get("qnn")
    return versions


def probe_warnings() -> list[str]:
    """Install problems known to break the app in confusing ways (a PySide6 that loses references to None here,
    measured), and runtimes older than the installed release models were built for."""
    from facemap_gui.gui.qt_health import none_leak_problem
    from facemap_gui.inference.landmarks.release import tool_version_warnings

    warnings = [problem] if (problem := none_leak_problem()) else []
    opencv = [name for name in PACKAGES["cv2"] if _distribution_version((name,))]
    if len(opencv) > 1:
        warnings.append(
            f"{len(opencv)} OpenCV distributions are installed ({', '.join(opencv)}): they overwrite "
            "each other's cv2; uninstall all of them, then `pip install opencv-contrib-python`"
        )
    packages = probe_packages()
    for info in installed_landmark_models():
        warnings += tool_version_warnings(info.metadata, packages) if info.metadata else []
    return warnings


def installed_landmark_models() -> list[ModelInfo]:
    """What `inspect_model` says of each installed landmark model that it can read."""
    from facemap_gui.core.errors import ModelError
    from facemap_gui.inference.landmarks.model import inspect_model
    from facemap_gui.models.catalogue import ENTRIES

    infos = []
    for entry in ENTRIES.values():
        if entry.kind == "landmark" and entry.paths()[0].is_file():
            try:
                infos.append(inspect_model(entry.paths()[0]))
            except ModelError:
                continue  # reported as the entry's problem under "models"
    return infos


def probe_ep_devices() -> list[dict[str, Any]]:
    import onnxruntime as ort

    from facemap_gui.inference.runtime.qnn import is_simulator, register_plugin

    register_plugin()  # so that the QNN devices are listed too
    return [
        {
            "ep": d.ep_name,
            "type": d.device.type.name,
            "vendor": d.device.vendor,
            "vendor_id": d.device.vendor_id,
            "device_id": d.device.device_id,
            "simulator": d.ep_name == "QNNExecutionProvider" and is_simulator(d),
        }
        for d in ort.get_ep_devices()
    ]


def probe_runtimes(allow_simulator: bool) -> dict[str, Any]:
    from facemap_gui.inference.runtime import RUNTIMES, available_runtimes

    return {
        key: {"label": RUNTIMES[key].label, "available": reason is None, "reason": reason}
        for key, reason in available_runtimes(allow_simulator).items()
    }


def stand_in_models() -> list[tuple[str, Path, str]]:
    """(name, path, precision) of the stand-ins generated in the data directory (`facemap-gui demo` makes one)."""
    from facemap_gui.core import store
    from facemap_gui.models.standins import MODEL_FILE, W8A8_FILE

    candidates = [
        (f"stand-in {arch} {precision}", store.stand_in_dir(arch) / file, precision)
        for arch in ("full", "tiny")
        for precision, file in (("float", MODEL_FILE), ("w8a8", W8A8_FILE))
    ]
    return [candidate for candidate in candidates if candidate[1].is_file()]


def landmark_models() -> list[tuple[str, Path, str]]:
    """(name, path, precision) of every landmark model present: installed catalogue entries and stand-ins."""
    from facemap_gui.models.catalogue import ENTRIES

    installed = [(e.name, e.paths()[0], e.precision) for e in ENTRIES.values() if e.precision is not None]
    return [entry for entry in installed if entry[1].is_file()] + stand_in_models()


def probe_models() -> list[dict[str, Any]]:
    """Every catalogue entry, installed or not (the view `facemap-gui models list` gives), with the bundled
    detectors and the generated stand-ins; each file with its size and sha256."""
    from facemap_gui.core.digest import file_sha256
    from facemap_gui.inference.landmarks.provenance import read_provenance
    from facemap_gui.models.catalogue import ENTRIES
    from facemap_gui.models.status import status

    def describe(path: Path) -> dict[str, Any]:
        return {"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}

    landmark = {info.path: info for info in installed_landmark_models()}
    models = []
    for entry in ENTRIES.values():
        current = status(entry)
        bundled = entry.bundled_path()
        files = [describe(f.path) for f in current.files] + ([describe(bundled)] if bundled else [])
        info = landmark.get(entry.paths()[0])
        models.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "dir": str(entry.install_dir()),
                "installed": current.installed or bool(bundled),
                "stand_in": current.stand_in,
                "problem": current.problem or None,
                "files": files,
                "io": info.io_summary() if info else None,
                "tool_versions": info.metadata.tool_versions if info and info.metadata else {},
            }
        )
    models += [
        {
            "name": name,
            "kind": "stand-in",
            "dir": str(path.parent),
            "installed": True,
            "stand_in": read_provenance([path]).stand_in,
            "problem": None,
            "files": [describe(path)],
            "io": None,
            "tool_versions": {},
        }
        for name, path, _ in stand_in_models()
    ]
    return models


def probe_placement(allow_simulator: bool) -> list[dict[str, Any]]:
    """Proof of placement: each landmark model present, opened on each runtime available here, and where
    its nodes went (this also fills the compiled-model cache for the NPU)."""
    from facemap_gui.core.errors import FacemapError
    from facemap_gui.inference.runtime import RUNTIMES, RuntimeSettings, available_runtimes

    settings = RuntimeSettings(allow_simulator=allow_simulator)
    runtimes = [key for key, reason in available_runtimes(allow_simulator).items() if reason is None]
    results = []
    for name, path, precision in landmark_models():
        for key in runtimes if path.is_file() else []:
            result: dict[str, Any] = {"model": name, "runtime": key}
            try:
                _, info = RUNTIMES[key].create(path, precision, settings)
            except FacemapError as exc:
                result["error"] = str(exc)
            else:
                result.update(
                    device=info.device,
                    nodes_by_ep=info.nodes_by_ep,
                    fallback_reason=info.fallback_reason,
                    session_ms=round(info.session_ms, 1),
                    cache=info.cache,
                    error=None,
                )
            results.append(result)
    return results


def probe_cache() -> dict[str, Any]:
    from facemap_gui.core import store
    from facemap_gui.inference.runtime.cache import cache_root

    compiled = sorted(cache_root().glob("*.onnx")) if cache_root().is_dir() else []
    return {
        "dir": str(store.cache_dir()),
        "data_dir": str(store.home()),
        "compiled_models": [{"file": p.name, "bytes": p.stat().st_size} for p in compiled],
    }


def probe_video_decoding() -> dict[str, Any]:
    from facemap_gui.sources.files import hardware_decoding

    device, why = hardware_decoding()
    return {"hwaccel": device, "reason": why}


def collect(allow_simulator: bool = False) -> dict[str, Any]:
    """The whole report; a probe that raises leaves its key null and its one-line error under "errors"."""
    probes: dict[str, Callable[[], Any]] = {
        "platform": probe_platform,
        "packages": probe_packages,
        "warnings": probe_warnings,
        "ep_devices": probe_ep_devices,
        "runtimes": lambda: probe_runtimes(allow_simulator),
        "models": probe_models,
        "placement": lambda: probe_placement(allow_simulator),
        "cache": probe_cache,
        "video_decoding": probe_video_decoding,
        "camera_backend": probe_camera_backend,
        "cameras": probe_cameras,
    }
    report: dict[str, Any] = {"facemap_gui": __version__}
    errors: dict[str, str] = {}
    for key, probe in probes.items():
        try:
            report[key] = probe()
        except Exception as exc:  # a broken install must still get a report: each probe fails alone
            report[key] = None
            errors[key] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    report["errors"] = errors
    return report


def format_text(report: dict[str, Any]) -> str:
    lines = [f"facemap-gui {report['facemap_gui']}"]

    def section(title: str, key: str, render: Callable[[Any], list[str]]) -> None:
        lines.append("")
        lines.append(title)
        if report[key] is None:
            lines.append(f"  probe failed: {report['errors'][key]}")
        else:
            lines.extend(render(report[key]) or ["  (none)"])

    section(
        "Platform",
        "platform",
        lambda p: [
            f"  {p['system']} {p['release']} {p['machine']} {p['processor']}".rstrip(),
            f"  Python {p['python']} ({p['executable']})",
        ],
    )
    section(
        "Packages",
        "packages",
        lambda packages: [f"  {name:<16} {version or 'NOT INSTALLED'}" for name, version in packages.items()],
    )
    if report["warnings"]:
        section("Warnings", "warnings", lambda warnings: [f"  ! {w}" for w in warnings])
    section(
        "Execution provider devices",
        "ep_devices",
        lambda devices: [
            f"  {d['ep'].removesuffix('ExecutionProvider'):<6} {d['type']:<4} {d['vendor']}"
            + ("  (HTP simulator)" if d["simulator"] else "")
            for d in devices
        ],
    )
    section(
        "Runtimes",
        "runtimes",
        lambda runtimes: [
            f"  {key:<4} {'available' if r['available'] else 'unavailable':<12} {r['label']}"
            + ("" if r["available"] else f"\n         why: {r['reason']}")
            for key, r in runtimes.items()
        ],
    )
    section("Models", "models", lambda models: [line for m in models for line in _model_lines(m)])
    section(
        "Placement (each model present, opened on each available runtime)",
        "placement",
        lambda placements: [_placement_line(p) for p in placements],
    )
    section(
        "Cache",
        "cache",
        lambda cache: [
            f"  data dir   {cache['data_dir']}",
            f"  cache dir  {cache['dir']}",
            *[f"  compiled   {c['file']} ({c['bytes'] / 1e6:.1f} MB)" for c in cache["compiled_models"]],
        ],
    )
    section(
        "Video decoding",
        "video_decoding",
        lambda d: [f"  {d['hwaccel'] or 'software'} ({d['reason']})"],
    )
    section("Camera backend", "camera_backend", lambda b: [f"  {b['backend']} ({b['reason']})"])
    section("Cameras", "cameras", camera_lines)
    return "\n".join(lines)


def _model_lines(model: dict[str, Any]) -> list[str]:
    state = ("STAND-IN " if model["stand_in"] else "") + (
        "installed" if model["installed"] else f"not installed (goes to {model['dir']})"
    )
    lines = [f"  {model['name']:<20} {state}" + (f" — PROBLEM: {model['problem']}" if model["problem"] else "")]
    if model["io"]:
        lines.append(f"      I/O: {model['io']}")
    if model["tool_versions"]:
        from facemap_gui.inference.landmarks.release import format_tool_versions

        lines.append(f"      built with {format_tool_versions(model['tool_versions'])}")
    return lines + [f"      {f['sha256'][:16]}  {f['bytes'] / 1e6:7.2f} MB  {f['path']}" for f in model["files"]]


def _placement_line(placement: dict[str, Any]) -> str:
    line = f"  {placement['model']:<24} {placement['runtime']:<4} "
    if placement["error"]:
        return f"{line}FAILED: {placement['error']}"
    line += "nodes: " + ", ".join(
        f"{count} on {ep.removesuffix('ExecutionProvider')}" for ep, count in placement["nodes_by_ep"].items()
    )
    line += f", session {placement['session_ms']:.0f} ms" + (
        f", cache {placement['cache']}" if placement["cache"] else ""
    )
    return line + (f"\n         ! {placement['fallback_reason']}" if placement["fallback_reason"] else "")


def run(args: argparse.Namespace) -> int:
    if args.selftest:
        from facemap_gui.commands import selftest

        return selftest.run(args.allow_simulator)
    report = collect(allow_simulator=args.allow_simulator)
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0
