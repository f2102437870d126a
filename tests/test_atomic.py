"""write_atomic: the real name holds either the old file or the whole new one, never a half-written one."""

from __future__ import annotations

import pytest

from facemap_gui.atomic import write_atomic


def test_writes_whole_file_and_leaves_no_part(tmp_path):
    target = tmp_path / "settings.json"
    write_atomic(target, "{\"a\": 1}\n")
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def replace_fails(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("facemap_gui.atomic.os.replace", replace_fails)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
