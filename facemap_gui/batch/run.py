"""Running a batch: the jobs in this process, in local worker processes or as Ray tasks, with one progress
line, a final table and OUT/failures.jsonl."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import filelock

from facemap_gui.batch.discover import Found, discover
from facemap_gui.batch.job import FileJob, FileResult, is_complete, process_file, remove_parts
from facemap_gui.core.atomic import write_atomic
from facemap_gui.core.choices import BATCH_FAILURES, BATCH_LOCK
from facemap_gui.core.errors import FacemapError, OneLineMessages, reason, shown
from facemap_gui.core.network import redact, split_url
from facemap_gui.core.progress import REFRESH_S, ProgressLine, time_left
from facemap_gui.run.pipeline_builder import RunOptions

log = logging.getLogger(__name__)

RAY_HINT = 'Ray is not installed; pip install "facemap-gui[cluster]"'
CLUSTER_FORMS = "expected ray (a local Ray instance) or ray://HOST:PORT (the head node's client port, 10001 by default)"
WORKER_STOP_S = 10.0  # how long a stopped worker may take to remove its part files before it is killed
LOG_FORMAT = "facemap-gui: %(levelname)s: %(message)s"  # as cli.py's, in worker processes too


class Once(logging.Filter):
    """Each distinct message once: every file's pipeline says the same (a stand-in model, a fallback)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def _say_once() -> Once:
    once = Once()
    for handler in logging.getLogger().handlers:
        handler.addFilter(once)
    return once


@dataclass(frozen=True)
class BatchSettings:
    out_dir: Path
    jobs: int = 0  # worker processes (0: one per core, at most one per file)
    csv: bool = False
    record: bool = False
    force: bool = False
    frames: int = 0
    cluster: str | None = None  # "ray" (a local Ray instance) or "ray://HOST:PORT"


def plan_workers(files: int, jobs: int, cores: int | None = None) -> tuple[int, int]:
    """Workers and threads per worker, so that workers x threads ≈ cores."""
    cores = cores or os.cpu_count() or 1
    workers = max(1, min(jobs or cores, files or 1))
    return workers, max(1, cores // workers)


class Progress:
    """The batch's progress line, redrawn every REFRESH_S on a thread of its own (the main thread waits for
    results): files, frames, fps, time left."""

    def __init__(self, files: int) -> None:
        self.files, self.done, self.frames = files, 0, 0
        self.start = time.monotonic()
        self.live_frames = lambda: 0  # frames of the files still running (local workers count them)
        self._line = ProgressLine()
        self._stop = threading.Event()
        self._thread = None
        if self._line.live:
            self._thread = threading.Thread(target=self._draw_loop, name="progress", daemon=True)
            self._thread.start()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        frames = max(self.frames, self.live_frames())
        left = time_left(elapsed / self.done * (self.files - self.done)) if self.done else "time left ?"
        return f"{self.done}/{self.files} files, {frames} frames, {frames / max(elapsed, 1e-9):.1f} fps, {left}"

    def _draw_loop(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self._line.show(self.line(), at_once=True)  # this loop keeps the pace

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._line.clear()


def _in_process(jobs: list[FileJob], progress: Progress) -> Iterator[FileResult]:
    count = [0]

    def frame() -> None:
        count[0] += 1

    progress.live_frames = lambda: count[0]
    for job in jobs:
        yield process_file(job, frame)


_frames: Any = None  # a worker's shared frame counter
_in_job = False  # a worker's SIGTERM while idle just ends it


def _worker_init(counter: Any, level: int) -> None:
    global _frames
    _frames = counter
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLineMessages())
    _say_once()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent decides

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not _in_job:
            os._exit(128 + signum)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)  # the parent's terminate(): the job removes its part files


def _count_frame() -> None:
    with _frames.get_lock():
        _frames.value += 1


def _worker_job(job: FileJob) -> FileResult:
    global _in_job
    _in_job = True
    try:
        return process_file(job, _count_frame)
    except KeyboardInterrupt:
        os._exit(128 + signal.SIGTERM)
    finally:
        _in_job = False


def _in_workers(jobs: list[FileJob], workers: int, progress: Progress) -> Iterator[FileResult]:
    context = multiprocessing.get_context("spawn")  # no forked copies of the parent's native libraries' state
    counter = context.Value("q", 0)
    progress.live_frames = lambda: counter.value
    level = logging.getLogger().getEffectiveLevel()
    # concurrent.futures, not multiprocessing.Pool: Pool.terminate() can wait for ever on a queue lock that a
    # worker stopped while idle still held (seen as a Ctrl+C that never returned); an executor notices dead
    # workers instead.
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(counter, level))
    unfinished = {executor.submit(_worker_job, job): job for job in jobs}
    try:
        for future in as_completed(list(unfinished)):
            yield future.result()
            del unfinished[future]
    except BaseException:
        processes = list(executor._processes.values())  # the executor has no public way to stop running calls
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()  # SIGTERM: each running job removes its part files
        for process in processes:
            process.join(WORKER_STOP_S)
            if process.is_alive():
                process.kill()
                process.join()
        for job in unfinished.values():
            remove_parts(job)  # whatever a worker that had to be killed left behind
        raise
    finally:
        executor.shutdown(wait=True)


def check_cluster(cluster: str) -> None:
    """Raises FacemapError unless `cluster` is "ray" or ray://HOST:PORT with a valid host and port: Ray itself
    takes 30 s of retries (and a page of gRPC output) to give up on a typo."""
    if cluster == "ray":
        return
    try:
        parts = split_url(cluster)
        if parts.scheme != "ray" or not parts.hostname or not parts.port or parts.path not in ("", "/"):
            raise ValueError("not a cluster address")
        if parts.query or parts.fragment:
            raise ValueError("nothing may follow the port")
    except ValueError as exc:
        raise FacemapError(f"--cluster {redact(cluster)}: {exc}; {CLUSTER_FORMS}") from None


def _import_ray(cluster: str) -> Any:
    check_cluster(cluster)
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # gRPC's C core logs each failed connection to stderr
    try:
        import ray
    except ImportError:
        raise FacemapError(f"--cluster {cluster}: {RAY_HINT}") from None
    return ray


def _connect_ray(ray: Any, cluster: str) -> None:
    logging.getLogger("ray").setLevel(logging.ERROR)  # its token notice and client retries are not ours to print
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Ray Client connection timed out": the error below says so
            ray.init(
                address=None if cluster == "ray" else cluster,
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=False,
            )
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError...: all mean "no cluster there"
        raise FacemapError(
            f"--cluster {cluster}: cannot connect ({' '.join(reason(exc).split())[:200]}); "
            "check the address and that the cluster is running"
        ) from exc


def _on_ray(ray: Any, jobs: list[FileJob]) -> Iterator[FileResult]:
    unfinished: dict[Any, FileJob] = {}
    try:
        task = ray.remote(num_cpus=1)(process_file)
        pending = [task.remote(job) for job in jobs]
        unfinished.update(zip(pending, jobs, strict=True))
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            unfinished.pop(ready[0])
            yield ray.get(ready[0])
    finally:
        # On Ctrl+C the driver's shutdown ends its tasks (ray.cancel first can abort Ray 2.60's core worker:
        # "Tried to complete task that was not pending"); their part folders are removed here.
        ray.shutdown()
        for job in unfinished.values():
            remove_parts(job)


def _table(results: list[FileResult], complete: int, not_media: int, seconds: float) -> str:
    done = [r for r in results if r.status == "done"]
    failed = [r for r in results if r.status == "failed"]
    frames = sum(r.frames for r in done)
    rows = [
        ("files done", len(done)),
        ("skipped (complete)", complete),
        ("skipped (not media)", not_media),
        ("failed", len(failed)),
        ("frames", frames),
        ("faces", sum(r.faces for r in done)),
        ("wall time s", f"{seconds:.1f}"),
        ("frames/s", f"{frames / max(seconds, 1e-9):.1f}"),
        ("files/hour", f"{len(done) * 3600 / max(seconds, 1e-9):.0f}"),
    ]
    lines = [f"  {name:<20}{value:>10}" for name, value in rows]
    lines += [f"  failed: {r.error}" for r in failed]
    return "\n".join(["facemap-gui: batch", *lines])


def run_batch(inputs: list[str], options: RunOptions, settings: BatchSettings) -> int:
    """0 when every file is done or skipped as complete, 1 when some failed (each said in the table and in
    OUT/failures.jsonl); Ctrl+C or SIGTERM stop the running files (their part files removed) and raise."""
    ray = _import_ray(settings.cluster) if settings.cluster else None  # before any work: says how to get it
    options.check_files()  # what every file needs, once, before any folder is made
    found = discover(inputs, settings.out_dir)
    try:
        settings.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacemapError(
            f"--output-dir {shown(settings.out_dir)}: cannot create it ({reason(exc)}); choose another folder"
        ) from exc
    with _output_lock(settings.out_dir):
        return _run_locked(found, options, settings, ray)


@contextlib.contextmanager
def _output_lock(out_dir: Path) -> Iterator[None]:
    """One batch at a time in an output folder: a second one would interleave its outputs and replace the
    first one's failure list."""
    lock = filelock.FileLock(out_dir / BATCH_LOCK, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise FacemapError(
            f"--output-dir {shown(out_dir)}: another batch is writing there; wait for it to end or choose another "
            "folder"
        ) from None
    except OSError as exc:
        raise FacemapError(f"--output-dir {shown(out_dir)}: cannot write there ({reason(exc)})") from exc
    try:
        yield
    finally:
        lock.release()


def _run_locked(found: Found, options: RunOptions, settings: BatchSettings, ray: Any) -> int:
    once = _say_once()
    for path, why in found.skipped:
        log.warning("%s: skipped, %s", shown(path), why)
    jobs = [
        FileJob(
            source,
            relative,
            settings.out_dir,
            replace(options, source=str(source)),
            csv=settings.csv,
            record=settings.record,
            frames=settings.frames,
        )
        for relative, source in found.jobs.items()
    ]
    todo = jobs if settings.force else [job for job in jobs if not is_complete(job)]
    workers, threads = (1, 1) if settings.cluster else plan_workers(len(todo), settings.jobs)
    if workers > 1 or settings.cluster:  # a process of its own: this one's threads are left as they are
        todo = [replace(job, threads=threads) for job in todo]
    start = time.monotonic()
    # Ray was imported for a cluster; it connects before the progress line and the table: a missing one is one line.
    if settings.cluster:
        _connect_ray(ray, settings.cluster)
    progress = Progress(len(todo))
    results: list[FileResult] = []
    try:
        if settings.cluster:
            stream = _on_ray(ray, todo)
        elif workers == 1:
            stream = _in_process(todo, progress)
        else:
            stream = _in_workers(todo, workers, progress)
        for result in stream:
            results.append(result)
            progress.done += 1
            progress.frames += result.frames
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(once)
        progress.close()
        print(_table(results, len(jobs) - len(todo), len(found.skipped), time.monotonic() - start), file=sys.stderr)
        failures = "".join(
            json.dumps({"input": r.relative, "error": r.error}) + "\n" for r in results if r.status == "failed"
        )
        failure_list = settings.out_dir / BATCH_FAILURES
        try:
            write_atomic(failure_list, failures)
        except OSError as exc:
            raise FacemapError(
                f"{shown(failure_list)}: cannot write the failure list ({reason(exc)}); the table above lists them"
            ) from exc
    return 1 if any(r.status == "failed" for r in results) else 0
