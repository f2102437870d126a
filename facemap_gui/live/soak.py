"""Soak run (`facemap-gui bench --soak MINUTES`): the worker the window uses, left running on the endless demo
clip while runtime and precision are switched over and over and recording is started and stopped; it reports
what a long session would show going wrong: failed switches, dropped frames, bad recordings, memory growth,
exceptions. Every recording is checked (frames decode, landmark lines complete) and then deleted."""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import psutil

from facemap_gui.core.errors import FacemapError
from facemap_gui.inference.runtime import PRECISIONS, available_runtimes
from facemap_gui.live.events import EventKind, LiveFrame, WorkerEvent, WorkerState
from facemap_gui.live.worker import LiveWorker
from facemap_gui.run.pipeline_builder import RunOptions
from facemap_gui.sinks.recording import RecorderStatus

log = logging.getLogger(__name__)

SOURCE = "demo:0"  # the demo clip looped for ever, paced at its 30 fps like a camera
DISPLAY_S = 1 / 30  # how often the loop takes the newest frame, as the window's repaint does
WARM_UP_S = 5.0  # RSS at start is taken after this, once models, encoders and buffers have settled
RSS_EVERY_S = 10.0
SWITCH_TIMEOUT_S = 120.0
RECORDING_SUFFIXES = (".mkv", ".mp4")


@dataclass
class SoakReport:
    minutes: float
    plan: list[str]  # the runtime/precision pairs switched between
    frames_processed: int = 0
    frames_shown: int = 0
    frames_dropped: int = 0  # replaced in the capture mailbox before inference took them
    switches_requested: int = 0
    switches_done: int = 0
    switches_fallback: int = 0  # done, but on another runtime/precision, with the reason shown
    switches_failed: int = 0
    recordings: int = 0
    frames_recorded: int = 0
    recorder_dropped: int = 0
    recording_problems: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_samples_mb: list[float] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.exceptions and not self.recording_problems and self.switches_failed == 0

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def lines(self) -> list[str]:
        fps = self.frames_processed / max(self.minutes * 60, 1e-9)
        return [
            f"soak: {self.minutes * 60:.0f} s on {SOURCE}, switching between {', '.join(self.plan)}",
            f"  frames processed  {self.frames_processed} ({fps:.1f} fps), shown {self.frames_shown}, "
            f"dropped {self.frames_dropped}",
            f"  switches          {self.switches_requested} requested, {self.switches_done} done "
            f"({self.switches_fallback} with a fallback), {self.switches_failed} failed",
            f"  recordings        {self.recordings} started and stopped, {self.frames_recorded} frames, "
            f"recorder dropped {self.recorder_dropped}, problems {len(self.recording_problems)}",
            f"  RSS               start {self.rss_start_mb:.0f} MB (after {WARM_UP_S:g} s), end "
            f"{self.rss_end_mb:.0f} MB, peak {self.rss_peak_mb:.0f} MB",
            f"  exceptions        {len(self.exceptions)}",
            *(f"    {text}" for text in self.exceptions[:10] + self.recording_problems[:10]),
            f"soak: {'PASSED' if self.passed else 'FAILED'}",
        ]


SWITCH_OUTCOMES = {EventKind.SWITCHED: "done", EventKind.FALLBACK: "fallback", EventKind.SWITCH_FAILED: "failed"}


class _Watcher(logging.Handler):
    """Collects what a user would see as a failure: worker messages flagged as errors, ERROR log records and
    exceptions escaping any thread. Switch outcomes are told apart by the worker's event kinds."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._lock = threading.Lock()  # not `lock`: logging.Handler holds that one while it calls emit()
        self.exceptions: list[str] = []
        self.switch_outcomes: list[str] = []  # "done", "fallback" or "failed", in order

    # WorkerListener
    def frame_ready(self) -> None:
        pass

    def state_changed(self, state: WorkerState, message: str) -> None:
        if state is WorkerState.FAILED:
            self.failure(f"worker failed: {message}")

    def worker_event(self, event: WorkerEvent) -> None:
        outcome = SWITCH_OUTCOMES.get(event.kind)
        if outcome:
            self._outcome(outcome)
        if event.error and event.kind is not EventKind.FALLBACK:
            self.failure(event.text)

    # logging.Handler
    def emit(self, record: logging.LogRecord) -> None:
        self.failure(f"log {record.levelname}: {record.getMessage()}")

    def thread_exception(self, args: threading.ExceptHookArgs) -> None:
        thread = args.thread.name if args.thread else "?"
        self.failure(f"thread {thread}: {args.exc_type.__name__}: {args.exc_value}")

    def _outcome(self, outcome: str) -> None:
        with self._lock:
            self.switch_outcomes.append(outcome)

    def failure(self, text: str) -> None:
        with self._lock:
            self.exceptions.append(text)


def switch_plan(options: RunOptions) -> list[tuple[str, str]]:
    """Every runtime that can run here (the simulator only if allowed) with every precision whose model is
    present: the soak cycles through these."""
    precisions = []
    for precision in PRECISIONS:
        try:
            options.model_path(precision)
        except FacemapError:
            continue
        precisions.append(precision)
    runtimes = [key for key, reason in available_runtimes(options.allow_simulator).items() if reason is None]
    return [(runtime, precision) for runtime in runtimes for precision in precisions]


def check_recording(status: RecorderStatus) -> str | None:
    """None when every written frame decodes and the landmark file holds whole lines ending in a summary."""
    name = status.video_path.name
    try:
        with av.open(str(status.video_path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        lines = status.landmarks_path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
    except (OSError, av.error.FFmpegError, ValueError) as exc:
        return f"{name}: unreadable ({exc})"
    frames = sum(r["type"] == "frame" for r in records)
    last = records[-1]["type"] if records else None
    if decoded != status.frames_written or frames != status.frames_written or last != "summary":
        return (
            f"{name}: {status.frames_written} frames written, {decoded} decode, {frames} landmark lines, "
            f"last line {last}"
        )
    return None


def run_soak(
    options: RunOptions,
    minutes: float,
    folder: Path | None = None,
    switch_every_s: float | None = None,
    record_every_s: float | None = None,
) -> SoakReport:
    """Run the live worker for `minutes`; a switch every `switch_every_s` and a recording toggled every
    `record_every_s` (defaults scale with the duration: 5 s and 30 s for ten minutes)."""
    duration = minutes * 60
    switch_every_s = switch_every_s or min(max(duration / 120, 1.0), 5.0)
    record_every_s = record_every_s or min(max(duration / 20, 2.0), 30.0)
    plan = switch_plan(options)
    first_runtime, first_precision = plan[0]
    options = replace(options, source=SOURCE, runtime=first_runtime, precision=first_precision)
    report = SoakReport(minutes=minutes, plan=[f"{r}/{p}" for r, p in plan])
    watcher = _Watcher()
    package_log = logging.getLogger("facemap_gui")
    package_log.addHandler(watcher)
    previous_hook, threading.excepthook = threading.excepthook, watcher.thread_exception
    worker = LiveWorker(options, watcher)
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="facemap-soak-", dir=folder) as scratch:
        try:
            _drive(worker, report, watcher, plan, duration, switch_every_s, record_every_s, Path(scratch), process)
        finally:
            _finish_recording(worker, report)
            worker.stop(timeout=10.0)
            threading.excepthook = previous_hook
            package_log.removeHandler(watcher)
    report.rss_end_mb = process.memory_info().rss / 2**20
    report.rss_peak_mb = max([report.rss_end_mb, *report.rss_samples_mb])
    report.frames_dropped = worker.dropped
    report.exceptions = watcher.exceptions
    outcomes = watcher.switch_outcomes
    report.switches_done = outcomes.count("done") + outcomes.count("fallback")
    report.switches_fallback = outcomes.count("fallback")
    report.switches_failed = outcomes.count("failed") + report.switches_requested - len(outcomes)
    return report


def _drive(
    worker: LiveWorker,
    report: SoakReport,
    watcher: _Watcher,
    plan: list[tuple[str, str]],
    duration: float,
    switch_every_s: float,
    record_every_s: float,
    scratch: Path,
    process: psutil.Process,
) -> None:
    worker.start()
    start = time.monotonic()
    while worker.state is not WorkerState.RUNNING:
        if worker.state is WorkerState.FAILED or time.monotonic() - start > SWITCH_TIMEOUT_S:
            raise FacemapError(f"the worker did not start ({worker.state.value}): {watcher.exceptions}")
        time.sleep(0.05)
    start = time.monotonic()
    targets = itertools.cycle(plan[1:] + plan[:1]) if len(plan) > 1 else itertools.repeat(plan[0])
    next_switch, next_record, next_rss = switch_every_s, record_every_s, WARM_UP_S
    latest: LiveFrame | None = None
    while (elapsed := time.monotonic() - start) < duration:
        if (frame := worker.take_latest()) is not None:
            latest = frame
            report.frames_shown += 1
        if elapsed >= next_rss:
            rss = process.memory_info().rss / 2**20
            report.rss_start_mb = report.rss_start_mb or rss
            report.rss_samples_mb.append(round(rss, 1))
            next_rss += RSS_EVERY_S
        if elapsed >= next_switch:
            # One switch at a time, as a user clicks: the next is requested once the last one has landed.
            if len(watcher.switch_outcomes) >= report.switches_requested:
                worker.request_switch(*next(targets))
                report.switches_requested += 1
                next_switch = elapsed + switch_every_s
            elif elapsed - next_switch > SWITCH_TIMEOUT_S:
                watcher.failure(f"Switch to the next runtime failed: no outcome within {SWITCH_TIMEOUT_S:g} s")
        if elapsed >= next_record:
            if worker.recorder is None:
                suffix = RECORDING_SUFFIXES[report.recordings % len(RECORDING_SUFFIXES)]
                try:
                    worker.start_recording(scratch / f"soak-{report.recordings:04d}{suffix}")
                except FacemapError as exc:
                    watcher.failure(f"cannot record: {exc}")
            else:
                _finish_recording(worker, report)
            next_record += record_every_s
        time.sleep(DISPLAY_S)
    landing = time.monotonic()
    while len(watcher.switch_outcomes) < report.switches_requested and time.monotonic() - landing < SWITCH_TIMEOUT_S:
        time.sleep(0.05)  # let the last switch land rather than count it as failed
    latest = worker.take_latest() or latest
    report.frames_processed = latest.processed if latest is not None else 0


def _finish_recording(worker: LiveWorker, report: SoakReport) -> None:
    status = worker.stop_recording()
    if status is None:
        return
    report.recordings += 1
    report.frames_recorded += status.frames_written
    report.recorder_dropped += status.frames_dropped
    problem = status.error or check_recording(status)
    if problem:
        report.recording_problems.append(problem)
    for path in (status.video_path, status.landmarks_path):
        path.unlink(missing_ok=True)
