"""The NPU path on the QNN HTP simulator that the x86 onnxruntime-qnn wheel ships.

Each configuration runs `facemap-gui process` in its own process, because QNN options can leak between
sessions of one process. The tiny stand-in keeps each run around a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from facemap_gui.inference.runtime.cache import cache_root
from facemap_gui.models.standins import MODEL_FILE, stand_in_basis
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline
from facemap_gui.sources import open_source
from tests.conftest import PHOTO
from tests.helpers import facemap_io_model

pytestmark = [pytest.mark.simulator, pytest.mark.slow]

FACE_BOX = (171, 146, 364, 339)
QNN = "QNNExecutionProvider"


def process_on_npu(
    model: Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[list[dict], str, int]:
    """Run `facemap-gui process PHOTO --runtime npu` (`model`, or None: the installed one) in a fresh process:
    JSON records, stderr, exit code."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "facemap_gui.cli",
            "process",
            str(PHOTO),
            "--box",
            ",".join(map(str, FACE_BOX)),
            *(["--model", str(model)] if model is not None else []),
            "--runtime",
            "npu",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    # Every stdout line must be JSON: libQnnHtp's "# LIBNATIVE" prints are kept off it.
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr, result.returncode


def landmarks(records: list[dict]) -> np.ndarray:
    return np.array(records[1]["faces"][0]["landmarks"])


def cpu_landmarks(model: Path, precision: str = "float") -> np.ndarray:
    pipeline = build_pipeline(RunOptions(source=str(PHOTO), model=model, box=FACE_BOX, precision=precision))
    with open_source(str(PHOTO)) as source:
        return pipeline.process(source.read()).faces[0].landmarks


def test_float_model_runs_wholly_on_the_htp_and_matches_the_cpu(tiny_model):
    records, stderr, code = process_on_npu(tiny_model, "--allow-simulator")
    assert code == 0, stderr
    runtime = records[0]["runtime"]
    assert (runtime["runtime"], runtime["precision"]) == ("npu", "float")
    assert "simulator" in runtime["device"]
    assert set(runtime["nodes_by_ep"]) == {QNN} and runtime["fallback_reason"] is None
    assert "LIBNATIVE" not in stderr  # captured and logged at debug level
    # fp16 on the HTP: within a quarter pixel (~0.07 px here) of fp32 on the CPU, on a 194 px face.
    np.testing.assert_allclose(landmarks(records), cpu_landmarks(tiny_model), atol=0.25)


def test_compiled_model_cache_is_written_then_reused_and_a_corrupt_entry_rebuilt(tiny_model):
    first, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    assert first[0]["runtime"]["cache"] == "written"
    entries = list(cache_root().glob("*.onnx"))
    assert len(entries) == 1 and entries[0].name.startswith("facemap_3dmm-float-")

    second, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    assert second[0]["runtime"]["cache"] == "loaded"
    assert set(second[0]["runtime"]["nodes_by_ep"]) == {QNN}
    np.testing.assert_array_equal(landmarks(second), landmarks(first))

    entries[0].write_bytes(b"not an ONNX model")
    third, stderr, code = process_on_npu(tiny_model, "--allow-simulator")
    assert code == 0 and third[0]["runtime"]["cache"] == "rebuilt"
    assert "compiled-model cache" in stderr
    np.testing.assert_array_equal(landmarks(third), landmarks(first))
    rebuilt = onnx.load(str(entries[0]))
    assert [node.op_type for node in rebuilt.graph.node] == ["EPContext"]
    assert list(cache_root().glob("*.onnx")) == entries


def test_an_unwritable_cache_costs_the_cache_not_the_npu(tiny_model):
    cache_root().parent.mkdir(parents=True)
    cache_root().write_text("a file where the cache directory should be")
    records, stderr, code = process_on_npu(tiny_model, "--allow-simulator")
    assert code == 0, stderr
    runtime = records[0]["runtime"]
    assert runtime["runtime"] == "npu" and set(runtime["nodes_by_ep"]) == {QNN} and runtime["cache"] is None
    assert "cannot write the compiled-model cache" in stderr


def test_forcing_fp32_compiles_its_own_cache_entry(tiny_model):
    fp16, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    fp32, stderr, code = process_on_npu(tiny_model, "--allow-simulator", env={"FACEMAP_GUI_NPU_FP32": "1"})
    assert code == 0, stderr
    assert fp32[0]["runtime"]["cache"] == "written"  # the fp16 entry is not reused for fp32
    assert set(fp32[0]["runtime"]["nodes_by_ep"]) == {QNN}
    assert len(list(cache_root().glob("*.onnx"))) == 2
    np.testing.assert_allclose(landmarks(fp32), landmarks(fp16), atol=0.25)


def test_w8a8_model_runs_wholly_on_the_htp(tiny_w8a8):
    # Allowed through the environment this time, as CI jobs do.
    records, stderr, code = process_on_npu(
        tiny_w8a8.with_name(MODEL_FILE), "--precision", "w8a8", env={"FACEMAP_GUI_ALLOW_SIMULATOR": "1"}
    )
    assert code == 0, stderr
    runtime = records[0]["runtime"]
    assert (runtime["runtime"], runtime["precision"]) == ("npu", "w8a8")
    assert records[0]["model"]["path"] == str(tiny_w8a8)
    assert set(runtime["nodes_by_ep"]) == {QNN} and runtime["fallback_reason"] is None
    # Against the CPU EP running the same QDQ model: HTP integer kernels round differently, by well under 1% of
    # the 194 px face (Qualcomm's accuracy bar), here ~1.3 px.
    np.testing.assert_allclose(landmarks(records), cpu_landmarks(tiny_w8a8, "w8a8"), atol=2.0)


def model_with_an_op_the_htp_lacks(directory: Path) -> Path:
    """The real I/O around a Sinh, which the QNN EP does not support, so that node must run elsewhere."""
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0),
        helper.make_node("Sinh", ["mean"], ["sinh"]),
        helper.make_node("Unsqueeze", ["sinh", "one"], ["column"]),
        helper.make_node("Mul", ["column", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "params"], ["parameters_3dmm"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero"),
        numpy_helper.from_array(np.zeros((1, 265), np.float32), "params"),
    ]
    onnx.save(facemap_io_model("sinh", nodes, inits), directory / "sinh.onnx")
    for name, array in stand_in_basis().items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)
    return directory / "sinh.onnx"


def test_a_node_off_the_npu_is_reported_and_refused_with_strict(tmp_path):
    model = model_with_an_op_the_htp_lacks(tmp_path)
    records, stderr, code = process_on_npu(model, "--allow-simulator")
    assert code == 0, stderr
    runtime = records[0]["runtime"]
    assert runtime["runtime"] == "npu" and runtime["nodes_by_ep"]["CPUExecutionProvider"] == 1
    assert runtime["fallback_reason"].startswith("1 of ") and runtime["fallback_reason"].endswith("(Sinh)")
    assert "WARNING: landmark model: asked for npu/float" in stderr

    records, stderr, code = process_on_npu(model, "--allow-simulator", "--strict")
    assert code == 2 and records == []
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("facemap-gui: error: --runtime npu: --strict: 1 of ")
    assert last_line.endswith("(Sinh)")
