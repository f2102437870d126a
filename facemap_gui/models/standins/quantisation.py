"""The w8a8 variant: static QDQ quantisation calibrated on face crops of the demo photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facemap_gui.core.atomic import replacing
from facemap_gui.models.standins.fitting import fitting_batches

CALIBRATION_CROPS = 24


def calibration_crops(count: int = CALIBRATION_CROPS, seed: int = 0) -> np.ndarray:
    """(N, 3, 128, 128) face crops of the demo photo made as the pipeline makes them (see fitting_batches),
    so activation ranges are those of real faces at the sizes and offsets the app feeds the model."""
    return next(fitting_batches(np.random.default_rng(seed), samples=count, batch=count))[0]


def quantize_w8a8(float_model: Path, output: Path, crops: np.ndarray) -> Path:
    """Static QDQ quantisation (uint8 activations and weights, ranges calibrated on `crops`) with the
    settings ONNX Runtime recommends for the QNN EP, written beside its final name and renamed."""
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(crops[:, None])

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"image": batch}

    with replacing(output) as part:
        prepared = part.with_suffix(".prepared")
        try:
            # Shape inference and graph optimisation first, as the quantiser asks, so ranges attach to the final
            # nodes. ONNX's own shape inference serves this graph (its one symbolic dimension is the batch); the
            # symbolic one needs sympy, which a plain install does not have.
            quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
            config = get_qnn_qdq_config(
                str(prepared), Crops(), activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8
            )
            quantize(str(prepared), str(part), config)
        finally:
            prepared.unlink(missing_ok=True)
    return output
