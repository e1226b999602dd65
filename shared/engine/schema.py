"""Decide what each column of a customer table means, validate it, and type the features.

:func:`clean_training_table` turns the raw DataFrame of an upload into a :class:`CleanTable`:
one :class:`~shared.contract.manifest.ColumnSchema` per input column (role, type, why), the typed
feature columns, the identifiers, and the row counts. :func:`prepare_frame` applies the same
typing to any later frame with the original column names (customers sent for assignment).

Inference rules (the dataset config overrides every one of them)
-----------------------------------------------------------------
- **all missing** columns and **constant** columns are dropped (reported).
- **numeric**: a numeric column, or a text column whose non-blank values parse as numbers for
  at least 95 % of them (blanks such as ``" "`` are missing; the rest is missing and warned).
  Infinities and magnitudes above ``1e15`` are missing (warned).
- **identifier** (``role="id"``): unique on every row and named like one (last word ``id``,
  ``uuid``, ``guid``: ``CustomerID``, ``CUST_ID``, ``id``), or consecutive increasing integers
  (a row number), or unique code-like text (``C10001``). One identifier at most; other
  unique-per-row columns are dropped.
- **categorical**: booleans, text with at most ``min(50, n/2)`` distinct values, integers with
  two values (flags), and integers of at most 50 values whose name says code
  (``Region``, ``zip_code``, ``StoreType``...).
- **date**: text whose values parse as dates with one format for at least 95 % of them (or a
  native datetime column). The feature is the age in days before the newest date seen
  (``date_reference``), so newer means smaller.
- **free text** (long strings with spaces) and **high-cardinality** text are dropped.
- **screening** (:mod:`shared.engine.screening`): outcome-like columns (a churn flag, a campaign
  response) are not clustered on but profiled per segment as rates (``CleanTable.outcomes``),
  and of near-duplicate numeric columns (|Spearman rho| >= 0.95) one is kept; each screened
  column's ``reason`` says why (naming the twin it duplicates).

Skewed columns: a numeric (not date) feature gets ``transform="log1p"`` when its minimum is
>= 0, it has more than two distinct values and its sample skewness is > 2 (pandas'
adjusted Fisher-Pearson). Its ``min``/``max`` stay in original units.

Rows: rows in which every feature is missing are dropped and counted; other missing values are
imputed later (median / most frequent) and counted per column. The default minimum number of
usable rows is ``max(10, 2 * k_max)`` (at least two rows per cluster of the largest k swept).
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from warnings import catch_warnings, simplefilter

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema, RowCounts
from shared.engine.limits import check_feature_widths
from shared.engine.screening import OUTCOME_MAX_LEVELS, NearDuplicate, near_duplicates, outcome_word
from shared.exceptions import (
    ConfigError,
    DataValidationError,
    MissingColumnError,
    NoUsableFeatureError,
    TooFewRowsError,
)
from shared.quoting import quote_value
from shared.serving.values import (
    ABSURD_MAGNITUDE,
    MISSING_TOKENS,
    category_label,
    date_age_days,
    feature_columns,
    naive_utc,
    parse_number,
)

__all__ = [
    "ABSURD_MAGNITUDE",
    "MAX_CATEGORIES",
    "MAX_CATEGORY_CHARS",
    "MIN_ROWS_FLOOR",
    "MISSING_TOKENS",
    "PARSE_SHARE",
    "PROFILED_REASON",
    "SKEW_LIMIT",
    "CleanTable",
    "category_label",
    "clean_training_table",
    "date_age_days",
    "feature_columns",
    "guess_date_format",
    "minimum_rows",
    "missing_column_error",
    "name_words",
    "parse_number",
    "prepare_frame",
]

logger = logging.getLogger(__name__)

MAX_CATEGORIES = 50
"""Most distinct values a text column may have and still be a categorical feature."""

PROFILED_ROLES = ("numeric", "categorical", "date")
PROFILED_REASON = "not among the config's features; profiled per segment, not clustered"
"""Reason of a profiled column: usable (numeric, categorical or date) but left out of the
clustering by the config's ``features``, so described per segment instead (Age and Gender of
a dataset clustered on income and spending)."""

MAX_CATEGORY_CHARS = 1_000
"""Text columns with a longer value are dropped rather than used as categories: labels are
copied into every document of a version (manifest, profiles, plots, report)."""

SKEW_LIMIT = 2.0
"""Non-negative numeric features with a larger skewness get ``transform="log1p"``."""
PARSE_SHARE = 0.95
"""Share of non-blank values that must parse for a text column to be numeric or a date."""
MIN_ROWS_FLOOR = 10
"""Smallest default minimum of usable rows (see :func:`minimum_rows`)."""

_FREE_TEXT_LENGTH = 30
_DATE_SAMPLE = 500
_DISTINCT_SAMPLE = 50_000
_ID_WORDS = frozenset({"id", "uuid", "guid"})
_ID_OWNER_WORDS = frozenset({"customer", "cust", "client", "account", "member", "user"})
_NUMBER_WORDS = frozenset({"number", "no", "num", "nr"})
_CODE_WORDS = frozenset(
    {
        "code", "cd", "zip", "zipcode", "postcode", "postal", "type", "category", "cat",
        "class", "group", "region", "segment", "status", "flag", "tier", "channel", "state",
    }
)  # fmt: skip
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "y", "n", "t", "f"})
_CODE_VALUE = re.compile(r"[A-Za-z0-9_\-./#]+")
_DATE_LIKE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|\d{1,2}[- ](jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[ .-]+\d{1,2}",
    re.IGNORECASE,
)
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
)
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

Kind = Literal["empty", "numeric", "date", "boolean", "text", "nested"]
DType = Literal["integer", "float", "string", "boolean", "datetime"]


@dataclass(frozen=True)
class CleanTable:
    """The validated, typed training table.

    Attributes
    ----------
    columns : list of ColumnSchema
        Every input column in file order, with its role, type, whether it is used, why, its
        missing count (in the kept rows for used columns, in all rows for the others),
        imputation value, transform, categories, range (for date columns: ages in days) and
        date reference and format.
    features : pandas.DataFrame
        The used feature columns in schema order, one row per kept row (index ``0..n-1``):
        numeric and date columns as float64 (dates as days before ``date_reference``),
        categorical columns as object holding ``str`` labels; ``NaN`` is missing.
    ids : pandas.Series or None
        The identifier of each kept row (index ``0..n-1``), or None without an id column.
    rows : RowCounts
        Rows read, used, dropped (with reasons) and values imputed per column.
    warnings : list of str
        Everything soft that the user should know (values treated as missing, dropped rows,
        screened-out columns...).
    outcomes : pandas.DataFrame
        The outcome columns (``shared.engine.screening``), not clustered on: one ``str`` label
        per kept row (index ``0..n-1``), NaN missing. No columns when there is no outcome.
    kept_rows : ndarray of int64 or None
        Position in the input frame of each kept row (None: every row was kept).
    profiled : pandas.DataFrame
        The profiled columns (``ColumnSchema.profiled``: usable, left out of the clustering by
        the config's ``features``), typed like :attr:`features`, one row per kept row. They are
        described per segment (profiles, figures, filters), never clustered on.
    """

    columns: list[ColumnSchema]
    features: pd.DataFrame
    ids: pd.Series | None
    rows: RowCounts
    warnings: list[str] = field(default_factory=list)
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)
    kept_rows: np.ndarray | None = None
    profiled: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def feature_columns(self) -> list[ColumnSchema]:
        """The used columns, in the order of :attr:`features`."""
        return feature_columns(self.columns)

    @property
    def id_column(self) -> str | None:
        """Name of the identifier column, if any."""
        return next((c.name for c in self.columns if c.role == "id"), None)


def minimum_rows(config: DatasetConfig) -> int:
    """Default minimum of usable rows: ``max(10, 2 * k_max)``.

    Two rows per cluster of the largest k swept is the least that lets every k of the sweep
    have non-trivial clusters and a defined silhouette.

    Examples
    --------
    >>> minimum_rows(DatasetConfig()), minimum_rows(DatasetConfig(k_max=3))
    (20, 10)
    """
    return max(MIN_ROWS_FLOOR, 2 * config.k_max)


# The scalar typing rules (parse_number, category_label, date_age_days, feature_columns and the
# missing tokens) live in shared.serving.values, which imports numpy alone so that the assignment
# fast
# path can use them without pandas; they are imported (and re-exported) above.


# --- vectorized typing of whole columns --------------------------------------------------------


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 missing) and distinct raw values: text rules then run once per distinct value."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)


def _expand(per_unique: np.ndarray, codes: np.ndarray, fill: Any) -> np.ndarray:
    """Map per-distinct-value results back to rows; code -1 (missing) gets ``fill``."""
    extended = np.empty(len(per_unique) + 1, dtype=per_unique.dtype)
    extended[:-1] = per_unique
    extended[-1] = fill
    return extended[codes]


def _numeric_values(series: pd.Series) -> tuple[pd.Series, pd.Series, int]:
    """Float values of a column (NaN missing), the mask of unparseable values, absurd count."""
    index = series.index
    if ptypes.is_bool_dtype(series.dtype) or ptypes.is_datetime64_any_dtype(series.dtype):
        return pd.Series(np.nan, index=index, dtype="float64"), series.notna(), 0
    if ptypes.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.zeros(len(values), dtype=bool)
    else:
        return _numbers_by_code(*_factorize(series), index)
    return _without_absurd(values, bad, index)


def _numbers_by_code(
    codes: np.ndarray, uniques: np.ndarray, index: pd.Index
) -> tuple[pd.Series, pd.Series, int]:
    numbers, unparseable = _numbers_of(uniques)
    return _without_absurd(
        _expand(numbers, codes, np.nan), _expand(unparseable, codes, False), index
    )


def _without_absurd(
    values: np.ndarray, bad: np.ndarray, index: pd.Index
) -> tuple[pd.Series, pd.Series, int]:
    with np.errstate(invalid="ignore"):
        absurd = ~(np.abs(values) <= ABSURD_MAGNITUDE) & ~np.isnan(values)
    n_absurd = int(absurd.sum())
    if n_absurd:
        values = np.where(absurd, np.nan, values)
    return pd.Series(values, index=index), pd.Series(bad, index=index), n_absurd


def _numbers_of(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parsed numbers (NaN missing) and unparseable flags of distinct raw values."""
    if all(isinstance(u, str) for u in uniques):
        text = pd.Series(uniques, dtype=object).str.strip()
        blank = (text.isin(MISSING_TOKENS) | (text == "")).to_numpy(dtype=bool)
        text = text.where(~text.str.contains("_", regex=False))  # as parse_number: no "1_000"
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", copy=True)
        numbers[blank] = np.nan
    else:
        parsed = [_lenient_number(u) for u in uniques]
        numbers = np.array([np.nan if p is None else p for p in parsed], dtype="float64")
        blank = np.array([_is_blank(u) for u in uniques], dtype=bool)
    return numbers, np.isnan(numbers) & ~blank


def _lenient_number(value: Any) -> float | None:
    try:
        return parse_number(value)
    except (TypeError, ValueError):
        return None


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and (not value.strip() or value.strip() in MISSING_TOKENS)


def _date_values(series: pd.Series, date_format: str | None) -> pd.Series:
    """Naive UTC datetimes of a column (NaT missing or unparseable)."""
    if ptypes.is_datetime64_any_dtype(series.dtype):
        values = series
        if getattr(series.dt, "tz", None) is not None:
            values = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.astype("datetime64[us]")
    if ptypes.is_numeric_dtype(series.dtype) or ptypes.is_bool_dtype(series.dtype):
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us]")
    codes, uniques = _factorize(series)
    text = pd.Series([_date_text(u) for u in uniques], dtype=object)
    text = text.where(text.notna() & (text != ""))
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed = parsed.copy()
        parsed[retry] = pd.to_datetime(text[retry], format="ISO8601", errors="coerce", utc=True)
    moments = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return pd.Series(_expand(moments, codes, np.datetime64("NaT")), index=series.index)


def _date_text(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return np.nan if text in MISSING_TOKENS else text
    if isinstance(value, datetime | date):
        moment = naive_utc(value) if isinstance(value, datetime) else value
        return moment.isoformat()
    return np.nan


def _days_before(values: pd.Series, reference: str) -> pd.Series:
    ref = pd.Timestamp(reference)
    days: pd.Series = (ref - values).dt.total_seconds() / 86400.0
    return days.astype("float64")


def _category_labels(series: pd.Series, dtype: str) -> pd.Series:
    """Object column of ``str`` labels (NaN missing), by the rules of :func:`category_label`."""
    if ptypes.is_bool_dtype(series.dtype):
        labels = series.map({True: "True", False: "False"})
    elif ptypes.is_integer_dtype(series.dtype):
        labels = series.astype("Int64").astype("str") if series.hasnans else series.astype("str")
    elif ptypes.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype="float64")
        integral = np.isfinite(values) & (np.mod(values, 1.0) == 0) & (np.abs(values) < 2**53)
        out = np.full(len(values), np.nan, dtype=object)
        out[integral] = values[integral].astype(np.int64).astype(str)
        rest = np.isfinite(values) & ~integral
        out[rest] = [str(float(v)) for v in values[rest]]
        labels = pd.Series(out, index=series.index, dtype=object)
    else:
        codes, uniques = _factorize(series)
        per_unique = np.array([_lenient_label(u, dtype) for u in uniques] + [None], dtype=object)
        labels = pd.Series(_expand(per_unique[:-1], codes, None), index=series.index)
    out_series = labels.astype(object)
    return out_series.where(out_series.notna(), np.nan)


def _lenient_label(value: Any, dtype: str) -> str | None:
    try:
        return category_label(value, dtype)
    except TypeError:
        return str(value)


# --- prepare_frame -----------------------------------------------------------------------------


def prepare_frame(frame: pd.DataFrame, columns: list[ColumnSchema]) -> pd.DataFrame:
    """Type the feature columns of any frame exactly as training typed them.

    Numeric columns are parsed as numbers (blanks, unparseable values, infinities and
    magnitudes above 1e15 become NaN; ``log1p`` columns are clipped at 0 because the log is
    undefined below -1 and training saw no negative value); date columns become days before
    the stored ``date_reference``; categorical columns become ``str`` labels. Lenient by
    design: use :func:`shared.engine.preprocess.coerce_customers` to refuse wrong types.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows keyed by the upload's original column names (extra columns are ignored).
    columns : list of ColumnSchema
        The schema of a :class:`CleanTable` (or a manifest).

    Returns
    -------
    pandas.DataFrame
        The used columns in schema order, index ``0..n-1``, typed like ``CleanTable.features``.

    Raises
    ------
    MissingColumnError
        When a feature column is absent from ``frame`` (the available columns are listed).

    Examples
    --------
    >>> cols = [ColumnSchema(name="Age", role="numeric", dtype="integer", used=True),
    ...         ColumnSchema(name="Gender", role="categorical", dtype="string", used=True)]
    >>> prepare_frame(pd.DataFrame({"Age": [" 30", " "], "Gender": ["Male ", None]}), cols)
        Age Gender
    0  30.0   Male
    1   NaN    NaN
    """
    frame = frame.reset_index(drop=True)
    present = {str(c): c for c in frame.columns}
    used = feature_columns(columns)
    absent = [c.name for c in used if c.name not in present]
    if absent:
        raise MissingColumnError(
            f"missing feature column(s) {_quote(absent)}; "
            f"available columns: {_quote(list(present))}"
        )
    typed = {c.name: _type_column(frame[present[c.name]], c) for c in used}
    return pd.DataFrame(typed, index=pd.RangeIndex(len(frame)))


def _type_column(series: pd.Series, column: ColumnSchema) -> pd.Series:
    series = _plain(series)
    if column.role == "categorical":
        return _category_labels(series, column.dtype)
    if column.role == "date":
        if column.date_reference is None:
            raise ConfigError(
                f"date column {quote_value(column.name)} has no date_reference in its schema"
            )
        return _days_before(_date_values(series, column.date_format), column.date_reference)
    values, _, _ = _numeric_values(series)
    if column.transform == "log1p":
        values = values.clip(lower=0.0)
    return values


# --- inference ---------------------------------------------------------------------------------


@dataclass
class _Analysis:
    """What one column's values look like, before any role decision."""

    name: str
    kind: Kind
    dtype: DType
    n_rows: int
    n_present: int
    n_unique: int
    numbers: pd.Series | None = None
    dates: pd.Series | None = None
    date_format: str | None = None
    text: pd.Series | None = None
    distinct: np.ndarray | None = None
    unparseable: int = 0
    unparseable_examples: list[str] = field(default_factory=list)
    unparseable_kind: str = "numbers"
    nested: str | None = None
    absurd: int = 0
    integral: bool = False

    @property
    def unique_per_row(self) -> bool:
        return self.n_rows > 1 and self.n_present == self.n_rows == self.n_unique


@dataclass
class _Decision:
    role: Literal["id", "numeric", "categorical", "date", "dropped"]
    reason: str
    id_strength: int = 0


def _plain(series: pd.Series) -> pd.Series:
    """Pandas categorical columns (Parquet dictionaries) as plain values."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(series.cat.categories.dtype if series.notna().all() else object)
    return series


def _nested_kind(series: pd.Series) -> str | None:
    """``"struct"``, ``"map"`` or ``"list"`` when the column holds nested values (Parquet struct,
    map or list columns; a Parquet column has one type, so its first present value tells)."""
    if not ptypes.is_object_dtype(series.dtype):
        return None
    first = series.first_valid_index()
    value = None if first is None else series.at[first]
    if isinstance(value, dict):
        return "struct"
    if isinstance(value, list | tuple | np.ndarray):
        is_map = len(value) > 0 and all(isinstance(v, tuple) and len(v) == 2 for v in value)
        return "map" if is_map else "list"
    return None


def _analyse(name: str, series: pd.Series) -> _Analysis:
    series = _plain(series)
    n_rows = len(series)
    dtype = series.dtype
    nested = _nested_kind(series)
    if nested is not None:
        n_present = int(series.notna().sum())
        analysis = _Analysis(name, "nested", "string", n_rows, n_present, 0)
        analysis.nested = nested
        return analysis
    if ptypes.is_bool_dtype(dtype):
        return _boolean_analysis(name, series)
    if ptypes.is_datetime64_any_dtype(dtype):
        dates = _date_values(series, None)
        return _date_analysis(name, dates, None, n_rows)
    if ptypes.is_numeric_dtype(dtype):
        numbers, _, absurd = _numeric_values(series)
        return _numeric_analysis(name, numbers, n_rows, 0, [], absurd)
    codes, uniques = _factorize(series)
    if ptypes.is_object_dtype(dtype) and len(uniques) and _all_booleans(uniques):
        return _boolean_analysis(name, series)
    label_of = np.array([_lenient_label(u, "string") for u in uniques] + [None], dtype=object)
    label_of = label_of[:-1]
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    present = np.array([v is not None for v in label_of], dtype=bool)
    n_present = int(counts[present].sum())
    if n_present == 0:
        return _Analysis(name, "empty", "string", n_rows, 0, 0)
    numbers_of, unparseable_of = _numbers_of(uniques)
    n_bad = int(counts[unparseable_of].sum())
    if n_bad <= (1 - PARSE_SHARE) * n_present:
        numbers, _, absurd = _without_absurd(
            _expand(numbers_of, codes, np.nan), _expand(unparseable_of, codes, False), series.index
        )
        examples = [str(u).strip() for u in uniques[unparseable_of][:3]]
        return _numeric_analysis(name, numbers, n_rows, n_bad, examples, absurd)
    distinct = pd.unique(label_of[present])
    labels = pd.Series(_expand(label_of, codes, None), index=series.index, dtype=object)
    labels = labels.where(labels.notna(), np.nan)
    lowered = {str(v).lower() for v in distinct[:3]}
    if len(distinct) <= 2 and lowered <= _BOOLEAN_WORDS:
        analysis = _Analysis(name, "boolean", "string", n_rows, n_present, len(distinct))
        analysis.text = labels
        return analysis
    date_format = guess_date_format(pd.Series(distinct, dtype=object))
    if date_format is not None:
        dates = _date_values(series, date_format or None)
        analysis = _date_analysis(name, dates, date_format or None, n_rows)
        analysis.text = labels
        not_dates = labels.notna() & dates.isna()
        analysis.unparseable = int(not_dates.sum())
        analysis.unparseable_examples = [str(v) for v in pd.unique(labels[not_dates])[:3]]
        analysis.unparseable_kind = "dates"
        return analysis
    analysis = _Analysis(name, "text", "string", n_rows, n_present, len(distinct))
    analysis.text = labels
    analysis.distinct = distinct
    return analysis


def _all_booleans(uniques: np.ndarray) -> bool:
    return all(isinstance(v, bool | np.bool_) for v in uniques)


def _boolean_analysis(name: str, series: pd.Series) -> _Analysis:
    labels = _category_labels(series, "boolean")
    n_present = int(labels.notna().sum())
    kind: Kind = "boolean" if n_present else "empty"
    analysis = _Analysis(name, kind, "boolean", len(series), n_present, int(labels.nunique()))
    analysis.text = labels
    return analysis


def _numeric_analysis(
    name: str, numbers: pd.Series, n_rows: int, n_bad: int, examples: list[str], absurd: int
) -> _Analysis:
    values = numbers.to_numpy()
    present = values[~np.isnan(values)]
    integral = _all_integral(present[:1000]) and _all_integral(present)  # cheap early exit
    kind: Kind = "numeric" if len(present) else "empty"
    return _Analysis(
        name,
        kind,
        "integer" if integral else "float",
        n_rows,
        len(present),
        _count_distinct(present, exact_if_unique=integral or _looks_like_id_name(name)),
        numbers=numbers,
        unparseable=n_bad,
        unparseable_examples=examples,
        absurd=absurd,
        integral=integral,
    )


def _all_integral(values: np.ndarray) -> bool:
    return bool(len(values)) and bool(np.all(np.mod(values, 1.0) == 0))


def _count_distinct(present: np.ndarray, *, exact_if_unique: bool) -> int:
    """Distinct values, exact where a decision depends on it.

    Decisions only need the exact count when it is small (categories, constants) or when
    every value may be distinct (identifiers); otherwise a count over the first
    ``_DISTINCT_SAMPLE`` values, already above ``MAX_CATEGORIES``, is enough and much cheaper.
    """
    if len(present) <= _DISTINCT_SAMPLE:
        return len(pd.unique(present))
    in_sample = len(pd.unique(present[:_DISTINCT_SAMPLE]))
    if in_sample <= MAX_CATEGORIES or (exact_if_unique and in_sample == _DISTINCT_SAMPLE):
        return len(pd.unique(present))
    return in_sample


def _date_analysis(name: str, dates: pd.Series, date_format: str | None, n_rows: int) -> _Analysis:
    present = dates.dropna()
    kind: Kind = "date" if len(present) else "empty"
    return _Analysis(
        name,
        kind,
        "datetime",
        n_rows,
        len(present),
        int(present.nunique()),
        dates=dates,
        date_format=date_format,
    )


def guess_date_format(labels: pd.Series) -> str | None:
    """A strftime format ('' for ISO 8601) parsing >= 95 % of the text values, else None.

    Examples
    --------
    >>> guess_date_format(pd.Series(["12/1/2010 8:26", "12/24/2010 17:05"]))
    '%m/%d/%Y %H:%M'
    """
    sample = labels.dropna()
    if sample.empty:
        return None
    sample = sample.iloc[:_DATE_SAMPLE]
    looks_like = sample.map(lambda v: bool(_DATE_LIKE.search(v)))
    if looks_like.mean() < PARSE_SHARE:
        return None
    first = str(sample.iloc[0])
    candidates: list[str] = []
    for dayfirst in (False, True):
        with catch_warnings():  # "dayfirst ignored for ISO dates" is expected here
            simplefilter("ignore", UserWarning)
            guessed = guess_datetime_format(first, dayfirst=dayfirst)
        if guessed and guessed not in candidates:
            candidates.append(guessed)
    candidates += [f for f in _DATE_FORMATS if f not in candidates]
    best, best_share = None, 0.0
    for candidate in candidates:
        parsed = pd.to_datetime(sample, format=candidate, errors="coerce", utc=True)
        share = float(parsed.notna().mean())
        if share > best_share:
            best, best_share = candidate, share
    if best is not None and best_share >= PARSE_SHARE:
        return best
    iso = pd.to_datetime(sample, format="ISO8601", errors="coerce", utc=True)
    return "" if float(iso.notna().mean()) >= PARSE_SHARE else None


def name_words(name: str) -> list[str]:
    """The lower-cased words of a column name (camel case, snake case, digits split).

    Examples
    --------
    >>> name_words("InvoiceNo"), name_words("number_of_cds")
    (['invoice', 'no'], ['number', 'of', 'cds'])
    """
    return [w.lower() for w in _NAME_WORDS.findall(name)]


def _looks_like_id_name(name: str) -> bool:
    words = name_words(name)
    if not words:
        return False
    if words[-1] in _ID_WORDS or words == ["key"]:
        return True
    return words[-1] in _NUMBER_WORDS and any(w in _ID_OWNER_WORDS for w in words[:-1])


def _looks_like_code_name(name: str) -> bool:
    return any(w in _CODE_WORDS for w in name_words(name))


def _is_row_sequence(numbers: pd.Series) -> bool:
    """Whether the values are a row number: every integer of one range exactly once, in any order.

    Order-independent on purpose: schema inference sees the rows in canonical order, so a row
    number exported in file order is detected however the rows are sorted.

    Examples
    --------
    >>> _is_row_sequence(pd.Series([3, 1, 2, 4])), _is_row_sequence(pd.Series([1, 2, 2, 3]))
    (True, False)
    """
    values = np.sort(numbers.to_numpy())
    return bool(len(values) > 1 and np.all(np.diff(values) == 1))


def _infer(a: _Analysis) -> _Decision:
    """The role of one column from its values and name alone (no config)."""
    if a.kind == "empty":
        return _Decision("dropped", "all values are missing")
    if a.kind == "nested":
        return _Decision("dropped", _nested_reason(a))
    if a.n_unique <= 1:
        return _Decision(
            "dropped", f"constant (every present value is {quote_value(_first_value(a))})"
        )
    id_name = _looks_like_id_name(a.name)
    if a.kind == "numeric":
        if id_name and a.unique_per_row:
            return _Decision("id", "identifier: unique per row, named like an id", 2)
        assert a.numbers is not None
        if a.integral and a.unique_per_row and _is_row_sequence(a.numbers):
            return _Decision("id", "identifier: consecutive increasing integers", 1)
        if a.integral and a.n_unique == 2:
            return _Decision("categorical", "integer with two values (a flag)")
        if a.integral and (id_name or _looks_like_code_name(a.name)):
            if a.n_unique <= MAX_CATEGORIES:
                return _Decision("categorical", f"integer code with {a.n_unique} values")
            if id_name:
                return _Decision(
                    "dropped",
                    f"named like an identifier but {a.n_unique} values repeat across rows",
                )
        return _Decision("numeric", "numbers")
    if a.kind == "date":
        return _Decision("date", "dates, used as days before the newest date")
    if a.kind == "boolean":
        return _Decision("categorical", "boolean")
    assert a.text is not None
    if a.unique_per_row and id_name:
        return _Decision("id", "identifier: unique per row, named like an id", 2)
    if a.unique_per_row and a.text.str.fullmatch(_CODE_VALUE).all():  # unique: text == distinct
        return _Decision("id", "identifier: unique code on every row", 1)
    distinct = pd.Series(a.distinct if a.distinct is not None else a.text.dropna().unique())
    mean_length = float(distinct.str.len().mean())
    if mean_length > _FREE_TEXT_LENGTH and distinct.str.contains(" ").mean() > 0.5:
        return _Decision(
            "dropped",
            f"free text (mean length {mean_length:.0f} characters, {a.n_unique} distinct values)",
        )
    longest = int(distinct.str.len().max()) if len(distinct) else 0
    if longest > MAX_CATEGORY_CHARS:
        # A category is copied into the manifest, profiles, plots and report: one huge cell
        # would be stored (and served) several times over.
        return _Decision(
            "dropped",
            f"text with a value of {longest} characters (a category label is at most "
            f"{MAX_CATEGORY_CHARS})",
        )
    limit = _category_limit(a.n_present)
    if a.n_unique > limit:
        return _Decision(
            "dropped",
            f"high-cardinality text: {a.n_unique} distinct values in {a.n_present} rows "
            f"(limit {limit})",
        )
    return _Decision("categorical", f"text with {a.n_unique} categories")


def _nested_reason(a: _Analysis) -> str:
    return (
        f"nested values (a {a.nested} per row): a struct, list or map column cannot be clustered on"
    )


def _category_limit(n_present: int) -> int:
    return min(MAX_CATEGORIES, max(2, n_present // 2))


def _first_value(a: _Analysis) -> Any:
    for values in (a.numbers, a.dates, a.text):
        if values is not None:
            present = values.dropna()
            if len(present):
                value = present.iloc[0]
                if isinstance(value, float | np.floating) and float(value).is_integer():
                    return int(value)
                return value.isoformat() if isinstance(value, pd.Timestamp) else value
    return None


# --- config ------------------------------------------------------------------------------------


def missing_column_error(key: str, absent: list[str], names: list[str]) -> MissingColumnError:
    """The error for config key ``key`` naming columns the file does not have (with hints).

    Examples
    --------
    >>> print(missing_column_error("id_column", ["CustomerId"], ["CustomerID", "Age"]))
    config 'id_column' names column(s) 'CustomerId' that the file does not have ('CustomerId' \
-> did you mean 'CustomerID'?); available columns: 'CustomerID', 'Age'
    """
    hints = [
        f"{quote_value(c)} -> did you mean {quote_value(match[0])}?"
        for c in absent
        if (match := difflib.get_close_matches(c, names, n=1))
    ]
    hint = f" ({'; '.join(hints)})" if hints else ""
    return MissingColumnError(
        f"config {quote_value(key)} names column(s) {_quote(absent)} that the file does not "
        f"have{hint}; available columns: {_quote(names)}"
    )


def _check_config(names: list[str], config: DatasetConfig) -> None:
    available = set(names)
    named: list[tuple[str, list[str]]] = [
        ("features", list(config.features or [])),
        ("id_column", [config.id_column] if config.id_column else []),
        ("exclude", list(config.exclude)),
        ("categorical", list(config.categorical)),
        ("outcomes", list(config.outcomes or [])),
    ]
    for key, wanted in named:
        absent = [c for c in wanted if c not in available]
        if absent:
            raise missing_column_error(key, absent, names)
        repeated = sorted({c for c in wanted if wanted.count(c) > 1})
        if repeated:
            raise ConfigError(f"config {quote_value(key)} lists {_quote(repeated)} more than once")
    features = set(config.features or [])
    exclude = set(config.exclude)
    categorical = set(config.categorical)
    conflicts: list[str] = []
    if config.id_column and config.id_column in features:
        conflicts.append(f"id_column {quote_value(config.id_column)} is also in 'features'")
    if config.id_column and config.id_column in exclude:
        conflicts.append(f"id_column {quote_value(config.id_column)} is also in 'exclude'")
    if config.id_column and config.id_column in categorical:
        conflicts.append(f"id_column {quote_value(config.id_column)} is also in 'categorical'")
    outcomes = set(config.outcomes or [])
    if config.id_column and config.id_column in outcomes:
        conflicts.append(f"id_column {quote_value(config.id_column)} is also in 'outcomes'")
    if outcomes & features:
        conflicts.append(f"{_quote(sorted(outcomes & features))} in both 'outcomes' and 'features'")
    if outcomes & exclude:
        conflicts.append(f"{_quote(sorted(outcomes & exclude))} in both 'outcomes' and 'exclude'")
    if features & exclude:
        conflicts.append(f"{_quote(sorted(features & exclude))} in both 'features' and 'exclude'")
    if categorical & exclude:
        conflicts.append(
            f"{_quote(sorted(categorical & exclude))} in both 'categorical' and 'exclude'"
        )
    if config.features is not None and not config.features:
        conflicts.append("'features' is an empty list")
    if conflicts:
        raise ConfigError("contradictory config: " + "; ".join(conflicts))


def _apply_config(
    a: _Analysis, inferred: _Decision, config: DatasetConfig, warnings: list[str]
) -> tuple[_Decision, bool]:
    """The final role of a column and whether it is a feature, config first."""
    name = a.name
    if name in config.exclude:
        return _Decision("dropped", "excluded by the config"), False
    if config.id_column is not None:
        if name == config.id_column:
            if not a.unique_per_row:
                warnings.append(
                    f"id_column {quote_value(name)} is not unique on every row "
                    f"({a.n_unique} distinct values, {a.n_rows - a.n_present} missing in "
                    f"{a.n_rows} rows)"
                )
            return _Decision("id", "identifier named by the config", 3), False
        if inferred.role == "id":
            inferred = _Decision("dropped", "unique per row like an identifier")
    wanted = config.features is None or name in config.features
    if inferred.role == "id" and not wanted:
        return inferred, False
    if not wanted:
        if inferred.role in PROFILED_ROLES and a.kind not in ("nested", "empty"):
            return _Decision(inferred.role, PROFILED_REASON), False
        return _Decision("dropped", "not among the config's features"), False
    forced = config.features is not None
    if a.kind == "nested":
        if forced or name in config.categorical:
            raise ConfigError(
                f"column {quote_value(name)} holds nested values (a {a.nested} per row): it "
                "cannot be a feature; remove it from 'features'/'categorical' or flatten it"
            )
        return inferred, False
    if a.kind == "empty":
        if forced or name in config.categorical:
            warnings.append(
                f"column {quote_value(name)} is named by the config but has no values; dropped"
            )
        return _Decision("dropped", "all values are missing"), False
    if name in config.categorical:
        return _Decision("categorical", "categorical by the config"), True
    if not forced:
        return inferred, inferred.role in ("numeric", "categorical", "date")
    # A feature named by the config is used whatever inference thought of it.
    if inferred.role in ("numeric", "categorical", "date"):
        return inferred, True
    if inferred.role == "dropped" and "constant" in inferred.reason:
        warnings.append(f"feature {quote_value(name)} named by the config is {inferred.reason}")
    natural: Literal["numeric", "categorical", "date"] = "categorical"
    if a.kind in ("numeric", "date"):
        natural = "numeric" if a.kind == "numeric" else "date"
    if natural == "categorical" and a.n_unique > MAX_CATEGORIES:
        warnings.append(
            f"feature {quote_value(name)} named by the config has {a.n_unique} categories "
            f"(more than {MAX_CATEGORIES}); its one-hot encoding will be wide"
        )
    return _Decision(natural, "feature named by the config"), True


# --- clean_training_table ---------------------------------------------------------------------


def clean_training_table(
    frame: pd.DataFrame, config: DatasetConfig | None = None, *, min_rows: int | None = None
) -> CleanTable:
    """Infer the schema of an uploaded table, validate it and type its features.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read by :func:`shared.engine.loading.read_table`.
    config : DatasetConfig, optional
        The dataset config; ``features``, ``id_column``, ``exclude`` and ``categorical``
        override inference. Default: infer everything.
    min_rows : int, optional
        Fewest usable rows accepted. Default :func:`minimum_rows`: ``max(10, 2 * k_max)``.

    Returns
    -------
    CleanTable
        Schema of every column, typed features, ids, row counts and warnings.

    Raises
    ------
    MissingColumnError
        The config names a column the table lacks (the available columns are listed).
    ConfigError
        The config contradicts itself (e.g. ``id_column`` also in ``features``).
    NoUsableFeatureError
        No column is left to cluster on (each column's reason is listed).
    TooFewRowsError
        Fewer usable rows than the minimum (counts and limit are named).
    DataValidationError
        Duplicate column names.

    Examples
    --------
    >>> frame = pd.DataFrame({"CustomerID": range(1, 21), "Age": [20, 30] * 10,
    ...                       "Income": [" 10", "20", " ", "40"] * 5})
    >>> table = clean_training_table(frame, DatasetConfig())
    >>> [(c.name, c.role, c.used) for c in table.columns]
    [('CustomerID', 'id', False), ('Age', 'categorical', True), ('Income', 'numeric', True)]
    >>> table.rows.imputed_values
    {'Income': 5}
    """
    config = config or DatasetConfig()
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataValidationError(f"column name(s) {_quote(duplicated)} appear more than once")
    frame = frame.reset_index(drop=True)
    frame.columns = pd.Index(names)
    _check_config(names, config)
    n_read = len(frame)
    limit = minimum_rows(config) if min_rows is None else min_rows
    limit_source = (
        f"max({MIN_ROWS_FLOOR}, 2 x k_max={config.k_max})" if min_rows is None else "min_rows"
    )
    if n_read < limit:
        raise TooFewRowsError(
            f"{n_read} rows read; at least {limit} rows are needed ({limit_source})"
        )

    warnings: list[str] = []
    analyses = [_analyse(name, frame[name]) for name in names]
    decisions = [_infer(a) for a in analyses]
    _resolve_ids(analyses, decisions)
    final = [
        _apply_config(a, d, config, warnings) for a, d in zip(analyses, decisions, strict=True)
    ]
    final, outcome_names = _screen_outcomes(analyses, final, config, warnings)
    used = [a for a, (_, is_used) in zip(analyses, final, strict=True) if is_used]
    # Before the screening below, whose cost grows with the square of the number of columns.
    _check_width(analyses, final, n_read)
    if not used:
        reasons = "; ".join(
            f"{quote_value(a.name)}: {d.reason}" for a, (d, _) in zip(analyses, final, strict=True)
        )
        raise NoUsableFeatureError(
            f"no usable feature column among {len(names)} column(s): {reasons}. "
            "Name the features in the dataset config or upload numeric or categorical columns"
        )

    roles = {a.name: d for a, (d, _) in zip(analyses, final, strict=True)}
    references = {a.name: _reference(a) for a in used if roles[a.name].role == "date"}
    typed = {a.name: _feature_values(a, roles[a.name].role, references.get(a.name)) for a in used}
    features = pd.DataFrame(typed, index=frame.index)
    for twin in _screen_duplicates(analyses, final, roles, features, config):
        position = names.index(twin.column)
        final[position] = (_Decision(roles[twin.column].role, twin.reason), False)
        features = features.drop(columns=twin.column)
        used = [a for a in used if a.name != twin.column]
    by_name = {a.name: a for a in analyses}
    outcome_values = pd.DataFrame(
        {n: _feature_values(by_name[n], "categorical", None) for n in outcome_names},
        index=frame.index,
    )
    empty_rows = features.isna().all(axis=1).to_numpy()
    n_empty = int(empty_rows.sum())
    keep = ~empty_rows
    features = features.loc[keep].reset_index(drop=True)
    outcome_values = outcome_values.loc[keep].reset_index(drop=True)
    profiled_names = [
        a.name
        for a, (decision, is_used) in zip(analyses, final, strict=True)
        if not is_used and decision.reason == PROFILED_REASON
    ]
    profiled_references = {
        name: _reference(by_name[name]) for name in profiled_names if roles[name].role == "date"
    }
    profiled = pd.DataFrame(
        {
            name: _feature_values(by_name[name], roles[name].role, profiled_references.get(name))
            for name in profiled_names
        },
        index=frame.index,
    )
    profiled = profiled.loc[keep].reset_index(drop=True)
    n_used = len(features)
    dropped_reasons = {"every feature missing": n_empty} if n_empty else {}
    if n_used < limit:
        why = f" ({n_empty} dropped because every feature was missing)" if n_empty else ""
        raise TooFewRowsError(
            f"{n_used} usable rows of {n_read} read{why}; at least {limit} rows are needed "
            f"({limit_source})"
        )

    schemas: list[ColumnSchema] = []
    imputed: dict[str, int] = {}
    for a, (decision, is_used) in zip(analyses, final, strict=True):
        if is_used:
            column = _used_schema(a, decision, features[a.name], references.get(a.name))
            if column.missing:
                imputed[a.name] = column.missing
        elif a.name in profiled.columns:
            column = _used_schema(
                a, decision, profiled[a.name], profiled_references.get(a.name)
            ).model_copy(
                update={"used": False, "profiled": True, "imputed_with": None, "transform": None}
            )
            column = column.model_copy(update={"reason": PROFILED_REASON})
        else:
            levels = None
            if a.name in outcome_values.columns:
                levels = sorted(str(v) for v in outcome_values[a.name].dropna().unique())
            column = ColumnSchema(
                name=a.name,
                role=decision.role,
                dtype=a.dtype,
                used=False,
                reason=decision.reason,
                missing=a.n_rows - a.n_present,
                categories=levels,
            )
        schemas.append(column)
        _warn_values(a, is_used, warnings)

    id_name = next((c.name for c in schemas if c.role == "id"), None)
    ids = frame[id_name].loc[keep].reset_index(drop=True) if id_name is not None else None
    n_duplicates = int(pd.util.hash_pandas_object(features, index=False).duplicated().sum())
    if n_duplicates:
        warnings.append(f"{n_duplicates} row(s) repeat another row's features exactly (kept)")
    rows = RowCounts(
        read=n_read,
        used=n_used,
        dropped=n_read - n_used,
        dropped_reasons=dropped_reasons,
        imputed_values=imputed,
    )
    for message in warnings:
        logger.info("clean_training_table: %s", message)
    return CleanTable(
        columns=schemas,
        features=features,
        ids=ids,
        rows=rows,
        warnings=warnings,
        outcomes=outcome_values,
        profiled=profiled,
        kept_rows=np.flatnonzero(keep).astype(np.int64) if n_empty else None,
    )


def _check_width(
    analyses: list[_Analysis], final: list[tuple[_Decision, bool]], n_rows: int
) -> None:
    """Refuse features wider than the engine's limit (one-hot counted) before any pairwise work."""
    widths: dict[str, int] = {}
    one_hot: set[str] = set()
    for a, (decision, is_used) in zip(analyses, final, strict=True):
        if not is_used:
            continue
        if decision.role == "categorical":
            widths[a.name] = a.n_unique
            one_hot.add(a.name)
        else:
            widths[a.name] = 1
    check_feature_widths(widths, n_rows, one_hot=one_hot)


def _screen_outcomes(
    analyses: list[_Analysis],
    final: list[tuple[_Decision, bool]],
    config: DatasetConfig,
    warnings: list[str],
) -> tuple[list[tuple[_Decision, bool]], list[str]]:
    """Outcome columns (named by the config, else detected by name) leave the features."""
    named = set(config.outcomes or [])
    forced = set(config.features or [])
    screened = list(final)
    outcomes: list[str] = []
    for i, (a, (_, is_used)) in enumerate(zip(analyses, final, strict=True)):
        if a.name in named:
            if a.kind == "nested":
                raise ConfigError(
                    f"config 'outcomes' names {quote_value(a.name)}, which holds nested "
                    f"values (a {a.nested} "
                    "per row): an outcome is profiled as rates of plain values"
                )
            if a.kind == "empty":
                warnings.append(
                    f"outcome {quote_value(a.name)} named by the config has no values; dropped"
                )
                screened[i] = (_Decision("dropped", "all values are missing"), False)
                continue
            if a.n_unique > MAX_CATEGORIES:
                raise ConfigError(
                    f"config 'outcomes' names {quote_value(a.name)}, which has {a.n_unique} "
                    f"distinct values "
                    f"(an outcome is profiled as rates of at most {MAX_CATEGORIES} values)"
                )
            reason = "outcome named by the config: profiled per segment as rates, not clustered"
        elif config.outcomes is None and is_used and a.name not in forced:
            word = outcome_word(a.name)
            if word is None or a.n_unique > OUTCOME_MAX_LEVELS:
                continue
            reason = (
                f"outcome-like column (name word {quote_value(word)}, {a.n_unique} values): "
                f"profiled per "
                'segment as rates, not clustered; "outcomes": [] in the dataset config clusters '
                "on it"
            )
        else:
            continue
        screened[i] = (_Decision("categorical", reason), False)
        outcomes.append(a.name)
    return screened, outcomes


def _screen_duplicates(
    analyses: list[_Analysis],
    final: list[tuple[_Decision, bool]],
    roles: dict[str, _Decision],
    features: pd.DataFrame,
    config: DatasetConfig,
) -> list[NearDuplicate]:
    """Near-duplicate numeric features that are not named by the config, with their twins."""
    forced = set(config.features or [])
    candidates = [
        (int(features[a.name].isna().sum()), position, a.name)
        for position, (a, (_, is_used)) in enumerate(zip(analyses, final, strict=True))
        if is_used and roles[a.name].role in ("numeric", "date") and a.name not in forced
    ]
    if len(candidates) < 2:
        return []
    # Fewer missing values first, then file order: the first of each group is kept.
    order = [name for _, _, name in sorted(candidates)]
    return near_duplicates(features[order], order)


def _resolve_ids(analyses: list[_Analysis], decisions: list[_Decision]) -> None:
    candidates = [i for i, d in enumerate(decisions) if d.role == "id"]
    if len(candidates) <= 1:
        return
    winner = max(candidates, key=lambda i: (decisions[i].id_strength, -i))
    for i in candidates:
        if i != winner:
            decisions[i] = _Decision(
                "dropped",
                f"unique per row like the identifier {quote_value(analyses[winner].name)}",
            )


def _reference(a: _Analysis) -> str:
    assert a.dates is not None
    newest = a.dates.max()
    return pd.Timestamp(newest).isoformat()


def _feature_values(a: _Analysis, role: str, reference: str | None) -> pd.Series:
    if role == "categorical":
        if a.text is not None:
            return a.text
        if a.numbers is not None:
            return _category_labels(a.numbers, a.dtype)
        assert a.dates is not None
        return _category_labels(a.dates.map(lambda v: v.isoformat(), na_action="ignore"), "string")
    if role == "date":
        assert a.dates is not None
        assert reference is not None
        return _days_before(a.dates, reference)
    assert a.numbers is not None
    return a.numbers


def _used_schema(
    a: _Analysis, decision: _Decision, values: pd.Series, reference: str | None
) -> ColumnSchema:
    missing = int(values.isna().sum())
    present = values.dropna()
    if decision.role == "categorical":
        labels = present.astype(str)
        counts = labels.value_counts()
        top = counts.max()
        most_frequent = min(str(v) for v in counts.index[counts == top])
        return ColumnSchema(
            name=a.name,
            role="categorical",
            dtype=a.dtype,
            used=True,
            reason=decision.reason,
            missing=missing,
            imputed_with=most_frequent,
            categories=sorted(str(v) for v in counts.index),
        )
    numbers = present.to_numpy(dtype="float64")
    transform: Literal["log1p"] | None = None
    reason = decision.reason
    if decision.role == "numeric" and len(numbers) > 2 and numbers.min() >= 0:
        skew = float(pd.Series(numbers).skew())  # type: ignore[arg-type]
        if a.n_unique > 2 and skew > SKEW_LIMIT:
            transform = "log1p"
            reason = f"{reason}; log1p because skewness {skew:.2f} > {SKEW_LIMIT:g} and min >= 0"
    return ColumnSchema(
        name=a.name,
        role="date" if decision.role == "date" else "numeric",
        dtype=a.dtype,
        used=True,
        reason=reason,
        missing=missing,
        imputed_with=float(np.median(numbers)),
        transform=transform,
        min=float(numbers.min()),
        max=float(numbers.max()),
        date_reference=reference,
        date_format=a.date_format if decision.role == "date" else None,
    )


def _warn_values(a: _Analysis, is_used: bool, warnings: list[str]) -> None:
    if not is_used:
        return
    if a.unparseable:
        shown = ", ".join(quote_value(v) for v in a.unparseable_examples)
        warnings.append(
            f"column {quote_value(a.name)}: {a.unparseable} value(s) that are not "
            f"{a.unparseable_kind} "
            f"({shown}) "
            "treated as missing"
        )
    if a.absurd:
        warnings.append(
            f"column {quote_value(a.name)}: {a.absurd} infinite or absurd value(s) "
            f"(magnitude > {ABSURD_MAGNITUDE:g}) treated as missing"
        )


def _quote(names: list[str] | list[Hashable]) -> str:
    return ", ".join(quote_value(str(n)) for n in names)
