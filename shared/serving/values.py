"""Scalar typing rules of customer values, with numpy alone (no pandas).

The assignment fast path must not import pandas (it costs about a second of cold start), but it
must type each value exactly as training did. These are the scalar rules of
:mod:`shared.engine.schema` (``parse_number``, ``category_label``, ``date_age_days`` and the missing
tokens), kept here in a module that imports only numpy and the standard library;
:mod:`shared.engine.schema` imports them from here (and re-exports them), so training,
``prepare_frame``
and the fast path share one implementation.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from shared.contract.manifest import ColumnSchema
from shared.quoting import quote_value

__all__ = [
    "ABSURD_MAGNITUDE",
    "MISSING_TOKENS",
    "category_label",
    "date_age_days",
    "feature_columns",
    "naive_utc",
    "parse_date",
    "parse_number",
]

ABSURD_MAGNITUDE = 1e15
"""Numbers above this magnitude are refused as values (as in training)."""

MISSING_TOKENS = frozenset(
    {
        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?", "-", "--",
    }
)  # fmt: skip
"""Text values that mean missing (pandas' read_csv defaults plus ``?``, ``-``, ``--``)."""


def feature_columns(columns: list[ColumnSchema]) -> list[ColumnSchema]:
    """The used columns (the features), in schema order.

    Examples
    --------
    >>> cols = [ColumnSchema(name="a", role="numeric", dtype="float", used=True),
    ...         ColumnSchema(name="b", role="dropped", dtype="string", used=False)]
    >>> [c.name for c in feature_columns(cols)]
    ['a']
    """
    return [c for c in columns if c.used]


def parse_number(value: Any) -> float | None:
    """Parse one value of a numeric column; None when missing.

    Accepts ints, floats and numeric strings (surrounding blanks ignored). Blank strings and
    NaN are missing. Booleans, other strings and containers raise.

    Raises
    ------
    TypeError
        For booleans, containers and other non-numbers.
    ValueError
        For strings that are not numbers, infinities and magnitudes above ``1e15``.

    Examples
    --------
    >>> parse_number(" 42 "), parse_number(""), parse_number(3)
    (42.0, None, 3.0)
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            raise ValueError(
                f"an integer of {len(str(abs(int(value))))} digits is not a number within "
                f"+-{ABSURD_MAGNITUDE:g}"
            ) from None
    elif isinstance(value, str):
        text = value.strip()
        if not text or text in MISSING_TOKENS:
            return None
        if "_" in text:
            raise ValueError(f"{quote_value(value)} is not a number")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{quote_value(value)} is not a number") from None
    else:
        raise TypeError(f"a {type(value).__name__} is not a number")
    if math.isnan(number):
        return None
    if not abs(number) <= ABSURD_MAGNITUDE:
        raise ValueError(
            f"{quote_value(value)} is not a finite number within +-{ABSURD_MAGNITUDE:g}"
        )
    return number


def category_label(value: Any, dtype: str = "string") -> str | None:
    """The category label of one value of a categorical column; None when missing.

    Numbers are written canonically (``1``, ``1.0`` and ``"1"`` of an integer-coded column all
    give ``"1"``), booleans as ``"True"``/``"False"`` (so are the texts ``"true"``/``"false"``
    of a boolean column), text is stripped; blanks and :data:`MISSING_TOKENS` are missing.

    Raises
    ------
    TypeError
        For containers and other values that are not a scalar.

    Examples
    --------
    >>> category_label(" Male "), category_label(2.0, "integer"), category_label(True)
    ('Male', '2', 'True')
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return _number_label(number)
    if isinstance(value, str):
        text = value.strip()
        if not text or text in MISSING_TOKENS:
            return None
        if dtype == "boolean" and text.lower() in ("true", "false"):
            return "True" if text.lower() == "true" else "False"
        if dtype in ("integer", "float"):
            try:
                number = float(text)
            except ValueError:
                return text
            return _number_label(number) if math.isfinite(number) else text
        return text
    raise TypeError(f"a {type(value).__name__} is not a category")


def date_age_days(value: Any, reference: str, date_format: str | None = None) -> float | None:
    """Age in days of one date value before ``reference``; None when missing.

    The value is read by :func:`parse_date` (which names what it raises); ``date``/``datetime``
    objects are used as they are (aware ones converted to UTC).

    Examples
    --------
    >>> date_age_days("2024-01-01", "2024-01-31T00:00:00", "%Y-%m-%d")
    30.0
    """
    moment = parse_date(value, date_format)
    if moment is None:
        return None
    return (naive_utc(datetime.fromisoformat(reference)) - moment).total_seconds() / 86400.0


def parse_date(value: Any, date_format: str | None = None) -> datetime | None:
    """One date value as a naive UTC datetime; None when missing (None, NaN, blank).

    Strings are parsed with ``date_format`` first, then as ISO 8601.

    Raises
    ------
    TypeError
        For values that are not strings or dates.
    ValueError
        For strings that are not dates.

    Examples
    --------
    >>> parse_date("19970101", "%Y%m%d")
    datetime.datetime(1997, 1, 1, 0, 0)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _parse_date_scalar(value, date_format)


def _parse_date_scalar(value: Any, date_format: str | None) -> datetime | None:
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} is not a date")
    text = value.strip()
    if not text or text in MISSING_TOKENS:
        return None
    if date_format:
        try:
            return naive_utc(datetime.strptime(text, date_format))
        except ValueError:
            pass
    try:
        return naive_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{quote_value(value)} is not a date") from None


def naive_utc(moment: datetime) -> datetime:
    """The naive UTC time of ``moment`` (naive moments are taken as they are).

    Examples
    --------
    >>> from datetime import timedelta, timezone
    >>> naive_utc(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2024, 1, 1, 10, 0)
    """
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _number_label(number: float) -> str:
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return str(number)
