"""The uint8-I/O w8a8 release replica on the QNN HTP simulator: every node on QNN, with QNN quantising the graph
I/O itself or not (`offload_graph_io_quantization` 0 and 1),
each configuration in its own process (QNN options can leak between sessions of one process)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facemap_gui.inference.runtime.qnn import is_simulator, qnn_devices
from facemap_gui.perframe.crop import expand_box, preprocess
from facemap_gui.sources.files import read_image_rgb
from tests.conftest import PHOTO
from tests.helpers import unpacked
from tests.test_runtime_simulator import FACE_BOX, QNN, landmarks, process_on_npu

pytestmark = [
    pytest.mark.simulator,
    pytest.mark.skipif(
        not any(is_simulator(d) for d in qnn_devices()), reason="needs the x86 HTP simulator of onnxruntime-qnn"
    ),
]

# Opens the model on the simulator with the app's HTP options but the given offload setting; prints where the
# nodes went and the raw uint8 outputs for the crop in the .npy file, as JSON.
PLACEMENT_SCRIPT = """
import json, sys
import numpy as np, onnxruntime as ort
from facemap_gui.core.native import captured_native_output
from facemap_gui.inference.runtime.qnn import NPU
from facemap_gui.inference.runtime.session import base_session_options, nodes_by_ep
device, _ = NPU.select_device(True)
options = {**NPU.provider_options("w8a8", True), "offload_graph_io_quantization": sys.argv[2]}
session_options = base_session_options()
session_options.add_provider_for_devices([device], options)
crop = np.load(sys.argv[3])
with captured_native_output(fds=(1,)):
    session = ort.InferenceSession(sys.argv[1], session_options)
    out = session.run(None, {"image": crop})[0]
print(json.dumps({"nodes": nodes_by_ep(session), "output": out.tolist()}))
"""


@pytest.mark.parametrize("offload", ["0", "1"])
def test_uint8_io_replica_runs_every_node_on_the_htp(releases, tmp_path, offload):
    import onnxruntime as ort

    model = unpacked(releases["w8a8"], tmp_path) / "facemap_3dmm.onnx"
    # The face crop the pipeline makes of the photo, in the model's uint8 input (scale 1/255): inside the range
    # the activations were calibrated on, as a real input is.
    boxes = np.array([expand_box(FACE_BOX, read_image_rgb(PHOTO).shape[1::-1])])
    crop = np.rint(preprocess(read_image_rgb(PHOTO), boxes) * 255).astype(np.uint8)
    np.save(tmp_path / "crop.npy", crop)
    result = subprocess.run(
        [sys.executable, "-c", PLACEMENT_SCRIPT, str(model), offload, str(tmp_path / "crop.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report["nodes"]) == {QNN} and report["nodes"][QNN] > 10
    cpu = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"image": crop})[0]
    npu = np.array(report["output"], np.int64)
    # HTP integer kernels round differently: up to 5 of the 255 output steps on the tiny stand-in (its random
    # features are noisy under 8 bits), on 3 of its 265 outputs; wrong I/O quantisation would be off by dozens.
    steps = np.abs(npu - cpu.astype(np.int64))
    print(f"offload {offload}: max {steps.max()} steps, {np.count_nonzero(steps)} outputs differ")
    assert steps.max() <= 8


def test_process_runs_the_installed_w8a8_replica_on_the_npu(releases, basis_files):
    from facemap_gui.cli import main

    for path in [*basis_files, releases["w8a8"]]:
        assert main(["models", "install", str(path)]) == 0
    # The installed model, in the data directory the autouse fixture made (through the environment).
    records, stderr, code = process_on_npu(None, "--precision", "w8a8", "--allow-simulator", "--strict", timeout=300)
    assert code == 0, stderr
    runtime = records[0]["runtime"]
    assert (runtime["runtime"], runtime["precision"]) == ("npu", "w8a8")
    assert set(runtime["nodes_by_ep"]) == {QNN} and runtime["io"].startswith("input uint8")
    assert landmarks(records).shape == (68, 2)
