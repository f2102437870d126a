"""`models install` and `models verify` run the landmark model once on a test crop (CPU): models that declare the
right I/O but compute the wrong thing are refused in one line, not found out later by `process`."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import psutil
import pytest
from onnx import TensorProto, helper, numpy_helper

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.inference.runtime import check
from tests.conftest import PHOTO, constant_model
from tests.helpers import assert_one_line, cli_main, cli_process, facemap_io_model


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


def hostile_model(path: Path, kind: str, size: int) -> Path:
    """The real I/O around a hostile core fed from the image's mean (so nothing is folded away when the session
    is built): "loop" counts to `size` one step at a time, "memory" expands the mean to `size` floats."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Add", ["v", "step"], ["v_out"])],
        "count",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
        [numpy_helper.from_array(np.array(1.0, np.float32), "step")],
    )
    core = {
        "loop": helper.make_node("Loop", ["size", "true", "mean"], ["core"], body=body),
        "memory": helper.make_node("Expand", ["mean", "size"], ["core"]),
    }[kind]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0),
        core,
        helper.make_node("ReduceSum", ["core"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "params"], ["parameters_3dmm"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(size if kind == "loop" else [size], np.int64), "size"),
        numpy_helper.from_array(np.array(True), "true"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.full((1, 265), 0.1, np.float32), "params"),
    ]
    onnx.save(facemap_io_model("hostile", nodes, inits), str(path))
    return path


# What each hostile core is made to need, against the bounds the tests set: 1 s (a count to 3 million takes
# 6-18 s on this machine's loaded 2 cores), 1 GB of address space (the check of a real model takes ~0.9).
HOSTILE = {"loop": (3 * 10**6, "took longer than 1 s to load and run"), "memory": (2**28, "needs more than the 1 GB")}


@pytest.mark.parametrize("command", ["install", "process"])
@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_model_is_stopped_at_the_bounds_of_its_test_run(tmp_path, capsys, monkeypatch, kind, command):
    # A Loop of 10^9 steps ran for 434 s, past SIGTERM; a graph folding a MatMul chain took 33 s and 1.7 GB.
    monkeypatch.setattr(check, "CHECK_SECONDS", 1.0)
    monkeypatch.setattr(check, "CHECK_ADDRESS_SPACE", 2**30)
    size, expected = HOSTILE[kind]
    model = hostile_model(tmp_path / "hostile.onnx", kind, size)
    args = ["models", "install", str(model)] if command == "install" else ["process", str(PHOTO), "--model", str(model)]
    code, err = cli_main(capsys, *args)
    assert_one_line(code, err, f"{model}: {expected}", "not a working facemap_3dmm model")
    assert not store.landmark_model_path("float").exists()


def test_a_model_is_checked_once_until_its_bytes_change(tmp_path, monkeypatch, tiny_model):
    checked = []
    run_check = check.check_model_runs
    monkeypatch.setattr(check, "check_model_runs", lambda model: run_check(model) or checked.append(model.path))
    model = constant_model(tmp_path / "model.onnx", np.full(265, 0.1))
    process = ["process", str(PHOTO), "--model", str(model), "--basis-dir", str(tiny_model.parent), "-o", "out.jsonl"]
    monkeypatch.chdir(tmp_path)
    assert main(process) == main(process) == 0
    assert checked == [model]
    constant_model(model, np.full(265, 0.2))
    assert main(process) == 0
    assert checked == [model, model]


def _checking_child(parent: subprocess.Popen[str]) -> psutil.Process:
    """The child process of `parent` once it has loaded ONNX Runtime (the test run of the model is under way)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert parent.poll() is None, parent.communicate()
        for child in psutil.Process(parent.pid).children():
            with contextlib.suppress(psutil.Error):
                if any("onnxruntime" in m.path for m in child.memory_maps()):
                    return child
        time.sleep(0.05)
    raise AssertionError("no child process ever ran ONNX Runtime")


@pytest.mark.parametrize("command", ["install", "process"])
def test_sigterm_ends_a_command_whatever_onnx_runtime_is_doing(tmp_path, command):
    model = hostile_model(tmp_path / "endless.onnx", "loop", 10**9)  # 434 s, all of it inside one native call
    args = ["models", "install", str(model)] if command == "install" else ["process", str(PHOTO), "--model", str(model)]
    parent = cli_process(*args)
    child = _checking_child(parent)
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=30)
    assert parent.returncode == 128 + signal.SIGTERM and stderr.strip() == "facemap-gui: interrupted", stderr
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
