"""Checks a facemap_3dmm ONNX file against the I/O the app expects, before any session is built."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from facemap_gui.errors import ModelError
from facemap_gui.landmarks.decode import INPUT_SIZE, NUM_PARAMS

STAND_IN_KEY = "facemap_gui.stand_in"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    stand_in: bool
    input_name: str
    output_name: str
    dynamic_batch: bool
    description: str


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


def inspect_model(path: Path) -> ModelInfo:
    """Read the graph's inputs and outputs (not the weights) and check them: one float image
    input [N, 3, 128, 128] and one [N, 265] output. Raises ModelError with the file and the fix."""
    path = Path(path)
    fix = "re-download it with `facemap-gui models download` or pass the right --model"
    if not path.is_file():
        raise ModelError(f"{path}: landmark model not found ({fix})")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}); {fix}") from exc
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)} "
                         f"(is this the facemap_3dmm model?); {fix}")
    in_dims, out_dims = _dims(inputs[0]), _dims(outputs[0])
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT or in_dims[1:] != [3, INPUT_SIZE,
                                                                                           INPUT_SIZE]:
        raise ModelError(f"{path}: input '{inputs[0].name}' is {in_dims}, expected float [N, 3, 128, 128]; {fix}")
    if len(out_dims) != 2 or out_dims[1] != NUM_PARAMS:
        raise ModelError(f"{path}: output '{outputs[0].name}' is {out_dims}, expected [N, 265]; {fix}")
    meta = {p.key: p.value for p in model.metadata_props}
    return ModelInfo(
        path=path,
        sha256=file_sha256(path),
        stand_in=meta.get(STAND_IN_KEY, "").lower() == "true",
        input_name=inputs[0].name,
        output_name=outputs[0].name,
        dynamic_batch=not isinstance(in_dims[0], int) or in_dims[0] == 0,
        description=meta.get("facemap_gui.description", ""),
    )
