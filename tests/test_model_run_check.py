"""`models install` and `models verify` run the landmark model once on a test crop (CPU): models that declare the
right I/O but compute the wrong thing are refused in one line, not found out later by `process`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facemap_gui import store
from facemap_gui.cli import main
from tests.conftest import constant_model


def lying_model(path: Path, width: int) -> Path:
    """Declares output [N, 265] but computes [N, width]."""
    model = onnx.load(str(constant_model(path, np.zeros(265))))
    params = next(i for i in model.graph.initializer if i.name == "params")
    params.CopyFrom(numpy_helper.from_array(np.full((1, width), 0.1, np.float32), "params"))
    onnx.save(model, str(path))
    return path


def unknown_operator_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("FacemapNoSuchOp", ["image"], ["parameters_3dmm"])],
        "unknown",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 128, 128])],
        [helper.make_tensor_value_info("parameters_3dmm", TensorProto.FLOAT, ["batch", 265])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


BROKEN = {
    "computes 10 values": (lambda p: lying_model(p, 10), "computes an output of shape [1, 10]"),
    "computes 300 values": (lambda p: lying_model(p, 300), "computes an output of shape [1, 300]"),
    "fixed batch of 2": (lambda p: constant_model(p, np.zeros(265), batch=2), "has a fixed batch of 2"),
    "NaN outputs": (lambda p: constant_model(p, np.full(265, np.nan)), "outputs NaN or infinite values"),
    "huge outputs": (lambda p: constant_model(p, np.full(265, 1e30)), "outputs values up to 1e+30"),
    "unknown operator": (unknown_operator_model, "ONNX Runtime cannot load the model"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_model_that_does_not_compute_265_sane_values_is_refused_at_install(capsys, tmp_path, case):
    make, expected = BROKEN[case]
    model = make(tmp_path / "broken.onnx")
    assert main(["models", "install", str(model), "--precision", "float"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(model) in err and expected in err, err
    assert not store.landmark_model_path("float").exists()


@pytest.mark.parametrize("case", ["computes 10 values", "NaN outputs", "unknown operator"])
def test_verify_runs_the_installed_model(capsys, tmp_path, case):
    make, expected = BROKEN[case]
    target = store.landmark_model_path("float")
    target.parent.mkdir(parents=True)
    make(target)  # put in place by hand, as a damaged or replaced file would be
    assert main(["models", "verify", "facemap_3dmm-float"]) == 1
    out = capsys.readouterr().out
    assert "facemap_3dmm-float   FAILED" in out and expected in out


def test_a_working_model_installs_and_verifies(capsys, tmp_path):
    model = constant_model(tmp_path / "working.onnx", np.full(265, 0.1))
    assert main(["models", "install", str(model), "--precision", "float"]) == 0
    assert main(["models", "verify", "facemap_3dmm-float"]) == 0
    assert "facemap_3dmm-float   OK" in capsys.readouterr().out
