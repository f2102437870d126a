"""The stand-in networks described layer by layer as ONNX: `full` is the real model's half-width ResNet-18
(~5.42M random parameters, so speed and NPU placement figures mean something), `tiny` a small network for tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from facemap_gui.inference.landmarks.decode import INPUT_SIZE

ARCHITECTURES = ("full", "tiny")
OPSET = 17


@dataclass
class Graph:
    """Accumulates nodes and initializers while a network is described layer by layer."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array: npt.ArrayLike, prefix: str = "w", dtype: type = np.float32) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, gain: float = 1.0) -> str:
        # He-initialised, with batch norm folded into the bias as an exported model has it.
        w = self.rng.normal(0, gain * math.sqrt(2.0 / (c_in * k * k)), (c_out, c_in, k, k))
        b = self.rng.normal(0, 0.01, c_out)
        return self.node(
            "Conv",
            [x, self.const(w), self.const(b, "b")],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )

    def basic_block(self, x: str, c_in: int, c_out: int, stride: int) -> str:
        y = self.node("Relu", [self.conv(x, c_in, c_out, 3, stride)])
        y = self.conv(y, c_out, c_out, 3, gain=0.3)  # small residual branch keeps random activations bounded
        shortcut = x if (c_in == c_out and stride == 1) else self.conv(x, c_in, c_out, 1, stride)
        return self.node("Relu", [self.node("Add", [y, shortcut])])


def features(g: Graph, arch: str) -> tuple[str, int]:
    """The network up to its pooled feature vector; returns the tensor name and its width."""
    x = g.node("Mul", ["image", g.const(np.array(255.0))])  # the real graph scales [0, 1] input itself
    x = g.conv(x, 3, 1, 1)  # RGB → one channel, as the real model does
    if arch == "tiny":  # 8 channels pooled to 4x4: 128 features that still say where things are
        x = g.node("Relu", [g.conv(x, 1, 8, 3, stride=4)])
        return g.node("Flatten", [g.node("AveragePool", [x], kernel_shape=[8, 8], strides=[8, 8])]), 128
    x = g.node("Relu", [g.conv(x, 1, 32, 7, stride=2)])
    x = g.node("Pad", [x, g.const([0, 0, 0, 0, 0, 0, 1, 1], "pads", np.int64)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    c_in = 32
    for c_mid, c_out, stride in [(32, 32, 1), (64, 64, 2), (128, 128, 2), (256, 512, 2)]:
        x = g.basic_block(x, c_in, c_mid, stride)
        x = g.basic_block(x, c_mid, c_out, 1)
        c_in = c_out
    return g.node("Flatten", [g.node("AveragePool", [x], kernel_shape=[4, 4])]), c_in


def onnx_model(g: Graph, name: str, output: str, width: int | str) -> onnx.ModelProto:
    """The graph so far as a model from `image` [batch, 3, 128, 128] to `output` [batch, width]."""
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", width])],
        g.weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facemap-gui stand-in"
    )
    model.ir_version = 8
    return model
