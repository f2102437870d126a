"""Builds a stand-in model (random features, fitted last layer) and writes it with its basis and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from facemap_gui.core.atomic import replacing, write_atomic
from facemap_gui.core.digest import file_sha256
from facemap_gui.inference.landmarks.decode import NUM_PARAMS
from facemap_gui.inference.landmarks.provenance import MANIFEST_FILE, STAND_IN_KEY, npy_with_stand_in_mark
from facemap_gui.inference.runtime import PRECISIONS
from facemap_gui.models.standins.architecture import ARCHITECTURES, Graph, features, onnx_model
from facemap_gui.models.standins.basis import stand_in_basis
from facemap_gui.models.standins.fitting import fit_last_layer, fitting_batches
from facemap_gui.models.standins.quantisation import calibration_crops, quantize_w8a8

MODEL_FILE = "facemap_3dmm.onnx"
W8A8_FILE = "facemap_3dmm_w8a8.onnx"  # beside the float model, as RunOptions.model_path("w8a8") looks for it
STAND_IN_NOTE = (
    "STAND-IN model with random weights (the last layer fitted to put a mean face on the demo "
    "photo's face): its landmarks are not real"
)


def build_stand_in_model(arch: str = "full", seed: int = 0) -> onnx.ModelProto:
    """The stand-in network as an ONNX model with a dynamic batch dimension.

    All weights are random except the last layer's, which is fitted by ridge regression on the network's own
    (random) features of crops of the demo photo, so that the decoded mean face lands on the face in the crop.
    Its landmarks are not real, but they follow the face as a real model's do, so tracking from landmarks can
    be exercised and measured end to end.
    """
    import onnxruntime as ort

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown stand-in architecture {arch!r} ({' or '.join(ARCHITECTURES)})")
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    pooled, width = features(g, arch)
    probe = ort.InferenceSession(
        onnx_model(g, "probe", pooled, width).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    batches = [(probe.run(None, {"image": crops})[0], placement) for crops, placement in fitting_batches(rng)]
    mean, weight, bias = fit_last_layer(
        np.concatenate([f for f, _ in batches]).astype(np.float64), np.concatenate([p for _, p in batches])
    )
    # Random ReLU features are large and vary little (mean ~37, spread ~3): centred first, as a trained
    # network's batch norms leave them, the last layer's sums stay small and survive 8-bit quantisation.
    centred = g.node("Sub", [pooled, g.const(mean[None], "mean")])
    g.nodes.append(helper.make_node("Gemm", [centred, g.const(weight), g.const(bias, "b")], ["parameters_3dmm"]))
    model = onnx_model(g, f"facemap_3dmm_stand_in_{arch}", "parameters_3dmm", NUM_PARAMS)
    helper.set_model_props(
        model, {STAND_IN_KEY: "true", "facemap_gui.arch": arch, "facemap_gui.description": STAND_IN_NOTE}
    )
    onnx.checker.check_model(model)
    return model


def write_stand_in(directory: Path, arch: str = "full", seed: int = 0, precision: str = "float") -> Path:
    """Write a float stand-in model, synthetic basis files and a manifest into `directory`; with
    precision "w8a8" also its quantised variant beside it. Returns the path of the requested precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (float or w8a8)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    details: dict[str, object] = {"arch": arch, "precision": precision, "seed": seed}
    # The float model is renamed into place after the rest is written: where it is, its variant and basis are.
    with replacing(directory / MODEL_FILE) as float_model:
        float_model.write_bytes(build_stand_in_model(arch, seed).SerializeToString())
        for name, array in stand_in_basis().items():
            write_atomic(directory / f"{name}.npy", npy_with_stand_in_mark(array))
        if precision == "w8a8":
            crops = calibration_crops()
            quantize_w8a8(float_model, directory / W8A8_FILE, crops)
            details["calibration"] = f"{len(crops)} face crops of the demo photo"
    write_manifest(directory, details)
    return directory / (W8A8_FILE if precision == "w8a8" else MODEL_FILE)


def write_manifest(directory: Path, details: dict[str, object]) -> None:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".onnx", ".npy"))
    manifest = {"stand_in": True, "note": STAND_IN_NOTE, **details, "files": {p.name: file_sha256(p) for p in files}}
    write_atomic(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
