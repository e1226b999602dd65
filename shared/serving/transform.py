"""Customer records -> the prepared matrix, with numpy alone (the fitted preprocessing replayed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.contract.manifest import ColumnSchema
from shared.serving.values import ABSURD_MAGNITUDE, category_label, feature_columns

if TYPE_CHECKING:
    from shared.engine.preprocess import FastTransform

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
            warnings[i].append(f"{name}={values[i]!r} is outside the training range {span}")
    if log1p:
        negative = present & (numbers < 0)
        unusual.update(np.flatnonzero(negative).tolist())
        numbers[negative] = 0.0
    return numbers, missing


@dataclass(frozen=True)
class _NumericPlan:
    name: str
    output: int
    fill: float
    log1p: bool
    mean: float
    scale: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class _CategoricalPlan:
    name: str
    dtype: str
    fill: str
    slots: dict[str, int]
    known: frozenset[str]
    value: float = 1.0


class ServingTransform:
    """Customer records -> the prepared matrix, with numpy alone, for any batch size.

    Small batches (and any batch with a value outside plain JSON numbers and scalars, or a date
    column) go through :class:`~shared.engine.preprocess.FastTransform` row by row, which validates
    exactly like training's ``coerce_customers``. From :data:`COLUMN_PATH_MIN_ROWS` customers on,
    plain values are typed column by column; rows with a rarer soft problem (an unseen
    category, a negative value in a log1p column, an unknown key) get their warnings from the
    row route, so every message is the engine's. Both routes give the identical matrix.

    Parameters
    ----------
    fast : FastTransform
        The row route (built from the same parameters).
    columns : list of ColumnSchema
        The training schema (ranges and categories for warnings).

    Examples
    --------
    >>> # ServingTransform(FastTransform.from_params(p, cols), cols).transform(records)
    """

    def __init__(self, fast: FastTransform, columns: list[ColumnSchema]) -> None:
        self.fast = fast
        params = fast.to_params()
        self.n_outputs = int(params["n_outputs"])
        self._known_names = frozenset(c.name for c in columns)
        used = {c.name: c for c in feature_columns(columns)}
        self._by_column = all(c.role in ("numeric", "categorical") for c in used.values())
        self._numeric = [
            _NumericPlan(
                name=n["column"],
                output=n["output"],
                fill=n["fill"],
                log1p=n["log1p"],
                mean=n["mean"],
                scale=n["scale"],
                low=used[n["column"]].min,
                high=used[n["column"]].max,
            )
            for n in params["numeric"]
        ]
        self._categorical = [
            _CategoricalPlan(
                name=c["column"],
                dtype=used[c["column"]].dtype,
                fill=c["fill"],
                slots={str(label): int(slot) for label, slot in c["slots"]},
                known=frozenset(used[c["column"]].categories or ()),
                value=float(c.get("value", 1.0)),
            )
            for c in params["categorical"]
        ]
        # Columns in schema order, so each row's warnings and imputed names keep that order.
        order = {name: j for j, name in enumerate(fast.columns)}
        self._plans: list[_NumericPlan | _CategoricalPlan] = sorted(
            [*self._numeric, *self._categorical], key=lambda p: order[p.name]
        )

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
        return self.fast.transform_records(records)

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
        for plan in self._plans:
            values = [r.get(plan.name) for r in records]
            if isinstance(plan, _NumericPlan):
                missing = self._numeric_column(plan, values, X, warnings, unusual)
            else:
                missing = self._categorical_column(plan, values, X, unusual)
            if missing is None:
                return None
            for i in np.flatnonzero(missing).tolist():
                imputed[i].append(plan.name)
        if unusual:
            rows = sorted(unusual)
            exact = self.fast.transform_records([records[i] for i in rows])
            for j, i in enumerate(rows):
                warnings[i] = exact[2][j]
        return X, imputed, warnings

    @staticmethod
    def _numeric_column(
        plan: _NumericPlan,
        values: list[Any],
        X: np.ndarray,
        warnings: list[list[str]],
        unusual: set[int],
    ) -> np.ndarray | None:
        typed = plain_numbers(
            values,
            plan.name,
            plan.low,
            plan.high,
            log1p=plan.log1p,
            warnings=warnings,
            unusual=unusual,
        )
        if typed is None:
            return None
        numbers, missing = typed
        # Element-wise, in FastTransform's order: the identical floats.
        numbers = np.where(missing, plan.fill, numbers)
        if plan.log1p:
            numbers = np.log1p(numbers)
        X[:, plan.output] = (numbers - plan.mean) / plan.scale
        return missing

    @staticmethod
    def _categorical_column(
        plan: _CategoricalPlan, values: list[Any], X: np.ndarray, unusual: set[int]
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
            label = category_label(key if keys is values else key[1], plan.dtype)
            if label is None:
                missing_keys.add(key)
                label = plan.fill
            elif plan.known and label not in plan.known:
                unseen_keys.add(key)
            slot_of[key] = plan.slots.get(label, -1)
        n = len(keys)
        slots = np.fromiter((slot_of[k] for k in keys), dtype=np.intp, count=n)
        hit = slots >= 0
        X[np.flatnonzero(hit), slots[hit]] = plan.value
        if unseen_keys:
            unusual.update(i for i, k in enumerate(keys) if k in unseen_keys)
        if not missing_keys:
            return np.zeros(n, dtype=bool)
        return np.fromiter((k in missing_keys for k in keys), dtype=bool, count=n)
