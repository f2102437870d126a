"""Draws a FrameResult onto a frame: boxes (with the track id when there are several faces), 68 keypoints as
contours, head-pose axes, stand-in label."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facemap_gui.inference.landmarks.decode import rotations
from facemap_gui.perframe.pipeline import FrameResult

# iBUG-68 contours: (first, last, closed)
CONTOURS = (
    (0, 16, False),  # jaw
    (17, 21, False),
    (22, 26, False),  # brows
    (27, 30, False),
    (31, 35, False),  # nose bridge, nostrils
    (36, 41, True),
    (42, 47, True),  # eyes
    (48, 59, True),
    (60, 67, True),  # lips
)
BOX_COLOUR = (80, 200, 255)
POINT_COLOUR = (255, 255, 255)
CONTOUR_COLOUR = (60, 230, 120)
AXIS_COLOURS = ((255, 64, 64), (64, 255, 64), (64, 128, 255))  # x red, y green, z blue (RGB)
STAND_IN_LABEL = "STAND-IN MODEL - landmarks are not real"


@dataclass(frozen=True)
class OverlayOptions:
    boxes: bool = True
    points: bool = True
    contours: bool = True
    axes: bool = True


SUBPIXEL = 4  # cv2's `shift`: points are drawn at 1/16 px, so that a small picture gets small dots
POINT_RADIUS = 2.0  # px in a 480-line picture; in proportion to the picture's height


def _thickness(frame_height: int) -> int:
    return max(1, round(frame_height / 480))


def draw_overlay(
    rgb: np.ndarray,
    result: FrameResult,
    options: OverlayOptions = OverlayOptions(),
    stand_in: bool = False,
    scale: float = 1.0,
) -> np.ndarray:
    """Draw in place on `rgb` (H, W, 3 uint8, RGB) and return it; `scale`: `rgb` is the frame scaled by it (the
    window's view), lines keep their thickness for its height."""
    t = _thickness(rgb.shape[0])
    for face in result.faces:
        if options.boxes:
            x0, y0, x1, y1 = (round(v * scale) for v in face.box)
            cv2.rectangle(rgb, (x0, y0), (x1, y1), BOX_COLOUR, t, cv2.LINE_AA)
            if len(result.faces) > 1:  # which face is which, as the files and streams number them
                at = (x0 + 2 * t, max(y0 - 3 * t, 12 * t))
                cv2.putText(rgb, str(face.track_id), at, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * t, BOX_COLOUR, t, cv2.LINE_AA)
        points = np.round(face.landmarks * scale).astype(np.int32)
        if options.contours:
            cv2.polylines(
                rgb,
                [points[a : b + 1] for a, b, closed in CONTOURS if not closed],
                False,
                CONTOUR_COLOUR,
                t,
                cv2.LINE_AA,
            )
            cv2.polylines(
                rgb, [points[a : b + 1] for a, b, closed in CONTOURS if closed], True, CONTOUR_COLOUR, t, cv2.LINE_AA
            )
        if options.points:
            radius = round(POINT_RADIUS * rgb.shape[0] / 480 * (1 << SUBPIXEL))
            fine = np.round(face.landmarks * scale * (1 << SUBPIXEL)).astype(np.int32)
            for x, y in fine.tolist():  # Python ints: iterating the array's rows costs a third of the time
                cv2.circle(rgb, (x, y), radius, POINT_COLOUR, -1, cv2.LINE_AA, SUBPIXEL)
        if options.axes:
            _draw_axes(rgb, face.landmarks[30] * scale, face.pose, (face.box[2] - face.box[0]) * 0.5 * scale, t)
    if stand_in:
        size = rgb.shape[0] / 720
        cv2.putText(
            rgb,
            STAND_IN_LABEL,
            (int(12 * size), rgb.shape[0] - int(16 * size)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.8 * size,
            (255, 80, 80),
            max(1, round(2 * size)),
            cv2.LINE_AA,
        )
    return rgb


def _draw_axes(rgb: np.ndarray, origin: np.ndarray, pose: tuple[float, float, float], length: float, t: int) -> None:
    yaw, pitch, roll = (math.radians(a) for a in pose)
    rotation = rotations(np.array([pitch]), np.array([yaw]), np.array([roll]))[0]
    start = (int(origin[0]), int(origin[1]))
    # Columns of R are where the face's x (right), y (up) and z (out of the face) axes point in the image.
    for axis, colour in zip(rotation.T, AXIS_COLOURS, strict=True):
        end = (int(origin[0] + axis[0] * length), int(origin[1] + axis[1] * length))
        cv2.arrowedLine(rgb, start, end, colour, t + 1, cv2.LINE_AA, tipLength=0.15)
