"""Face signals for avatar apps, per face per frame, from the 68 points and the 3DMM pose: eye openness, mouth,
brows, head pose and position, blink. Computed from a FaceResult, so smoothed faces give smoothed signals."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from operator import itemgetter

from facemap_gui.inference.landmarks.decode import INPUT_SIZE, MODEL_DEPTH
from facemap_gui.perframe.pipeline import FaceResult, FrameResult

# Proportions of a typical adult face (not fitted to the real model, whose weights are not available here),
# as ratios that do not change with the face's size in the image.
EYE_OPEN_RATIO = 0.28  # lid gap / eye width of a neutral open eye (reads 1)
EYE_CLOSED_RATIO = 0.05  # ... of a closed eye (reads 0)
BLINK_BELOW = 0.3  # both eyes under this openness: a blink (OpenSeeFace's own open/closed threshold)
MOUTH_OPEN_FULL = 0.5  # inner-lip gap / outer eye-corner span of a wide-open mouth (reads 1)
MOUTH_WIDTH_NEUTRAL, MOUTH_WIDTH_WIDE = 0.55, 0.75  # mouth corner span / eye-corner span: reads 0 and 1
BROW_HEIGHT_NEUTRAL, BROW_HEIGHT_RAISED = 0.24, 0.34  # brow above eye centre / eye-corner span: 0 and 1
MODEL_UNIT_M = 0.001  # assumed: the 3DMM's shapes are in millimetres


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
        return {
            name: value if isinstance(value, bool) else round(value, 3)
            for name, value in dataclasses.asdict(self).items()
            if name not in ("yaw", "pitch", "roll")
        }


RECORD_NAMES = tuple(f.name for f in dataclasses.fields(FaceSignals) if f.name not in ("yaw", "pitch", "roll"))


def clip(value: float, low: float, high: float) -> float:
    """min(max(value, low), high), NaN included, at a third of the builtins' cost: called ~100 times a frame."""
    return low if value < low else high if value > high else value


_X, _Y = itemgetter(0), itemgetter(1)


def centre(points: list[list[float]]) -> tuple[float, float]:
    """The mean (x, y) of `points`, each sum added in order (as numpy's mean over the points' axis does)."""
    return sum(map(_X, points)) / len(points), sum(map(_Y, points)) / len(points)


def _distance(a: list[float], b: list[float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _eye_openness(p: list[list[float]], corner: int) -> float:
    """iBUG eye `corner`..`corner + 5`: corners at +0 and +3, upper lid +1 +2, lower lid +5 +4."""
    lid_gap = (_distance(p[corner + 1], p[corner + 5]) + _distance(p[corner + 2], p[corner + 4])) / 2
    ratio = lid_gap / max(_distance(p[corner], p[corner + 3]), 1e-6)
    return clip((ratio - EYE_CLOSED_RATIO) / (EYE_OPEN_RATIO - EYE_CLOSED_RATIO), 0.0, 1.0)


def face_signals(face: FaceResult, image_size: tuple[int, int]) -> FaceSignals:
    """The signals of one face in an image of `image_size` (width, height) pixels."""
    p = face.points()  # in scalars on the few points used: a dozen numpy calls on 68 points cost more
    across_x, across_y = p[45][0] - p[36][0], p[45][1] - p[36][1]  # outer eye corners: turns with the head's roll
    span = max(math.hypot(across_x, across_y), 1e-6)
    up_x, up_y = across_y / span, -across_x / span  # towards the forehead (image y points down)

    def brow_raise(brow: int, eye: int) -> float:  # the brow's 5 points against the eye's 6, along `up`
        (brow_x, brow_y), (eye_x, eye_y) = centre(p[brow : brow + 5]), centre(p[eye : eye + 6])
        height = ((brow_x - eye_x) * up_x + (brow_y - eye_y) * up_y) / span
        return clip((height - BROW_HEIGHT_NEUTRAL) / (BROW_HEIGHT_RAISED - BROW_HEIGHT_NEUTRAL), 0.0, 1.0)

    lip_gap = (_distance(p[61], p[67]) + _distance(p[62], p[66]) + _distance(p[63], p[65])) / 3 / span
    mouth_wide = (_distance(p[48], p[54]) / span - MOUTH_WIDTH_NEUTRAL) / (MOUTH_WIDTH_WIDE - MOUTH_WIDTH_NEUTRAL)
    right, left = _eye_openness(p, 36), _eye_openness(p, 42)
    x, y, z = head_position(face, image_size)
    yaw, pitch, roll = face.pose
    return FaceSignals(
        eye_open_left=left,
        eye_open_right=right,
        mouth_open=clip(lip_gap / MOUTH_OPEN_FULL, 0.0, 1.0),
        mouth_wide=clip(mouth_wide, 0.0, 1.0),
        brow_raise_left=brow_raise(22, 42),
        brow_raise_right=brow_raise(17, 36),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        head_x=x,
        head_y=y,
        head_z=z,
        blink=max(left, right) < BLINK_BELOW,
    )


def frame_signals(result: FrameResult, face: FaceResult) -> FaceSignals:
    """`face_signals` of one of `result`'s faces, computed once however many sinks read it."""
    return result.derived("signals", face, lambda: face_signals(face, result.frame.size))


def head_position(face: FaceResult, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Metres (x right, y up, z away) of the landmarks' centre, with a camera whose focal length is the image
    width (OpenSeeFace's assumption): the model renders the face MODEL_DEPTH units away with its own focal
    length into the crop, so the crop's pixels per model unit give the distance."""
    width, height = image_size
    x0, _, x1, _ = face.crop_box
    pixels_per_unit = face.focal / MODEL_DEPTH * (x1 - x0 + 1) / INPUT_SIZE
    z = float(width / pixels_per_unit)  # model units, for a focal length of `width` pixels
    u, v = centre(face.points())
    return ((u - width / 2) * z / width * MODEL_UNIT_M, -(v - height / 2) * z / width * MODEL_UNIT_M, z * MODEL_UNIT_M)


def hud_rows(signals: FaceSignals) -> dict[str, str]:
    """The window's HUD rows for the avatar face: always the same rows, so the panel never changes height."""
    s = signals
    return {
        "Eyes": f"L {s.eye_open_left:.2f} · R {s.eye_open_right:.2f}",
        "Mouth": f"open {s.mouth_open:.2f} · wide {s.mouth_wide:.2f}",
        "Brows": f"L {s.brow_raise_left:.2f} · R {s.brow_raise_right:.2f}",
        "Head": f"{s.yaw:+.0f}° / {s.pitch:+.0f}° / {s.roll:+.0f}°",  # yaw / pitch / roll
        "Distance": f"{s.head_z:.2f} m",
        "Blink": "yes" if s.blink else "no",
    }


HUD_ROWS = tuple(hud_rows(FaceSignals(*(0.0,) * 12, blink=False)))  # the row names, in order
