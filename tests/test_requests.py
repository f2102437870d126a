"""Every request a user can make (runtime, precision, detector backend, tracking) is honoured, or run as a fallback
that is told (stderr, the header's `requested` and `fallback_reason`, the window's status bar), or with --strict
refused in one line: on every path (--model, --stand-in, installed models, the demo, batch, track, the window)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facemap_gui.core import store
from facemap_gui.live.events import WorkerState
from tests.conftest import PHOTO
from tests.helpers import assert_one_line, cli_main

WAIT_MS = 60_000

# Path -> (command line before the request, where the JSON Lines header is, whether a w8a8 model is there).
# `--model` and `installed` have the float model only; the stand-in (also the demo's) comes with its w8a8 variant.
PATHS = {
    "--model": (["process", "{photo}", "--model", "{tiny_model}", "-o", "{out}/o.jsonl"], "o.jsonl", False),
    "--stand-in": (["process", "{photo}", "--stand-in", "-o", "{out}/o.jsonl"], "o.jsonl", True),
    "installed": (["process", "{photo}", "-o", "{out}/o.jsonl"], "o.jsonl", False),
    "demo": (["process", "demo:2", "--stand-in", "-o", "{out}/o.jsonl"], "o.jsonl", True),
    "batch": (
        ["process", "{photos}", "--output-dir", "{out}/b", "--jobs", "1", "--force", "--stand-in"],
        "b/p.jsonl",
        True,
    ),
    "track": (["track", "--source", "{photo}", "--model", "{tiny_model}", "--stream", "osf://127.0.0.1:9"], None, 0),
}
# Request -> (its options, the header section that records it, the start of its --strict error).
REQUESTS = {
    "precision w8a8": (["--precision", "w8a8"], "runtime", "--precision w8a8: "),
    "runtime npu": (["--runtime", "npu"], "runtime", "--runtime npu: "),
    "runtime gpu": (["--runtime", "gpu"], "runtime", "--runtime gpu: "),
    # The landmark model opens first, so with --strict its runtime is refused first.
    "detector onnx on npu": (["--detector-backend", "onnx", "--runtime", "npu"], "detector", "--runtime npu: "),
    "tracking": (["--tracking"], "tracking", "--tracking: "),
}


def honoured(path: str, request: str) -> bool:
    if request == "precision w8a8":
        return PATHS[path][2]
    if request == "tracking":
        return path == "demo"  # a video: tracking runs; still images have nothing to follow
    return False  # no NPU or GPU here


@pytest.fixture
def paths(tmp_path: Path, tiny_model: Path, tiny_w8a8: Path) -> dict[str, str]:
    """The installed float model and the generated stand-in (the tiny one with its w8a8 variant, where the app
    keeps the full one), as `models download` and `demo` leave them."""
    shutil.copytree(tiny_w8a8.parent, store.stand_in_dir("full"))
    store.landmark_model_path("float").parent.mkdir(parents=True)
    shutil.copyfile(tiny_model, store.landmark_model_path("float"))
    shutil.copytree(tiny_model.parent, store.basis_dir(), ignore=shutil.ignore_patterns("*.onnx", "*.json"))
    photos = tmp_path / "p"
    photos.mkdir()
    shutil.copyfile(PHOTO, photos / PHOTO.name)
    return {"photo": str(PHOTO), "photos": str(photos), "tiny_model": str(tiny_model), "out": str(tmp_path)}


@pytest.mark.parametrize("request_name", REQUESTS)
@pytest.mark.parametrize("path", PATHS)
def test_a_request_is_honoured_or_told_and_refused_with_strict(capsys, paths, path, request_name):
    command, header_file, _ = PATHS[path]
    options, section, strict_error = REQUESTS[request_name]
    argv = [arg.format(**paths) for arg in command] + options
    code, err = cli_main(capsys, *argv)
    assert code == 0, err
    if header_file is not None:
        header = json.loads((Path(paths["out"]) / header_file).read_text().splitlines()[0])
        record = header[section]["runtime"] if section == "detector" else header[section]
        if honoured(path, request_name):
            assert record["fallback_reason"] is None and record["requested"] == ""
            if request_name == "precision w8a8":
                assert record["precision"] == "w8a8"
        else:
            assert record["fallback_reason"] and record["requested"], record
    told = "asked for" in err
    assert told != honoured(path, request_name), err
    code, err = cli_main(capsys, *argv, "--strict")
    if honoured(path, request_name):
        assert code == 0, err
    elif path == "batch":  # each file fails with the reason, in the final table
        assert code == 1 and f"failed: {strict_error}" in err, err
    else:
        assert_one_line(code, err, f"facemap-gui: error: {strict_error}")


def test_the_stand_in_is_generated_with_its_w8a8_variant(monkeypatch, tmp_path):
    """What `demo` and `--stand-in` make the first time (the tiny architecture here, for speed)."""
    from facemap_gui.inference.landmarks.model import inspect_model
    from facemap_gui.models.standins import write_stand_in
    from facemap_gui.run import pipeline_builder

    monkeypatch.setattr(
        "facemap_gui.models.standins.write_stand_in",
        lambda directory, arch, precision: write_stand_in(directory, arch="tiny", precision=precision),
    )
    options = pipeline_builder.with_stand_in(pipeline_builder.RunOptions(precision="w8a8"))
    assert options.precision == "w8a8"
    w8a8 = options.model_path()
    assert w8a8.name == "facemap_3dmm_w8a8.onnx" and inspect_model(w8a8).stand_in


def test_the_window_on_the_stand_in_starts_on_w8a8_and_switches_to_float(qtbot, open_window, tiny_w8a8):
    """First launch without a model (settings saying w8a8): the stand-in, on the precision asked for."""
    from facemap_gui.gui.app import with_landmark_model
    from facemap_gui.live.settings import Settings
    from facemap_gui.run.pipeline_builder import RunOptions

    shutil.copytree(tiny_w8a8.parent, store.stand_in_dir("full"))
    options, make_model = with_landmark_model(
        RunOptions(source="demo:0", precision="w8a8"), Settings(), interactive=False
    )
    assert options.precision == "w8a8" and make_model is not None
    window = open_window("demo:0", model=make_model(), precision=options.precision)
    qtbot.waitUntil(lambda: window.latest is not None and window.latest.runtime.precision == "w8a8", timeout=WAIT_MS)
    window.choice.precision_actions["float"].trigger()
    qtbot.waitUntil(lambda: window.latest.runtime.precision == "float", timeout=WAIT_MS)
    window.choice.update_availability()
    assert not window.toolbar.widgetForAction(window.choice.precision_actions["w8a8"]).property("unavailable")
    window.choice.precision_actions["w8a8"].trigger()
    qtbot.waitUntil(lambda: window.latest.runtime.precision == "w8a8", timeout=WAIT_MS)
    assert window.latest.runtime.fallback_reason is None and window.choice.precision_actions["w8a8"].isChecked()


def test_the_window_tells_a_missing_precision_with_what_to_do_in_the_window(qtbot, open_window, tiny_model):
    window = open_window("demo:0", precision="w8a8")  # the tiny stand-in named at start has no w8a8
    text = window.status.text.text()
    assert text.startswith("w8a8 is not available, using float: ") and window.status.text.property("error")
    assert "put facemap_3dmm_w8a8.onnx there" in text and "facemap-gui" not in text
    qtbot.waitUntil(lambda: window.latest is not None, timeout=WAIT_MS)
    assert window.latest.runtime.precision == "float"
    installed = open_window("demo:0", model=None)
    installed.choice.update_availability()
    assert "File > Download models…" in installed.choice.precision_actions["w8a8"].toolTip()


@pytest.mark.parametrize("request_kwargs", [{"runtime": "npu"}, {"precision": "w8a8"}])
def test_the_window_with_strict_refuses_what_cannot_run(qtbot, open_window, request_kwargs):
    window = open_window("demo:0", strict=True, **request_kwargs)
    qtbot.waitUntil(lambda: window.worker.state is WorkerState.FAILED, timeout=WAIT_MS)
    # The worker fails on its thread; the window hears of it in its own event loop, a moment later.
    option = f"--{next(iter(request_kwargs))} "
    qtbot.waitUntil(lambda: window.status.text.text().startswith(option), timeout=WAIT_MS)
    assert window.status.text.property("error")
