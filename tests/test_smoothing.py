"""One Euro smoothing of landmarks: less jitter on a still face, little lag on a moving one, one filter per face."""

from __future__ import annotations

import numpy as np
import pytest

from facemap_gui.perframe.detection.base import box_iou
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.smoothing import LandmarkSmoother, OneEuroFilter, min_cutoff_hz
from facemap_gui.sources import Frame

FPS = 30.0
BLANK = np.zeros((4, 4, 3), np.uint8)


def face(
    centre: tuple[float, float], points: np.ndarray | None = None, yaw: float = 0.0, track_id: int = 0
) -> FaceResult:
    x, y = centre
    base = np.stack([np.linspace(-40, 40, 68), np.sin(np.arange(68)) * 40], axis=1)
    landmarks = base + np.array([x, y]) if points is None else points
    box = (int(x - 50), int(y - 50), int(x + 50), int(y + 50))
    return FaceResult(box=box, crop_box=box, score=0.9, landmarks=landmarks, pose=(yaw, 0.0, 0.0), track_id=track_id)


def frame_result(index: int, faces: list[FaceResult]) -> FrameResult:
    return FrameResult(frame=Frame(index, index * 1000.0 / FPS, BLANK), faces=faces)


def jitter(strength: float) -> tuple[float, float]:
    """Mean landmark error of noisy input and of the smoothed output on a still face (after settling)."""
    rng = np.random.default_rng(0)
    smoother = LandmarkSmoother(strength=strength)
    truth = face((300, 200)).landmarks
    raw_err, smooth_err = [], []
    for i in range(120):
        noisy = truth + rng.normal(0, 2.0, truth.shape)
        out = smoother.apply(frame_result(i, [face((300, 200), noisy)])).faces[0].landmarks
        if i >= 30:
            raw_err.append(np.abs(noisy - truth).mean())
            smooth_err.append(np.abs(out - truth).mean())
    return float(np.mean(raw_err)), float(np.mean(smooth_err))


def test_jitter_on_a_still_face_is_reduced_and_more_so_when_stronger():
    raw, medium = jitter(0.5)
    assert medium < raw / 2.5
    assert jitter(0.9)[1] < medium < jitter(0.1)[1]


def test_a_moving_face_is_followed_with_small_lag():
    smoother = LandmarkSmoother(strength=0.5)
    speed = 300.0  # pixels per second, a quick head movement
    for i in range(60):
        x = 200 + speed * i / FPS
        out = smoother.apply(frame_result(i, [face((x, 200))])).faces[0]
    lag = face((x, 200)).landmarks[:, 0].mean() - out.landmarks[:, 0].mean()
    assert 0 < lag < speed / FPS * 2  # behind, but by less than two frames of motion


def test_stronger_smoothing_means_a_lower_cutoff():
    assert min_cutoff_hz(1.0) < min_cutoff_hz(0.5) < min_cutoff_hz(0.0)
    assert min_cutoff_hz(0.5) == pytest.approx(1.0)


def test_pose_is_smoothed_with_the_landmarks():
    smoother = LandmarkSmoother(strength=1.0)
    smoother.apply(frame_result(0, [face((300, 200), yaw=0.0)]))
    yaw = smoother.apply(frame_result(1, [face((300, 200), yaw=30.0)])).faces[0].pose[0]
    assert 0 < yaw < 30


def test_two_faces_keep_their_own_filters_and_a_new_face_starts_unsmoothed():
    smoother = LandmarkSmoother(strength=1.0)
    smoother.apply(frame_result(0, [face((150, 200), track_id=0), face((500, 200), track_id=1)]))
    moved = smoother.apply(frame_result(1, [face((500, 210), track_id=1), face((150, 190), track_id=0)])).faces
    # Matched by track id whatever the order: each moved only a little towards its own new position.
    assert 190 < moved[0].landmarks[:, 1].mean() - face((0, 0)).landmarks[:, 1].mean() < 210
    assert abs(moved[1].landmarks[:, 0].mean() - 150) < 5
    new = face((900, 500), track_id=2)
    out = smoother.apply(frame_result(2, [new])).faces[0]
    np.testing.assert_array_equal(out.landmarks, new.landmarks)


def test_two_faces_passing_close_by_are_never_blended():
    # Two faces crossing: at frame 1 each is where the other was, their boxes overlapping the other's. Each is
    # smoothed with its own past only, so each stays on its own side of the crossing; with box matching, each
    # would be pulled towards the other face's past.
    smoother = LandmarkSmoother(strength=1.0)
    smoother.apply(frame_result(0, [face((300, 200), track_id=0), face((340, 200), track_id=1)]))
    a, b = smoother.apply(frame_result(1, [face((335, 200), track_id=0), face((305, 200), track_id=1)])).faces
    assert 300 < a.landmarks[:, 0].mean() < 335 and 305 < b.landmarks[:, 0].mean() < 340
    assert a.landmarks[:, 0].mean() < b.landmarks[:, 0].mean()  # not swapped: a still lags behind, left of b
    # A new face where another just was starts afresh: nothing of the other face's past.
    other = face((302, 200), track_id=2)
    np.testing.assert_array_equal(smoother.apply(frame_result(2, [other])).faces[0].landmarks, other.landmarks)


def test_a_gap_in_time_starts_afresh():
    smoother = LandmarkSmoother(strength=1.0)
    smoother.apply(frame_result(0, [face((300, 200))]))
    later = face((310, 200))
    out = smoother.apply(frame_result(60, [later])).faces[0]  # two seconds later: nothing to smooth against
    np.testing.assert_array_equal(out.landmarks, later.landmarks)


def test_a_repeated_timestamp_returns_the_previous_estimate():
    f = OneEuroFilter(0.0, np.zeros(2))
    first = f(1 / FPS, np.ones(2), min_cutoff=1.0)
    assert np.array_equal(f(1 / FPS, np.full(2, 100.0), min_cutoff=1.0), first)


def test_box_iou():
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 9, 9), (10, 10, 19, 19)) == 0.0
