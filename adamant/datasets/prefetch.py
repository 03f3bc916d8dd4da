"""Reading the next item of a stream while the caller works on this one."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """`items` with the next one read in a thread while the caller works on this one: pyarrow
    decodes Parquet and parses CSV without the GIL, so reading overlaps the caller's work. Two
    items are held, not more; an error the stream raises is raised to the caller at its item."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item
