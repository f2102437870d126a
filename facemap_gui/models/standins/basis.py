"""Synthetic 3DMM basis files (meanFace / shapeBasis / blendShape) with the real shapes and a face-like mean."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from facemap_gui.inference.landmarks.decode import BASIS_SHAPES, N_EXP, N_ID


def _face_outline() -> Iterator[tuple[float, float, float]]:
    """A plausible mean face in the model's 3D units (y up, ~110 wide), iBUG-68 order."""
    for t in np.linspace(-1, 1, 17):  # jaw 0-16, ear to ear through the chin
        angle = t * math.radians(100)
        yield 48 * math.sin(angle), -52 * math.cos(angle) + 10 * (1 - abs(t)) ** 2 + 8, -20 * abs(t)
    for side in (-1, 1):  # brows 17-21, 22-26
        for t in np.linspace(0, 1, 5):
            x = side * (40 - 30 * t) if side < 0 else 10 + 30 * t
            yield x, 28 + 6 * math.sin(math.pi * t), 10
    for t in np.linspace(0, 1, 4):  # nose bridge 27-30
        yield 0.0, 20 - 22 * t, 12 + 12 * t
    for x in (-10, -5, 0, 5, 10):  # nostrils 31-35
        yield float(x), -8 + abs(x) * 0.3, 18 - abs(x)
    for cx in (-22, 22):  # eyes 36-41, 42-47
        for a in np.linspace(0, 2 * math.pi, 7)[:-1]:
            yield cx - 9 * math.cos(a), 14 + 3.5 * math.sin(a), 8
    for a in np.linspace(0, 2 * math.pi, 13)[:-1]:  # outer lips 48-59
        yield -20 * math.cos(a), -30 + 7 * math.sin(a), 12
    for a in np.linspace(0, 2 * math.pi, 9)[:-1]:  # inner lips 60-67
        yield -14 * math.cos(a), -30 + 3 * math.sin(a), 12


def stand_in_basis(seed: int = 1) -> dict[str, np.ndarray]:
    """The three basis arrays by name, seeded; a zero shape and expression decode to the face outline."""
    rng = np.random.default_rng(seed)
    mean = np.array(list(_face_outline()), dtype=np.float32).reshape(-1)
    arrays = {
        "meanFace": mean,
        "shapeBasis": rng.normal(0, 2.0, (204, N_ID)).astype(np.float32),
        "blendShape": rng.normal(0, 0.5, (204, N_EXP)).astype(np.float32),
    }
    assert {k: v.shape for k, v in arrays.items()} == BASIS_SHAPES
    # The offset alpha_exp = 0.5 adds; remove it so a zero output decodes to the mean face.
    arrays["meanFace"] -= arrays["blendShape"].sum(axis=1) * 0.5
    return arrays
