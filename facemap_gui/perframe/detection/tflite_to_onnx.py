"""Converts a BlazeFace .tflite model to ONNX, so ONNX Runtime (CPU, or QNN on the NPU) can run the same detector.

Only the operators MediaPipe's BlazeFace models use are mapped. Constant sub-graphs (fp16 weights that
DEQUANTIZE to float32, sparse weights that DENSIFY) are folded into float32 initialisers here, so the ONNX graph
holds convolutions, pads, pools, adds, resizes and reshapes only: ops the QNN HTP backend runs. Activations
are NCHW in ONNX (TFLite's are NHWC): the model input is `[1, 3, H, W]` RGB in [-1, 1], the two outputs keep
their TFLite names and shapes (`[1, anchors, 16]` box regressors and `[1, anchors, 1]` score logits).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.DimensionType import DimensionType
from tflite.Padding import Padding
from tflite.SparseIndexVector import SparseIndexVector
from tflite.TensorType import TensorType

from facemap_gui.core import store
from facemap_gui.core.atomic import replacing
from facemap_gui.core.errors import ModelError

log = logging.getLogger(__name__)

# Bump when the conversion changes: cached ONNX files of an older converter are then not reused.
CONVERTER_VERSION = "1"
OPSET = 17
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
NUMPY_TYPES = {TensorType.FLOAT32: np.float32, TensorType.FLOAT16: np.float16, TensorType.INT32: np.int32}
INDEX_VECTORS = {
    SparseIndexVector.Int32Vector: tflite.Int32Vector,
    SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
    SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
}
OP_NAMES = {code: name for name, code in vars(BuiltinOperator).items() if not name.startswith("_")}


class ConversionError(Exception):
    """The .tflite file uses something this converter does not map."""


def densify(shape: tuple[int, ...], values: np.ndarray, sparsity: tflite.SparsityParameters) -> np.ndarray:
    """The dense tensor of a TFLite sparse tensor (DENSE / CSR dimensions, no blocks).

    The stored values are the leaves of a tree walked in traversal order: a DENSE level has `dense_size`
    children per node, a CSR level has children `segments[p]:segments[p+1]` whose coordinates are `indices`.
    Expanding level by level keeps the leaves in storage order."""
    if sparsity.BlockMapLength():
        raise ConversionError("block-sparse tensors are not supported")
    order = sparsity.TraversalOrderAsNumpy()
    positions = np.zeros(1, np.int64)  # each node's position within its level
    coords = np.zeros((1, len(shape)), np.int64)
    for level in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == DimensionType.DENSE:
            size = meta.DenseSize()
            children = np.tile(np.arange(size), len(positions))
            parents = np.repeat(np.arange(len(positions)), size)
            positions = positions[parents] * size + children
            coord = children
        else:
            segments, indices = (
                _index_vector(kind, table)
                for kind, table in (
                    (meta.ArraySegmentsType(), meta.ArraySegments()),
                    (meta.ArrayIndicesType(), meta.ArrayIndices()),
                )
            )
            counts = segments[positions + 1] - segments[positions]
            parents = np.repeat(np.arange(len(positions)), counts)
            positions = np.concatenate([np.arange(segments[p], segments[p + 1]) for p in positions])
            coord = indices[positions]
        coords = coords[parents]
        coords[:, order[level]] = coord
    if len(coords) != values.size:
        raise ConversionError(f"sparse tensor holds {values.size} values but its index describes {len(coords)}")
    dense = np.zeros(shape, values.dtype)
    dense[tuple(coords.T)] = values
    return dense


def _index_vector(kind: int, table: Any) -> np.ndarray:  # Any: a flatbuffers table (the package has no types)
    vector = INDEX_VECTORS[kind]()
    vector.Init(table.Bytes, table.Pos)
    return vector.ValuesAsNumpy().astype(np.int64)


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite SAME padding: the output is ceil(size / stride); an odd total pads one more at the end."""
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _options(op: tflite.Operator, kind: type) -> Any:  # Any: the tflite package has no types
    table = op.BuiltinOptions()
    options = kind()
    options.Init(table.Bytes, table.Pos)
    return options


@dataclass
class _Graph:
    """What the conversion has built so far. TFLite tensor i is ONNX value `t{i}` unless it is constant."""

    model: tflite.Model
    subgraph: tflite.SubGraph
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.subgraph.Tensors(index).ShapeAsNumpy())

    def constant(self, index: int) -> np.ndarray | None:
        """The value of a constant tensor (read once from its buffer), None for an activation."""
        if index in self.constants:
            return self.constants[index]
        tensor = self.subgraph.Tensors(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:  # the flatbuffers API returns 0 for an empty vector
            return None
        if tensor.Type() not in NUMPY_TYPES:
            raise ConversionError(f"tensor {tensor.Name().decode()!r} has unsupported type {tensor.Type()}")
        values = data.view(NUMPY_TYPES[tensor.Type()])
        sparsity = tensor.Sparsity()
        self.constants[index] = (
            values.reshape(self.shape(index)) if sparsity is None else densify(self.shape(index), values, sparsity)
        )
        return self.constants[index]

    def required_constant(self, index: int) -> np.ndarray:
        value = self.constant(index)
        if value is None:
            raise ConversionError(f"tensor {self.subgraph.Tensors(index).Name().decode()!r} must be a constant")
        return value

    def initializer(self, value: np.ndarray, name: str) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def activation(self, index: int) -> str:
        """The ONNX name of a TFLite tensor an op reads as data; these models never feed constants there."""
        if self.constant(index) is not None:
            raise ConversionError(
                f"tensor {self.subgraph.Tensors(index).Name().decode()!r} is a constant where an activation is expected"
            )
        return f"t{index}"

    def add(self, op_type: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], name=f"{op_type}_{len(self.nodes)}", **attributes)
        )
        return output

    def add_activated(self, fused: int, op_type: str, inputs: list[str], output: int, **attributes: Any) -> None:
        """An op followed by its TFLite fused activation, writing TFLite tensor `output`."""
        if fused == ActivationFunctionType.NONE:
            self.add(op_type, inputs, f"t{output}", **attributes)
        elif fused == ActivationFunctionType.RELU:
            self.add("Relu", [self.add(op_type, inputs, f"pre{output}", **attributes)], f"t{output}")
        else:
            raise ConversionError(f"fused activation {fused} is not supported")


Converter = Callable[[_Graph, tflite.Operator, list[int], int], None]


def _conv(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int, depthwise: bool) -> None:
    options = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    kernel = graph.required_constant(inputs[1]).astype(np.float32)  # OHWI (depthwise: 1HW(C*multiplier))
    _, height, width, channels = graph.shape(inputs[0])
    # ONNX wants OIHW; a depthwise kernel is a grouped convolution with one input channel per group.
    weights = kernel.transpose(3, 0, 1, 2) if depthwise else kernel.transpose(0, 3, 1, 2)
    strides = [options.StrideH(), options.StrideW()]
    dilations = [options.DilationHFactor(), options.DilationWFactor()]
    pads = [0, 0, 0, 0]
    if options.Padding() == Padding.SAME:
        top, bottom = same_pads(height, weights.shape[2], strides[0], dilations[0])
        left, right = same_pads(width, weights.shape[3], strides[1], dilations[1])
        pads = [top, left, bottom, right]
    names = [graph.activation(inputs[0]), graph.initializer(weights, f"w{output}")]
    if len(inputs) > 2 and inputs[2] >= 0:
        names.append(graph.initializer(graph.required_constant(inputs[2]).astype(np.float32), f"b{output}"))
    graph.add_activated(
        options.FusedActivationFunction(),
        "Conv",
        names,
        output,
        strides=strides,
        dilations=dilations,
        pads=pads,
        group=channels if depthwise else 1,
        kernel_shape=list(weights.shape[2:]),
    )


def _add(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    graph.add_activated(
        _options(op, tflite.AddOptions).FusedActivationFunction(), "Add", [graph.activation(i) for i in inputs], output
    )


def _pad(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    paddings = graph.required_constant(inputs[1]).astype(np.int64)  # (rank, 2) before/after, NHWC
    if len(paddings) == 4:
        paddings = paddings[list(NHWC_TO_NCHW)]
    pads = graph.initializer(np.concatenate([paddings[:, 0], paddings[:, 1]]), f"p{output}")
    graph.add("Pad", [graph.activation(inputs[0]), pads], f"t{output}", mode="constant")


def _max_pool(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    options = _options(op, tflite.Pool2DOptions)
    _, height, width, _ = graph.shape(inputs[0])
    kernel = [options.FilterHeight(), options.FilterWidth()]
    strides = [options.StrideH(), options.StrideW()]
    pads = [0, 0, 0, 0]
    if options.Padding() == Padding.SAME:
        (top, bottom), (left, right) = same_pads(height, kernel[0], strides[0]), same_pads(width, kernel[1], strides[1])
        pads = [top, left, bottom, right]
    graph.add_activated(
        options.FusedActivationFunction(),
        "MaxPool",
        [graph.activation(inputs[0])],
        output,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
    )


def _reshape(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    source = graph.activation(inputs[0])
    if len(graph.shape(inputs[0])) == 4:  # the flattening order is TFLite's: back to NHWC first
        source = graph.add("Transpose", [source], f"nhwc{output}", perm=list(NCHW_TO_NHWC))
    shape = graph.initializer(np.array(graph.shape(output), np.int64), f"s{output}")
    graph.add("Reshape", [source, shape], f"t{output}")


def _concatenation(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    options = _options(op, tflite.ConcatenationOptions)
    rank = len(graph.shape(output))
    axis = options.Axis() % rank
    if rank == 4:
        axis = NHWC_TO_NCHW.index(axis)
    graph.add_activated(
        options.FusedActivationFunction(), "Concat", [graph.activation(i) for i in inputs], output, axis=axis
    )


def _resize_bilinear(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    options = _options(op, tflite.ResizeBilinearOptions)
    mode = "align_corners" if options.AlignCorners() else "half_pixel" if options.HalfPixelCenters() else "asymmetric"
    n, height, width, channels = graph.shape(output)
    sizes = graph.initializer(np.array([n, channels, height, width], np.int64), f"size{output}")
    graph.add(
        "Resize",
        [graph.activation(inputs[0]), "", "", sizes],
        f"t{output}",
        mode="linear",
        coordinate_transformation_mode=mode,
    )


def _depth_to_space(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    # TensorFlow's depth-to-space channel order is ONNX's DCR mode.
    graph.add(
        "DepthToSpace",
        [graph.activation(inputs[0])],
        f"t{output}",
        mode="DCR",
        blocksize=_options(op, tflite.DepthToSpaceOptions).BlockSize(),
    )


def _relu(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    graph.add("Relu", [graph.activation(inputs[0])], f"t{output}")


def _fold(graph: _Graph, op: tflite.Operator, inputs: list[int], output: int) -> None:
    """DEQUANTIZE (fp16 → fp32) and DENSIFY of constant weights: computed here, no node."""
    tensor = graph.subgraph.Tensors(inputs[0])
    quantization = tensor.Quantization()
    if quantization is not None and quantization.ScaleLength():
        raise ConversionError(f"tensor {tensor.Name().decode()!r} is integer-quantised; only fp16 is supported")
    graph.constants[output] = graph.required_constant(inputs[0]).astype(
        NUMPY_TYPES[graph.subgraph.Tensors(output).Type()]
    )


CONVERTERS: dict[int, Converter] = {
    BuiltinOperator.CONV_2D: lambda g, op, i, o: _conv(g, op, i, o, depthwise=False),
    BuiltinOperator.DEPTHWISE_CONV_2D: lambda g, op, i, o: _conv(g, op, i, o, depthwise=True),
    BuiltinOperator.ADD: _add,
    BuiltinOperator.RELU: _relu,
    BuiltinOperator.PAD: _pad,
    BuiltinOperator.MAX_POOL_2D: _max_pool,
    BuiltinOperator.RESHAPE: _reshape,
    BuiltinOperator.CONCATENATION: _concatenation,
    BuiltinOperator.RESIZE_BILINEAR: _resize_bilinear,
    BuiltinOperator.DEPTH_TO_SPACE: _depth_to_space,
    BuiltinOperator.DEQUANTIZE: _fold,
    BuiltinOperator.DENSIFY: _fold,
}


def convert(data: bytes) -> onnx.ModelProto:
    """The ONNX model of a .tflite flatbuffer; ConversionError when it uses something not mapped here."""
    if not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise ConversionError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() != 1:
        raise ConversionError(f"{model.SubgraphsLength()} subgraphs; a BlazeFace model has one")
    subgraph = model.Subgraphs(0)
    graph = _Graph(model, subgraph)
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Builtin codes above 127 live in BuiltinCode; older files only fill DeprecatedBuiltinCode.
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if kind not in CONVERTERS:
            raise ConversionError(f"operator {OP_NAMES.get(kind, kind)} is not supported")
        CONVERTERS[kind](graph, op, [int(t) for t in op.InputsAsNumpy()], int(op.OutputsAsNumpy()[0]))

    (image,) = subgraph.InputsAsNumpy()
    n, height, width, channels = graph.shape(image)
    # The graph's inputs and outputs keep their TFLite names; inner values stay `t{index}`.
    names = {f"t{i}": subgraph.Tensors(i).Name().decode() for i in (image, *subgraph.OutputsAsNumpy())}
    for node in graph.nodes:
        node.input[:] = [names.get(value, value) for value in node.input]
        node.output[:] = [names.get(value, value) for value in node.output]
    inputs = [helper.make_tensor_value_info(names[f"t{image}"], TensorProto.FLOAT, [n, channels, height, width])]
    outputs = [
        helper.make_tensor_value_info(names[f"t{o}"], TensorProto.FLOAT, list(graph.shape(o)))
        for o in subgraph.OutputsAsNumpy()
    ]
    onnx_graph = helper.make_graph(graph.nodes, "blazeface", inputs, outputs, graph.initializers)
    onnx_model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facemap-gui",
        producer_version=CONVERTER_VERSION,
    )
    onnx_model.ir_version = 8  # readable by every onnxruntime the app supports
    onnx.checker.check_model(onnx_model)
    return onnx_model


def converted_path(tflite_path: Path) -> Path:
    """The ONNX file converted from `tflite_path`, converted on first use and cached by content hash
    (and converter version) in the user cache directory. A bad file is a one-line ModelError."""
    try:
        data = Path(tflite_path).read_bytes()
    except OSError as exc:
        raise ModelError(
            f"{tflite_path}: cannot read the detector model ({exc.strerror}); "
            "pass --detector FILE.tflite with a BlazeFace model"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    target = store.cache_dir() / "detectors" / f"{Path(tflite_path).stem}-{digest[:16]}-c{CONVERTER_VERSION}.onnx"
    if target.is_file():
        return target
    try:
        model = convert(data)
    except ConversionError as exc:
        raise ModelError(
            f"{tflite_path}: cannot convert the detector to ONNX ({exc}); use a MediaPipe BlazeFace .tflite model"
        ) from exc
    except Exception as exc:  # a corrupt flatbuffer fails anywhere in the generated accessors
        raise ModelError(
            f"{tflite_path}: not a readable .tflite model ({type(exc).__name__}: {exc}); "
            "use a MediaPipe BlazeFace .tflite model"
        ) from exc
    model.metadata_props.add(key="facemap_gui.source_sha256", value=digest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as part:
            onnx.save(model, part)
    except OSError as exc:
        raise ModelError(
            f"{target.parent}: cannot write the converted detector ({exc.strerror}); free some space "
            "or point FACEMAP_GUI_HOME at a writable folder"
        ) from exc
    log.info("converted %s to %s", tflite_path, target)
    return target
