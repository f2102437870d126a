"""Native chatter capture (native.py): what C code writes to the descriptors is logged, never shown, even when
threads capture at overlapping times (a window's detector set-up beside its inference thread)."""

from __future__ import annotations

import logging
import os
import threading

from facemap_gui.native import captured_native_output


def test_overlapping_captures_from_two_threads_keep_everything_off_the_descriptor(capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="facemap_gui.native")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with captured_native_output():
            first_in.set()
            second_in.wait()
            os.write(2, b"first\n")
        first_out.set()

    def second() -> None:
        first_in.wait()
        with captured_native_output():
            second_in.set()
            first_out.wait()  # the first capture has ended while this one still runs
            os.write(2, b"second, after the first ended\n")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.write(2, b"not captured\n")
    # The descriptor is back where it pointed before. (An earlier in-process `main()` may have left the app's log
    # handler on stderr: its "facemap-gui: ..." lines are the log below, not the raw text.)
    raw = [line for line in capfd.readouterr().err.splitlines() if not line.startswith("facemap-gui: ")]
    assert raw == ["not captured"]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["native: first", "native: second, after the first ended"]
