"""One frame in → one result out: detect faces, crop, run the landmark model, decode. No threads, no Qt."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from facemap_gui.detection.base import Detection, FaceDetector
from facemap_gui.landmarks.decode import FoldedBasis, decode, expand_box, preprocess
from facemap_gui.runtime.session import LandmarkSession
from facemap_gui.sources.base import Frame
from facemap_gui.tracking import REDETECT_EVERY, FaceTracker

STAGES = ("detect", "preprocess", "inference", "decode")


@dataclass(frozen=True, slots=True)
class FaceResult:
    box: tuple[int, int, int, int]  # face box, inclusive: the detector's, or when tracked the previous frame's
    # landmark box
    crop_box: tuple[int, int, int, int]  # what was fed to the model, inclusive
    score: float
    landmarks: np.ndarray  # (68, 2) image pixels, iBUG-68 order
    pose: tuple[float, float, float]  # yaw, pitch, roll in degrees


@dataclass(frozen=True, slots=True)
class FrameResult:
    frame: Frame
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    detector_ran: bool = False  # the full-frame detector ran (else faces came from tracking, or a fixed box)


@dataclass
class PipelineConfig:
    expand_box: bool = True
    fixed_box: tuple[int, int, int, int] | None = None  # skip the detector, as Qualcomm's demo is fed
    tracking: bool = True  # follow faces between detections instead of detecting on every frame
    redetect_every: int = REDETECT_EVERY  # frames between full-frame detections while faces are tracked


class Pipeline:
    """Runs the stages on one frame and times each. The session can be swapped between frames.

    With `config.tracking` (and a detector), a FaceTracker decides per frame: the detector runs when nothing is
    tracked, every `redetect_every` frames, and on the frame a tracked face is lost; otherwise each face is
    cropped where its landmarks were on the previous frame.
    """

    def __init__(self, detector: FaceDetector | None, session: LandmarkSession, basis: FoldedBasis,
                 config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        if detector is None and self.config.fixed_box is None:
            raise ValueError("a detector or a fixed box is needed")
        self.detector = detector
        self.tracker: FaceTracker | None = None
        self.set_tracking(self.config.tracking)
        self.session = session
        self.basis = basis

    def set_tracking(self, enabled: bool) -> None:
        """Track faces between detections, or detect on every frame; call between frames. A fixed box is never
        tracked. Turning tracking on starts afresh: the detector runs on the next frame."""
        if not enabled or self.detector is None or self.config.fixed_box is not None:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = FaceTracker(self.config.redetect_every)

    def process(self, frame: Frame) -> FrameResult:
        timings = dict.fromkeys(STAGES, 0.0)  # "detect": the detector and the tracking checks
        tracked = self.tracker.tracked() if self.tracker else None
        if tracked is not None:
            faces = self.landmarks(frame, tracked, timings)
            t0 = time.perf_counter()
            confirmed = self.tracker.confirm(frame.rgb, faces)
            timings["detect"] += (time.perf_counter() - t0) * 1000.0
            if confirmed:
                return FrameResult(frame=frame, faces=faces, timings_ms=timings)
            # A tracked face was lost: the detector looks on this same frame.
        t0 = time.perf_counter()
        detections = self.find_faces(frame)
        timings["detect"] += (time.perf_counter() - t0) * 1000.0
        faces = self.landmarks(frame, detections, timings)
        if self.tracker is not None:
            t0 = time.perf_counter()
            self.tracker.start(frame.rgb, faces)
            timings["detect"] += (time.perf_counter() - t0) * 1000.0
        return FrameResult(frame=frame, faces=faces, timings_ms=timings, detector_ran=self.config.fixed_box is None)

    def find_faces(self, frame: Frame) -> list[Detection]:
        """The full-frame detector's faces, or the fixed box."""
        if self.config.fixed_box is not None:
            return [Detection(box=self.config.fixed_box, score=1.0)]
        assert self.detector is not None
        return self.detector.detect(frame)

    def landmarks(self, frame: Frame, detections: list[Detection], timings: dict[str, float]
                  ) -> list[FaceResult]:
        """Crop, infer (one batch for all faces) and decode; adds to the three stage timings."""
        t0 = time.perf_counter()
        crops = np.array([expand_box(d.box, frame.size) if self.config.expand_box else d.box
                          for d in detections], dtype=np.int64).reshape(-1, 4)
        batch = preprocess(frame.rgb, crops)
        t1 = time.perf_counter()
        params = self.session.run(batch)
        t2 = time.perf_counter()
        points, poses = decode(params, crops, self.basis)
        t3 = time.perf_counter()
        timings["preprocess"] += (t1 - t0) * 1000.0
        timings["inference"] += (t2 - t1) * 1000.0
        timings["decode"] += (t3 - t2) * 1000.0
        return [FaceResult(box=d.box, crop_box=tuple(int(v) for v in crop), score=d.score,
                           landmarks=pts, pose=(float(pose[0]), float(pose[1]), float(pose[2])))
                for d, crop, pts, pose in zip(detections, crops, points, poses, strict=True)]
