"""The compact form of prepared rows, and how it expands into the feature matrix a model reads.

Preprocessing encodes a table column by column into two small matrices instead of its wide
feature matrix:

- `numbers`, float32 (rows, numeric features): each numeric column's standardized value (its
  missing and sentinel cells already filled with the training median);
- `codes`, int16 or int32 (rows, code columns): one code per categorical column (its level) and
  per numeric column with indicators (missing, sentinel or one of its few values). Codes are
  global: column c's local code k is stored as `bases[c] + k`, so one table lookup,
  `positions[code]`, gives the feature column it lights (or `width`, a column that is dropped,
  for "none": a plain numeric value, a level training never saw).

`FeatureLayout.expand` turns any rows of that pair into the float32 feature matrix, in
`Preprocessing.feature_names` order: the numbers in their columns, a 1 where a code points, and
the piecewise-linear bins of many-valued numeric columns computed from the standardized value.
Everything it does is float32 copies, compares and the two correctly rounded operations
(z - low) / width, so worker/engine/features.py, which does the same on the training device
batch by batch, gives the same bits. A 10M-row bank-marketing-like table with a 1,000- and a
20,000-level column is ~70 bytes a row this way; its 287-wide float32 matrix would be 1,148.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adamant.preparation.mapped import release_pages


@dataclass
class EncodedRows:
    numbers: np.ndarray  # float32 (rows, numeric features)
    codes: np.ndarray  # int16/int32 (rows, code columns), global codes
    embedded: np.ndarray  # int32 (rows, embedded columns): 1 + the level's index, 0 for none

    def __len__(self) -> int:
        return self.numbers.shape[0]

    @property
    def nbytes(self) -> int:
        return int(self.numbers.nbytes + self.codes.nbytes + self.embedded.nbytes)

    def take(self, rows: np.ndarray | slice) -> EncodedRows:
        return EncodedRows(self.numbers[rows], self.codes[rows], self.embedded[rows])


@dataclass
class FeatureLayout:
    """Where each encoded value lands in the feature matrix (built by Preprocessing.layout)."""

    width: int  # feature columns
    number_positions: np.ndarray  # int64 (numeric features,): the column of each standardized value
    ple_sources: np.ndarray  # int64 (bins,): the numbers column each bin reads
    ple_positions: np.ndarray  # int64 (bins,)
    ple_low: np.ndarray  # float32 (bins,): the bin's lower edge, standardized
    ple_width: np.ndarray  # float32 (bins,): the bin's width, standardized
    code_bases: np.ndarray  # int64 (code columns,): where each column's local codes start
    positions: np.ndarray  # int64 (codes,): the column a global code lights; `width` for none
    embedded: int = 0  # columns that reach the model as embedding indices, not features

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype(np.int16 if len(self.positions) <= np.iinfo(np.int16).max else np.int32)

    def empty(self, rows: int) -> EncodedRows:
        return EncodedRows(
            np.zeros((rows, len(self.number_positions)), dtype=np.float32),
            np.zeros((rows, len(self.code_bases)), dtype=self.code_dtype),
            np.zeros((rows, self.embedded), dtype=np.int32),
        )

    def expand(self, rows: EncodedRows) -> np.ndarray:
        """The float32 feature matrix of `rows` (see the module doc)."""
        n = len(rows)
        x = np.zeros((n, self.width + 1), dtype=np.float32)
        x[:, self.number_positions] = rows.numbers
        if len(self.ple_positions):
            values = rows.numbers[:, self.ple_sources]
            x[:, self.ple_positions] = np.clip((values - self.ple_low) / self.ple_width, np.float32(0), np.float32(1))
        if rows.codes.shape[1]:
            x[np.arange(n)[:, None], self.positions[rows.codes]] = np.float32(1)
        return np.ascontiguousarray(x[:, : self.width])

    def expand_in_chunks(self, rows: EncodedRows, chunk: int = 65_536):  # type: ignore[no-untyped-def]
        """(start, matrix) for consecutive chunks of `rows`: the matrix without holding it all
        (nor, for mapped rows, their pages: each chunk's are released once it is expanded)."""
        for start in range(0, len(rows), chunk):
            part = rows.take(slice(start, start + chunk))
            x = self.expand(part)
            release_pages(rows.numbers, rows.codes)
            yield start, x


class LayoutBuilder:
    """Collects features' layouts in feature order (used by Preprocessing.layout)."""

    def __init__(self) -> None:
        self.width = 0
        self.number_positions: list[int] = []
        self.ple: list[tuple[int, int, float, float]] = []
        self.code_bases: list[int] = []
        self.positions: list[int] = []
        self._none: list[int] = []  # indices in positions that mean "no column"
        self.embedded = 0

    def embedding(self) -> int:
        """An embedded column (no feature columns); returns its index in `embedded`."""
        self.embedded += 1
        return self.embedded - 1

    def number(self) -> int:
        """A standardized value in the next column; returns its numbers index."""
        self.number_positions.append(self.width)
        self.width += 1
        return len(self.number_positions) - 1

    def bins(self, source: int, low: np.ndarray, width: np.ndarray) -> None:
        # A width that rounds to 0 in float32 would divide by zero: the smallest normal instead.
        width = np.maximum(np.asarray(width, dtype=np.float32), np.finfo(np.float32).tiny)
        for lo, wide in zip(np.asarray(low, dtype=np.float32), width, strict=True):
            self.ple.append((source, self.width, float(lo), float(wide)))
            self.width += 1

    def codes(self, lights: list[bool]) -> None:
        """A code column: local code k lights the next free column when lights[k], else none."""
        self.code_bases.append(len(self.positions))
        for lit in lights:
            if lit:
                self.positions.append(self.width)
                self.width += 1
            else:
                self._none.append(len(self.positions))
                self.positions.append(-1)

    def build(self) -> FeatureLayout:
        positions = np.asarray(self.positions, dtype=np.int64)
        positions[self._none] = self.width
        ple = np.asarray(self.ple, dtype=np.float64).reshape(-1, 4)
        return FeatureLayout(
            width=self.width,
            number_positions=np.asarray(self.number_positions, dtype=np.int64),
            ple_sources=ple[:, 0].astype(np.int64),
            ple_positions=ple[:, 1].astype(np.int64),
            ple_low=ple[:, 2].astype(np.float32),
            ple_width=ple[:, 3].astype(np.float32),
            code_bases=np.asarray(self.code_bases, dtype=np.int64),
            positions=positions,
            embedded=self.embedded,
        )
