"""Provenance: `read_provenance` alone reads every stand-in mark, and any one of them makes the whole a stand-in."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import basis_files
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.inference.landmarks.provenance import STAND_IN_KEY, npy_with_stand_in_mark, read_provenance
from facemap_gui.inference.landmarks.release import STAND_IN_FIELD
from tests.conftest import constant_model


@pytest.fixture
def unmarked(tmp_path, real_basis):
    """A model and basis with no mark anywhere, side by side in one folder."""
    folder = tmp_path / "run"
    shutil.copytree(real_basis, folder)
    return constant_model(folder / "model.onnx", np.zeros(265)), folder


def test_no_mark_is_real(unmarked):
    model, basis = unmarked
    provenance = read_provenance([model, *basis_files(basis)])
    assert not provenance.stand_in and provenance.marks == ()
    assert not inspect_model(model, basis).stand_in


def test_the_onnx_metadata_alone_makes_a_stand_in(unmarked):
    model, basis = unmarked
    proto = onnx.load(str(model))
    onnx.helper.set_model_props(proto, {STAND_IN_KEY: "true"})
    onnx.save(proto, str(model))
    provenance = read_provenance([model, *basis_files(basis)])
    assert provenance.marks == (f"{model}: ONNX metadata {STAND_IN_KEY}",)
    assert inspect_model(model).stand_in  # the model alone says so too


def test_the_release_metadata_alone_makes_a_stand_in(unmarked):
    model, _ = unmarked
    (model.parent / "metadata.json").write_text(json.dumps({STAND_IN_FIELD: True}))
    assert read_provenance([model]).marks == (f"{model.parent / 'metadata.json'}: stand-in release metadata",)
    (model.parent / "metadata.json").write_text(json.dumps({STAND_IN_FIELD: False}))
    assert not read_provenance([model]).stand_in


def test_one_npy_header_alone_makes_the_set_a_stand_in(unmarked):
    _, basis = unmarked
    mean_face = basis / "meanFace.npy"
    mean_face.write_bytes(npy_with_stand_in_mark(np.load(mean_face)))
    assert read_provenance(basis_files(basis)).marks == (f"{mean_face}: stand-in .npy header",)


def test_a_manifest_alone_makes_a_stand_in_and_a_damaged_one_is_an_error(unmarked):
    _, basis = unmarked
    manifest = basis / "manifest.json"
    manifest.write_text(json.dumps({"stand_in": True}))
    assert read_provenance(basis_files(basis)).marks == (f"{manifest}: stand-in manifest",)
    manifest.write_text("{garbage")
    with pytest.raises(ModelError, match=r"manifest\.json: damaged"):
        read_provenance(basis_files(basis))


def test_a_real_model_with_a_stand_in_basis_is_a_stand_in(tmp_path, tiny_model):
    model = constant_model(tmp_path / "model.onnx", np.zeros(265))  # no mark: real by itself
    assert not inspect_model(model).stand_in
    info = inspect_model(model, tiny_model.parent)  # the stand-in's marked basis
    assert info.stand_in and all(".npy header" in mark or "manifest" in mark for mark in info.provenance.marks)


def test_a_stand_in_model_with_a_real_basis_is_a_stand_in(tiny_model, real_basis):
    info = inspect_model(tiny_model, real_basis)
    assert info.stand_in and info.provenance.marks[0] == f"{tiny_model}: ONNX metadata {STAND_IN_KEY}"
    assert not any(str(real_basis) in mark for mark in info.provenance.marks)
