"""The app's settings file: round trip, and any broken file falls back to defaults with a warning."""

from __future__ import annotations

import json

import pytest

from facemap_gui.live.settings import MAX_RECENT, VERSION, Settings, load_settings, save_settings, settings_path
from facemap_gui.sinks.overlay import OverlayOptions


def test_round_trip_in_the_data_directory(_isolated_home):
    settings = Settings(
        source="/videos/a.mp4",
        runtime="npu",
        precision="w8a8",
        overlay=OverlayOptions(boxes=False, axes=False),
        smoothing=False,
        smoothing_strength=0.8,
        hud=False,
        output_folder="/rec",
        geometry="AdnQywADAAA=",
        stream=True,
        stream_protocols=["vmc", "vts"],
        stream_osf="osf://[::1]:5000",
        stream_vmc="vmc://192.168.1.20:39540",
        camera_formats={"usb-0001": "640x480@15", "Integrated Camera": "1280x720@30"},
    )
    for i in range(MAX_RECENT + 3):
        settings.add_recent(f"/videos/{i}.mp4")
    settings.add_recent("/videos/3.mp4")  # again: moves to the front, no duplicate
    save_settings(settings)
    assert settings_path().parent == _isolated_home
    loaded, warning = load_settings()
    assert warning is None
    assert loaded == settings
    assert loaded.recent_files[:2] == ["/videos/3.mp4", "/videos/10.mp4"] and len(loaded.recent_files) == MAX_RECENT
    assert not list(_isolated_home.glob(".*.part"))


def test_a_file_from_when_one_format_was_streamed_at_a_time_keeps_its_choice():
    settings_path().write_text(json.dumps({"version": VERSION, "stream": True, "stream_protocol": "vts"}))
    settings, warning = load_settings()
    assert warning is None and settings.stream and settings.stream_protocols == ["vts"]


def test_no_file_gives_defaults_without_a_warning():
    assert load_settings() == (Settings(), None)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "Expecting property name"),
        (json.dumps({"version": VERSION + 1, "runtime": "cpu"}), "version"),
        (json.dumps(["a list"]), "version"),
        (json.dumps({"version": VERSION, "smoothing_strength": "high"}), "smoothing_strength"),
        (json.dumps({"version": VERSION, "overlay": {"boxes": "yes"}}), "overlay.boxes"),
        (json.dumps({"version": VERSION, "runtime": "tpu"}), "tpu"),
        (json.dumps({"version": VERSION, "recent_files": [1, 2]}), "recent_files"),
        (json.dumps({"version": VERSION, "stream_protocols": ["udp"]}), "stream_protocols ['udp']"),
        (json.dumps({"version": VERSION, "stream_protocols": []}), "stream_protocols []"),
        (json.dumps({"version": VERSION, "stream_protocols": ["vts", "vts"]}), "each once"),
        (json.dumps({"version": VERSION, "stream_protocols": "osf"}), "expected a list"),
        (json.dumps({"version": VERSION, "stream_protocol": "udp"}), "stream_protocols ['udp']"),
        (json.dumps({"version": VERSION, "stream_osf": "vmc://127.0.0.1:39539"}), "stream_osf"),
        (json.dumps({"version": VERSION, "stream_vmc": "vmc://127.0.0.1:70000"}), "stream_vmc"),
        (json.dumps({"version": VERSION, "stream": "yes"}), "stream is 'yes'"),
        (json.dumps({"version": VERSION, "camera_formats": {"usb-0001": [640, 480]}}), "camera_formats"),
        (json.dumps({"version": VERSION, "camera_formats": ["640x480"]}), "camera_formats"),
    ],
)
def test_a_broken_file_falls_back_to_defaults_with_a_warning(content, problem):
    settings_path().write_text(content)
    settings, warning = load_settings()
    assert settings == Settings()
    assert str(settings_path()) in warning and problem in warning and "using defaults" in warning


def test_binary_garbage_is_a_warning_too():
    settings_path().write_bytes(b"\xff\xfe\x00garbage")
    settings, warning = load_settings()
    assert settings == Settings() and warning


def test_missing_keys_keep_defaults_and_integers_are_accepted_as_floats():
    settings_path().write_text(json.dumps({"version": VERSION, "precision": "w8a8", "smoothing_strength": 1}))
    settings, warning = load_settings()
    assert warning is None
    assert settings.precision == "w8a8" and settings.smoothing_strength == 1.0 and settings.runtime == "cpu"


def test_an_unwritable_location_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    save_settings(Settings(), blocker / "settings.json")  # parent is a file: cannot be created
    assert "cannot save settings" in caplog.text
