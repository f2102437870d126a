"""The live engine behind the window (Qt-free): a capture thread and an inference thread.

camera: capture thread ──(one-slot Mailbox: stale frames dropped and counted)──► inference thread
file:   read on the inference thread at the file's own clock (FilePacer: late frames skipped and counted)
The capture thread reads a camera as fast as it delivers (reopening a camera that disappears). The inference
thread runs the pipeline, smooths, makes the picture the window paints (the frame scaled to the view, the
overlay drawn on it), feeds the recorder (never blocking) and keeps only the newest result for the window,
which it tells through `WorkerListener.frame_ready` at most once until the window takes it. Runtime/precision
switches are swapped in between frames. A model still being made (the first launch's stand-in) is waited for
while the source's frames are shown without landmarks.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from facemap_gui.core.errors import FacemapError, InputError
from facemap_gui.core.mailbox import Mailbox
from facemap_gui.inference.runtime.session import LandmarkSession
from facemap_gui.inference.runtime.switcher import SessionSwitcher
from facemap_gui.live.events import (
    Captured,
    EventKind,
    LiveFrame,
    ViewOptions,
    WorkerEvent,
    WorkerListener,
    WorkerState,
)
from facemap_gui.live.pacing import FilePacer, read_failed
from facemap_gui.live.picture import fitted_size, scaled_copy
from facemap_gui.live.settings import load_calibration, save_calibration
from facemap_gui.perframe.calibration import CalibrationSink, Neutral
from facemap_gui.perframe.pipeline import FrameResult, Pipeline
from facemap_gui.perframe.smoothing import LandmarkSmoother
from facemap_gui.run.engine import FrameLoop, RecordingSink, Sink
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline, open_session
from facemap_gui.sinks.output import header_record
from facemap_gui.sinks.overlay import draw_overlay
from facemap_gui.sinks.recording import Recorder, RecorderStatus, recording_format
from facemap_gui.sinks.streaming import Streamer, StreamStatus, StreamTarget
from facemap_gui.sources import FrameSource, open_source

log = logging.getLogger(__name__)

CAMERA_RETRY_S = 2.0
IDLE_POLL_S = 0.05  # how often an idle worker looks for switches and view changes
EMA = 0.1  # weight of the newest sample in the running per-stage figures


class LiveWorker:
    """Runs one source through one pipeline until `stop()`. Start-up (opening the source, building the pipeline)
    happens on the inference thread, so a slow camera or model never freezes the window."""

    def __init__(
        self,
        options: RunOptions,
        listener: WorkerListener,
        view: ViewOptions | None = None,
        model: Future[Path] | None = None,
    ) -> None:
        """`model`: the landmark model still being made; until it is ready the frames are shown without
        landmarks (`LiveFrame.runtime` None), then it replaces `options.model`."""
        self.options = options
        self._pending_model = model
        self.view = view or ViewOptions(tracking=options.tracking is not False)
        self.state = WorkerState.IDLE
        self.source: FrameSource | None = None
        self.pipeline: Pipeline | None = None
        self._listener = listener
        self._mailbox: Mailbox[Captured] = Mailbox()
        self._feed: Mailbox[Captured] | FilePacer = self._mailbox  # a file's frames come from a FilePacer
        self._stop = threading.Event()
        self._latest_lock = threading.Lock()
        self._latest: LiveFrame | None = None
        self._notified = False
        self._switcher = SessionSwitcher(self._open_session)
        self._smoother = LandmarkSmoother()
        self._threads: list[threading.Thread] = []
        self._stage_ms: dict[str, float] = {}
        self._pipeline_ms = 0.0
        self._processed = 0
        self._detector_calls = 0
        self._failures = 0
        self._shown: FrameResult | None = None
        self._shown_view: ViewOptions | None = None
        self._recorder_lock = threading.Lock()
        self._recording: RecordingSink | None = None
        self._engine: FrameLoop | None = None  # the frame loop, once the pipeline is built
        self._captured_at = 0.0  # when the frame in the loop was captured (for the picture's latency)
        self._stream_targets: list[StreamTarget] = []
        self._streamer: Streamer | None = None
        self._neutral: Neutral | None = None  # the user's saved neutral face (loaded on the inference thread)
        self._calibration = CalibrationSink(self._calibrated, self._calibration_failed)

    # -- control, from the GUI thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn(self._run, "inference")

    def stop(self, timeout: float = 0.8) -> bool:
        """Stop both threads; True when they ended within `timeout` (they are daemons either way)."""
        if self.state not in (WorkerState.FAILED, WorkerState.IDLE):
            self._set_state(WorkerState.STOPPING)
        self._stop.set()
        self._mailbox.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not self.alive

    @property
    def alive(self) -> bool:
        """Some thread of this worker is still running."""
        return any(t.is_alive() for t in self._threads)

    def request_switch(self, runtime: str, precision: str) -> None:
        self._switcher.request(runtime, precision)

    @property
    def switching(self) -> bool:
        return self._switcher.busy

    def take_latest(self) -> LiveFrame | None:
        """The newest frame since the last call, or None; re-arms `frame_ready`."""
        with self._latest_lock:
            latest, self._latest = self._latest, None
            self._notified = False
            return latest

    @property
    def dropped(self) -> int:
        return self._feed.dropped

    def start_recording(self, path: Path) -> Recorder:
        """Record the annotated frames from now on (source resolution, source timestamps) and their landmarks,
        after the `process` JSONL header. Raises FacemapError with the reason (file exists, folder not
        writable, nothing running)."""
        source, pipeline = self.source, self.pipeline
        if source is None or pipeline is None or self.state is not WorkerState.RUNNING:
            raise FacemapError(f"{self.options.source}: nothing to record (the source is not running)")
        fps, size = recording_format(source)
        if self._shown is not None:  # a camera may deliver another size than it reported
            size = self._shown.frame.size
        recorder = Recorder(path, fps=fps, size=size, header=header_record(self.options, source, pipeline))
        recording = RecordingSink(recorder, pipeline.session.model.stand_in, wait=False)  # drops rather than wait
        with self._recorder_lock:
            previous, self._recording = self._recording, recording
        if previous is not None:
            previous.recorder.close()
        return recorder

    def stop_recording(self) -> RecorderStatus | None:
        """Finish the files; the final status, or None when nothing was recording."""
        with self._recorder_lock:
            recording, self._recording = self._recording, None
        return recording.recorder.close() if recording is not None else None

    @property
    def recorder(self) -> Recorder | None:
        recording = self._recording
        return recording.recorder if recording is not None else None

    def set_stream(self, targets: list[StreamTarget]) -> None:
        """Send every processed frame to `targets` (none: stop); the Streamer is replaced between frames."""
        self._stream_targets = list(targets)

    @property
    def neutral(self) -> Neutral | None:
        """The neutral face what is streamed is relative to (None: uncalibrated)."""
        return self._neutral

    def calibrate(self, seconds: float) -> None:
        """Record the neutral face over the next `seconds` of the source (on the inference thread), then save it
        and stream relative to it; told as a CALIBRATED or CALIBRATION_FAILED event."""
        self._calibration.start(seconds)

    def stream_status(self) -> list[StreamStatus]:
        streamer = self._streamer
        return streamer.status() if streamer is not None else []

    # -- threads ------------------------------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _set_state(self, state: WorkerState, message: str = "") -> None:
        self.state = state
        self._listener.state_changed(state, message)

    def _open_session(self, runtime: str, precision: str) -> LandmarkSession:
        return open_session(self.options, runtime, precision)

    def _run(self) -> None:
        self._set_state(WorkerState.STARTING, f"Opening {self.options.source}…")
        held: Captured | None = None
        self._neutral, warning = load_calibration()
        if warning is not None:
            self._tell(EventKind.CALIBRATION_FAILED, warning)
        try:
            self.source = open_source(self.options.source)
            if self._pending_model is not None:
                held = self._preview()
                if self._stop.is_set():
                    self._close()
                    return
                self.options = dataclasses.replace(self.options, model=self._pending_model.result())
            self.pipeline = build_pipeline(self.options, video=not self.source.still)
            self._engine = FrameLoop(
                self.pipeline,
                [
                    Sink("count", self._count),
                    Sink("picture", lambda shown: self._publish(shown, self._captured_at)),
                    Sink("record", self._record),
                    Sink("calibrate", self._calibration),
                    Sink("stream", self._stream),
                ],
            )
        except FacemapError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # a bug must reach the window, not kill a thread silently
            log.exception("starting %s failed", self.options.source)
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        if self._stop.is_set():
            self.source.close()
            self._close()
            return
        if self._pending_model is None:
            self._start_feed()
        self._set_state(WorkerState.RUNNING, self.source.name)
        self._report_session(self.pipeline.session)
        try:
            if held is not None and self._feed.closed:  # the source ended (an image) before the model came
                self._process(held)
            self._loop()
        finally:
            self._close()

    def _start_feed(self) -> None:
        assert self.source is not None
        if self.source.live:
            self._spawn(self._capture, "capture")
        else:
            on_error = functools.partial(self._tell, EventKind.SOURCE_ERROR, subject=self.source.name)
            self._feed = FilePacer(self.source, self._stop, on_error)

    def _preview(self) -> Captured | None:
        """Show the source's frames without landmarks until the model being made is ready (or we stop); the
        last frame shown, to process once the model is there should the source end meanwhile."""
        assert self._pending_model is not None
        self._start_feed()
        shown = None
        while not self._stop.is_set() and not self._pending_model.done():
            captured = self._feed.get(IDLE_POLL_S)
            if captured is not None:
                shown = captured
                self._publish(FrameResult(captured.frame, []), captured.captured_at)
        return shown

    def _fail(self, message: str) -> None:
        if self.source is not None:
            self.source.close()
        self._set_state(WorkerState.FAILED, message)

    def _close(self) -> None:
        self._retarget([])
        self._feed.close()  # a file's pacer closes its source; a camera's capture thread closes its own
        if self.pipeline is not None:
            self.pipeline.close()

    def _loop(self) -> None:
        assert self.pipeline is not None
        while not self._stop.is_set():
            self._poll_switch()
            captured = self._feed.get(IDLE_POLL_S)
            if captured is not None:
                self._process(captured)
                continue
            if self._feed.closed and not self._stop.is_set():
                if self.state is WorkerState.RUNNING:
                    self._set_state(WorkerState.IDLE, f"End of {self.options.source} ({self._processed} frames)")
                self._stop.wait(IDLE_POLL_S)
                if self._shown is not None and self.view != self._shown_view:
                    self._publish(self._shown, None)  # redraw the last frame with the new overlay options

    def _poll_switch(self) -> None:
        outcome = self._switcher.poll()
        if outcome is None:
            return
        assert self.pipeline is not None
        if outcome.session is None:
            self._tell(EventKind.SWITCH_FAILED, str(outcome.error), f"{outcome.runtime.upper()} {outcome.precision}")
            return
        self.pipeline.session = outcome.session
        self._report_session(outcome.session, switched=True)

    def _report_session(self, session: LandmarkSession, switched: bool = False) -> None:
        """A fallback is always told, with its reason; a plain switch is confirmed."""
        info = session.info
        if info.fallback_reason:
            self._tell(
                EventKind.FALLBACK,
                info.fallback_reason,
                f"{info.runtime.upper()} {info.precision} instead of {info.requested}",
            )
        elif switched:
            self._tell(EventKind.SWITCHED, info.summary())

    def _tell(self, kind: EventKind, detail: str, subject: str = "") -> None:
        self._listener.worker_event(WorkerEvent(kind, detail, subject))

    def _process(self, captured: Captured) -> None:
        assert self.pipeline is not None and self._engine is not None and self.source is not None
        view = self.view
        self.pipeline.set_tracking(view.tracking and not self.source.still)
        self._smoother.strength = view.smoothing_strength
        self._engine.smoother = self._smoother if view.smoothing else None
        if not view.smoothing:
            self._smoother.reset()
        self._captured_at = captured.captured_at
        start = time.perf_counter()
        try:
            shown = self._engine.step(captured.frame)
        except Exception as exc:  # one bad frame must not end the stream
            self._failures += 1
            if self._failures == 1:
                log.exception("frame %d failed", captured.frame.index)
                self._tell(EventKind.FRAME_FAILED, f"{type(exc).__name__}: {exc}", str(captured.frame.index))
            return
        if self._failures:
            self._tell(EventKind.RECOVERED, str(self._failures))
            self._failures = 0
        for stage, ms in shown.timings_ms.items():
            self._average(stage, ms)
        self._pipeline_ms = self._average("total", (time.perf_counter() - start) * 1000.0)

    def _count(self, result: FrameResult) -> None:
        self._processed += 1
        self._detector_calls += result.detector_looked

    def _record(self, shown: FrameResult) -> None:
        with self._recorder_lock:
            if self._recording is not None:  # at the source's size: drawn again on a copy of the frame
                self._recording.overlay = self.view.overlay
                self._recording(shown)

    # -- streaming: on the inference thread, after the frame is published --------------------------------

    def _stream(self, shown: FrameResult) -> None:
        targets = self._stream_targets
        if targets != (self._streamer.targets if self._streamer is not None else []):
            self._retarget(targets)
        if self._streamer is not None:
            self._streamer.neutral = self._neutral
            self._streamer.send(shown)

    def _calibrated(self, neutral: Neutral) -> None:
        save_calibration(neutral)
        self._neutral = neutral
        self._tell(EventKind.CALIBRATED, str(neutral.frames))

    def _calibration_failed(self, exc: FacemapError) -> None:
        self._tell(EventKind.CALIBRATION_FAILED, str(exc))

    def _retarget(self, targets: list[StreamTarget]) -> None:
        """Stream to `targets` from this frame on (none: stop); the senders of targets kept go on."""
        if self._streamer is None:
            self._streamer = Streamer(targets, self._neutral) if targets else None
        elif targets:
            self._streamer.retarget(targets)
        else:
            self._streamer.close()
            self._streamer = None

    def _average(self, stage: str, ms: float) -> float:
        previous = self._stage_ms.get(stage)
        self._stage_ms[stage] = ms if previous is None else previous + EMA * (ms - previous)
        return self._stage_ms[stage]

    def _publish(self, shown: FrameResult, captured_at: float | None) -> None:
        """Make the picture (the raw frame stays clean for redraws) and make it the newest frame."""
        view = self.view
        start = time.perf_counter()
        session = self.pipeline.session if self.pipeline is not None else None  # None: a preview, no model yet
        stand_in = session is not None and session.model.stand_in
        size = fitted_size(shown.frame.size, view.display_area)
        picture = scaled_copy(shown.frame.rgb, size)
        draw_overlay(picture, shown, view.overlay, stand_in=stand_in, scale=size[0] / shown.frame.size[0])
        self._average("overlay", (time.perf_counter() - start) * 1000.0)
        self._shown, self._shown_view = shown, view
        live = LiveFrame(
            result=shown,
            picture=picture,
            captured_at=time.monotonic() if captured_at is None else captured_at,
            runtime=session.info if session is not None else None,
            stand_in=stand_in,
            processed=self._processed,
            dropped=self._feed.dropped,
            stage_ms={k: v for k, v in self._stage_ms.items() if k != "total"},
            pipeline_ms=self._pipeline_ms,
            detector_calls=self._detector_calls,
        )
        with self._latest_lock:
            self._latest = live
            notify, self._notified = not self._notified, True
        if notify:
            self._listener.frame_ready()

    def _capture(self) -> None:
        """Read a camera's frames into the mailbox as they come. Closes the mailbox at the end of the source,
        so the inference thread still takes the last frame."""
        source = self.source
        assert source is not None
        try:
            while not self._stop.is_set():
                try:
                    frame = source.read()
                except InputError as exc:
                    source = self._reopen(source, str(exc))
                    if source is None:
                        return
                    continue
                if frame is None:
                    return
                self._mailbox.put(Captured(frame, time.monotonic()))
        except Exception as exc:  # a bug in a source: reported like the end of the stream, never silent
            if source is not None:
                self._tell(EventKind.SOURCE_ERROR, read_failed(source, exc), source.name)
        finally:
            if source is not None:
                source.close()
            self._mailbox.close()

    def _reopen(self, lost: FrameSource, reason: str) -> FrameSource | None:
        """A camera that disappeared: say so and try again every few seconds until it is back or we stop."""
        lost.close()
        self._tell(EventKind.SOURCE_ERROR, f"{reason} — retrying every {CAMERA_RETRY_S:.0f} s", lost.name)
        while not self._stop.wait(CAMERA_RETRY_S):
            try:
                source = open_source(self.options.source)
            except InputError:
                continue
            self.source = source
            self._tell(EventKind.SOURCE_BACK, "", source.name)
            return source
        return None
