"""Tracking from landmarks between detections: the real BlazeFace detector and the tiny stand-in (whose last
layer is fitted so its landmarks land on the photo's face) on the real photo moved across a canvas."""

from __future__ import annotations

import itertools
import threading
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from facemap_gui.models.standins.fitting import PLACEMENT, mean_face_placement
from facemap_gui.perframe.crop import expand_box
from facemap_gui.perframe.detection.base import Detection, FaceDetector, box_iou
from facemap_gui.perframe.pipeline import BACKGROUND_LAG, DetectorThread, FrameResult, Pipeline, PipelineConfig
from facemap_gui.perframe.tracking import (
    MIN_FACE,
    NEW_FACE,
    REACQUIRE_FRAMES,
    SLACK,
    THUMBNAIL,
    FaceTracker,
    Identities,
    landmark_box,
    landmark_square,
    similarity,
    thumbnail,
)
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline
from facemap_gui.sources import Frame, open_source
from facemap_gui.sources.files import read_image_rgb
from tests.conftest import FULL_RANGE, PHOTO, constant_model

CANVAS = (640, 360)
SCALE = 0.5  # the photo's face (about 194 px) becomes about 97 px tall
FACE_IN_PHOTO = (171, 146, 364, 339)  # the face the bundled detector finds: (171, 146, 194, 194) as x, y, w, h


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


def centre_x(box: tuple[int, int, int, int]) -> float:
    return (box[0] + box[2]) / 2


def landmarks_centre_x(result: FrameResult, face: int = 0) -> float:
    return float(result.faces[face].landmarks[:, 0].mean())


@pytest.fixture
def pipeline_factory(tiny_model):
    made = []

    def make(redetect_every: int, model=tiny_model) -> Pipeline:
        pipeline = build_pipeline(
            RunOptions(source="demo", model=model, detector=FULL_RANGE, redetect_every=redetect_every)
        )
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


def run(pipeline: Pipeline, frames: list[np.ndarray]) -> list[FrameResult]:
    return [pipeline.process(Frame(index, index * 33.3, rgb)) for index, rgb in enumerate(frames)]


def test_crops_come_from_the_previous_frames_landmarks_and_the_detector_runs_every_n_frames(photo, pipeline_factory):
    xs = [40 + 6 * i for i in range(30)]  # 6 px a frame to the right, 6% of the face
    pipeline = pipeline_factory(redetect_every=10)
    results = run(pipeline, [canvas(photo, x) for x in xs])
    # On the first frame's own path; then every 10 frames in the background, merged BACKGROUND_LAG frames later.
    assert [i for i, r in enumerate(results) if r.detector_ran] == [0]
    assert [i for i, r in enumerate(results) if r.background_detection] == [10, 20]
    assert [i for i, r in enumerate(results) if "background detect" in r.timings_ms] == [
        10 + BACKGROUND_LAG,
        20 + BACKGROUND_LAG,
    ]
    tracker = pipeline.tracker
    assert (sum(r.detector_looked for r in results), tracker.tracked_faces, tracker.lost) == (3, 27, 0)
    for previous, result in itertools.pairwise(results):
        assert len(result.faces) == 1
        if not result.detector_ran:  # cropped exactly where the face's landmarks were on the previous frame
            box = landmark_box(landmark_square(previous.faces[0].landmarks), CANVAS)
            assert result.faces[0].box == box and result.faces[0].crop_box == expand_box(box, CANVAS)
    for x, result in zip(xs, results, strict=True):  # and the landmarks found the face inside each crop
        assert abs(landmarks_centre_x(result) - face_centre_x(x)) < 8
    # The crops moved with the face: the last is about 29 * 6 px right of the first.
    assert centre_x(results[-1].faces[0].box) - centre_x(results[0].faces[0].box) == pytest.approx(29 * 6, abs=10)


def test_crops_follow_a_face_coming_closer(photo, pipeline_factory):
    zooms = [1.03**i for i in range(11)]  # 3% a frame, 1.34x in all
    frames = []
    for zoom in zooms:
        scaled = cv2.resize(photo, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        rgb = np.full((CANVAS[1], CANVAS[0], 3), 60, np.uint8)
        rgb[: min(scaled.shape[0], CANVAS[1]), 100 : 100 + scaled.shape[1]] = scaled[: CANVAS[1]]
        frames.append(rgb)
    results = run(pipeline_factory(redetect_every=100), frames)
    assert [r.detector_ran for r in results] == [True] + [False] * 10
    widths = [r.faces[0].crop_box[2] - r.faces[0].crop_box[0] + 1 for r in results]
    assert widths[-1] / widths[1] == pytest.approx(zooms[-2] / zooms[0], rel=0.08)  # box of frame 9 cropped 10


def test_detector_runs_on_the_frame_the_face_leaves_and_finds_it_again(photo, pipeline_factory):
    pipeline = pipeline_factory(redetect_every=100)
    empty = canvas(photo)
    frames = [canvas(photo, 100 + 5 * i) for i in range(5)] + [empty] * 3 + [canvas(photo, 300)] * 3
    results = run(pipeline, frames)
    assert [len(r.faces) for r in results] == [1] * 5 + [0] * 3 + [1] * 3
    # Tracked while present; the check fails on the empty frame, so the detector runs on it at once, keeps
    # looking while nothing is tracked, and tracking resumes after the face is found again.
    assert [r.detector_ran for r in results] == [True, False, False, False, False, True, True, True, True, False, False]
    tracker = pipeline.tracker  # tracked: frames 1-4, 9-10
    assert (sum(r.detector_looked for r in results), tracker.tracked_faces, tracker.lost) == (5, 6, 1)
    assert abs(landmarks_centre_x(results[-1]) - face_centre_x(300)) < 8


def test_landmarks_that_do_not_follow_the_face_fail_the_check_and_the_detector_recovers_it(
    photo, pipeline_factory, tmp_path, tiny_model
):
    # A model that always puts the mean face exactly on the box its crop came from: the crop never moves, so
    # as the face moves on, the correlation check fails and the detector runs on that very frame.
    params = np.zeros(265)
    params[PLACEMENT] = mean_face_placement(np.array([[0.5, 0.5]]), np.array([1 / 1.2]))[0]
    still = constant_model(tmp_path / "still.onnx", params)
    for name in ("meanFace", "shapeBasis", "blendShape"):
        (tmp_path / f"{name}.npy").write_bytes((tiny_model.parent / f"{name}.npy").read_bytes())
    xs = [40 + 3 * i for i in range(30)]  # 3 px a frame: the check fails once the face is ~10% off its crop
    pipeline = pipeline_factory(redetect_every=100, model=still)
    results = run(pipeline, [canvas(photo, x) for x in xs])
    ran = [i for i, r in enumerate(results) if r.detector_ran]
    assert ran[0] == 0 and 4 <= len(ran) <= 12 and pipeline.tracker.lost == len(ran) - 1
    for start, end in zip(ran, [*ran[1:], 30], strict=True):  # from each detection on, the crop held still
        held = [centre_x(results[i].faces[0].box) for i in range(start, end)]
        assert max(held) - min(held) <= 2
    for x, result in zip(xs, results, strict=True):  # yet no frame lost the face by much
        assert len(result.faces) == 1 and abs(centre_x(result.faces[0].box) - face_centre_x(x)) < 30


def test_a_new_face_is_found_within_n_frames(photo, pipeline_factory):
    frames = [canvas(photo, 20)] * 7 + [canvas(photo, 20, 340)] * 8
    results = run(pipeline_factory(redetect_every=5), frames)
    counts = [len(r.faces) for r in results]
    first_two = counts.index(2)
    assert counts[:7] == [1] * 7 and 7 <= first_two < 7 + 5 + BACKGROUND_LAG
    # Found by the periodic pass, which looked at a frame with both faces and is merged BACKGROUND_LAG later.
    looked = first_two - BACKGROUND_LAG
    assert looked >= 7 and results[looked].background_detection and "background detect" in results[first_two].timings_ms
    assert counts[first_two:] == [2] * (len(frames) - first_two)  # and then both are tracked
    assert not results[-1].detector_ran
    centres = sorted(float(face.landmarks[:, 0].mean()) for face in results[-1].faces)
    assert abs(centres[0] - face_centre_x(20)) < 8 and abs(centres[1] - face_centre_x(340)) < 8


def test_landmark_box_is_the_clamped_square_about_the_points():
    points = np.array([[100.0, 120.0], [160.0, 150.0], [130.0, 200.0]])  # 60 wide, 80 tall, centre (130, 160)
    assert landmark_box(landmark_square(points), (1000, 1000)) == (90, 120, 170, 200)
    assert landmark_box(landmark_square(points), (150, 1000)) == (90, 120, 149, 200)
    assert landmark_box(landmark_square(points - 195), (1000, 1000)) is None  # all but a sliver off the image
    assert landmark_box(landmark_square(np.zeros((68, 2)) + 50), (100, 100)) is None  # collapsed to a point
    assert MIN_FACE > 1


def test_thumbnails_find_the_face_within_their_slack_and_not_the_background(photo):
    frame = canvas(photo, 100)
    face = (100 + 267.5 * SCALE, 20 + 242.5 * SCALE, 194 * SCALE)  # centre and side of the photo's face
    reference = thumbnail(frame, face)
    assert reference.shape == (THUMBNAIL, THUMBNAIL)
    assert thumbnail(frame, face, SLACK).shape == (THUMBNAIL + 2 * SLACK,) * 2
    moved = canvas(photo, 104)
    assert similarity(thumbnail(moved, (face[0] + 4, face[1], face[2])), reference) > 0.95  # followed exactly
    # Landmarks 6 px (6% of the face) off it: the thumbnail at the landmarks matches less, the slack finds it.
    off = (face[0] + 4 + 6, face[1] - 3, face[2])
    exact, near = similarity(thumbnail(moved, off), reference), similarity(thumbnail(moved, off, SLACK), reference)
    assert near > 0.9 and near > exact + 0.1
    for elsewhere in [(356, 150, 97), (350, 250, 97), (150, 250, 97)]:  # the photo's edge, shoulder, collar
        assert similarity(thumbnail(frame, elsewhere, SLACK), reference) < 0.3


def test_a_square_past_the_border_is_sampled_as_if_the_image_edge_went_on(photo):
    frame = canvas(photo, 100)
    pad = 60
    extended = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    for square in [(120.0, 10.0, 97.0), (600.0, 340.0, 150.0), (-20.0, 200.0, 60.0)]:
        inside = (square[0] + pad, square[1] + pad, square[2])
        for slack in (0, SLACK):
            np.testing.assert_array_equal(thumbnail(frame, square, slack), thumbnail(extended, inside, slack))


def test_pipeline_tracks_video_with_a_stand_in_and_reports_detector_calls(pan_video, tiny_model):
    def results(**options) -> list[FrameResult]:
        pipeline = build_pipeline(RunOptions(source=str(pan_video), model=tiny_model, **options))
        with open_source(str(pan_video)) as source:
            out = [pipeline.process(frame) for frame in source]
        pipeline.close()
        return out

    tracked = results(redetect_every=10)
    every_frame = results(tracking=False)
    assert [r.detector_looked for r in tracked] == [i % 10 == 0 for i in range(30)]
    assert all(r.detector_ran for r in every_frame) and not any(r.background_detection for r in every_frame)
    assert all(r.detector_ran for r in results(redetect_every=1))  # 1: the detector on every frame, no tracking
    # The crops made from landmarks stay on the detector's.
    for a, b in zip(tracked, every_frame, strict=True):
        assert len(a.faces) == len(b.faces) == 1
        assert box_iou(a.faces[0].crop_box, b.faces[0].crop_box) > 0.7


def test_still_images_are_not_tracked(tiny_model):
    pipeline = build_pipeline(RunOptions(source=str(PHOTO), model=tiny_model), video=False)
    assert pipeline.tracker is None
    with open_source(str(PHOTO)) as source:
        result = pipeline.process(source.read())
    assert result.detector_ran and len(result.faces) == 1
    pipeline.close()


def test_tracking_is_switched_off_and_on_between_frames(photo, pipeline_factory):
    pipeline = pipeline_factory(redetect_every=100)
    frames = [canvas(photo, 40 + 4 * i) for i in range(12)]
    ran = []
    for index, rgb in enumerate(frames):
        if index in (4, 8):
            pipeline.set_tracking(index == 8)
        ran.append(pipeline.process(Frame(index, index * 33.3, rgb)).detector_ran)
    # Tracked, then the detector on every frame, then a fresh start: detect once and track again.
    assert ran == [True, False, False, False] + [True] * 4 + [True, False, False, False]
    pipeline.set_tracking(True)
    assert pipeline.tracker.tracked_faces == 3  # frames 9-11: turning it on again kept the running tracker


def test_a_fixed_box_is_never_tracked(tiny_model):
    pipeline = build_pipeline(RunOptions(source=str(PHOTO), model=tiny_model, box=(171, 146, 364, 339)))
    pipeline.set_tracking(True)
    assert pipeline.detector is None and pipeline.tracker is None


class ScriptedDetector(FaceDetector):
    """Answers with the boxes scripted for each frame index and records which thread asked; a call waits for
    `release` (set: never waits)."""

    def __init__(self, boxes: dict[int, list[tuple[int, int, int, int]]]) -> None:
        self.boxes = boxes
        self.release = threading.Event()
        self.release.set()
        self.calls: list[tuple[int, str]] = []

    def detect(self, frame: Frame) -> list[Detection]:
        self.calls.append((frame.index, threading.current_thread().name))
        self.release.wait(timeout=10)
        return [Detection(box, 0.9) for box in self.boxes.get(frame.index, [])]


def test_the_periodic_pass_runs_beside_the_frames_and_joins_exactly_lag_frames_later(photo, tiny_model):
    first, second = (105, 93, 202, 189), (425, 93, 522, 189)  # the two faces, as BlazeFace boxes them (about)
    frames = [Frame(i, i * 33.3, canvas(photo, 20, 340)) for i in range(8)]
    detector = ScriptedDetector({0: [first], 3: [first, second]})  # frame 0's detection misses the second face
    models = build_pipeline(RunOptions(source="demo", model=tiny_model, box=first))  # session and basis only
    pipeline = Pipeline(detector, models.session, models.basis, PipelineConfig(redetect_every=3))
    try:
        results = [pipeline.process(frames[i]) for i in range(3)]
        detector.release.clear()  # the pass on frame 3 blocks until released: frames go on without it
        results += [pipeline.process(frames[3]), pipeline.process(frames[4])]
        assert results[3].background_detection and detector.calls[-1][0] == 3
        detector.release.set()
        results += [pipeline.process(frames[i]) for i in range(5, 8)]
    finally:
        pipeline.close()
    # Frame 0 on its own path; frames 3 and 6 (every 3 frames) beside, on the detector's thread (the pass started
    # on frame 6 was still pending at close, which may cancel it before it runs).
    assert [(index, name.startswith("detect")) for index, name in detector.calls[:2]] == [(0, False), (3, True)]
    assert [i for i, r in enumerate(results) if r.background_detection] == [3, 6]
    assert [len(r.faces) for r in results] == [1] * 5 + [2] * 3  # the new face joins on frame 3 + 2
    assert not any(r.detector_ran for r in results[1:])
    assert [i for i, r in enumerate(results) if "background wait" in r.timings_ms] == [5]
    assert results[5].timings_ms["background detect"] > 0 and results[5].timings_ms["background wait"] >= 0
    assert results[5].faces[1].box == second  # cropped where the pass found it
    # The tracked face kept its track: cropped where its landmarks were on frame 4, not at the pass's box.
    assert results[5].faces[0].box == landmark_box(landmark_square(results[4].faces[0].landmarks), CANVAS)


def test_a_face_lost_on_the_frame_the_pass_started_takes_that_pass_as_its_detection():
    frame, later = Frame(7, 0.0, np.zeros((90, 160, 3), np.uint8)), Frame(8, 33.3, np.zeros((90, 160, 3), np.uint8))
    detector = ScriptedDetector({7: [(10, 10, 50, 50)], 8: [(20, 20, 60, 60)]})
    thread = DetectorThread(detector, lag=2)
    thread.start(frame)
    assert thread.pending and thread.detect(frame) == [Detection((10, 10, 50, 50), 0.9)] and not thread.pending
    assert len(detector.calls) == 1  # not asked twice
    thread.start(frame)
    assert thread.detect(later) == [Detection((20, 20, 60, 60), 0.9)]  # another frame: a call of its own after it
    assert [index for index, _ in detector.calls] == [7, 7, 8]
    thread.start(later)
    assert thread.take() is None and thread.take() == [Detection((20, 20, 60, 60), 0.9)] and thread.take() is None
    thread.close()


def test_the_pass_reads_the_frame_as_it_was_when_started_so_the_caller_may_draw_on_it():
    frame = Frame(3, 0.0, np.zeros((90, 160, 3), np.uint8))
    release, seen = threading.Event(), []

    class Late(FaceDetector):
        def detect(self, frame: Frame) -> list[Detection]:
            release.wait(timeout=10)  # looks at the pixels only once the caller has drawn on its frame
            seen.append(int(frame.rgb.max()))
            return []

    thread = DetectorThread(Late(), lag=1)
    thread.start(frame)
    frame.rgb[:] = 255  # the overlay, drawn in place while the pass runs
    release.set()
    assert thread.take() == [] and seen == [0]
    thread.close()


def test_merge_keeps_tracks_the_pass_saw_adds_new_faces_and_drops_the_rest():
    tracker = FaceTracker(redetect_every=5)
    rgb = np.random.default_rng(0).integers(0, 256, (360, 640, 3), np.uint8)  # texture: each face matches itself

    def face(x0: float, y0: float, track_id: int) -> SimpleNamespace:
        return SimpleNamespace(score=0.8, landmarks=np.array([[x0, y0], [x0 + 80, y0 + 80]]), track_id=track_id)

    tracker.start(rgb, [face(20, 20, 0), face(300, 20, 1)])
    found = [Detection((310, 30, 390, 110), 0.95), Detection((500, 200, 580, 280), 0.7)]
    crops = tracker.merge(found)  # the face at 300 seen (its centre inside), one new, the face at 20 unseen
    # The seen face keeps its track's id; the new one has none yet.
    assert crops == [Detection((300, 20, 380, 100), 0.95, 1), Detection((500, 200, 580, 280), 0.7)]
    tracker.start(rgb, [face(300, 20, 1), face(500, 200, 2)], age=2)
    assert [(d.box, d.track_id) for d in tracker.tracked()] == [((300, 20, 380, 100), 1), ((500, 200, 580, 280), 2)]
    assert not tracker.due()
    for _ in range(2):  # started 2 frames late: due 5 frames after the frame the pass looked at
        assert not tracker.due() and tracker.confirm(rgb, [face(300, 20, 1), face(500, 200, 2)])
    assert tracker.due()


def test_a_scan_that_fails_fails_the_frame_that_merges_it_and_the_next_frame_goes_on(photo, tiny_model):
    first = (105, 93, 202, 189)

    class Flaky(ScriptedDetector):
        def detect(self, frame: Frame) -> list[Detection]:
            if frame.index == 2:
                raise RuntimeError("detector crashed on frame 2")
            return super().detect(frame)

    detector = Flaky({0: [first], 5: [first]})
    models = build_pipeline(RunOptions(source="demo", model=tiny_model, box=first))  # session and basis only
    pipeline = Pipeline(detector, models.session, models.basis, PipelineConfig(redetect_every=2))
    frames = [Frame(i, i * 33.3, canvas(photo, 20)) for i in range(8)]
    try:
        results = {i: pipeline.process(frames[i]) for i in range(4)}  # the scan of frame 2 starts, fails
        with pytest.raises(RuntimeError, match="crashed on frame 2"):
            pipeline.process(frames[4])  # merged here, so raised here (the GUI worker reports it and goes on)
        results.update({i: pipeline.process(frames[i]) for i in range(5, 8)})
    finally:
        pipeline.close()
    assert results[2].background_detection and results[5].background_detection  # a new scan after the failure
    assert "background detect" in results[7].timings_ms and all(len(r.faces) == 1 for r in results.values())


# Two faces passing each other: the photo's head (PATCH, full-resolution rows and columns) pasted twice at half size
# on one canvas, one face in the upper row moving right, the other in the lower row moving left, past each other.
PATCH = (slice(100, 390), slice(120, 415))
FACE_IN_PATCH = (25, 23, 122, 119)  # FACE_IN_PHOTO less the patch's corner, at half size
ROWS = (20, 180)  # the patches' top edges: the faces 160 px apart, their crops reaching into each other's
CROSSING_SIZE = (800, 360)


def crossing_frames(steps: int = 41) -> tuple[list[Frame], dict[int, list[tuple[int, int, int, int]]]]:
    """The frames, and each frame's face boxes in reading order (left to right), as a detector lists them."""
    head = cv2.resize(read_image_rgb(PHOTO)[PATCH], None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    frames, boxes = [], {}
    for i in range(steps):
        rgb = np.full((CROSSING_SIZE[1], CROSSING_SIZE[0], 3), 60, np.uint8)
        places = [(100 + 8 * i, ROWS[0]), (420 - 8 * i, ROWS[1])]  # 8 px a frame each, crossing at i = 20
        for x, y in places:
            rgb[y : y + head.shape[0], x : x + head.shape[1]] = head
        frames.append(Frame(i, i * 33.3, rgb))
        x0, y0, x1, y1 = FACE_IN_PATCH
        boxes[i] = sorted((x + x0, y + y0, x + x1, y + y1) for x, y in places)
    return frames, boxes


def crossing_results(tiny_model, **config) -> list[FrameResult]:
    frames, boxes = crossing_frames()
    models = build_pipeline(RunOptions(source="demo", model=tiny_model, box=(0, 0, 9, 9)))  # session and basis
    pipeline = Pipeline(ScriptedDetector(boxes), models.session, models.basis, PipelineConfig(**config))
    try:
        return [pipeline.process(frame) for frame in frames]
    finally:
        pipeline.close()


def row(face) -> int:
    """0: the face in the upper row, moving right; 1: the one in the lower row."""
    return int(face.landmarks[:, 1].mean() > CROSSING_SIZE[1] / 2)


@pytest.mark.parametrize("config", [{"redetect_every": 4}, {"tracking": False}], ids=["tracked", "detector"])
def test_two_faces_crossing_keep_their_ids(tiny_model, config):
    results = crossing_results(tiny_model, **config)
    ids_by_row: dict[int, set[int]] = {0: set(), 1: set()}
    for result in results:
        assert len(result.faces) == 2 and {row(face) for face in result.faces} == {0, 1}
        for face in result.faces:
            ids_by_row[row(face)].add(face.track_id)
    assert ids_by_row == {0: {0}, 1: {1}}  # one id each from the first frame to the last, whatever the list order
    # They did cross: the detector's (left to right) order of the faces swapped half-way.
    first, last = results[0].faces, results[-1].faces
    assert first[0].landmarks[:, 0].mean() < first[1].landmarks[:, 0].mean()
    assert [row(f) for f in sorted(first, key=lambda f: f.box[0])] != [
        row(f) for f in sorted(last, key=lambda f: f.box[0])
    ]


def test_a_face_that_leaves_and_returns_gets_its_id_back_and_a_new_face_a_new_id(photo, pipeline_factory):
    pipeline = pipeline_factory(redetect_every=3)
    both, left_only = canvas(photo, 20, 340), canvas(photo, 20)
    frames = [both] * 6 + [left_only] * 4 + [both] * 8 + [left_only] * (REACQUIRE_FRAMES + 6) + [both] * 8
    results = run(pipeline, frames)

    def ids(result: FrameResult) -> list[int]:  # left to right
        return [f.track_id for f in sorted(result.faces, key=lambda f: f.box[0])]

    assert all(ids(r) == [0, 1] for r in results[:6])
    assert all(ids(r) == [0] for r in results[6:10])
    back = [ids(r) for r in results[10:18]]
    # Found again by the periodic pass within redetect_every + BACKGROUND_LAG frames, with its old id.
    assert back.index([0, 1]) <= 3 + BACKGROUND_LAG and back[-1] == [0, 1] and all(i in ([0], [0, 1]) for i in back)
    # Gone longer than REACQUIRE_FRAMES: a face coming back there is a new face.
    assert ids(results[-1]) == [0, 2]


def test_identities_follow_the_nearest_recent_face_and_never_reuse_an_id():
    identities = Identities()

    def face(x: float, y: float, track_id: int = NEW_FACE) -> SimpleNamespace:
        return SimpleNamespace(landmarks=np.array([[x, y], [x + 100, y + 100]]), track_id=track_id)

    assert identities.assign([face(0, 0), face(300, 0)]) == [0, 1]
    assert identities.assign([face(310, 5), face(10, 0)]) == [1, 0]  # by place, not by list order
    # A followed face keeps its id even where another was; the other face, where the followed one was, cannot
    # take its id, and is too far from 0's place: new.
    assert identities.assign([face(20, 0, track_id=1), face(305, 0)]) == [1, 2]
    assert identities.assign([face(600, 0)]) == [3]  # more than half a face from every known one: new
    for _ in range(REACQUIRE_FRAMES - 1):
        identities.assign([])
    # 3 was seen REACQUIRE_FRAMES frames ago: back with its id; 1 was seen one frame longer ago: expired.
    assert identities.assign([face(610, 0), face(25, 0)]) == [3, 4]
