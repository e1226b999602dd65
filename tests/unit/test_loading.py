"""read_table: separators, encodings, compression, Parquet, and the files it must refuse."""

from __future__ import annotations

import gzip
import io
import time

import numpy as np
import pandas as pd
import pytest

from shared.engine.loading import read_table, sniff_separator
from shared.exceptions import (
    DataValidationError,
    EmptyFileError,
    FileTooLargeError,
    NotATableError,
    UnsupportedFormatError,
)

EXPECTED = pd.DataFrame({"id": [1, 2], "city": ["Köln", "Zürich, CH"], "spend": [10.5, 20.0]})


def _csv(sep: str, *, newline: str = "\n", encoding: str = "utf-8", bom: bool = False) -> bytes:
    lines = [
        sep.join(["id", "city", "spend"]),
        sep.join(["1", "Köln", "10.5"]),
        sep.join(["2", '"Zürich, CH"', "20.0"]),
    ]
    text = newline.join(lines) + newline
    return ("\ufeff" if bom else "").encode(encoding) + text.encode(encoding)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_every_separator_gives_the_same_table(sep: str) -> None:
    frame = read_table(_csv(sep), filename="customers.csv")
    pd.testing.assert_frame_equal(frame, EXPECTED, check_dtype=False)
    assert frame["spend"].dtype == np.float64
    assert frame["id"].dtype == np.int64


@pytest.mark.parametrize(
    ("encoding", "bom", "newline"),
    [("utf-8", False, "\n"), ("utf-8", True, "\r\n"), ("latin-1", False, "\r\n")],
)
def test_encodings_bom_and_crlf(encoding: str, bom: bool, newline: str) -> None:
    frame = read_table(
        _csv(",", newline=newline, encoding=encoding, bom=bom), filename="customers.csv"
    )
    assert list(frame.columns) == ["id", "city", "spend"]
    assert frame["city"].tolist() == ["Köln", "Zürich, CH"]


def test_latin1_detected_after_the_sniffed_sample() -> None:
    body = "name,n\n" + "plain,1\n" * 20_000 + "Müller,2\n"
    frame = read_table(body.encode("latin-1"), filename="late.csv")
    assert frame["name"].iloc[-1] == "Müller"
    assert len(frame) == 20_001


def test_quoted_fields_with_separators_quotes_and_newlines() -> None:
    data = b'id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n'
    frame = read_table(data, filename="q.csv")
    assert frame["note"].tolist() == ["a, b", 'say "hi"', "two\nlines"]


def test_column_names_are_stripped_of_blanks() -> None:
    frame = read_table(b"\xef\xbb\xbf id , Annual Income \n1,2\n", filename="x.csv")
    assert list(frame.columns) == ["id", "Annual Income"]


def test_numbers_with_blank_cells_stay_text_for_the_schema_to_type() -> None:
    frame = read_table(b"a,b\n1, \n2,3\n", filename="x.csv")
    assert frame["b"].tolist() == [" ", "3"]


def test_semicolon_file_with_decimal_commas() -> None:
    frame = read_table(b"a;b;c\n1,5;2;x\n3,25;4;y\n", filename="eu.csv")
    assert frame["a"].tolist() == [1.5, 3.25]
    assert frame["b"].tolist() == [2, 4]


def test_semicolon_file_with_decimal_points_is_not_misread() -> None:
    frame = read_table(b"a;b\n1.5;2\n3.25;4\n", filename="x.csv")
    assert frame["a"].tolist() == [1.5, 3.25]


@pytest.mark.parametrize("filename", ["customers.csv.gz", "customers.gz", "customers.csv"])
def test_gzip_by_extension_or_magic(filename: str) -> None:
    frame = read_table(gzip.compress(_csv(";")), filename=filename)
    pd.testing.assert_frame_equal(frame, EXPECTED, check_dtype=False)


@pytest.mark.parametrize("filename", ["customers.parquet", "customers.csv", "blob"])
def test_parquet_by_extension_or_magic(filename: str) -> None:
    buffer = io.BytesIO()
    EXPECTED.to_parquet(buffer, index=False)
    frame = read_table(buffer.getvalue(), filename=filename)
    pd.testing.assert_frame_equal(frame, EXPECTED, check_dtype=False)


def test_single_column_file() -> None:
    frame = read_table(b"spend\n1\n2\n3\n", filename="x.csv")
    assert frame["spend"].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("data", "filename", "error", "words"),
    [
        (b"", "x.csv", EmptyFileError, "0 bytes"),
        (b"  \n\r\n ", "x.csv", EmptyFileError, "whitespace"),
        (b"a,b,c\r\n", "x.csv", EmptyFileError, "no data rows"),
        (gzip.compress(b"", mtime=0), "x.csv.gz", EmptyFileError, "empty once decompressed"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "photo.csv", NotATableError, "PNG image"),
        (bytes(range(256)) * 4, "x.csv", NotATableError, "binary"),
        (b"a,b\n1,2\n3,4,5\n6,7\n", "x.csv", NotATableError, "line 3 has 3 fields"),
        (
            gzip.compress(b"a,b\n" + b"1,2\n" * 500, mtime=0)[:-6],
            "x.csv.gz",
            NotATableError,
            "gzip",
        ),
        (b"PAR1 not really parquet", "x.parquet", NotATableError, "Parquet"),
        (b"PK\x03\x04rest-of-a-zip", "book.xlsx", UnsupportedFormatError, "ZIP"),
        (b"a,b\n1,2\n", "table.json", UnsupportedFormatError, "'.json'"),
        (b"a,b\n1,2\n", "table.xlsx", UnsupportedFormatError, "'.xlsx'"),
    ],
)
def test_refused_files_name_the_problem(
    data: bytes, filename: str, error: type[DataValidationError], words: str
) -> None:
    with pytest.raises(error) as caught:
        read_table(data, filename=filename)
    assert words in str(caught.value)
    assert filename in str(caught.value)


def test_rows_shorter_than_the_header_are_padded_with_missing() -> None:
    frame = read_table(b"a,b,c\n1,2,3\n4,5\n", filename="x.csv")
    assert frame["c"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('name,note\n"Smith; J",x\n"Doe; A",y\n', ","),
        ("spend\n1\n", ","),
        ("", ","),
    ],
)
def test_sniff_separator(sample: str, expected: str) -> None:
    assert sniff_separator(sample) == expected


@pytest.mark.slow
def test_reads_a_million_rows_by_ten_columns_quickly() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(4) for i in range(9)})
    frame["segment"] = rng.choice(["north", "south", "east", "west"], n)
    data = frame.to_csv(index=False).encode()
    started = time.perf_counter()
    read = read_table(data, filename="big.csv")
    elapsed = time.perf_counter() - started
    assert read.shape == (n, 10)
    assert read["x0"].dtype == np.float64
    # About 1-2 s on an idle 2-core machine; generous bound for a shared CI box.
    assert elapsed < 8.0, f"reading 1M x 10 took {elapsed:.2f} s"


def test_names_repeated_after_stripping_get_suffixes() -> None:
    frame = read_table(b"a,a ,b\n1,2,3\n", filename="x.csv")
    assert list(frame.columns) == ["a", "a.1", "b"]


def test_excel_separator_hint_line() -> None:
    frame = read_table(b"sep=;\r\na;b\r\n1,5;2\r\n", filename="excel.csv")
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1.5]


# --- limits: decompressed bytes and rows (issue 16, item 0) --------------------------------------


def _parquet(table: object, **kwargs: object) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kwargs)
    return buffer.getvalue()


def test_gzip_is_refused_as_soon_as_it_inflates_past_the_limit() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024), mtime=0)  # 50 MiB of zeros in ~50 KB
    with pytest.raises(
        FileTooLargeError,
        match=r"inflates to more than 4,194,304 bytes; the "
        r"limit is 4,194,304 bytes once decompressed \(MAX_DECOMPRESSED_BYTES\)",
    ):
        read_table(bomb, filename="bomb.csv.gz", max_decompressed_bytes=4 * 1024 * 1024)


def test_gzip_under_the_limit_with_several_members_and_zero_padding_reads() -> None:
    body = _csv(",")
    split = body.index(b"\n") + 1
    data = gzip.compress(body[:split], mtime=0) + gzip.compress(body[split:], mtime=0)
    frame = read_table(data + b"\x00" * 8, filename="x.csv.gz", max_decompressed_bytes=len(body))
    pd.testing.assert_frame_equal(frame, EXPECTED, check_dtype=False)
    with pytest.raises(FileTooLargeError, match="inflates to more than"):
        read_table(data, filename="x.csv.gz", max_decompressed_bytes=len(body) - 1)


def test_a_plain_file_over_the_decompressed_limit_is_refused() -> None:
    with pytest.raises(FileTooLargeError, match=r"x.csv: 48 bytes; the limit is 10 bytes"):
        read_table(_csv(","), filename="x.csv", max_decompressed_bytes=10)


def test_csv_rows_past_the_limit_are_refused_without_reading_them_all() -> None:
    data = b"a,b\n" + b"1,2\n" * 1000
    assert len(read_table(data, filename="x.csv", max_rows=1000)) == 1000
    with pytest.raises(FileTooLargeError, match=r"more than 999 rows; the limit is 999 rows"):
        read_table(data, filename="x.csv", max_rows=999)


def test_parquet_row_count_is_checked_from_the_footer_before_reading() -> None:
    import pyarrow as pa

    # 400M declared rows in ~640 KB: reading it would need gigabytes.
    data = _parquet(pa.table({"CustomerID": pa.nulls(400_000_000)}), row_group_size=1 << 26)
    assert len(data) < 1024 * 1024
    with pytest.raises(
        FileTooLargeError,
        match=r"declares 400,000,000 rows; the limit is "
        r"10,000,000 rows \(MAX_TABLE_ROWS\)",
    ):
        read_table(data, filename="huge.parquet")


def test_parquet_uncompressed_size_is_checked_from_the_footer_before_reading() -> None:
    import pyarrow as pa

    data = _parquet(pa.table({"x": np.zeros(1_000_000)}), use_dictionary=False,
                    compression="zstd")  # fmt: skip
    assert len(data) < 100_000
    with pytest.raises(
        FileTooLargeError,
        match=r"declares 8,\d{3},\d{3} bytes of uncompressed "
        r"data; the limit is 4,000,000 bytes once decompressed",
    ):
        read_table(data, filename="zeros.parquet", max_decompressed_bytes=4_000_000)
    assert len(read_table(data, filename="zeros.parquet")) == 1_000_000


def test_parquet_decimals_are_read_as_numbers() -> None:
    import decimal

    import pyarrow as pa

    amounts = [decimal.Decimal("12.34"), None, decimal.Decimal("-0.50")]
    table = pa.table({"id": [1, 2, 3], "amount": pa.array(amounts, pa.decimal128(38, 10)),
                      "big": pa.array(amounts, pa.decimal256(50, 2))})  # fmt: skip
    frame = read_table(_parquet(table), filename="numeric.parquet")
    assert frame["amount"].dtype == np.float64
    assert frame["big"].dtype == np.float64
    assert frame["amount"].tolist()[0] == 12.34
    assert np.isnan(frame["amount"].iloc[1])


def test_running_out_of_memory_is_not_called_an_unreadable_parquet_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = _parquet(pa.table({"x": [1.0, 2.0]}))

    def exhausted(self: object, *args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 2.98 GiB")

    monkeypatch.setattr(pq.ParquetFile, "read", exhausted)
    with pytest.raises(MemoryError):
        read_table(data, filename="x.parquet")
