"""Stand-in facemap_3dmm models and 3DMM basis files, generated here because the real ones cannot be.

They have the real model's I/O (`image` float [N, 3, 128, 128] in [0, 1] → `parameters_3dmm` [N, 265]);
`full` also has its architecture (half-width ResNet-18, ~5.42M random parameters) so speed and NPU
placement figures mean something. Everything written is marked as a stand-in: in the ONNX metadata and in
`manifest.json`, and front ends label anything produced from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facemap_gui.atomic import replacing, write_atomic
from facemap_gui.errors import ModelError
from facemap_gui.landmarks.decode import (
    BASIS_SHAPES,
    INPUT_SIZE,
    N_EXP,
    N_ID,
    NUM_PARAMS,
    FoldedBasis,
    decode,
    npy_with_stand_in_mark,
    preprocess,
)
from facemap_gui.landmarks.model import STAND_IN_KEY, file_sha256
from facemap_gui.runtime import PRECISIONS

MODEL_FILE = "facemap_3dmm.onnx"
W8A8_FILE = "facemap_3dmm_w8a8.onnx"  # beside the float model, as RunOptions.model_path("w8a8") looks for it
CALIBRATION_CROPS = 24
MANIFEST_FILE = "manifest.json"
OPSET = 17
STAND_IN_NOTE = ("STAND-IN model with random weights (the last layer fitted to put a mean face on the demo "
                 "photo's face): its landmarks are not real")
FIT_SAMPLES = 2000  # crops the last layer is fitted on
FIT_SHIFT = 0.15  # the box a crop is made from is off the face by up to this much of its side, in x and y
FIT_ZOOM = (0.85, 1.15)  # and this much larger or smaller
RIDGE = 100.0  # on standardised features: small weights, hardly less accurate than 1
PLACEMENT = [261, 262, 263]  # tx, ty, focal: the outputs the last layer is fitted for


@dataclass
class _Graph:
    """Accumulates nodes and initializers while a network is described layer by layer."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array: np.ndarray, prefix: str = "w", dtype: type = np.float32) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, gain: float = 1.0) -> str:
        # He-initialised, with batch norm folded into the bias as an exported model has it.
        w = self.rng.normal(0, gain * math.sqrt(2.0 / (c_in * k * k)), (c_out, c_in, k, k))
        b = self.rng.normal(0, 0.01, c_out)
        return self.node("Conv", [x, self.const(w), self.const(b, "b")], kernel_shape=[k, k],
                         strides=[stride, stride], pads=[k // 2] * 4)

    def basic_block(self, x: str, c_in: int, c_out: int, stride: int) -> str:
        y = self.node("Relu", [self.conv(x, c_in, c_out, 3, stride)])
        y = self.conv(y, c_out, c_out, 3, gain=0.3)  # small residual branch keeps random activations bounded
        shortcut = x if (c_in == c_out and stride == 1) else self.conv(x, c_in, c_out, 1, stride)
        return self.node("Relu", [self.node("Add", [y, shortcut])])



def _features(g: _Graph, arch: str) -> tuple[str, int]:
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


def _model(g: _Graph, name: str, output: str, width: int | str) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", width])],
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="facemap-gui stand-in")
    model.ir_version = 8
    return model


def build_stand_in_model(arch: str = "full", seed: int = 0) -> onnx.ModelProto:
    """The stand-in network as an ONNX model with a dynamic batch dimension.

    All weights are random except the last layer's, which is fitted by ridge regression on the network's own
    (random) features of crops of the demo photo, so that the decoded mean face lands on the face in the crop.
    Its landmarks are not real, but they follow the face as a real model's do, so tracking from landmarks can
    be exercised and measured end to end.
    """
    import onnxruntime as ort

    if arch not in ("full", "tiny"):
        raise ValueError(f"unknown stand-in architecture {arch!r} (full or tiny)")
    rng = np.random.default_rng(seed)
    g = _Graph(rng)
    features, width = _features(g, arch)
    probe = ort.InferenceSession(_model(g, "probe", features, width).SerializeToString(),
                                 providers=["CPUExecutionProvider"])
    batches = [(probe.run(None, {"image": crops})[0], placement) for crops, placement in fitting_batches(rng)]
    mean, weight, bias = _fit_last_layer(np.concatenate([f for f, _ in batches]).astype(np.float64),
                                         np.concatenate([p for _, p in batches]))
    # Random ReLU features are large and vary little (mean ~37, spread ~3): centred first, as a trained
    # network's batch norms leave them, the last layer's sums stay small and survive 8-bit quantisation.
    centred = g.node("Sub", [features, g.const(mean[None], "mean")])
    g.nodes.append(helper.make_node("Gemm", [centred, g.const(weight), g.const(bias, "b")], ["parameters_3dmm"]))
    model = _model(g, f"facemap_3dmm_stand_in_{arch}", "parameters_3dmm", NUM_PARAMS)
    helper.set_model_props(model, {STAND_IN_KEY: "true", "facemap_gui.arch": arch,
                                   "facemap_gui.description": STAND_IN_NOTE})
    onnx.checker.check_model(model)
    return model


def fitting_batches(rng: np.random.Generator, samples: int = FIT_SAMPLES, batch: int = 16
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (N, 3, 128, 128) crops of the demo photo made as the pipeline makes them (the face box
    expanded 1.2x, bilinear resize), from boxes off the detector's by up to FIT_SHIFT of the face's side and
    FIT_ZOOM in size, with the face 60-350 px tall in the frame; each with (N, 3) parameters [tx, ty, focal]
    that place the stand-in basis's mean face on the detector's box in its crop."""
    from facemap_gui.sources.demo import BACKGROUND, demo_photo_path
    from facemap_gui.sources.files import read_image_rgb

    photo = read_image_rgb(demo_photo_path())
    x0, y0, x1, y1 = _photo_face(photo)
    side, cx, cy = max(x1 - x0, y1 - y0) + 1, (x0 + x1) / 2, (y0 + y1) / 2
    zooms = np.exp(rng.uniform(math.log(60 / side), math.log(350 / side), samples))
    shifts = rng.uniform(-FIT_SHIFT, FIT_SHIFT, (samples, 2))
    sizes = rng.uniform(*FIT_ZOOM, samples)
    # Where the face is in each crop, in crop sides: its centre is off the crop's by -shift / (1.2 size).
    placements = mean_face_placement(0.5 - shifts / (1.2 * sizes[:, None]), 1.0 / (1.2 * sizes))
    for start in range(0, samples, batch):
        crops = np.empty((min(batch, samples - start), 3, INPUT_SIZE, INPUT_SIZE), np.float32)
        for i, index in enumerate(range(start, start + len(crops))):
            zoom, (dx, dy) = zooms[index], shifts[index]
            crop_side = max(8, round(side * zoom * sizes[index] * 1.2))  # the jittered box expanded, frame px
            left, top = (cx + dx * side) * zoom - crop_side / 2, (cy + dy * side) * zoom - crop_side / 2
            frame = cv2.warpAffine(photo, np.array([[zoom, 0, -left], [0, zoom, -top]]), (crop_side, crop_side),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND)
            crops[i] = preprocess(frame, np.array([(0, 0, crop_side - 1, crop_side - 1)]))[0]
        yield crops, placements[start : start + len(crops)]


def _photo_face(photo: np.ndarray) -> tuple[int, int, int, int]:
    from facemap_gui import store
    from facemap_gui.detection import DETECTORS
    from facemap_gui.sources.base import Frame

    with DETECTORS["mediapipe"](store.bundled_detector_path("full"), video=False, max_faces=1) as detector:
        faces = detector.detect(Frame(index=0, timestamp_ms=0.0, rgb=photo))
    if not faces:
        raise ModelError("the bundled detector found no face in the demo photo, so no stand-in can be made; "
                         "reinstall facemap-gui")
    return faces[0].box


def mean_face_placement(centres: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """[tx, ty, focal] putting the mean face's landmark square (tracking.landmark_square) at `centres` (N, 2) with
    `sides` (N,), all in crop sides; the other parameters are zero (mean shape, facing the camera)."""
    mean = decode(np.zeros((1, NUM_PARAMS)), np.array([(0, 0, INPUT_SIZE - 1, INPUT_SIZE - 1)]),
                  FoldedBasis.from_arrays(*stand_in_basis().values()))[0][0]
    # decode puts a point at zoom * (v + 60 t) + 64 crop pixels, zoom = (150 f + 450) / 500; f = 0 here.
    zoom0 = 450 / 500
    low, high = mean.min(axis=0), mean.max(axis=0)
    model_centre, model_side = ((low + high) / 2 - INPUT_SIZE / 2) / zoom0, (high - low).max() / zoom0
    zoom = sides * INPUT_SIZE / model_side
    t = ((centres - 0.5) * INPUT_SIZE / zoom[:, None] - model_centre) / 60.0
    return np.column_stack([t, (zoom * 500 - 450) / 150])


def _fit_last_layer(feats: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression of [tx, ty, focal] on standardised features: the features' mean, and a (width, 265)
    weight and bias for the centred features that output zero for every other parameter."""
    mean, spread = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    a = (feats - mean) / spread
    solved = np.linalg.solve(a.T @ a + RIDGE * np.eye(a.shape[1]), a.T @ (targets - targets.mean(axis=0)))
    weight = np.zeros((feats.shape[1], NUM_PARAMS))
    bias = np.zeros(NUM_PARAMS)
    weight[:, PLACEMENT] = solved / spread[:, None]
    bias[PLACEMENT] = targets.mean(axis=0)
    return mean, weight, bias


def _face_outline() -> Iterator[tuple[float, float, float]]:
    """A plausible mean face in the model's 3D units (y up, ~110 wide), iBUG-68 order."""
    for t in np.linspace(-1, 1, 17):  # jaw 0-16, ear to ear through the chin
        angle = t * math.radians(100)
        yield 48 * math.sin(angle), -52 * math.cos(angle) + 10 * (1 - abs(t)) ** 2 + 8, -20 * abs(t)
    for side in (-1, 1):  # brows 17-21, 22-26
        for t in np.linspace(0, 1, 5):
            x = side * (40 - 30 * t) if side < 0 else 10 + 30 * t
            yield x, 28 + 6 * math.sin(math.pi * t), 10
    for t in np.linspace(0, 1, 4):  # nose bridge 27-30
        yield 0.0, 20 - 22 * t, 12 + 12 * t
    for x in (-10, -5, 0, 5, 10):  # nostrils 31-35
        yield float(x), -8 + abs(x) * 0.3, 18 - abs(x)
    for cx in (-22, 22):  # eyes 36-41, 42-47
        for a in np.linspace(0, 2 * math.pi, 7)[:-1]:
            yield cx - 9 * math.cos(a), 14 + 3.5 * math.sin(a), 8
    for a in np.linspace(0, 2 * math.pi, 13)[:-1]:  # outer lips 48-59
        yield -20 * math.cos(a), -30 + 7 * math.sin(a), 12
    for a in np.linspace(0, 2 * math.pi, 9)[:-1]:  # inner lips 60-67
        yield -14 * math.cos(a), -30 + 3 * math.sin(a), 12


def stand_in_basis(seed: int = 1) -> dict[str, np.ndarray]:
    """Synthetic meanFace / shapeBasis / blendShape with the real shapes and a face-like mean."""
    rng = np.random.default_rng(seed)
    mean = np.array(list(_face_outline()), dtype=np.float32).reshape(-1)
    arrays = {
        "meanFace": mean,
        "shapeBasis": rng.normal(0, 2.0, (204, N_ID)).astype(np.float32),
        "blendShape": rng.normal(0, 0.5, (204, N_EXP)).astype(np.float32),
    }
    assert {k: v.shape for k, v in arrays.items()} == BASIS_SHAPES
    # The offset alpha_exp = 0.5 adds; remove it so a zero output decodes to the mean face.
    arrays["meanFace"] -= arrays["blendShape"].sum(axis=1) * 0.5
    return arrays


def write_stand_in(directory: Path, arch: str = "full", seed: int = 0, precision: str = "float") -> Path:
    """Write a float stand-in model, synthetic basis files and a manifest into `directory`; with
    precision "w8a8" also its quantised variant beside it. Returns the path of the requested precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (float or w8a8)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / MODEL_FILE, build_stand_in_model(arch, seed).SerializeToString())
    for name, array in stand_in_basis().items():
        write_atomic(directory / f"{name}.npy", npy_with_stand_in_mark(array))
    details: dict[str, object] = {"arch": arch, "precision": precision, "seed": seed}
    if precision == "w8a8":
        crops = calibration_crops()
        quantize_w8a8(directory / MODEL_FILE, directory / W8A8_FILE, crops)
        details["calibration"] = f"{len(crops)} face crops of the demo photo"
    write_manifest(directory, details)
    return directory / (W8A8_FILE if precision == "w8a8" else MODEL_FILE)


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
            # nodes.
            quant_pre_process(str(float_model), str(prepared))
            config = get_qnn_qdq_config(str(prepared), Crops(), activation_type=QuantType.QUInt8,
                                        weight_type=QuantType.QUInt8)
            quantize(str(prepared), str(part), config)
        finally:
            prepared.unlink(missing_ok=True)
    return output


def write_manifest(directory: Path, details: dict[str, object]) -> None:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".onnx", ".npy"))
    manifest = {"stand_in": True, "note": STAND_IN_NOTE, **details,
                "files": {p.name: file_sha256(p) for p in files}}
    write_atomic(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
