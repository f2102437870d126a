"""The landmark files beside a recording: JSON Lines in the `process --output` schema, and optionally CSV."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from facemap_gui.core.errors import FacemapError, write_fix
from facemap_gui.perframe.expressions import ARKIT_NAMES
from facemap_gui.perframe.signals import RECORD_NAMES
from facemap_gui.sinks.output import JsonlWriter

# OpenFace-style layout: one row per face per frame (`face`: its track id), all x then all y (iBUG-68 order), pose in
# degrees, then the face signals (facemap_gui.perframe.signals), then the ARKit-named expressions
# (facemap_gui.perframe.expressions).
CSV_COLUMNS = (
    "frame",
    "timestamp_ms",
    "face",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "score",
    *(f"x_{i}" for i in range(68)),
    *(f"y_{i}" for i in range(68)),
    "yaw",
    "pitch",
    "roll",
    *RECORD_NAMES,
    *ARKIT_NAMES,
    "stand_in",  # 1: made with the generated stand-in model (random weights, landmarks not real); 0: the real one
)


def csv_rows(record: dict[str, Any], stand_in: bool) -> list[list[Any]]:
    """Rows of one `frame_record`, so CSV and JSON Lines carry the same (rounded) numbers; `stand_in`: the
    header's mark, on every row."""
    rows = []
    for face in record["faces"]:
        xs, ys = zip(*face["landmarks"], strict=True)
        pose = face["pose"]
        rows.append(
            [
                record["frame"],
                record["timestamp_ms"],
                face["id"],
                *face["box"],
                face["score"],
                *xs,
                *ys,
                pose["yaw"],
                pose["pitch"],
                pose["roll"],
                *(face["signals"][name] for name in RECORD_NAMES),
                *(face["blendshapes"][name] for name in ARKIT_NAMES),
                int(stand_in),
            ]
        )
    return rows


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise FacemapError(f"{path}: cannot write ({exc.strerror}); {write_fix(exc)}") from exc


def _create(path: Path, mode: str, **text: Any) -> IO:
    """Open a new file; never one that exists."""
    try:
        return path.open(mode, **text)
    except OSError as exc:
        raise FacemapError(f"{path}: cannot create ({exc.strerror}); choose another name or folder") from exc


class LandmarkFiles:
    """Creates the JSONL (and CSV) file and flushes every frame, so a killed process leaves only whole lines."""

    def __init__(self, jsonl_path: Path, csv_path: Path | None) -> None:
        self.jsonl_path = jsonl_path
        self.csv_path = csv_path
        self._stand_in = False
        self._jsonl_stream = _create(jsonl_path, "xb", buffering=0)  # JsonlWriter writes whole lines itself
        self._jsonl = JsonlWriter(self._jsonl_stream, jsonl_path)
        self._csv_stream: IO[str] | None = None
        if csv_path is not None:
            try:
                # The csv module writes its own line ends.
                self._csv_stream = _create(csv_path, "x", encoding="utf-8", newline="")
            except FacemapError:
                self._jsonl_stream.close()
                jsonl_path.unlink()
                raise
            self._csv = csv.writer(self._csv_stream)

    def write_header(self, header: dict[str, Any]) -> None:
        self._stand_in = bool(header.get("model", {}).get("stand_in", False))
        self._jsonl.write(header)
        self._write_csv([CSV_COLUMNS])

    def write_frame(self, record: dict[str, Any]) -> None:
        self._jsonl.write(record)
        self._write_csv(csv_rows(record, self._stand_in))

    def write_summary(self, summary: dict[str, Any]) -> None:
        self._jsonl.write(summary)

    def _write_csv(self, rows: list) -> None:
        if self._csv_stream is None or not rows:
            return
        assert self.csv_path is not None  # a CSV stream is opened only for a CSV path
        with _writing(self.csv_path):
            self._csv.writerows(rows)
            self._csv_stream.flush()

    def close(self) -> None:
        """Close both files. A failing last flush is ignored: every complete line is already on disk."""
        for stream in (self._jsonl_stream, self._csv_stream):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
