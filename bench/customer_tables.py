"""Synthetic customer tables for the data-at-scale benchmark: bank-marketing scaled to N rows, as Parquet.

    python -m bench.customer_tables OUT.parquet --rows 1000000 [--seed 0]

How a table is made (issue 11):

- Rows are bank-marketing's (the built-in copy, 41,188 rows x 21 columns) drawn with
  replacement. Numeric columns are jittered: each value gets Gaussian noise of 5% of its
  column's standard deviation, and integer columns are rounded back to integers (age clipped
  at 17, counts at 0; pdays keeps its 999 "never contacted"), so copies of a row differ.
- `customer_id`: 1..N, an int64 column a real table would carry (the spec names it id_column).
- `postcode`: 20,000 levels ("P00000".."P19999"), drawn with Zipf-like weights
  1 / (rank + 10)^0.8, so a few postcodes are common and most are rare, as in a real table.
- `region`: 1,000 levels ("R000".."R999"), the postcode's region (postcode // 20): the two
  columns are nested as they are in real geography.
- `y`: "yes"/"no" drawn from sigmoid(logit) with
  logit = 3 * (y_original - 0.5) - 1 + offset[postcode],
  offset[postcode] ~ N(0, 1) drawn once per postcode. The bank features predict y only through
  the original row's label; the postcode carries signal of its own (about as strong as a
  moderate feature), which an embedding of postcode can learn and a collapse of it to its 50
  most frequent levels plus `__other__` mostly loses.

The table is written in record batches (default 250,000 rows) with pyarrow's ParquetWriter:
never more than one batch is in memory, so a 100M-row table is written in ~constant memory.
Categoricals are plain UTF-8 string columns, as pandas or a warehouse export writes them
(Parquet dictionary-encodes them on disk).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

POSTCODES, REGIONS = 20_000, 1_000
POSTCODES_PER_REGION = POSTCODES // REGIONS
BATCH_ROWS = 250_000
JITTER = 0.05  # of each numeric column's standard deviation
LABEL_WEIGHT, BASE_LOGIT = 3.0, -1.0  # logit = LABEL_WEIGHT * (y_original - 0.5) + BASE_LOGIT + offset[postcode]
ZIPF_SHIFT, ZIPF_POWER = 10.0, 0.8
TARGET = "y"


def bank_marketing() -> pa.Table:
    from adamant.datasets import get_builtin

    # 41k rows: the one place a pandas frame is used, and it is the seed table, not the output
    return pa.Table.from_pandas(get_builtin("bank-marketing").load(), preserve_index=False)


def postcode_weights() -> np.ndarray:
    weights = 1.0 / (np.arange(POSTCODES) + ZIPF_SHIFT) ** ZIPF_POWER
    return weights / weights.sum()


def postcode_offsets(seed: int) -> np.ndarray:
    """The per-postcode logit offset: the signal the postcode column carries."""
    return np.random.default_rng([seed, 1]).standard_normal(POSTCODES)


def write_customer_table(path: Path, rows: int, *, seed: int = 0, batch_rows: int = BATCH_ROWS) -> dict:
    """Write `rows` rows to `path` (Parquet) batch by batch; what was written, and how long it took."""
    started = time.perf_counter()
    seed_table = bank_marketing()
    original_y = (np.asarray(seed_table.column(TARGET).to_pylist()) == "yes").astype(np.float64)
    features = seed_table.drop_columns([TARGET])
    numeric = {name: features.column(name).to_numpy() for name in features.column_names
               if pa.types.is_integer(features.schema.field(name).type) or pa.types.is_floating(features.schema.field(name).type)}
    spread = {name: float(np.std(values)) for name, values in numeric.items()}
    postcode_names = pa.array([f"P{i:05d}" for i in range(POSTCODES)])
    region_names = pa.array([f"R{i:03d}" for i in range(REGIONS)])
    weights, offsets = postcode_weights(), postcode_offsets(seed)
    rng = np.random.default_rng([seed, 2])

    schema = None
    written, positives = 0, 0
    writer: pq.ParquetWriter | None = None
    try:
        while written < rows:
            n = min(batch_rows, rows - written)
            pick = rng.integers(0, features.num_rows, n)
            columns: dict[str, pa.Array] = {"customer_id": pa.array(np.arange(written + 1, written + n + 1, dtype=np.int64))}
            for name in features.column_names:
                if name in numeric:
                    original = numeric[name][pick]
                    values = original + rng.normal(0.0, JITTER * spread[name], n)
                    if name == "pdays":  # 999 means "never contacted": a code, not a number of days
                        values = np.where(original == 999, 999, values)
                    if np.issubdtype(numeric[name].dtype, np.integer):
                        values = np.clip(np.rint(values), 17 if name == "age" else 0, None).astype(np.int64)
                    columns[name] = pa.array(values)
                else:
                    columns[name] = features.column(name).take(pick).combine_chunks().cast(pa.string())
            postcode = rng.choice(POSTCODES, size=n, p=weights)
            columns["region"] = region_names.take(pa.array(postcode // POSTCODES_PER_REGION))
            columns["postcode"] = postcode_names.take(pa.array(postcode))
            logit = LABEL_WEIGHT * (original_y[pick] - 0.5) + BASE_LOGIT + offsets[postcode]
            y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
            positives += int(y.sum())
            columns[TARGET] = pa.array(np.where(y, "yes", "no"))
            batch = pa.RecordBatch.from_pydict(columns)
            if writer is None:
                schema = batch.schema
                writer = pq.ParquetWriter(path, schema)
            writer.write_batch(batch)
            written += n
    finally:
        if writer is not None:
            writer.close()
    return {
        "rows": written,
        "columns": len(schema.names) if schema is not None else 0,
        "positive_rate": positives / max(written, 1),
        "bytes": path.stat().st_size,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    info = write_customer_table(args.out, args.rows, seed=args.seed)
    print(f"{args.out}: {info['rows']:,} rows x {info['columns']} columns, {info['bytes'] / 2**20:.1f} MiB, "
          f"positive rate {info['positive_rate']:.3f}, written in {info['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
