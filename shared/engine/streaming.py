"""Read an uploaded customer file chunk by chunk, with the decompressed bytes capped.

:func:`shared.engine.loading.read_table` holds a whole table in memory; this module reads the
same formats (CSV with a sniffed separator, encoding and decimal mark, gzip-compressed CSV,
Parquet) as a sequence of :class:`TableChunk` of at most ``chunk_rows`` rows each, so the memory
of a pass over the file does not grow with its rows. The file comes from a :class:`TableSource`:
anything that can be opened as a binary stream more than once (a local path, bytes in memory, a
spooled S3 body), because the streaming training reads it twice.

- **CSV** is parsed by pandas' C engine in chunks (``read_csv(chunksize=...)``), straight from
  the (decompressing) stream. The format is sniffed once from the first 64 KiB
  (:func:`sniff_format`, the rules of ``read_table``): separator, Excel's ``sep=`` line, UTF-8
  or UTF-16 with a byte-order mark, decimal comma. Latin-1 is chosen when the first 64 KiB are
  not UTF-8; a later byte that is not UTF-8 makes the pass fail with ``UnicodeDecodeError``,
  which :func:`with_encoding_fallback` turns into one more pass in Latin-1 (``read_table``'s rule
  for the whole file, applied to the whole file).
- **gzip** is inflated on the fly; every byte that leaves the decompressor (and every byte of a
  plain file) is counted, and the read stops with a :class:`FileTooLargeError` naming
  ``MAX_DECOMPRESSED_BYTES`` as soon as the count passes the cap: a compression bomb costs one
  buffer, never the cap in memory.
- **Parquet** is read one record batch at a time (``ParquetFile.iter_batches``); the footer's
  declared uncompressed size is checked against the cap before any column is read.

``text=True`` reads every CSV cell as its text (missing cells as NaN): a row's content hash then
depends on what is written in the file only, never on the type pandas guesses for one chunk, so
the hash sample of the streaming training is the same however the file is cut in chunks.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import pandas as pd

from shared.engine.loading import (
    _EXCEL_SEP_HINT,
    WHITESPACE,
    _clean_names,
    _decimals_as_floats,
    _decode_sample,
    _describe_parser_error,
    _sniff_decimal,
    sniff_separator,
)
from shared.exceptions import EmptyFileError, FileTooLargeError, NotATableError
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CHUNK_CELLS",
    "DEFAULT_CHUNK_ROWS",
    "CsvFormat",
    "TableChunk",
    "TableSource",
    "chunk_rows_for",
    "iter_chunks",
    "record_batch_frame",
    "sniff_format",
    "table_columns",
    "with_encoding_fallback",
    "written_separator",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 250_000
"""Rows per chunk: about 20 MB of float64 for 10 columns, a few hundred MB of text cells at
most; big enough that per-chunk overheads vanish, small enough for a 3,008 MB Lambda."""
CHUNK_CELLS = 5_000_000
"""Cells per chunk: a wide file gets fewer rows per chunk (:func:`chunk_rows_for`), so a
chunk's memory does not grow with the number of columns either."""
_SNIFF_BYTES = 64 * 1024
_READ_STEP = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_PARQUET_EXTENSIONS = (".parquet", ".pq")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

T = TypeVar("T")


@dataclass(frozen=True)
class TableSource:
    """An uploaded file that can be opened (as a binary stream) once per pass.

    Examples
    --------
    >>> source = TableSource.from_bytes(b"id,age\\n1,30\\n", "x.csv")
    >>> with source.open() as handle:
    ...     handle.read(6)
    b'id,age'
    """

    filename: str
    open: Callable[[], IO[bytes]]

    @classmethod
    def from_path(cls, path: str | Path, filename: str | None = None) -> TableSource:
        """A local file (its name is the file's, unless ``filename`` is given)."""
        where = Path(path)
        return cls(filename or where.name, lambda: where.open("rb"))

    @classmethod
    def from_bytes(cls, data: bytes, filename: str) -> TableSource:
        """Bytes already in memory (small files, tests)."""
        return cls(filename, lambda: io.BytesIO(data))


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: what :func:`sniff_format` found."""

    sep: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    skip: int = 0
    utf16: bool = False
    columns: int = 1
    """Fields of the header line."""


@dataclass(frozen=True)
class TableChunk:
    """Consecutive rows of the file: ``frame`` holds data rows ``first_row`` (0-based, header
    excluded) to ``first_row + len(frame) - 1``, index ``0..len-1``."""

    frame: pd.DataFrame
    first_row: int


class _CappedReader(io.RawIOBase):
    """A binary stream that refuses to deliver more than ``limit`` bytes (naming the cap)."""

    def __init__(self, inner: IO[bytes], limit: int, filename: str, what: str) -> None:
        self._inner = inner
        self._limit = limit
        self._filename = filename
        self._what = what
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(min(len(buffer), _READ_STEP))
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise NotATableError(
                f"{self._filename}: not a readable gzip file (truncated or corrupt: {e})"
            ) from e
        n = len(data)
        self.total += n
        if self.total > self._limit:
            raise FileTooLargeError(
                f"{self._filename}: {self._what} more than {self._limit:,} bytes; the limit is "
                f"{self._limit:,} bytes once decompressed (MAX_DECOMPRESSED_BYTES)"
            )
        buffer[:n] = data
        return n


def _is_parquet(head: bytes, filename: str) -> bool:
    return head[:4] == _PARQUET_MAGIC or filename.lower().endswith(_PARQUET_EXTENSIONS)


def _open_text_stream(source: TableSource, limit: int) -> tuple[IO[bytes], IO[bytes]]:
    """``(decompressed capped stream, raw handle to close)`` of a CSV source."""
    raw = source.open()
    head = raw.read(2)
    if raw.seekable():
        raw.seek(0)
    else:  # an S3 body: put the two bytes back in front
        raw = _Prepended(head, raw)  # type: ignore[assignment]
    if head == _GZIP_MAGIC or source.filename.lower().endswith(".gz"):
        inner: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        what = "inflates to"
    else:
        inner, what = raw, "is"
    capped = io.BufferedReader(_CappedReader(inner, limit, source.filename, what), _READ_STEP)
    return capped, raw


class _Prepended(io.RawIOBase):
    """Bytes already read from a non-seekable stream, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            if size < 0:
                return out + self._rest.read()
            return out + self._rest.read(max(size - len(out), 0)) if size > len(out) else out
        return self._rest.read(size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniff_format(
    source: TableSource, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
) -> CsvFormat | None:
    """The CSV format of ``source`` from its first 64 KiB (None for Parquet).

    Raises
    ------
    EmptyFileError
        No bytes, or only whitespace at the start.
    FileTooLargeError
        The first 64 KiB already pass the cap.

    Examples
    --------
    >>> sniff_format(TableSource.from_bytes(b"a;b\\r\\n1,5;2\\r\\n", "x.csv"))
    CsvFormat(sep=';', encoding='utf-8', decimal=',', skip=0, utf16=False, columns=2)
    """
    with source.open() as raw:
        head = raw.read(4)
    if _is_parquet(head, source.filename) and head[:2] != _GZIP_MAGIC:
        return None
    stream, raw = _open_text_stream(source, max_decompressed_bytes)
    try:
        start = stream.read(_SNIFF_BYTES)
    finally:
        raw.close()
    if not start.strip():
        raise EmptyFileError(f"{source.filename}: the file is empty or only whitespace")
    if start[:2] in _UTF16_BOMS:
        text = start.decode("utf-16", errors="ignore")
        encoding, utf16 = "utf-16", True
    else:
        text, encoding = _decode_sample(start)
        utf16 = False
    hint = _EXCEL_SEP_HINT.match(text)
    if hint:
        text = text[hint.end() :]
    sep = hint.group(1) if hint else sniff_separator(text)
    first_line = text.split("\n", 1)[0]
    if sep == WHITESPACE:
        header = first_line.split()
    else:
        header = next(csv.reader(io.StringIO(first_line), delimiter=sep), [])
    return CsvFormat(
        sep, encoding, _sniff_decimal(text, sep), 1 if hint else 0, utf16, max(len(header), 1)
    )


def written_separator(fmt: CsvFormat) -> str:
    """The separator to write rows of this format back with: its own, or a tab for files
    aligned with runs of blanks (whose cells hold no blank).

    Examples
    --------
    >>> written_separator(CsvFormat(sep=";")), written_separator(CsvFormat(sep=WHITESPACE))
    (';', '\\t')
    """
    return "\t" if fmt.sep == WHITESPACE else fmt.sep


def table_columns(source: TableSource, fmt: CsvFormat | None) -> int:
    """Columns of the table: the CSV header's fields, or the Parquet schema's columns."""
    if fmt is not None:
        return fmt.columns
    import pyarrow.parquet as pq

    with source.open() as raw:
        try:
            return max(int(pq.ParquetFile(raw).metadata.num_columns), 1)
        except Exception as e:  # pyarrow raises many types for corrupt files
            raise NotATableError(f"{source.filename}: not a readable Parquet file ({e})") from e


def chunk_rows_for(columns: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
    """Rows per chunk for a table of ``columns`` columns: at most :data:`CHUNK_CELLS` cells.

    Examples
    --------
    >>> chunk_rows_for(10), chunk_rows_for(100_000)
    (250000, 50)
    """
    return max(1, min(chunk_rows, CHUNK_CELLS // max(columns, 1)))


def with_encoding_fallback(fmt: CsvFormat | None, run: Callable[[CsvFormat | None], T]) -> T:
    """``run(fmt)``; once more with Latin-1 if a byte past the sniffed start is not UTF-8.

    Examples
    --------
    >>> def first_cell(fmt):
    ...     source = TableSource.from_bytes("a\\n" .encode() + "é".encode("latin-1"), "x.csv")
    ...     return next(iter_chunks(source, fmt)).frame.iloc[0, 0]
    >>> with_encoding_fallback(CsvFormat(), first_cell)
    'é'
    """
    try:
        return run(fmt)
    except UnicodeDecodeError:
        if fmt is None or fmt.encoding != "utf-8":
            raise
        logger.info("not UTF-8 after its first bytes; reading the file again as Latin-1")
        return run(replace(fmt, encoding="latin-1"))


def iter_chunks(
    source: TableSource,
    fmt: CsvFormat | None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    text: bool = False,
) -> Iterator[TableChunk]:
    """The rows of ``source`` as consecutive chunks of at most ``chunk_rows`` rows.

    Parameters
    ----------
    source : TableSource
        The file.
    fmt : CsvFormat or None
        From :func:`sniff_format` (None: Parquet).
    chunk_rows : int
        Most rows per chunk.
    max_decompressed_bytes : int
        The cap on decompressed bytes (``MAX_DECOMPRESSED_BYTES``).
    text : bool
        CSV cells as text (see the module notes); Parquet columns keep their Arrow types
        (:func:`record_batch_frame`).

    Raises
    ------
    FileTooLargeError
        Past the cap (the message names ``MAX_DECOMPRESSED_BYTES``).
    NotATableError
        A row with more fields than the header (naming the line), corrupt gzip or Parquet.
    EmptyFileError
        A header without data rows.

    Examples
    --------
    >>> src = TableSource.from_bytes(b"id,age\\n1,30\\n2,41\\n3,25\\n", "x.csv")
    >>> [(c.first_row, len(c.frame)) for c in iter_chunks(src, CsvFormat(), chunk_rows=2)]
    [(0, 2), (2, 1)]
    >>> import gzip
    >>> bomb = TableSource.from_bytes(gzip.compress(b"a\\n" + b"1\\n" * 4000), "x.csv.gz")
    >>> list(iter_chunks(bomb, CsvFormat(), max_decompressed_bytes=1000))
    Traceback (most recent call last):
    ...
    shared.exceptions.FileTooLargeError: x.csv.gz: inflates to more than 1,000 bytes; the \
limit is 1,000 bytes once decompressed (MAX_DECOMPRESSED_BYTES)
    """
    if fmt is None:
        yield from _parquet_chunks(source, chunk_rows, max_decompressed_bytes, text=text)
        return
    stream, raw = _open_text_stream(source, max_decompressed_bytes)
    handle: IO[bytes] | io.TextIOWrapper = stream
    if fmt.utf16:
        handle = io.TextIOWrapper(stream, encoding="utf-16")
    first = 0
    names: list[str] | None = None
    try:
        reader = pd.read_csv(
            handle,
            sep=fmt.sep,
            decimal=fmt.decimal,
            encoding=None if fmt.utf16 else fmt.encoding,
            skiprows=fmt.skip,
            engine="c",
            chunksize=chunk_rows,
            skip_blank_lines=True,
            on_bad_lines="error",
            dtype=str if text else None,
        )
        with reader:
            for frame in reader:
                if names is None:
                    names = _clean_names(frame.columns)
                frame.columns = names
                frame.index = pd.RangeIndex(len(frame))
                yield TableChunk(frame, first)
                first += len(frame)
    except pd.errors.EmptyDataError as e:
        raise EmptyFileError(f"{source.filename}: the file has no columns") from e
    except pd.errors.ParserError as e:
        raise NotATableError(f"{source.filename}: {_describe_parser_error(e, fmt.sep)}") from e
    finally:
        raw.close()
    if first == 0:
        raise EmptyFileError(f"{source.filename}: the file has a header but no data rows")


def _parquet_chunks(
    source: TableSource, chunk_rows: int, limit: int, *, text: bool
) -> Iterator[TableChunk]:
    import pyarrow.parquet as pq

    with source.open() as raw:
        try:
            parquet = pq.ParquetFile(raw)
            metadata = parquet.metadata
            declared = sum(
                metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
            )
        except Exception as e:  # pyarrow raises many types for corrupt files
            raise NotATableError(f"{source.filename}: not a readable Parquet file ({e})") from e
        if declared > limit:
            raise FileTooLargeError(
                f"{source.filename}: declares {declared:,} bytes of uncompressed data; the limit "
                f"is {limit:,} bytes once decompressed (MAX_DECOMPRESSED_BYTES)"
            )
        if metadata.num_rows == 0:
            raise EmptyFileError(
                f"{source.filename}: the Parquet file has a schema but no data rows"
            )
        first = 0
        try:
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                frame = record_batch_frame(batch, arrow_types=text)
                yield TableChunk(frame, first)
                first += len(frame)
        except (MemoryError, FileTooLargeError):
            raise
        except OSError as e:
            raise NotATableError(f"{source.filename}: not a readable Parquet file ({e})") from e


def record_batch_frame(batch: pa.RecordBatch, *, arrow_types: bool = False) -> pd.DataFrame:
    """One Parquet record batch as ``read_table`` would type it (decimals as floats).

    With ``arrow_types`` the columns keep their Arrow types (``pandas.ArrowDtype``), the same in
    every batch: an integer column with a null in one batch does not turn float there, so a
    row's hash does not depend on the batch it is in.
    """
    import pyarrow as pa

    table = pa.Table.from_batches([batch])
    if arrow_types:
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    else:
        frame = _decimals_as_floats(table).to_pandas()
    frame.columns = _clean_names(frame.columns)
    return frame.reset_index(drop=True)
