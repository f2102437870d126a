"""What bench prints and writes: each run's stages and figures, the summary with the baseline ratio, the JSON file."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from facemap_gui.bench.measure import RunFigures
from facemap_gui.core.atomic import write_atomic
from facemap_gui.core.errors import FacemapError


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def summarise(results: dict[str, list[RunFigures]], baseline: list[dict[str, Any]]) -> dict[str, Any]:
    base_fps = statistics.median(b["fps"] for b in baseline) if baseline else None
    out: dict[str, Any] = {"baseline_fps_median": base_fps}
    for label, runs in results.items():
        fps = statistics.median(r.fps for r in runs)
        out[label] = {
            "fps_median": round(fps, 2),
            "fps_best": round(max(r.fps for r in runs), 2),
            "ratio": round(fps / base_fps, 2) if base_fps else None,
        }
    return out


def print_run(figures: RunFigures, repeat: int) -> None:
    label = " (STAND-IN model: speed only, its landmarks are not real)" if figures.stand_in else ""
    print(f"\n{figures.label} run {repeat + 1}: {figures.runtime}{label}")
    print(f"  {'stage':<20}{'median ms':>10}{'p95 ms':>10}{'mean ms':>10}{'frames':>8}")
    stages = figures.stages.summary()
    if figures.recording and figures.recording["encode_ms"]:
        stages["encode (recorder)"] = figures.recording["encode_ms"]
    for stage, values in stages.items():
        print(
            f"  {stage:<20}{values['median']:>10.3f}{values['p95']:>10.3f}{values['mean']:>10.3f}{values['count']:>8}"
        )
    start_mb, end_mb = figures.rss_mb[0][1], figures.rss_mb[-1][1]
    print(
        f"  {figures.fps:.1f} fps end to end · face on {figures.frames_with_face}/{figures.frames} frames · "
        f"full-frame detector on {figures.detector_calls} frames ({figures.background_detections} of them in "
        f"the background), {figures.tracked_faces} faces tracked "
        f"({figures.lost_tracks} lost)"
    )
    alone = ", ".join(f"{us:.0f} µs a face for {n}" for n, us in figures.decode_alone_us.items())
    print(f"  decoding the 265 parameters alone, warm caches: {alone}")
    print(
        f"  session {figures.session_ms:.0f} ms (pipeline {figures.build_ms:.0f} ms) · RSS {start_mb:.0f} MB "
        f"after warm-up → {end_mb:.0f} MB at the end ({figures.seconds:.0f} s) · peak {figures.peak_rss_mb:.0f} MB"
    )
    threads = ", ".join(f"{name} {ms:.2f}" for name, ms in figures.cpu_ms.items() if name != "process")
    print(f"  CPU a frame: {figures.cpu_ms['process']:.2f} ms in all · by thread: {threads}")
    if figures.recording:
        print(
            f"  recorded {figures.recording['frames']} frames with {figures.recording['codec']} "
            f"({figures.recording['dropped']} dropped) to {figures.recording['video']}"
        )


def print_summary(summary: dict[str, Any], load: list[float] | None) -> None:
    base = summary["baseline_fps_median"]
    print(f"\nsummary (median of runs) · load average at the end {load}")
    for label, values in summary.items():
        if label == "baseline_fps_median":
            continue
        ratio = f" = {values['ratio']:.2f}x the straight-line script ({base:.1f} fps)" if values["ratio"] else ""
        print(f"  {label}: {values['fps_median']:.1f} fps (best {values['fps_best']:.1f}){ratio}")


def write_json(path: Path, report: dict[str, Any]) -> None:
    try:
        # The mark first: commands/destinations.py lets a later --json replace only a report the app wrote.
        write_atomic(path, json.dumps({"report": "facemap-gui bench", **report}, indent=1) + "\n")
    except OSError as exc:
        raise FacemapError(f"{path}: cannot write the report ({exc.strerror}); choose another folder") from exc
