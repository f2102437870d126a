"""Fitting the stand-in's last layer on crops of the demo photo, so that its mean face lands on the face in the
crop: crops made as the pipeline makes them, the placement parameters that put the mean face on them, and the
ridge regression from the network's own random features to those parameters."""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import INPUT_SIZE, NUM_PARAMS, FoldedBasis, decode
from facemap_gui.models.standins.basis import stand_in_basis
from facemap_gui.perframe.crop import preprocess

FIT_SAMPLES = 2000  # crops the last layer is fitted on
FIT_SHIFT = 0.15  # the box a crop is made from is off the face by up to this much of its side, in x and y
FIT_ZOOM = (0.85, 1.15)  # and this much larger or smaller
RIDGE = 100.0  # on standardised features: small weights, hardly less accurate than 1
PLACEMENT = [261, 262, 263]  # tx, ty, focal: the outputs the last layer is fitted for


def fitting_batches(
    rng: np.random.Generator, samples: int = FIT_SAMPLES, batch: int = 16
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
            frame = cv2.warpAffine(
                photo,
                np.array([[zoom, 0, -left], [0, zoom, -top]]),
                (crop_side, crop_side),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=BACKGROUND,
            )
            crops[i] = preprocess(frame, np.array([(0, 0, crop_side - 1, crop_side - 1)]))[0]
        yield crops, placements[start : start + len(crops)]


def _photo_face(photo: np.ndarray) -> tuple[int, int, int, int]:
    from facemap_gui.core import store
    from facemap_gui.perframe.detection import DETECTORS
    from facemap_gui.sources.base import Frame

    with DETECTORS["mediapipe"](store.bundled_detector_path("full"), video=False, max_faces=1) as detector:
        faces = detector.detect(Frame(index=0, timestamp_ms=0.0, rgb=photo))
    if not faces:
        raise ModelError(
            "the bundled detector found no face in the demo photo, so no stand-in can be made; reinstall facemap-gui"
        )
    return faces[0].box


def mean_face_placement(centres: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """[tx, ty, focal] putting the mean face's landmark square (tracking.landmark_square) at `centres` (N, 2) with
    `sides` (N,), all in crop sides; the other parameters are zero (mean shape, facing the camera)."""
    mean = decode(
        np.zeros((1, NUM_PARAMS)),
        np.array([(0, 0, INPUT_SIZE - 1, INPUT_SIZE - 1)]),
        FoldedBasis.from_arrays(*stand_in_basis().values()),
    )[0][0]
    # decode puts a point at zoom * (v + 60 t) + 64 crop pixels, zoom = (150 f + 450) / 500; f = 0 here.
    zoom0 = 450 / 500
    low, high = mean.min(axis=0), mean.max(axis=0)
    model_centre, model_side = ((low + high) / 2 - INPUT_SIZE / 2) / zoom0, (high - low).max() / zoom0
    zoom = sides * INPUT_SIZE / model_side
    t = ((centres - 0.5) * INPUT_SIZE / zoom[:, None] - model_centre) / 60.0
    return np.column_stack([t, (zoom * 500 - 450) / 150])


def fit_last_layer(feats: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
