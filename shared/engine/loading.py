"""Read the bytes of an uploaded customer file into a DataFrame.

One entry point, :func:`read_table`. It accepts CSV (separator ``,`` ``;`` tab or ``|``, sniffed
from the first lines; UTF-8 with or without BOM, UTF-16 with a BOM (little or big endian, as
Excel's "Unicode text" writes it), Latin-1 when the bytes are not UTF-8; quoted fields; CRLF),
gzip-compressed CSV (by extension or by magic bytes) and Parquet (by extension or by the
``PAR1`` magic). Values are typed by pandas' C parser (numbers become numbers); the
meaning of each column is decided later by :mod:`shared.engine.schema`.

Why the C engine: it reads 1,000,000 rows x 10 columns in well under a second here, the pyarrow
engine was slower on this machine, and the python engine is an order of magnitude slower.

Limits, checked before the memory is spent (each refusal is a :class:`FileTooLargeError` that
names the limit):

- ``max_decompressed_bytes`` (the deployment's ``MAX_DECOMPRESSED_BYTES``, default
  :data:`DEFAULT_MAX_DECOMPRESSED_BYTES` = 2 GiB): gzip is inflated in 1 MiB steps and refused
  as soon as the output passes the limit (a small file that inflates to gigabytes never does);
  a Parquet file's declared uncompressed size is read from its footer before any column is;
- ``max_rows`` (default :data:`MAX_TABLE_ROWS` = 10,000,000, the in-memory engine's ceiling):
  a Parquet file's declared row count is checked from its footer; a CSV parse stops one row
  past the limit.

Parquet ``decimal128``/``decimal256`` columns (database NUMERIC exports) are read as float64
numbers; nested columns (struct, list, map) are read as they are and dropped, with a reason, by
:mod:`shared.engine.schema`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from shared.quoting import quote_value

if TYPE_CHECKING:
    import pyarrow as pa

from shared.exceptions import (
    EmptyFileError,
    FileTooLargeError,
    NotATableError,
    UnsupportedFormatError,
)
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES

__all__ = [
    "CSV_SEPARATORS",
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "MAX_TABLE_ROWS",
    "TEXT_EXTENSIONS",
    "WHITESPACE",
    "read_table",
    "sniff_separator",
]

logger = logging.getLogger(__name__)

CSV_SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
TEXT_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".txt", ".tab", ".dat")
_PARQUET_EXTENSIONS = (".parquet", ".pq")
_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 64 * 1024
_SNIFF_LINES = 50
_INFLATE_STEP = 1024 * 1024
MAX_TABLE_ROWS = 10_000_000
"""Rows a table may have: the in-memory engine's ceiling (about 1.2 GB per million rows)."""
# Magic numbers of files people upload by mistake, with the name we show them.
_FOREIGN_MAGIC: tuple[tuple[bytes, str, bool], ...] = (
    # (magic, what it is, True when it is a table in a format we do not read)
    (b"\x89PNG", "a PNG image", False),
    (b"\xff\xd8\xff", "a JPEG image", False),
    (b"GIF8", "a GIF image", False),
    (b"%PDF", "a PDF document", False),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file?)", True),
    (b"\xd0\xcf\x11\xe0", "an OLE document (an Excel .xls file?)", True),
    (b"SQLite format 3", "an SQLite database", True),
)
_DECIMAL_COMMA = re.compile(r"(?:^|;)\s*-?\d+,\d+\s*(?=;|$)", re.MULTILINE)
_DECIMAL_POINT = re.compile(r"(?:^|;)\s*-?\d+\.\d+\s*(?=;|$)", re.MULTILINE)
_EXCEL_SEP_HINT = re.compile(r"\ufeff?sep=([,;\t|])\r?\n")
_BAD_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_table(
    data: bytes,
    *,
    filename: str,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    max_rows: int = MAX_TABLE_ROWS,
) -> pd.DataFrame:
    """Read an uploaded customer file into a DataFrame.

    Parameters
    ----------
    data : bytes
        The file's bytes, exactly as uploaded.
    filename : str
        The object key or file name; its extension (``.csv``, ``.tsv``, ``.txt``, ``.csv.gz``,
        ``.gz``, ``.parquet``) is a hint, the magic bytes win when they disagree.
    max_decompressed_bytes : int
        Most bytes the table may take once decompressed (a plain file: its size; gzip: the
        inflated bytes, checked while inflating; Parquet: the uncompressed size its footer
        declares).
    max_rows : int
        Most data rows the table may have (Parquet: as its footer declares).

    Returns
    -------
    pandas.DataFrame
        One column per column of the file, named as in the file with surrounding whitespace
        and any byte-order mark stripped. Numbers are typed by the parser; everything else is
        text. The index is ``0..n-1``.

    Raises
    ------
    EmptyFileError
        No bytes, only whitespace, or a header without data rows.
    NotATableError
        Binary content (an image renamed ``.csv``...), a truncated or corrupt gzip or Parquet
        file, or rows with more fields than the header (the message names the line).
    UnsupportedFormatError
        An extension or content this reader does not handle (Excel, ZIP, JSON...).
    FileTooLargeError
        Over ``max_decompressed_bytes`` or ``max_rows`` (the message names the limit).

    Examples
    --------
    >>> read_table(b"id;age\\r\\n1;30\\r\\n2;41\\r\\n", filename="x.csv")
       id  age
    0   1   30
    1   2   41
    >>> import gzip
    >>> read_table(gzip.compress(bytes(5000)), filename="x.csv.gz", max_decompressed_bytes=4096)
    Traceback (most recent call last):
    ...
    shared.exceptions.FileTooLargeError: x.csv.gz: inflates to more than 4,096 bytes; the \
limit is 4,096 bytes once decompressed (MAX_DECOMPRESSED_BYTES)
    """
    limits = _Limits(max_decompressed_bytes, max_rows)
    return _read(data, filename.lower().strip(), filename, limits, compressed=False)


@dataclass(frozen=True)
class _Limits:
    decompressed_bytes: int
    rows: int

    def too_many_rows(self, filename: str, what: str) -> FileTooLargeError:
        return FileTooLargeError(
            f"{filename}: {what}; the limit is {self.rows:,} rows (MAX_TABLE_ROWS)"
        )

    def too_many_bytes(self, filename: str, what: str) -> FileTooLargeError:
        return FileTooLargeError(
            f"{filename}: {what}; the limit is {self.decompressed_bytes:,} bytes once "
            "decompressed (MAX_DECOMPRESSED_BYTES)"
        )


def _read(
    data: bytes, name: str, filename: str, limits: _Limits, *, compressed: bool
) -> pd.DataFrame:
    """Read ``data``; ``name`` is the lower-cased name (minus ``.gz`` once decompressed),
    ``filename`` the name as uploaded, which every message shows."""
    if not data:
        if compressed:
            raise EmptyFileError(f"{filename}: the file is empty once decompressed (0 bytes)")
        raise EmptyFileError(f"{filename}: the file is empty (0 bytes)")
    if data[:2] == _GZIP_MAGIC or name.endswith(".gz"):
        inner = _gunzip(data, filename, limits)
        inner_name = name[:-3] if name.endswith(".gz") else name
        if "." not in inner_name.rsplit("/", 1)[-1]:
            inner_name += ".csv"
        return _read(inner, inner_name, filename, limits, compressed=True)
    if data[:4] == _PARQUET_MAGIC or name.endswith(_PARQUET_EXTENSIONS):
        return _read_parquet(data, filename, limits)
    if len(data) > limits.decompressed_bytes:
        raise limits.too_many_bytes(filename, f"{len(data):,} bytes")
    if data[:2] in _UTF16_BOMS:
        data = _utf16_to_utf8(data, filename)
    _refuse_foreign_content(data, filename)
    extension = _extension(name)
    if extension and extension not in TEXT_EXTENSIONS:
        supported = ", ".join((*TEXT_EXTENSIONS, ".csv.gz", ".gz", *_PARQUET_EXTENSIONS))
        raise UnsupportedFormatError(
            f"{filename}: extension {quote_value(extension)} is not supported; use one of "
            f"{supported}"
        )
    return _read_csv(data, filename, limits)


def sniff_separator(sample: str) -> str:
    """Guess the field separator of a CSV sample.

    The separator is the candidate (``,`` ``;`` tab ``|``) that splits the most sample lines
    into the same number (>1) of fields, quote-aware; ties go to the one giving more fields.
    When none splits any line, runs of blanks (:data:`WHITESPACE`) are the separator if they
    split nearly every line into the same number of fields (space-aligned exports such as
    ``00001 19970101  1   11.77``). A single-column file gets ``,``.

    Examples
    --------
    >>> sniff_separator("a;b;c\\n1;2,5;3\\n")
    ';'
    >>> sniff_separator('name,note\\n"Smith; J",x\\n')
    ','
    >>> sniff_separator(" id  date  value\\n 00001 19970101  11.77\\n")
    '\\\\s+'
    """
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of a sample may be cut in the middle
    lines = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    if not lines:
        return ","
    text = "\n".join(lines)
    best, best_score = ",", (0.0, 0)
    for sep in CSV_SEPARATORS:
        try:
            counts = [len(row) for row in csv.reader(io.StringIO(text), delimiter=sep)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, hits = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        # Rows with the header's width matter most; a consistent width is what makes a table.
        score = (hits / len(counts) + (counts[0] == mode), mode)
        if score > best_score:
            best, best_score = sep, score
    if best_score == (0.0, 0):
        return _whitespace_separator(lines)
    return best


WHITESPACE = r"\s+"
"""The separator of files aligned with runs of spaces or tabs (fixed-width exports)."""


def _whitespace_separator(lines: list[str]) -> str:
    """``WHITESPACE`` when runs of blanks split (nearly) every line into the same number (>1) of
    fields, else ``","`` (one column)."""
    counts = [len(line.split()) for line in lines]
    mode, hits = Counter(counts).most_common(1)[0]
    if mode >= 2 and counts[0] == mode and hits / len(counts) >= 0.9:
        return WHITESPACE
    return ","


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def _utf16_to_utf8(data: bytes, filename: str) -> bytes:
    """UTF-16 text with a byte-order mark (Excel's "Unicode text") re-encoded as UTF-8."""
    try:
        return data.decode("utf-16").encode("utf-8")
    except UnicodeDecodeError as e:
        raise NotATableError(
            f"{filename}: starts with a UTF-16 byte-order mark but is not valid UTF-16 text "
            f"(byte {e.start}); save it as UTF-8 CSV"
        ) from e


def _gunzip(data: bytes, filename: str, limits: _Limits) -> bytes:
    """Inflate every gzip member of ``data``, ``_INFLATE_STEP`` bytes at a time, refusing as
    soon as the output passes the limit (so a bomb costs at most the limit in memory)."""
    limit = limits.decompressed_bytes
    # BytesIO grows in place and getvalue() hands over its buffer: no second copy of the output.
    out = io.BytesIO()
    total = 0
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # one gzip member
            while not inflater.eof:
                piece = inflater.decompress(pending, _INFLATE_STEP)
                pending = inflater.unconsumed_tail
                total += len(piece)
                if total > limit:
                    raise limits.too_many_bytes(filename, f"inflates to more than {limit:,} bytes")
                out.write(piece)
                if not piece and not pending and not inflater.eof:
                    raise EOFError("compressed data ended before the end-of-stream marker")
            pending = inflater.unused_data
            if not pending.strip(b"\x00"):
                break  # trailing zero padding, as gzip tolerates
    except (EOFError, zlib.error) as e:
        raise NotATableError(
            f"{filename}: not a readable gzip file (truncated or corrupt: {e})"
        ) from e
    return out.getvalue()


def _read_parquet(data: bytes, filename: str, limits: _Limits) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        metadata = parquet.metadata
        declared = sum(
            metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
        )
    except Exception as e:  # pyarrow raises many types for corrupt files
        raise NotATableError(f"{filename}: not a readable Parquet file ({e})") from e
    # The footer declares both; check them before a single column is read.
    if metadata.num_rows > limits.rows:
        raise limits.too_many_rows(filename, f"declares {metadata.num_rows:,} rows")
    if declared > limits.decompressed_bytes:
        raise limits.too_many_bytes(filename, f"declares {declared:,} bytes of uncompressed data")
    try:
        table = _decimals_as_floats(parquet.read())
        frame = table.to_pandas()
    except MemoryError:
        raise  # not a property of the file: an internal error, never "not readable"
    except Exception as e:  # pyarrow raises many types for corrupt files
        raise NotATableError(f"{filename}: not a readable Parquet file ({e})") from e
    frame = frame.reset_index(drop=True)
    frame.columns = _clean_names(frame.columns)
    if len(frame.columns) == 0:
        raise EmptyFileError(f"{filename}: the Parquet file has no columns")
    if len(frame) == 0:
        raise EmptyFileError(f"{filename}: the Parquet file has a schema but no data rows")
    return frame


def _decimals_as_floats(table: pa.Table) -> pa.Table:
    """Decimal columns (database NUMERIC exports) as float64, so they are read as numbers.

    Examples
    --------
    >>> import decimal
    >>> import pyarrow as pa
    >>> table = pa.table({"amount": pa.array([decimal.Decimal("12.34")], pa.decimal128(10, 2))})
    >>> _decimals_as_floats(table).schema.field("amount").type
    DataType(double)
    """
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            column = table.column(i).cast(pa.float64(), safe=False)
            table = table.set_column(i, field.with_type(pa.float64()), column)
    return table


def _refuse_foreign_content(data: bytes, filename: str) -> None:
    head = data[:_SNIFF_BYTES]
    for magic, what, is_table_format in _FOREIGN_MAGIC:
        if not head.startswith(magic):
            continue
        if is_table_format:
            raise UnsupportedFormatError(
                f"{filename}: the content is {what}; upload CSV, gzip-compressed CSV or Parquet"
            )
        raise NotATableError(f"{filename}: the content is {what}, not a table")
    if b"\x00" in head:
        raise NotATableError(f"{filename}: the content is binary (NUL bytes), not a text table")
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if controls > max(3, len(head) // 100):
        raise NotATableError(
            f"{filename}: the content is binary ({controls} control bytes in the first "
            f"{len(head)} bytes), not a text table"
        )
    if head.lstrip()[:1] in (b"{", b"[") and filename.lower().endswith(".json"):
        raise UnsupportedFormatError(f"{filename}: JSON is not supported; upload CSV or Parquet")


def _decode_sample(data: bytes) -> tuple[str, str]:
    """Decode the start of the file and choose the encoding for the whole read."""
    sample = data[:_SNIFF_BYTES]
    try:
        # A cut multi-byte character at the end of the sample is not an encoding error.
        return sample.decode("utf-8-sig", errors="strict"), "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 3 and len(data) > len(sample):
            return sample[: e.start].decode("utf-8-sig"), "utf-8"
        return sample.decode("latin-1"), "latin-1"


def _read_csv(data: bytes, filename: str, limits: _Limits) -> pd.DataFrame:
    if not data[:_SNIFF_BYTES].strip() and not data.strip():  # no copy of a large file
        raise EmptyFileError(f"{filename}: the file contains only whitespace")
    sample, encoding = _decode_sample(data)
    hint = _EXCEL_SEP_HINT.match(sample)
    skip = 1 if hint else 0
    if hint:  # Excel's "sep=;" first line names the separator
        sample = sample[hint.end() :]
    sep = hint.group(1) if hint else sniff_separator(sample)
    decimal = _sniff_decimal(sample, sep)
    try:
        try:
            frame = _parse_csv(data, sep, encoding, decimal, skip, limits.rows)
        except UnicodeDecodeError:
            logger.info("%s is not UTF-8 after its first bytes; reading it as Latin-1", filename)
            frame = _parse_csv(data, sep, "latin-1", decimal, skip, limits.rows)
    except pd.errors.EmptyDataError as e:
        raise EmptyFileError(f"{filename}: the file has no columns") from e
    except pd.errors.ParserError as e:
        raise NotATableError(f"{filename}: {_describe_parser_error(e, sep)}") from e
    if len(frame) > limits.rows:
        raise limits.too_many_rows(filename, f"more than {limits.rows:,} rows")
    frame.columns = _clean_names(frame.columns)
    if len(frame) == 0:
        raise EmptyFileError(
            f"{filename}: the file has a header ({len(frame.columns)} columns) but no data rows"
        )
    logger.debug(
        "read %s: %d rows x %d columns, sep=%r, encoding=%s",
        filename,
        len(frame),
        len(frame.columns),
        sep,
        encoding,
    )
    return frame


def _sniff_decimal(sample: str, sep: str) -> str:
    """``","`` for a semicolon file whose numbers are written ``3,5`` (European style)."""
    if sep != ";":
        return "."
    commas = len(_DECIMAL_COMMA.findall(sample))
    points = len(_DECIMAL_POINT.findall(sample))
    return "," if commas > points else "."


def _parse_csv(
    data: bytes, sep: str, encoding: str, decimal: str, skip: int, max_rows: int
) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.BytesIO(data),
            nrows=max_rows + 1,  # one past the limit is enough to refuse the file
            skiprows=skip,
            sep=sep,
            decimal=decimal,
            encoding=encoding,
            engine="c",  # low_memory=False doubled the read time here; mixed chunks are handled
            skip_blank_lines=True,
            on_bad_lines="error",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise
    except (ValueError, OverflowError) as e:
        raise pd.errors.ParserError(str(e)) from e


def _describe_parser_error(error: pd.errors.ParserError, sep: str) -> str:
    match = _BAD_LINE.search(str(error))
    shown = {"\t": "tab", WHITESPACE: "runs of blanks"}.get(sep, repr(sep))
    if match:
        expected, line, saw = match.groups()
        return (
            f"line {line} has {saw} fields but the header has {expected} "
            f"(separator {shown}); the rows do not form a table"
        )
    return f"cannot be read as a table with separator {shown}: {error}"


def _clean_names(columns: pd.Index) -> list[str]:
    """Names as in the file without surrounding blanks or BOM; repeats get ``.1``, ``.2``..."""
    names: list[str] = []
    seen: set[str] = set()
    for column in columns:
        name = base = str(column).strip().lstrip("\ufeff").strip()
        repeat = 0
        while name in seen:
            repeat += 1
            name = f"{base}.{repeat}"
        seen.add(name)
        names.append(name)
    return names
