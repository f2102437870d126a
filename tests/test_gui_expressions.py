"""The expressions panel (pytest-qt, offscreen): View › Expressions panel (E) shows a bar for every computed
expression and signal of the first face, with the values the frame's blendshapes have (relative to the neutral
face once calibrated), and plots a few of them."""

from __future__ import annotations

import pytest

from facemap_gui.gui.expressions_view import PLOTTED, SIGNALS
from facemap_gui.live.settings import Settings
from facemap_gui.perframe.expressions import ARKIT_NAMES, COMPUTED, blendshapes
from facemap_gui.perframe.signals import face_signals
from facemap_gui.sources.demo import DEMO_LOOP

WAIT_MS = 20_000


def test_the_expressions_panel_shows_the_frames_blendshapes(qtbot, open_window):
    window = open_window(DEMO_LOOP, Settings())
    assert not window.expressions_area.isVisible()
    assert window.expressions_action.shortcut().toString() == "E"
    window.expressions_action.trigger()
    assert window.expressions_area.isVisible()
    qtbot.waitUntil(lambda: len(window.expressions.plot.history["jawOpen"]) >= 3, timeout=WAIT_MS)
    window._hud_timer.stop()  # hold the panel still while it is compared with the frame it shows
    window._refresh_hud()
    live = window.latest
    face = live.result.faces[0]
    expected = blendshapes(face)
    signals = face_signals(face, live.result.frame.size)
    bars = window.expressions.bars.rows
    assert tuple(bars) == (*COMPUTED, *SIGNALS) and len(COMPUTED) == 25
    assert {n: bars[n] for n in COMPUTED} == pytest.approx({n: expected[n] for n in COMPUTED})
    assert bars["eye_open_left"] == pytest.approx(signals.eye_open_left)
    assert [window.expressions.plot.history[n][-1] for n in PLOTTED] == pytest.approx([expected[n] for n in PLOTTED])
    window.expressions.show_all.setChecked(True)
    assert tuple(window.expressions.bars.rows) == (*ARKIT_NAMES, *SIGNALS)
    assert window.expressions.bars.rows["tongueOut"] == 0.0
