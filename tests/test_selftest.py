"""`doctor --selftest` on replicas of Qualcomm's reference case made from a stand-in (its own landmarks as the
reference): the installed model passes on every runtime here, a perturbed one fails, missing files are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.models.catalogue import MIRROR_ENV
from facemap_gui.models.reference import load_reference
from facemap_gui.models.standins.replica import REFERENCE_BOX, write_reference
from tests.helpers import file_server


@pytest.fixture
def installed(releases, basis_files, tmp_path) -> Path:
    """Basis, the float replica and a reference case made from that very model, installed; returns the model."""
    for path in [*basis_files, releases["float"]]:
        assert main(["models", "install", str(path)]) == 0
    model = store.landmark_model_path("float")
    reference = write_reference(tmp_path / "reference", model, store.basis_dir())
    assert main(["models", "install", str(reference)]) == 0
    return model


def test_the_replica_reference_reads_back_in_qualcomms_box_order(installed, tmp_path):
    folder = tmp_path / "reference"
    x0, y0, x1, y1 = REFERENCE_BOX
    assert (folder / "face_img_fbox.txt").read_text().split() == [str(v) for v in (x0, x1, y0, y1)]
    case = load_reference(store.models_dir() / "reference")
    assert case.box == REFERENCE_BOX and case.landmarks.shape == (68, 2)
    inside = (case.landmarks >= [x0, y0]) & (case.landmarks <= [x1, y1])
    assert inside.mean() > 0.9  # the stand-in's landmarks are on the face in the box


def test_selftest_passes_with_the_model_its_reference_came_from(capsys, installed):
    assert main(["doctor", "--selftest"]) == 0
    out = capsys.readouterr().out
    assert "pass: mean error < 1% of the box width" in out and "STAND-IN files" in out
    row = next(line for line in out.splitlines() if line.startswith("  cpu  float"))
    assert "PASS  error 0.000%" in row and "inference " in row


def test_selftest_fails_with_a_perturbed_model(capsys, installed, tmp_path):
    model = onnx.load(str(installed))  # with its external weights
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    bias = next(i for i in model.graph.initializer if i.name == gemm.input[2])
    values = numpy_helper.to_array(bias).copy()
    values[261] += 0.05  # tx: the face moves by 3 model units, ~2% of the box
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    perturbed = tmp_path / "perturbed.onnx"
    onnx.save(model, str(perturbed))
    assert main(["models", "install", str(perturbed), "--precision", "float"]) == 0
    capsys.readouterr()
    assert main(["doctor", "--selftest"]) == 1
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  cpu  float"))
    error = float(row.split("error ")[1].split("%")[0])
    assert "FAIL" in row and 1.0 < error < 5.0


def test_missing_reference_files_are_downloaded_on_demand(capsys, monkeypatch, installed):
    reference = {p.name: p.read_bytes() for p in (store.models_dir() / "reference").iterdir()}
    assert main(["models", "remove", "reference"]) == 0
    with file_server() as server:
        server.files.update(reference)
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert main(["doctor", "--selftest"]) == 0
    assert sorted(name for name, _ in server.requests) == ["face_img.jpg", "face_img_fbox.txt", "face_img_lmk.txt"]
    assert "PASS  error 0.000%" in capsys.readouterr().out


def test_reference_files_that_cannot_be_downloaded_are_one_line(capsys, monkeypatch, releases):
    assert main(["models", "install", str(releases["float"])]) == 0
    capsys.readouterr()
    with file_server() as server:  # serves nothing: 404
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert main(["doctor", "--selftest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "face_img.jpg" in err[-1] and "404" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (store.models_dir() / "reference").exists()


def test_landmarks_far_from_the_reference_are_measured_against_the_box_width(installed):
    from facemap_gui.models.reference import mean_error_percent

    case = load_reference(store.models_dir() / "reference")
    width = REFERENCE_BOX[2] - REFERENCE_BOX[0] + 1
    assert mean_error_percent(case.landmarks + np.array([width * 0.03, 0.0]), case) == pytest.approx(3.0)
    assert mean_error_percent(case.landmarks + np.array([3.0, 4.0]), case) == pytest.approx(500 / width)
