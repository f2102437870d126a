"""The per-file job of a batch: one input (a video or a folder of images) → OUT/<relative path>.jsonl (+ .csv,
+ annotated .mkv). The same function runs in-process, in local worker processes and as a Ray task."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from facemap_gui.core.errors import FacemapError, reason
from facemap_gui.inference.runtime.session import set_intra_op_threads
from facemap_gui.run.engine import FrameLoop, RecordingSink, Sink
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline
from facemap_gui.sinks.output import frame_record, header_record
from facemap_gui.sinks.recording import Recorder, recording_format
from facemap_gui.sinks.recording.landmarks import LandmarkFiles
from facemap_gui.sources import open_source
from facemap_gui.sources.files import IMAGE_SUFFIXES
from facemap_gui.sources.readahead import ReadAhead


@dataclass(frozen=True)
class FileJob:
    source: Path  # a video file, or a folder of images (one sequence)
    relative: str  # its path under the input, which names its outputs under out_dir
    out_dir: Path
    options: RunOptions
    csv: bool = False
    record: bool = False
    frames: int = 0  # stop after this many frames (0 = all)
    threads: int = 0  # ONNX Runtime and OpenCV threads of the process running it (0: leave them as they are)

    def output(self, suffix: str) -> Path:
        return self.out_dir / f"{self.relative}{suffix}"

    @property
    def outputs(self) -> list[Path]:
        """Every file the job writes; the JSON Lines last, as it is the mark of a complete job."""
        extra = [".mkv"] * self.record + [".csv"] * self.csv
        return [self.output(suffix) for suffix in (*extra, ".jsonl")]


@dataclass(frozen=True)
class FileResult:
    relative: str
    status: str  # "done" or "failed"
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    error: str | None = None


def input_stamp(source: Path) -> dict[str, int]:
    """Size and mtime of an input (a folder of images: their total size and newest mtime), recorded in the
    header so a resumed batch knows whether the output belongs to the file as it is now."""
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if source.is_dir() else [source]
    stats = [p.stat() for p in files]
    return {"size": sum(s.st_size for s in stats), "mtime_ns": max(s.st_mtime_ns for s in stats)}


def is_complete(job: FileJob) -> bool:
    """True when every output exists, the JSON Lines ends with its summary of an uninterrupted run, and its
    header's stamp matches the input now."""
    if not all(path.is_file() for path in job.outputs):
        return False
    try:
        with job.output(".jsonl").open("rb") as stream:
            header = json.loads(stream.readline())
            stream.seek(max(0, stream.seek(0, os.SEEK_END) - 65536))
            last = json.loads(stream.read().splitlines()[-1])
        return (
            header.get("batch", {}).get("input") == input_stamp(job.source)
            and last.get("type") == "summary"
            and not last.get("interrupted")
        )
    except (OSError, ValueError, IndexError, AttributeError):
        return False


def _stage(job: FileJob, pid: int | str) -> Path:
    final = job.output(".jsonl")
    return final.with_name(f".{final.name}.{pid}.part")


def remove_parts(job: FileJob) -> None:
    """Remove the part folders of `job` that processes ended before their clean-up left behind."""
    for stage in _stage(job, "*").parent.glob(_stage(job, "*").name):
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def staged(job: FileJob) -> Iterator[Path]:
    """A hidden folder beside the outputs to write them in under their own names (the recorder needs the real
    suffixes); when the block completes they are moved into place, the JSON Lines last. On any exception, or
    a signal, the folder goes and the outputs already there stay as they were."""
    final = job.output(".jsonl")
    stage = _stage(job, os.getpid())
    shutil.rmtree(stage, ignore_errors=True)  # left by a killed process that had this pid
    try:
        stage.mkdir(parents=True)
    except OSError as exc:
        raise FacemapError(
            f"{final.parent}: cannot create the output folder ({reason(exc)}); choose another --output-dir"
        ) from exc
    try:
        yield stage / Path(job.relative).name
        for path in job.outputs:
            os.replace(stage / path.name, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _set_threads(threads: int) -> None:
    if threads:
        set_intra_op_threads(threads)
        cv2.setNumThreads(threads)


def _run(job: FileJob, base: Path, on_frame: Callable[[], None] | None) -> tuple[int, int]:
    """Write the outputs of `job` under `base` (no suffix): returns its frames and faces."""
    source = open_source(str(job.source))  # first: a missing or unreadable input fails with its one line
    stamp = input_stamp(job.source)
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        pipeline = build_pipeline(job.options, video=not source.still)
        stack.callback(pipeline.close)
        header: dict[str, Any] = {
            **header_record(job.options, source, pipeline),
            "batch": {"relative": job.relative, "input": stamp},
        }
        stand_in = pipeline.session.model.stand_in
        loop = FrameLoop(pipeline)
        recorder = files = None
        if job.record:  # the recorder writes the JSON Lines (and CSV) beside its video
            fps, size = recording_format(source)
            recorder = Recorder(Path(f"{base}.mkv"), fps=fps, size=size, header=header, csv=job.csv)
            stack.callback(recorder.close)
            loop.sinks.append(Sink("record", RecordingSink(recorder, stand_in, wait=True)))
        else:
            files = LandmarkFiles(Path(f"{base}.jsonl"), Path(f"{base}.csv") if job.csv else None)
            stack.callback(files.close)
            files.write_header(header)
            loop.sinks.append(Sink("jsonl", lambda result: files.write_frame(frame_record(result))))
        if on_frame is not None:
            loop.sinks.append(Sink("progress", lambda _result: on_frame()))
        loop.run(stack.enter_context(ReadAhead(source.__iter__)), limit=job.frames)
        if recorder is not None:
            status = recorder.close()
            if status.error:
                raise FacemapError(status.error)
        elif files is not None:
            files.write_summary(loop.stats.record(interrupted=False, stand_in=stand_in))
    return loop.stats.frames, loop.stats.faces


def process_file(job: FileJob, on_frame: Callable[[], None] | None = None) -> FileResult:
    """Run one file; a failure is the result's one-line reason, never an exception (but Ctrl+C / SIGTERM,
    which leave no output of this file behind)."""
    _set_threads(job.threads)
    start = time.perf_counter()
    try:
        with staged(job) as base:
            frames, faces = _run(job, base, on_frame)
    except FacemapError as exc:
        return FileResult(job.relative, "failed", seconds=time.perf_counter() - start, error=" ".join(str(exc).split()))
    except Exception as exc:  # a bug or an unforeseen case still stays this file's failure, in one line
        return FileResult(
            job.relative,
            "failed",
            seconds=time.perf_counter() - start,
            error=f"unexpected {type(exc).__name__}: {' '.join(reason(exc).split())}",
        )
    return FileResult(job.relative, "done", frames, faces, time.perf_counter() - start)
