"""Cameras through Qt Multimedia and OpenCV, chosen by name and format, and hardware video decoding (issue 31).

No camera exists here: the Qt capture path (QVideoSink → latest-wins feed → RGB) is fed by a QMediaPlayer
playing generated files in the pixel formats cameras deliver; "unplugging" is the player reaching its end."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PySide6.QtCore import QSize, QUrl
from PySide6.QtMultimedia import QMediaPlayer, QVideoFrameFormat

from facemap_gui.cli import main
from facemap_gui.core.errors import InputError
from facemap_gui.live import worker as worker_module
from facemap_gui.live.events import EventKind
from facemap_gui.live.worker import LiveWorker
from facemap_gui.run.pipeline_builder import RunOptions
from facemap_gui.sources import base, camera, files, qt_camera
from facemap_gui.sources.camera import CameraFormat, CameraInfo, choose_format, select_camera
from facemap_gui.sources.files import VideoSource
from facemap_gui.sources.qt_camera import QtVideoSource
from tests.helpers import assert_one_line, cli_main
from tests.test_gui_worker import Listener

FRAMES = 8
LEFT, RIGHT = (200, 30, 30), (30, 200, 30)


def make_clip(path: Path, codec: str, pix_fmt: str, frames: int = FRAMES, size: tuple[int, int] = (320, 240)) -> Path:
    """Left half red, right half green, the frame number in a white square's width (so frames differ)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index in range(frames):
            rgb = np.empty((height, width, 3), np.uint8)
            rgb[:, : width // 2], rgb[:, width // 2 :] = LEFT, RIGHT
            rgb[:16, : 8 * (index + 1)] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def player(path: Path):
    """A producer for QtVideoSource: a QMediaPlayer playing `path` into the sink, 'unplugged' at its end."""

    def build(sink, lost):
        media = QMediaPlayer()
        media.setVideoSink(sink)
        media.mediaStatusChanged.connect(lambda status: status == QMediaPlayer.MediaStatus.EndOfMedia and lost("ended"))
        media.errorOccurred.connect(lambda _error, text: lost(text))
        media.setSource(QUrl.fromLocalFile(str(path)))
        media.play()
        return (media,)

    return build


def read_all(source) -> tuple[list, str]:
    frames = []
    with pytest.raises(InputError) as lost:
        while True:
            frames.append(source.read())
    source.close()
    return frames, str(lost.value)


CLIPS = [  # (codec, FFmpeg pixel format, the format Qt hands the sink)
    ("rawvideo", "nv12", "Format_NV12"),
    ("rawvideo", "yuyv422", "Format_YUYV"),
    ("rawvideo", "yuv420p", "Format_YUV420P"),
    ("mjpeg", "yuvj422p", "Format_YUV420P"),  # Qt's FFmpeg decodes MJPEG; a Windows camera's MJPG is Format_Jpeg
]


@pytest.mark.parametrize(("codec", "pix_fmt", "qt_format"), CLIPS)
def test_the_qt_capture_path_converts_each_camera_format_to_rgb_with_the_stream_clock(
    qapp, tmp_path, monkeypatch, codec, pix_fmt, qt_format
):
    clip = make_clip(tmp_path / f"{pix_fmt}.mkv", codec, pix_fmt)
    seen: list[str] = []
    convert = qt_camera.to_rgb
    monkeypatch.setattr(qt_camera, "to_rgb", lambda frame: seen.append(frame.pixelFormat().name) or convert(frame))
    source = QtVideoSource("player", player(clip))
    assert source.size == (320, 240) and source.live
    frames, lost = read_all(source)
    assert lost == "player: ended (unplugged or in use?)"
    assert set(seen) == {qt_format}
    assert 2 <= len(frames) <= FRAMES  # latest wins: a slow reader may miss some, never queue them
    assert [f.index for f in frames] == list(range(len(frames)))
    steps = np.diff([f.timestamp_ms for f in frames])
    # The stream's clock, not arrival times: whole frame intervals (a frame dropped makes two).
    assert np.all(steps > 0) and np.allclose(steps, np.round(steps / (1000 / 30)) * (1000 / 30), atol=1.5)
    for frame in frames:
        assert frame.rgb.shape == (240, 320, 3) and frame.rgb.dtype == np.uint8
        assert np.abs(frame.rgb[120, 80].astype(int) - LEFT).max() < 12
        assert np.abs(frame.rgb[120, 240].astype(int) - RIGHT).max() < 12
    assert source._thread.isFinished()  # closed: the capture thread ended


def test_headless_capture_runs_on_its_own_application_and_thread(tmp_path):
    """process with a Qt source and no window: a QCoreApplication is made, frames flow, stderr stays quiet."""
    clip = make_clip(tmp_path / "clip.mkv", "rawvideo", "nv12", frames=20)
    out = tmp_path / "out.jsonl"
    script = (
        "import sys; from facemap_gui.cli import main; from facemap_gui.sources import register_scheme;"
        "from facemap_gui.sources.qt_camera import QtVideoSource; from tests.test_cameras import player;"
        "from pathlib import Path;"
        "register_scheme('qtclip', lambda arg: QtVideoSource('qtclip', player(Path(arg))));"
        "sys.exit(main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, "process", f"qtclip:{clip}", "--stand-in", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    # The player's end is the camera's unplug: headless, that ends the run with its one line.
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if "STAND-IN" not in line and "stand-in" not in line]
    assert errors == ["facemap-gui: error: qtclip: ended (unplugged or in use?)"], run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["type"] == "header" and len(records) >= 3


class QtPlayerCamera(QtVideoSource):
    """A camera registered like the real one, through the Qt capture path; it is unplugged at the clip's end
    and back on the next open."""

    clip: Path | None = None
    opened = 0

    def __init__(self, arg: str) -> None:
        QtPlayerCamera.opened += 1
        assert self.clip is not None
        super().__init__(f"qtcam:{arg}", player(self.clip))


def test_a_qt_camera_unplugged_mid_run_is_told_once_and_resumes_when_back(qapp, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setitem(base._SCHEMES, "qtcam", QtPlayerCamera)  # registered like the real camera, for this test
    monkeypatch.setattr(worker_module, "CAMERA_RETRY_S", 0.05)
    monkeypatch.setattr(QtPlayerCamera, "clip", make_clip(tmp_path / "clip.mkv", "rawvideo", "nv12", frames=30))
    monkeypatch.setattr(QtPlayerCamera, "opened", 0)
    listener = Listener()
    worker = LiveWorker(RunOptions(source="qtcam:0", model=tiny_model), listener, None)
    worker.start()
    try:
        listener.wait_for(lambda: any(e.kind is EventKind.SOURCE_BACK for e in listener.events), timeout=60)
    finally:
        worker.stop()
    lost = [e for e in listener.events if e.kind is EventKind.SOURCE_ERROR]
    assert lost[0].detail.startswith("qtcam:0: ended (unplugged or in use?) — retrying every")
    assert QtPlayerCamera.opened >= 2


class QtFormat:
    """A QCameraFormat as Qt reports it (Qt gives Python no way to build one with values)."""

    def __init__(self, width: int, height: int, low: float, high: float, pixel_format: str) -> None:
        self._size, self._rates = QSize(width, height), (low, high)
        self._format = getattr(QVideoFrameFormat.PixelFormat, f"Format_{pixel_format}")

    def resolution(self) -> QSize:
        return self._size

    def minFrameRate(self) -> float:
        return self._rates[0]

    def maxFrameRate(self) -> float:
        return self._rates[1]

    def pixelFormat(self):
        return self._format


# A typical USB2 webcam: uncompressed formats are slow above VGA, MJPEG reaches 30 fps up to 1080p.
WEBCAM = [
    QtFormat(1920, 1080, 30, 30, "Jpeg"),
    QtFormat(1920, 1080, 5, 5, "YUYV"),
    QtFormat(1280, 720, 30, 30, "Jpeg"),
    QtFormat(1280, 720, 10, 10, "YUYV"),
    QtFormat(640, 480, 30, 30, "YUYV"),
    QtFormat(640, 480, 7.5, 30, "NV12"),
    QtFormat(3840, 2160, 15, 15, "Jpeg"),
]


def formats(qt_formats: list[QtFormat]) -> list[CameraFormat]:
    return [qt_camera.camera_format(f) for f in qt_formats]


@pytest.mark.parametrize(
    ("qt_formats", "wanted", "chosen"),
    [
        (WEBCAM, None, "1280x720@30 Jpeg"),  # Qt would pick the 10 fps YUYV: the rate decides
        (WEBCAM, (640, 480, 30.0), "640x480@7.5-30 NV12"),  # a tie on size and rate: NV12 converts cheapest
        (WEBCAM, (1280, 720, None), "1280x720@30 Jpeg"),
        (WEBCAM, (1920, 1080, 5.0), "1920x1080@30 Jpeg"),
        ([QtFormat(1280, 720, 10, 10, "YUYV"), QtFormat(640, 480, 15, 15, "YUYV")], None, "1280x720@10 YUYV"),
        ([QtFormat(3840, 2160, 30, 30, "NV12"), QtFormat(1920, 1080, 60, 60, "NV12")], None, "1920x1080@60 NV12"),
    ],
)
def test_the_format_is_chosen_from_the_listed_ones(qt_formats, wanted, chosen):
    assert str(choose_format(formats(qt_formats), wanted, "Cam")) == chosen


def test_a_format_the_camera_does_not_offer_is_one_line_listing_what_it_does():
    with pytest.raises(InputError) as error:
        choose_format(formats(WEBCAM[:3]), (800, 600, 30.0), "Integrated Camera")
    assert str(error.value) == (
        "Integrated Camera: --camera-format 800x600@30 is not offered; the camera offers "
        "1280x720@30 Jpeg, 1920x1080@30 Jpeg, 1920x1080@5 YUYV"
    )
    assert choose_format([], None, "Cam") is None  # nothing listed: the camera's own default


def test_cameras_are_picked_by_index_or_name_and_a_miss_lists_them():
    cameras = [CameraInfo(0, "Integrated Camera", "usb#1"), CameraInfo(1, "Logitech BRIO", "usb#2")]
    assert select_camera("", cameras, "Qt").index == 0
    assert select_camera("1", cameras, "Qt").name == "Logitech BRIO"
    assert select_camera("integrated camera", cameras, "Qt").index == 0
    assert select_camera("usb#2", cameras, "Qt").index == 1
    with pytest.raises(InputError) as error:
        select_camera("Front", cameras, "Qt")
    assert str(error.value) == (
        "camera:Front: no such camera (cameras: camera:0 'Integrated Camera'; camera:1 'Logitech BRIO'); "
        "list them with `facemap-gui cameras`"
    )


def test_with_no_cameras_the_list_and_doctor_say_so(capsys):
    assert main(["cameras"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Backend: qt (auto: Qt Multimedia is available")
    assert (
        out[1]
        == "  no cameras found: connect one (and close apps using it), or use a video file or `demo` as the source"
    )
    assert main(["cameras", "--json", "--camera-backend", "opencv"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "camera_backend": {"backend": "opencv", "reason": "chosen with --camera-backend opencv"},
        "cameras": [],
    }
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "Camera backend\n  qt (auto: Qt Multimedia is available" in text
    assert "Cameras\n  no cameras found" in text


def test_opencv_is_the_fallback_where_qt_multimedia_cannot_load(monkeypatch, capsys):
    monkeypatch.setattr(camera, "qt_unavailable", lambda: "No module named 'PySide6.QtMultimedia'")
    assert camera.choose_backend("auto") == (
        "opencv",
        "auto: Qt Multimedia cannot be used here (No module named 'PySide6.QtMultimedia')",
    )
    with pytest.raises(InputError, match=r"^--camera-backend qt: Qt Multimedia cannot be used here"):
        camera.choose_backend("qt")
    code, err = cli_main(capsys, "-v", "process", "camera:0")
    assert code == 2
    assert "camera:0 through OpenCV (auto: Qt Multimedia cannot be used here" in err
    assert err.strip().splitlines()[-1] == (
        "facemap-gui: error: camera:0: cannot open the camera (not connected, or in use by another app)"
    )


def test_a_missing_qt_multimedia_names_the_extra_to_install(monkeypatch):
    camera.qt_unavailable.cache_clear()
    monkeypatch.setitem(sys.modules, "facemap_gui.sources.qt_camera", None)  # as if PySide6-Addons were absent
    try:
        assert camera.qt_unavailable().endswith("install PySide6-Addons: pip install 'facemap-gui[qtcamera]'")
    finally:
        camera.qt_unavailable.cache_clear()


@pytest.mark.parametrize(("text", "parsed"), [("1280x720@30", (1280, 720, 30.0)), ("640X480", (640, 480, None))])
def test_camera_format_option(text, parsed):
    from facemap_gui.commands.common import parse_camera_format

    assert parse_camera_format(text) == parsed


def test_a_bad_camera_format_is_one_line(capsys):
    code, err = cli_main(capsys, "process", "camera:0", "--camera-format", "1280*720")
    assert_one_line(code, err, "--camera-format", "expected WIDTHxHEIGHT or WIDTHxHEIGHT@FPS")


def test_videos_decode_in_software_where_no_hardware_device_opens(tmp_path, caplog):
    files.hardware_decoding.cache_clear()
    device, why = files.hardware_decoding()
    if device is not None:
        pytest.skip(f"a hardware decoder is present here ({why}); the hardware test covers it")
    assert why.startswith("software: ")
    clip = make_clip(tmp_path / "clip.mp4", "libx264", "yuv420p")
    with caplog.at_level(logging.INFO, logger="facemap_gui.sources.files"), VideoSource(clip) as source:
        frames = list(source)
        assert not source._stream.codec_context.is_hwaccel
    assert len(frames) == FRAMES and "clip.mp4: decoding on the CPU" in caplog.text


def test_a_platform_whose_ffmpeg_lacks_its_hardware_decoder_says_so(monkeypatch):
    files.hardware_decoding.cache_clear()
    monkeypatch.setitem(files.HARDWARE_DECODERS, sys.platform, ("no-such-device",))
    try:
        assert files.hardware_decoding() == (None, "software: this FFmpeg has no no-such-device decoder")
    finally:
        files.hardware_decoding.cache_clear()


def test_videos_decode_on_the_hardware_device_where_one_opens(tmp_path):
    files.hardware_decoding.cache_clear()
    device, why = files.hardware_decoding()
    if device is None:
        pytest.skip(f"no hardware decoding here: {why}")
    with VideoSource(make_clip(tmp_path / "clip.mp4", "libx264", "yuv420p")) as source:
        assert source._stream.codec_context.is_hwaccel
        frames = list(source)
    assert len(frames) == FRAMES and np.abs(frames[0].rgb[120, 80].astype(int) - LEFT).max() < 12
