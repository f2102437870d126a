"""facemap_3dmm: its basis files, and decoding its 265 3DMM parameters to 68 points and head pose.

Conventions follow Qualcomm's reference (qai-hub-models facemap_3dmm/utils.py); see docs in README.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
from numpy.lib import format as npy_format

from facemap_gui.core.errors import ModelError

INPUT_SIZE = 128
NUM_PARAMS = 265
NUM_POINTS = 68
N_ID, N_EXP = 219, 39
BASIS_SHAPES = {"meanFace": (204,), "shapeBasis": (204, N_ID), "blendShape": (204, N_EXP)}
# The model sits a fixed 500 units from the camera; focal length and translation are predicted.
MODEL_DEPTH = 500.0


@dataclass(frozen=True)
class FoldedBasis:
    """`shape = params[:258] @ matrix + offset` (204 = 68 x 3): the three basis files folded once at load."""

    matrix: np.ndarray  # (258, 204)
    offset: np.ndarray  # (204,)

    @classmethod
    def from_arrays(cls, mean_face: np.ndarray, shape_basis: np.ndarray, blend_shape: np.ndarray) -> FoldedBasis:
        # alpha_id = p * 3 and alpha_exp = p * 0.5 + 0.5 fold into the matrix and the offset.
        matrix = np.concatenate([shape_basis * 3.0, blend_shape * 0.5], axis=1)
        offset = mean_face + blend_shape.sum(axis=1) * 0.5
        return cls(np.ascontiguousarray(matrix.T, dtype=np.float32), offset.astype(np.float32))

    @classmethod
    def load(cls, directory: Path) -> FoldedBasis:
        arrays = {path.stem: load_npy(path, BASIS_SHAPES[path.stem]) for path in basis_files(directory)}
        return cls.from_arrays(arrays["meanFace"], arrays["shapeBasis"], arrays["blendShape"])


def basis_files(directory: Path) -> list[Path]:
    """The 3DMM basis files of a basis folder."""
    return [Path(directory) / f"{name}.npy" for name in BASIS_SHAPES]


def _not_npy(head: bytes) -> str:
    """What a file that lacks the .npy magic is, from its first bytes (a download error page is common)."""
    text = head.lstrip().lower()
    if not head:
        return "an empty file"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "an HTML or XML page, e.g. a server's error page"
    kinds = {b"\x1f\x8b": "gzip-compressed data", b"PK\x03\x04": "a zip archive", b"\x80": "a Python pickle"}
    return next((kind for magic, kind in kinds.items() if head.startswith(magic)), "unknown data")


def load_npy(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Load a basis .npy without ever unpickling: the header is read first and its shape and dtype checked
    against `shape` before a byte of data is read (a header may declare gigabytes), then the values (finite)."""
    fix = "reinstall it (`facemap-gui models download basis`)"
    if not path.is_file():
        raise ModelError(f"{path}: 3DMM basis file not found (run `facemap-gui models download basis`)")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if not head.startswith(b"\x93NUMPY"):
                raise ModelError(f"{path}: not a .npy file ({_not_npy(head)}); {fix}")
            f.seek(0)
            version = npy_format.read_magic(f)
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            declared, fortran_order, dtype = read_header(f)
            if dtype.hasobject:  # an object array, which loading would unpickle
                raise ModelError(f"{path}: refusing to load, the file holds pickled objects, not numbers")
            if declared != shape or dtype.kind not in "fiu":  # no complex, bool or text: real numbers only
                raise ModelError(f"{path}: expected a numeric array of shape {shape}, found {dtype} {declared}")
            count = math.prod(shape)
            values = np.fromfile(f, dtype=dtype, count=count)
    except ValueError as exc:
        detail = " ".join(str(exc).split())[:120]  # numpy quotes the whole padded header
        raise ModelError(f"{path}: not a readable .npy file (damaged header: {detail}); {fix}") from exc
    except (OSError, EOFError) as exc:
        raise ModelError(f"{path}: not a readable .npy file ({exc}); {fix}") from exc
    if values.size != count:
        raise ModelError(f"{path}: truncated ({values.size} of the {count} values its header declares); {fix}")
    if not np.isfinite(values).all():
        raise ModelError(f"{path}: holds NaN or infinite values, not a usable 3DMM basis; {fix}")
    return values.reshape(shape, order="F" if fortran_order else "C").astype(np.float64)


def rotations(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """R = Ry(-yaw) @ Rx(-pitch) @ Rx(-pi) @ Rz(-roll), for N angle triples → (N, 3, 3)."""
    return np.array(
        [_rotation(*angles) for angles in zip(pitch.tolist(), yaw.tolist(), roll.tolist(), strict=True)],
        dtype=np.float64,
    ).reshape(-1, 3, 3)


def _rotation(pitch: float, yaw: float, roll: float) -> list[float]:
    # Multiplied out once, here: a frame has a handful of faces, for which six scalar sines and cosines cost
    # far less than 3x3 products built from dozens of tiny numpy operations. Rx(-pitch) @ Rx(-pi) = Rx(a) with
    # a = -pitch - pi, so cos a = -cos(pitch) and sin a = sin(pitch).
    cy, sy = math.cos(yaw), -math.sin(yaw)
    ca, sa = -math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), -math.sin(roll)
    return [
        cy * cr + sy * sa * sr,
        sy * sa * cr - cy * sr,
        sy * ca,
        ca * sr,
        ca * cr,
        -sa,
        cy * sa * sr - sy * cr,
        sy * sr + cy * sa * cr,
        cy * ca,
    ]


def decode(params: np.ndarray, crop_boxes: np.ndarray, basis: FoldedBasis) -> tuple[np.ndarray, np.ndarray]:
    """(N, 265) parameters + (N, 4) inclusive crop boxes → (N, 68, 2) image points, (N, 3) yaw/pitch/roll deg."""
    p = np.asarray(params, dtype=np.float32).reshape(-1, NUM_PARAMS)
    shape = (p[:, :258] @ basis.matrix + basis.offset).reshape(-1, NUM_POINTS, 3)
    faces, boxes = p[:, 258:264].tolist(), np.reshape(crop_boxes, (-1, 4)).tolist()
    projections = np.array(
        [_projection(*face, *box) for face, box in zip(faces, boxes, strict=True)], dtype=np.float32
    ).reshape(-1, 8)
    poses = np.array([(yaw * 90.0, pitch * 90.0, roll * 90.0) for pitch, yaw, roll, *_ in faces]).reshape(-1, 3)
    return shape @ projections[:, :6].reshape(-1, 3, 2) + projections[:, None, 6:], poses


@overload
def focal_length(raw: float) -> float: ...
@overload
def focal_length(raw: np.ndarray) -> np.ndarray: ...
def focal_length(raw: np.ndarray | float) -> np.ndarray | float:
    """The model's focal length (in its units, the face MODEL_DEPTH away) from its raw output p[263]."""
    return raw * 150.0 + 450.0


def _projection(
    pitch: float,
    yaw: float,
    roll: float,
    tx: float,
    ty: float,
    focal: float,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
) -> list[float]:
    """One face's (3, 2) matrix (row by row) and (2,) offset, as 8 numbers, taking its 68 model-space vertices
    to image pixels:
    rotation, focal scaling, translation, and the crop's pixels per model unit, folded in scalars (a frame has a
    handful of faces, for which this costs less than the numpy operations it replaces)."""
    r = _rotation(pitch * (math.pi / 2), yaw * (math.pi / 2), roll * (math.pi / 2))
    per_unit_x, per_unit_y = (x1 - x0 + 1.0) / INPUT_SIZE, (y1 - y0 + 1.0) / INPUT_SIZE
    zoom = focal_length(focal) / MODEL_DEPTH
    sx, sy = zoom * per_unit_x, zoom * per_unit_y
    # Image x uses the first row of R, image y the second: the matrix holds them as columns.
    matrix = [r[0] * sx, r[3] * sy, r[1] * sx, r[4] * sy, r[2] * sx, r[5] * sy]
    offset = [tx * 60.0 * sx + INPUT_SIZE / 2 * per_unit_x + x0, ty * 60.0 * sy + INPUT_SIZE / 2 * per_unit_y + y0]
    return matrix + offset
