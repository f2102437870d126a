"""The recorder: a bounded queue and a writer thread that encode annotated frames and their landmark lines."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from facemap_gui.core.errors import FacemapError
from facemap_gui.perframe.pipeline import FrameResult
from facemap_gui.sinks.output import RunStats, frame_record
from facemap_gui.sinks.recording.landmarks import LandmarkFiles
from facemap_gui.sinks.recording.video import VIDEO_CODECS, VideoWriter, container_format
from facemap_gui.sources.base import FrameSource

log = logging.getLogger(__name__)

_CLOSE = object()  # queue sentinel: finish the files and end the thread
ENCODE_STAGE = "encode"  # the writer thread's time a frame, beside the pipeline's stages in the summary


STILL_FPS = 1.0  # still images have no rate: they are recorded as a slide show, one a second


def recording_format(source: FrameSource) -> tuple[float, tuple[int, int]]:
    """The frame rate and size a recording of `source` is made at; one line when its frames differ in size."""
    if source.size is None:
        raise FacemapError(
            f"{source.name}: the images differ in size and a video has one; record each size from its own folder"
        )
    return source.fps or STILL_FPS, source.size


def video_comment(stand_in: bool) -> str:
    """The comment tag of a recording, so the file itself says what made its overlay."""
    if stand_in:
        return "facemap-gui: STAND-IN model with random weights, its landmarks are not real"
    return "facemap-gui: Qualcomm facemap_3dmm landmarks"


def landmark_paths(video_path: Path) -> tuple[Path, Path]:
    """The JSONL and CSV files that go beside a video: OUT.mkv → OUT.jsonl, OUT.csv."""
    return video_path.with_suffix(".jsonl"), video_path.with_suffix(".csv")


def default_recording_path(folder: Path, suffix: str = ".mkv", now: datetime | None = None) -> Path:
    """`folder/facemap-2026-11-25_14-03-07.mkv`, with -2, -3... appended if that video or its landmark files
    exist."""
    stem = f"facemap-{(now or datetime.now()):%Y-%m-%d_%H-%M-%S}"
    for attempt in range(1, 1000):
        path = folder / f"{stem}{'' if attempt == 1 else f'-{attempt}'}{suffix}"
        if not any(p.exists() for p in (path, *landmark_paths(path))):
            return path
    raise FacemapError(f"{folder}: 999 recordings named {stem}; choose another folder")


@dataclass(frozen=True)
class RecorderStatus:
    video_path: Path
    landmarks_path: Path
    csv_path: Path | None
    codec: str  # the encoder in use: libx264, or the fallback (mpeg4) when H.264 is not available
    frames_written: int
    frames_dropped: int  # submitted while the queue was full
    bytes_written: int  # video + landmark files so far
    elapsed_s: float  # wall time from start to now, or to when the recording stopped
    error: str | None  # one line, set when the writer stopped itself (disk full, write error)
    running: bool
    encode_ms: dict[str, float] | None  # the writer thread's time a frame (RGB→YUV, encode, mux): mean, median, p95

    def summary(self) -> dict[str, Any]:
        """What a run's JSON summary says about its recording."""
        return {
            "video": str(self.video_path),
            "codec": self.codec,
            "frames": self.frames_written,
            "dropped": self.frames_dropped,
            "error": self.error,
            "encode_ms": self.encode_ms,
        }


class Recorder:
    """Records annotated frames to a video and their landmarks beside it, on its own thread (see the package
    docstring for the contract)."""

    def __init__(
        self,
        video_path: Path,
        *,
        fps: float,
        size: tuple[int, int],
        header: dict[str, Any],
        csv: bool = False,
        queue_size: int = 32,
        codecs: Sequence[str] = VIDEO_CODECS,
    ) -> None:
        if fps <= 0 or queue_size < 1:
            raise ValueError(f"fps {fps} and queue_size {queue_size} must be positive")
        video_path = Path(video_path)
        container_format(video_path)  # an unsupported suffix fails before anything is created
        jsonl_path, csv_path = landmark_paths(video_path)
        paths = (video_path, jsonl_path, csv_path) if csv else (video_path, jsonl_path)
        for path in paths:
            if path.exists():
                raise FacemapError(f"{path}: already exists; choose another name (recordings never overwrite)")
        try:
            video_path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise FacemapError(f"{video_path.parent}: is a file, not a folder; choose a folder to record in") from None
        except OSError as exc:
            raise FacemapError(
                f"{video_path.parent}: cannot create the folder ({exc.strerror}); choose another folder"
            ) from exc
        self._stand_in = bool(header.get("model", {}).get("stand_in", False))
        self._video = VideoWriter(video_path, size, fps, codecs, comment=video_comment(self._stand_in))
        try:
            self._landmarks = LandmarkFiles(jsonl_path, csv_path if csv else None)
            self._landmarks.write_header(
                {
                    **header,
                    "recording": {"video": video_path.name, "codec": self._video.codec, "size": list(size), "fps": fps},
                }
            )
        except FacemapError:
            self._video.abort()
            video_path.unlink()
            raise
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._stats = RunStats()
        self._dropped = 0
        self._origin: tuple[int, float] | None = None  # the first recorded frame (index, time): files count from it
        self._bytes = 0
        self._error: str | None = None
        self._started = time.monotonic()
        self._stopped: float | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        log.info("recording to %s (%s, %dx%d)", video_path, self._video.codec, *size)

    def submit(self, result: FrameResult, annotated_rgb: np.ndarray, *, wait: bool = False) -> bool:
        """Queue one frame; the recorder keeps `annotated_rgb` without copying it, so do not modify it later.

        Never blocks unless `wait` is set (offline sources that should lose nothing, e.g. `process` on a file):
        when the queue is full the frame is dropped, counted, and False is returned. False also once the
        recording has stopped or is closing."""
        if self._closed or self._stopped is not None:
            return False
        try:
            self._queue.put((result, annotated_rgb), block=wait)
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False
        return True

    @property
    def status(self) -> RecorderStatus:
        with self._lock:
            timings = self._stats.timings  # only the encode stage is summarised: the status is polled while recording
            return RecorderStatus(
                video_path=self._video.path,
                landmarks_path=self._landmarks.jsonl_path,
                csv_path=self._landmarks.csv_path,
                codec=self._video.codec,
                frames_written=self._stats.frames,
                frames_dropped=self._dropped,
                bytes_written=self._bytes,
                elapsed_s=(self._stopped or time.monotonic()) - self._started,
                error=self._error,
                running=self._stopped is None,
                encode_ms=timings.stage_summary(ENCODE_STAGE) if ENCODE_STAGE in timings else None,
            )

    def close(self) -> RecorderStatus:
        """Encode what is queued, finish the files and return the final status. Idempotent; safe after an error."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_CLOSE)  # the thread takes items until this, even after an error
                self._thread.join()
        return self.status

    def _run(self) -> None:
        while (item := self._queue.get()) is not _CLOSE:
            if self._stopped is None:  # after an error, queued frames are only released
                self._guarded(self._write, *item)
        if self._stopped is None:
            self._guarded(self._finish)

    def _guarded(self, step: Any, *args: Any) -> None:
        try:
            step(*args)
        except FacemapError as exc:
            self._fail(str(exc))
        except Exception as exc:  # the writer thread must report, never die silently
            log.exception("recording to %s failed", self._video.path)
            self._fail(f"{self._video.path}: recording failed ({exc}); see the log")

    def _write(self, result: FrameResult, annotated_rgb: np.ndarray) -> None:
        start = time.perf_counter()
        self._video.write(annotated_rgb, result.frame.timestamp_ms)
        encode_ms = (time.perf_counter() - start) * 1000.0
        if self._origin is None:
            self._origin = (result.frame.index, result.frame.timestamp_ms)
        self._landmarks.write_frame(frame_record(result, self._origin))
        with self._lock:
            self._stats.add(result)
            self._stats.timings.add(ENCODE_STAGE, encode_ms)
        self._measure()

    def _finish(self) -> None:
        self._video.close()
        with self._lock:
            summary = self._stats.record(frames_dropped=self._dropped, stand_in=self._stand_in)
        self._landmarks.write_summary(summary)
        self._landmarks.close()
        self._stop(None)

    def _measure(self) -> None:
        files = (self._video.path, self._landmarks.jsonl_path, self._landmarks.csv_path)
        try:
            size = sum(path.stat().st_size for path in files if path is not None)
        except OSError:  # a file removed under us: the next write reports it, the UI keeps the last size
            return
        with self._lock:
            self._bytes = size

    def _fail(self, message: str) -> None:
        message = f"recording stopped after {self._stats.frames} frames: {message}"
        log.warning("%s", message)
        self._video.abort()
        self._landmarks.close()
        self._stop(message)

    def _stop(self, error: str | None) -> None:
        self._measure()
        with self._lock:
            self._error = error
            self._stopped = time.monotonic()
