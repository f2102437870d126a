"""Replicas of Qualcomm's release zips made from the stand-ins, laid out as Qualcomm publishes them, so the
install, runtime and self-test paths for the real assets can be exercised here:

    facemap_3dmm-onnx-float.zip: facemap_3dmm-onnx-float/{facemap_3dmm.onnx, facemap_3dmm.data, metadata.yaml}
    facemap_3dmm-onnx-w8a8.zip:  facemap_3dmm-onnx-w8a8/{facemap_3dmm.onnx, metadata.json}

with a fixed batch of 1, float I/O with external weights for float, and uint8 I/O with the QDQ graph inside
for w8a8 (as exported with `--quantize_io`). Both say they are stand-ins, in the ONNX metadata and in the
release metadata, so they are never taken for the real thing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import yaml

from facemap_gui.core.atomic import write_atomic
from facemap_gui.inference.landmarks.decode import FoldedBasis
from facemap_gui.inference.landmarks.model import IO_TYPES, inspect_model
from facemap_gui.inference.landmarks.release import STAND_IN_FIELD
from facemap_gui.models.reference import REFERENCE_FILES, ReferenceCase, landmarks_on
from facemap_gui.models.standins.builder import MANIFEST_FILE, STAND_IN_NOTE, write_stand_in
from facemap_gui.sources.demo import demo_photo_path
from facemap_gui.sources.files import read_image_rgb

MODEL_NAME = "facemap_3dmm"
# The bundled detector's box on the demo photo (x0, y0, x1, y1): the replica reference case's face box.
REFERENCE_BOX = (171, 146, 364, 339)
# What the model card lists for the ONNX assets.
TOOL_VERSIONS = {"qairt": "2.42.0", "onnx_runtime": "1.24.3"}


def release_folder(precision: str) -> str:
    return f"{MODEL_NAME}-onnx-{precision}"


def fix_batch(model: onnx.ModelProto) -> None:
    """Batch 1 on the graph's input and output, as Qualcomm's exports have it."""
    del model.graph.value_info[:]  # intermediate shapes still name the old symbolic batch
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1


def quantised_io(model: onnx.ModelProto) -> None:
    """Drop the QuantizeLinear after the float input and the DequantizeLinear before the float output of a QDQ
    model, so that it takes and gives the integers those nodes made (what `--quantize_io` exports)."""
    graph = model.graph
    input_name, output_name = graph.input[0].name, graph.output[0].name
    quantise = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == input_name)
    dequantise = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.output[0] == output_name)
    for node in graph.node:
        node.input[:] = [input_name if name == quantise.output[0] else name for name in node.input]
        node.output[:] = [output_name if name == dequantise.input[0] else name for name in node.output]
    graph.node.remove(quantise)
    graph.node.remove(dequantise)
    # The integer type is that of the zero points the removed nodes used.
    zero_points = {init.name: init.data_type for init in graph.initializer}
    graph.input[0].type.tensor_type.elem_type = zero_points[quantise.input[2]]
    graph.output[0].type.tensor_type.elem_type = zero_points[dequantise.input[2]]


def _tensor_metadata(value: onnx.ValueInfoProto, quantisation: tuple[float, int] | None) -> dict:
    entry: dict = {
        "shape": [d.dim_value for d in value.type.tensor_type.shape.dim],
        "dtype": IO_TYPES[value.type.tensor_type.elem_type],
    }
    if quantisation:
        entry["quantization_parameters"] = {"scale": quantisation[0], "zero_point": quantisation[1]}
    return entry


def write_release(directory: Path, precision: str, arch: str = "tiny", seed: int = 0) -> Path:
    """Write `facemap_3dmm-onnx-<precision>.zip` into `directory` (see the module docstring); returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    folder = release_folder(precision)
    with tempfile.TemporaryDirectory(prefix="replica-", dir=directory) as tmp:
        model = onnx.load(str(write_stand_in(Path(tmp) / "stand-in", arch=arch, seed=seed, precision=precision)))
        fix_batch(model)
        out = Path(tmp) / folder
        out.mkdir()
        target = out / f"{MODEL_NAME}.onnx"
        if precision == "w8a8":
            quantised_io(model)
            onnx.save(model, str(target))
        else:
            onnx.save(
                model,
                str(target),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=f"{MODEL_NAME}.data",
            )
        info = inspect_model(target)
        quant = {io.name: None if io.scale is None else (io.scale, io.zero_point) for io in (info.input, info.output)}
        metadata = {
            "runtime": "onnx",
            "precision": precision,
            "tool_versions": TOOL_VERSIONS,
            "inputs": {v.name: _tensor_metadata(v, quant[v.name]) for v in model.graph.input},
            "outputs": {v.name: _tensor_metadata(v, quant[v.name]) for v in model.graph.output},
            STAND_IN_FIELD: True,
            "note": STAND_IN_NOTE,
        }
        # Older releases have metadata.yaml, newer ones metadata.json: one replica of each.
        if precision == "w8a8":
            (out / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        else:
            (out / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False), encoding="utf-8")
        zip_path = directory / f"{folder}.zip"
        part = Path(tmp) / "release.zip"
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.iterdir()):
                zf.write(path, f"{folder}/{path.name}")
        write_atomic(zip_path, part.read_bytes())
    return zip_path


def write_reference(directory: Path, model: Path, basis_dir: Path) -> Path:
    """Replicas of Qualcomm's self-test files in `directory`: the demo photo as face_img.jpg, REFERENCE_BOX in
    Qualcomm's order (x0, x1, y0, y1), and as reference the landmarks `model` gives on the CPU, with a manifest
    marking them as stand-ins. Returns `directory`."""
    from facemap_gui.inference.runtime import RuntimeSettings, open_landmark_session

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    image, box_file, landmark_file = (directory / name for name in REFERENCE_FILES)
    shutil.copyfile(demo_photo_path(), image)
    x0, y0, x1, y1 = REFERENCE_BOX
    box_file.write_text(f"{x0} {x1} {y0} {y1}\n", encoding="utf-8")
    session = open_landmark_session(lambda precision: model, "cpu", "float", RuntimeSettings())
    points = landmarks_on(
        ReferenceCase(read_image_rgb(image), REFERENCE_BOX, np.zeros((68, 2))), session.run, FoldedBasis.load(basis_dir)
    )
    landmark_file.write_text("".join(f"{x:.4f} {y:.4f}\n" for x, y in points), encoding="utf-8")
    manifest = {"stand_in": True, "note": f"reference landmarks of a stand-in model ({model.name}): not real"}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return directory
