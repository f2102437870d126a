"""Face signals for avatar apps, per face per frame, from the 68 points and the 3DMM pose: eye openness, mouth,
brows, head pose and position, blink. Computed from a FaceResult, so smoothed faces give smoothed signals."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from facemap_gui.landmarks.decode import INPUT_SIZE, MODEL_DEPTH
from facemap_gui.pipeline import FaceResult

# Proportions of a typical adult face (not fitted to the real model, whose weights are not available here),
# as ratios that do not change with the face's size in the image.
EYE_OPEN_RATIO = 0.28  # lid gap / eye width of a neutral open eye (reads 1)
EYE_CLOSED_RATIO = 0.05  # ... of a closed eye (reads 0)
BLINK_BELOW = 0.3  # both eyes under this openness: a blink (OpenSeeFace's own open/closed threshold)
MOUTH_OPEN_FULL = 0.5  # inner-lip gap / outer eye-corner span of a wide-open mouth (reads 1)
MOUTH_WIDTH_NEUTRAL, MOUTH_WIDTH_WIDE = 0.55, 0.75  # mouth corner span / eye-corner span: reads 0 and 1
BROW_HEIGHT_NEUTRAL, BROW_HEIGHT_RAISED = 0.24, 0.34  # brow above eye centre / eye-corner span: 0 and 1
MODEL_UNIT_M = 0.001  # assumed: the 3DMM's shapes are in millimetres

# iBUG-68 indices: right eye (the subject's) then left, as (outer or inner corner, corner, upper lid, lower lid).
_EYE_CORNERS = np.array([[36, 39], [42, 45]])
_EYE_LIDS = np.array([[[37, 41], [38, 40]], [[43, 47], [44, 46]]])  # (eye, pair, upper/lower)
_BROWS = np.array([np.arange(17, 22), np.arange(22, 27)])
_EYES = np.array([np.arange(36, 42), np.arange(42, 48)])
_INNER_LIPS = np.array([[61, 67], [62, 66], [63, 65]])


@dataclass(frozen=True, slots=True)
class FaceSignals:
    eye_open_left: float  # 0 closed … 1 neutral open (the subject's left eye, on the right of the image)
    eye_open_right: float
    mouth_open: float  # 0 closed … 1 wide open
    mouth_wide: float  # 0 neutral … 1 stretched (smile, "ee")
    brow_raise_left: float  # 0 neutral … 1 raised
    brow_raise_right: float
    yaw: float  # degrees, as FaceResult.pose
    pitch: float
    roll: float
    head_x: float  # metres from the camera axis, right as seen by the camera
    head_y: float  # metres, up
    head_z: float  # metres from the camera
    blink: bool  # both eyes read closed on this frame

    def record(self) -> dict[str, float | bool]:
        """The JSON Lines `signals` of a face (the pose is in the face's `pose` already)."""
        return {name: value if isinstance(value, bool) else round(value, 3)
                for name, value in dataclasses.asdict(self).items() if name not in ("yaw", "pitch", "roll")}


RECORD_NAMES = tuple(f.name for f in dataclasses.fields(FaceSignals) if f.name not in ("yaw", "pitch", "roll"))


def _clip01(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0.0, 1.0)


def face_signals(face: FaceResult, image_size: tuple[int, int]) -> FaceSignals:
    """The signals of one face in an image of `image_size` (width, height) pixels."""
    pts = np.asarray(face.landmarks, dtype=np.float64)
    eye_width = np.linalg.norm(pts[_EYE_CORNERS[:, 1]] - pts[_EYE_CORNERS[:, 0]], axis=1)
    lid_gap = np.linalg.norm(pts[_EYE_LIDS[..., 0]] - pts[_EYE_LIDS[..., 1]], axis=2).mean(axis=1)
    eyes = _clip01((lid_gap / np.maximum(eye_width, 1e-6) - EYE_CLOSED_RATIO) / (EYE_OPEN_RATIO - EYE_CLOSED_RATIO))
    across = pts[45] - pts[36]  # outer eye corners: the face's width axis, which turns with the head's roll
    span = max(float(np.hypot(*across)), 1e-6)
    up = np.array([across[1], -across[0]]) / span  # towards the forehead (image y points down)
    brow_height = (pts[_BROWS].mean(axis=1) - pts[_EYES].mean(axis=1)) @ up / span
    brows = _clip01((brow_height - BROW_HEIGHT_NEUTRAL) / (BROW_HEIGHT_RAISED - BROW_HEIGHT_NEUTRAL))
    lip_gap = np.linalg.norm(pts[_INNER_LIPS[:, 0]] - pts[_INNER_LIPS[:, 1]], axis=1).mean() / span
    mouth_width = np.linalg.norm(pts[54] - pts[48]) / span
    mouth = _clip01(np.array([lip_gap / MOUTH_OPEN_FULL, (mouth_width - MOUTH_WIDTH_NEUTRAL) /
                              (MOUTH_WIDTH_WIDE - MOUTH_WIDTH_NEUTRAL)]))
    x, y, z = head_position(face, image_size)
    yaw, pitch, roll = face.pose
    return FaceSignals(eye_open_left=float(eyes[1]), eye_open_right=float(eyes[0]), mouth_open=float(mouth[0]),
                       mouth_wide=float(mouth[1]), brow_raise_left=float(brows[1]), brow_raise_right=float(brows[0]),
                       yaw=yaw, pitch=pitch, roll=roll, head_x=x, head_y=y, head_z=z,
                       blink=bool(eyes.max() < BLINK_BELOW))


def head_position(face: FaceResult, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Metres (x right, y up, z away) of the landmarks' centre, with a camera whose focal length is the image
    width (OpenSeeFace's assumption): the model renders the face MODEL_DEPTH units away with its own focal
    length into the crop, so the crop's pixels per model unit give the distance."""
    width, height = image_size
    x0, _, x1, _ = face.crop_box
    pixels_per_unit = face.focal / MODEL_DEPTH * (x1 - x0 + 1) / INPUT_SIZE
    z = width / pixels_per_unit  # model units, for a focal length of `width` pixels
    u, v = np.asarray(face.landmarks, dtype=np.float64).mean(axis=0)
    return (float((u - width / 2) * z / width * MODEL_UNIT_M), float(-(v - height / 2) * z / width * MODEL_UNIT_M),
            float(z * MODEL_UNIT_M))


def hud_line(signals: FaceSignals) -> str:
    """One line for the window's HUD, for the first face."""
    return (f"eyes L {signals.eye_open_left:.2f} R {signals.eye_open_right:.2f} · mouth open "
            f"{signals.mouth_open:.2f} wide {signals.mouth_wide:.2f} · brows L {signals.brow_raise_left:.2f} "
            f"R {signals.brow_raise_right:.2f} · yaw {signals.yaw:+.0f}° pitch {signals.pitch:+.0f}° roll "
            f"{signals.roll:+.0f}° · {signals.head_z:.2f} m" + (" · blink" if signals.blink else ""))

