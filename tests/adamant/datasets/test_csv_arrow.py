"""The Arrow CSV path reads a file to the same frame as the careful path, and hands it the files it cannot read."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamant.datasets import readers
from adamant.datasets.readers import read_table
from adamant.exceptions import DatasetError

CASES = {
    "types": "id,code,age,spend,vip,city\n1,00017,34,12.5,true,Lyon\n2,00018,41,,FALSE,  Paris \n3,00019,NA,7,true,\n",
    "missing markers": "a,b,c\nNA,n/a,null\n1,None,x\n<NA>,2,#N/A\nnan,3,y\n",
    "quotes": 'name,note,n\n"Smith, J","said ""hi""",1\n"Doe","two\nlines",2\nplain,"",3\n',
    "semicolons, CRLF, blank lines": "a;b;c\r\n1;2,5;x\r\n\r\n3;4,5;y\r\n",
    "no header": "1,2.5,a\n2,3.5,b\n3,4.5,c\n",
    "long integers": "id,v\n1234567890123456789,1\n1234567890123456790,2\n",
    "an empty column": "a,b\n1,\n2,\n",
    "numbers with spaces and signs": "x,y\n +1 ,-2.5e3\n-7, .5\n",
}


def careful(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_read_csv_with_arrow", lambda *args, **kwargs: None)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_arrow_path_reads_what_the_careful_path_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(CASES[case].encode())
    taken = readers._read_csv_with_arrow(path, "auto", None, None, None, False)
    fast, categories = read_table(path), read_table(path, text_as_categories=True)
    careful(monkeypatch)
    slow = read_table(path)

    assert taken is not None, "the Arrow path handed this file to the careful path"
    pd.testing.assert_frame_equal(fast, slow)
    for column in categories:  # text as categoricals: the same values
        if isinstance(categories[column].dtype, pd.CategoricalDtype):
            assert categories[column].astype(object).where(categories[column].notna(), None).tolist() == \
                slow[column].astype(object).where(slow[column].notna(), None).tolist()
        else:
            pd.testing.assert_series_equal(categories[column], slow[column])


def test_a_large_synthetic_table_reads_the_same_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    rows = 30_000
    frame = pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(rows)],
        "age": rng.integers(18, 90, rows),
        "balance": rng.normal(size=rows).round(3),
        "segment": rng.choice(["gold", "silver", "bronze", None], rows),
    })
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 100_000)  # many blocks, several threads
    fast = read_table(path)
    careful(monkeypatch)
    pd.testing.assert_frame_equal(fast, read_table(path))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a,b\n1,2\n3,4,5\n", "data row 2 (file line 3) has 3 fields"),
        ("a,b\n1,2\n   \n3\n", "has 1 fields"),
    ],
)
def test_a_malformed_row_is_named_by_the_careful_path(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert readers._read_csv_with_arrow(path, "auto", None, None, None, False) is None
    with pytest.raises(DatasetError, match=re.escape(words)):
        read_table(path)


def test_files_the_arrow_path_leaves_to_the_careful_one(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,city\nJosé,Zürich\n".encode("cp1252"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("a b c\n1 2 3\n4 5 6\n")
    for path in (latin, bom, spaced):
        assert readers._read_csv_with_arrow(path, "auto", None, None, None, False) is None, path.name
    assert read_table(latin)["city"].tolist() == ["Zürich"]
    assert list(read_table(bom).columns) == ["a", "b"]
    assert read_table(spaced)["c"].tolist() == [3, 6]
