"""`facemap-gui doctor`: the report's JSON keys, its facts about this machine, and a probe failing alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnxruntime as ort
import pytest

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.core.digest import file_sha256
from facemap_gui.models.standins import write_stand_in

TOP_LEVEL_KEYS = {
    "facemap_gui",
    "platform",
    "packages",
    "warnings",
    "ep_devices",
    "runtimes",
    "models",
    "placement",
    "cache",
    "video_decoding",
    "camera_backend",
    "cameras",
    "errors",
}


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["doctor", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_report_has_the_documented_fields(capsys):
    report = doctor_json(capsys)
    assert set(report) == TOP_LEVEL_KEYS
    assert report["errors"] == {}
    assert set(report["platform"]) == {"system", "release", "machine", "processor", "python", "executable"}
    assert set(report["packages"]) == {
        "onnxruntime",
        "onnxruntime-qnn",
        "mediapipe",
        "PySide6",
        "cv2",
        "av",
        "numpy",
        "qnn-sdk",
    }
    assert report["packages"]["onnxruntime"] == ort.__version__
    assert set(report["runtimes"]) == {"npu", "gpu", "cpu"}
    for runtime in report["runtimes"].values():
        assert set(runtime) == {"label", "available", "reason"}
        assert runtime["available"] == (runtime["reason"] is None)
    assert report["runtimes"]["cpu"]["available"] is True
    devices = {(d["ep"], d["type"]) for d in report["ep_devices"]}
    assert ("CPUExecutionProvider", "CPU") in devices
    assert report["cache"]["dir"] == str(store.cache_dir())
    assert isinstance(report["cameras"], list)


def has_simulator() -> bool:
    """Whether this machine offers the x86 HTP simulator (onnxruntime-qnn on x86_64) and no real NPU."""
    from facemap_gui.inference.runtime.qnn import NPU, is_simulator, qnn_devices

    devices = qnn_devices()
    return any(is_simulator(d) for d in devices) and not any(d.device.type == NPU.device_type for d in devices)


def test_runtimes_say_why_not_and_the_simulator_flag_counts(capsys, monkeypatch):
    from facemap_gui.inference.runtime import available_runtimes

    monkeypatch.delenv("FACEMAP_GUI_ALLOW_SIMULATOR", raising=False)
    runtimes = doctor_json(capsys)["runtimes"]
    # Whatever this machine has, doctor reports what the registry finds, with a reason for each "no".
    assert {key: r["reason"] for key, r in runtimes.items()} == available_runtimes()
    assert all(r["reason"] for r in runtimes.values() if not r["available"])
    with_flag = doctor_json(capsys, "--allow-simulator")["runtimes"]["npu"]
    if has_simulator():
        assert "--allow-simulator" in runtimes["npu"]["reason"] and with_flag["available"] is True
    else:
        assert with_flag == runtimes["npu"]  # the flag changes nothing without a simulator


def test_models_are_listed_from_the_catalogue_with_their_hashes(capsys, tiny_model):
    from facemap_gui.models.install import install_path

    install_path(tiny_model, precision="float")
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny")
    models = {m["name"]: m for m in doctor_json(capsys)["models"]}
    for model in models.values():
        assert set(model) == {"name", "kind", "dir", "installed", "stand_in", "problem", "files", "io", "tool_versions"}
    installed = models["facemap_3dmm-float"]
    assert installed["io"] == "input float32, output float32" and installed["tool_versions"] == {}
    assert installed["installed"] is True and installed["stand_in"] is True and installed["problem"] is None
    assert installed["files"] == [
        {
            "path": str(store.landmark_model_path("float")),
            "bytes": tiny_model.stat().st_size,
            "sha256": file_sha256(tiny_model),
        }
    ]
    assert models["facemap_3dmm-w8a8"]["installed"] is False and models["facemap_3dmm-w8a8"]["files"] == []
    assert models["facemap_3dmm-w8a8"]["dir"] == str(store.landmark_model_path("w8a8").parent)
    assert models["blazeface-full"]["installed"] is True  # the bundled copy
    assert models["stand-in tiny float"]["files"][0]["sha256"] == file_sha256(tiny_model)
    assert "stand-in tiny w8a8" not in models  # stand-ins are listed only once generated


def test_placement_opens_each_model_present_on_each_available_runtime(capsys, tiny_model):
    from facemap_gui.models.install import install_path

    install_path(tiny_model, precision="float")
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny")
    # The CPU rows (a Snapdragon adds rows for its NPU and GPU).
    placement = [p for p in doctor_json(capsys)["placement"] if p["runtime"] == "cpu"]
    assert [p["model"] for p in placement] == ["facemap_3dmm-float", "stand-in tiny float"]
    assert placement[0]["error"] is None and placement[0]["fallback_reason"] is None
    assert set(placement[0]["nodes_by_ep"]) == {"CPUExecutionProvider"}


@pytest.mark.skipif(not has_simulator(), reason="needs the x86 HTP simulator of onnxruntime-qnn (no real NPU)")
def test_placement_on_the_simulator_shows_every_node_on_qnn():
    # In its own process: QNN options can leak between the sessions of one process.
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny", precision="w8a8")
    result = subprocess.run(
        [sys.executable, "-m", "facemap_gui.cli", "doctor", "--json", "--allow-simulator"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    placement = {(p["model"], p["runtime"]): p for p in json.loads(result.stdout)["placement"]}
    assert set(placement) == {
        (f"stand-in tiny {precision}", runtime) for precision in ("float", "w8a8") for runtime in ("npu", "cpu")
    }
    for precision in ("float", "w8a8"):
        npu = placement[(f"stand-in tiny {precision}", "npu")]
        assert set(npu["nodes_by_ep"]) == {"QNNExecutionProvider"} and npu["fallback_reason"] is None
        assert "simulator" in npu["device"] and npu["cache"] == "written"


def test_a_failing_probe_is_reported_and_the_rest_still_runs(capsys, monkeypatch):
    import facemap_gui.sources

    def broken(*_backend: str) -> list:
        raise OSError("camera enumeration exploded")

    monkeypatch.setattr(facemap_gui.sources, "list_cameras", broken)
    report = doctor_json(capsys)
    assert report["cameras"] is None
    assert report["errors"] == {"cameras": "OSError: camera enumeration exploded"}
    assert report["runtimes"]["cpu"]["available"] is True
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "probe failed: OSError: camera enumeration exploded" in text


def test_text_report_is_readable(capsys):
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    for title in (
        "Platform",
        "Packages",
        "Execution provider devices",
        "Runtimes",
        "Models",
        "Cache",
        "Cameras",
        "Placement (each model present, opened on each available runtime)",
    ):
        assert f"\n{title}\n" in text
    assert f"onnxruntime      {ort.__version__}" in text
    from facemap_gui.inference.runtime import available_runtimes

    for key, reason in available_runtimes().items():
        assert f"{key:<4} {'available' if reason is None else 'unavailable'}" in text
    assert str(store.cache_dir()) in text


def test_release_models_show_their_io_and_tool_versions_and_old_runtimes_are_warned_about(capsys, tmp_path):
    import json as json_module

    from facemap_gui.models.install import install_path
    from facemap_gui.models.standins.replica import write_release

    install_path(write_release(tmp_path, "w8a8"))
    metadata_file = store.landmark_model_path("w8a8").parent / "metadata.json"
    report = doctor_json(capsys)
    w8a8 = {m["name"]: m for m in report["models"]}["facemap_3dmm-w8a8"]
    assert w8a8["tool_versions"] == {"qairt": "2.42.0", "onnx_runtime": "1.24.3"}
    assert w8a8["io"].startswith("input uint8 (scale 0.00392157, zero point 0), output uint8 (scale ")
    assert not [w for w in report["warnings"] if "built with" in w]  # onnxruntime here is newer than 1.24.3
    metadata = json_module.loads(metadata_file.read_text())
    metadata["tool_versions"]["onnx_runtime"] = "99.1"
    metadata_file.write_text(json_module.dumps(metadata))
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert (
        f"! {metadata_file}: the model was built with onnx_runtime 99.1 but onnxruntime {ort.__version__} is "
        "installed; upgrade it (`pip install -U onnxruntime`)"
    ) in text
    assert "built with qairt 2.42.0, onnx_runtime 99.1" in text
    assert main(["models", "list"]) == 0
    assert f"built with qairt 2.42.0, onnx_runtime 99.1 ({metadata_file})" in capsys.readouterr().out


def test_a_pyside6_losing_references_to_none_is_reported_with_its_fix(capsys, monkeypatch):
    """The probe's result injected as the known bug measures (PySide6 6.12.0 on CPython 3.11: 1.00 a call)."""
    from facemap_gui.gui import qt_health

    assert not [w for w in doctor_json(capsys)["warnings"] if "None" in w]
    monkeypatch.setattr(qt_health, "none_references_lost_per_call", lambda: 1.0)
    leak = [w for w in doctor_json(capsys)["warnings"] if "None" in w]
    assert len(leak) == 1
    assert "(1.00 a call)" in leak[0] and "none_dealloc" in leak[0]
    assert leak[0].endswith('run `pip install "PySide6-Essentials<6.12"` or use Python 3.12+')
    assert main(["doctor"]) == 0
    assert f"\nWarnings\n  ! {leak[0]}\n" in capsys.readouterr().out


def test_the_installed_pyside6_keeps_its_references_to_none():
    """The real probe on the installed PySide6 (the pins in pyproject.toml keep 6.12+ off CPython 3.11)."""
    from facemap_gui.gui.qt_health import none_leak_problem, none_references_lost_per_call

    assert abs(none_references_lost_per_call()) < 0.05
    assert none_leak_problem() is None
