"""Installing model files offline (`facemap-gui models install`): safe unzipping, any folder layout, external
data, precision, first-use trust, bad files refused in one line; then `models list`, `verify` and `remove`, and
where the models folder is."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import onnx
import pytest

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.core.errors import ModelError
from facemap_gui.models.archive import unpack_zip
from facemap_gui.models.catalogue import ENTRIES
from facemap_gui.models.install import install_path, missing
from tests.conftest import constant_model
from tests.helpers import (
    basis_files,
    external_data_model,
    installed_files,
    make_zip,
    npy_bytes,
    pickled_npy_bytes,
    quantized_model_bytes,
    real_model_bytes,
    run_installed_model,
    run_models_cli,
    sha,
)


@pytest.mark.parametrize(
    "member", ["../evil.onnx", "models/../../evil.onnx", "/tmp/evil.onnx", "C:\\evil.onnx", "..\\evil.onnx"]
)
def test_zip_members_outside_the_folder_are_rejected(tmp_path, member, capsys):
    archive = tmp_path / "facemap_3dmm-onnx-float.zip"
    archive.write_bytes(make_zip({"ok/model.onnx": real_model_bytes(tmp_path), member: b"payload"}))

    code, _, err = run_models_cli(capsys, "install", str(archive))

    assert code == 2 and f"refusing to unpack, member {member!r}" in err
    assert installed_files() == [] and not (tmp_path / "evil.onnx").exists()


def test_symlink_in_a_zip_is_rejected(tmp_path):
    info = zipfile.ZipInfo("model.onnx")
    info.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ModelError, match="symbolic link"):
        unpack_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_is_rejected_by_size(tmp_path, capsys):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(make_zip({"model.onnx": bytes(64 * 2**20)}))  # 64 MB of zeros in ~64 kB
    code, _, err = run_models_cli(capsys, "install", str(bomb))
    assert code == 2 and "a zip bomb?" in err and installed_files() == []

    big = tmp_path / "big.zip"
    big.write_bytes(make_zip({"a.bin": np.random.default_rng(0).bytes(3 * 2**20)}, zipfile.ZIP_STORED))
    with pytest.raises(ModelError, match="expands to 3 MB"):
        unpack_zip(big, tmp_path / "out", max_bytes=2 * 2**20)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("folder", ["", "facemap_3dmm/", "a/b/c/d/", "export\\onnx\\"])
def test_model_and_external_data_are_found_in_any_folder_layout(tmp_path, folder, capsys):
    model = external_data_model(tmp_path)
    archive = tmp_path / "export.zip"
    archive.write_bytes(
        make_zip(
            {
                f"{folder}model.onnx": model["model.onnx"],
                f"{folder}weights.bin": model["weights.bin"],
                "README.md": b"hello",
            }
        )
    )

    code, out, err = run_models_cli(capsys, "install", str(archive))

    assert code == 0, err
    assert installed_files() == [
        "facemap_3dmm/float/facemap_3dmm.onnx",
        "facemap_3dmm/float/weights.bin",
        "installed.json",
    ]
    assert "checked by content only" in out
    assert run_installed_model("float", batch=1) == pytest.approx(0.01, abs=1e-6)


def test_model_without_its_external_data_is_rejected(tmp_path):
    model = external_data_model(tmp_path)
    archive = tmp_path / "export.zip"
    archive.write_bytes(make_zip({"model.onnx": model["model.onnx"]}))
    with pytest.raises(ModelError, match=r"weights file 'weights\.bin' is missing"):
        install_path(archive)
    assert installed_files() == []


def test_offline_install_of_a_zip_identifies_the_precision_and_trusts_first_use(tmp_path, capsys):
    archive = tmp_path / "facemap_3dmm-onnx-w8a8.zip"
    archive.write_bytes(make_zip({"facemap_3dmm-onnx-w8a8/model.onnx": quantized_model_bytes()}))

    code, out, err = run_models_cli(capsys, "install", str(archive))

    assert code == 0, err
    assert out.startswith(f"installed facemap_3dmm-w8a8: {store.landmark_model_path('w8a8')}")
    assert f"trusted on first use (sha256 {sha(archive.read_bytes())} recorded in" in out
    # A different file under the same catalogue name is refused from then on.
    archive.write_bytes(make_zip({"model.onnx": quantized_model_bytes(), "extra.txt": b"changed"}))
    code, _, err = run_models_cli(capsys, "install", str(archive))
    assert code == 2 and "differs from the first-use checksum" in err and "trusted.json" in err


def test_folder_files_are_checked_against_first_use_and_stand_ins_never_become_trusted(tmp_path, tiny_model, capsys):
    # The stand-in's folder holds synthetic basis files under the published names: installed, never trusted.
    code, out, _ = run_models_cli(capsys, "install", str(tiny_model.parent))
    assert code == 0 and out.count("STAND-IN") == 2
    assert "meanFace.npy: no published checksum, trusted on first use (not recorded: this is a stand-in)" in out
    assert not (store.models_dir() / "trusted.json").exists()
    real = tmp_path / "real"
    real.mkdir()
    for name, data in basis_files().items():
        (real / name).write_bytes(data)
    code, out, _ = run_models_cli(capsys, "install", str(real))
    assert code == 0 and out.count("trusted on first use") == 3
    assert sorted(json.loads((store.models_dir() / "trusted.json").read_text())) == [
        "blendShape.npy",
        "meanFace.npy",
        "shapeBasis.npy",
    ]

    (real / "shapeBasis.npy").write_bytes(npy_bytes(np.zeros((204, 219), np.float32)))
    code, _, err = run_models_cli(capsys, "install", str(real))
    assert code == 2 and "shapeBasis.npy: sha256" in err and "differs from the first-use checksum" in err
    assert (store.basis_dir() / "shapeBasis.npy").read_bytes() == basis_files()["shapeBasis.npy"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("model.onnx", b"\x08\x07garbage", "not a readable ONNX model"),
        ("meanFace.npy", npy_bytes(np.zeros(203, np.float32)), "expected a numeric array of shape (204,)"),
        ("meanFace.npy", pickled_npy_bytes(), "pickled objects"),
        ("notes.txt", b"hello", "not a file this app installs"),
        ("detector.tflite", b"TFL3" * 100, "not one of the published BlazeFace models"),
    ],
)
def test_bad_files_are_rejected_with_one_line(tmp_path, capsys, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    code, _, err = run_models_cli(capsys, "install", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert installed_files() == []


def test_wrong_model_io_is_rejected(tmp_path, capsys):
    wrong = constant_model(tmp_path / "model.onnx", np.zeros(265))
    model = onnx.load(wrong)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 264
    onnx.save(model, wrong)
    code, _, err = run_models_cli(capsys, "install", str(wrong))
    assert code == 2 and "expected [N, 265]" in err and installed_files() == []


def test_list_verify_and_remove(tmp_path, tiny_model, capsys):
    assert run_models_cli(capsys, "install", str(tiny_model))[0] == 0  # a stand-in model file
    for name, data in basis_files().items():
        (tmp_path / name).write_bytes(data)
        assert run_models_cli(capsys, "install", str(tmp_path / name))[0] == 0

    code, out, _ = run_models_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    model_line = lines.index(next(line for line in lines if line.startswith("facemap_3dmm-float")))
    assert "installed, STAND-IN" in lines[model_line]
    assert lines[model_line + 3].split() == [
        str(store.landmark_model_path("float")),
        f"{tiny_model.stat().st_size / 1000:.1f}",
        "kB",
    ]
    assert lines[model_line + 4].split() == ["sha256", sha(tiny_model.read_bytes())]
    assert next(line for line in lines if line.startswith("basis")).split()[1:] == ["installed,", "real"]
    assert lines[model_line + 1] == "    random weights or synthetic data: results are not real"
    w8a8 = lines.index("facemap_3dmm-w8a8    not installed")
    assert lines[w8a8 + 1] == "    download: facemap-gui models download facemap_3dmm-w8a8"
    assert lines[w8a8 + 3].strip().endswith("/facemap_3dmm-onnx-w8a8.zip")
    assert next(line for line in lines if line.startswith("blazeface-short")).split()[1] == "bundled"
    assert lines[-2:] == [
        "stand-in             not generated yet",
        "    made by `facemap-gui demo` or `facemap-gui process --stand-in`",
    ]
    # Every line fits an 80-column terminal but for the length of the path or URL it holds.
    assert [line for line in lines if len(" ".join(w for w in line.split() if "/" not in w)) > 76] == []

    code, out, _ = run_models_cli(capsys, "verify")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["facemap_3dmm-float", "OK"],
        ["facemap_3dmm-w8a8", "not", "installed", "(optional)"],
        ["basis", "OK"],
        ["reference", "not", "installed", "(optional)"],
        ["blazeface-short", "OK"],
        ["blazeface-full", "OK"],
    ]

    (store.basis_dir() / "blendShape.npy").write_bytes(npy_bytes(np.zeros((204, 39), np.float32)))
    code, out, _ = run_models_cli(capsys, "verify", "basis", "facemap_3dmm-w8a8")
    assert code == 1
    assert out.splitlines()[0].split() == ["basis", "FAILED"]
    assert "blendShape.npy: changed since it was installed" in out.splitlines()[1]
    assert out.splitlines()[2:] == ["facemap_3dmm-w8a8    FAILED", "    not installed"]

    code, out, _ = run_models_cli(capsys, "remove", "facemap_3dmm-float", "facemap_3dmm-w8a8")
    assert code == 0
    assert out.splitlines() == [
        f"removed facemap_3dmm-float: {store.landmark_model_path('float')}",
        "facemap_3dmm-w8a8: not installed, nothing to remove",
    ]
    assert not store.landmark_model_path("float").parent.exists()
    assert "facemap_3dmm-float" not in json.loads((store.models_dir() / "installed.json").read_text())
    assert missing() == ["facemap_3dmm-float", "facemap_3dmm-w8a8"]


def test_list_gives_every_basis_url_and_the_generated_stand_in(tiny_model, capsys):
    shutil.copytree(tiny_model.parent, store.stand_in_dir("full"))  # where `demo` generates it
    code, out, _ = run_models_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    basis = lines.index("basis                not installed")
    assert [line.strip().rsplit("/", 1)[-1] for line in lines[basis + 3 : basis + 6]] == [
        "meanFace.npy",
        "shapeBasis.npy",
        "blendShape.npy",
    ]
    assert lines[-3:-1] == ["stand-in             generated, STAND-IN", "    random weights: results are not real"]
    assert lines[-1].split()[0] == str(store.stand_in_dir("full") / "facemap_3dmm.onnx")


def test_unknown_name_lists_the_catalogue(capsys):
    code, _, err = run_models_cli(capsys, "download", "facemap")
    assert code == 2 and "'facemap' is not in the model catalogue; known: " + ", ".join(ENTRIES) in err


def test_first_run_without_models_says_what_to_run(capsys):
    code = main(["process", "demo:1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "`facemap-gui models download facemap_3dmm-float basis`" in err
    assert "`facemap-gui models install FILE.zip`" in err


def test_packaged_app_uses_the_models_folder_beside_its_executable(tmp_path, monkeypatch):
    executable = tmp_path / "dist" / "facemap-gui"
    (executable.parent / "models").mkdir(parents=True)
    monkeypatch.setattr("sys.executable", str(executable))
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.delenv("FACEMAP_GUI_HOME")
    assert store.models_dir() == executable.parent / "models"
    expected = executable.parent / "models" / "facemap_3dmm" / "w8a8" / "facemap_3dmm.onnx"
    assert store.landmark_model_path("w8a8") == expected
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(tmp_path / "home"))
    assert store.models_dir() == tmp_path / "home" / "models"
    monkeypatch.delenv("FACEMAP_GUI_HOME")
    monkeypatch.setattr("sys.frozen", False)
    assert store.models_dir() != executable.parent / "models"
