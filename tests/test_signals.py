"""Face signals against faces drawn by hand: closed lids read closed, an open mouth open, raised brows raised."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.signals import HUD_ROWS, face_signals, hud_rows
from facemap_gui.perframe.smoothing import LandmarkSmoother
from facemap_gui.sinks.output import frame_record
from facemap_gui.sinks.recording.landmarks import CSV_COLUMNS, csv_rows
from facemap_gui.sources import Frame

SIZE = (640, 360)
EYE_SPAN = 90.0  # outer eye corners (36, 45) apart, in the unrotated unit face below


def drawn_face(
    eye_gap: tuple[float, float] = (0.28, 0.28),
    mouth_gap: float = 0.0,
    mouth_width: float = 0.55,
    brows: tuple[float, float] = (0.24, 0.24),
    roll_deg: float = 0.0,
    scale: float = 1.0,
    centre: tuple[float, float] = (320.0, 180.0),
) -> np.ndarray:
    """68 iBUG points of a frontal face. eye_gap: lid gap / eye width (right, left eye: the subject's); mouth_gap
    and mouth_width, brows (height above the eye centre): fractions of the outer eye-corner span."""
    p = np.zeros((68, 2))
    p[0:17] = np.stack([np.linspace(-70, 70, 17), 40 - 60 * np.cos(np.linspace(0, np.pi, 17))], axis=1)
    for corner, first_lid, gap in ((36, 37, eye_gap[0]), (42, 43, eye_gap[1])):
        x0 = -45.0 if corner == 36 else 15.0
        half = gap * 30.0 / 2
        p[corner], p[corner + 3] = (x0, 0.0), (x0 + 30.0, 0.0)
        p[first_lid], p[first_lid + 1] = (x0 + 10, -half), (x0 + 20, -half)  # upper lid, outer to inner
        p[first_lid + 3], p[first_lid + 4] = (x0 + 20, half), (x0 + 10, half)  # lower lid
    p[17:22] = np.stack([np.linspace(-50, -10, 5), np.full(5, -brows[0] * EYE_SPAN)], axis=1)
    p[22:27] = np.stack([np.linspace(10, 50, 5), np.full(5, -brows[1] * EYE_SPAN)], axis=1)
    p[27:36] = np.stack(
        [np.r_[np.zeros(4), np.linspace(-10, 10, 5)], np.r_[np.linspace(5, 30, 4), np.full(5, 35)]], axis=1
    )
    half_width, half_gap = mouth_width * EYE_SPAN / 2, mouth_gap * EYE_SPAN / 2
    p[48], p[54] = (-half_width, 60), (half_width, 60)
    p[49:54] = np.stack([np.linspace(-20, 20, 5), np.full(5, 60 - half_gap - 5)], axis=1)
    p[55:60] = np.stack([np.linspace(20, -20, 5), np.full(5, 60 + half_gap + 5)], axis=1)
    p[60], p[64] = (-half_width + 5, 60), (half_width - 5, 60)
    p[61:64] = np.stack([[-10, 0, 10], np.full(3, 60 - half_gap)], axis=1)
    p[65:68] = np.stack([[10, 0, -10], np.full(3, 60 + half_gap)], axis=1)
    p -= p.mean(axis=0)  # `centre` is where the landmarks' centre goes
    a = math.radians(roll_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return p @ rotation.T * scale + np.array(centre)


def face(points: np.ndarray, crop_box=(256, 116, 383, 243), focal: float = 500.0, pose=(10.0, -5.0, 2.0)) -> FaceResult:
    return FaceResult(box=crop_box, crop_box=crop_box, score=0.9, landmarks=points, pose=pose, focal=focal)


def signals(points: np.ndarray, **kwargs):
    return face_signals(face(points, **kwargs), SIZE)


def test_a_neutral_face_reads_eyes_open_and_everything_else_at_rest():
    s = signals(drawn_face())
    assert (s.eye_open_left, s.eye_open_right) == pytest.approx((1.0, 1.0), abs=1e-6)
    assert (s.mouth_open, s.mouth_wide, s.brow_raise_left, s.brow_raise_right) == pytest.approx((0, 0, 0, 0), abs=1e-6)
    assert not s.blink
    assert (s.yaw, s.pitch, s.roll) == (10.0, -5.0, 2.0)


def test_eyelids_moved_together_read_closed_and_both_closed_is_a_blink():
    both = signals(drawn_face(eye_gap=(0.0, 0.0)))
    assert (both.eye_open_left, both.eye_open_right, both.blink) == (0.0, 0.0, True)
    right_only = signals(drawn_face(eye_gap=(0.0, 0.28)))  # a wink of the right eye
    assert right_only.eye_open_right == 0.0 and right_only.eye_open_left == pytest.approx(1.0)
    assert not right_only.blink
    half = signals(drawn_face(eye_gap=((0.28 + 0.05) / 2,) * 2))
    assert half.eye_open_left == pytest.approx(0.5) and half.eye_open_right == pytest.approx(0.5)


def test_mouth_open_and_wide_follow_the_lips():
    assert signals(drawn_face(mouth_gap=0.5)).mouth_open == pytest.approx(1.0)
    assert signals(drawn_face(mouth_gap=0.25)).mouth_open == pytest.approx(0.5)
    wide = signals(drawn_face(mouth_width=0.65))
    assert wide.mouth_wide == pytest.approx(0.5) and wide.mouth_open == pytest.approx(0.0)


def test_each_brow_is_read_on_its_own_side():
    s = signals(drawn_face(brows=(0.24, 0.34)))  # the subject's left brow raised
    assert s.brow_raise_left == pytest.approx(1.0) and s.brow_raise_right == pytest.approx(0.0)
    assert signals(drawn_face(brows=(0.29, 0.29))).brow_raise_right == pytest.approx(0.5)


def test_signals_do_not_change_with_roll_size_or_place_in_the_image():
    expression = {"eye_gap": (0.1, 0.2), "mouth_gap": 0.2, "mouth_width": 0.6, "brows": (0.3, 0.26)}
    upright = signals(drawn_face(**expression))
    turned = signals(drawn_face(**expression, roll_deg=35.0, scale=1.7, centre=(200.0, 150.0)))
    for name in ("eye_open_left", "eye_open_right", "mouth_open", "mouth_wide", "brow_raise_left", "brow_raise_right"):
        assert getattr(turned, name) == pytest.approx(getattr(upright, name), abs=1e-9), name
    assert 0 < upright.eye_open_right < upright.eye_open_left < 1  # and the values are not clipped ends


def test_head_position_from_the_crop_box_and_focal_length():
    # focal 500 at depth 500 and a 128-pixel crop: one pixel per model unit (1 mm); a camera of focal length
    # 640 px (the image width) then sees the face 640 mm away.
    centred = signals(drawn_face(centre=(320.0, 180.0)))
    assert (centred.head_x, centred.head_y, centred.head_z) == pytest.approx((0.0, 0.0, 0.64), abs=1e-3)
    closer = signals(drawn_face(centre=(384.0, 148.0)), crop_box=(0, 0, 255, 255), focal=500.0)
    assert closer.head_z == pytest.approx(0.32)  # a crop twice as wide: half as far
    # 64 px right and 32 px up at 0.32 m with a 640 px focal length.
    assert (closer.head_x, closer.head_y) == pytest.approx((64 * 0.32 / 640, 32 * 0.32 / 640), abs=1e-3)
    assert signals(drawn_face(), focal=1000.0).head_z == pytest.approx(0.32)


def test_hud_rows_show_the_first_face():
    rows = hud_rows(signals(drawn_face(eye_gap=(0.0, 0.0), mouth_gap=0.5)))
    assert tuple(rows) == HUD_ROWS
    assert rows["Eyes"] == "L 0.00 · R 0.00" and rows["Mouth"].startswith("open 1.00 · ")
    assert rows["Head"].startswith("+10° / ") and rows["Distance"] == "0.64 m" and rows["Blink"] == "yes"


def test_jsonl_and_csv_carry_the_same_signals():
    result = FrameResult(
        frame=Frame(0, 0.0, np.zeros((SIZE[1], SIZE[0], 3), np.uint8)),
        faces=[face(drawn_face(eye_gap=(0.0, 0.28), mouth_gap=0.25))],
    )
    record = frame_record(result)
    assert record["faces"][0]["signals"] == {
        "eye_open_left": 1.0,
        "eye_open_right": 0.0,
        "mouth_open": 0.5,
        "mouth_wide": 0.0,
        "brow_raise_left": 0.0,
        "brow_raise_right": 0.0,
        "head_x": 0.0,
        "head_y": 0.0,
        "head_z": 0.64,
        "blink": False,
    }
    row = dict(zip(CSV_COLUMNS, csv_rows(record, stand_in=True)[0], strict=True))
    assert {name: row[name] for name in record["faces"][0]["signals"]} == record["faces"][0]["signals"]


def test_smoothing_applies_to_the_signals():
    """Eyes shut from one frame to the next: the smoothed face's eyes close over several frames, not at once."""
    smoother = LandmarkSmoother(strength=0.5)
    openness = []
    for index in range(20):
        gap = 0.28 if index < 10 else 0.0
        result = FrameResult(
            frame=Frame(index, index * 1000 / 30, np.zeros((4, 4, 3), np.uint8)),
            faces=[face(drawn_face(eye_gap=(gap, gap)))],
        )
        openness.append(face_signals(smoother.apply(result).faces[0], SIZE).eye_open_left)
    assert openness[9] == pytest.approx(1.0)
    assert 0.05 < openness[10] < 0.95 and openness[10] > openness[12] > openness[19]


def test_a_faces_points_are_its_own_landmarks_not_an_earlier_faces():
    """The landmarks as Python floats are converted once a face and shared by its readers; a face made from another
    (smoothing replaces the landmarks) reads its own, so the signals follow the new points."""
    raw = face(drawn_face().astype(np.float32))
    assert raw.points() == drawn_face().astype(np.float32).astype(np.float64).tolist()
    shut = dataclasses.replace(raw, landmarks=drawn_face(eye_gap=(0.0, 0.0)))
    assert shut.points() == drawn_face(eye_gap=(0.0, 0.0)).tolist()
    assert face_signals(shut, SIZE).blink and not face_signals(raw, SIZE).blink


def test_a_faces_points_asked_for_twice_at_once_are_still_its_68_points():
    """Another thread asking while the first converts (played here by asking from inside the conversion) must not
    leave the points twice over: the head position divides by their count."""
    points = drawn_face()

    class Landmarks:  # converted by tolist: the second reader asks meanwhile
        def tolist(self):
            if not inner:
                inner.append(0)
                inner[0] = len(shared.points())
            return points.tolist()

    inner: list[int] = []  # what the second reader got
    shared = face(Landmarks())
    assert len(shared.points()) == 68 and inner == [68]
    assert face_signals(shared, SIZE) == face_signals(face(points), SIZE)
