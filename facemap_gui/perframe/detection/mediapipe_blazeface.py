"""MediaPipe Tasks BlazeFace detector (short- or full-range model)."""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facemap_gui.core.errors import ModelError
from facemap_gui.core.native import captured_native_output
from facemap_gui.perframe.detection.base import Detection, FaceDetector, clamp_box
from facemap_gui.sources.base import Frame

log = logging.getLogger(__name__)


# Modules MediaPipe's packages import on every import that the detector never uses: pyplot for its drawing
# helpers (~0.3 s of start-up), sounddevice for audio capture.
UNUSED_IMPORTS = ("matplotlib.pyplot", "sounddevice")


class _ImportedOnFirstUse(types.ModuleType):
    """Stands in for a module until something uses it, then imports it and hands over. (importlib's LazyLoader
    cannot do this: the import statement itself reads the module's attributes.)"""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _import_mediapipe() -> Any:
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, _ImportedOnFirstUse(name))
    import mediapipe

    return mediapipe


class MediaPipeFaceDetector(FaceDetector):
    """BlazeFace through MediaPipe Tasks: VIDEO mode for streams (time-ordered frames), IMAGE for stills."""

    name = "mediapipe"

    def __init__(self, model_path: Path, *, video: bool = True, min_score: float = 0.5, max_faces: int = 4) -> None:
        mp = _import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        # MediaPipe runs each call on a thread of its own, reading buffers that the calling frame owns. If
        # Ctrl+C or SIGTERM (KeyboardInterrupt, main thread only) abandoned that wait, the image would be freed
        # mid-call and the process would crash (SIGSEGV) instead of finishing its files. So detection is
        # called from a thread of ours, and an interrupted wait first lets the call end (`_uninterrupted`).
        self._calls = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="blazeface")
        self.model_path = Path(model_path)
        self.max_faces = max_faces
        self.video = video
        if not self.model_path.is_file():
            raise ModelError(
                f"{self.model_path}: detector model not found "
                "(run `facemap-gui models download` or pass --detector FILE.tflite)"
            )
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=self.model_path.read_bytes()),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        try:
            with captured_native_output():
                self._detector = vision.FaceDetector.create_from_options(options)
                # The first call logs LiteRT set-up lines; make it here, quietly, on a blank image.
                self._warm_up()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(
                f"{self.model_path}: not a usable BlazeFace .tflite model ({str(exc).splitlines()[0]})"
            ) from exc
        self._last_ms = 0

    def _warm_up(self) -> None:
        blank = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
        if self.video:
            self._detector.detect_for_video(blank, 0)
        else:
            self._detector.detect(blank)

    def detect(self, frame: Frame) -> list[Detection]:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.rgb))
        # LiteRT may warn on any call (once a process, when a buffer it allocated needs re-aligning, with a
        # "Logging before InitGoogle" line); its logging has no switch outside InitGoogle, so each call is captured.
        with captured_native_output(fds=(2,)):
            if self.video:
                # VIDEO mode needs strictly increasing integer timestamps, whatever the source clock does.
                self._last_ms = max(self._last_ms + 1, int(frame.timestamp_ms))
                found = self._uninterrupted(self._detector.detect_for_video, image, self._last_ms).detections
            else:
                found = self._uninterrupted(self._detector.detect, image).detections
        detections = []
        for d in found:
            b = d.bounding_box
            box = clamp_box(b.origin_x, b.origin_y, b.origin_x + b.width - 1, b.origin_y + b.height - 1, frame.size)
            detections.append(Detection(box=box, score=float(d.categories[0].score)))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections[: self.max_faces]

    def _uninterrupted(self, call: Callable[..., Any], *args: Any) -> Any:
        future = self._calls.submit(call, *args)
        try:
            return future.result()
        except KeyboardInterrupt:
            concurrent.futures.wait([future])  # `args` stay alive until the native call is done
            raise

    def close(self) -> None:
        self._calls.shutdown()
        with captured_native_output():
            self._detector.close()
