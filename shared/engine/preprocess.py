"""Turn typed features into the matrix the clusterers see, and customers into that matrix too.

One fitted scikit-learn object, a :class:`~sklearn.compose.ColumnTransformer`, holds all the
preprocessing that assignment reuses:

- numeric and date features: ``SimpleImputer(median)`` -> ``StandardScaler``;
- skewed numeric features (``ColumnSchema.transform == "log1p"``): ``SimpleImputer(median)``
  -> ``FunctionTransformer(np.log1p)`` -> ``StandardScaler``;
- categorical features: ``SimpleImputer(most_frequent)`` ->
  ``OneHotEncoder(handle_unknown="ignore")`` (an unseen category encodes as all zeros).

At assignment time :func:`coerce_customers` validates JSON-like customer records keyed by the
upload's original column names and types them like the training features; :class:`FastTransform`
does the same and applies the fitted parameters with numpy alone (no pandas, no
ColumnTransformer), which is what a single-customer API call needs. Both give the same matrix as
``transformer.transform(prepare_frame(...))``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shared.contract.manifest import ColumnSchema
from shared.exceptions import InvalidCustomerError, MissingColumnError, NoUsableFeatureError

# numpy-only copies of shared.engine.schema's scalar rules (pinned equal by a test): importing this
# module must not import pandas or scikit-learn, so the API's fast path starts quickly.
from shared.serving.values import (
    category_label,
    date_age_days,
    feature_columns,
    parse_number,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer

__all__ = [
    "CoercedCustomers",
    "FastTransform",
    "FittedPreprocessing",
    "build_preprocessor",
    "coerce_customers",
    "fit_preprocessor",
]

logger = logging.getLogger(__name__)

_SHOWN_CATEGORIES = 8


@dataclass(frozen=True)
class FittedPreprocessing:
    """The fitted preprocessing of a training run and the matrix it produced.

    Attributes
    ----------
    transformer : ColumnTransformer
        The one fitted object assignment reuses (persist it with skops).
    X : numpy.ndarray
        float64, C-contiguous, one row per training row, columns ``feature_names``.
    feature_names : list of str
        Names of the matrix columns: numeric features by name, one-hot columns as
        ``<column>_<category>``.
    """

    transformer: ColumnTransformer
    X: np.ndarray
    feature_names: list[str]


@dataclass(frozen=True)
class CoercedCustomers:
    """Customer records typed like ``CleanTable.features``.

    Attributes
    ----------
    frame : pandas.DataFrame
        The used feature columns in schema order, one row per record.
    imputed : list of list of str
        Per customer, the columns that were missing or null and will be imputed.
    warnings : list of list of str
        Per customer, soft problems: out-of-range values, unknown categories, ignored keys.
    """

    frame: pd.DataFrame
    imputed: list[list[str]]
    warnings: list[list[str]]


def build_preprocessor(columns: list[ColumnSchema]) -> ColumnTransformer:
    """Build the (unfitted) preprocessing for the used columns of a schema.

    Parameters
    ----------
    columns : list of ColumnSchema
        The schema from :func:`shared.engine.schema.clean_training_table`.

    Returns
    -------
    ColumnTransformer
        Blocks ``numeric``, ``log_numeric`` and ``categorical`` (only the non-empty ones), in
        that order; dense float64 output.

    Raises
    ------
    NoUsableFeatureError
        When no column of the schema is used.

    Examples
    --------
    >>> cols = [ColumnSchema(name="Age", role="numeric", dtype="integer", used=True)]
    >>> [name for name, _, _ in build_preprocessor(cols).transformers]
    ['numeric']
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    used = feature_columns(columns)
    plain = [c.name for c in used if c.role in ("numeric", "date") and c.transform is None]
    logged = [c.name for c in used if c.role in ("numeric", "date") and c.transform == "log1p"]
    categorical = [c.name for c in used if c.role == "categorical"]
    blocks: list[tuple[str, Pipeline, list[str]]] = []
    if plain:
        blocks.append(("numeric", Pipeline([_median(), ("scale", StandardScaler())]), plain))
    if logged:
        log1p = FunctionTransformer(np.log1p, feature_names_out="one-to-one")
        steps = [_median(), ("log1p", log1p), ("scale", StandardScaler())]
        blocks.append(("log_numeric", Pipeline(steps), logged))
    if categorical:
        impute = SimpleImputer(strategy="most_frequent", keep_empty_features=True)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps = [("impute", impute), ("onehot", onehot)]
        blocks.append(("categorical", Pipeline(steps), categorical))
    if not blocks:
        raise NoUsableFeatureError("the schema has no used column to preprocess")
    return ColumnTransformer(
        blocks, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )


def _median() -> tuple[str, SimpleImputer]:
    from sklearn.impute import SimpleImputer

    # keep_empty_features: the output width never depends on which values happen to be missing.
    return "impute", SimpleImputer(strategy="median", keep_empty_features=True)


def fit_preprocessor(features: pd.DataFrame, columns: list[ColumnSchema]) -> FittedPreprocessing:
    """Fit the preprocessing on the training features.

    Parameters
    ----------
    features : pandas.DataFrame
        ``CleanTable.features`` (typed: floats and ``str`` labels, NaN missing).
    columns : list of ColumnSchema
        ``CleanTable.columns``.

    Returns
    -------
    FittedPreprocessing
        The fitted transformer, the training matrix and its column names.

    Raises
    ------
    MissingColumnError
        When ``features`` lacks a used column of the schema.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0, np.nan]}), cols)
    >>> fitted.X.ravel().tolist(), fitted.feature_names
    ([-1.224744871391589, 1.224744871391589, 0.0], ['x'])
    """
    names = [c.name for c in feature_columns(columns)]
    absent = [n for n in names if n not in features.columns]
    if absent:
        raise MissingColumnError(
            f"features lack column(s) {', '.join(map(repr, absent))} of the schema; "
            f"available: {', '.join(map(repr, map(str, features.columns)))}"
        )
    frame = features[names]
    transformer = build_preprocessor(columns)
    try:
        X = transformer.fit_transform(frame)
        feature_names = [str(n) for n in transformer.get_feature_names_out()]
    except ValueError as e:
        if "not unique" not in str(e):
            raise
        # A one-hot name collides with another column's name: prefix with the block name.
        transformer = build_preprocessor(columns).set_params(verbose_feature_names_out=True)
        X = transformer.fit_transform(frame)
        feature_names = [str(n) for n in transformer.get_feature_names_out()]
    X = np.ascontiguousarray(X, dtype=np.float64)
    logger.debug("fitted preprocessing: %d rows -> %d columns", X.shape[0], X.shape[1])
    return FittedPreprocessing(transformer=transformer, X=X, feature_names=feature_names)


# --- customer records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnRule:
    """How one feature of a customer record is validated and typed."""

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
    def from_schema(cls, column: ColumnSchema) -> _ColumnRule:
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

    def coerce(self, value: Any, warnings: list[str]) -> float | str | None:
        """The typed value (None when missing); raises TypeError/ValueError when invalid."""
        if isinstance(value, Mapping | list | tuple | set):
            raise TypeError(f"a {type(value).__name__} is not a single value")
        if self.role == "categorical":
            label = category_label(value, self.dtype)
            if label is not None and self.categories and label not in self.categories:
                shown = ", ".join(map(repr, self.known[:_SHOWN_CATEGORIES]))
                more = ", ..." if len(self.known) > _SHOWN_CATEGORIES else ""
                warnings.append(
                    f"{self.name}={label!r} was not seen in training (known: {shown}{more}); "
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
            warnings.append(f"{self.name}={value!r} is negative; treated as 0 (log1p column)")
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
                f"{self.name}={value!r} is outside the training dates {oldest}..{newest}"
            )
            return
        warnings.append(
            f"{self.name}={value!r} is outside the training range {self.low:g}..{self.high:g}"
        )


class _RecordCoercer:
    """Validates customer records against the schema; shared by both assignment routes."""

    def __init__(self, columns: list[ColumnSchema]) -> None:
        self.rules = [_ColumnRule.from_schema(c) for c in feature_columns(columns)]
        if not self.rules:
            raise NoUsableFeatureError("the schema has no used column to assign customers on")
        self.known_names = frozenset(c.name for c in columns)

    def coerce(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[list[float | str | None]], list[list[str]], list[list[str]]]:
        rows: list[list[float | str | None]] = []
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
            values: list[float | str | None] = []
            row_imputed: list[str] = []
            row_warnings: list[str] = []
            for rule in self.rules:
                raw = record.get(rule.name)
                try:
                    value = rule.coerce(raw, row_warnings)
                except (TypeError, ValueError) as e:
                    expected = {"numeric": "a number", "date": "a date", "categorical": "a text"}
                    raise InvalidCustomerError(
                        f"customer {i}, column {rule.name!r}: {e}; expected {expected[rule.role]}",
                        row=i,
                        column=rule.name,
                    ) from None
                if value is None:
                    row_imputed.append(rule.name)
                values.append(value)
            extra = [str(k) for k in record if k not in self.known_names]
            if extra:
                row_warnings.append(f"unknown field(s) {', '.join(map(repr, extra))} ignored")
            rows.append(values)
            imputed.append(row_imputed)
            warnings.append(row_warnings)
        return rows, imputed, warnings


def coerce_customers(
    records: Sequence[Mapping[str, Any]], columns: list[ColumnSchema]
) -> CoercedCustomers:
    """Validate customer records and type them like the training features.

    Parameters
    ----------
    records : sequence of mapping
        Customers keyed by the upload's original column names (JSON-like values).
    columns : list of ColumnSchema
        The training schema (``CleanTable.columns`` or ``Manifest.columns``).

    Returns
    -------
    CoercedCustomers
        The typed frame plus, per customer, the imputed columns and the warnings.

    Raises
    ------
    InvalidCustomerError
        A value of the wrong type: text that is not a number in a numeric column, a boolean
        for a number, a list or object anywhere, a non-date in a date column. The message and
        the ``row``/``column`` attributes name the customer and the column.

    Notes
    -----
    Missing keys and nulls are imputed (and listed in ``imputed``). Numeric strings (``"42"``)
    are accepted for numbers. Unknown categories, values outside the training range and
    unknown keys are warnings, not errors.

    Examples
    --------
    >>> cols = [ColumnSchema(name="Age", role="numeric", dtype="integer", used=True,
    ...                      min=18, max=70)]
    >>> out = coerce_customers([{"Age": "42"}, {"Age": 250}, {}], cols)
    >>> out.frame["Age"].tolist(), out.imputed, out.warnings[1]
    ([42.0, 250.0, nan], [[], [], ['Age']], ['Age=250 is outside the training range 18..70'])
    """
    import pandas as pd

    coercer = _RecordCoercer(columns)
    rows, imputed, warnings = coercer.coerce(records)
    index = pd.RangeIndex(len(rows))
    data: dict[str, pd.Series] = {}
    for j, rule in enumerate(coercer.rules):
        values = [np.nan if row[j] is None else row[j] for row in rows]
        # explicit dtypes: pandas would otherwise infer its "str" dtype for the labels
        dtype = object if rule.role == "categorical" else np.float64
        data[rule.name] = pd.Series(values, index=index, dtype=dtype)
    frame = pd.DataFrame(data, index=index)
    return CoercedCustomers(frame=frame, imputed=imputed, warnings=warnings)


# --- fast path ----------------------------------------------------------------------------------


class FastTransform:
    """The fitted preprocessing replayed with numpy: ~microseconds per customer.

    Built from the fitted ``ColumnTransformer`` (its imputation values, scaler ``mean_`` and
    ``scale_``, one-hot categories and output positions), so it always matches the persisted
    object. ``transform_records`` validates exactly like :func:`coerce_customers`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True, min=1, max=3)]
    >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0]}), cols)
    >>> fast = FastTransform.from_fitted(fitted.transformer, cols)
    >>> X, imputed, warnings = fast.transform_records([{"x": 3}, {"x": None}])
    >>> X.ravel().tolist(), imputed
    ([1.0, 0.0], [[], ['x']])
    """

    def __init__(
        self,
        coercer: _RecordCoercer,
        n_outputs: int,
        numeric: list[tuple[int, int, float, bool, float, float]],
        categorical: list[tuple[int, str, dict[str, int]]],
    ) -> None:
        self._coercer = coercer
        self.n_outputs = n_outputs
        self._numeric = numeric
        self._categorical = categorical
        self._num_index = np.array([n[0] for n in numeric], dtype=np.intp)
        self._num_out = np.array([n[1] for n in numeric], dtype=np.intp)
        self._num_fill = np.array([n[2] for n in numeric], dtype=np.float64)
        self._num_log = np.array([n[3] for n in numeric], dtype=bool)
        self._num_mean = np.array([n[4] for n in numeric], dtype=np.float64)
        self._num_scale = np.array([n[5] for n in numeric], dtype=np.float64)

    @classmethod
    def from_fitted(
        cls, transformer: ColumnTransformer, columns: list[ColumnSchema]
    ) -> FastTransform:
        """Read the fitted parameters out of ``transformer``.

        Raises
        ------
        MissingColumnError
            When the transformer uses a column the schema does not list as used.
        TypeError
            When the transformer is not the shape :func:`build_preprocessor` makes.
        """
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

        coercer = _RecordCoercer(columns)
        position = {rule.name: j for j, rule in enumerate(coercer.rules)}
        numeric: list[tuple[int, int, float, bool, float, float]] = []
        categorical: list[tuple[int, str, dict[str, int]]] = []
        for name, pipeline, block_columns in transformer.transformers_:
            if name == "remainder" or pipeline == "drop":
                continue
            names = [str(c) for c in block_columns]
            absent = [n for n in names if n not in position]
            if absent:
                raise MissingColumnError(
                    f"the preprocessor uses column(s) {', '.join(map(repr, absent))} that the "
                    "schema does not list as used"
                )
            out = transformer.output_indices_[name]
            steps = dict(pipeline.steps) if isinstance(pipeline, Pipeline) else {}
            imputer = steps.get("impute")
            if not isinstance(imputer, SimpleImputer):
                raise TypeError(f"block {name!r} has no SimpleImputer step named 'impute'")
            fill = list(imputer.statistics_)
            encoder = steps.get("onehot")
            if isinstance(encoder, OneHotEncoder):
                offset = out.start
                for j, (column, cats) in enumerate(zip(names, encoder.categories_, strict=True)):
                    slots = {str(c): offset + k for k, c in enumerate(cats)}
                    categorical.append((position[column], str(fill[j]), slots))
                    offset += len(cats)
                continue
            scaler = steps.get("scale")
            if not isinstance(scaler, StandardScaler):
                raise TypeError(f"block {name!r} has no StandardScaler step named 'scale'")
            log = steps.get("log1p")
            if log is not None and not (
                isinstance(log, FunctionTransformer) and log.func is np.log1p
            ):
                raise TypeError(f"block {name!r}: step 'log1p' is not np.log1p")
            means = scaler.mean_ if scaler.with_mean else np.zeros(len(names))
            scales = scaler.scale_ if scaler.with_std else np.ones(len(names))
            for j, column in enumerate(names):
                numeric.append(
                    (
                        position[column],
                        out.start + j,
                        float(fill[j]),
                        log is not None,
                        float(means[j]),
                        float(scales[j]),
                    )
                )
        n_outputs = max((s.stop for s in transformer.output_indices_.values()), default=0)
        return cls(coercer, n_outputs, numeric, categorical)

    def to_params(self) -> dict[str, Any]:
        """The fitted parameters as JSON-ready data (the API's serving bundle stores them).

        Floats are kept as Python floats: ``json`` writes them with ``repr``, which reads back
        to the identical float, so :meth:`from_params` rebuilds an identical transform.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
        >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0]}), cols)
        >>> FastTransform.from_fitted(fitted.transformer, cols).to_params()["numeric"]
        [{'column': 'x', 'output': 0, 'fill': 2.0, 'log1p': False, 'mean': 2.0, 'scale': 1.0}]
        """
        names = [rule.name for rule in self._coercer.rules]
        return {
            "columns": [
                {"name": r.name, "role": r.role, "log1p": r.log1p} for r in self._coercer.rules
            ],
            "n_outputs": int(self.n_outputs),
            "numeric": [
                {
                    "column": names[j],
                    "output": int(out),
                    "fill": float(fill),
                    "log1p": bool(log),
                    "mean": float(mean),
                    "scale": float(scale),
                }
                for j, out, fill, log, mean, scale in self._numeric
            ],
            "categorical": [
                {"column": names[j], "fill": fill, "slots": [[c, int(s)] for c, s in slots.items()]}
                for j, fill, slots in self._categorical
            ],
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any], columns: list[ColumnSchema]) -> FastTransform:
        """Rebuild the transform from :meth:`to_params` data and the training schema.

        The schema (``Manifest.columns``) supplies the validation rules (types, ranges,
        categories, date references); ``params`` the fitted numbers. Needs numpy only.

        Raises
        ------
        ValueError
            When ``params`` is malformed or was made for other columns than the schema's.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
        >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0]}), cols)
        >>> params = FastTransform.from_fitted(fitted.transformer, cols).to_params()
        >>> FastTransform.from_params(params, cols).transform_records([{"x": 3}])[0].tolist()
        [[1.0]]
        """
        coercer = _RecordCoercer(columns)
        expected = [{"name": r.name, "role": r.role, "log1p": r.log1p} for r in coercer.rules]
        try:
            if list(params["columns"]) != expected:
                raise ValueError(
                    f"they were made for columns {params['columns']!r}, the schema's used "
                    f"columns are {expected!r}"
                )
            position = {rule.name: j for j, rule in enumerate(coercer.rules)}
            n_outputs = int(params["n_outputs"])
            numeric = [
                (
                    position[str(n["column"])],
                    int(n["output"]),
                    float(n["fill"]),
                    bool(n["log1p"]),
                    float(n["mean"]),
                    float(n["scale"]),
                )
                for n in params["numeric"]
            ]
            categorical = [
                (
                    position[str(c["column"])],
                    str(c["fill"]),
                    {str(label): int(slot) for label, slot in c["slots"]},
                )
                for c in params["categorical"]
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"the preprocessing parameters do not fit the schema: {e}") from e
        outputs = [n[1] for n in numeric] + [s for c in categorical for s in c[2].values()]
        if any(not 0 <= o < n_outputs for o in outputs):
            raise ValueError(f"the preprocessing parameters name an output outside 0..{n_outputs}")
        return cls(coercer, n_outputs, numeric, categorical)

    @property
    def columns(self) -> list[str]:
        """The input columns a record is keyed by, in schema order."""
        return [rule.name for rule in self._coercer.rules]

    def transform_records(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Validate customer records and return the prepared matrix.

        Returns
        -------
        X : numpy.ndarray
            float64 matrix ``(len(records), n_outputs)``, equal to the fitted transformer's
            output on the same customers.
        imputed : list of list of str
            Per customer, the columns that were missing or null.
        warnings : list of list of str
            Per customer, the soft problems (as :func:`coerce_customers`).

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (the message names the customer and the column).
        """
        rows, imputed, warnings = self._coercer.coerce(records)
        X = np.zeros((len(rows), self.n_outputs), dtype=np.float64)
        if self._numeric:
            values = np.array(
                [[np.nan if row[j] is None else row[j] for j in self._num_index] for row in rows],
                dtype=np.float64,
            ).reshape(len(rows), len(self._num_index))
            values = np.where(np.isnan(values), self._num_fill, values)
            if self._num_log.any():
                values[:, self._num_log] = np.log1p(values[:, self._num_log])
            X[:, self._num_out] = (values - self._num_mean) / self._num_scale
        for j, fill, slots in self._categorical:
            for i, row in enumerate(rows):
                label = row[j]
                slot = slots.get(fill if label is None else str(label))
                if slot is not None:
                    X[i, slot] = 1.0
        return X, imputed, warnings
