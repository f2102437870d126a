"""BlazeFace through ONNX Runtime, so detection can run on the NPU (QNN HTP) like the landmark model.

The .tflite model is converted to ONNX once (`tflite_to_onnx`); everything around the network is MediaPipe's
FaceDetector graph re-done in numpy: letterboxing into the square input ([-1, 1], zero border), SSD anchors,
box decoding, sigmoid scores, weighted non-maximum suppression, and the projection back to image pixels.
The options are MediaPipe's for each model (face_detector_graph.cc: short range 128x128 with 896 anchors,
full range 192x192 with 2304), chosen by the model's input size.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemap_gui.core.errors import ModelError, RuntimeUnavailable
from facemap_gui.inference.runtime.base import RuntimeSettings
from facemap_gui.inference.runtime.registry import log_fallback, open_on_runtime
from facemap_gui.perframe.detection.base import Detection, FaceDetector, clamp_box
from facemap_gui.sources.base import Frame

log = logging.getLogger(__name__)

SCORE_CLIP = 100.0  # raw logits are clipped before the sigmoid, as MediaPipe does
SUPPRESSION_IOU = 0.3  # MediaPipe FaceDetectorOptions.min_suppression_threshold default


@dataclass(frozen=True)
class AnchorSpec:
    """The SsdAnchorsCalculator options MediaPipe uses for a BlazeFace model (fixed-size anchors, aspect
    ratio 1, offset 0.5). `anchors_per_layer` is 2 when an interpolated-scale anchor is added to each cell."""

    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int


ANCHOR_SPECS = {
    128: AnchorSpec(128, (8, 16, 16, 16), anchors_per_layer=2),  # short range: 16x16x2 + 8x8x6 = 896
    192: AnchorSpec(192, (4,), anchors_per_layer=1),  # full range: 48x48 = 2304
}


def ssd_anchors(spec: AnchorSpec) -> np.ndarray:
    """Anchor centres (N, 2) as (x, y) in [0, 1], in the model's output order. Consecutive layers with one
    stride share a feature map, their anchors interleaved per cell. With fixed-size anchors every anchor is
    1x1, so only the centres matter for decoding."""
    centres = []
    layer = 0
    while layer < len(spec.strides):
        stride, per_cell = spec.strides[layer], 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:
            per_cell += spec.anchors_per_layer
            layer += 1
        cells = math.ceil(spec.input_size / stride)
        y, x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(x.ravel() + 0.5) / cells, (y.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode_boxes(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, scale: float, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (M, 4) as (xmin, ymin, xmax, ymax) relative to the model input, and their scores (M,), for the
    anchors scoring at least `min_score`. raw_boxes (N, 16): x, y, w, h in input pixels (then 6 keypoints,
    unused), relative to the anchor centre; raw_scores (N,) logits."""
    # float64: exp(100) overflows float32 (harmlessly, to a score of 0, but with a warning).
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    offsets = raw_boxes[keep, :4] / scale
    centres = offsets[:, :2] + anchors[keep]
    half = offsets[:, 2:4] / 2.0
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    # MediaPipe drops boxes with a negative (or NaN) width or height.
    valid = (half >= 0).all(axis=1)
    return boxes[valid], scores[keep][valid]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (4,) box with each of (M, 4) boxes; 0 where the union is empty."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(high - low, 0.0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float = SUPPRESSION_IOU
) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression: the best remaining box and every box overlapping it by
    more than `threshold` IoU merge into their score-weighted mean box, which keeps the best box's score."""
    remaining = np.argsort(-scores, kind="stable")
    merged = []
    while len(remaining):
        best = remaining[0]
        overlapping = iou(boxes[best], boxes[remaining]) > threshold
        group = remaining[overlapping]
        weights = scores[group]
        box = weights @ boxes[group] / weights.sum() if len(group) else boxes[best]
        merged.append((box, float(scores[best])))
        if not overlapping.any():  # a degenerate best box suppresses nothing, itself included: stop, as MediaPipe
            break
        remaining = remaining[~overlapping]
    return merged


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """The (1, 3, size, size) model input: the image scaled to fit, centred, zero border, RGB in [-1, 1].
    Sampled with the bilinear warp MediaPipe's ImageToTensor uses (no area averaging), so the model sees
    the same pixels."""
    height, width = rgb.shape[:2]
    side = max(width, height)
    scale = size / side
    matrix = np.array([[scale, 0.0, (side - width) / 2 * scale], [0.0, scale, (side - height) / 2 * scale]])
    warped = cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return (warped.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(2.0 / 255.0)) - np.float32(1.0)


def to_image_box(box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box relative to the letterboxed input → inclusive image pixels, truncated as MediaPipe's
    DetectionTransformationCalculator does (origin and size, each bounded to the image)."""
    width, height = size
    side = max(width, height)
    x0, y0 = box[0] * side - (side - width) / 2, box[1] * side - (side - height) / 2
    w, h = (box[2] - box[0]) * side, (box[3] - box[1]) * side
    x0, w = (min(max(int(v), 0), width) for v in (x0, w))
    y0, h = (min(max(int(v), 0), height) for v in (y0, h))
    return clamp_box(x0, y0, x0 + w - 1, y0 + h - 1, size)


class OnnxBlazeFaceDetector(FaceDetector):
    """BlazeFace (short or full range .tflite, converted once) on an ONNX Runtime session. Stateless: still
    images and video frames alike. `info` says where it runs."""

    name = "onnx"

    def __init__(
        self,
        model_path: Path,
        *,
        runtime: str = "cpu",
        settings: RuntimeSettings | None = None,
        min_score: float = 0.5,
        max_faces: int = 4,
    ) -> None:
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.max_faces = max_faces
        # The converter pulls in onnx (~0.6 s to import): only a run with --detector-backend onnx pays for it.
        from facemap_gui.perframe.detection.tflite_to_onnx import converted_path

        onnx_path = converted_path(self.model_path)
        try:
            self._session, self.info = open_on_runtime(onnx_path, runtime, "float", settings or RuntimeSettings())
        except RuntimeUnavailable as exc:
            raise RuntimeUnavailable(f"face detector on {exc}") from exc
        log_fallback("face detector", self.info)
        (image,) = self._session.get_inputs()
        outputs = {tuple(o.shape[-1:]): o for o in self._session.get_outputs()}
        spec = ANCHOR_SPECS.get(image.shape[-1])
        if spec is None or len(outputs) != 2 or (16,) not in outputs or (1,) not in outputs:
            raise ModelError(
                f"{self.model_path}: not a BlazeFace face detector (input {image.shape}, outputs "
                f"{[o.shape for o in self._session.get_outputs()]}); use a MediaPipe BlazeFace model"
            )
        self.input_size = spec.input_size
        self._anchors = ssd_anchors(spec)
        self._input = image.name
        self._outputs = [outputs[(16,)].name, outputs[(1,)].name]
        if outputs[(16,)].shape[1] != len(self._anchors):
            raise ModelError(
                f"{self.model_path}: {outputs[(16,)].shape[1]} boxes, but MediaPipe's anchors for a "
                f"{spec.input_size}x{spec.input_size} BlazeFace are {len(self._anchors)}"
            )

    def detect(self, frame: Frame) -> list[Detection]:
        raw_boxes, raw_scores = self._session.run(self._outputs, {self._input: letterbox(frame.rgb, self.input_size)})
        boxes, scores = decode_boxes(raw_boxes[0], raw_scores[0, :, 0], self._anchors, self.input_size, self.min_score)
        merged = weighted_nms(boxes, scores)[: self.max_faces]  # best first
        return [Detection(box=to_image_box(box, frame.size), score=score) for box, score in merged]
