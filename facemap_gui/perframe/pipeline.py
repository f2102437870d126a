"""One frame in → one result out: detect faces, crop, run the landmark model, decode. No Qt; the periodic
full-frame detection runs on a thread of its own (DetectorThread)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from facemap_gui.core.errors import InputError
from facemap_gui.inference.landmarks.decode import FoldedBasis, decode, focal_length
from facemap_gui.inference.runtime.session import LandmarkSession
from facemap_gui.perframe.crop import expand_box, preprocess
from facemap_gui.perframe.detection.base import Detection, FaceDetector
from facemap_gui.perframe.tracking import NEW_FACE, REDETECT_EVERY, FaceTracker, Identities
from facemap_gui.sources.base import Frame

log = logging.getLogger(__name__)

T = TypeVar("T")
STAGES = ("detect", "preprocess", "inference", "decode")
BACKGROUND_LAG = 2  # frames: a periodic detection runs beside the landmarks of this many frames, and its faces
# join on the next one (the pipeline waits for it there, so results never depend on how fast it ran)


@dataclass(frozen=True, slots=True)
class FaceResult:
    box: tuple[int, int, int, int]  # face box, inclusive: the detector's, or when tracked the previous frame's
    # landmark box
    crop_box: tuple[int, int, int, int]  # what was fed to the model, inclusive
    score: float
    landmarks: np.ndarray  # (68, 2) image pixels, iBUG-68 order
    pose: tuple[float, float, float]  # yaw, pitch, roll in degrees
    focal: float = 450.0  # the model's focal length, for the head's distance (signals.head_position)
    track_id: int = 0  # the face's identity from frame to frame (tracking.Identities)
    _points: list[list[float]] = field(default_factory=list, init=False, repr=False, compare=False)

    def points(self) -> list[list[float]]:
        """The landmarks as Python floats (float64), converted once however many readers (signals, expressions,
        packets) use them: each reads a few points, where numpy calls on tiny arrays cost more."""
        if not self._points:  # replaced whole, not extended: two threads asking at once still leave 68 points
            self._points[:] = self.landmarks.tolist()  # float32 too gives the float64 values, without a copy
        return self._points


@dataclass(frozen=True, slots=True)
class FrameResult:
    frame: Frame
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    detector_ran: bool = False  # the full-frame detector ran (else faces came from tracking, or a fixed box)
    background_detection: bool = False  # the periodic full-frame detection started on this frame, beside it
    failed_faces: int = 0  # faces found whose landmarks came out non-finite (a broken model): left out
    _derived: dict[tuple[str, int], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, kind: str, face: FaceResult, compute: Callable[[], T]) -> T:
        """`compute()` for `kind` of `face` (one of `faces`) the first time it is asked, the same value after: the
        signals and expressions every sink reads (files, streamers, calibration, HUD) are computed once a frame."""
        key = (kind, id(face))  # the faces live as long as the result: an id is not reused meanwhile
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @property
    def avatar_face(self) -> FaceResult | None:
        """The face an avatar follows when there are several: the lowest track id, the longest known of them."""
        return min(self.faces, key=lambda face: face.track_id, default=None)

    @property
    def detector_looked(self) -> bool:
        """The full-frame detector looked at this frame, on its path or beside it (what detector counts count)."""
        return self.detector_ran or self.background_detection


@dataclass
class PipelineConfig:
    expand_box: bool = True
    fixed_box: tuple[int, int, int, int] | None = None  # skip the detector, as Qualcomm's demo is fed
    tracking: bool = True  # follow faces between detections instead of detecting on every frame
    redetect_every: int = REDETECT_EVERY  # frames between full-frame detections while faces are tracked
    tracking_fallback: str | None = None  # why tracking, asked for, does not run (the header says it)


class DetectorThread:
    """The detector on a thread of its own, so that the periodic full-frame pass runs beside the landmark model
    instead of before it. A pass started on one frame is taken `lag` frames later, waiting for it if need be, so
    results are the same however fast it ran. One call at a time: `detect` first ends the pending pass."""

    def __init__(self, detector: FaceDetector, lag: int = BACKGROUND_LAG) -> None:
        self.detector = detector
        self.lag = lag
        self.last_ms = 0.0  # how long the last background pass took on its thread
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._pending: Future[tuple[list[Detection], float]] | None = None
        self._frame: Frame | None = None
        self._left = 0  # frames until the pending pass is taken

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def start(self, frame: Frame) -> None:
        """Start a pass on a copy of `frame` (the caller may draw on the frame meanwhile)."""
        assert self._pending is None, "one background pass at a time"
        copy = Frame(frame.index, frame.timestamp_ms, frame.rgb.copy())
        self._pending, self._frame, self._left = self._executor.submit(self._timed, copy), frame, self.lag

    def take(self) -> list[Detection] | None:
        """Call once per frame: the pending pass's faces on the `lag`-th frame after its own, else None."""
        if self._pending is None:
            return None
        self._left -= 1
        return self._finish() if self._left <= 0 else None

    def detect(self, frame: Frame) -> list[Detection]:
        """The faces on this frame, now: the pending pass's if it was started on this frame, else (once any
        pending pass has ended) a call on this thread."""
        if self._pending is not None:
            started_here = self._frame is frame
            found = self._finish()
            if started_here:
                return found
        return self.detector.detect(frame)

    def close(self) -> None:
        """Wait for a pending pass, then close the detector."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._pending = self._frame = None
        self.detector.close()

    def _timed(self, frame: Frame) -> tuple[list[Detection], float]:
        start = time.perf_counter()
        found = self.detector.detect(frame)
        return found, (time.perf_counter() - start) * 1000.0

    def _finish(self) -> list[Detection]:
        assert self._pending is not None
        future, self._pending, self._frame = self._pending, None, None
        found, self.last_ms = future.result()
        return found


class Pipeline:
    """Runs the stages on one frame and times each. The session can be swapped between frames.

    With `config.tracking` (and a detector), a FaceTracker decides per frame: the detector runs on the frame when
    nothing is tracked, and on the frame a tracked face is lost; otherwise each face is cropped where its
    landmarks were on the previous frame. Every `redetect_every` frames the detector also looks for new faces,
    on its own thread beside the landmark model (DetectorThread); what it found joins BACKGROUND_LAG frames later.
    Every face gets its track id (tracking.Identities), with or without tracking.
    """

    def __init__(
        self,
        detector: FaceDetector | None,
        session: LandmarkSession,
        basis: FoldedBasis,
        config: PipelineConfig | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        if detector is None and self.config.fixed_box is None:
            raise ValueError("a detector or a fixed box is needed")
        self.detector = detector
        self._detection = DetectorThread(detector) if detector is not None else None
        self.tracker: FaceTracker | None = None
        self.identities = Identities()
        self.set_tracking(self.config.tracking)
        self.session = session
        self.basis = basis
        self._warned_non_finite = False

    def set_tracking(self, enabled: bool) -> None:
        """Track faces between detections, or detect on every frame; call between frames. A fixed box is never
        tracked, nor is anything with `redetect_every` 1. Turning tracking on starts afresh: the detector runs on
        the next frame."""
        if not enabled or self.detector is None or self.config.fixed_box is not None or self.config.redetect_every < 2:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = FaceTracker(self.config.redetect_every)

    def close(self) -> None:
        """End the detector's thread and close the detector."""
        if self._detection is not None:
            self._detection.close()

    def process(self, frame: Frame) -> FrameResult:
        timings = dict.fromkeys(STAGES, 0.0)  # "detect": the detector (or the wait for it) and the tracking checks
        tracked = self.tracker.tracked() if self.tracker else None
        if tracked is None:
            return self._detected(frame, timings)
        assert self.tracker is not None and self._detection is not None
        t0 = time.perf_counter()
        found = self._detection.take()
        waited_ms = (time.perf_counter() - t0) * 1000.0
        started = found is None and self.tracker.due() and not self._detection.pending
        if started:
            self._detection.start(frame)
        crops = tracked if found is None else self.tracker.merge(found)
        timings["detect"] += (time.perf_counter() - t0) * 1000.0
        faces, failed = self.landmarks(frame, crops, timings)
        t0 = time.perf_counter()
        if found is None and not self.tracker.confirm(frame.rgb, faces):
            timings["detect"] += (time.perf_counter() - t0) * 1000.0
            return self._detected(frame, timings)  # a tracked face was lost: the detector looks on this frame
        faces = self._identified(faces)
        if found is not None:
            self.tracker.start(frame.rgb, faces, age=self._detection.lag)
            # The pass's own time on its thread, and how long this frame waited for it (part of "detect").
            timings["background detect"], timings["background wait"] = self._detection.last_ms, waited_ms
        timings["detect"] += (time.perf_counter() - t0) * 1000.0
        return FrameResult(
            frame=frame, faces=faces, timings_ms=timings, background_detection=started, failed_faces=failed
        )

    def _detected(self, frame: Frame, timings: dict[str, float]) -> FrameResult:
        """The frame's faces from the detector (or the fixed box), and tracking starts from them."""
        t0 = time.perf_counter()
        detections = self.find_faces(frame)
        timings["detect"] += (time.perf_counter() - t0) * 1000.0
        faces, failed = self.landmarks(frame, detections, timings)
        t0 = time.perf_counter()
        faces = self._identified(faces)
        if self.tracker is not None:
            self.tracker.start(frame.rgb, faces)
        timings["detect"] += (time.perf_counter() - t0) * 1000.0
        return FrameResult(
            frame=frame,
            faces=faces,
            timings_ms=timings,
            detector_ran=self.config.fixed_box is None,
            failed_faces=failed,
        )

    def _identified(self, faces: list[FaceResult]) -> list[FaceResult]:
        """The faces with their track ids; called once per frame."""
        ids = self.identities.assign(faces)
        return [dataclasses.replace(face, track_id=i) for face, i in zip(faces, ids, strict=True)]

    def find_faces(self, frame: Frame) -> list[Detection]:
        """The full-frame detector's faces, or the fixed box."""
        if self.config.fixed_box is not None:
            x0, y0, _, _ = self.config.fixed_box
            if x0 >= frame.size[0] or y0 >= frame.size[1]:
                raise InputError(
                    f"--box {','.join(map(str, self.config.fixed_box))}: outside the "
                    f"{frame.size[0]}x{frame.size[1]} image (frame {frame.index}); give a box "
                    "inside it"
                )
            return [Detection(box=self.config.fixed_box, score=1.0)]
        assert self._detection is not None
        return self._detection.detect(frame)

    def landmarks(
        self, frame: Frame, detections: list[Detection], timings: dict[str, float]
    ) -> tuple[list[FaceResult], int]:
        """Crop, infer (one batch for all faces) and decode; adds to the three stage timings. Returns the faces
        and how many failed: their model output was not finite (such values never reach a result)."""
        t0 = time.perf_counter()
        # expand_box clamps to the image; factor 1 clamps only, so no crop reaches past the frame.
        crops = np.array(
            [expand_box(d.box, frame.size, 1.2 if self.config.expand_box else 1.0) for d in detections], dtype=np.int64
        ).reshape(-1, 4)
        inside = (crops[:, 2] >= crops[:, 0]) & (crops[:, 3] >= crops[:, 1])  # else wholly off the frame
        crops, detections = crops[inside], [d for d, ok in zip(detections, inside, strict=True) if ok]
        batch = preprocess(frame.rgb, crops)
        t1 = time.perf_counter()
        params = self.session.run(batch)
        t2 = time.perf_counter()
        points, poses = decode(params, crops, self.basis)
        t3 = time.perf_counter()
        timings["preprocess"] += (t1 - t0) * 1000.0
        timings["inference"] += (t2 - t1) * 1000.0
        timings["decode"] += (t3 - t2) * 1000.0
        finite = np.isfinite(points).all(axis=(1, 2)) & np.isfinite(poses).all(axis=1)
        if not finite.all() and not self._warned_non_finite:
            self._warned_non_finite = True
            log.warning(
                "%s: the landmark model gave non-finite values (NaN or infinity) for a face on frame %d; "
                "such faces are left out and counted as failed_faces. Reinstall the model "
                "(`facemap-gui models verify`)",
                self.session.model.path,
                frame.index,
            )
        focals = focal_length(np.reshape(params, (-1, 265))[:, 263])
        faces = [
            FaceResult(
                box=d.box,
                crop_box=(int(crop[0]), int(crop[1]), int(crop[2]), int(crop[3])),
                score=d.score,
                landmarks=pts,
                pose=(float(pose[0]), float(pose[1]), float(pose[2])),
                focal=float(focal),
                track_id=NEW_FACE if d.track_id is None else d.track_id,
            )
            for d, crop, pts, pose, focal, ok in zip(detections, crops, points, poses, focals, finite, strict=True)
            if ok
        ]
        return faces, int((~finite).sum())
