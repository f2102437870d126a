"""Image and video file sources. Video is decoded with PyAV so frames carry their real presentation times."""

from __future__ import annotations

import codecs
import functools
import io
import logging
import stat
import sys
import warnings
from pathlib import Path

import av
import av.codec.hwaccel
import cv2
import numpy as np

from facemap_gui.core.errors import InputError, reason
from facemap_gui.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# One limit for every picture, image or video frame: beyond it a small file could claim gigabytes (a
# decompression bomb) and MediaPipe crashes on such frames instead of failing.
MAX_IMAGE_PIXELS = 100_000_000  # 300 MB decoded
ONE_THREAD_MAX_PIXELS = 1920 * 1080  # videos up to this size decode on one thread (see VideoSource)
SNIFF_BYTES = 4096  # how much of a file decides whether it is text
# Bytes text holds besides printable characters (ESC for ANSI art); any other control byte means binary.
TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")
TEXT_VIDEO_MAGIC = (b"YUV4MPEG2",)  # video formats whose header is text (their frames follow as raw bytes)
# FFmpeg renders text-art files (.nfo, .bin, ANSI art) as video through these demuxers; never a recording.
TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
# Hardware decoders worth trying first on each platform (PyAV's `hwaccel`), most preferred first.
HARDWARE_DECODERS = {"win32": ("d3d11va", "dxva2"), "darwin": ("videotoolbox",), "linux": ("vaapi", "cuda")}
QUARTER_TURNS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def not_media(path: Path) -> str | None:
    """Why `path` cannot be an image or video file, as the one line docs/faults.md promises (missing, a folder,
    a FIFO or device, empty, text), or None when it may be one. Decided from its type and first bytes, never
    by opening a FIFO or device (that would block or never end); FFmpeg would play a text file as a video of
    its text, and a playlist could make it fetch other files."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return "no such file or folder" if isinstance(exc, FileNotFoundError) else f"cannot read ({reason(exc)})"
    if not stat.S_ISREG(mode):
        kinds = (
            (stat.S_ISDIR, "a folder"),
            (stat.S_ISFIFO, "a named pipe (FIFO)"),
            (stat.S_ISCHR, "a device"),
            (stat.S_ISBLK, "a device"),
            (stat.S_ISSOCK, "a socket"),
        )
        kind = next((name for test, name in kinds if test(mode)), "not a regular file")
        return f"{kind}, not an image or video file"
    try:
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as exc:
        return f"cannot read ({reason(exc)})"
    if not head:
        return "an empty file (0 bytes), not a video or an image"
    return "a text file, not a video or an image" if _is_text(head) else None


def _is_text(head: bytes) -> bool:
    if head.startswith(TEXT_VIDEO_MAGIC):
        return False
    head = head.removeprefix(codecs.BOM_UTF8)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # the sniffed bytes may end inside a character
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(char.isprintable() or ord(char) in TEXT_CONTROLS for char in text)


def pixel_limit_error(path: Path, subject: str, size: tuple[int, int] | None) -> InputError:
    """The one line for a picture beyond MAX_IMAGE_PIXELS (`size` None when the decoder refused to tell)."""
    shown = f" ({size[0]}x{size[1]})" if size else ""
    return InputError(
        f"{path}: {subject} more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels{shown}; scale it down to process it"
    )


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
        raise pixel_limit_error(path, "the image claims", None) from None
    except Exception:  # not an image Pillow knows: OpenCV's decoder decides, with its own limits
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise pixel_limit_error(path, "the image claims", (width, height))


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


def _shown_size(path: Path) -> tuple[int, int] | None:
    """The size an image decodes to (OpenCV turns it by its EXIF orientation), read from its header alone."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # orientations that swap width and height
    except Exception:  # not an image Pillow knows: its size is known once it is decoded
        return None
    return (height, width) if turned else (width, height)


class ImageSource(FrameSource):
    """One image, or every image in a folder (sorted by name); each is one frame, carrying its file's name."""

    still = True

    def __init__(self, path: str | Path) -> None:
        root = Path(path)
        if root.is_dir():
            self.paths = []
            for p in sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                if problem := not_media(p):
                    log.warning("%s: skipped, %s", p, problem)
                else:
                    self.paths.append(p)
            if not self.paths:
                raise InputError(f"{root}: folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif problem := not_media(root):
            raise InputError(f"{root}: {problem}")
        else:
            self.paths = [root]
        self.name = str(root)
        self._next = 0
        # Read the first image now so a bad file fails at open time, not mid-run.
        self._first = read_image_rgb(self.paths[0])
        first = (self._first.shape[1], self._first.shape[0])
        self.size = first if all(_shown_size(p) == first for p in self.paths[1:]) else None

    @property
    def frame_count(self) -> int:
        return len(self.paths)

    def read(self) -> Frame | None:
        if self._next >= len(self.paths):
            return None
        index = self._next
        rgb = self._first if index == 0 else read_image_rgb(self.paths[index])
        self._next += 1
        return Frame(index=index, timestamp_ms=0.0, rgb=rgb, file=self.paths[index].name)


@functools.cache
def hardware_decoding() -> tuple[str | None, str]:
    """The hardware device type videos decode on here (None: software) and why, for `-v` and `doctor`: the
    platform's first device type this FFmpeg was built with whose device opens (checked once, on H.264)."""
    built = av.codec.hwaccel.hwdevices_available()
    candidates = [name for name in HARDWARE_DECODERS.get(sys.platform, ()) if name in built]
    if not candidates:
        return (
            None,
            f"software: this FFmpeg has no {'/'.join(HARDWARE_DECODERS.get(sys.platform, ('hardware',)))} decoder",
        )
    failures = []
    for name in candidates:
        try:
            av.codec.hwaccel.HWAccel(name).create(av.codec.Codec("h264", "r"))
        except (av.error.FFmpegError, NotImplementedError, OSError) as exc:
            failures.append(f"{name}: {reason(exc)}")
            continue
        return name, f"{name}: its device opened"
    return None, f"software: no hardware device ({'; '.join(failures)})"


class VideoSource(FrameSource):
    """A video file; timestamps come from the stream's presentation times, so dropped frames keep real time.
    Frames come upright: a phone's rotation in the stream's display matrix is applied to the pixels."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        if problem := not_media(self.path):
            raise InputError(f"{self.path}: {problem}")
        # FFmpeg refuses frames beyond the limit before allocating them, also while probing the file in open.
        limit = {"max_pixels": str(MAX_IMAGE_PIXELS)}
        device, _why = hardware_decoding()
        # With software fallback: a stream the device cannot decode (MJPEG, an odd profile) decodes on the CPU.
        hwaccel = av.codec.hwaccel.HWAccel(device, allow_software_fallback=True) if device else None
        try:
            self._container = av.open(str(self.path), options=limit, hwaccel=hwaccel)
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"{self.path}: not a readable video ({reason(exc)})") from exc
        try:
            self._stream = self._open_stream(limit)
        except InputError:
            self._container.close()
            raise
        log.info("%s: decoding on %s", self.path.name, device if self._stream.codec_context.is_hwaccel else "the CPU")
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 30.0
        self._frames = self._container.decode(self._stream)
        self._index = 0
        self._first_pts: float | None = None
        self._elapsed_s = 0.0
        # Decode the first frame now: a bad file fails at open time, and `size` is the upright picture's.
        self._first = self._next_rgb()
        if self._first is None:
            self.close()
            raise InputError(f"{self.path}: video has no frames")
        self.size = (self._first[1].shape[1], self._first[1].shape[0])

    def _open_stream(self, limit: dict[str, str]) -> av.video.stream.VideoStream:
        if self._container.format.name in TEXT_DEMUXERS:
            raise InputError(f"{self.path}: text art (FFmpeg's {self._container.format.name} format), not a video")
        if not self._container.streams.video:
            raise InputError(f"{self.path}: file has no video stream")
        stream = self._container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_IMAGE_PIXELS:  # a size FFmpeg did not probe (else it dropped it, see _next_rgb)
            raise pixel_limit_error(self.path, "the video's frames claim", (width, height))
        stream.codec_context.options = limit
        # FFmpeg's frame threads cost CPU time and wake-ups the pipeline feels (docs/performance.md); up to 1080p
        # one thread, decoding ahead on its own, keeps well ahead of the pipeline. Larger frames get the threads.
        if width * height > ONE_THREAD_MAX_PIXELS:
            stream.thread_type = "AUTO"
        else:
            stream.codec_context.thread_count = 1
        return stream

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

    def _next_rgb(self) -> tuple[float, np.ndarray] | None:
        """The next frame's time and upright RGB pixels, None at the end (or after an error past frame 0)."""
        try:
            frame = next(self._frames)
        except StopIteration:
            if self._index:
                self._warn_if_cut_short()
            return None
        except av.error.FFmpegError as exc:
            codec = self._stream.codec_context
            if isinstance(exc, av.error.ArgumentError) and not codec.width * codec.height:
                # The decoder met a frame beyond max_pixels and dropped its size (possibly mid-stream).
                subject = f"frame {self._index} claims" if self._index else "the video's frames claim"
                raise pixel_limit_error(self.path, subject, None) from exc
            if self._index == 0:
                raise InputError(f"{self.path}: cannot decode video ({reason(exc)})") from exc
            # A truncated file: keep what decoded, end the stream with a warning instead of failing the run.
            log.warning(
                "%s: stopped after %d frames, the rest is unreadable (%s)", self.path.name, self._index, reason(exc)
            )
            return None
        seconds = frame.time if frame.time is not None else self._index / self.fps
        # One swscale thread: the conversion runs on the reading thread, off the pipeline's path, where its
        # threads' hand-over would only cost CPU time.
        return seconds, upright(frame.to_ndarray(format="rgb24", threads=1), frame)

    def read(self) -> Frame | None:
        decoded, self._first = self._first or self._next_rgb(), None
        if decoded is None:
            return None
        seconds, rgb = decoded
        if self._first_pts is None:
            self._first_pts = seconds
        index, self._index = self._index, self._index + 1
        self._elapsed_s = seconds - self._first_pts
        return Frame(index=index, timestamp_ms=self._elapsed_s * 1000.0, rgb=rgb)

    def close(self) -> None:
        self._container.close()


def upright(rgb: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """The picture as it is meant to be seen: phones store portrait video sideways with a rotation in the
    display matrix (-90 for a phone held upright), which players apply and FFmpeg leaves to the caller.
    Quarter turns only; a mirrored or odd-angle matrix is rare enough to take as its nearest quarter turn."""
    try:
        turns = round(frame.rotation / 90) % 4  # counter-clockwise quarter turns
    except ValueError:  # a degenerate matrix (NaN angle): shown as stored
        return rgb
    return rgb if not turns else cv2.rotate(rgb, QUARTER_TURNS[turns])


def is_image_path(spec: str) -> bool:
    path = Path(spec)
    return path.suffix.lower() in IMAGE_SUFFIXES or path.is_dir()


def is_video_path(spec: str) -> bool:
    return not is_image_path(spec)
