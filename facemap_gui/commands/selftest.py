"""`facemap-gui doctor --selftest`: the installed model on Qualcomm's own reference case (face_img.jpg, its box and
68 reference landmarks), on every runtime and precision available here, against Qualcomm's pass mark. What a
user on a Snapdragon runs to prove the NPU path gives Qualcomm's landmarks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError
from facemap_gui.inference.landmarks.decode import FoldedBasis
from facemap_gui.inference.runtime import PRECISIONS, RuntimeSettings, available_runtimes, open_landmark_session
from facemap_gui.models.catalogue import ENTRIES
from facemap_gui.models.reference import PASS_PERCENT, landmarks_on, load_reference, mean_error_percent
from facemap_gui.perframe.crop import preprocess

log = logging.getLogger(__name__)

TIMED_RUNS = 10


@dataclass(frozen=True)
class SelftestRow:
    runtime: str
    precision: str
    error_percent: float | None  # mean landmark error, % of the box width
    inference_ms: float | None  # median of TIMED_RUNS runs
    problem: str | None = None  # why the row could not run

    @property
    def passed(self) -> bool:
        return self.error_percent is not None and self.error_percent < PASS_PERCENT


def run_selftest(allow_simulator: bool = False) -> list[SelftestRow]:
    """One row per installed precision and available runtime, on strict sessions (as --strict: no fallback),
    so a row is what it says."""
    case = load_reference(ENTRIES["reference"].install_dir())
    basis = FoldedBasis.load(store.basis_dir())
    runtimes = [key for key, reason in available_runtimes(allow_simulator).items() if reason is None]
    precisions = [p for p in PRECISIONS if store.landmark_model_path(p).is_file()]
    if not precisions:
        store.require_landmark_model("float")  # raises the usual "not installed, download it" line
    settings = RuntimeSettings(allow_simulator=allow_simulator, strict=True)
    rows = []
    for precision in precisions:
        for runtime in runtimes:
            try:
                session = open_landmark_session(store.require_landmark_model, runtime, precision, settings)
                points = landmarks_on(case, session.run, basis)
                crop = preprocess(case.image, np.array([case.box]))
                times = []
                for _ in range(TIMED_RUNS):
                    start = time.perf_counter()
                    session.run(crop)
                    times.append((time.perf_counter() - start) * 1000.0)
            except FacemapError as exc:
                rows.append(SelftestRow(runtime, precision, None, None, str(exc)))
                continue
            rows.append(SelftestRow(runtime, precision, mean_error_percent(points, case), float(np.median(times))))
    return rows


def format_rows(rows: list[SelftestRow], stand_in: bool) -> str:
    lines = [f"Self-test on Qualcomm's reference case (pass: mean error < {PASS_PERCENT:g}% of the box width)"]
    if stand_in:
        lines.append("  ! STAND-IN files: this proves the chain runs, not that its landmarks are real")
    for row in rows:
        name = f"  {row.runtime:<4} {row.precision:<6}"
        if row.problem:
            lines.append(f"{name} FAILED: {row.problem}")
        else:
            lines.append(
                f"{name} {'PASS' if row.passed else 'FAIL'}  error {row.error_percent:.3f}%  "
                f"inference {row.inference_ms:.2f} ms"
            )
    return "\n".join(lines)


def run(allow_simulator: bool) -> int:
    """Download the reference case if it is not installed, print the rows; 0 only when every row passes."""
    from facemap_gui.models.download import Downloader
    from facemap_gui.models.install import download, missing
    from facemap_gui.models.status import status

    if missing(["reference"]):
        log.warning("the self-test's reference files are not installed: downloading them")
        download(["reference"], Downloader())
    rows = run_selftest(allow_simulator)
    used = ("reference", "basis", "facemap_3dmm-float", "facemap_3dmm-w8a8")
    stand_in = any(status(ENTRIES[name]).stand_in for name in used)
    print(format_rows(rows, stand_in))
    return 0 if rows and all(row.passed for row in rows) else 1
