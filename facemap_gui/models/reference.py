"""Qualcomm's reference case for facemap_3dmm (an image, its face box and 68 landmarks) and how far a model's
landmarks on it are from the reference, as Qualcomm's own test measures it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemap_gui.core.errors import InputError, ModelError
from facemap_gui.inference.landmarks.decode import FoldedBasis, decode
from facemap_gui.models.catalogue import REFERENCE_FILES  # the box file's order is x0, x1, y0, y1
from facemap_gui.perframe.crop import preprocess
from facemap_gui.sources.files import read_image_rgb

PASS_PERCENT = 1.0  # Qualcomm's test passes below 1% of the box width, mean over the 68 points


@dataclass(frozen=True)
class ReferenceCase:
    image: np.ndarray  # RGB
    box: tuple[int, int, int, int]  # x0, y0, x1, y1, inclusive pixel corners
    landmarks: np.ndarray  # (68, 2) image pixels


FIX = "install Qualcomm's reference files again (`facemap-gui models download reference`)"


def _numbers(path: Path, counts: tuple[int, ...]) -> np.ndarray:
    """The finite numbers of a text file, `counts` giving how many it may hold (a bound on what is read too)."""
    try:
        if path.stat().st_size > 64 * max(counts):
            raise ValueError(f"{path.stat().st_size} bytes")
        values = np.array(path.read_text(encoding="utf-8").replace(",", " ").split(), dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not a list of numbers ({type(exc).__name__}); {FIX}") from exc
    if values.size not in counts or not np.isfinite(values).all():
        expected = " or ".join(map(str, counts))
        raise ModelError(f"{path}: {values.size} numbers (finite ones expected: {expected}); {FIX}")
    return values


def _image(path: Path) -> np.ndarray:
    try:
        return read_image_rgb(path)
    except InputError as exc:
        raise ModelError(f"{exc}; {FIX}") from exc


# Each reference file by name: how it is read and checked (at install, by `verify` and before the self-test).
READERS: dict[str, Callable[[Path], np.ndarray]] = {
    "face_img.jpg": _image,
    "face_img_fbox.txt": lambda path: _numbers(path, (4,)),
    "face_img_lmk.txt": lambda path: _numbers(path, (68 * 2, 68 * 3)),  # x, y (and depth) of the 68 points
}


def load_reference(folder: Path) -> ReferenceCase:
    """Qualcomm's reference files from `folder`; the box file's order is x0, x1, y0, y1."""
    image_file, box_file, landmark_file = (folder / name for name in REFERENCE_FILES)
    for path in (image_file, box_file, landmark_file):
        if not path.is_file():
            raise ModelError(
                f"{path}: the self-test's reference file is missing; run `facemap-gui models download "
                "reference` (offline: `facemap-gui models install` the three face_img files)"
            )
    image, box, points = (READERS[path.name](path) for path in (image_file, box_file, landmark_file))
    x0, x1, y0, y1 = (round(v) for v in box)
    height, width = image.shape[:2]
    if not (0 <= x0 < x1 < width and 0 <= y0 < y1 < height):
        raise ModelError(
            f"{box_file}: box x0={x0} x1={x1} y0={y0} y1={y1} is not inside the {width}x{height} image; {FIX}"
        )
    landmarks = points.reshape(68, -1)[:, :2]  # 68 rows of x, y (a third column, if any, is depth)
    return ReferenceCase(image, (x0, y0, x1, y1), landmarks)


def landmarks_on(case: ReferenceCase, run: Callable[[np.ndarray], np.ndarray], basis: FoldedBasis) -> np.ndarray:
    """The 68 points a session gives for the reference crop (Qualcomm crops the box itself, unexpanded)."""
    boxes = np.array([case.box])
    return decode(run(preprocess(case.image, boxes)), boxes, basis)[0][0]


def mean_error_percent(points: np.ndarray, case: ReferenceCase) -> float:
    width = case.box[2] - case.box[0] + 1
    return float(np.linalg.norm(points - case.landmarks, axis=1).mean() / width * 100.0)
