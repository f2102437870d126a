"""Quaternions from Euler angles, for the packets: in scalars, as they are built every frame."""

from __future__ import annotations

import math


def quaternion_yxz(x: float, y: float, z: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of the rotation about z, then x, then y (degrees): qy * qx * qz, as Unity's Quaternion.Euler."""
    hx, hy, hz = (math.radians(a) / 2 for a in (x, y, z))
    cx, sx, cy, sy, cz, sz = math.cos(hx), math.sin(hx), math.cos(hy), math.sin(hy), math.cos(hz), math.sin(hz)
    return (
        cy * sx * cz + sy * cx * sz,
        sy * cx * cz - cy * sx * sz,
        cy * cx * sz - sy * sx * cz,
        cy * cx * cz + sy * sx * sz,
    )
