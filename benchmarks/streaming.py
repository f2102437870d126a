"""What streaming costs the pipeline: CPU time per frame of `Streamer.send` (signals, expressions, packets, sends)
for one face, on the calling thread.

    python benchmarks/streaming.py [--frames 3000]

prints one JSON object: median and p95 in ms for OpenSeeFace, VMC, iFacialMocap and VTube Studio alone and all four
at once, with receivers on 127.0.0.1 and with none (UDP sends then fail with "connection refused"; the VTS thread
retries). The VTS receiver is a WebSocket server answering every request. The first 200 frames are warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import socket
import threading
import time

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.sinks.streaming import Streamer, StreamTarget
from facemap_gui.sources import Frame

WARM_UP = 200
PROTOCOLS = ("osf", "vmc", "ifm", "vts")


def answer_vts(ws) -> None:
    """Grants the token, authenticates and acknowledges every injection, as VTube Studio does."""
    with contextlib.suppress(ConnectionClosed):  # the sender closing at the end of a run, mid-answer
        for raw in ws:
            message = json.loads(raw)
            data = {
                "AuthenticationTokenRequest": {"authenticationToken": "benchmark"},
                "AuthenticationRequest": {"authenticated": True},
            }.get(message["messageType"], {})
            kind = message["messageType"].replace("Request", "Response")
            ws.send(json.dumps({**message, "messageType": kind, "data": data}))


def send_ms(protocols: tuple[str, ...], listening: bool, frames: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    face = FaceResult(
        box=(200, 100, 400, 300),
        crop_box=(180, 80, 420, 320),
        score=0.9,
        landmarks=rng.uniform(200, 400, (68, 2)),  # float64, as smoothing (on by default when streaming) gives
        pose=(5.0, -3.0, 1.0),
        focal=460.0,
    )
    frame = Frame(0, 0.0, np.zeros((720, 1280, 3), np.uint8))
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    port = receiver.getsockname()[1]
    vts_server = serve(answer_vts, "127.0.0.1", 0)
    vts_port = vts_server.socket.getsockname()[1]
    if listening:
        threading.Thread(target=vts_server.serve_forever, daemon=True).start()
    else:
        receiver.close()
        vts_server.socket.close()
    targets = [StreamTarget(p, "127.0.0.1", vts_port if p == "vts" else port) for p in protocols]
    times = []
    with Streamer(targets) as streamer:
        for index in range(frames):
            # A new result and face a frame, as the pipeline makes: nothing derived from the last one is kept.
            result = FrameResult(frame=frame, faces=[dataclasses.replace(face)])
            start = time.thread_time()  # this thread's CPU: what the frame pays, not the VTS thread's work
            streamer.send(result)
            times.append((time.thread_time() - start) * 1000.0)
            if listening and index % 50 == 0:  # keep the receive buffer from filling
                try:
                    while True:
                        receiver.recv(65536)
                except BlockingIOError:
                    pass
    if listening:
        receiver.close()
        vts_server.shutdown()
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
                f"{'+'.join(protocols)}_{'receiver' if listening else 'no_receiver'}_ms": send_ms(
                    protocols, listening, args.frames
                )
                for protocols in (*((p,) for p in PROTOCOLS), PROTOCOLS)
                for listening in (True, False)
            }
        )
    )


if __name__ == "__main__":
    main()
