"""The runtime layer in this process (no QNN session is created here; see test_runtime_simulator.py): the
registry and its reasons, start-up and switch-time fallback with --strict, precision variants, the w8a8
stand-in, the placement check and the compiled-model cache key."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.core.errors import ModelError, RuntimeUnavailable
from facemap_gui.inference.landmarks.decode import FoldedBasis, decode
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.inference.runtime import available_runtimes
from facemap_gui.inference.runtime.cache import entry_for
from facemap_gui.inference.runtime.qnn import ALLOW_SIMULATOR_ENV, NPU
from facemap_gui.inference.runtime.switcher import SessionSwitcher
from facemap_gui.models.standins import MANIFEST_FILE, MODEL_FILE, W8A8_FILE
from facemap_gui.perframe.crop import expand_box, preprocess
from facemap_gui.run.pipeline_builder import RunOptions, open_session
from facemap_gui.sources.files import read_image_rgb
from tests.conftest import PHOTO

FACE_BOX = (171, 146, 364, 339)  # BlazeFace's box on the photo, inclusive corners


@pytest.fixture(autouse=True)
def _no_simulator_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_SIMULATOR_ENV, raising=False)


@pytest.fixture(scope="module")
def face_crop() -> np.ndarray:
    rgb = read_image_rgb(PHOTO)
    return preprocess(rgb, np.array([expand_box(FACE_BOX, (rgb.shape[1], rgb.shape[0]))]))


def run_options(model: Path, **kwargs: object) -> RunOptions:
    return RunOptions(source=str(PHOTO), model=model, box=FACE_BOX, **kwargs)


def test_registry_says_why_each_runtime_cannot_run_here(monkeypatch):
    # This machine: x86_64 Linux with onnxruntime-qnn, so the HTP simulator and no Snapdragon NPU or GPU.
    available = available_runtimes(allow_simulator=False)
    assert list(available) == ["npu", "gpu", "cpu"]
    assert available["cpu"] is None
    assert "simulator" in available["npu"] and "--allow-simulator" in available["npu"]
    assert "no GPU" in available["gpu"]
    assert available_runtimes(allow_simulator=True)["npu"] is None
    assert available_runtimes(allow_simulator=True)["gpu"] == available["gpu"]  # there is no GPU simulator
    monkeypatch.setenv(ALLOW_SIMULATOR_ENV, "1")
    assert available_runtimes(allow_simulator=False)["npu"] is None


def test_the_simulator_speed_is_one_figure_in_the_npu_reason_and_in_the_help(capsys):
    # The figure and where it comes from: docs/performance.md.
    with pytest.raises(SystemExit):
        main(["process", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    figure = re.compile(r"\d+(?:-\d+)?x slower than the CPU")
    [in_reason] = figure.findall(available_runtimes(allow_simulator=False)["npu"])
    assert figure.findall(help_text) == [in_reason]


def test_npu_without_the_simulator_falls_back_to_the_cpu_and_says_why(tiny_model, face_crop, caplog):
    with caplog.at_level(logging.WARNING):
        session = open_session(run_options(tiny_model), "npu", "float")
    assert session.info.runtime == "cpu"
    assert session.info.requested == "npu/float"
    assert session.info.fallback_reason.startswith("NPU unavailable: ")
    assert "--allow-simulator" in session.info.fallback_reason
    assert any("asked for npu/float" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    reference = open_session(run_options(tiny_model), "cpu", "float")
    np.testing.assert_array_equal(session.run(face_crop), reference.run(face_crop))


@pytest.mark.parametrize("runtime", ["npu", "gpu"])
def test_strict_refuses_an_unavailable_runtime(tiny_model, runtime):
    with pytest.raises(RuntimeUnavailable, match=f"^--runtime {runtime}: "):
        open_session(run_options(tiny_model, strict=True), runtime, "float")


def test_process_strict_is_one_error_line_and_exit_2(tiny_model, capsys):
    code = main(
        ["process", str(PHOTO), "--model", str(tiny_model), "--box", "171,146,364,339", "--runtime", "npu", "--strict"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("facemap-gui: error: --runtime npu: ") and err.count("\n") == 1
    assert "--allow-simulator" in err


def test_a_missing_w8a8_variant_falls_back_to_float_unless_strict(tiny_model):
    session = open_session(run_options(tiny_model), "cpu", "w8a8")
    assert (session.info.precision, session.info.requested) == ("float", "cpu/w8a8")
    assert session.model.path == tiny_model
    assert W8A8_FILE in session.info.fallback_reason
    with pytest.raises(ModelError, match=W8A8_FILE):
        open_session(run_options(tiny_model, strict=True), "cpu", "w8a8")


def test_model_path_finds_the_variant_named_for_the_precision(tiny_w8a8):
    float_model = tiny_w8a8.with_name(MODEL_FILE)
    assert run_options(float_model).model_path("w8a8") == tiny_w8a8
    assert run_options(float_model, precision="w8a8").model_path() == tiny_w8a8
    assert run_options(tiny_w8a8, precision="w8a8").model_path("float") == float_model
    assert run_options(tiny_w8a8, precision="w8a8").model_path() == tiny_w8a8


def test_w8a8_stand_in_is_a_static_qdq_model_close_to_float_on_faces(tiny_w8a8, face_crop):
    model = onnx.load(str(tiny_w8a8))
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["Conv"] > 0
    weights = [w for w in model.graph.initializer if w.dims and len(w.dims) == 4]
    assert weights and all(w.data_type == onnx.TensorProto.UINT8 for w in weights)  # 8-bit conv weights
    info = inspect_model(tiny_w8a8)
    assert info.stand_in and info.input.name == "image" and info.output.name == "parameters_3dmm"
    manifest = json.loads((tiny_w8a8.parent / MANIFEST_FILE).read_text())
    assert manifest["precision"] == "w8a8" and set(manifest["files"]) >= {MODEL_FILE, W8A8_FILE}
    assert manifest["calibration"] == "24 face crops of the demo photo"

    session = open_session(run_options(tiny_w8a8.with_name(MODEL_FILE)), "cpu", "w8a8")
    assert session.model.path == tiny_w8a8 and session.info.fallback_reason is None
    quantised, reference = (
        session.run(face_crop),
        open_session(run_options(tiny_w8a8.with_name(MODEL_FILE)), "cpu", "float").run(face_crop),
    )
    # Calibrated on face crops, the 8-bit model puts the face where the float one does, give or take 1/8 of its
    # size (a random network's features are noisy under 8 bits: about 8% here, 4% for the full architecture).
    crop = np.array([expand_box(FACE_BOX, read_image_rgb(PHOTO).shape[1::-1])])
    basis = FoldedBasis.load(tiny_w8a8.parent)
    (ours, _), (theirs, _) = decode(quantised, crop, basis), decode(reference, crop, basis)
    assert np.linalg.norm(ours - theirs, axis=-1).max() < (FACE_BOX[2] - FACE_BOX[0] + 1) / 8
    assert np.all(quantised[:, :258] == 0)  # the mean face, as from the float model


def test_models_stand_in_command_writes_both_precisions(tmp_path, capsys):
    assert main(["models", "stand-in", str(tmp_path), "--arch", "tiny", "--precision", "w8a8"]) == 0
    assert (tmp_path / MODEL_FILE).is_file() and (tmp_path / W8A8_FILE).is_file()
    assert str(tmp_path / W8A8_FILE) in capsys.readouterr().out
    assert not list(tmp_path.glob(".*part"))  # no temporary files left behind


def test_placement_check_names_the_operators_off_the_npu():
    assert NPU.check_placement({"QNNExecutionProvider": ["Conv", "Relu"]}, "NPU", strict=False) is None
    assignment = {"QNNExecutionProvider": ["Conv", "Relu"], "CPUExecutionProvider": ["Sinh"]}
    assert NPU.check_placement(assignment, "NPU", strict=False) == "1 of 3 nodes run on CPU, not on the NPU (Sinh)"
    with pytest.raises(RuntimeUnavailable, match=r"^--strict: 1 of 3 nodes .*\(Sinh\)"):
        NPU.check_placement(assignment, "NPU", strict=True)


def test_cache_key_changes_with_everything_a_compiled_model_depends_on(tiny_model):
    model = inspect_model(tiny_model)
    context = {"backend_type": "htp", "soc_model": "60", "onnxruntime-qnn": "2.7.0", "device": "NPU:Qualcomm"}
    entry = entry_for(model.path, model.sha256, "float", context)
    assert entry.parent.parent == store.cache_dir() and entry.name.startswith("facemap_3dmm-float-")
    assert entry_for(model.path, model.sha256, "float", dict(context)) == entry
    others = [
        entry_for(model.path, model.sha256, "w8a8", context),
        entry_for(model.path, "0" * 64, "float", context),
        entry_for(model.path, model.sha256, "float", {**context, "soc_model": "57"}),
        entry_for(model.path, model.sha256, "float", {**context, "onnxruntime-qnn": "2.8.0"}),
        entry_for(model.path, model.sha256, "float", {**context, "device": "NPU:other"}),
        entry_for(model.path, model.sha256, "float", {**context, "enable_htp_fp16_precision": "0"}),
    ]
    assert len({entry, *others}) == len(others) + 1


def test_switching_falls_back_like_start_up_and_strict_keeps_the_old_session(tiny_w8a8):
    options = run_options(tiny_w8a8.with_name(MODEL_FILE))
    switcher = SessionSwitcher(lambda r, p: open_session(options, r, p))
    switcher.request("cpu", "w8a8")
    switcher.wait(60)
    outcome = switcher.poll()
    assert outcome.error is None and outcome.session.info.precision == "w8a8"
    switcher.request("npu", "float")
    switcher.wait(60)
    outcome = switcher.poll()
    assert outcome.session.info.runtime == "cpu" and outcome.session.info.requested == "npu/float"

    strict = SessionSwitcher(lambda r, p: open_session(replace(options, strict=True), r, p))
    strict.request("npu", "float")
    strict.wait(60)
    outcome = strict.poll()
    assert outcome.session is None and outcome.error.startswith("--runtime npu: ")


@pytest.mark.parametrize(
    ("platform", "machine", "advice"),
    [
        ("linux", "x86_64", 'pip install "facemap-gui[simulator]"'),
        ("win32", "AMD64", 'pip install "facemap-gui[simulator]"'),
        ("win32", "ARM64", "`pip install facemap-gui` again"),
    ],
)
def test_a_missing_qnn_plugin_says_how_to_get_it_here(monkeypatch, platform, machine, advice):
    """onnxruntime-qnn installs by default only on Windows on ARM64; elsewhere it is the `simulator` extra."""
    import builtins
    import sys

    from facemap_gui.inference.runtime import qnn

    real_import = builtins.__import__

    def no_qnn(name, *args, **kwargs):
        if name == "onnxruntime_qnn":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_qnn)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(qnn.platform, "machine", lambda: machine)
    reason = qnn._register()
    assert reason is not None and reason.startswith("onnxruntime-qnn is not installed")
    assert advice in reason
