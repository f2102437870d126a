"""Faults in what the user feeds in, through the public interfaces: videos, images, FIFOs and devices,
cameras, boxes, and an error nobody foresaw; each is one clear line or a warning, never a crash.
docs/faults.md lists each fault, what the user sees and the test that covers it."""

from __future__ import annotations

import os
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest

from facemap_gui.cli import build_parser, main
from facemap_gui.core.errors import InputError
from facemap_gui.sources.demo import DemoSource
from facemap_gui.sources.files import VideoSource, read_image_rgb
from tests.conftest import PHOTO, constant_model, write_video
from tests.fakes import UnpluggedCamera
from tests.helpers import assert_one_line, cli_main
from tests.test_process import _one_line_error, read_jsonl, run_cli
from tests.test_recording import decode


def demo_frames(count: int, size: tuple[int, int] = (320, 180)) -> list:
    source = DemoSource("", photo=PHOTO, size=size)
    return [source.read().rgb for _ in range(count)]


def test_video_truncated_mid_stream_keeps_the_frames_that_decoded_and_warns(tmp_path, tiny_model):
    video = write_video(tmp_path / "clip.mkv", demo_frames(30))
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # as a copy or a recording cut off half way
    out = tmp_path / "out.jsonl"
    result = run_cli("process", str(video), "--model", str(tiny_model), "--output", str(out))
    records = read_jsonl(out.read_text())
    frames = [r for r in records if r["type"] == "frame"]
    assert 0 < len(frames) < 30
    assert records[-1]["type"] == "summary" and records[-1]["frames"] == len(frames)
    assert "clip.mkv" in result.stderr and "looks truncated" in result.stderr
    assert f"kept the {len(frames)} frames" in result.stderr


def test_complete_video_gives_no_truncation_warning(tmp_path, tiny_model):
    video = write_video(tmp_path / "clip.mkv", demo_frames(10))
    result = run_cli("process", str(video), "--model", str(tiny_model), "--output", str(tmp_path / "o.jsonl"))
    assert "truncated" not in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # FFmpeg would happily render a .txt as a video of its text.
        ("notes.txt", b"shopping list\n" * 50, "a text file, not a video or an image"),
        ("report.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, "not a readable video"),
        # Too short for FFmpeg's text demuxer, or named as a video: FFmpeg said "Invalid data found".
        ("todo.txt", b"hello world\n", "a text file, not a video or an image"),
        ("clip.mp4", "Grüße aus Köln\n".encode() * 3, "a text file, not a video or an image"),
        ("face.jpg", b"not a jpeg at all", "a text file, not a video or an image"),
        ("empty.mp4", b"", "an empty file (0 bytes), not a video or an image"),
    ],
)
def test_non_image_file_as_input_is_one_line(tmp_path, tiny_model, name, content, message):
    (tmp_path / name).write_bytes(content)
    _one_line_error(run_cli("process", str(tmp_path / name), "--model", str(tiny_model), check=False), name, message)


def test_camera_unplugged_during_process_record_keeps_what_was_captured(tmp_path, tiny_model, fake_sources):
    """Headless, a vanished camera ends the run with its one-line error (the window retries instead, see
    test_gui_worker.py); every frame captured before is in the JSON Lines and in a finished recording."""
    out, video = tmp_path / "out.jsonl", tmp_path / "cam.mkv"
    args = build_parser().parse_args(
        ["process", "unplugged:0", "--model", str(tiny_model), "--output", str(out), "--record", str(video)]
    )
    with pytest.raises(InputError, match=r"^unplugged:0: camera stopped delivering frames"):
        args.run(args)
    records = read_jsonl(out.read_text())  # every line complete
    assert [r["type"] for r in records] == ["header"] + ["frame"] * UnpluggedCamera.FRAMES
    landmarks = read_jsonl(video.with_suffix(".jsonl").read_text())
    assert landmarks[-1]["type"] == "summary" and landmarks[-1]["frames"] == UnpluggedCamera.FRAMES
    assert len(decode(video).frames) == UnpluggedCamera.FRAMES  # encoder flushed, container finished


def test_fifos_and_devices_are_refused_as_inputs_and_skipped_in_folders(tmp_path, tiny_model, capsys):
    os.mkfifo(tmp_path / "pipe.mp4")
    code, err = cli_main(capsys, "process", str(tmp_path / "pipe.mp4"))
    assert_one_line(code, err, "pipe.mp4: a named pipe (FIFO), not an image or video file")
    code, err = cli_main(capsys, "process", "/dev/zero")
    assert_one_line(code, err, "/dev/zero: a device, not an image or video file")
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(PHOTO.read_bytes())
    os.mkfifo(folder / "b.jpg")  # reading it would block for ever
    out = tmp_path / "out.jsonl"
    assert main(["process", str(folder), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert read_jsonl(out.read_text())[-1]["frames"] == 1
    assert "b.jpg: skipped, a named pipe (FIFO)" in capsys.readouterr().err


def png_header_only(width: int, height: int, rows: bytes = bytes(1000)) -> bytes:
    """A PNG of a few hundred bytes whose header promises width x height pixels (a decompression bomb's shape);
    with all its `rows` (a filter byte and RGB for each), a real picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_video(path, sizes: list[tuple[int, int]], fps: int = 10) -> None:
    """A video of PNG frames that only promise their size (a few hundred bytes each): the stream's header
    says the first frame's size, each frame its own, as a hostile file sized to crash the decoder or MediaPipe."""
    with av.open(str(path), "w", format="mov") as container:
        stream = container.add_stream("png", rate=fps)
        stream.width, stream.height = sizes[0]
        stream.pix_fmt = "rgb24"
        for index, (width, height) in enumerate(sizes):
            rows = bytes((3 * width + 1) * height) if width * height < 10_000 else b""  # small ones decode
            packet = av.Packet(png_header_only(width, height, rows))
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, fps)
            container.mux(packet)


def test_a_video_promising_frames_beyond_the_pixel_limit_is_refused_before_decoding(tmp_path, tiny_model, capsys):
    """A 1 kB video declaring 16000x16000 frames made the decoder allocate 768 MB while opening it, and the
    frames segfaulted MediaPipe; FFmpeg is now told the limit, so it refuses them before allocating."""
    png_video(tmp_path / "bomb.mov", [(16_000, 16_000)] * 3)
    code, err = cli_main(capsys, "process", str(tmp_path / "bomb.mov"), "--model", str(tiny_model))
    assert_one_line(code, err, "bomb.mov: the video's frames claim more than 100 megapixels", "scale it down")
    # The same frame after two small ones: the decoder refuses it too, naming the frame.
    png_video(tmp_path / "grows.mov", [(64, 64), (64, 64), (16_000, 16_000)])
    out = tmp_path / "out.jsonl"
    code, err = cli_main(capsys, "process", str(tmp_path / "grows.mov"), "--model", str(tiny_model), "-o", str(out))
    last = err.strip().splitlines()[-1]  # after the stand-in model's warning: the run had begun
    assert code == 2 and "grows.mov: frame 2 claims more than 100 megapixels; scale it down" in last, err
    assert "Traceback" not in err and [r["type"] for r in read_jsonl(out.read_text())] == ["header"] + ["frame"] * 2


def test_a_phone_video_stored_sideways_is_processed_upright(tmp_path, tiny_model):
    """A phone held upright stores its picture turned a quarter (the sensor's way) with -90 degrees in the
    display matrix; players turn it back. Processed as stored, no face was found in any frame."""
    upright = read_image_rgb(PHOTO)  # 512x600, a face the detector finds upright but not turned a quarter
    video = write_video(tmp_path / "phone.mp4", [np.rot90(upright).copy()] * 4, rotation=-90)
    out, recording = tmp_path / "out.jsonl", tmp_path / "rec.mkv"
    run_cli("process", str(video), "--model", str(tiny_model), "-o", str(out), "--record", str(recording))
    frames = [r for r in read_jsonl(out.read_text()) if r["type"] == "frame"]
    assert len(frames) == 4 and all(len(f["faces"]) == 1 for f in frames)
    recorded = decode(recording).frames
    assert len(recorded) == 4 and recorded[0].shape == upright.shape  # the recording keeps the upright picture
    assert np.abs(recorded[0].astype(int) - upright).mean() < 8


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_every_quarter_turn_in_the_display_matrix_is_applied(tmp_path, rotation):
    picture = np.zeros((64, 96, 3), np.uint8)
    picture[:16, :32] = 255  # a white top-left corner shows which way up it is
    stored = np.rot90(picture, -rotation // 90).copy()  # what, turned by `rotation`, shows `picture`
    with VideoSource(write_video(tmp_path / "turned.mp4", [stored] * 2, rotation=rotation)) as source:
        assert source.size == (96, 64)
        frame = source.read()
    assert frame.rgb.shape == picture.shape and np.abs(frame.rgb.astype(int) - picture).mean() < 8


@pytest.mark.parametrize("side", [10_500, 30_000])  # above this app's limit; also above Pillow's own
def test_an_image_promising_more_pixels_than_memory_holds_is_refused_before_decoding(tmp_path, capsys, side):
    (tmp_path / "bomb.png").write_bytes(png_header_only(side, side))
    code, err = cli_main(capsys, "process", str(tmp_path / "bomb.png"))
    assert_one_line(code, err, "bomb.png: the image claims more than 100 megapixels", "scale it down")


@pytest.mark.parametrize("backend", ["qt", "opencv"])
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("camera:99999999999999", "camera index must be a whole number from 0 to 63"),
        ("camera:-1", "no such camera (cameras: none found through"),  # crashed OpenCV with SIGSEGV
        ("camera:x", "no such camera (cameras: none found through"),  # names: none listed here
        ("camera:²", "no such camera (cameras: none found through"),
    ],
)
def test_camera_specs_are_checked_before_opencv_sees_them(capsys, spec, message, backend):
    code, err = cli_main(capsys, "process", spec, "--camera-backend", backend)
    assert_one_line(code, err, f"{spec}: {message}")


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("opencv", "camera:0: cannot open the camera (not connected, or in use by another app)"),
        (
            "qt",
            "camera:0: no such camera (cameras: none found through Qt Multimedia); "
            "list them with `facemap-gui cameras`",
        ),
    ],
)
def test_a_missing_camera_is_one_line_without_opencv_or_qt_warnings(capfd, backend, message):
    assert main(["process", "camera:0", "--camera-backend", backend]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines == [f"facemap-gui: error: {message}"]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ("5000,5000,6000,6000", "outside the 512x600 image"),
        ("0,0,99999999,9", "from 0 to 100000"),
    ],
)
def test_boxes_outside_the_image_or_absurd_are_one_line(tmp_path, real_basis, capsys, box, message):
    model = constant_model(tmp_path / "constant.onnx", np.zeros(265))  # no stand-in: stderr has one line
    code, err = cli_main(
        capsys,
        "process",
        str(PHOTO),
        "--model",
        str(model),
        "--basis-dir",
        str(real_basis),
        f"--box={box}",
        "--no-expand-box",
    )
    assert_one_line(code, err, "--box", message)


def test_a_box_reaching_past_the_image_is_clamped(tmp_path, tiny_model, capsys):
    assert (
        main(
            [
                "process",
                str(PHOTO),
                "--model",
                str(tiny_model),
                "--box",
                "400,500,5000,5000",
                "--no-expand-box",
                "-o",
                str(tmp_path / "o.jsonl"),
            ]
        )
        == 0
    )
    (face,) = read_jsonl((tmp_path / "o.jsonl").read_text())[1]["faces"]
    assert face["crop_box"] == [400, 500, 511, 599]


def test_an_unexpected_exception_is_one_line_and_its_traceback_comes_with_vv(capsys, fake_sources):
    code, err = cli_main(capsys, "process", "explode:0")
    assert_one_line(code, err, "unexpected RuntimeError: boom: a case nobody foresaw", "-vv")
    code, err = cli_main(capsys, "-vv", "process", "explode:0")
    assert code == 2 and "Traceback" in err and 'raise RuntimeError("boom' in err
