"""atomic.replacing: the real name holds either the old file or the whole new one, never a half-written one."""

from __future__ import annotations

import pytest

from facemap_gui.core.atomic import replacing, write_atomic


def test_writes_whole_file_and_leaves_no_part(tmp_path):
    target = tmp_path / "settings.json"
    write_atomic(target, '{"a": 1}\n')
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def replace_fails(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("facemap_gui.core.atomic.os.replace", replace_fails)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_symlink_stays_a_link_and_its_target_gets_the_new_file(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_block_that_writes_nothing_changes_nothing(tmp_path):
    target = tmp_path / "cache.onnx"
    target.write_text("old")
    with replacing(target) as part:
        assert part.parent == tmp_path and part.name.startswith(".cache.onnx.")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["cache.onnx"]


def test_a_failure_with_keep_partial_keeps_the_old_file_and_the_partial_beside_it(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), replacing(target, keep_partial=True) as part:
        part.write_text("partial\n")
        raise RuntimeError("the run failed")
    assert target.read_text() == "old\n" and (tmp_path / "out.jsonl.partial").read_text() == "partial\n"
    fresh = tmp_path / "fresh.jsonl"  # nothing there to lose: the partial output takes the name
    with pytest.raises(RuntimeError), replacing(fresh, keep_partial=True) as part:
        part.write_text("partial\n")
        raise RuntimeError("the run failed")
    assert fresh.read_text() == "partial\n"
