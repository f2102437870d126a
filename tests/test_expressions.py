"""ARKit-named expressions on real faces: dlib's 68 points of photos (tests/data/dlib_faces.json), within the
ranges docs/streaming.md states, and unchanged by head roll and yaw."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.perframe.expressions import ARKIT_NAMES, blendshapes
from facemap_gui.perframe.pipeline import FaceResult
from facemap_gui.sinks.streaming import osf

FACES = json.loads((Path(__file__).parent / "data" / "dlib_faces.json").read_text())["faces"]
COMPUTED = {
    *(f"{stem}{side}" for side in ("Left", "Right") for stem in ("eyeBlink", "eyeSquint", "eyeWide", "jaw")),
    *(f"{stem}{side}" for side in ("Left", "Right") for stem in ("mouth", "mouthSmile", "mouthFrown")),
    *(f"{stem}{side}" for side in ("Left", "Right") for stem in ("mouthStretch", "browDown", "browOuterUp")),
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "browInnerUp",
}


def face(points, pose=(0.0, 0.0, 0.0)) -> FaceResult:
    box = (0, 0, 100, 100)
    return FaceResult(box=box, crop_box=box, score=1.0, landmarks=np.asarray(points, float), pose=pose)


@pytest.mark.parametrize("name", sorted(FACES))
def test_real_faces_read_within_the_documented_ranges(name):
    shapes = blendshapes(face(FACES[name]["landmarks"]))
    assert tuple(shapes) == ARKIT_NAMES and len(ARKIT_NAMES) == 52 and len(set(ARKIT_NAMES)) == 52
    assert all(0.0 <= value <= 1.0 for value in shapes.values())
    assert all(shapes[n] == 0.0 for n in ARKIT_NAMES if n not in COMPUTED)  # what 68 points cannot show
    assert max(shapes["eyeBlinkLeft"], shapes["eyeBlinkRight"]) <= 0.2  # eyes open in both photos
    if name.startswith("neutral"):  # Grace Hopper, at rest
        assert max(shapes["mouthSmileLeft"], shapes["mouthSmileRight"]) <= 0.2
        assert shapes["jawOpen"] <= 0.1 and max(shapes["mouthFrownLeft"], shapes["mouthFrownRight"]) <= 0.2
    else:  # the astronaut's broad smile, teeth showing
        assert min(shapes["mouthSmileLeft"], shapes["mouthSmileRight"]) >= 0.8
        assert 0.2 <= shapes["jawOpen"] <= 0.6 and shapes["mouthPucker"] == 0.0


def turned(points: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return points @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) + 40.0


def test_head_roll_and_yaw_do_not_change_the_expressions():
    points = np.asarray(FACES["smile"]["landmarks"], float)
    upright = blendshapes(face(points))
    assert blendshapes(face(turned(points, 25.0))) == pytest.approx(upright, abs=1e-9)
    # A head turned 40 degrees: every distance along the eyes shrinks by cos(40°); the pose says so.
    across = points[45] - points[36]
    points = turned(points, -math.degrees(math.atan2(across[1], across[0])))  # eyes level
    squeezed = points.copy()
    squeezed[:, 0] = (points[:, 0] - points[:, 0].mean()) * math.cos(math.radians(40.0)) + 300.0
    assert blendshapes(face(squeezed, pose=(40.0, 0.0, 0.0))) == pytest.approx(upright, abs=1e-9)
    assert blendshapes(face(squeezed))["eyeWideLeft"] > upright["eyeWideLeft"] + 0.3  # uncorrected: eyes "wide"


def test_lowered_brows_closed_eyes_and_pursed_lips_read_as_such():
    points = np.asarray(FACES["neutral"]["landmarks"], float)
    span = np.linalg.norm(points[45] - points[36])
    changed = points.copy()
    changed[17:27, 1] += 0.1 * span  # brows down
    changed[[37, 38, 43, 44], 1] = changed[[41, 40, 47, 46], 1]  # upper lids on the lower ones
    mouth_centre = changed[48:68].mean(axis=0)
    changed[48:68, 0] = mouth_centre[0] + (changed[48:68, 0] - mouth_centre[0]) * 0.55  # lips pursed
    shapes = blendshapes(face(changed))
    assert min(shapes["browDownLeft"], shapes["browDownRight"]) >= 0.9
    assert min(shapes["eyeBlinkLeft"], shapes["eyeBlinkRight"]) == 1.0
    assert shapes["mouthPucker"] >= 0.8 and shapes["mouthFunnel"] <= 0.1
    assert blendshapes(face(points))["mouthPucker"] == 0.0


def test_openseeface_brow_and_mouth_corner_features_on_real_faces():
    def features(name):
        return dict(zip(osf._FEATURES, osf.features(face(FACES[name]["landmarks"]), _signals(name)), strict=True))

    for name in ("neutral", "neutral_mirrored", "neutral_rolled"):
        values = features(name)
        for feature in ("eyebrow_steepness", "eyebrow_quirk", "mouth_corner_updown", "mouth_corner_inout"):
            assert abs(values[f"{feature}_l"]) <= 0.5 and abs(values[f"{feature}_r"]) <= 0.5, (name, feature)
    for name in ("smile", "smile_mirrored", "smile_rolled"):
        values = features(name)
        assert min(values["mouth_corner_updown_l"], values["mouth_corner_updown_r"]) >= 0.2, name
        assert min(values["mouth_corner_inout_l"], values["mouth_corner_inout_r"]) >= 0.3, name


def _signals(name):
    from facemap_gui.perframe.signals import face_signals

    return face_signals(face(FACES[name]["landmarks"]), tuple(FACES[name]["size"]))
