"""The decoder against Qualcomm's reference outputs and against the formulas computed independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import FoldedBasis, decode, load_npy
from facemap_gui.perframe.crop import expand_box, preprocess
from tests.conftest import GOLDEN


def reference_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Qualcomm's reference head rotation (radians), written out literally: Ry(-yaw) Rx(-pitch) Rx(-pi) Rz(-roll)."""

    def rx(a):
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    def ry(a):
        return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])

    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])

    return ry(-yaw) @ rx(-pitch) @ rx(-math.pi) @ rz(-roll)


def reference_decode(p: np.ndarray, box: tuple[int, int, int, int], mean, shape_b, blend_b) -> np.ndarray:
    """Qualcomm's reference decode written out literally, one face, without the folded basis."""
    alpha_id, alpha_exp = p[0:219] * 3, p[219:258] * 0.5 + 0.5
    pitch, yaw, roll = p[258] * math.pi / 2, p[259] * math.pi / 2, p[260] * math.pi / 2
    tx, ty, tz, f = p[261] * 60, p[262] * 60, 500.0, p[263] * 150 + 450
    shape = (mean + shape_b @ alpha_id + blend_b @ alpha_exp).reshape(68, 3)
    vertices = shape @ reference_rotation(yaw, pitch, roll).T
    vertices[:, 0] += tx
    vertices[:, 1] += ty
    xy = vertices[:, :2] * f / tz
    x0, y0, x1, y1 = box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    return np.stack([(xy[:, 0] + 64) * w / 128 + x0, (xy[:, 1] + 64) * h / 128 + y0], axis=1)


def test_matches_qualcomm_reference_outputs():
    golden = np.load(GOLDEN / "facemap_decode_golden.npz")
    points, _ = decode(golden["params"], golden["boxes"], FoldedBasis.load(GOLDEN))
    assert points.shape == (4, 68, 2)
    np.testing.assert_allclose(points, golden["landmarks"], atol=1e-3)


@pytest.mark.parametrize("box", [(100, 50, 227, 177), (300, 40, 399, 219), (0, 0, 63, 200), (1200, 600, 1279, 719)])
def test_matches_formulas_for_square_nonsquare_and_border_boxes(box):
    rng = np.random.default_rng(7)
    mean, shape_b, blend_b = rng.normal(0, 30, 204), rng.normal(0, 1, (204, 219)), rng.normal(0, 1, (204, 39))
    params = rng.normal(0, 0.2, (3, 265)).astype(np.float32)  # what the model outputs
    points, pose = decode(params, np.array([box] * 3), FoldedBasis.from_arrays(mean, shape_b, blend_b))
    for i in range(3):
        # The decoder computes in float32 like the model; the reference in float64. They agree to 1/1000 px.
        reference = reference_decode(params[i].astype(np.float64), box, mean, shape_b, blend_b)
        np.testing.assert_allclose(points[i], reference, atol=1e-3)
    np.testing.assert_allclose(pose[:, 0], params[:, 259] * 90, rtol=1e-6)  # yaw
    np.testing.assert_allclose(pose[:, 1], params[:, 258] * 90, rtol=1e-6)  # pitch
    np.testing.assert_allclose(pose[:, 2], params[:, 260] * 90, rtol=1e-6)  # roll


def test_expand_box_grows_ten_percent_each_side_and_clamps():
    assert expand_box((100, 100, 199, 199), (1000, 1000)) == (90, 90, 209, 209)
    assert expand_box((0, 5, 99, 104), (150, 110)) == (0, 0, 109, 109)


def test_preprocess_is_bilinear_rgb_over_255():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    batch = preprocess(image, np.array([[10, 20, 137, 147]]))  # exactly 128x128: no resampling
    assert batch.shape == (1, 3, 128, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0].transpose(1, 2, 0), image[20:148, 10:138] / 255.0, atol=1e-7)
    # A 192x160 crop is resampled: each value is the bilinear mix of its four neighbours (half-pixel centres,
    # as OpenCV and the model's training resize), to within OpenCV's 8-bit rounding.
    crop = image[30:190, 50:242].astype(np.float64)
    resized = preprocess(image, np.array([[50, 30, 241, 189]]))[0].transpose(1, 2, 0)
    (r0, r1, wr), (c0, c1, wc) = _bilinear_axis(160), _bilinear_axis(192)
    rows = crop[r0] * (1 - wr)[:, None, None] + crop[r1] * wr[:, None, None]
    expected = rows[:, c0] * (1 - wc)[None, :, None] + rows[:, c1] * wc[None, :, None]
    np.testing.assert_allclose(resized, expected / 255.0, atol=1.01 / 255)
    nearest = crop[np.round(r0 + wr).astype(int)][:, np.round(c0 + wc).astype(int)]
    assert np.abs(resized - nearest / 255.0).mean() > 10 / 255  # what the check tells apart from no mixing


def _bilinear_axis(n: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `size` outputs along an axis of `n` inputs: the two neighbours and the second's weight."""
    position = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    first = np.floor(position).astype(int)
    return first, np.minimum(first + 1, n - 1), position - first


def test_npy_with_pickled_objects_is_refused_without_unpickling(tmp_path):
    evil = tmp_path / "meanFace.npy"
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="pickled"):
        load_npy(evil, (204,))


def test_npy_with_wrong_shape_names_file_and_shapes(tmp_path):
    bad = tmp_path / "shapeBasis.npy"
    np.save(bad, np.zeros((204, 10)))
    with pytest.raises(ModelError, match=r"shapeBasis.npy: expected .*\(204, 219\).*\(204, 10\)"):
        load_npy(bad, (204, 219))
