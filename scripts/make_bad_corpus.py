"""Generate the bad-upload corpus under ``tests/data/bad/`` (deterministic: same bytes every run).

Every case is an upload a user could plausibly make (or an attacker could try) together with its
dataset name and dataset config, and what the system must do with it:

- ``failure``: a failure report whose ``error`` matches ``message`` (a regex naming the problem),
  the message acknowledged, ``current.json`` untouched, the previous model still serving;
- ``trains``: the system copes (e.g. mixed types, several date formats) and publishes a version;
  ``roles`` pins how some columns must be understood;
- ``rejected``: the key names an invalid dataset (path tricks, unicode): nothing is written.

``tests/data/bad/cases.json`` is the manifest; small files are committed beside it. The large
cases (a 2,000-column table, a column of 100,000 distinct strings, the compression bombs, the
10,000-column table) and the Parquet files (their bytes depend on the pyarrow version) are marked
``"generated": true`` and are built in memory by the tests through :func:`case_bytes`, so the
committed corpus stays small. A case may pin deployment settings (``env``, e.g. a lower
``MAX_DECOMPRESSED_BYTES`` so a bomb is refused after 64 MiB rather than 2 GiB).

Usage::

    python scripts/make_bad_corpus.py            # (re)write tests/data/bad/
    python scripts/make_bad_corpus.py --check    # exit 1 if the committed corpus is stale
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CORPUS_DIR",
    "Case",
    "build_cases",
    "case_bytes",
    "gzip_bomb",
    "huge_parquet",
    "main",
    "write_corpus",
]

CORPUS_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "bad"
SEED = 20250301
SMALL_CONFIG: dict[str, Any] = {"k_max": 4, "algorithms": ["kmeans", "gmm"]}
"""Config of the cases expected to train: small, so the corpus runs in seconds."""


@dataclass(frozen=True)
class Case:
    """One bad upload and what must happen to it."""

    id: str
    file: str
    build: Callable[[], bytes] = field(repr=False, compare=False)
    dataset: str = ""
    expect: str = "failure"  # failure | trains | rejected
    message: str | None = None
    error_type: str | None = None
    config: dict[str, Any] | list[Any] | None = None
    config_raw: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    generated: bool = False
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def upload_key(self) -> str:
        return self.key or f"uploads/{self.dataset}/{self.file}"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "description": self.description,
            "file": self.file,
            "dataset": self.dataset,
            "key": self.upload_key,
            "expect": self.expect,
        }
        if self.message is not None:
            doc["message"] = self.message
        if self.error_type is not None:
            doc["error_type"] = self.error_type
        if self.config is not None:
            doc["config"] = self.config
        if self.config_raw is not None:
            doc["config_raw"] = self.config_raw
        if self.roles:
            doc["roles"] = self.roles
        if self.generated:
            doc["generated"] = True
        if self.env:
            doc["env"] = self.env
        return doc


# --- building blocks -----------------------------------------------------------------------------


def _customers(n: int = 60, *, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` customers in three clear groups (age, income, spending score)."""
    rng = random.Random(seed)
    centres = [(25, 30.0, 80), (45, 80.0, 20), (60, 55.0, 50)]
    rows = []
    for i in range(n):
        age, income, spend = centres[i % 3]
        rows.append(
            {
                "CustomerID": 1001 + i,
                "Age": age + rng.randint(-4, 4),
                "Income": round(income + rng.uniform(-6, 6), 1),
                "Spend": spend + rng.randint(-7, 7),
            }
        )
    return rows


def _csv(rows: list[dict[str, Any]], *, sep: str = ",", newline: str = "\n") -> bytes:
    header = list(rows[0])
    lines = [sep.join(header)]
    lines += [sep.join(str(row[h]) for h in header) for row in rows]
    return (newline.join(lines) + newline).encode("utf-8")


def _with(rows: list[dict[str, Any]], **columns: Callable[[int], Any]) -> list[dict[str, Any]]:
    return [{**row, **{name: f(i) for name, f in columns.items()}} for i, row in enumerate(rows)]


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def _png() -> bytes:
    """A real, valid 2x2 PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)  # 2x2, 8-bit RGB
    pixels = b"".join(b"\x00" + b"\xff\x00\x00\x00\xff\x00" for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels, 9))
        + chunk(b"IEND", b"")
    )


def _xlsx_like() -> bytes:
    """A ZIP archive (what an .xlsx is) with a fixed timestamp."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, "<worksheet><sheetData/></worksheet>")
    return buffer.getvalue()


def _garbage(n: int = 4096) -> bytes:
    rng = random.Random(SEED + 1)
    return bytes(rng.randrange(256) for _ in range(n))


def _mixed_types() -> bytes:
    blanks = {3: "unknown", 17: "n/a", 29: " "}
    tiers = ["1", "gold", "2", "silver"]
    rows = _with(
        _customers(),
        Income=lambda i: blanks.get(i, _customers()[i]["Income"]),
        Tier=lambda i: tiers[i % 4],
    )
    return _csv(rows)


def _dates() -> bytes:
    rng = random.Random(SEED + 2)
    rows = []
    for i, row in enumerate(_customers()):
        day, month, year = 1 + i % 28, 1 + (i * 5) % 12, 2020 + i % 4
        mixed = [
            f"{year}-{month:02d}-{day:02d}",
            f"{day:02d}/{month:02d}/{year}",
            f"{month}/{day}/{year}",
        ][i % 3]
        rows.append(
            {
                **row,
                "Signup": f"{year}-{month:02d}-{day:02d}",
                "LastOrder": f"{day:02d}/{month:02d}/{2024 - i % 2}",
                "Birthday": f"{day:02d}.{month:02d}.{1950 + rng.randint(0, 40)}",
                "Mixed": mixed,
            }
        )
    return _csv(rows)


def _formulas() -> bytes:
    formulas = [
        "=cmd|' /C calc'!A0",
        "+SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        '=HYPERLINK("http://127.0.0.1/x","click")',
    ]
    rows = []
    for i, row in enumerate(_customers()):
        ident = formulas[i] if i < len(formulas) else f"C{1001 + i}"
        channel = ["=1+1", "web", "store"][i % 3]
        rows.append({"CustomerID": ident, **{k: v for k, v in row.items() if k != "CustomerID"},
                     "Channel": channel})  # fmt: skip
    out = io.StringIO()
    import csv

    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _html_injection() -> bytes:
    rows = _with(
        _customers(),
        Segment=lambda i: ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "a&b"][
            i % 3
        ],
    )
    data = _csv(rows)
    return data.replace(b"Spend", b'"Spend<script>alert(3)</script>"', 1)


def _infinities() -> bytes:
    odd = {2: "inf", 5: "-inf", 8: "1e308", 11: "-1e300", 14: "Infinity", 20: "NaN"}
    rows = _with(_customers(), Income=lambda i: odd.get(i, _customers()[i]["Income"]))
    return _csv(rows)


def _long_fields() -> bytes:
    rows = _with(
        _customers(),
        Comment=lambda i: ("very long comment " * 6000) if i % 20 == 0 else f"short note {i}",
    )
    return _csv(rows)


def _latin1() -> bytes:
    cities = ["Zürich", "Genève", "Köln", "Málaga"]
    rows = _with(_customers(), City=lambda i: cities[i % 4])
    return _csv(rows).decode("utf-8").encode("latin-1")


def _late_bad_byte() -> bytes:
    # Valid UTF-8 for the first 75 KB (past the reader's 64 KB sample), then one Latin-1 byte.
    rows = _with(
        _customers(240),
        Address=lambda i: (
            f"{i} long road - building {i} - far away in the quiet town " * 5
            + ("Caf\u00e9" if i == 239 else "Cafe")
        ),
    )
    return _csv(rows).replace("Caf\u00e9".encode(), b"Caf\xe9")


def _duplicate_ids() -> bytes:
    rows = _customers()
    for i in (5, 6, 7):
        rows[i]["CustomerID"] = rows[0]["CustomerID"]
    return _csv(rows)


def _ragged() -> bytes:
    text = _csv(_customers(20)).decode()
    lines = text.splitlines()
    lines[7] += ",99,extra"
    return ("\n".join(lines) + "\n").encode()


def _wrong_separator() -> bytes:
    return _csv(_customers(), sep=":")


def _constant() -> bytes:
    rows = [{"Region": "north", "Age": 40, "Income": 50.0, "Active": 1} for _ in range(40)]
    return _csv(rows)


def _no_features() -> bytes:
    rows = [
        {"CustomerID": f"C{i:04d}", "Notes": f"customer number {i} called about an order {i * 7}"}
        for i in range(40)
    ]
    return _csv(rows)


def _blank_rows() -> bytes:
    return b"CustomerID,Age,Income\n" + b"".join(f"{i},,\n".encode() for i in range(1, 41))


def _only_infinities() -> bytes:
    return b"CustomerID,Score\n" + b"".join(f"{i},inf\n".encode() for i in range(1, 41))


def _utf16() -> bytes:
    return b"\xff\xfe" + _csv(_customers(), sep="\t").decode().encode("utf-16-le")


def _wide(columns: int = 2000, rows: int = 40) -> bytes:
    rng = random.Random(SEED + 3)
    header = ["CustomerID", *[f"f{j:04d}" for j in range(columns - 1)]]
    lines = [",".join(header)]
    for i in range(rows):
        group = i % 2
        values = [f"{group * 5 + rng.random():.3f}" for _ in range(columns - 1)]
        lines.append(",".join([str(i + 1), *values]))
    return ("\n".join(lines) + "\n").encode()


def _many_strings(n: int = 100_000) -> bytes:
    rng = random.Random(SEED + 4)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po"]
    out = io.StringIO()
    out.write("CustomerID,Name,Age,Spend\n")
    for i in range(n):
        name = "".join(syllables[int(d)] for d in f"{i:05d}") + f" {i}"
        group = i % 2
        out.write(f"{i + 1},{name},{20 + group * 30 + rng.randint(0, 5)},{rng.randint(0, 10)}\n")
    return out.getvalue().encode()


def _truncated_gzip() -> bytes:
    return _gzip(_csv(_customers()))[:150]


def gzip_bomb(inflated: int = 8 * 1024**3) -> bytes:
    """A valid gzip file of ``inflated`` zero bytes (about 1/1000 of that), built without ever
    holding the inflated bytes: deflate blocks of 1 MiB of zeros end with a full flush, so every
    block after the first compresses to the same bytes and is repeated."""
    block = bytes(1024 * 1024)
    blocks = inflated // len(block)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"  # no name, mtime 0, unix
    body = first + repeated * (blocks - 1) + deflate.flush()
    return header + body + struct.pack("<II", crc, (blocks * len(block)) & 0xFFFFFFFF)


def huge_parquet(rows: int = 400_000_000) -> bytes:
    """A small Parquet file that declares ``rows`` rows (a column of nulls: a few bytes each
    64M rows), as a hostile upload would."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"CustomerID": pa.nulls(rows)}), buffer, row_group_size=1 << 26)
    return buffer.getvalue()


def _parquet(columns: dict[str, Any], **options: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, **options)
    return buffer.getvalue()


def _zeros_parquet(rows: int = 9_000_000) -> bytes:
    """72 MB of int64 zeros, plain-encoded and zstd-compressed to a few kilobytes."""
    import numpy as np

    return _parquet({"x": np.zeros(rows, dtype=np.int64)}, use_dictionary=False,
                    compression="zstd")  # fmt: skip


def _nested_parquet() -> bytes:
    import pyarrow as pa

    rows = _customers()
    return _parquet(
        {
            "CustomerID": [r["CustomerID"] for r in rows],
            "Age": [r["Age"] for r in rows],
            "Income": [r["Income"] for r in rows],
            "Spend": [r["Spend"] for r in rows],
            "address": pa.array([{"city": f"c{i % 4}", "zip": 1000 + i} for i in range(len(rows))]),
            "tags": pa.array([[f"t{i % 3}", "x"] if i % 5 else [] for i in range(len(rows))]),
            "attributes": pa.array(
                [[("tier", i % 2)] for i in range(len(rows))], pa.map_(pa.string(), pa.int64())
            ),
        }
    )


def _decimal_parquet() -> bytes:
    import decimal

    import pyarrow as pa

    rows = _customers()
    return _parquet(
        {
            "CustomerID": [r["CustomerID"] for r in rows],
            "Age": [r["Age"] for r in rows],
            "Income": pa.array([decimal.Decimal(f"{r['Income']:.2f}") for r in rows],
                               pa.decimal128(38, 10)),
            "Spend": pa.array([decimal.Decimal(r["Spend"]) for r in rows], pa.decimal128(12, 2)),
        }
    )  # fmt: skip


def _numeric_columns(columns: int = 10_000, rows: int = 60) -> bytes:
    rng = random.Random(SEED + 5)
    lines = [",".join(["CustomerID", *[f"m{j:05d}" for j in range(columns)]])]
    for i in range(rows):
        group = i % 3
        values = [f"{group + rng.random():.2f}" for _ in range(columns)]
        lines.append(",".join([str(i + 1), *values]))
    return ("\n".join(lines) + "\n").encode()


def _many_codes(rows: int = 10_000) -> bytes:
    rng = random.Random(SEED + 6)
    lines = ["CustomerID,Code,Age,Spend"]
    for i in range(rows):
        age = 20 + (i % 2) * 30 + rng.randint(0, 5)
        lines.append(f"{i + 1},Z{i:05d},{age},{rng.randint(0, 9)}")
    return ("\n".join(lines) + "\n").encode()


def _truncated_parquet() -> bytes:
    return b"PAR1" + _garbage(300) + b"PAR1"


# --- the cases -----------------------------------------------------------------------------------


def build_cases() -> list[Case]:
    """Every case of the corpus, in manifest order."""
    good = _csv(_customers())
    few = _csv(_customers(8))
    cases = [
        # -- not a table at all
        Case("empty", "empty.csv", lambda: b"", message=r"empty \(0 bytes\)",
             error_type="EmptyFileError", description="zero bytes"),
        Case("whitespace_only", "blank.csv", lambda: b"\n  \n\t\n\n",
             message="only whitespace", error_type="EmptyFileError",
             description="blank lines and spaces only"),
        Case("header_only", "header_only.csv", lambda: b"CustomerID,Age,Income,Spend\n",
             message=r"header \(4 columns\) but no data rows", error_type="EmptyFileError",
             description="a header and no rows"),
        Case("binary_garbage", "garbage.csv", _garbage, message="binary",
             error_type="NotATableError", description="4 KB of random bytes"),
        Case("png_renamed", "photo.csv", _png, message="PNG image, not a table",
             error_type="NotATableError", description="a real PNG image renamed .csv"),
        Case("xlsx_renamed", "export.csv", _xlsx_like, message=r"ZIP archive \(an Excel",
             error_type="UnsupportedFormatError", description="a ZIP (xlsx) renamed .csv"),
        Case("truncated_gzip", "customers.csv.gz", _truncated_gzip,
             message="not a readable gzip file", error_type="NotATableError",
             description="a gzip cut after 150 bytes"),
        Case("truncated_parquet", "customers.parquet", _truncated_parquet,
             message="not a readable Parquet file", error_type="NotATableError",
             description="Parquet magic around garbage"),
        Case("ragged_rows", "ragged.csv", _ragged,
             message=r"line 8 has 6 fields but the header has 4", error_type="NotATableError",
             description="one row with two extra fields"),
        Case("utf16", "unicode.csv", _utf16, expect="trains", config=SMALL_CONFIG,
             roles={"CustomerID": "id", "Income": "numeric"},
             description="UTF-16 with BOM, tab-separated (Excel's 'Unicode text')"),
        # -- too small
        Case("one_row", "one_row.csv", lambda: _csv(_customers(1)),
             message=r"1 rows read; at least 20 rows are needed", error_type="TooFewRowsError",
             description="a single customer"),
        Case("fewer_than_k_min", "few.csv", lambda: few, config={"k_min": 6, "k_max": 8},
             message=r"8 rows read; at least 16 rows are needed", error_type="TooFewRowsError",
             description="8 rows for k_min=6..k_max=8"),
        # -- nothing to cluster on
        Case("wrong_separator", "colons.csv", _wrong_separator, message="no usable feature",
             error_type="NoUsableFeatureError",
             description="':'-separated: one text column per row"),
        Case("all_constant", "constant.csv", _constant, message="no usable feature",
             error_type="NoUsableFeatureError", description="every column constant"),
        Case("only_id_and_free_text", "notes.csv", _no_features, message="no usable feature",
             error_type="NoUsableFeatureError", description="an id and free text"),
        Case("every_feature_missing", "blank_rows.csv", _blank_rows,
             message="no usable feature", error_type="NoUsableFeatureError",
             description="ids with every other value missing"),
        Case("only_infinities", "inf.csv", _only_infinities, message="no usable feature",
             error_type="NoUsableFeatureError", description="the only feature is all inf"),
        # -- bad configs
        Case("config_unknown_keys", "customers.csv", lambda: good,
             config={"k_max": 4, "clusters": 5, "algorithm": "kmeans"},
             message=r"unknown key\(s\) 'algorithm', 'clusters'",
             error_type="UnknownConfigKeyError", description="config with unknown keys"),
        Case("config_missing_columns", "customers.csv", lambda: good,
             config={"features": ["Age", "Loyalty"], "k_max": 4}, message="'Loyalty'",
             error_type="MissingColumnError", description="config names a missing column"),
        Case("config_missing_id_column", "customers.csv", lambda: good,
             config={"id_column": "CustNo"}, message="'CustNo'",
             error_type="MissingColumnError", description="config id_column missing"),
        Case("config_invalid_json", "customers.csv", lambda: good, config_raw='{"k_max": 4,',
             message="config is not valid JSON", error_type="ConfigError",
             description="truncated JSON"),
        Case("config_not_an_object", "customers.csv", lambda: good, config=[1, 2],
             message="config must be a JSON object", error_type="ConfigError",
             description="a JSON list"),
        Case("config_bad_k_range", "customers.csv", lambda: good,
             config={"k_min": 8, "k_max": 3}, message=r"k_min=8 should be <= k_max=3",
             error_type="ConfigError", description="k_min above k_max"),
        Case("config_unknown_algorithm", "customers.csv", lambda: good,
             config={"algorithms": ["hdbscan"]}, message=r"algorithms\.0: .*got .hdbscan.",
             error_type="ConfigError", description="an algorithm that does not exist"),
        # -- the system copes
        Case("mixed_types", "mixed.csv", _mixed_types, expect="trains", config=SMALL_CONFIG,
             roles={"Income": "numeric", "Tier": "categorical", "CustomerID": "id"},
             description="numbers with 'unknown'/'n/a'/blank, and a numbers+words column"),
        Case("all_missing_column", "sparse.csv",
             lambda: _csv(_with(_customers(), Notes=lambda i: "")), expect="trains",
             config=SMALL_CONFIG, roles={"Notes": "dropped", "Income": "numeric"},
             description="one column with every value missing"),
        Case("duplicate_identifiers", "dup_ids.csv", _duplicate_ids, expect="trains",
             config=SMALL_CONFIG, roles={"Age": "numeric", "Income": "numeric"},
             description="CustomerID repeated on 4 rows: not an identifier any more"),
        Case("dates_several_formats", "dates.csv", _dates, expect="trains", config=SMALL_CONFIG,
             roles={"Signup": "date", "LastOrder": "date", "Birthday": "date"},
             description="ISO, d/m/Y and d.m.Y date columns, and one column mixing formats"),
        Case("infinities_and_magnitudes", "inf_values.csv", _infinities, expect="trains",
             config=SMALL_CONFIG, roles={"Income": "numeric"},
             description="inf, -inf, 1e308, -1e300, Infinity among incomes"),
        Case("very_long_fields", "long.csv", _long_fields, expect="trains", config=SMALL_CONFIG,
             roles={"Comment": "dropped", "Spend": "numeric"},
             description="108 KB text fields"),
        Case("latin1_bytes", "latin1.csv", _latin1, expect="trains", config=SMALL_CONFIG,
             roles={"City": "categorical"}, description="Latin-1 city names (not UTF-8)"),
        Case("late_non_utf8_byte", "late.csv", _late_bad_byte, expect="trains",
             config=SMALL_CONFIG, roles={"Income": "numeric", "Address": "dropped"},
             description="one Latin-1 byte after 75 KB of UTF-8"),
        Case("formula_cells", "formulas.csv", _formulas, expect="trains",
             config={**SMALL_CONFIG, "id_column": "CustomerID"},
             roles={"CustomerID": "id", "Channel": "categorical"},
             description="=cmd|... cells in the id and a category (CSV injection)"),
        Case("html_injection", "html.csv", _html_injection, expect="trains", config=SMALL_CONFIG,
             roles={"Segment": "categorical"},
             description="<script> in values and in a column name"),
        Case("semicolon_decimal_comma", "euro.csv",
             lambda: _csv(_customers(), sep=";").replace(b".", b","), expect="trains",
             config=SMALL_CONFIG, roles={"Income": "numeric"},
             description="';' separator and decimal commas"),
        Case("bom_crlf_quoted", "excel.csv",
             lambda: b"\xef\xbb\xbf" + _csv(_with(_customers(), Name=lambda i: '"Smith, J"'),
                                           newline="\r\n"),
             expect="trains", config=SMALL_CONFIG, roles={"Income": "numeric"},
             description="UTF-8 BOM, CRLF, quoted separators"),
        Case("wide_2000_columns", "wide.csv", _wide, expect="trains",
             config={"k_max": 3, "algorithms": ["kmeans"]}, generated=True,
             roles={"f0000": "numeric", "f1998": "numeric"},
             description="2,000 columns x 40 rows (generated by the test)"),
        Case("many_distinct_strings", "names.csv", _many_strings, expect="trains",
             config={"k_max": 3, "algorithms": ["kmeans"]}, generated=True,
             roles={"Name": "dropped", "Age": "numeric"},
             description="100,000 rows, a column of 100,000 distinct strings (generated)"),
        # -- uploads that used to kill the worker (issue 16): refused with a report
        Case("gzip_bomb", "customers.csv.gz", gzip_bomb, generated=True,
             env={"MAX_DECOMPRESSED_BYTES": str(64 * 1024 * 1024)},
             message=r"inflates to more than 67,108,864 bytes; the limit is 67,108,864 bytes "
                     r"once decompressed \(MAX_DECOMPRESSED_BYTES\)",
             error_type="FileTooLargeError",
             description="8.4 MB of gzip inflating to 8 GiB (limit lowered to 64 MiB)"),
        Case("parquet_400m_rows", "customers.parquet", huge_parquet, generated=True,
             message=r"declares 400,000,000 rows; the limit is 10,000,000 rows "
                     r"\(MAX_TABLE_ROWS\)",
             error_type="FileTooLargeError",
             description="640 KB of Parquet declaring 400M rows"),
        Case("parquet_uncompressed_size", "zeros.parquet", _zeros_parquet, generated=True,
             env={"MAX_DECOMPRESSED_BYTES": str(64 * 1024 * 1024)},
             message=r"declares 72,\d{3},\d{3} bytes of uncompressed data; the limit is "
                     r"67,108,864 bytes once decompressed",
             error_type="FileTooLargeError",
             description="a few KB of zstd Parquet holding 72 MB (limit lowered to 64 MiB)"),
        Case("wide_10000_columns", "wide.csv", _numeric_columns, generated=True,
             message=r"10,000 columns wide after one-hot encoding \(60 rows\); the limit is "
                     r"2,000 \(MAX_FEATURE_WIDTH\); 10,000 numeric or date columns",
             error_type="TooManyFeaturesError",
             description="60 rows x 10,000 numeric columns (3.9 MB)"),
        Case("config_forces_10000_categories", "codes.csv", _many_codes, generated=True,
             config={"categorical": ["Code"]},
             message=r"10,002 columns wide after one-hot encoding \(10,000 rows\); the limit "
                     r"is 2,000 \(MAX_FEATURE_WIDTH\); widest: 'Code' \(10,000 categories\)",
             error_type="TooManyFeaturesError",
             description="a 10,000-level column made categorical by the config (236 KB)"),
        Case("config_nested_5000_levels", "customers.csv", lambda: good,
             config_raw='{"features": ' + "[" * 5000 + "]" * 5000 + "}",
             message=r"config is nested 5,001 levels deep; the limit is 16 levels "
                     r"\(MAX_CONFIG_DEPTH\)",
             error_type="ConfigError", description="a config nested 5,000 levels deep"),
        Case("parquet_nested_columns", "nested.parquet", _nested_parquet, generated=True,
             expect="trains", config=SMALL_CONFIG,
             roles={"address": "dropped", "tags": "dropped", "attributes": "dropped",
                    "Income": "numeric"},
             description="Parquet struct, list and map columns beside plain ones"),
        Case("parquet_nested_named_feature", "nested.parquet", _nested_parquet, generated=True,
             config={"features": ["Age", "address"]},
             message=r"column 'address' holds nested values \(a struct per row\)",
             error_type="ConfigError",
             description="the config names a struct column as a feature"),
        Case("parquet_decimals", "numeric.parquet", _decimal_parquet, generated=True,
             expect="trains", config=SMALL_CONFIG,
             roles={"Income": "numeric", "Spend": "numeric"},
             description="decimal128 columns (a database NUMERIC export)"),
        Case("uppercase_suffix", "MALL.CSV", lambda: good, expect="trains", config=SMALL_CONFIG,
             roles={"Income": "numeric"},
             description="an upper-case suffix (S3 notification suffixes are case-sensitive)"),
        Case("uppercase_gzip_suffix", "CUSTOMERS.CSV.GZ", lambda: _gzip(good), expect="trains",
             config=SMALL_CONFIG, roles={"Income": "numeric"},
             description="an upper-case .CSV.GZ suffix"),
        # -- dataset names with path tricks: nothing may be written anywhere
        Case("dataset_dotdot", "x.csv", lambda: good, dataset="..", expect="rejected",
             key="uploads/../x.csv", message=r"dataset name '\.\.' is invalid",
             description="uploads/../x.csv"),
        Case("dataset_traversal", "x.csv", lambda: good, dataset="..", expect="rejected",
             key="uploads/../datasets/shop/current.json/x.csv",
             message=r"dataset name '\.\.' is invalid", description="../ towards another key"),
        Case("dataset_encoded_dotdot", "x.csv", lambda: good, dataset="%2e%2e",
             expect="rejected", key="uploads/%2e%2e/x.csv",
             message=r"dataset name '%2e%2e' is invalid", description="percent-encoded .."),
        Case("dataset_unicode", "x.csv", lambda: good, dataset="m\u00e4ll", expect="rejected",
             message=r"dataset name 'm\u00e4ll' is invalid", description="a non-ASCII letter"),
        Case("dataset_fullwidth", "x.csv", lambda: good, dataset="\uff53\uff48\uff4f\uff50",
             expect="rejected", message="is invalid", description="fullwidth 'shop'"),
        Case("dataset_zero_width", "x.csv", lambda: good, dataset="shop\u200b",
             expect="rejected", message="is invalid", description="'shop' + zero-width space"),
        Case("dataset_uppercase", "x.csv", lambda: good, dataset="Shop", expect="rejected",
             message=r"dataset name 'Shop' is invalid", description="capital letters"),
        Case("dataset_too_long", "x.csv", lambda: good, dataset="a" * 64, expect="rejected",
             message="is invalid", description="64 characters"),
    ]  # fmt: skip
    return [
        c if c.dataset else Case(**{**c.__dict__, "dataset": f"bad-{c.id.replace('_', '-')}"})
        for c in cases
    ]


def case_bytes(case: Case) -> bytes:
    """The upload of ``case`` (built in memory; the same bytes every time)."""
    return case.build()


def write_corpus(folder: Path = CORPUS_DIR) -> list[Path]:
    """Write the manifest and every non-generated case file; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    cases = build_cases()
    files: dict[str, bytes] = {}
    for case in cases:
        if case.generated:
            continue
        data = case_bytes(case)
        name = _stored_name(case)
        if files.setdefault(name, data) != data:
            raise ValueError(f"two cases write different bytes to {name}")
    for name, data in sorted(files.items()):
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    manifest = {
        "about": "Generated by scripts/make_bad_corpus.py; do not edit by hand.",
        "cases": [{**c.to_json(), "stored_as": None if c.generated else _stored_name(c)}
                  for c in cases],
    }  # fmt: skip
    path = folder / "cases.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    return written


def _stored_name(case: Case) -> str:
    """The corpus file of a case: ``<id>__<file>`` (ids keep same-named uploads apart)."""
    return f"{case.id}__{case.file}"


def main(argv: list[str] | None = None) -> int:
    """Write the corpus, or with ``--check`` verify the committed one is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=CORPUS_DIR)
    args = parser.parse_args(argv)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fresh = write_corpus(Path(tmp))
            stale = [
                p.name
                for p in fresh
                if not (args.out / p.name).is_file()
                or (args.out / p.name).read_bytes() != p.read_bytes()
            ]
        if stale:
            print(f"stale corpus files: {stale}; run scripts/make_bad_corpus.py", file=sys.stderr)
            return 1
        print(f"corpus up to date ({len(fresh)} files)")
        return 0
    written = write_corpus(args.out)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total:,} bytes, to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
