"""Turn typed features into the matrix the clusterers see, and customers into that matrix too.

One fitted scikit-learn object, a :class:`~sklearn.compose.ColumnTransformer`, holds all the
preprocessing that assignment reuses:

- numeric and date features: ``SimpleImputer(median)`` -> ``StandardScaler``;
- skewed numeric features (``ColumnSchema.transform == "log1p"``): ``SimpleImputer(median)``
  -> ``FunctionTransformer(np.log1p)`` -> ``StandardScaler``;
- categorical features: ``SimpleImputer(most_frequent)`` ->
  ``OneHotEncoder(handle_unknown="ignore")`` (an unseen category encodes as all zeros), the
  block weighted by :data:`CATEGORY_WEIGHT` (the ``ColumnTransformer``'s
  ``transformer_weights``, which the serving bundle stores as ``OneHotColumn.value``).

Mixed data: a one-hot slot holds :data:`CATEGORY_WEIGHT` = 0.5 instead of 1, so two customers
who differ in one categorical column are at squared distance ``2 x 0.5^2 = 0.5``: half the
variance of a standardized numeric column. That is Huang's k-prototypes weighting of a
categorical mismatch (gamma) at the ``kmodes`` package's default, half the mean standard
deviation of the numeric columns (1 once standardized). Variance matching (FAMD's
``1/sqrt(p_k)``, or a weight that makes a column's expected squared distance equal a numeric's)
was measured and rejected: it gives a balanced two-level column the variance of a numeric
column, all of it between its two levels, so the column is the strongest split there is (on
Mall without config DBSCAN's two segments were then exactly the two genders, and K-Means
split on it first). At 0.5 a two-level column still moves customers, but no more than a
numeric difference of 0.7 standard deviation does.

:func:`preprocessing_params` reads the fitted numbers out of that object into
:class:`~shared.serving.preprocessing.PreprocessingParams`, the form the serving bundle stores
and :class:`~shared.serving.transform.ServingTransform` applies with numpy alone.
:func:`coerce_customers` types JSON-like customer records (keyed by the upload's original column
names) into a DataFrame with the same validator serving uses
(:class:`~shared.serving.records.CustomerValidator`): the reference route that the tests' oracle
feeds to the fitted ``ColumnTransformer``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.contract.manifest import ColumnSchema
from shared.exceptions import MissingColumnError, NoUsableFeatureError
from shared.quoting import quote_value
from shared.serving.preprocessing import (
    InputColumn,
    OneHotColumn,
    OneHotSlot,
    PreprocessingParams,
    ScaledColumn,
)
from shared.serving.records import CustomerValidator
from shared.serving.values import feature_columns

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer

__all__ = [
    "CATEGORY_WEIGHT",
    "CoercedCustomers",
    "FittedPreprocessing",
    "build_preprocessor",
    "coerce_customers",
    "fit_preprocessor",
    "preprocessing_params",
]

logger = logging.getLogger(__name__)

CATEGORY_WEIGHT = 0.5
"""Value of a one-hot slot (see the module notes, "Mixed data")."""


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
        blocks,
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
        transformer_weights={"categorical": CATEGORY_WEIGHT} if categorical else None,
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
    >>> import pandas as pd
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0, np.nan]}), cols)
    >>> fitted.X.ravel().tolist(), fitted.feature_names
    ([-1.224744871391589, 1.224744871391589, 0.0], ['x'])
    """
    names = [c.name for c in feature_columns(columns)]
    absent = [n for n in names if n not in features.columns]
    if absent:
        raise MissingColumnError(
            f"features lack column(s) {', '.join(map(quote_value, absent))} of the schema; "
            f"available: {', '.join(map(quote_value, map(str, features.columns)))}"
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

    coercer = CustomerValidator(columns)
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


# --- the fitted numbers -----------------------------------------------------------------------


def preprocessing_params(
    transformer: ColumnTransformer, columns: list[ColumnSchema]
) -> PreprocessingParams:
    """Read the fitted numbers out of ``transformer``: the one form serving applies.

    The imputation values, scaler ``mean_``/``scale_``, log1p flags, one-hot categories, the
    one-hot blocks' weights (``transformer_weights``) and output positions of a preprocessor
    :func:`build_preprocessor` made, as
    :class:`~shared.serving.preprocessing.PreprocessingParams` (what the serving bundle stores).

    Raises
    ------
    MissingColumnError
        When the transformer uses a column the schema does not list as used.
    TypeError
        When the transformer is not the shape :func:`build_preprocessor` makes (a weight on a
        block other than a one-hot one included).
    ValueError
        When a fitted number is not finite.

    Examples
    --------
    >>> import pandas as pd
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    >>> fitted = fit_preprocessor(pd.DataFrame({"x": [1.0, 3.0]}), cols)
    >>> preprocessing_params(fitted.transformer, cols).numeric
    (ScaledColumn(column='x', output=0, fill=2.0, log1p=False, mean=2.0, scale=1.0),)
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    rules = CustomerValidator(columns).rules
    used = {rule.name for rule in rules}
    numeric: list[ScaledColumn] = []
    categorical: list[OneHotColumn] = []
    weights = transformer.transformer_weights or {}
    for name, pipeline, block_columns in transformer.transformers_:
        if name == "remainder" or pipeline == "drop":
            continue
        names = [str(c) for c in block_columns]
        absent = [n for n in names if n not in used]
        if absent:
            raise MissingColumnError(
                f"the preprocessor uses column(s) {', '.join(map(quote_value, absent))} that the "
                "schema does not list as used"
            )
        out = transformer.output_indices_[name]
        steps = dict(pipeline.steps) if isinstance(pipeline, Pipeline) else {}
        imputer = steps.get("impute")
        if not isinstance(imputer, SimpleImputer):
            raise TypeError(f"block {quote_value(name)} has no SimpleImputer step named 'impute'")
        fill = list(imputer.statistics_)
        encoder = steps.get("onehot")
        if name in weights and not isinstance(encoder, OneHotEncoder):
            raise TypeError(f"block {quote_value(name)} is weighted but is not a one-hot block")
        if isinstance(encoder, OneHotEncoder):
            value = float(weights.get(name, 1.0))
            offset = out.start
            for j, (column, cats) in enumerate(zip(names, encoder.categories_, strict=True)):
                slots = tuple(OneHotSlot(str(c), offset + k) for k, c in enumerate(cats))
                categorical.append(OneHotColumn(column, str(fill[j]), slots, value))
                offset += len(cats)
            continue
        scaler = steps.get("scale")
        if not isinstance(scaler, StandardScaler):
            raise TypeError(f"block {quote_value(name)} has no StandardScaler step named 'scale'")
        log = steps.get("log1p")
        if log is not None and not (isinstance(log, FunctionTransformer) and log.func is np.log1p):
            raise TypeError(f"block {quote_value(name)}: step 'log1p' is not np.log1p")
        means = scaler.mean_ if scaler.with_mean else np.zeros(len(names))
        scales = scaler.scale_ if scaler.with_std else np.ones(len(names))
        numeric.extend(
            ScaledColumn(
                column=column,
                output=int(out.start + j),
                fill=float(fill[j]),
                log1p=log is not None,
                mean=float(means[j]),
                scale=float(scales[j]),
            )
            for j, column in enumerate(names)
        )
    n_outputs = max((s.stop for s in transformer.output_indices_.values()), default=0)
    return PreprocessingParams(
        columns=tuple(InputColumn(r.name, r.role, r.log1p) for r in rules),
        n_outputs=int(n_outputs),
        numeric=tuple(numeric),
        categorical=tuple(categorical),
    )
