"""Qualcomm's release zips as published (replicas made from the stand-in): installed from the zip, from the folder
Windows unpacks it into and from a plain folder; float and uint8-I/O w8a8 models processed alike; quantised I/O
and the metadata file checked, and everything wrong with them refused in one line with nothing installed."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import numpy_helper

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.inference.landmarks.model import TensorIO, inspect_model
from facemap_gui.inference.runtime import RuntimeSettings, open_landmark_session
from facemap_gui.models.standins.replica import release_folder
from tests.conftest import PHOTO, constant_model
from tests.helpers import unpacked

FACE_BOX = (171, 146, 364, 339)


def rezip(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{folder.name}/{path.name}")
    return zip_path


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI expecting exit 2 and one stderr line; returns the line. Nothing may be installed."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not store.landmark_model_path("float").parent.parent.exists()
    return err


def process_landmarks(tmp_path: Path, precision: str) -> tuple[dict, np.ndarray]:
    out = tmp_path / f"{precision}.jsonl"
    assert (
        main(
            [
                "process",
                str(PHOTO),
                "--box",
                ",".join(map(str, FACE_BOX)),
                "--precision",
                precision,
                "--strict",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    header, frame, _ = [json.loads(line) for line in out.read_text().splitlines()]
    return header, np.array(frame["faces"][0]["landmarks"])


def test_tensor_io_quantises_and_dequantises_as_qualcomm_does():
    io = TensorIO("image", "uint8", scale=1 / 255, zero_point=3)
    q = io.to_model(np.array([-1.0, 0.0, 0.2, 0.999, 2.0], np.float32))
    assert q.dtype == np.uint8 and q.tolist() == [0, 3, 54, 255, 255]  # clip(rint(x / s) + zp)
    np.testing.assert_allclose(io.from_model(np.array([3, 131], np.uint8)), [0.0, 128 / 255], rtol=1e-6)
    assert TensorIO("x", "float16").to_model(np.ones(2, np.float32)).dtype == np.float16
    signed = TensorIO("x", "int8", scale=0.5, zero_point=-10)
    assert signed.to_model(np.array([-100.0, 0.0, 100.0], np.float32)).tolist() == [-128, -10, 127]
    wide = TensorIO("x", "uint16", scale=1e-3, zero_point=100)
    assert wide.to_model(np.array([1.0], np.float32)).tolist() == [1100]
    np.testing.assert_allclose(wide.from_model(np.array([1100], np.uint16)), [1.0], rtol=1e-6)


def test_a_float16_io_model_gives_the_float_model_s_parameters(tmp_path):
    params = np.random.default_rng(2).normal(0, 0.1, 265).astype(np.float32)
    model = onnx.load(str(constant_model(tmp_path / "float.onnx", params)))
    graph = model.graph
    for node in graph.node:  # float16 in and out, float inside: a Cast after the input and before the output
        node.input[:] = ["image_f32" if name == "image" else name for name in node.input]
        node.output[:] = ["params_f32" if name == "parameters_3dmm" else name for name in node.output]
    graph.node.insert(0, onnx.helper.make_node("Cast", ["image"], ["image_f32"], to=onnx.TensorProto.FLOAT))
    graph.node.append(onnx.helper.make_node("Cast", ["params_f32"], ["parameters_3dmm"], to=onnx.TensorProto.FLOAT16))
    graph.input[0].type.tensor_type.elem_type = graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    onnx.save(model, str(tmp_path / "half.onnx"))
    session = open_landmark_session(lambda precision: tmp_path / "half.onnx", "cpu", "float", RuntimeSettings())
    assert session.info.io == "input float16, output float16"
    out = session.run(np.full((2, 3, 128, 128), 0.5, np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.tile(params, (2, 1)), atol=1e-3)


def test_replicas_are_laid_out_as_published_and_labelled_stand_ins(releases, tmp_path):
    float_zip, w8a8_zip = releases["float"], releases["w8a8"]
    assert float_zip.name == "facemap_3dmm-onnx-float.zip" and w8a8_zip.name == "facemap_3dmm-onnx-w8a8.zip"
    assert zipfile.ZipFile(float_zip).namelist() == [
        f"{release_folder('float')}/{name}" for name in ("facemap_3dmm.data", "facemap_3dmm.onnx", "metadata.yaml")
    ]
    assert zipfile.ZipFile(w8a8_zip).namelist() == [
        f"{release_folder('w8a8')}/{name}" for name in ("facemap_3dmm.onnx", "metadata.json")
    ]
    w8a8 = inspect_model(unpacked(w8a8_zip, tmp_path) / "facemap_3dmm.onnx")
    assert w8a8.stand_in and w8a8.metadata.stand_in and not w8a8.dynamic_batch
    assert (w8a8.input.dtype, w8a8.output.dtype) == ("uint8", "uint8")
    assert w8a8.input.scale == pytest.approx(1 / 255, rel=1e-5) and w8a8.input.zero_point == 0
    assert w8a8.metadata.tensors["parameters_3dmm"].scale == pytest.approx(w8a8.output.scale)
    graph = onnx.load(str(w8a8.path), load_external_data=False).graph
    assert graph.node[0].op_type == "DequantizeLinear" or any(
        n.op_type == "DequantizeLinear" and n.input[0] == "image" for n in graph.node
    )
    float_model = inspect_model(unpacked(float_zip, tmp_path) / "facemap_3dmm.onnx")
    assert float_model.input.dtype == "float32" and float_model.metadata.tool_versions["qairt"] == "2.42.0"


def test_both_replica_zips_install_and_process_within_the_quantisation_error(capsys, releases, basis_files, tmp_path):
    assert main(["models", "install", *map(str, basis_files)]) == 0
    for precision in ("float", "w8a8"):
        assert main(["models", "install", str(releases[precision])]) == 0
    out = capsys.readouterr().out
    assert "installed facemap_3dmm-float (STAND-IN" in out and "installed facemap_3dmm-w8a8 (STAND-IN" in out
    float_dir = store.landmark_model_path("float").parent
    assert sorted(p.name for p in float_dir.iterdir()) == ["facemap_3dmm.data", "facemap_3dmm.onnx", "metadata.yaml"]
    assert (store.landmark_model_path("w8a8").parent / "metadata.json").is_file()
    assert main(["models", "verify"]) == 0
    float_header, float_points = process_landmarks(tmp_path, "float")
    w8a8_header, w8a8_points = process_landmarks(tmp_path, "w8a8")
    assert w8a8_header["runtime"]["precision"] == "w8a8" and w8a8_header["model"]["stand_in"] is True
    assert "input uint8 (scale 0.00392157, zero point 0)" in w8a8_header["runtime"]["io"]
    assert float_header["runtime"]["io"] == "input float32, output float32"
    # The tiny stand-in's own 8-bit error (its random features are noisy under 8 bits, see test_runtime): the
    # mean landmark moves by 7.9% of the 194 px box; uint8 I/O adds nothing to that (next test).
    error = np.linalg.norm(w8a8_points - float_points, axis=1).mean() / (FACE_BOX[2] - FACE_BOX[0] + 1)
    assert 0 < error < 1 / 8


def test_uint8_io_gives_what_the_float_io_qdq_model_gives(releases, tiny_w8a8, tmp_path):
    replica = unpacked(releases["w8a8"], tmp_path) / "facemap_3dmm.onnx"
    uint8_io = open_landmark_session(lambda precision: replica, "cpu", "w8a8", RuntimeSettings())
    float_io = open_landmark_session(lambda precision: tiny_w8a8, "cpu", "w8a8", RuntimeSettings())
    assert float_io.model.input.dtype == "float32"
    crops = np.random.default_rng(1).uniform(0, 1, (4, 3, 128, 128)).astype(np.float32)
    steps = np.abs(uint8_io.run(crops) - float_io.run(crops)) / uint8_io.model.output.scale
    assert steps.max() <= 1.0 + 1e-3  # the same quantised model: at most one output step apart (rounding)


def test_models_download_installs_the_release_zips_as_published(monkeypatch, releases):
    from facemap_gui.models.catalogue import MIRROR_ENV
    from tests.helpers import file_server

    with file_server() as server:
        server.files.update({path.name: path.read_bytes() for path in releases.values()})
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert main(["models", "download", "facemap_3dmm-float", "facemap_3dmm-w8a8"]) == 0
    assert sorted(p.name for p in store.landmark_model_path("float").parent.iterdir()) == [
        "facemap_3dmm.data",
        "facemap_3dmm.onnx",
        "metadata.yaml",
    ]
    w8a8 = inspect_model(store.landmark_model_path("w8a8"))
    assert w8a8.input.dtype == "uint8" and w8a8.metadata.precision == "w8a8" and w8a8.stand_in


def test_the_folder_expand_archive_makes_and_a_plain_folder_install_too(releases, tmp_path):
    from facemap_gui.models.install import install_path

    nested = tmp_path / "facemap_3dmm-onnx-w8a8"  # Expand-Archive -DestinationPath <zip name>: nested twice
    unpacked(releases["w8a8"], nested)
    assert install_path(nested)[0].entry.name == "facemap_3dmm-w8a8"
    plain = unpacked(releases["float"], tmp_path / "plain")
    assert install_path(plain)[0].entry.name == "facemap_3dmm-float"
    assert inspect_model(store.landmark_model_path("w8a8")).input.dtype == "uint8"


def test_a_fixed_batch_of_one_runs_several_faces_as_one_by_one(releases, tmp_path):
    model = unpacked(releases["w8a8"], tmp_path) / "facemap_3dmm.onnx"
    session = open_landmark_session(lambda precision: model, "cpu", "w8a8", RuntimeSettings())
    assert not session.model.dynamic_batch
    crops = np.random.default_rng(0).uniform(0, 1, (3, 3, 128, 128)).astype(np.float32)
    together = session.run(crops)
    assert together.shape == (3, 265) and together.dtype == np.float32
    np.testing.assert_array_equal(together, np.concatenate([session.run(crop[None]) for crop in crops]))
    assert not np.allclose(together[0], together[1])


def edited_w8a8(releases: dict[str, Path], tmp_path: Path, edit_model=None, edit_metadata=None) -> Path:
    """The w8a8 replica re-zipped after `edit_model(model)` and/or `edit_metadata(dict)` (None: drop the file)."""
    folder = unpacked(releases["w8a8"], tmp_path / "edited")
    if edit_model:
        model = onnx.load(str(folder / "facemap_3dmm.onnx"))
        edit_model(model)
        onnx.save(model, str(folder / "facemap_3dmm.onnx"))
    if edit_metadata:
        metadata = json.loads((folder / "metadata.json").read_text())
        if edit_metadata(metadata) is None:
            (folder / "metadata.json").write_text(json.dumps(metadata))
        else:
            (folder / "metadata.json").unlink()
    return rezip(folder, tmp_path / "facemap_3dmm-edited.zip")


def set_input_scale(value: float):
    def edit(model: onnx.ModelProto) -> None:
        dequantise = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "image")
        scale = next(i for i in model.graph.initializer if i.name == dequantise.input[1])
        scale.CopyFrom(numpy_helper.from_array(np.array(value, np.float32), scale.name))

    return edit


@pytest.mark.parametrize("scale", [0.0, -0.5, float("nan")])
def test_a_scale_that_is_not_positive_is_refused(capsys, releases, tmp_path, scale):
    line = refused(
        capsys,
        "models",
        "install",
        str(edited_w8a8(releases, tmp_path, set_input_scale(scale), lambda m: m.pop("inputs"))),
    )
    assert "facemap_3dmm.onnx" in line and "tensor 'image' has quantisation scale" in line
    assert "download it again" in line


def no_dequantize(model: onnx.ModelProto) -> None:
    dequantise = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "image")
    for node in model.graph.node:
        node.input[:] = ["image_cast" if name == dequantise.output[0] else name for name in node.input]
    dequantise.CopyFrom(onnx.helper.make_node("Cast", ["image"], ["image_cast"], to=onnx.TensorProto.FLOAT))


def test_an_integer_input_without_dequantize_or_metadata_is_refused(capsys, releases, tmp_path):
    line = refused(capsys, "models", "install", str(edited_w8a8(releases, tmp_path, no_dequantize, lambda m: 1)))
    assert "input 'image' is uint8 with no DequantizeLinear after it and no metadata file" in line


def missing_zero_point(model: onnx.ModelProto) -> None:
    dequantise = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "image")
    dequantise.input[2] = "no_such_tensor"


def test_a_dequantize_whose_zero_point_is_no_constant_is_refused(capsys, releases, tmp_path):
    zipped = edited_w8a8(releases, tmp_path, missing_zero_point, lambda m: m.pop("inputs"))
    line = refused(capsys, "models", "install", str(zipped))
    assert "the DequantizeLinear of 'image' has no constant per-tensor scale and zero point" in line


@pytest.mark.parametrize(
    ("zero_point", "expected"),
    [(float("inf"), "has zero point inf, not a whole number"), (10**30, "outside uint8's 0..255")],
)
def test_a_zero_point_no_integer_type_holds_is_refused(capsys, releases, tmp_path, zero_point, expected):
    # 1e400 in metadata.json (JSON's infinity) was `unexpected OverflowError`; a huge one overflowed on a frame.
    def set_zero_point(metadata: dict) -> None:
        metadata["inputs"]["image"]["quantization_parameters"]["zero_point"] = zero_point

    line = refused(capsys, "models", "install", str(edited_w8a8(releases, tmp_path, no_dequantize, set_zero_point)))
    assert "metadata.json" in line and "'image' has zero point" in line
    assert expected in line and "download" in line


def test_metadata_that_disagrees_with_the_graph_is_refused(capsys, releases, tmp_path):
    def wrong_scale(metadata: dict) -> None:
        metadata["outputs"]["parameters_3dmm"]["quantization_parameters"]["scale"] *= 2

    line = refused(capsys, "models", "install", str(edited_w8a8(releases, tmp_path, edit_metadata=wrong_scale)))
    assert "metadata.json: says output 'parameters_3dmm' has scale" in line and "different releases" in line

    def wrong_type(metadata: dict) -> None:
        metadata["inputs"]["image"]["dtype"] = "float32"

    line = refused(capsys, "models", "install", str(edited_w8a8(releases, tmp_path / "t", edit_metadata=wrong_type)))
    assert "says input 'image' is float32 but" in line


def test_a_zip_with_metadata_but_no_model_is_refused(capsys, releases, tmp_path):
    folder = unpacked(releases["w8a8"], tmp_path)
    (folder / "facemap_3dmm.onnx").unlink()
    line = refused(capsys, "models", "install", str(rezip(folder, tmp_path / "incomplete.zip")))
    assert "incomplete.zip: has metadata.json but no .onnx model" in line


def test_truncated_external_weights_are_refused(capsys, releases, tmp_path):
    folder = unpacked(releases["float"], tmp_path)
    data = folder / "facemap_3dmm.data"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    line = refused(capsys, "models", "install", str(rezip(folder, tmp_path / "truncated.zip")))
    assert "facemap_3dmm.data: truncated" in line and "download the release zip again" in line


def test_metadata_yaml_and_json_give_the_same_reading(releases, tmp_path):
    from facemap_gui.inference.landmarks.release import read_metadata

    folder = unpacked(releases["w8a8"], tmp_path)
    from_json = read_metadata(folder / "metadata.json")
    (folder / "metadata.yaml").write_text(yaml.safe_dump(json.loads((folder / "metadata.json").read_text())))
    from_yaml = read_metadata(folder / "metadata.yaml")
    assert (from_yaml.tensors, from_yaml.tool_versions, from_yaml.precision) == (
        from_json.tensors,
        from_json.tool_versions,
        "w8a8",
    )
    shutil.rmtree(folder)
