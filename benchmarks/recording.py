"""What recording costs: encode time per frame for each codec, and frames dropped at a given submit rate.

    python benchmarks/recording.py [--size 1280x720] [--frames 150] [--rates 30,240,480,1000]

prints one JSON object. `encode_ms` is the writer thread's time per frame (RGB→I420, encode, mux, on the
demo clip); `drops` submits the same frames through a Recorder at each rate (queue 32) and counts drops.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from facemap_gui.perframe.pipeline import FrameResult
from facemap_gui.sinks.recording import VIDEO_CODECS, Recorder
from facemap_gui.sinks.recording.video import VideoWriter
from facemap_gui.sources import Frame
from facemap_gui.sources.demo import DemoSource


def encode_ms(folder: Path, codec: str, frames: list[np.ndarray], fps: float) -> dict[str, float]:
    writer = VideoWriter(folder / f"{codec}.mkv", (frames[0].shape[1], frames[0].shape[0]), fps, (codec,))
    times = []
    for index, rgb in enumerate(frames):
        start = time.perf_counter()
        writer.write(rgb, index * 1000 / fps)
        times.append((time.perf_counter() - start) * 1000)
    writer.close()
    steady = times[10:]  # the first frames include encoder start-up
    return {
        "mean": round(float(np.mean(steady)), 2),
        "p95": round(float(np.percentile(steady, 95)), 2),
        "mb": round((folder / f"{codec}.mkv").stat().st_size / 1e6, 2),
    }


def drops_at(folder: Path, rate: float, frames: list[np.ndarray]) -> dict[str, float]:
    size = (frames[0].shape[1], frames[0].shape[0])
    recorder = Recorder(folder / f"rate{rate:g}.mkv", fps=rate, size=size, header={"type": "header"})
    start = time.perf_counter()
    for index, rgb in enumerate(frames):
        recorder.submit(FrameResult(Frame(index, index * 1000 / rate, rgb), []), rgb)
        time.sleep(max(0.0, start + (index + 1) / rate - time.perf_counter()))
    status = recorder.close()
    return {
        "submitted": len(frames),
        "written": status.frames_written,
        "dropped": status.frames_dropped,
        "codec": status.codec,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rates", default="30,240,480,1000")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    source = DemoSource(str(args.frames), size=(width, height))
    frames = [frame.rgb for frame in source]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = {
            "size": [width, height],
            "encode_ms": {codec: encode_ms(folder, codec, frames, 30.0) for codec in VIDEO_CODECS},
            "drops": {rate: drops_at(folder, float(rate), frames) for rate in args.rates.split(",")},
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
