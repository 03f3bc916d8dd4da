"""Arrays on disk: .npy files written front to back, and mapped ones read a part at a time.

A memory-mapped file's pages count in the process's resident set once touched, and stay there
while the mapping lives (clean pages are only dropped under memory pressure), so sweeping a
10 GB mapped table once would show as 10 GB of RSS. `copy_rows` copies a part out and
`release_pages` tells the kernel the mapping's pages are not needed (madvise MADV_DONTNEED:
they stay in the page cache, not in this process), which keeps a sweep's RSS at one part.
`NpyWriter` writes an array whose final shape is known row block by row block with plain
file writes, so writing a table never holds it, or its dirty pages, in the process either.
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

import numpy as np


def release_pages(*arrays: np.ndarray) -> None:
    """Drop the resident pages of each memory-mapped array's whole mapping (no-op for others)."""
    for array in arrays:
        mapping = getattr(array, "_mmap", None)
        if isinstance(mapping, mmap.mmap):
            with contextlib.suppress(ValueError, OSError):  # closed, or a platform without madvise
                mapping.madvise(mmap.MADV_DONTNEED)


def copy_rows(array: np.ndarray, part: slice) -> np.ndarray:
    """Rows `part` of `array` as an array in memory; a mapped array's pages are released after."""
    copied = np.array(array[part])
    release_pages(array)
    return copied


def open_mapped(path: Path) -> np.ndarray:
    """An .npy file mapped copy-on-write: a write changes this process's copy, never the file."""
    return np.load(path, mmap_mode="c", allow_pickle=False)


class NpyWriter:
    """An .npy file of `shape` written front to back: the header first, then `append` row blocks."""

    def __init__(self, path: Path, dtype: np.dtype | type, shape: tuple[int, ...]) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.rows = 0
        self._file = self.path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_2_0(self._file, header)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
            raise ValueError(f"{self.path.name}: a block of shape {block.shape} does not fit {self.shape} after {self.rows} rows")
        block.tofile(self._file)
        self.rows += len(block)

    def close(self, *, complete: bool = True) -> None:
        """Close the file; with `complete`, ValueError unless every row of the shape was written."""
        self._file.close()
        if complete and self.rows != self.shape[0]:
            raise ValueError(f"{self.path.name}: {self.rows} rows written of {self.shape[0]}")
