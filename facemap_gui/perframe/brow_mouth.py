"""OpenSeeFace's 8 brow and mouth-corner features, measured from the 68 points as its tracker.py FeatureExtractor
does. Raw values here (degrees, nose lengths, jaw widths); the OpenSeeFace sender maps them from a rest value,
which the user's calibrated neutral face supplies when there is one (perframe/calibration.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

NAMES = (
    "eyebrow_steepness_l",
    "eyebrow_quirk_l",
    "eyebrow_steepness_r",
    "eyebrow_quirk_r",
    "mouth_corner_updown_l",
    "mouth_corner_inout_l",
    "mouth_corner_updown_r",
    "mouth_corner_inout_r",
)
_POINTS = (0, 1, 15, 16, *range(17, 28), 30, 51, 52, 50, 57, 60, 62, 64, 66)


def _angle(a: Sequence[float], b: Sequence[float]) -> float:
    """Degrees of the line a→b, folded into -90..90 (OpenSeeFace's align_points)."""
    degrees = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 360.0
    return 180.0 - degrees if degrees >= 90.0 and degrees < 270.0 else (degrees - 360.0 if degrees >= 270 else degrees)


def measure(points: list[list[float]]) -> dict[str, float]:
    """The raw features of iBUG-68 points (OpenSeeFace's 58/62 mouth corners are iBUG 60/64, its 49-51 iBUG
    50-52), lengths in nose lengths (y) and jaw widths (x) as OpenSeeFace normalises. Measured after turning the
    points by OpenSeeFace's head-roll angle: its own left steepness and corner heights change with roll (twice
    the roll for the left brow)."""
    norm_angle = sum(_angle(points[a], points[b]) for a, b in ((42, 45), (36, 39), (0, 16), (31, 35))) / 4
    cos, sin = math.cos(math.radians(norm_angle)), math.sin(math.radians(norm_angle))
    p = {i: (x * cos + y * sin, y * cos - x * sin) for i in _POINTS for x, y in (points[i],)}
    norm_x = abs(p[0][0] - p[16][0] + p[1][0] - p[15][0]) / 2 or 1e-6
    norm_y = abs(p[30][1] - p[27][1]) / 3 or 1e-6

    def quirk(first: int, last: int) -> float:  # the brow's largest bend away from its end-to-end line
        (ax, ay), (bx, by) = p[first], p[last]
        length = math.hypot(bx - ax, by - ay) or 1e-6
        inner = range(min(first, last) + 1, max(first, last))
        return max(abs((p[i][1] - ay) * (bx - ax) - (p[i][0] - ax) * (by - ay)) for i in inner) / length / norm_y

    upper_lip = (p[50][1] + p[51][1] + p[52][1]) / 3
    centre = (p[51][0] + p[62][0] + p[27][0] + p[30][0] + p[66][0] + p[57][0]) / 6
    return {
        "eyebrow_steepness_l": -_angle(p[22], p[26]),
        "eyebrow_quirk_l": quirk(22, 26),
        "eyebrow_steepness_r": _angle(p[17], p[21]),
        "eyebrow_quirk_r": quirk(17, 21),
        "mouth_corner_updown_l": (upper_lip - p[64][1]) / norm_y,
        "mouth_corner_inout_l": abs(centre - p[64][0]) / norm_x,
        "mouth_corner_updown_r": (upper_lip - p[60][1]) / norm_y,
        "mouth_corner_inout_r": abs(centre - p[60][0]) / norm_x,
    }
