"""Tracking between detections: the real BlazeFace detectors on the real photo moved across a canvas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facemap_gui.config import RunOptions, build_pipeline
from facemap_gui.detection import MediaPipeFaceDetector
from facemap_gui.detection.base import box_iou
from facemap_gui.pipeline import FrameResult
from facemap_gui.sources import Frame, open_source
from facemap_gui.sources.files import read_image_rgb
from facemap_gui.tracking import FaceTracker, search_region
from tests.conftest import FULL_RANGE, PHOTO

CANVAS = (640, 360)
SCALE = 0.5  # the photo's face (about 194 px) becomes about 97 px tall
FACE_IN_PHOTO = (171, 146, 364, 339)  # ../shared/README.md: (171, 146, 194, 194) as x, y, w, h


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rgb = read_image_rgb(PHOTO)
    return cv2.resize(rgb, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)


def canvas(photo: np.ndarray, *xs: int) -> np.ndarray:
    """The scaled photo pasted with its top-left corner at (x, 20) for each x, on a grey background."""
    rgb = np.full((CANVAS[1], CANVAS[0], 3), 60, np.uint8)
    h, w = photo.shape[:2]
    for x in xs:
        rgb[20 : 20 + h, x : x + w] = photo[:, : min(w, CANVAS[0] - x)]
    return rgb


def face_centre_x(x: int) -> float:
    """Where the face centre lands when the photo is pasted at x."""
    return x + (FACE_IN_PHOTO[0] + FACE_IN_PHOTO[2]) / 2 * SCALE


@pytest.fixture
def tracker_factory():
    made = []

    def make(redetect_every: int) -> FaceTracker:
        tracker = FaceTracker(MediaPipeFaceDetector(FULL_RANGE, video=True), redetect_every=redetect_every)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close()


def run(tracker: FaceTracker, frames: list[np.ndarray]) -> list[tuple[list, bool]]:
    out = []
    for index, rgb in enumerate(frames):
        faces = tracker.detect(Frame(index, index * 33.3, rgb))
        out.append((faces, tracker.detector_ran))
    return out


def centre_x(box: tuple[int, int, int, int]) -> float:
    return (box[0] + box[2]) / 2


def test_boxes_follow_motion_between_detections_and_the_detector_runs_every_n_frames(photo, tracker_factory):
    xs = [40 + 8 * i for i in range(30)]  # 8 px a frame to the right
    results = run(tracker_factory(redetect_every=10), [canvas(photo, x) for x in xs])
    assert [i for i, (_, ran) in enumerate(results) if ran] == [0, 10, 20]
    for x, (faces, _) in zip(xs, results, strict=True):
        assert len(faces) == 1
        assert abs(centre_x(faces[0].box) - face_centre_x(x)) < 12
    # The tracked boxes moved with the face: the last is about 29 * 8 px right of the first.
    assert centre_x(results[-1][0][0].box) - centre_x(results[0][0][0].box) == pytest.approx(29 * 8, abs=12)


def test_boxes_follow_a_face_coming_closer(photo, tracker_factory):
    tracker = tracker_factory(redetect_every=100)
    zooms = [1.03**i for i in range(11)]  # 3% a frame, 1.34x in all
    frames = []
    for zoom in zooms:
        scaled = cv2.resize(photo, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        rgb = np.full((CANVAS[1], CANVAS[0], 3), 60, np.uint8)
        rgb[: min(scaled.shape[0], CANVAS[1]), 100 : 100 + scaled.shape[1]] = scaled[: CANVAS[1]]
        frames.append(rgb)
    results = run(tracker, frames)
    assert [ran for _, ran in results] == [True] + [False] * 10
    widths = [faces[0].box[2] - faces[0].box[0] + 1 for faces, _ in results]
    assert widths[-1] / widths[0] == pytest.approx(zooms[-1], rel=0.08)


def test_detector_runs_on_the_frame_the_face_leaves_and_finds_it_again(photo, tracker_factory):
    tracker = tracker_factory(redetect_every=100)
    empty = canvas(photo)
    frames = [canvas(photo, 100 + 5 * i) for i in range(5)] + [empty] * 3 + [canvas(photo, 300)] * 3
    results = run(tracker, frames)
    ran = [r for _, r in results]
    found = [len(f) for f, _ in results]
    assert found == [1] * 5 + [0] * 3 + [1] * 3
    # Tracked while present; the detector confirms the loss at once, keeps looking while nothing is tracked,
    # and tracking resumes after the face is found again.
    assert ran == [True, False, False, False, False, True, True, True, True, False, False]
    assert tracker.detector_calls == 5 and tracker.tracked_faces == 6  # frames 1-4, 9-10


def test_a_new_face_is_found_within_n_frames(photo, tracker_factory):
    tracker = tracker_factory(redetect_every=5)
    frames = [canvas(photo, 20)] * 7 + [canvas(photo, 20, 340)] * 8
    results = run(tracker, frames)
    counts = [len(f) for f, _ in results]
    first_two = counts.index(2)
    assert counts[:7] == [1] * 7 and 7 <= first_two < 7 + 5
    assert results[first_two][1] is True  # found by the periodic full-frame pass
    assert counts[first_two:] == [2] * (len(frames) - first_two)  # and then both are tracked
    boxes = sorted(results[-1][0], key=lambda d: d.box[0])
    assert abs(centre_x(boxes[0].box) - face_centre_x(20)) < 12
    assert abs(centre_x(boxes[1].box) - face_centre_x(340)) < 12


def test_search_region_is_a_clamped_square_twice_the_face():
    assert search_region((100, 100, 149, 199), (1000, 1000)) == (25, 50, 224, 249)  # 200 x 200
    assert search_region((0, 0, 99, 99), (150, 120)) == (0, 0, 149, 119)
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 9, 9), (10, 10, 19, 19)) == 0.0


def test_pipeline_tracks_video_with_a_stand_in_and_reports_detector_calls(pan_video, tiny_model):
    def results(**options) -> list[FrameResult]:
        pipeline = build_pipeline(RunOptions(source=str(pan_video), model=tiny_model, **options))
        with open_source(str(pan_video)) as source:
            out = [pipeline.process(frame) for frame in source]
        pipeline.detector.close()
        return out

    tracked = results(redetect_every=10)
    every_frame = results(tracking=False)
    assert [r.detector_ran for r in tracked] == [i % 10 == 0 for i in range(30)]
    assert all(r.detector_ran for r in every_frame)
    # A stand-in's landmarks do not follow the face, yet the tracked boxes do: they stay on the detector's.
    for a, b in zip(tracked, every_frame, strict=True):
        assert len(a.faces) == len(b.faces) == 1
        assert box_iou(a.faces[0].box, b.faces[0].box) > 0.6


def test_still_images_are_not_tracked(tiny_model):
    pipeline = build_pipeline(RunOptions(source=str(PHOTO), model=tiny_model), video=False)
    assert pipeline.tracker is None
    with open_source(str(PHOTO)) as source:
        result = pipeline.process(source.read())
    assert result.detector_ran and len(result.faces) == 1
    pipeline.detector.close()
