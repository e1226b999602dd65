"""Customer records -> the prepared matrix, with numpy alone (the fitted preprocessing replayed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.contract.manifest import ColumnSchema
from shared.quoting import quote_value
from shared.serving.preprocessing import (
    InputColumn,
    OneHotColumn,
    PreprocessingParams,
    ScaledColumn,
)
from shared.serving.records import CustomerValidator
from shared.serving.values import ABSURD_MAGNITUDE, category_label

logger = logging.getLogger(__name__)
COLUMN_PATH_MIN_ROWS = 64
"""From this many customers on, plain JSON values are typed column by column with numpy."""


# --- customers -> prepared matrix ---------------------------------------------------------------

_PLAIN_NUMBERS: frozenset[type] = frozenset({int, float, type(None)})
_PLAIN_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_TEXT_OR_NONE: frozenset[type] = frozenset({str, type(None)})


def plain_numbers(
    values: list[Any],
    name: str,
    low: float | None,
    high: float | None,
    *,
    log1p: bool,
    warnings: list[list[str]],
    unusual: set[int],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Type one numeric column of plain JSON values: ``(numbers, missing)``, or None.

    ``numbers`` holds the floats (NaN where missing; negatives of a log1p column set to 0,
    their rows added to ``unusual`` so the row route writes their warnings). Values outside
    ``low..high`` get the engine's range warning appended to ``warnings[row]``. None when a
    value is not a plain JSON number or null, or is beyond float range or
    :data:`~shared.serving.values.ABSURD_MAGNITUDE`: the row route then types or names it.

    Examples
    --------
    >>> warnings = [[], [], []]
    >>> numbers, missing = plain_numbers([42, None, 250], "Age", 18, 70, log1p=False,
    ...                                  warnings=warnings, unusual=set())
    >>> missing.tolist(), warnings[2]
    ([False, True, False], ['Age=250 is outside the training range 18..70'])
    """
    if not {type(v) for v in values} <= _PLAIN_NUMBERS:
        return None  # numeric text, booleans, containers: the row route types or names them
    try:
        numbers = np.array(values, dtype=np.float64)  # None -> NaN
    except OverflowError:  # an integer beyond float range: the row route names it
        return None
    missing = np.isnan(numbers)
    present = ~missing
    if (np.abs(numbers[present]) > ABSURD_MAGNITUDE).any():
        return None  # the row route names the value
    if low is not None and high is not None:
        outside = present & ((numbers < low) | (numbers > high))
        span = f"{low:g}..{high:g}"
        for i in np.flatnonzero(outside).tolist():
            warnings[i].append(
                f"{name}={quote_value(values[i])} is outside the training range {span}"
            )
    if log1p:
        negative = present & (numbers < 0)
        unusual.update(np.flatnonzero(negative).tolist())
        numbers[negative] = 0.0
    return numbers, missing


def _described(columns: Sequence[InputColumn]) -> list[str]:
    return [f"{c.name} ({c.role}{', log1p' if c.log1p else ''})" for c in columns]


@dataclass(frozen=True)
class _ColumnWarnings:
    """What the column route needs of one feature beyond its fitted numbers (from the schema)."""

    low: float | None
    high: float | None
    dtype: str
    known: frozenset[str]


class ServingTransform:
    """Customer records -> the prepared matrix, with numpy alone, for any batch size.

    Applies :class:`~shared.serving.preprocessing.PreprocessingParams` (the fitted numbers) with
    the validation rules of the training schema. Small batches, and any batch with a value
    outside plain JSON numbers and scalars or a date column, go row by row through
    :class:`~shared.serving.records.CustomerValidator`, which validates exactly like training's
    ``coerce_customers``. From :data:`COLUMN_PATH_MIN_ROWS` customers on, plain values are typed
    column by column; rows with a rarer soft problem (an unseen category, a negative value in a
    log1p column, an unknown key) get their warnings from the row route, so every message is the
    validator's. Both routes give the identical matrix.

    Parameters
    ----------
    params : PreprocessingParams
        The fitted preprocessing (``serving/params.json``).
    columns : list of ColumnSchema
        The training schema (types, ranges, categories, date references for validation).

    Raises
    ------
    ValueError
        When ``params`` was made for other columns than the schema's used ones.

    Examples
    --------
    >>> from shared.serving.preprocessing import InputColumn, ScaledColumn
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True, min=1, max=3)]
    >>> params = PreprocessingParams((InputColumn("x", "numeric", False),), 1,
    ...                              (ScaledColumn("x", 0, 2.0, False, 2.0, 1.0),), ())
    >>> X, imputed, warnings = ServingTransform(params, cols).transform([{"x": 3}, {"x": None}])
    >>> X.ravel().tolist(), imputed
    ([1.0, 0.0], [[], ['x']])
    """

    def __init__(self, params: PreprocessingParams, columns: list[ColumnSchema]) -> None:
        self.params = params
        self.n_outputs = params.n_outputs
        self._validator = CustomerValidator(columns)
        rules = self._validator.rules
        expected = tuple(InputColumn(r.name, r.role, r.log1p) for r in rules)
        if params.columns != expected:
            raise ValueError(
                f"they were made for columns {_described(params.columns)}, the schema's used "
                f"columns are {_described(expected)}"
            )
        position = {rule.name: j for j, rule in enumerate(rules)}
        numeric, categorical = params.numeric, params.categorical
        # Row route: the scaled columns' positions and numbers as arrays, the slots as dicts.
        self._num_index = np.array([position[n.column] for n in numeric], dtype=np.intp)
        self._num_out = np.array([n.output for n in numeric], dtype=np.intp)
        self._num_fill = np.array([n.fill for n in numeric], dtype=np.float64)
        self._num_log = np.array([n.log1p for n in numeric], dtype=bool)
        self._num_mean = np.array([n.mean for n in numeric], dtype=np.float64)
        self._num_scale = np.array([n.scale for n in numeric], dtype=np.float64)
        self._slots = [{s.label: s.output for s in c.slots} for c in categorical]
        self._cat_index = [position[c.column] for c in categorical]
        # Column route: schema facts for the warnings, features in schema order (so each
        # row's warnings and imputed names keep that order).
        self._known_names = self._validator.known_names
        self._by_column = all(r.role in ("numeric", "categorical") for r in rules)
        self._schema = {
            r.name: _ColumnWarnings(r.low, r.high, r.dtype, r.categories) for r in rules
        }
        features: list[ScaledColumn | tuple[OneHotColumn, dict[str, int]]] = [
            *numeric,
            *zip(categorical, self._slots, strict=True),
        ]
        self._features = sorted(
            features,
            key=lambda f: position[f.column if isinstance(f, ScaledColumn) else f[0].column],
        )

    @property
    def columns(self) -> list[str]:
        """The input columns a record is keyed by, in schema order."""
        return [rule.name for rule in self._validator.rules]

    def transform(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Validate customer records and return ``(X, imputed, warnings)``.

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (the message names the customer and the column).
        """
        if self._by_column and len(records) >= COLUMN_PATH_MIN_ROWS:
            done = self._column_route(records)
            if done is not None:
                return done
        return self._row_route(records)

    def _row_route(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Every record through the validator, then the fitted numbers applied with numpy."""
        rows, imputed, warnings = self._validator.coerce(records)
        X = np.zeros((len(rows), self.n_outputs), dtype=np.float64)
        if self._num_index.size:
            values = np.array(
                [[np.nan if row[j] is None else row[j] for j in self._num_index] for row in rows],
                dtype=np.float64,
            ).reshape(len(rows), self._num_index.size)
            values = np.where(np.isnan(values), self._num_fill, values)
            if self._num_log.any():
                values[:, self._num_log] = np.log1p(values[:, self._num_log])
            X[:, self._num_out] = (values - self._num_mean) / self._num_scale
        for j, column, slots in zip(self._cat_index, self.params.categorical, self._slots,
                                    strict=True):  # fmt: skip
            for i, row in enumerate(rows):
                label = row[j]
                slot = slots.get(column.fill if label is None else str(label))
                if slot is not None:
                    X[i, slot] = column.value
        return X, imputed, warnings

    def _column_route(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]] | None:
        """The column-by-column route; None when a value needs the row route."""
        if not all(type(r) is dict for r in records):
            return None
        n = len(records)
        known = self._known_names
        unusual: set[int] = set()
        if not set().union(*records) <= known:  # one pass over the keys; rarely taken
            unusual.update(i for i, r in enumerate(records) if not known.issuperset(r))
        X = np.zeros((n, self.n_outputs), dtype=np.float64)
        imputed: list[list[str]] = [[] for _ in range(n)]
        warnings: list[list[str]] = [[] for _ in range(n)]
        for feature in self._features:
            if isinstance(feature, ScaledColumn):
                name = feature.column
                values = [r.get(name) for r in records]
                missing = self._numeric_column(
                    feature, self._schema[name], values, X, warnings, unusual
                )
            else:
                name = feature[0].column
                values = [r.get(name) for r in records]
                missing = self._categorical_column(
                    feature[0], feature[1], self._schema[name], values, X, unusual
                )
            if missing is None:
                return None
            for i in np.flatnonzero(missing).tolist():
                imputed[i].append(name)
        if unusual:
            rows = sorted(unusual)
            exact = self._row_route([records[i] for i in rows])
            for j, i in enumerate(rows):
                warnings[i] = exact[2][j]
        return X, imputed, warnings

    @staticmethod
    def _numeric_column(
        plan: ScaledColumn,
        schema: _ColumnWarnings,
        values: list[Any],
        X: np.ndarray,
        warnings: list[list[str]],
        unusual: set[int],
    ) -> np.ndarray | None:
        typed = plain_numbers(
            values,
            plan.column,
            schema.low,
            schema.high,
            log1p=plan.log1p,
            warnings=warnings,
            unusual=unusual,
        )
        if typed is None:
            return None
        numbers, missing = typed
        # Element-wise, in the row route's order: the identical floats.
        numbers = np.where(missing, plan.fill, numbers)
        if plan.log1p:
            numbers = np.log1p(numbers)
        X[:, plan.output] = (numbers - plan.mean) / plan.scale
        return missing

    @staticmethod
    def _categorical_column(
        plan: OneHotColumn,
        slots: dict[str, int],
        schema: _ColumnWarnings,
        values: list[Any],
        X: np.ndarray,
        unusual: set[int],
    ) -> np.ndarray | None:
        types = {type(v) for v in values}
        if not types <= _PLAIN_SCALARS:
            return None
        # Each distinct value is labelled once. Mixed types are keyed by (type, value): True, 1
        # and 1.0 are equal as dict keys but not as labels. A NaN never equals itself, but a
        # dict finds the very same object, so each NaN object is labelled on its own.
        keys: list[Any] = values if types <= _TEXT_OR_NONE else [(type(v), v) for v in values]
        slot_of: dict[Any, int] = {}
        missing_keys: set[Any] = set()
        unseen_keys: set[Any] = set()
        for key in set(keys):
            label = category_label(key if keys is values else key[1], schema.dtype)
            if label is None:
                missing_keys.add(key)
                label = plan.fill
            elif schema.known and label not in schema.known:
                unseen_keys.add(key)
            slot_of[key] = slots.get(label, -1)
        n = len(keys)
        outputs = np.fromiter((slot_of[k] for k in keys), dtype=np.intp, count=n)
        hit = outputs >= 0
        X[np.flatnonzero(hit), outputs[hit]] = plan.value
        if unseen_keys:
            unusual.update(i for i, k in enumerate(keys) if k in unseen_keys)
        if not missing_keys:
            return np.zeros(n, dtype=bool)
        return np.fromiter((k in missing_keys for k in keys), dtype=bool, count=n)
