"""What streaming costs the pipeline: time per frame of `Streamer.send` (signals, packet, send) for one face.

    python benchmarks/streaming.py [--frames 3000]

prints one JSON object: median and p95 in ms for OpenSeeFace and VMC, with a receiver on 127.0.0.1 and with none
(every other send then fails with "connection refused"). The first 200 frames are left out as warm-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import time

import numpy as np

from facemap_gui.pipeline import FaceResult, FrameResult
from facemap_gui.sources import Frame
from facemap_gui.streaming import Streamer, StreamTarget

WARM_UP = 200


def send_ms(protocol: str, listening: bool, frames: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    face = FaceResult(
        box=(200, 100, 400, 300),
        crop_box=(180, 80, 420, 320),
        score=0.9,
        landmarks=rng.uniform(200, 400, (68, 2)),
        pose=(5.0, -3.0, 1.0),
        focal=460.0,
    )
    result = FrameResult(frame=Frame(0, 0.0, np.zeros((720, 1280, 3), np.uint8)), faces=[face])
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    port = receiver.getsockname()[1]
    if not listening:
        receiver.close()
    times = []
    with Streamer([StreamTarget(protocol, "127.0.0.1", port)]) as streamer:
        for index in range(frames):
            start = time.perf_counter()
            streamer.send(result)
            times.append((time.perf_counter() - start) * 1000.0)
            if listening and index % 50 == 0:  # keep the receive buffer from filling
                try:
                    while True:
                        receiver.recv(65536)
                except BlockingIOError:
                    pass
    if listening:
        receiver.close()
    kept = np.array(times[WARM_UP:])
    return {"median": round(float(np.median(kept)), 4), "p95": round(float(np.percentile(kept, 95)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the refused sends' one warning each
    print(
        json.dumps(
            {
                f"{protocol}_{'receiver' if listening else 'no_receiver'}_ms": send_ms(protocol, listening, args.frames)
                for protocol in ("osf", "vmc")
                for listening in (True, False)
            }
        )
    )


if __name__ == "__main__":
    main()
