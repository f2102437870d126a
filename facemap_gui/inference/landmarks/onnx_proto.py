"""ONNX files read with ONNX's generated protobuf messages alone: `import onnx` takes ~0.6 s (ml_dtypes and its
helpers load with it), while checking a model's inputs, outputs and I/O quantisation needs none of that
(~0.05 s). Start-up of `process` and of the window pays for it on every run."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np


@cache
def messages() -> ModuleType:
    """onnx's `onnx_ml_pb2` (ModelProto, TensorProto, ...), from the installed onnx without its package."""
    package = None if "onnx" in sys.modules else importlib.util.find_spec("onnx")
    # Found in onnx's folder by the import system's own finders (a file in a venv, PyInstaller's archive in
    # the app), without running onnx/__init__.py: the generated module imports only google.protobuf.
    spec = package and importlib.machinery.PathFinder.find_spec("onnx_ml_pb2", package.submodule_search_locations)
    if spec is None or spec.loader is None:  # onnx already imported (the very same module), or not found so
        import onnx

        return onnx.onnx_ml_pb2
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_graph(path: Path) -> Any:
    """The ModelProto without external tensor data, as `onnx.load(path, load_external_data=False)` gives it;
    raises google.protobuf's DecodeError for a file that is not one."""
    model = messages().ModelProto()
    model.ParseFromString(Path(path).read_bytes())
    return model


_T = messages().TensorProto
_DTYPES = {
    _T.FLOAT: "float32",
    _T.FLOAT16: "float16",
    _T.UINT8: "uint8",
    _T.INT8: "int8",
    _T.UINT16: "uint16",
    _T.INT16: "int16",
    _T.INT32: "int32",
}


def small_array(tensor: Any, folder: Path) -> np.ndarray:
    """A TensorProto's values (I/O scales and zero points), as `onnx.numpy_helper.to_array` reads them."""
    if tensor.data_location == _T.EXTERNAL or tensor.data_type not in _DTYPES:
        # Never seen for a scalar (onnx keeps tensors under 1 KB inline): onnx's own reader, with its checks
        # that the data file stays inside the model's folder.
        from onnx import numpy_helper
        from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

        if uses_external_data(tensor):
            load_external_data_for_tensor(tensor, str(folder))
        return numpy_helper.to_array(tensor)
    dtype = np.dtype(_DTYPES[tensor.data_type])
    if tensor.raw_data:  # little-endian, whatever the machine
        values = np.frombuffer(tensor.raw_data, dtype.newbyteorder("<"))
    elif tensor.data_type == _T.FLOAT:
        values = np.array(tensor.float_data, np.float32)
    elif tensor.data_type == _T.FLOAT16:  # float16 bits in int32_data
        values = np.array(tensor.int32_data, np.uint16).view(np.float16)
    else:  # 8- to 32-bit integers, widened to int32_data
        values = np.array(tensor.int32_data, np.int32).astype(dtype)
    return values.astype(dtype).reshape(tuple(tensor.dims))
