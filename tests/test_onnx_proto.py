"""Models are read with ONNX's protobuf messages alone (no `import onnx` at start-up): what they read must be what
onnx itself reads."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facemap_gui.inference.landmarks.onnx_proto import load_graph, small_array


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "int8", "uint16", "int16", "int32"])
@pytest.mark.parametrize("raw", [True, False])
def test_small_tensors_read_as_numpy_helper_reads_them(tmp_path, dtype, raw):
    values = np.array([[0, 1, 7], [100, 3, 2]]).astype(dtype)
    if dtype.startswith("float"):
        values = (values / 7).astype(dtype)
    if raw:
        tensor = numpy_helper.from_array(values, "t")
    else:  # the typed fields: float_data, or int32_data (which also holds float16 bits and narrow integers)
        elem = helper.np_dtype_to_tensor_dtype(values.dtype)
        tensor = helper.make_tensor("t", elem, values.shape, values.flatten().tolist())
    assert bool(tensor.raw_data) is raw
    read = small_array(tensor, tmp_path)
    assert read.dtype == values.dtype and read.shape == (2, 3)
    assert np.array_equal(read, numpy_helper.to_array(tensor)) and np.array_equal(read, values)


def test_other_types_go_through_onnx(tmp_path):
    tensor = numpy_helper.from_array(np.array([1.5, -2.25]), "t")  # float64: not one of the fast path's types
    assert tensor.data_type == TensorProto.DOUBLE
    assert small_array(tensor, tmp_path).tolist() == [1.5, -2.25]


def test_the_graph_is_onnx_loads(tiny_model):
    ours, theirs = load_graph(tiny_model), onnx.load(str(tiny_model), load_external_data=False)
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert [i.name for i in ours.graph.input] == [i.name for i in theirs.graph.input] and ours.graph.node
