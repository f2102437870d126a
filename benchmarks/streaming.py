"""What streaming costs the pipeline: CPU time per frame of `Streamer.send` (signals, expressions, packets, sends)
for one face, on the calling thread.

    python benchmarks/streaming.py [--frames 3000] [--fps 30]

prints one JSON object: median and p95 in ms for OpenSeeFace, VMC, iFacialMocap and VTube Studio alone and all four
at once, with receivers on 127.0.0.1 and with none (UDP sends then fail with "connection refused"; the VTS thread
retries). The VTS receiver is a WebSocket server answering every request, in a process of its own. The first 200
frames are warm-up. With VTS and a receiver, also the CPU ms of the VTS sender's threads (beside the frame, not in
its figures: this process's CPU less the calling thread's) per values sent, and how many it sent a frame: it sends
the latest when free, so at this flat-out rate fewer than one a frame.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import logging
import multiprocessing
import os
import socket
import tempfile
import time

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.sinks.streaming import Streamer, StreamTarget
from facemap_gui.sources import Frame

WARM_UP = 200
PROTOCOLS = ("osf", "vmc", "ifm", "vts")


def answer_vts(ws, injections) -> None:
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
            if kind == "InjectParameterDataResponse":
                with injections.get_lock():
                    injections.value += 1


def serve_vts(ports, injections) -> None:
    """The VTS test server, in a process of its own as VTS is: its work is not counted in the sender's."""
    with serve(functools.partial(answer_vts, injections=injections), "127.0.0.1", 0) as server:
        ports.send(server.socket.getsockname()[1])
        server.serve_forever()


def send_ms(protocols: tuple[str, ...], listening: bool, frames: int, fps: float) -> dict[str, float]:
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
    context = multiprocessing.get_context("spawn")
    injections = context.Value("i", 0)
    vts_server = None
    if listening:
        ports, child_end = context.Pipe()
        vts_server = context.Process(target=serve_vts, args=(child_end, injections), daemon=True)
        vts_server.start()
        vts_port = ports.recv()
    else:
        receiver.close()
        with socket.socket() as unused:  # a port nothing listens on: the VTS thread's connections are refused
            unused.bind(("127.0.0.1", 0))
            vts_port = unused.getsockname()[1]
    targets = [StreamTarget(p, "127.0.0.1", vts_port if p == "vts" else port) for p in protocols]
    times = []
    with Streamer(targets) as streamer:
        began = time.perf_counter()
        for index in range(frames):
            if fps:  # the frames at a camera's rate, not flat out
                time.sleep(max(began + index / fps - time.perf_counter(), 0.0))
            if index == WARM_UP:  # this process's other threads: the VTS sender's (and its connection's reader)
                others, injected = time.thread_time() - time.process_time(), -injections.value
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
        others, injected = others + time.process_time() - time.thread_time(), injected + injections.value
    if vts_server is not None:
        receiver.close()
        vts_server.terminate()
        vts_server.join()
    kept = np.array(times[WARM_UP:])
    figures = {"median": round(float(np.median(kept)), 4), "p95": round(float(np.percentile(kept, 95)), 4)}
    if injected:  # the thread sends the latest values when it is free: fewer than the frames at this rate
        figures["vts_thread_ms_per_injection"] = round(others * 1000.0 / injected, 4)
        figures["vts_injections_per_frame"] = round(injected / len(kept), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--fps", type=float, default=0.0, help="frames a second (default: as fast as they go)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the refused sends' one warning each
    # The VTS sender keeps its token in the data folder: the benchmark's goes to a folder of its own.
    with tempfile.TemporaryDirectory(prefix="facemap-streaming-") as home:
        os.environ["FACEMAP_GUI_HOME"] = home
        figures = {
            f"{'+'.join(protocols)}_{'receiver' if listening else 'no_receiver'}_ms": send_ms(
                protocols, listening, args.frames, args.fps
            )
            for protocols in (*((p,) for p in PROTOCOLS), PROTOCOLS)
            for listening in (True, False)
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
