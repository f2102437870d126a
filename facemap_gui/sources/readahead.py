"""Reading a file ahead of the pipeline: decoding on a thread of its own overlaps inference on this one."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from facemap_gui.sources.base import lower_reader_priority

READ_AHEAD = 4  # items produced and waiting for the consumer, at most
T = TypeVar("T")
_END = object()


class ReadAhead(Generic[T]):
    """Iterates `produce()` (frames of a file, or anything read from one) on its own thread into a small queue,
    at the lowest priority (`lower_reader_priority`), so reading runs on the CPU time the consumer leaves. An
    exception raised while producing is raised by the consumer's iteration. `close()` stops the thread and
    waits for it (closing the producer on that thread), so the source may be closed after it."""

    def __init__(self, produce: Callable[[], Iterator[T]], name: str = "read-ahead", depth: int = READ_AHEAD) -> None:
        self._produce = produce
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lower_reader_priority()
        try:
            items = self._produce()
            try:
                for item in items:
                    if not self._put(item):
                        return
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()  # a generator's `with` blocks end here, on this thread
        except BaseException as exc:  # handed to the consumer, which raises it on its own thread
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item: object) -> bool:
        """Queue an item unless stopped first; False when stopped."""
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return True
        return False

    def __iter__(self) -> Iterator[T]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
