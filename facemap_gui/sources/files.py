"""Image and video file sources. Video is decoded with PyAV so frames carry their real presentation times."""

from __future__ import annotations

import io
import logging
import stat
import warnings
from pathlib import Path

import av
import cv2
import numpy as np

from facemap_gui.errors import InputError, reason
from facemap_gui.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# FFmpeg renders text files (.txt, .nfo, ANSI art) as video through these demuxers; they are never a recording.
TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
MAX_IMAGE_PIXELS = 100_000_000  # 300 MB decoded
ONE_THREAD_MAX_PIXELS = 1920 * 1080  # videos up to this size decode on one thread (see VideoSource)


def not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a file (missing, a FIFO, a device...), or None for a regular file. A FIFO
    or a device would block or never end if read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return "no such file or folder" if isinstance(exc, FileNotFoundError) else f"cannot read ({reason(exc)})"
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"{kind}, not an image or video file"


def _check_pixel_count(path: Path, data: np.ndarray) -> None:
    """Refuse an image whose header promises more pixels than MAX_IMAGE_PIXELS before any are decoded: a
    small file can claim gigabytes (a decompression bomb). Pillow reads only the header here."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow's own (lower) limit only warns; the check is below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes())) as image:
                width, height = image.size
    except Image.DecompressionBombError:  # far beyond Pillow's limit too
        width = height = None
    except Exception:  # not an image Pillow knows: OpenCV's decoder decides, with its own limits
        return
    if width is None or width * height > MAX_IMAGE_PIXELS:
        size = "" if width is None else f" ({width}x{height})"
        raise InputError(
            f"{path}: the image claims more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels{size}; "
            "scale it down to process it"
        )


def read_image_rgb(path: Path) -> np.ndarray:
    """Read an image as RGB uint8; np.fromfile + imdecode also handles non-ASCII paths on Windows."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    _check_pixel_count(path, data)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise InputError(f"{path}: not a readable image (JPEG, PNG, BMP, WebP or TIFF expected)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ImageSource(FrameSource):
    """One image, or every image in a folder (sorted by name); each is one frame."""

    def __init__(self, path: str | Path) -> None:
        root = Path(path)
        if root.is_dir():
            self.paths = []
            for p in sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                if problem := not_a_file(p):
                    log.warning("%s: skipped, %s", p, problem)
                else:
                    self.paths.append(p)
            if not self.paths:
                raise InputError(f"{root}: folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif problem := not_a_file(root):
            raise InputError(f"{root}: {problem}")
        else:
            self.paths = [root]
        self.name = str(root)
        self._next = 0
        # Read the first image now so a bad file fails at open time, not mid-run.
        self._first = read_image_rgb(self.paths[0])
        self.size = (self._first.shape[1], self._first.shape[0])

    @property
    def frame_count(self) -> int:
        return len(self.paths)

    def read(self) -> Frame | None:
        if self._next >= len(self.paths):
            return None
        index = self._next
        rgb = self._first if index == 0 else read_image_rgb(self.paths[index])
        self._next += 1
        return Frame(index=index, timestamp_ms=0.0, rgb=rgb)


class VideoSource(FrameSource):
    """A video file; timestamps come from the stream's presentation times, so dropped frames keep real time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        if problem := not_a_file(self.path):
            raise InputError(f"{self.path}: {problem}")
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"{self.path}: not a readable video ({reason(exc)})") from exc
        if self._container.format.name in TEXT_DEMUXERS:
            self._container.close()
            raise InputError(f"{self.path}: a text file, not a video or an image")
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: file has no video stream")
        self._stream = self._container.streams.video[0]
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 30.0
        self.size = (self._stream.codec_context.width, self._stream.codec_context.height)
        # FFmpeg's frame threads cost CPU time and wake-ups the pipeline feels (docs/performance.md); up to 1080p
        # one thread, decoding ahead on its own, keeps well ahead of the pipeline. Larger frames get the threads.
        if self.size[0] * self.size[1] > ONE_THREAD_MAX_PIXELS:
            self._stream.thread_type = "AUTO"
        else:
            self._stream.codec_context.thread_count = 1
        self._frames = self._container.decode(self._stream)
        self._index = 0
        self._first_pts: float | None = None
        self._elapsed_s = 0.0

    def _warn_if_cut_short(self) -> None:
        # A file cut short (recording killed mid-write, partial copy) often just ends early, with no decode
        # error; Matroska and MP4 headers announce the full duration, so compare with where decoding stopped.
        announced_s = self._container.duration / av.time_base if self._container.duration else 0.0
        if self._elapsed_s + 2.0 / self.fps < announced_s:
            log.warning(
                "%s: ended at %.2f s of the %.2f s its header announces; the file looks truncated "
                "(kept the %d frames that decoded)",
                self.path.name,
                self._elapsed_s,
                announced_s,
                self._index,
            )

    @property
    def frame_count(self) -> int | None:
        return self._stream.frames or None

    def read(self) -> Frame | None:
        try:
            frame = next(self._frames)
        except StopIteration:
            if self._index == 0:
                raise InputError(f"{self.path}: video has no frames") from None
            self._warn_if_cut_short()
            return None
        except av.error.FFmpegError as exc:
            if self._index == 0:
                raise InputError(f"{self.path}: cannot decode video ({reason(exc)})") from exc
            # A truncated file: keep what decoded, end the stream with a warning instead of failing the run.
            log.warning(
                "%s: stopped after %d frames, the rest is unreadable (%s)", self.path.name, self._index, reason(exc)
            )
            return None
        seconds = frame.time if frame.time is not None else self._index / self.fps
        if self._first_pts is None:
            self._first_pts = seconds
        index, self._index = self._index, self._index + 1
        self._elapsed_s = seconds - self._first_pts
        # One swscale thread: the conversion runs on the reading thread, off the pipeline's path, where its
        # threads' hand-over would only cost CPU time.
        return Frame(
            index=index, timestamp_ms=self._elapsed_s * 1000.0, rgb=frame.to_ndarray(format="rgb24", threads=1)
        )

    def close(self) -> None:
        self._container.close()


def is_image_path(spec: str) -> bool:
    path = Path(spec)
    return path.suffix.lower() in IMAGE_SUFFIXES or path.is_dir()


def is_video_path(spec: str) -> bool:
    return not is_image_path(spec)
