"""Prepared rows on the training device, kept compact and expanded into features batch by batch.

A table's rows stay in their compact encoding (adamant/preparation/encoding.py: float32
standardized numbers and int16/int32 codes, ~70 bytes a row for a typical customer table)
from preparation to the device; only the batch a step reads becomes the float32 feature
matrix the model takes. `DeviceFeatures.expand` does what `FeatureLayout.expand` does in
numpy, with the same float32 operations, so the features a model trains on are the bits
prediction computes (tests/worker/test_features.py holds them equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from adamant.preparation.encoding import EncodedRows, FeatureLayout

EVAL_BATCH = 65_536
DENSE_BYTES = 256 * 2**20  # a split whose feature matrix fits is expanded once (see DeviceFeatures.of)


class DeviceLayout:
    """A FeatureLayout's index tables on a device."""

    def __init__(self, layout: FeatureLayout, device: torch.device) -> None:
        def t(array: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(array, device=device)

        self.width = layout.width
        self.number_positions = t(layout.number_positions)
        self.ple_sources = t(layout.ple_sources)
        self.ple_positions = t(layout.ple_positions)
        self.ple_low = t(layout.ple_low)
        self.ple_width = t(layout.ple_width)
        self.positions = t(layout.positions)

    def expand(self, numbers: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        # index_select/index_copy_/index_fill_ rather than x[:, cols] = ...: measured 2x faster
        # on CPU for a 1,024-row batch of 223 features (550 -> ~260 us).
        n = numbers.shape[0]
        x = torch.zeros((n, self.width + 1), dtype=torch.float32, device=numbers.device)
        x.index_copy_(1, self.number_positions, numbers)
        if self.ple_positions.numel():
            values = numbers.index_select(1, self.ple_sources)
            x.index_copy_(1, self.ple_positions, ((values - self.ple_low) / self.ple_width).clamp_(0.0, 1.0))
        if codes.shape[1]:
            lit = self.positions.index_select(0, codes.reshape(-1).long()).view(n, -1)
            lit += torch.arange(n, device=x.device).mul_(self.width + 1).unsqueeze(1)
            x.view(-1).index_fill_(0, lit.view(-1), 1.0)
        return x[:, : self.width]


@dataclass
class DeviceFeatures:
    """Rows of one split on the device: their compact encoding and the layout that expands it."""

    numbers: torch.Tensor
    codes: torch.Tensor
    embedded: torch.Tensor  # int64 (rows, embedded columns): embedding rows, for the model itself
    layout: DeviceLayout
    dense: torch.Tensor | None = None  # the whole feature matrix, when it is small (see `of`)

    @classmethod
    def of(
        cls, rows: EncodedRows, layout: DeviceLayout, device: torch.device, dense_bytes: int = DENSE_BYTES
    ) -> DeviceFeatures:
        """The rows on `device`; expanded once and kept whole when that takes at most
        `dense_bytes` (a batch is then a row gather, ~15x cheaper than expanding it), else
        kept compact and expanded batch by batch. Both give the same bits."""
        numbers = torch.as_tensor(np.ascontiguousarray(rows.numbers), device=device)
        codes = torch.as_tensor(np.ascontiguousarray(rows.codes), device=device)
        embedded = torch.as_tensor(np.ascontiguousarray(rows.embedded), dtype=torch.long, device=device)
        features = cls(numbers, codes, embedded, layout)
        if len(rows) * layout.width * 4 <= dense_bytes:
            features.dense = features.whole()
        return features

    def __len__(self) -> int:
        return self.numbers.shape[0]

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """The feature matrix of the rows at `idx`."""
        if self.dense is not None:
            return self.dense.index_select(0, idx)
        return self.layout.expand(self.numbers.index_select(0, idx), self.codes.index_select(0, idx))

    def rows(self, part: slice) -> torch.Tensor:
        if self.dense is not None:
            return self.dense[part]
        return self.layout.expand(self.numbers[part], self.codes[part])

    def whole(self) -> torch.Tensor:
        """Every row's features at once (segmentation's clustering; small tables only)."""
        if self.dense is not None or not len(self):
            return self.rows(slice(None))
        return self.map_batches(lambda x, *_: x.contiguous())

    def inputs(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What a model takes for the rows at `idx`: the features, then (when the data has
        embedded columns) their embedding rows."""
        if self.embedded.shape[1]:
            return self.batch(idx), self.embedded.index_select(0, idx)
        return (self.batch(idx),)

    def map_batches(self, fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        """fn over the inputs (as `inputs` gives them) of consecutive batches of EVAL_BATCH rows, concatenated."""
        n = len(self)

        def inputs(part: slice) -> tuple[torch.Tensor, ...]:
            x = self.rows(part)
            return (x, self.embedded[part]) if self.embedded.shape[1] else (x,)

        return torch.cat([fn(*inputs(slice(i, min(i + EVAL_BATCH, n)))) for i in range(0, n, EVAL_BATCH)])
