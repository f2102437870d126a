"""The clip bench runs on: a 720p H.264 rendering of the demo photo (cached), decoded with per-frame timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2

from facemap_gui.bench import SCENES
from facemap_gui.core import store
from facemap_gui.core.atomic import replacing
from facemap_gui.sources import Frame
from facemap_gui.sources.demo import DEMO_FPS, DEMO_SIZE, demo_photo_path, render_pan_zoom
from facemap_gui.sources.files import VideoSource, read_image_rgb

log = logging.getLogger(__name__)


def bench_clip(scene: str, frames: int) -> Path:
    """The cached H.264 clip of `scene` (rendered once, x264's default settings like a typical camera file)."""
    path = store.cache_dir() / "bench" / f"{scene}-{DEMO_SIZE[0]}x{DEMO_SIZE[1]}-{frames}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = read_image_rgb(demo_photo_path())
    if SCENES[scene] != 1.0:
        photo = cv2.resize(photo, None, fx=SCENES[scene], fy=SCENES[scene], interpolation=cv2.INTER_CUBIC)
    log.info("rendering the %s bench clip (%d frames) to %s", scene, frames, path)
    with replacing(path) as part, av.open(str(part), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(DEMO_FPS))
        stream.width, stream.height = DEMO_SIZE
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            rgb = render_pan_zoom(photo, (index % 300) / 300)  # the demo source's motion, frame for frame
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


@dataclass(frozen=True)
class Decoded:
    frame: Frame
    decode_ms: float


def decoded_frames(path: Path, limit: int | None = None, until: float | None = None) -> Iterator[Decoded]:
    """The clip's frames with their decoding times: once, or with `until` (a time.monotonic deadline) looped until
    then; at most `limit` frames. Indices and timestamps keep increasing across loops."""

    def done(count: int) -> bool:
        return (limit is not None and count >= limit) or (until is not None and time.monotonic() >= until)

    count, offset_ms = 0, 0.0
    while True:
        with VideoSource(path) as source:
            last_ms = 0.0
            while not done(count):
                start = time.perf_counter()
                frame = source.read()
                decode_ms = (time.perf_counter() - start) * 1000.0
                if frame is None:
                    break
                last_ms = frame.timestamp_ms
                yield Decoded(Frame(count, offset_ms + last_ms, frame.rgb), decode_ms)
                count += 1
            offset_ms += last_ms + 1000.0 / source.fps
        if until is None or done(count):
            return
