"""How large a training matrix may get: refused before it is built, naming the limit.

The prepared matrix has one float64 column per numeric or date feature and one per category
of every categorical feature (one-hot). Its width is known from the schema alone
(:func:`feature_width`), so :func:`check_matrix_size` runs before anything is allocated; the
schema inference checks the same widths (:func:`check_feature_widths`) before its near-duplicate
screening, which compares every pair of columns. Two limits:

- :data:`MAX_FEATURE_WIDTH` (2,000 columns after one-hot): beyond it the per-feature work of
  every algorithm (distances, k-distance curves, mixtures, profiles, the report) stops being
  interactive, and a single config-forced categorical column of 10,000 values would otherwise
  allocate rows x 10,000 floats;
- :data:`MAX_MATRIX_VALUES` (200,000,000 values, 1.6 GB as float64): rows x width, the
  matrix itself (10M rows x 20 features fits; 1M rows x 2,000 does not).

Gaussian mixtures above ``shared.engine.clustering.GMM_FULL_COVARIANCE_MAX_FEATURES`` use
diagonal covariances, so within these limits no algorithm needs ``d x d`` matrices per
component.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shared.contract.manifest import ColumnSchema
from shared.exceptions import TooManyFeaturesError
from shared.quoting import quote_value
from shared.serving.values import feature_columns

__all__ = [
    "MAX_FEATURE_WIDTH",
    "MAX_MATRIX_VALUES",
    "check_feature_widths",
    "check_matrix_size",
    "feature_width",
]

MAX_FEATURE_WIDTH = 2_000
"""Most columns the prepared matrix may have (after one-hot encoding)."""
MAX_MATRIX_VALUES = 200_000_000
"""Most values (rows x columns) the prepared matrix may have: 1.6 GB as float64."""
_WIDEST_SHOWN = 3


def _width_of(column: ColumnSchema) -> int:
    return len(column.categories or []) if column.role == "categorical" else 1


def feature_width(columns: list[ColumnSchema]) -> int:
    """Columns of the prepared matrix for the used columns of a schema (one-hot counted).

    Examples
    --------
    >>> feature_width([
    ...     ColumnSchema(name="Age", role="numeric", dtype="integer", used=True),
    ...     ColumnSchema(name="City", role="categorical", dtype="string", used=True,
    ...                  categories=["Bern", "Basel", "Genf"]),
    ...     ColumnSchema(name="Notes", role="dropped", dtype="string", used=False)])
    4
    """
    return sum(_width_of(c) for c in feature_columns(columns))


def check_matrix_size(
    columns: list[ColumnSchema],
    n_rows: int,
    *,
    max_width: int = MAX_FEATURE_WIDTH,
    max_values: int = MAX_MATRIX_VALUES,
) -> int:
    """Refuse a schema whose prepared matrix would be too wide or too large; return its width.

    Raises
    ------
    TooManyFeaturesError
        Over ``max_width`` columns or ``max_values`` values; the message names the width, the
        limit and the widest columns.

    Examples
    --------
    >>> cols = [ColumnSchema(name="Code", role="categorical", dtype="string", used=True,
    ...                      categories=[f"c{i}" for i in range(3000)])]
    >>> check_matrix_size(cols, 5000)
    Traceback (most recent call last):
    ...
    shared.exceptions.TooManyFeaturesError: the features are 3,000 columns wide after one-hot \
encoding (5,000 rows); the limit is 2,000 (MAX_FEATURE_WIDTH); widest: 'Code' (3,000 \
categories). Exclude columns or name fewer features in the dataset config
    """
    used = feature_columns(columns)
    widths = {c.name: _width_of(c) for c in used}
    one_hot = {c.name for c in used if c.role == "categorical"}
    return check_feature_widths(
        widths, n_rows, one_hot=one_hot, max_width=max_width, max_values=max_values
    )


def check_feature_widths(
    widths: Mapping[str, int],
    n_rows: int,
    *,
    one_hot: Collection[str] = (),
    max_width: int = MAX_FEATURE_WIDTH,
    max_values: int = MAX_MATRIX_VALUES,
) -> int:
    """:func:`check_matrix_size` for features known by their widths only (the schema inference
    checks them this way before its per-pair screening, whose cost grows with the square of the
    number of columns); ``one_hot`` names the categorical ones.

    Examples
    --------
    >>> check_feature_widths({"Age": 1, "City": 7}, 100, one_hot={"City"})
    8
    """
    width = sum(widths.values())
    values = width * n_rows
    if width <= max_width and values <= max_values:
        return width
    encoded = {name: w for name, w in widths.items() if name in one_hot and w > 1}
    widest = sorted(encoded, key=lambda name: -encoded[name])[:_WIDEST_SHOWN]
    shown = ", ".join(f"{quote_value(name)} ({encoded[name]:,} categories)" for name in widest)
    plain = len(widths) - len(encoded)
    shown = f"widest: {shown}" if shown else f"{plain:,} numeric or date columns"
    if width > max_width:
        limit = f"the limit is {max_width:,} (MAX_FEATURE_WIDTH)"
    else:
        limit = (
            f"{values:,} values; the limit is {max_values:,} values (MAX_MATRIX_VALUES: rows x "
            "columns)"
        )
    raise TooManyFeaturesError(
        f"the features are {width:,} columns wide after one-hot encoding ({n_rows:,} rows); "
        f"{limit}; {shown}. Exclude columns or name fewer features in the dataset config"
    )
