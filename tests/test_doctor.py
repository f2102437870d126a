"""`facemap-gui doctor`: the report's JSON keys, its facts about this machine, and a probe failing alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnxruntime as ort
import pytest

from facemap_gui import store
from facemap_gui.cli import main
from facemap_gui.landmarks.model import file_sha256
from facemap_gui.models.standin import write_stand_in

TOP_LEVEL_KEYS = {"facemap_gui", "platform", "packages", "warnings", "ep_devices", "runtimes", "models",
                  "placement", "cache", "cameras", "errors"}


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["doctor", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_report_has_the_documented_fields(capsys):
    report = doctor_json(capsys)
    assert set(report) == TOP_LEVEL_KEYS
    assert report["errors"] == {}
    assert set(report["platform"]) == {"system", "release", "machine", "processor", "python", "executable"}
    assert set(report["packages"]) == {"onnxruntime", "onnxruntime-qnn", "mediapipe", "PySide6", "cv2", "av",
                                       "numpy", "qnn-sdk"}
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


def test_runtimes_say_why_not_and_the_simulator_flag_counts(capsys, monkeypatch):
    # This x86 machine has the QNN HTP simulator and no Snapdragon NPU or GPU.
    monkeypatch.delenv("FACEMAP_GUI_ALLOW_SIMULATOR", raising=False)
    runtimes = doctor_json(capsys)["runtimes"]
    assert "--allow-simulator" in runtimes["npu"]["reason"]
    assert "GPU" in runtimes["gpu"]["reason"]
    assert doctor_json(capsys, "--allow-simulator")["runtimes"]["npu"]["available"] is True


def test_models_are_listed_from_the_catalogue_with_their_hashes(capsys, tiny_model):
    from facemap_gui.models.install import install_path

    install_path(tiny_model, precision="float")
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny")
    models = {m["name"]: m for m in doctor_json(capsys)["models"]}
    for model in models.values():
        assert set(model) == {"name", "kind", "dir", "installed", "stand_in", "problem", "files"}
    installed = models["facemap_3dmm-float"]
    assert installed["installed"] is True and installed["stand_in"] is True and installed["problem"] is None
    assert installed["files"] == [{"path": str(store.landmark_model_path("float")),
                                   "bytes": tiny_model.stat().st_size, "sha256": file_sha256(tiny_model)}]
    assert models["facemap_3dmm-w8a8"]["installed"] is False and models["facemap_3dmm-w8a8"]["files"] == []
    assert models["facemap_3dmm-w8a8"]["dir"] == str(store.landmark_model_path("w8a8").parent)
    assert models["blazeface-full"]["installed"] is True  # the bundled copy
    assert models["stand-in tiny float"]["files"][0]["sha256"] == file_sha256(tiny_model)
    assert "stand-in tiny w8a8" not in models  # stand-ins are listed only once generated


def test_placement_opens_each_model_present_on_each_available_runtime(capsys, tiny_model):
    from facemap_gui.models.install import install_path

    install_path(tiny_model, precision="float")
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny")
    placement = doctor_json(capsys)["placement"]
    assert [(p["model"], p["runtime"]) for p in placement] == [("facemap_3dmm-float", "cpu"),
                                                                ("stand-in tiny float", "cpu")]
    assert placement[0]["error"] is None and placement[0]["fallback_reason"] is None
    assert set(placement[0]["nodes_by_ep"]) == {"CPUExecutionProvider"}


def test_placement_on_the_simulator_shows_every_node_on_qnn():
    # In its own process: QNN options can leak between the sessions of one process.
    write_stand_in(store.stand_in_dir("tiny"), arch="tiny", precision="w8a8")
    result = subprocess.run([sys.executable, "-m", "facemap_gui.cli", "doctor", "--json", "--allow-simulator"],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    placement = {(p["model"], p["runtime"]): p for p in json.loads(result.stdout)["placement"]}
    assert set(placement) == {(f"stand-in tiny {precision}", runtime)
                              for precision in ("float", "w8a8") for runtime in ("npu", "cpu")}
    for precision in ("float", "w8a8"):
        npu = placement[(f"stand-in tiny {precision}", "npu")]
        assert set(npu["nodes_by_ep"]) == {"QNNExecutionProvider"} and npu["fallback_reason"] is None
        assert "simulator" in npu["device"] and npu["cache"] == "written"


def test_a_failing_probe_is_reported_and_the_rest_still_runs(capsys, monkeypatch):
    import facemap_gui.sources

    def broken() -> list:
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
    for title in ("Platform", "Packages", "Execution provider devices", "Runtimes", "Models", "Cache", "Cameras",
                  "Placement (each model present, opened on each available runtime)"):
        assert f"\n{title}\n" in text
    assert f"onnxruntime      {ort.__version__}" in text
    assert "cpu  available" in text and "npu  unavailable" in text
    assert str(store.cache_dir()) in text
