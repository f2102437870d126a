"""What streaming costs the pipeline: CPU time per frame of `Streamer.send` (signals, expressions, packets, sends)
on the calling thread, which does all of it (VTS's thread only connects, reads replies and re-sends).

    python benchmarks/streaming.py [--frames 3000] [--fps 30] [--pipeline]

prints one JSON object: median and p95 in ms for OpenSeeFace, VMC, iFacialMocap and VTube Studio alone and all four
at once, with receivers on 127.0.0.1 and with none (UDP sends then fail with "connection refused"; the VTS thread
retries). The VTS receiver is a WebSocket server answering every request, in a process of its own. The first 200
frames are warm-up (with a VTS receiver, those after its first acknowledgement, so every timed frame writes to it).
With VTS and a receiver, also the CPU ms of the VTS sender's thread per values sent (beside the frame, not in its
figures: this process's CPU less the calling thread's) and how many went out a frame.

One face a frame, a new result each frame; flat out by default, `--fps` at a camera's rate (the thread sleeps
between frames and its caches go cold). `sends_only`: the floor, what the four sends cost the same thread with
nothing computed (the first frame's payloads sent again each frame), so a figure can be split into the system's
part and streaming's own code. `--pipeline`: all four, as the app streams: the generated stand-in on the
demo clip at its own clock (30 fps), the engine calling the streamer after the pipeline and the smoother.
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
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

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


@dataclasses.dataclass
class Receivers:
    """Where the targets point: a UDP port for the UDP formats, a VTS server's port; `drain` empties the UDP
    receive buffer (called now and then, so it never fills); `injections` counts what VTS acknowledged."""

    targets: list[StreamTarget]
    drain: Callable[[], None]
    injections: Callable[[], int]


@contextlib.contextmanager
def receivers(protocols: tuple[str, ...], listening: bool) -> Iterator[Receivers]:
    context = multiprocessing.get_context("spawn")
    injections = context.Value("i", 0)
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        port = receiver.getsockname()[1]
        if listening:
            ports, child_end = context.Pipe()
            vts_server = context.Process(target=serve_vts, args=(child_end, injections), daemon=True)
            vts_server.start()
            stack.callback(vts_server.join)
            stack.callback(vts_server.terminate)
            vts_port = ports.recv()
        else:
            receiver.close()
            with socket.socket() as unused:  # a port nothing listens on: the VTS thread's connections are refused
                unused.bind(("127.0.0.1", 0))
                vts_port = unused.getsockname()[1]

        def drain() -> None:
            with contextlib.suppress(OSError):  # BlockingIOError: empty; a closed socket: nothing listens
                while True:
                    receiver.recv(65536)

        targets = [StreamTarget(p, "127.0.0.1", vts_port if p == "vts" else port) for p in protocols]
        yield Receivers(targets, drain, lambda: injections.value)


class Timed:
    """`Streamer.send` timed on the calling thread's CPU (what the frame pays, not the VTS thread's work), with
    the CPU of this process's other threads and VTS's acknowledgements counted from the end of the warm-up."""

    def __init__(self, streamer: Streamer, listening: Receivers) -> None:
        self.streamer, self.receivers = streamer, listening
        self.times: list[float] = []
        self.others = self.injected = 0.0

    def __call__(self, result: FrameResult) -> None:
        if len(self.times) == WARM_UP:
            self.others, self.injected = time.thread_time() - time.process_time(), -self.receivers.injections()
        start = time.thread_time()
        self.streamer.send(result)
        self.times.append((time.thread_time() - start) * 1000.0)
        if len(self.times) % 50 == 0:
            self.receivers.drain()

    def figures(self, vts_thread: bool = True) -> dict[str, float]:
        """Median and p95; with `vts_thread`, its CPU (when this process has no other busy thread)."""
        kept = np.array(self.times[WARM_UP:])
        others = self.others + time.process_time() - time.thread_time()
        injected = self.injected + self.receivers.injections()
        figures = {"median": round(float(np.median(kept)), 4), "p95": round(float(np.percentile(kept, 95)), 4)}
        if vts_thread and injected:
            figures["vts_thread_ms_per_injection"] = round(max(others, 0.0) * 1000.0 / injected, 4)
            figures["vts_injections_per_frame"] = round(injected / len(kept), 3)
        return figures


class SendsOnly(Streamer):
    """Sends the first frame's payloads again every frame: only the sends are left to time."""

    def __init__(self, targets: list[StreamTarget]) -> None:
        super().__init__(targets)
        self._kept: dict[str, Any] = {}

    def _payload(self, protocol: str, *args: Any) -> Any:
        if protocol not in self._kept:
            self._kept[protocol] = super()._payload(protocol, *args)
        return self._kept[protocol]


def send_ms(
    protocols: tuple[str, ...], listening: bool, frames: int, fps: float, sends_only: bool = False
) -> dict[str, float]:
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
    first = FrameResult(frame=frame, faces=[face])  # sent again and again (sends_only): its signals are kept
    with receivers(protocols, listening) as where, (SendsOnly if sends_only else Streamer)(where.targets) as streamer:
        if listening and "vts" in protocols:  # timed from VTS's first acknowledgement: frames before skip its write
            deadline = time.monotonic() + 30.0
            while not where.injections():
                if time.monotonic() > deadline:
                    raise SystemExit(f"the benchmark's VTS server acknowledged nothing in 30 s: {streamer.status()}")
                streamer.send(first)
                time.sleep(0.01)
        timed = Timed(streamer, where)
        began = time.perf_counter()
        for index in range(frames):
            if fps:  # the frames at a camera's rate, not flat out
                time.sleep(max(began + index / fps - time.perf_counter(), 0.0))
            # A new result and face a frame, as the pipeline makes: nothing derived from the last one is kept.
            timed(first if sends_only else FrameResult(frame=frame, faces=[dataclasses.replace(face)]))
        return timed.figures()


def pipeline_ms(frames: int) -> dict[str, float]:
    """All four formats as `track --stand-in --source demo` streams them."""
    from facemap_gui.live.pacing import FilePacer
    from facemap_gui.perframe.smoothing import LandmarkSmoother
    from facemap_gui.run.engine import FrameLoop, Sink
    from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline, with_stand_in
    from facemap_gui.sources import open_source

    pipeline = build_pipeline(with_stand_in(RunOptions(source="demo")))
    source, stop = open_source(f"demo:{frames}"), threading.Event()
    with (
        contextlib.closing(pipeline),
        contextlib.closing(source),
        receivers(PROTOCOLS, True) as where,
        Streamer(where.targets) as streamer,
    ):
        timed = Timed(streamer, where)
        FrameLoop(pipeline, [Sink("stream", timed)], LandmarkSmoother(1.0)).run(
            FilePacer(source, stop, print).frames(), stop
        )
        return timed.figures(vts_thread=False)  # the detector's and ORT's threads are busy too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--fps", type=float, default=0.0, help="frames a second (default: as fast as they go)")
    parser.add_argument("--pipeline", action="store_true", help="all four, from the stand-in on the demo clip")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the refused sends' one warning each; the stand-in's
    # The VTS sender keeps its token in the data folder: the benchmark's goes to a folder of its own.
    with tempfile.TemporaryDirectory(prefix="facemap-streaming-") as home:
        os.environ["FACEMAP_GUI_HOME"] = home
        if args.pipeline:
            figures = {"pipeline_osf+vmc+ifm+vts_receiver_ms": pipeline_ms(args.frames)}
        else:
            figures = {
                f"{'+'.join(protocols)}_{'receiver' if listening else 'no_receiver'}_ms": send_ms(
                    protocols, listening, args.frames, args.fps
                )
                for protocols in (*((p,) for p in PROTOCOLS), PROTOCOLS)
                for listening in (True, False)
            }
            figures["osf+vmc+ifm+vts_receiver_sends_only_ms"] = send_ms(PROTOCOLS, True, args.frames, args.fps, True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
