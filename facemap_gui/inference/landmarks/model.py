"""Checks a facemap_3dmm ONNX file against the I/O the app expects, before any session is built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import INPUT_SIZE, NUM_PARAMS, basis_files
from facemap_gui.inference.landmarks.onnx_proto import load_graph, messages, small_array
from facemap_gui.inference.landmarks.provenance import Provenance, read_provenance
from facemap_gui.inference.landmarks.release import (
    ReleaseMetadata,
    TensorSpec,
    check_scale,
    find_metadata,
    read_metadata,
)

# ONNX element type → numpy dtype name, for the I/O types the app converts to and from.
_T = messages().TensorProto
IO_TYPES = {_T.FLOAT: "float32", _T.FLOAT16: "float16", _T.UINT8: "uint8", _T.INT8: "int8", _T.UINT16: "uint16"}


@dataclass(frozen=True)
class TensorIO:
    """One model input or output: its name, element type and, for integer types, the affine quantisation
    `real = (q - zero_point) * scale` (Qualcomm's `--quantize_io` exports have uint8 I/O)."""

    name: str
    dtype: str
    scale: float | None = None
    zero_point: int = 0

    def to_model(self, values: np.ndarray) -> np.ndarray:
        """Float values → this tensor's type: `clip(rint(x / scale) + zero_point)` for integers."""
        if self.scale is None:
            return values.astype(self.dtype, copy=False)
        limits = np.iinfo(self.dtype)
        return np.clip(np.rint(values / self.scale) + self.zero_point, limits.min, limits.max).astype(self.dtype)

    def from_model(self, values: np.ndarray) -> np.ndarray:
        """This tensor's values → float32: `(q - zero_point) * scale` for integers."""
        if self.scale is None:
            return values.astype(np.float32, copy=False)
        return (values.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)

    def describe(self) -> str:
        if self.scale is None:
            return self.dtype
        return f"{self.dtype} (scale {self.scale:.6g}, zero point {self.zero_point})"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    provenance: Provenance  # of the model and the basis it runs with, when inspected with one
    input: TensorIO
    output: TensorIO
    dynamic_batch: bool
    description: str
    metadata: ReleaseMetadata | None = None  # the release's metadata file beside the model, if any

    @property
    def stand_in(self) -> bool:
        return self.provenance.stand_in

    def io_summary(self) -> str:
        return f"input {self.input.describe()}, output {self.output.describe()}"


def _dims(value_info: Any) -> list[int | str]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


def _constant(model: Any, name: str, folder: Path) -> np.ndarray | None:
    """The value of an initializer or Constant node output (scales and zero points), or None."""
    for tensor in model.graph.initializer:
        if tensor.name == name:
            try:
                return small_array(tensor, folder)
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"{folder}: cannot read the model's tensor '{name}' ({type(exc).__name__}); "
                    "install the whole release zip again"
                ) from exc
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name and node.attribute[0].HasField("t"):
            return small_array(node.attribute[0].t, folder)
    return None


def _quantisation(model: Any, path: Path, name: str, is_input: bool) -> tuple[float, int] | None:
    """(scale, zero point) of the DequantizeLinear that consumes input `name` or the QuantizeLinear that
    produces output `name`, or None when the graph has none."""
    op = "DequantizeLinear" if is_input else "QuantizeLinear"
    for node in model.graph.node:
        if node.op_type == op and (node.input[0] if is_input else node.output[0]) == name:
            scale = _constant(model, node.input[1], path.parent)
            zero = _constant(model, node.input[2], path.parent) if len(node.input) > 2 and node.input[2] else 0
            if scale is None or zero is None or np.size(scale) != 1 or np.size(zero) != 1:
                raise ModelError(
                    f"{path}: the {op} of '{name}' has no constant per-tensor scale and zero point; "
                    "this app needs per-tensor I/O quantisation"
                )
            return float(np.asarray(scale).reshape(())), int(np.asarray(zero).reshape(()))
    return None


def _tensor_io(model: Any, path: Path, value: Any, is_input: bool, metadata: ReleaseMetadata | None) -> TensorIO:
    """The I/O type of one tensor, with its quantisation from the graph, cross-checked against the metadata."""
    kind = "input" if is_input else "output"
    elem = value.type.tensor_type.elem_type
    if elem not in IO_TYPES:
        raise ModelError(
            f"{path}: {kind} '{value.name}' has element type {_T.DataType.Name(elem)}; "
            f"this app runs models with {', '.join(IO_TYPES.values())} I/O"
        )
    dtype = IO_TYPES[elem]
    # The spec and the file it comes from (without metadata the spec is empty, so no message names that file).
    spec, said_in = (
        (metadata.tensors.get(value.name, TensorSpec()), metadata.path) if metadata else (TensorSpec(), path)
    )
    if spec.dtype is not None and spec.dtype != dtype:
        raise ModelError(
            f"{said_in}: says {kind} '{value.name}' is {spec.dtype} but {path} has {dtype}; the "
            "files come from different releases: install the whole release zip again"
        )
    if dtype.startswith("float"):
        return TensorIO(value.name, dtype)
    graph = _quantisation(model, path, value.name, is_input)
    given = None if spec.scale is None else (spec.scale, spec.zero_point or 0)
    if graph and given and (not np.isclose(graph[0], given[0], rtol=1e-4, atol=0) or graph[1] != given[1]):
        raise ModelError(
            f"{said_in}: says {kind} '{value.name}' has scale {given[0]:.6g}, zero point "
            f"{given[1]}, but {path} has {graph[0]:.6g}, {graph[1]}; the files come from different "
            "releases: install the whole release zip again"
        )
    scale, zero_point = graph or given or (None, 0)
    if scale is None:
        raise ModelError(
            f"{path}: {kind} '{value.name}' is {dtype} with no "
            f"{'DequantizeLinear after' if is_input else 'QuantizeLinear before'} it and no metadata "
            "file giving its scale and zero point; install the release zip it came in"
        )
    check_scale(str(path), value.name, scale)
    limits = np.iinfo(dtype)
    if not limits.min <= zero_point <= limits.max:
        raise ModelError(
            f"{said_in if given and not graph else path}: {kind} '{value.name}' has zero point "
            f"{zero_point}, outside {dtype}'s {limits.min}..{limits.max}; the model is damaged: download it again"
        )
    return TensorIO(value.name, dtype, scale, zero_point)


def inspect_model(path: Path, basis: Path | None = None) -> ModelInfo:
    """Read the graph's inputs and outputs (not the weights) and check them: one image input [N, 3, 128, 128]
    and one [N, 265] output, float or quantised (scale and zero point from the graph, checked against a
    release metadata file beside the model). The provenance covers the model and, when given, the `basis`
    folder it runs with. Raises ModelError with the file and the fix."""
    path = Path(path)
    fix = "re-download it with `facemap-gui models download` or pass the right --model"
    if not path.is_file():
        raise ModelError(f"{path}: landmark model not found ({fix})")
    try:
        model = load_graph(path)
    except (DecodeError, ValueError, OSError, MemoryError) as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}); {fix}") from exc
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)} "
            f"(is this the facemap_3dmm model?); {fix}"
        )
    in_dims, out_dims = _dims(inputs[0]), _dims(outputs[0])
    if in_dims[1:] != [3, INPUT_SIZE, INPUT_SIZE]:
        raise ModelError(f"{path}: input '{inputs[0].name}' is {in_dims}, expected [N, 3, 128, 128]; {fix}")
    if len(out_dims) != 2 or out_dims[1] != NUM_PARAMS:
        raise ModelError(f"{path}: output '{outputs[0].name}' is {out_dims}, expected [N, 265]; {fix}")
    if isinstance(in_dims[0], int) and in_dims[0] != 1:  # 0 too: ONNX Runtime then refuses every crop
        raise ModelError(
            f"{path}: input '{inputs[0].name}' has a fixed batch of {in_dims[0]}; this app runs "
            f"models with batch 1 or a dynamic batch; {fix}"
        )
    metadata_file = find_metadata(path.parent)
    metadata = read_metadata(metadata_file) if metadata_file else None
    meta = {p.key: p.value for p in model.metadata_props}
    return ModelInfo(
        path=path,
        sha256=file_sha256(path),
        provenance=read_provenance([path, *(basis_files(basis) if basis else [])], graph=model),
        input=_tensor_io(model, path, inputs[0], True, metadata),
        output=_tensor_io(model, path, outputs[0], False, metadata),
        dynamic_batch=not isinstance(in_dims[0], int),
        description=meta.get("facemap_gui.description", ""),
        metadata=metadata,
    )
