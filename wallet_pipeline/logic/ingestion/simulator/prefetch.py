"""Run a generator in a background thread, a few items ahead of its consumer.

The simulation is NumPy and Arrow work that holds the GIL much of the time; loading a chunk is a
DuckDB insert that releases it. Generating the next chunk while DuckDB writes the last one keeps
both cores of a small machine busy. The items and their order are the generator's own: only the
thread that runs it changes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# How long a blocked producer waits before it checks whether the consumer has gone.
_POLL_SECONDS = 0.1


class _Done:
    """End of the stream; `error` is what the generator raised, if anything."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of `items`, produced in a background thread at most `depth` ahead.

    Args:
        items: any iterable; it is iterated in one other thread, in order.
        depth: items produced but not yet consumed (bounds the extra memory).

    Yields:
        The same items in the same order. An exception raised by the producer is raised here,
        after the items produced before it. Closing this generator early (or an exception in
        the consumer) stops the producer at its next item and waits for it to finish.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Done(error))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put(_Done())

    worker = threading.Thread(target=produce, name="prefetched", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
