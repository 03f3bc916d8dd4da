"""Rows prepared by streaming, read from their mapped files a window of shuffled blocks at a time.

A streamed table's encoded rows (adamant/preparation/streamed.py) stay on disk. An epoch visits
the training rows in a `BlockOrder`: the rows are cut into blocks of BLOCK_ROWS consecutive rows,
the blocks are shuffled, taken WINDOW_BLOCKS at a time, and the rows of each window (~1M)
shuffled together. `StreamedSplit` reads a window's blocks once, as sequential reads, onto the
device, and draws that window's batches from it; at most two windows are held (a batch can
straddle two), so memory stays at ~2 x 1M rows whatever the table's size. The order is a pure
function of (seed, epoch), so a resumed run sees the batches the uninterrupted one saw.

How well this mixes: every row is visited once per epoch; a batch holds rows of up to 16 places
of the file rather than of anywhere in it, and which 16 changes every epoch. For a file sorted
by some column (a date, a region) that is much closer to a full shuffle than to reading in
order; for a file in random order it is the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from adamant.preparation.encoding import EncodedRows
from adamant.preparation.mapped import copy_rows
from worker.engine.features import EVAL_BATCH, DeviceLayout

BLOCK_ROWS = 65_536
WINDOW_BLOCKS = 16
_HELD_WINDOWS = 2


class BlockOrder:
    """The training rows' order in one epoch (see the module doc); `order[a:b]` is a CPU int64 tensor."""

    def __init__(self, n: int, seed: int, epoch: int, block_rows: int | None = None, window_blocks: int | None = None) -> None:
        block_rows = BLOCK_ROWS if block_rows is None else block_rows  # read when called: tests shrink them
        window_blocks = WINDOW_BLOCKS if window_blocks is None else window_blocks
        self.n, self.seed, self.epoch, self.block_rows = n, seed, epoch, block_rows
        n_blocks = math.ceil(n / block_rows)
        self.blocks = np.random.default_rng([seed, epoch]).permutation(n_blocks)
        self.windows = [self.blocks[i : i + window_blocks] for i in range(0, n_blocks, window_blocks)]
        sizes = [int(self.block_sizes(blocks).sum()) for blocks in self.windows]
        self.window_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.window_of_block = np.empty(n_blocks, dtype=np.int64)
        for w, blocks in enumerate(self.windows):
            self.window_of_block[blocks] = w
        self._rows: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.n

    def block_sizes(self, blocks: np.ndarray) -> np.ndarray:
        return np.minimum(self.block_rows, self.n - blocks * self.block_rows)

    def window_rows(self, w: int) -> np.ndarray:
        """Window w's rows in their shuffled order."""
        if w not in self._rows:
            rows = np.concatenate([np.arange(b * self.block_rows, min((b + 1) * self.block_rows, self.n)) for b in self.windows[w]])
            if len(self._rows) >= _HELD_WINDOWS:
                del self._rows[min(self._rows)]
            self._rows[w] = rows[np.random.default_rng([self.seed, self.epoch, w + 1]).permutation(len(rows))]
        return self._rows[w]

    def __getitem__(self, part: slice) -> torch.Tensor:
        start, stop, _ = part.indices(self.n)
        if stop <= start:
            return torch.empty(0, dtype=torch.long)
        first = int(np.searchsorted(self.window_starts, start, side="right")) - 1
        last = int(np.searchsorted(self.window_starts, stop - 1, side="right")) - 1
        pieces = []
        for w in range(first, last + 1):
            begin = self.window_starts[w]
            pieces.append(self.window_rows(w)[max(start - begin, 0) : min(stop, self.window_starts[w + 1]) - begin])
        return torch.from_numpy(np.concatenate(pieces))


class _Window:
    """One window's rows on the device, and where each of its blocks starts among them."""

    def __init__(self, split: StreamedSplit, blocks: np.ndarray, block_rows: int) -> None:
        parts = [slice(b * block_rows, min((b + 1) * block_rows, len(split))) for b in blocks]
        sizes = np.array([p.stop - p.start for p in parts])
        self.base = np.full(int(blocks.max()) + 1, -1, dtype=np.int64)
        self.base[blocks] = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.tensors = [split.read(array, parts) for array in split.arrays]


class StreamedSplit:
    """A split's rows in mapped files (numbers, codes, embedded indices and targets)."""

    def __init__(self, rows: EncodedRows, y: np.ndarray, layout: DeviceLayout, device: torch.device, y_dtype: torch.dtype) -> None:
        self.arrays = (rows.numbers, rows.codes, rows.embedded, y)
        self.layout, self.device, self.y_dtype = layout, device, y_dtype
        self.order: BlockOrder | None = None
        self._windows: dict[int, _Window] = {}

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def read(self, array: np.ndarray, parts: list[slice]) -> torch.Tensor:
        """Rows `parts` of one of the arrays, concatenated, on the device (pages released after)."""
        block = torch.as_tensor(np.concatenate([copy_rows(array, part) for part in parts]), device=self.device)
        return block.to(self.y_dtype) if array is self.arrays[-1] else block

    def epoch_order(self, seed: int, epoch: int) -> BlockOrder:
        self.order = BlockOrder(len(self), seed, epoch)
        self._windows.clear()
        return self.order

    def batch(self, idx: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """(the model's inputs, the targets) of the training rows `idx`, drawn from the epoch order's windows."""
        assert self.order is not None, "epoch_order first"
        rows = idx.cpu().numpy()
        blocks = rows // self.order.block_rows
        windows = self.order.window_of_block[blocks]
        pieces = []
        for w in dict.fromkeys(windows.tolist()):  # in order of first appearance: deterministic
            chosen = windows == w
            window = self._window(w)
            local = window.base[blocks[chosen]] + rows[chosen] - blocks[chosen] * self.order.block_rows
            at = torch.as_tensor(local, device=self.device)
            pieces.append([tensor.index_select(0, at) for tensor in window.tensors])
        numbers, codes, embedded, y = (torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*pieces))
        return self._inputs(numbers, codes, embedded), y

    def _window(self, w: int) -> _Window:
        if w not in self._windows:
            if len(self._windows) >= _HELD_WINDOWS:
                del self._windows[min(self._windows)]
            assert self.order is not None
            self._windows[w] = _Window(self, self.order.windows[w], self.order.block_rows)
        return self._windows[w]

    def _inputs(self, numbers: torch.Tensor, codes: torch.Tensor, embedded: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.layout.expand(numbers, codes)
        return (x, embedded.long()) if embedded.shape[1] else (x,)

    def targets(self) -> torch.Tensor:
        """Every row's target (evaluation's metrics need them all: 4-8 bytes a row)."""
        return self.read(self.arrays[-1], [slice(0, len(self))])

    def map_batches(self, fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        """fn over the inputs of consecutive batches of EVAL_BATCH rows, read in file order, concatenated."""
        out = []
        for start in range(0, len(self), EVAL_BATCH):
            part = [slice(start, min(start + EVAL_BATCH, len(self)))]
            numbers, codes, embedded = (self.read(array, part) for array in self.arrays[:3])
            out.append(fn(*self._inputs(numbers, codes, embedded)))
        return torch.cat(out)
