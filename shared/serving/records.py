"""Customer records validated and typed against the training schema, with the standard library.

:class:`CustomerValidator` is the one implementation of the per-value rules an assignment
applies (types, ranges, categories, date references, log1p negatives, unknown keys): the
serving transform uses it for every customer it cannot type column by column, and training's
:func:`shared.engine.preprocess.coerce_customers` (the reference route, which builds a
DataFrame) uses it too, so both name the same customer, column and problem in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.contract.manifest import ColumnSchema
from shared.exceptions import InvalidCustomerError, NoUsableFeatureError
from shared.quoting import quote_value
from shared.serving.values import category_label, date_age_days, feature_columns, parse_number

__all__ = ["ColumnRule", "CustomerValidator", "TypedValue"]

_SHOWN_CATEGORIES = 8
_SHOWN_UNKNOWN = 10

TypedValue = float | str | None
"""A typed customer value: a float (numbers, date ages in days), a category label, or None."""


@dataclass(frozen=True)
class ColumnRule:
    """How one feature of a customer record is validated and typed.

    Examples
    --------
    >>> rule = ColumnRule.from_schema(ColumnSchema(name="Age", role="numeric", dtype="integer",
    ...                                            used=True, min=18, max=70))
    >>> warnings: list[str] = []
    >>> rule.coerce(" 80 ", warnings), warnings
    (80.0, ["Age=' 80 ' is outside the training range 18..70"])
    """

    name: str
    role: Literal["numeric", "date", "categorical"]
    dtype: str
    low: float | None
    high: float | None
    categories: frozenset[str]
    known: tuple[str, ...]
    date_reference: str | None
    date_format: str | None
    log1p: bool

    @classmethod
    def from_schema(cls, column: ColumnSchema) -> ColumnRule:
        role: Literal["numeric", "date", "categorical"] = (
            "categorical" if column.role == "categorical" else
            "date" if column.role == "date" else "numeric"
        )  # fmt: skip
        return cls(
            name=column.name,
            role=role,
            dtype=column.dtype,
            low=column.min,
            high=column.max,
            categories=frozenset(column.categories or ()),
            known=tuple(column.categories or ()),
            date_reference=column.date_reference,
            date_format=column.date_format,
            log1p=column.transform == "log1p",
        )

    def coerce(self, value: Any, warnings: list[str]) -> TypedValue:
        """The typed value (None when missing); raises TypeError/ValueError when invalid."""
        if isinstance(value, Mapping | list | tuple | set):
            raise TypeError(f"a {type(value).__name__} is not a single value")
        if self.role == "categorical":
            label = category_label(value, self.dtype)
            if label is not None and self.categories and label not in self.categories:
                shown = ", ".join(map(quote_value, self.known[:_SHOWN_CATEGORIES]))
                more = ", ..." if len(self.known) > _SHOWN_CATEGORIES else ""
                warnings.append(
                    f"{self.name}={quote_value(label)} was not seen in training (known: "
                    f"{shown}{more}); "
                    "it matches no category"
                )
            return label
        if self.role == "date":
            if self.date_reference is None:
                raise ValueError("the model has no date reference for this column")
            days = date_age_days(value, self.date_reference, self.date_format)
            if days is not None:
                self._check_range(value, days, warnings)
            return days
        number = parse_number(value)
        if number is None:
            return None
        self._check_range(value, number, warnings)
        if self.log1p and number < 0:
            warnings.append(
                f"{self.name}={quote_value(value)} is negative; treated as 0 (log1p column)"
            )
            number = 0.0
        return number

    def _check_range(self, value: Any, number: float, warnings: list[str]) -> None:
        if self.low is None or self.high is None or self.low <= number <= self.high:
            return
        if self.role == "date" and self.date_reference is not None:
            reference = datetime.fromisoformat(self.date_reference)
            oldest = (reference - timedelta(days=self.high)).date().isoformat()
            newest = (reference - timedelta(days=self.low)).date().isoformat()
            warnings.append(
                f"{self.name}={quote_value(value)} is outside the training dates {oldest}..{newest}"
            )
            return
        warnings.append(
            f"{self.name}={quote_value(value)} is outside the training range "
            f"{self.low:g}..{self.high:g}"
        )


class CustomerValidator:
    """Validates customer records against the training schema, one record at a time.

    Parameters
    ----------
    columns : list of ColumnSchema
        The training schema (``Manifest.columns``); its used columns are the features.

    Raises
    ------
    NoUsableFeatureError
        When the schema has no used column.

    Examples
    --------
    >>> cols = [ColumnSchema(name="Gender", role="categorical", dtype="string", used=True,
    ...                      categories=["Female", "Male"])]
    >>> rows, imputed, warnings = CustomerValidator(cols).coerce([{"Gender": " Male "}, {}])
    >>> rows, imputed
    ([['Male'], [None]], [[], ['Gender']])
    """

    def __init__(self, columns: list[ColumnSchema]) -> None:
        self.rules = [ColumnRule.from_schema(c) for c in feature_columns(columns)]
        if not self.rules:
            raise NoUsableFeatureError("the schema has no used column to assign customers on")
        self.known_names = frozenset(c.name for c in columns)

    def coerce(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[list[TypedValue]], list[list[str]], list[list[str]]]:
        """Typed values per record (in rule order), imputed columns and warnings per record.

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (the message and attributes name row and column).
        """
        rows: list[list[TypedValue]] = []
        imputed: list[list[str]] = []
        warnings: list[list[str]] = []
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InvalidCustomerError(
                    f"customer {i}: expected an object of column values, "
                    f"got a {type(record).__name__}",
                    row=i,
                    column="",
                )
            values: list[TypedValue] = []
            row_imputed: list[str] = []
            row_warnings: list[str] = []
            for rule in self.rules:
                raw = record.get(rule.name)
                try:
                    value = rule.coerce(raw, row_warnings)
                except (TypeError, ValueError) as e:
                    expected = {"numeric": "a number", "date": "a date", "categorical": "a text"}
                    raise InvalidCustomerError(
                        f"customer {i}, column {quote_value(rule.name)}: {e}; expected "
                        f"{expected[rule.role]}",
                        row=i,
                        column=rule.name,
                    ) from None
                if value is None:
                    row_imputed.append(rule.name)
                values.append(value)
            extra = [str(k) for k in record if k not in self.known_names]
            if extra:
                shown = ", ".join(map(quote_value, extra[:_SHOWN_UNKNOWN]))
                more = (
                    f" and {len(extra) - _SHOWN_UNKNOWN} more"
                    if len(extra) > _SHOWN_UNKNOWN
                    else ""
                )
                row_warnings.append(f"unknown field(s) {shown}{more} ignored")
            rows.append(values)
            imputed.append(row_imputed)
            warnings.append(row_warnings)
        return rows, imputed, warnings
