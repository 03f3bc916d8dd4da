"""What a column of text read from a CSV holds (numbers, true/false flags, or text), decided from
every value, and its values typed accordingly.

The rule (readers._typed_values reads a whole column by it; csv_stream.py reads a file too large
for memory batch by batch, gathering the same facts in one pass and typing in a second):

- blank and missing cells (after trimming whitespace) are missing; a column with no present value
  is float64, all missing;
- every present value a number: int64 when all are integers (float64 when one overflows int64),
  else float64; except integers with a zero-padded value ("007") or longer than 15 characters
  (postcodes, account numbers), which stay text;
- every value true or false, none missing (any case): booleans;
- anything else: text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
INTEGER = r"[+-]?\d+"
MAX_NUMERIC_DIGITS = 15

Kind = str  # "empty" | "int" | "float" | "bool" | "text"


def cleaned(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Trimmed text, blank cells missing."""
    values = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


@dataclass
class TextKind:
    """The facts about a column's cleaned values that decide its kind, gathered batch by batch."""

    present: int = 0
    missing: int = 0
    numbers: bool = True  # every present value a number
    integers: bool = True
    zero_padded: bool = False
    longest: int = 0
    flags: bool = True  # every present value true or false
    fits_int64: bool = True

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        present = values.drop_null()
        self.missing += len(values) - len(present)
        self.present += len(present)
        if not len(present):
            return
        if self.numbers:
            self.numbers = bool(pc.all(pc.match_substring_regex(present, f"^{NUMBER}$")).as_py())
        if self.numbers and self.integers:
            self.integers = bool(pc.all(pc.match_substring_regex(present, f"^{INTEGER}$")).as_py())
            self.zero_padded = self.zero_padded or bool(pc.any(pc.match_substring_regex(present, r"^[+-]?0\d")).as_py())
            self.longest = max(self.longest, int(pc.max(pc.utf8_length(present)).as_py()))
            if self.integers and self.fits_int64:
                try:
                    pc.cast(present, pa.int64())
                except pa.ArrowInvalid:
                    self.fits_int64 = False
        if self.flags:
            self.flags = bool(pc.all(pc.is_in(pc.utf8_lower(present), pa.array(["true", "false"]))).as_py())

    def decide(self) -> Kind:
        if self.present == 0:
            return "empty"
        if self.numbers and not (self.integers and (self.zero_padded or self.longest > MAX_NUMERIC_DIGITS)):
            return "int" if self.integers and self.fits_int64 else "float"
        if self.flags and self.missing == 0:
            return "bool"
        return "text"


def kind_of(values: pa.Array | pa.ChunkedArray) -> Kind:
    """The kind of a whole column of cleaned values."""
    facts = TextKind()
    facts.update(values)
    return facts.decide()


def typed_arrow(values: pa.Array | pa.ChunkedArray, kind: Kind) -> pa.Array | pa.ChunkedArray:
    """Cleaned values as Arrow data of `kind` (text stays text)."""
    if kind == "empty":
        return pa.nulls(len(values), pa.float64())
    if kind in ("int", "float"):
        return pc.cast(values, pa.int64() if kind == "int" else pa.float64())
    if kind == "bool":
        return pc.equal(pc.utf8_lower(values), "true")
    return values
