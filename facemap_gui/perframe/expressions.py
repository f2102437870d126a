"""ARKit-named expressions ("Perfect Sync" blendshapes), each 0..1, from a face's 68 points and pose.

Geometric rules in the face's own frame: x along the outer eye corners (so head roll does not count), y at right
angles to it, both in units of the eye-corner span. Turning the head (yaw) shortens every horizontal distance and
the span alike, so horizontal ratios keep; vertical distances are divided by the span corrected for the yaw.
The 68 points cannot show gaze, cheeks, nose or tongue: those names are always 0 (docs/streaming.md)."""

from __future__ import annotations

import math
from operator import itemgetter

from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.signals import EYE_CLOSED_RATIO, EYE_OPEN_RATIO, MOUTH_WIDTH_NEUTRAL, clip

# ARKit's 52 names, in the order of MediaPipe's face_blendshapes_graph.cc (without `_neutral`) plus tongueOut.
ARKIT_NAMES = (
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
)
arkit_values = itemgetter(*ARKIT_NAMES)  # a dict's values in ARKIT_NAMES' order: the packets' order
# What the 68 points cannot show (always 0): gaze, cheeks, nose, tongue and the finer lip shapes.
NOT_COMPUTED = frozenset(
    {
        *(f"eyeLook{d}{side}" for d in ("Down", "In", "Out", "Up") for side in ("Left", "Right")),
        *(f"{stem}{side}" for stem in ("cheekSquint", "mouthDimple", "mouthLowerDown") for side in ("Left", "Right")),
        *(f"{stem}{side}" for stem in ("mouthPress", "mouthUpperUp", "noseSneer") for side in ("Left", "Right")),
        *("cheekPuff", "jawForward", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper"),
        "tongueOut",
    }
)
COMPUTED = tuple(name for name in ARKIT_NAMES if name not in NOT_COMPUTED)

# Each rule maps a measure linearly from its rest value (reads 0) to its full value (reads 1), in eye-corner spans
# (the eyes: lid gap / eye width). Rest values are dlib's points of real neutral faces (tests/data/dlib_faces.json),
# with room for the points' noise; full values are typical adult proportions. Tune here.
EYE_WIDE_REST, EYE_WIDE_FULL = 0.36, 0.48  # lid gap / eye width (EYE_OPEN_RATIO reads fully open)
LOWER_LID_REST, LOWER_LID_SQUINT = 0.05, -0.02  # lower lid below the eye's corner line / eye width
JAW_OPEN_FULL = 0.30  # inner-lip gap
CHIN_REST, CHIN_DOWN = 0.78, 1.05  # nose base to chin, for mouthClose (jaw lowered while the lips stay shut)
SIDE_REST, JAW_SIDE_FULL, MOUTH_SIDE_FULL = 0.03, 0.15, 0.13  # chin, mouth centre beside the nose bridge
CORNER_REST, CORNER_SMILE = 0.02, 0.10  # mouth corner above the lips' centre
FROWN_REST, CORNER_FROWN = -0.01, -0.07  # ... below it
HALF_WIDTH_REST, HALF_WIDTH_WIDE = 0.34, 0.45  # mouth corner beside the lips' centre
WIDTH_PUCKER = 0.38  # mouth corner span of pursed lips (MOUTH_WIDTH_NEUTRAL reads 0)
FUNNEL_GAP = 0.10  # inner-lip gap of an "o"
BROW_REST, BROW_DOWN = 0.19, 0.12  # brow above the eye (both centres)
BROW_INNER_REST, BROW_INNER_UP = 0.23, 0.33  # inner brow ends above the inner eye corners
BROW_OUTER_REST, BROW_OUTER_UP = 0.12, 0.22  # outer brow end above the outer eye corner
_PER_SIDE = ("eyeBlink", "eyeWide", "eyeSquint", "browDown", "browOuterUp", "mouthSmile", "mouthFrown", "mouthStretch")
# Each side: its names, eye corner, first brow point, outer brow end, outer eye corner, mouth corner.
_SIDES: tuple[tuple[tuple[str, ...], int, int, int, int, int], ...] = tuple(
    (tuple(f"{stem}{side}" for stem in _PER_SIDE), eye, brow, outer_brow, outer_eye, mouth)
    for side, eye, brow, outer_brow, outer_eye, mouth in (("Left", 42, 22, 26, 45, 54), ("Right", 36, 17, 17, 36, 48))
)
MIN_YAW_COS = 0.5  # beyond 60 degrees of yaw the correction would amplify noise more than it corrects
# The points the rules below read: the brows, eyes, chin, nose bridge and base, mouth corners and inner lips.
_READ = (8, *range(17, 28), 33, *range(36, 48), 48, 54, 61, 62, 63, 65, 66, 67)


def _ramp(value: float, rest: float, full: float) -> float:
    """0 at `rest`, 1 at `full` (either side of it), clipped."""
    return clip((value - rest) / (full - rest), 0.0, 1.0)


def blendshapes(face: FaceResult) -> dict[str, float]:
    """All 52 ARKit names, each 0..1 (the subject's left and right)."""
    p = face.points()
    (ax, ay), (bx, by) = p[36], p[45]
    span = max(math.hypot(bx - ax, by - ay), 1e-6)
    cx, cy = (ax + bx) / 2, (ay + by) / 2
    ux, uy = (bx - ax) / span, (by - ay) / span  # towards the subject's left
    vertical = span / max(math.cos(math.radians(face.pose[0])), MIN_YAW_COS)
    # (x towards the subject's left, y down) of the points the rules read, in scalars: cheaper than numpy calls on
    # all 68. The others are NaN, so a rule reading a point missing from _READ gives NaN, not a plausible value.
    xs, ys = [math.nan] * len(p), [math.nan] * len(p)
    for i in _READ:
        dx, dy = p[i][0] - cx, p[i][1] - cy
        xs[i], ys[i] = (dx * ux + dy * uy) / span, (dy * ux - dx * uy) / vertical

    def eye(corner: int) -> tuple[float, float]:  # (lid gap / width, lower lid below the corner line / width)
        width = max(xs[corner + 3] - xs[corner], 1e-6)  # x and y are in the same (yaw-corrected) units
        gap = (ys[corner + 5] - ys[corner + 1] + ys[corner + 4] - ys[corner + 2]) / 2
        below = (ys[corner + 4] + ys[corner + 5] - ys[corner] - ys[corner + 3]) / 2
        return gap / width, below / width

    def brow(first: int, eye_corner: int) -> float:
        return sum(ys[eye_corner : eye_corner + 6]) / 6 - sum(ys[first : first + 5]) / 5

    shapes = dict.fromkeys(ARKIT_NAMES, 0.0)
    for names, corner, brow_first, outer_brow, outer_eye, mouth_corner in _SIDES:
        blink, wide, squint, brow_down, outer_up, smile_name, frown, stretch = names
        ratio, below = eye(corner)
        shapes[blink] = 1.0 - _ramp(ratio, EYE_CLOSED_RATIO, EYE_OPEN_RATIO)
        shapes[wide] = _ramp(ratio, EYE_WIDE_REST, EYE_WIDE_FULL)
        shapes[squint] = _ramp(below, LOWER_LID_REST, LOWER_LID_SQUINT)
        shapes[brow_down] = _ramp(brow(brow_first, corner), BROW_REST, BROW_DOWN)
        shapes[outer_up] = _ramp(ys[outer_eye] - ys[outer_brow], BROW_OUTER_REST, BROW_OUTER_UP)
        raised = (ys[62] + ys[66]) / 2 - ys[mouth_corner]
        smile = _ramp(raised, CORNER_REST, CORNER_SMILE)
        shapes[smile_name] = smile
        shapes[frown] = _ramp(raised, FROWN_REST, CORNER_FROWN)
        half_width = abs(xs[mouth_corner] - (xs[62] + xs[66]) / 2)
        shapes[stretch] = _ramp(half_width, HALF_WIDTH_REST, HALF_WIDTH_WIDE) * (1.0 - smile)
    inner_up = (ys[39] - ys[21] + ys[42] - ys[22]) / 2
    shapes["browInnerUp"] = _ramp(inner_up, BROW_INNER_REST, BROW_INNER_UP)

    gap = (ys[67] - ys[61] + ys[66] - ys[62] + ys[65] - ys[63]) / 3
    jaw_open = _ramp(gap, 0.0, JAW_OPEN_FULL)
    shapes["jawOpen"] = jaw_open
    shapes["mouthClose"] = max(_ramp(ys[8] - ys[33], CHIN_REST, CHIN_DOWN) - jaw_open, 0.0)
    jaw_side = xs[8] - xs[27]
    shapes["jawLeft"] = _ramp(jaw_side, SIDE_REST, JAW_SIDE_FULL)
    shapes["jawRight"] = _ramp(jaw_side, -SIDE_REST, -JAW_SIDE_FULL)
    mouth_side = (xs[48] + xs[54]) / 2 - xs[27]
    shapes["mouthLeft"] = _ramp(mouth_side, SIDE_REST, MOUTH_SIDE_FULL)
    shapes["mouthRight"] = _ramp(mouth_side, -SIDE_REST, -MOUTH_SIDE_FULL)
    narrow = _ramp(xs[54] - xs[48], MOUTH_WIDTH_NEUTRAL, WIDTH_PUCKER)
    rounded = _ramp(gap, 0, FUNNEL_GAP)
    shapes["mouthFunnel"], shapes["mouthPucker"] = narrow * rounded, narrow * (1.0 - rounded)
    return shapes


def frame_blendshapes(result: FrameResult, face: FaceResult) -> dict[str, float]:
    """`blendshapes` of one of `result`'s faces, computed once however many sinks read it (do not change it)."""
    return result.derived("blendshapes", face, lambda: blendshapes(face))


def record(shapes: dict[str, float]) -> dict[str, float]:
    """The JSON Lines `blendshapes` of a face: every name, 3 decimals."""
    return {name: round(value, 3) for name, value in shapes.items()}
