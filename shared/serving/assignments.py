"""The training customers' segments of a version (``assignments.csv.gz``), for people.

``assignments.csv.gz`` holds the id column (if the upload had one) and, per algorithm, the
segment id of every training row at that algorithm's chosen k (``shared.training.pipeline``).
From it: one segment's customers as a CSV a spreadsheet opens safely
(:func:`segment_customers_csv`), and how customers moved between two versions
(:func:`segment_moves`). Stdlib only (the API image has no pandas).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FORMULA_PREFIXES",
    "AssignmentTable",
    "neutralise",
    "read_assignments",
    "segment_customers_csv",
    "segment_moves",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cells a spreadsheet reads as formulas (CSV injection): written with a leading apostrophe.
The training run neutralises ids the same way (``ASSIGNMENTS_FORMULA_PREFIXES``); a name set
by a person is neutralised here."""


def neutralise(value: str) -> str:
    """``value`` with a leading apostrophe when a spreadsheet would run it as a formula.

    Examples
    --------
    >>> neutralise("=HYPERLINK(1)"), neutralise("VIP"), neutralise("-3")
    ("'=HYPERLINK(1)", 'VIP', "'-3")
    """
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


@dataclass(frozen=True)
class AssignmentTable:
    """The parsed ``assignments.csv.gz``: ids (None without an id column) and per-algorithm
    segment ids, one entry per training row in upload order."""

    id_column: str | None
    ids: list[str] | None
    segments: dict[str, list[int]]


def read_assignments(data: bytes, algorithms: list[str]) -> AssignmentTable:
    """Parse ``assignments.csv.gz``; ``algorithms`` are the version's algorithm names.

    Raises
    ------
    ValueError
        When the file is not a gzip CSV with a column per algorithm.

    Examples
    --------
    >>> raw = gzip.compress(b"CustomerID,kmeans\\n1,0\\n2,1\\n")
    >>> t = read_assignments(raw, ["kmeans"])
    >>> t.id_column, t.ids, t.segments
    ('CustomerID', ['1', '2'], {'kmeans': [0, 1]})
    """
    text = gzip.decompress(data).decode("utf-8")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise ValueError("assignments.csv.gz is empty")
    missing = [a for a in algorithms if a not in header]
    if missing:
        raise ValueError(f"assignments.csv.gz has no column for {missing}")
    positions = {a: header.index(a) for a in algorithms}
    extra = [i for i, name in enumerate(header) if name not in positions]
    id_at = extra[0] if extra else None
    ids: list[str] | None = [] if id_at is not None else None
    segments: dict[str, list[int]] = {a: [] for a in algorithms}
    for row in rows:
        if not row:
            continue
        if ids is not None and id_at is not None:
            ids.append(row[id_at])
        for a, i in positions.items():
            segments[a].append(int(row[i]))
    return AssignmentTable(
        id_column=header[id_at] if id_at is not None else None, ids=ids, segments=segments
    )


def segment_customers_csv(
    table: AssignmentTable, algorithm: str, segment_id: int, segment_name: str
) -> tuple[bytes, int]:
    """The customers of one segment as CSV (id or row number, segment id, segment name) and
    how many there are. Every text cell is formula-neutralised.

    Examples
    --------
    >>> t = AssignmentTable("id", ["a", "=b", "c"], {"kmeans": [1, 1, 0]})
    >>> body, n = segment_customers_csv(t, "kmeans", 1, "@VIP")
    >>> n, body.decode().splitlines()
    (2, ['id,segment_id,segment_name', "a,1,'@VIP", "'=b,1,'@VIP"])
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    first = neutralise(table.id_column) if table.id_column else "row"
    writer.writerow([first, "segment_id", "segment_name"])
    name = neutralise(segment_name)
    count = 0
    for row, sid in enumerate(table.segments[algorithm]):
        if sid != segment_id:
            continue
        key = neutralise(table.ids[row]) if table.ids is not None else str(row + 1)
        writer.writerow([key, sid, name])
        count += 1
    return out.getvalue().encode("utf-8"), count


def segment_moves(
    base: AssignmentTable, base_algorithm: str, other: AssignmentTable, other_algorithm: str
) -> tuple[dict[tuple[int, int], int], int]:
    """How the customers both versions trained on moved: (base segment, other segment) ->
    customers, and how many customers were matched by id.

    Customers are matched by their id (both tables need an id column; ids seen more than once
    in either table are left out, they cannot be matched for sure).

    Raises
    ------
    ValueError
        When either table has no id column.

    Examples
    --------
    >>> a = AssignmentTable("id", ["1", "2", "3"], {"kmeans": [0, 0, 1]})
    >>> b = AssignmentTable("id", ["3", "2", "4"], {"gmm": [1, 2, 2]})
    >>> segment_moves(a, "kmeans", b, "gmm")
    ({(0, 2): 1, (1, 1): 1}, 2)
    """
    if base.ids is None or other.ids is None:
        raise ValueError("moves need an id column in both versions to match customers")

    def unique(table: AssignmentTable, algorithm: str) -> Mapping[str, int]:
        counts = Counter(table.ids or [])
        return {
            key: sid
            for key, sid in zip(table.ids or [], table.segments[algorithm], strict=True)
            if counts[key] == 1
        }

    before = unique(base, base_algorithm)
    after = unique(other, other_algorithm)
    moves: Counter[tuple[int, int]] = Counter()
    matched = 0
    for key, sid in before.items():
        if key in after:
            moves[(sid, after[key])] += 1
            matched += 1
    return dict(sorted(moves.items())), matched
