"""The chunked reader: same table as ``read_table`` in every format, the decompression cap."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.engine.loading import read_table
from shared.engine.streaming import (
    CsvFormat,
    TableSource,
    chunk_rows_for,
    iter_chunks,
    sniff_format,
    table_columns,
    with_encoding_fallback,
)
from shared.exceptions import EmptyFileError, FileTooLargeError, NotATableError

ROWS = "".join(f"{i};{i % 5},5;name {i}\r\n" for i in range(1, 101))
SEMICOLON = ("id;score;label\r\n" + ROWS).encode()


def _read_all(source: TableSource, *, chunk_rows: int = 7, text: bool = False) -> pd.DataFrame:
    def run(fmt: CsvFormat | None) -> pd.DataFrame:
        chunks = list(iter_chunks(source, fmt, chunk_rows=chunk_rows, text=text))
        assert [c.first_row for c in chunks] == list(range(0, len(chunks) * chunk_rows, chunk_rows))
        return pd.concat([c.frame for c in chunks], ignore_index=True)

    return with_encoding_fallback(sniff_format(source), run)


class _Body(io.RawIOBase):
    """A non-seekable stream, as an S3 body is."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (SEMICOLON, "x.csv"),
        (gzip.compress(SEMICOLON), "x.csv.gz"),
        (SEMICOLON.decode().encode("utf-16"), "x.csv"),
        (b"sep=;\r\n" + SEMICOLON, "x.csv"),
    ],
    ids=["semicolon-decimal-comma", "gzip", "utf-16", "excel-sep-line"],
)
def test_chunks_make_the_table_read_table_reads(data: bytes, name: str) -> None:
    expected = read_table(data, filename=name)
    got = _read_all(TableSource.from_bytes(data, name))
    pd.testing.assert_frame_equal(got, expected)
    assert got["score"].tolist()[:2] == [1.5, 2.5]


def test_a_non_seekable_stream_is_read_once_per_pass() -> None:
    data = gzip.compress(SEMICOLON)
    source = TableSource("x.csv.gz", lambda: _Body(data))  # type: ignore[arg-type, return-value]
    pd.testing.assert_frame_equal(_read_all(source), read_table(data, filename="x.csv.gz"))


def test_a_late_latin1_byte_reads_the_whole_file_as_latin1() -> None:
    data = b"id,city\n" + b"".join(b"%d,Bern\n" % i for i in range(20_000)) + b"1,Z\xfcrich\n"
    assert sniff_format(TableSource.from_bytes(data, "x.csv")).encoding == "utf-8"  # type: ignore[union-attr]
    got = _read_all(TableSource.from_bytes(data, "x.csv"), chunk_rows=5_000)
    assert got["city"].iloc[-1] == "Zürich"
    assert len(got) == 20_001


def test_parquet_row_groups_read_in_chunks() -> None:
    frame = pd.DataFrame({"id": range(50), "v": [1.5 * i for i in range(50)]})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=8)
    source = TableSource.from_bytes(buffer.getvalue(), "x.parquet")
    assert sniff_format(source) is None
    assert table_columns(source, None) == 2
    pd.testing.assert_frame_equal(_read_all(source), frame)


def test_parquet_text_mode_keeps_integer_columns_integer_in_every_batch() -> None:
    table = pa.table({"n": pa.array([1, None, 3, 4], pa.int64())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2)
    source = TableSource.from_bytes(buffer.getvalue(), "x.parquet")
    dtypes = {str(c.frame["n"].dtype) for c in iter_chunks(source, None, chunk_rows=2, text=True)}
    assert dtypes == {"int64[pyarrow]"}


def test_a_gzip_bomb_stops_at_the_cap_naming_it() -> None:
    bomb = gzip.compress(b"a,b\n" + b"1,2\n" * 2_000_000)  # 8 MB inflated, 8 KB compressed
    source = TableSource.from_bytes(bomb, "bomb.csv.gz")
    with pytest.raises(FileTooLargeError, match="MAX_DECOMPRESSED_BYTES") as caught:
        list(iter_chunks(source, CsvFormat(), max_decompressed_bytes=1_000_000))
    assert "bomb.csv.gz: inflates to more than 1,000,000 bytes" in str(caught.value)


def test_a_plain_file_past_the_cap_is_refused() -> None:
    source = TableSource.from_bytes(SEMICOLON, "x.csv")
    with pytest.raises(FileTooLargeError, match="MAX_DECOMPRESSED_BYTES"):
        list(iter_chunks(source, CsvFormat(sep=";"), max_decompressed_bytes=100))


def test_parquet_declaring_more_than_the_cap_is_refused_before_reading() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"v": list(range(10_000))}), buffer)
    source = TableSource.from_bytes(buffer.getvalue(), "x.parquet")
    with pytest.raises(FileTooLargeError, match=r"declares .* uncompressed"):
        list(iter_chunks(source, None, max_decompressed_bytes=1_000))


def test_a_row_with_too_many_fields_names_its_line() -> None:
    data = b"a,b\n" + b"1,2\n" * 30 + b"1,2,3\n"
    with pytest.raises(NotATableError, match="line 32 has 3 fields"):
        _read_all(TableSource.from_bytes(data, "x.csv"))


def test_a_corrupt_gzip_is_not_a_table() -> None:
    data = gzip.compress(SEMICOLON)[:-30]
    with pytest.raises(NotATableError, match="not a readable gzip"):
        _read_all(TableSource.from_bytes(data, "x.csv.gz"))


def test_a_header_without_rows_is_empty() -> None:
    with pytest.raises(EmptyFileError, match="no data rows"):
        _read_all(TableSource.from_bytes(b"a,b\n", "x.csv"))


def test_text_mode_reads_cells_as_written() -> None:
    got = _read_all(TableSource.from_bytes(b"a,b\n007,1.50\n,x\n", "x.csv"), text=True)
    assert got["a"].tolist()[0] == "007"
    assert got["b"].tolist() == ["1.50", "x"]
    assert pd.isna(got["a"].iloc[1])


def test_wide_tables_get_fewer_rows_per_chunk() -> None:
    fmt = sniff_format(TableSource.from_bytes(b"a,b,c\n1,2,3\n", "x.csv"))
    assert fmt is not None
    assert fmt.columns == 3
    assert chunk_rows_for(100_000) * 100_000 <= 5_000_000


def test_a_file_aligned_with_blanks_reads_as_read_table_reads_it() -> None:
    data = b" id  income   spend\n" + b"".join(
        b" %05d  %6.2f  %5.1f\n" % (i, 20 + i % 7, 3.5 * (i % 5)) for i in range(60)
    )
    fmt = sniff_format(TableSource.from_bytes(data, "aligned.txt"))
    assert fmt is not None
    assert fmt.columns == 3
    pd.testing.assert_frame_equal(
        _read_all(TableSource.from_bytes(data, "aligned.txt")),
        read_table(data, filename="aligned.txt"),
    )
