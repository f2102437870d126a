"""Encodes RGB frames with PyAV into a video that stays playable if the process dies (Matroska, fragmented MP4)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from facemap_gui.core.errors import FacemapError, reason, write_fix

log = logging.getLogger(__name__)

#: Tried in order: H.264 when this FFmpeg build has libx264, else MPEG-4 Part 2, which every build has.
VIDEO_CODECS = ("libx264", "mpeg4")
_ENCODER_OPTIONS = {
    # ultrafast keeps up with live frames; zerolatency: no frame delay, so a kill loses only the open cluster.
    "libx264": {"preset": "ultrafast", "tune": "zerolatency"},
    "mpeg4": {"flags": "+qscale", "global_quality": str(4 * 118)},  # q 4 (x FF_QP2LAMBDA): its 200 kb/s default smears
}
# Matroska writes a cluster, fragmented MP4 a fragment, at each keyframe, and only complete clusters/fragments
# reach the file: the keyframe interval is what a kill -9 can lose. flush_packets pushes each one to the OS.
_CONTAINERS = {
    ".mkv": ("matroska", {"flush_packets": "1"}),
    ".mp4": ("mp4", {"flush_packets": "1", "movflags": "frag_keyframe+empty_moov+default_base_moof"}),
}
KEYFRAME_INTERVAL_MS = 1000
TIME_BASE = Fraction(1, 1000)  # pts in milliseconds of source time


def container_format(path: Path) -> tuple[str, dict[str, str]]:
    try:
        return _CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise FacemapError(
            f"{path}: cannot record to {path.suffix or 'a file without suffix'}; use {' or '.join(_CONTAINERS)}"
        ) from None


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """4:2:0 video needs even sides; odd-sized sources get one replicated column/row."""
    return size[0] + size[0] % 2, size[1] + size[1] % 2


def _configure(ctx: av.VideoCodecContext, codec: str, size: tuple[int, int], fps: float) -> None:
    ctx.width, ctx.height = even_size(size)
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = TIME_BASE
    ctx.framerate = Fraction(fps).limit_denominator(1001)  # a rate hint for the encoder; pts carry the timing
    # Keyframes are forced by media time in write(); this only keeps the encoder from adding its own often.
    ctx.gop_size = max(1, round(fps * 10))
    ctx.options = dict(_ENCODER_OPTIONS.get(codec, {}))


def _open_error(codec: str, size: tuple[int, int], fps: float) -> str | None:
    """Why the encoder `codec` does not open with these settings, or None when it does."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        if not isinstance(ctx, av.VideoCodecContext):
            return f"{codec}: not a video encoder"
        _configure(ctx, codec, size, fps)
        ctx.open()
    except (av.FFmpegError, ValueError) as exc:
        return f"{codec}: {exc}"
    return None


def choose_codec(codecs: Sequence[str], size: tuple[int, int], fps: float) -> str:
    """The first codec whose encoder opens with these settings; every skipped one is logged with its reason."""
    reasons = []
    for codec in codecs:
        if problem := _open_error(codec, size, fps):
            reasons.append(problem)
            continue
        if reasons:
            log.warning("recording with %s because %s", codec, "; ".join(reasons))
        return codec
    if any(_open_error(codec, (640, 480), 30.0) is None for codec in codecs):  # the frames are the problem
        raise FacemapError(
            f"no video encoder here takes {size[0]}x{size[1]} frames at {fps:g} fps (H.264 goes "
            "up to about 16384x8640); record a smaller source"
        )
    raise FacemapError(
        f"no video encoder works in this PyAV/FFmpeg build ({'; '.join(reasons)}); reinstall the av package from PyPI"
    )


class VideoWriter:
    """Writes frames at their source timestamps to a file it creates (never one that exists)."""

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: float,
        codecs: Sequence[str] = VIDEO_CODECS,
        comment: str = "",
    ) -> None:
        """`comment`: the container's comment tag (what made the video: the stand-in says so here too)."""
        self.path = path
        self.size = size
        fmt, container_options = container_format(path)
        self.codec = choose_codec(codecs, size, fps)
        self._frame_interval_ms = max(1, round(1000 / fps))
        self._first_ms: float | None = None
        self._last_pts = -1
        self._last_key_pts: int | None = None
        try:
            path.open("xb").close()  # created exclusively here, so FFmpeg never truncates an existing file
        except OSError as exc:
            raise FacemapError(f"{path}: cannot create ({exc.strerror}); choose another name or folder") from exc
        try:
            self._container = av.open(str(path), "w", format=fmt, container_options=container_options)
            stream = self._container.add_stream(self.codec)
            assert isinstance(stream, av.VideoStream)  # choose_codec opened it as one
            _configure(stream.codec_context, self.codec, size, fps)
            stream.time_base = TIME_BASE
            self._stream = stream
            if comment:
                self._container.metadata["comment"] = comment
            self._container.start_encoding()  # writes the header now: a failing disk fails here, not later
        except (av.FFmpegError, OSError) as exc:
            path.unlink(missing_ok=True)
            raise FacemapError(f"{path}: cannot start the recording ({reason(exc)}); choose another folder") from exc

    def _pts(self, timestamp_ms: float) -> int:
        """Milliseconds since the first frame, strictly increasing: a timestamp that does not advance (still
        images, a clock hiccup) is placed one nominal frame after the previous one."""
        if self._first_ms is None:
            self._first_ms = timestamp_ms
        pts = round(timestamp_ms - self._first_ms)
        return pts if pts > self._last_pts else self._last_pts + self._frame_interval_ms

    def write(self, rgb: np.ndarray, timestamp_ms: float) -> None:
        """Encode one RGB frame of `size`; raises FacemapError naming the file when it cannot be written."""
        height, width = rgb.shape[:2]
        if (width, height) != self.size:
            raise FacemapError(
                f"{self.path}: the source changed size from {self.size[0]}x{self.size[1]} to "
                f"{width}x{height}; start a new recording"
            )
        if (width, height) != even_size(self.size):
            rgb = cv2.copyMakeBorder(rgb, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        # OpenCV's BT.601 I420 conversion matches swscale's default and is faster (docs/performance.md).
        # cast: cv2's stubs give any-dtype arrays; converting a uint8 image gives uint8.
        yuv = cast("np.ndarray[Any, np.dtype[np.uint8]]", cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._last_pts = self._pts(timestamp_ms)
        frame.time_base = TIME_BASE
        if self._last_key_pts is None or frame.pts - self._last_key_pts >= KEYFRAME_INTERVAL_MS:
            frame.pict_type = PictureType.I
            self._last_key_pts = frame.pts
        try:
            self._container.mux(self._stream.encode(frame))
        except (av.FFmpegError, OSError) as exc:
            raise self._write_error(exc) from exc

    def close(self) -> None:
        """Flush the encoder and write the index; raises FacemapError if the disk refuses the last data."""
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise self._write_error(exc) from exc

    def abort(self) -> None:
        """Release the file after a failure; what reached the disk stays playable."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            log.debug("%s: closing after a failure: %s", self.path, reason(exc))

    def _write_error(self, exc: Exception) -> FacemapError:
        return FacemapError(f"{self.path}: cannot write ({reason(exc)}); {write_fix(exc)}")
