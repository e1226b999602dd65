"""Customers for ``segments assign``: read with the training reader, checked against the model.

A customer file is read by :func:`shared.engine.loading.read_table`, the reader training uses, so
whatever training accepted (separator ``,`` ``;`` tab or ``|`` sniffed, UTF-8/UTF-16/Latin-1,
quoted fields, ``.csv.gz``, Parquet) assigns the same way; values keep the types that reader gives
them (numbers in numeric columns, text in text columns; the API types them as training did).
``.json`` files and ``--json`` text are an object, a list of objects or ``{"customers": [...]}``.

Before assigning, the customers' columns are compared with the model's input columns: sharing
none of them is an error that names the expected columns (every value would be imputed and every
customer land in the same segment); lacking some is a warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_columns", "parse_customers", "read_customers_file", "records_of"]

_SHOWN_COLUMNS = 12


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records of a table: missing values become None, numpy scalars Python ones.

    Examples
    --------
    >>> import pandas as pd
    >>> records_of(pd.DataFrame({"Age": [31.0, None], "Gender": ["Female", None]}))
    [{'Age': 31.0, 'Gender': 'Female'}, {'Age': None, 'Gender': None}]
    """
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    records: list[dict[str, Any]] = []
    for row in frame.itertuples(index=False, name=None):
        records.append({c: _plain(v, pd) for c, v in zip(columns, row, strict=True)})
    return records


def _plain(value: Any, pd: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def parse_customers(text: str, *, fmt: str) -> list[dict[str, Any]]:
    """Customers from CSV (any separator training accepts) or JSON text.

    JSON is an object, a list of objects or ``{"customers": [...]}``.

    Raises
    ------
    CliError
        When the text is not a table or not customers JSON, or holds no customer.

    Examples
    --------
    >>> parse_customers("Age;Gender\\n31;Female\\n", fmt="csv")
    [{'Age': 31, 'Gender': 'Female'}]
    >>> parse_customers('{"Age": 31}', fmt="json")
    [{'Age': 31}]
    """
    if fmt == "json":
        return _json_customers(text)
    return _table_customers(text.encode("utf-8"), "customers.csv")


def read_customers_file(path: Path) -> list[dict[str, Any]]:
    """The customers of a ``.json`` file, or of any file training reads (CSV, gzip, Parquet).

    Raises
    ------
    CliError
        When the file cannot be read or holds no customer (exit code ``INPUT``).
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {path}: {e}", ExitCode.INPUT) from e
    if path.suffix.lower() == ".json":
        return _json_customers(data.decode("utf-8-sig", errors="replace"))
    return _table_customers(data, path.name)


def _table_customers(data: bytes, filename: str) -> list[dict[str, Any]]:
    from shared.engine.loading import read_table
    from shared.exceptions import DataValidationError

    try:
        frame = read_table(data, filename=filename)
    except DataValidationError as e:
        raise CliError(f"cannot read customers: {e}", ExitCode.INPUT) from e
    rows = records_of(frame)
    if not rows:
        raise CliError("no customers to assign", ExitCode.INPUT)
    return rows


def _json_customers(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CliError(f"customers are not valid JSON: {e}", ExitCode.INPUT) from e
    if isinstance(data, dict) and "customers" in data:
        data = data["customers"]
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CliError(
            'customers JSON must be an object, a list of objects or {"customers": [...]}',
            ExitCode.INPUT,
        )
    if not rows:
        raise CliError("no customers to assign", ExitCode.INPUT)
    return rows


def _shown(names: Sequence[str]) -> str:
    quoted = ", ".join(repr(n) for n in names[:_SHOWN_COLUMNS])
    more = len(names) - _SHOWN_COLUMNS
    return quoted + (f" and {more} more" if more > 0 else "")


def check_columns(
    customers: Sequence[dict[str, Any]], expected: Sequence[str], *, source: str
) -> list[str]:
    """The model's input columns the customers lack; an error when they share none.

    Parameters
    ----------
    customers : sequence of dict
        The customers, keyed by column.
    expected : sequence of str
        The model's input columns (``input_columns`` of ``GET /datasets/{dataset}``).
    source : str
        Where the customers come from, for the message ("new.tsv", "--json").

    Returns
    -------
    list of str
        Expected columns no customer has (imputed as in training), in the model's order.

    Raises
    ------
    CliError
        When no customer has any expected column (exit code ``INPUT``); the message names the
        expected columns and the columns found.

    Examples
    --------
    >>> check_columns([{"Age": 31}], ["Age", "Income"], source="x.csv")
    ['Income']
    """
    found: dict[str, None] = {}
    for customer in customers:
        found.update(dict.fromkeys(customer))
    missing = [c for c in expected if c not in found]
    if expected and len(missing) == len(expected):
        raise CliError(
            f"{source} shares no column with the model: it expects {_shown(list(expected))}; "
            f"{source} has {_shown(list(found)) or 'no column'} (is it the right file, with a "
            "header row?)",
            ExitCode.INPUT,
        )
    return missing
