"""Segment profiles and names: what each segment is, in the customer's own units.

The models below are the ``profiles.json`` contract (one ``SegmentSet`` per fitted model of the
sweep). :func:`build_segment_set` builds one from a fitted model's labels.

Rules (documented here once; the tests pin them):

- **Statistics** are computed on the observed values in original units (missing values are
  left out, not imputed); ``std`` is the population standard deviation (``ddof=0``).
  ``z = (segment mean - population mean) / population std`` (0 when the population std is 0).
- **Categorical deviation** of a category is the same z on its 0/1 indicator:
  ``(segment share - population share) / sqrt(p (1 - p))``; a categorical feature's strength is its
  most over-represented category's deviation. Missing values count as ``"(missing)"``; beyond
  :data:`MAX_CATEGORIES_SHOWN` categories the rarest are lumped into ``"(other)"``.
- **Levels** by z: ``|z| < 0.5`` average (not named), ``0.5 <= |z| < 0.75`` above/below average,
  ``|z| >= 0.75`` high/low (a segment mean 0.75 std from the population mean puts its average
  member near the 77th percentile of normal data). Date features (age in days before the newest
  date) read "recent"/"long-ago" instead of low/high, and age "young"/"older".
- **Distinctive** features: strength (``|z|`` or categorical deviation) ``>= 0.5``, strongest first.
- **Name**: the two most distinctive features, shown in column order ("High income, low
  spending"); a categorical reads "mostly Female" (share >= 50 %) or "many Female". A segment with
  no distinctive feature is "Average <f1>, average <f2>" over its two strongest numeric features.
  Duplicate names within a model take more distinctive terms, then a number ("#2"), in segment
  order. DBSCAN's noise (label -1) is the segment "Outliers" with ``segment_id`` -1.
- **Provisional ids**: segments ordered by size descending, ties by internal label, numbered
  0..k-1; :mod:`shared.engine.segment_ids` later makes them stable across versions.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.contract.profiles import (
    OUTLIER_NAME,
    OUTLIER_SEGMENT_ID,
    NumericSummary,
    OutcomeRate,
    SegmentProfile,
    SegmentSet,
)

if TYPE_CHECKING:
    import pandas as pd

    from shared.contract.manifest import ColumnSchema

logger = logging.getLogger(__name__)
LEVEL_AVERAGE = 0.5
"""Below this strength a feature is "average": not distinctive, not named."""
LEVEL_STRONG = 0.75
"""From this strength on a numeric feature is "high"/"low" (below it: above/below average)."""
QUANTILE_ROWS = 20_000
"""Above this many values, quartiles are computed on an evenly strided subsample."""
MAX_CATEGORIES_SHOWN = 20
"""Categories kept per categorical mix; the rarest others are lumped into ``"(other)"``."""
NAME_TERMS = 2
DESCRIPTION_TERMS = 3
MISSING_CATEGORY = "(missing)"
OTHER_CATEGORY = "(other)"
_MAX_VALUE_CHARS = 30


# --- building profiles -----------------------------------------------------------------------

_COMMON_WORDS = {
    "annual income": "income",
    "yearly income": "income",
    "income": "income",
    "spending score": "spending",
    "spending": "spending",
    "spend": "spending",
    "age": "age",
}
_LEVEL_PHRASES = {  # words that read better than "<level> <word>"
    "age": {
        "high": "older",
        "above-average": "somewhat older",
        "below-average": "somewhat younger",
        "low": "young",
    },
}
_DATE_SUFFIX = re.compile(r"\s+(date|dt|day|time|timestamp|at|on)$")
_UNITS = re.compile(r"\s*[(\[{][^)\]}]*[)\]}]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CODE_LIKE = re.compile(r"^(-?\d+(\.\d+)?|true|false|yes|no|y|n|t|f)$", re.IGNORECASE)


def feature_word(name: str, *, date: bool = False) -> str:
    """A readable word for a column, as used in segment names.

    Units in brackets are stripped, camelCase and ``snake_case`` become words, everything is
    lower-cased, and a few common names are mapped (``Annual Income (k$)`` -> ``income``).

    Examples
    --------
    >>> feature_word("Annual Income (k$)"), feature_word("Spending Score (1-100)")
    ('income', 'spending')
    >>> feature_word("PURCHASES_FREQUENCY"), feature_word("lastPurchaseDate", date=True)
    ('purchases frequency', 'last purchase')
    """
    text = _UNITS.sub(" ", name)
    text = _CAMEL.sub(" ", text)
    text = re.sub(r"[_\-.]+", " ", text)
    text = " ".join(text.lower().split())
    if date:
        text = _DATE_SUFFIX.sub("", text)
    text = _COMMON_WORDS.get(text, text)
    return text or " ".join(name.lower().split()) or name


@dataclass(frozen=True)
class _Deviation:
    """How one feature sets a segment apart."""

    feature: str
    order: int  # column order, for showing terms consistently across segments
    strength: float  # |z| (numeric) or the top category's deviation (categorical)
    term: str  # "high income", "mostly Female"
    detail: str  # for the description: "high income (mean 88.2 vs 60.6 overall)"


def _format_number(value: float) -> str:
    """Compact human formatting: 3 significant digits, thousands separators."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{value:.3g}"


def _numeric_level(z: float, *, date: bool) -> str | None:
    if abs(z) < LEVEL_AVERAGE:
        return None
    strong = abs(z) >= LEVEL_STRONG
    if date:  # the value is an age in days: higher means longer ago
        if z > 0:
            return "long-ago" if strong else "older"
        return "recent" if strong else "more recent"
    if z > 0:
        return "high" if strong else "above-average"
    return "low" if strong else "below-average"


def _value_term(column_word: str, value: str) -> str:
    shown = value if len(value) <= _MAX_VALUE_CHARS else value[: _MAX_VALUE_CHARS - 1] + "…"
    # A bare code ("1", "yes") means nothing without its column.
    return f"{column_word} {shown}" if _CODE_LIKE.match(value.strip()) else shown


def _numeric_values(series: pd.Series) -> np.ndarray:
    """Float values of a numeric or date feature (dates: days before the newest date)."""
    import pandas as pd

    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        newest = series.max()
        return ((newest - series).dt.total_seconds() / 86400.0).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    return np.where(infinite, np.nan, values) if infinite.any() else values


def _summarize(values: np.ndarray) -> NumericSummary | None:
    """Summary of the observed (non-NaN) values, or None when there are none.

    Mean, std, min and max use every value; the quartiles and median of more than
    :data:`QUANTILE_ROWS` values use an evenly strided subsample of them (deterministic; the error
    is far below what a profile shows, and it keeps 28 models x 1M rows fast).
    """
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return None
    step = -(-observed.size // QUANTILE_ROWS)
    q1, q2, q3 = np.percentile(observed[::step], [25, 50, 75])
    return NumericSummary(
        mean=float(observed.mean()),
        median=float(q2),
        q1=float(q1),
        q3=float(q3),
        min=float(observed.min()),
        max=float(observed.max()),
        std=float(observed.std()),
    )


def _category_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and category names of a categorical feature (missing -> "(missing)")."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(u) for u in uniques]
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING_CATEGORY)
    distinct, remap = np.unique(np.array(names, dtype=object), return_inverse=True)
    if distinct.size < len(names):  # values that read the same (1 and "1") are one category
        return np.asarray(remap)[codes].astype(np.int64), [str(v) for v in distinct]
    return codes, names


def _group_centroids(X: Any, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of ``X`` per group; ``X`` dense or scipy sparse; extra memory O(n)."""
    from scipy import sparse

    n_groups = counts.shape[0]
    if sparse.issparse(X):
        n = group.shape[0]
        indicator = sparse.csr_matrix(
            (np.ones(n, dtype=np.float64), (group, np.arange(n))), shape=(n_groups, n)
        )
        product = indicator @ X
        sums = product.toarray() if sparse.issparse(product) else np.asarray(product)
    else:  # one weighted bincount per column: faster than gathering rows in group order
        dense = np.asarray(X, dtype=np.float64)
        sums = np.empty((n_groups, dense.shape[1]))
        for j in range(dense.shape[1]):
            sums[:, j] = np.bincount(group, weights=dense[:, j], minlength=n_groups)
    return np.asarray(sums / np.maximum(counts, 1)[:, None], dtype=np.float64)


class ProfileInputs:
    """What :func:`build_segment_set` reads from the features, whatever the labels.

    A training run profiles every model of the sweep over the same rows: building this once and
    passing it to every call spares each call the conversion of every column, the population
    statistics and the category codes.

    Parameters
    ----------
    features : DataFrame
        The used features in original units (as for :func:`build_segment_set`).
    columns : list of ColumnSchema
        The schema.

    Examples
    --------
    >>> import pandas as pd
    >>> from shared.contract.manifest import ColumnSchema
    >>> cols = [ColumnSchema(name="Income", role="numeric", dtype="float", used=True)]
    >>> ProfileInputs(pd.DataFrame({"Income": [1.0, 3.0]}), cols).overall["Income"].mean
    2.0
    """

    def __init__(
        self,
        features: pd.DataFrame,
        columns: list[ColumnSchema],
        outcomes: pd.DataFrame | None = None,
    ) -> None:
        self.n_rows = len(features)
        self.outcomes = outcomes
        # Per outcome column: the rows with a known value, their level codes and the levels.
        self.outcome_codes: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
        if outcomes is not None:
            for name in outcomes.columns:
                known = outcomes[name].notna().to_numpy()
                codes, levels = _category_codes(outcomes[name][known])
                self.outcome_codes[str(name)] = (known, codes, levels)
        self.values: dict[str, np.ndarray] = {}
        self.overall: dict[str, NumericSummary | None] = {}
        self.codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        for column in columns:
            if not column.used or column.name not in features.columns:
                continue
            if column.role == "categorical":
                self.codes[column.name] = _category_codes(features[column.name])
            elif column.role in ("numeric", "date"):
                values = _numeric_values(features[column.name])
                self.values[column.name] = values
                self.overall[column.name] = _summarize(values)


def build_segment_set(
    *,
    algorithm: str,
    k: int | None,
    labels: np.ndarray,
    features: pd.DataFrame,
    columns: list[ColumnSchema],
    X: Any,
    inputs: ProfileInputs | None = None,
    outcomes: pd.DataFrame | None = None,
) -> SegmentSet:
    """Profile and name every segment of one fitted model.

    Parameters
    ----------
    algorithm : str
        ``kmeans``, ``agglomerative``, ``dbscan`` or ``gmm``.
    k : int or None
        The requested k (None for DBSCAN).
    labels : ndarray of int, shape (n,)
        The model's internal label of every training row; -1 is DBSCAN's noise.
    features : DataFrame, shape (n, ...)
        The used features in original units (numeric as float with NaN for missing, dates as
        age in days or datetimes, categoricals as strings with NaN for missing).
    columns : list of ColumnSchema
        The schema; the ``used`` numeric, date and categorical columns are profiled.
    X : array-like or sparse matrix, shape (n, n_prepared)
        The prepared (standardized) matrix of the same rows, for the centroids.
    inputs : ProfileInputs, optional
        ``ProfileInputs(features, columns)`` shared by the calls of one run (default: built
        here).
    outcomes : DataFrame, optional
        Outcome columns of the same rows (``CleanTable.outcomes``: labels, NaN missing), never
        clustered on: each segment gets their rates (:func:`outcome_rates`). Default: those
        of ``inputs``, if any.

    Returns
    -------
    SegmentSet
        Segments ordered by provisional ``segment_id`` (size descending, ties by label; the
        "Outliers" segment last with id -1), each with statistics, distinctive features, a
        unique name and a one-sentence description. ``n_segments`` excludes the outliers.

    Raises
    ------
    ValueError
        When the rows of ``labels``, ``features`` and ``X`` disagree, there are no rows, or a used
        column is missing from ``features``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from shared.contract.manifest import ColumnSchema
    >>> df = pd.DataFrame({"Income": [10.0, 12.0, 90.0, 94.0]})
    >>> cols = [ColumnSchema(name="Income", role="numeric", dtype="float", used=True)]
    >>> s = build_segment_set(algorithm="kmeans", k=2, labels=np.array([1, 1, 0, 0]),
    ...                       features=df, columns=cols, X=df.to_numpy())
    >>> [(x.segment_id, x.label, x.name, x.size) for x in s.segments]
    [(0, 0, 'High income', 2), (1, 1, 'Low income', 2)]
    """
    labels = np.asarray(labels).astype(np.int64, copy=False).ravel()
    n = int(labels.shape[0])
    if n == 0:
        raise ValueError("cannot profile segments of 0 rows")
    if len(features) != n or X.shape[0] != n:
        raise ValueError(f"rows disagree: labels has {n}, features {len(features)}, X {X.shape[0]}")
    used = [c for c in columns if c.used and c.role in ("numeric", "date", "categorical")]
    absent = [c.name for c in used if c.name not in features.columns]
    if absent:
        raise ValueError(f"used column(s) {absent} are not in the features frame")

    if outcomes is None and inputs is not None and inputs.n_rows == n:
        outcomes = inputs.outcomes
    if inputs is None or inputs.n_rows != n or inputs.outcomes is not outcomes:
        inputs = ProfileInputs(features, used, outcomes)

    group_labels, group = np.unique(labels, return_inverse=True)
    group = group.astype(np.int64).ravel()
    n_groups = int(group_labels.shape[0])
    counts = np.bincount(group, minlength=n_groups)
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])

    words = _feature_words(used)
    population: dict[str, NumericSummary] = {}
    population_mix: dict[str, dict[str, float]] = {}
    numeric_by_group: list[dict[str, NumericSummary]] = [{} for _ in range(n_groups)]
    mix_by_group: list[dict[str, dict[str, float]]] = [{} for _ in range(n_groups)]
    deviations: list[list[_Deviation]] = [[] for _ in range(n_groups)]

    for position, column in enumerate(used):
        if column.role == "categorical":
            _profile_categorical(
                column.name,
                words[column.name],
                position,
                inputs.codes[column.name],
                group,
                counts,
                population_mix,
                mix_by_group,
                deviations,
            )
            continue
        values = inputs.values[column.name]
        shared_overall = inputs.overall[column.name]
        if shared_overall is None:
            logger.warning("feature %r has no observed value; not profiled", column.name)
            continue
        overall = shared_overall.model_copy()
        population[column.name] = overall
        sorted_values = values[order]
        for g in range(n_groups):
            summary = _summarize(sorted_values[bounds[g] : bounds[g + 1]])
            if summary is None:  # every value of this segment is missing: say "like everyone"
                summary = overall.model_copy()
            elif overall.std > 0:
                summary.z = (summary.mean - overall.mean) / overall.std
            numeric_by_group[g][column.name] = summary
            level = _numeric_level(summary.z, date=column.role == "date")
            if level is not None:
                word = words[column.name]
                term = _LEVEL_PHRASES.get(word, {}).get(level, f"{level} {word}")
                deviations[g].append(
                    _Deviation(
                        feature=column.name,
                        order=position,
                        strength=abs(summary.z),
                        term=term,
                        detail=f"{term} (mean{'' if word in term else ' ' + word} "
                        f"{_format_number(summary.mean)} vs {_format_number(overall.mean)} "
                        "overall)",
                    )
                )

    rates_by_group, population_rates = outcome_rates(inputs.outcome_codes, group, n_groups)
    centroids = _group_centroids(X, group, counts)
    noise = [g for g in range(n_groups) if group_labels[g] == OUTLIER_SEGMENT_ID]
    regular = sorted(
        (g for g in range(n_groups) if group_labels[g] != OUTLIER_SEGMENT_ID),
        key=lambda g: (-int(counts[g]), int(group_labels[g])),
    )
    for g in range(n_groups):
        deviations[g].sort(key=lambda d: (-d.strength, d.order))
    names = _unique_names(
        [deviations[g] for g in regular],
        [numeric_by_group[g] for g in regular],
        [words[c.name] for c in used if c.role != "categorical"],
        [c.name for c in used if c.role != "categorical"],
    )

    segments: list[SegmentProfile] = []
    for segment_id, g in [*enumerate(regular), *((OUTLIER_SEGMENT_ID, g) for g in noise)]:
        size = int(counts[g])
        share = size / n
        is_outlier = segment_id == OUTLIER_SEGMENT_ID
        segments.append(
            SegmentProfile(
                segment_id=segment_id,
                label=int(group_labels[g]),
                name=OUTLIER_NAME if is_outlier else names[segment_id],
                description=_describe(size, share, deviations[g], is_outlier=is_outlier),
                size=size,
                share=share,
                is_outlier=is_outlier,
                numeric=numeric_by_group[g],
                categorical=mix_by_group[g],
                centroid=[float(v) for v in centroids[g]],
                distinctive=[d.feature for d in deviations[g]],
                outcomes=rates_by_group[g],
            )
        )
    logger.debug(
        "profiled %s k=%s: %s", algorithm, k, ", ".join(f"{s.name} ({s.size})" for s in segments)
    )
    return SegmentSet.model_validate(
        {
            "algorithm": algorithm,
            "k": k,
            "n_segments": len(regular),
            "segments": segments,
            "population": population,
            "population_categorical": population_mix,
            "population_outcomes": population_rates,
        }
    )


def outcome_rates(
    outcome_codes: dict[str, tuple[np.ndarray, np.ndarray, list[str]]],
    group: np.ndarray,
    n_groups: int,
) -> tuple[list[dict[str, OutcomeRate]], dict[str, OutcomeRate]]:
    """Per group and for the population, every outcome column's level shares and rate.

    Shares are among the known (non-missing) values. A two-level outcome's ``rate`` is the
    share of its positive level (:func:`shared.engine.screening.positive_level`, chosen on the
    population); outcomes with more levels have shares only.

    Parameters
    ----------
    outcome_codes : dict
        ``ProfileInputs.outcome_codes``: per outcome column, the mask of rows with a known
        value, their level codes and the levels.
    group : ndarray of int, shape (n,)
        Group index ``0..n_groups-1`` of every row.
    n_groups : int

    Examples
    --------
    >>> import pandas as pd
    >>> inputs = ProfileInputs(pd.DataFrame({"x": [0.0] * 4}), [],
    ...                        pd.DataFrame({"Churn": ["1", "0", "1", None]}))
    >>> by_group, overall = outcome_rates(inputs.outcome_codes, np.array([0, 0, 1, 1]), 2)
    >>> [(r["Churn"].rate, r["Churn"].known) for r in by_group], overall["Churn"].rate
    ([(0.5, 2), (1.0, 1)], 0.6666666666666666)
    """
    from shared.engine.screening import positive_level

    by_group: list[dict[str, OutcomeRate]] = [{} for _ in range(n_groups)]
    population: dict[str, OutcomeRate] = {}
    for name, (known, codes, levels) in outcome_codes.items():
        if not levels:
            continue
        n_levels = len(levels)
        known_group = group[known]
        table = np.bincount(known_group * n_levels + codes, minlength=n_groups * n_levels).reshape(
            n_groups, n_levels
        )
        overall = table.sum(axis=0)
        positive = positive_level(levels, [int(c) for c in overall])

        def rate(
            row: np.ndarray, levels: list[str] = levels, positive: str | None = positive
        ) -> OutcomeRate:
            total = int(row.sum())
            shares = {levels[c]: float(row[c]) / total for c in range(len(levels))} if total else {}
            return OutcomeRate(
                level=positive,
                rate=shares.get(positive) if positive is not None else None,
                shares=shares,
                known=total,
            )

        population[name] = rate(overall)
        for g in range(n_groups):
            by_group[g][name] = rate(table[g])
    return by_group, population


def _feature_words(used: list[ColumnSchema]) -> dict[str, str]:
    """Readable word per column; columns whose words collide keep their lower-cased names."""
    words = {c.name: feature_word(c.name, date=c.role == "date") for c in used}
    seen: dict[str, int] = {}
    for word in words.values():
        seen[word] = seen.get(word, 0) + 1
    return {
        name: (word if seen[word] == 1 else " ".join(name.lower().split()) or name)
        for name, word in words.items()
    }


def _profile_categorical(
    name: str,
    word: str,
    position: int,
    coded: tuple[np.ndarray, list[str]],
    group: np.ndarray,
    counts: np.ndarray,
    population_mix: dict[str, dict[str, float]],
    mix_by_group: list[dict[str, dict[str, float]]],
    deviations: list[list[_Deviation]],
) -> None:
    """Category mix of every segment and the population, and the categorical deviations.

    ``coded`` is the feature's ``_category_codes``."""
    codes, categories = coded
    n_groups, n_cat, n = counts.shape[0], len(categories), group.shape[0]
    table = np.bincount(group * n_cat + codes, minlength=n_groups * n_cat).reshape(n_groups, n_cat)
    overall = table.sum(axis=0)
    ranked = sorted(range(n_cat), key=lambda c: (-int(overall[c]), categories[c]))
    shown, rest = ranked[:MAX_CATEGORIES_SHOWN], ranked[MAX_CATEGORIES_SHOWN:]

    def mix(row: np.ndarray, total: int) -> dict[str, float]:
        result = {categories[c]: float(row[c]) / max(total, 1) for c in shown}
        if rest:
            result[OTHER_CATEGORY] = float(row[rest].sum()) / max(total, 1)
        return result

    population_mix[name] = mix(overall, n)
    p_pop = overall / n
    for g in range(n_groups):
        size = int(counts[g])
        mix_by_group[g][name] = mix(table[g], size)
        best: tuple[float, int] | None = None
        for c in shown:
            if categories[c] == MISSING_CATEGORY or not 0 < p_pop[c] < 1:
                continue
            deviation = (table[g, c] / size - p_pop[c]) / math.sqrt(p_pop[c] * (1 - p_pop[c]))
            if best is None or deviation > best[0]:
                best = (float(deviation), c)
        if best is None or best[0] < LEVEL_AVERAGE:
            continue
        deviation, c = best
        p_seg = table[g, c] / size
        value = _value_term(word, categories[c])
        term = f"{'mostly' if p_seg >= 0.5 else 'many'} {value}"
        deviations[g].append(
            _Deviation(
                feature=name,
                order=position,
                strength=deviation,
                term=term,
                detail=f"{p_seg:.0%} {value} ({p_pop[c]:.0%} overall)",
            )
        )


def _compose_name(terms: list[_Deviation]) -> str:
    shown = sorted(terms, key=lambda d: d.order)
    text = ", ".join(d.term for d in shown)
    return text[:1].upper() + text[1:]


def _average_name(numeric: dict[str, NumericSummary], words: list[str], names: list[str]) -> str:
    """Name of a segment close to the average on every feature."""
    ranked = sorted(
        (i for i, name in enumerate(names) if name in numeric),
        key=lambda i: (-abs(numeric[names[i]].z), i),
    )[:NAME_TERMS]
    if not ranked:
        return "Typical customers"
    return "Average " + ", average ".join(words[i] for i in sorted(ranked))


def _unique_names(
    deviations: list[list[_Deviation]],
    numeric: list[dict[str, NumericSummary]],
    numeric_words: list[str],
    numeric_names: list[str],
) -> list[str]:
    """One name per segment (in segment order), unique within the model (case-insensitive)."""
    n_terms = [NAME_TERMS] * len(deviations)

    def name_of(i: int) -> str:
        if not deviations[i]:
            return _average_name(numeric[i], numeric_words, numeric_names)
        return _compose_name(deviations[i][: n_terms[i]])

    names = [name_of(i) for i in range(len(deviations))]
    while True:  # lengthen clashing names while any of them can take one more term
        clashes = _clashes(names)
        growable = [i for i in clashes if n_terms[i] < len(deviations[i])]
        if not growable:
            break
        for i in growable:
            n_terms[i] += 1
            names[i] = name_of(i)
    taken = {name.casefold() for name in names}
    seen: set[str] = set()
    for i, name in enumerate(names):
        key = name.casefold()
        if key in seen:  # still a clash: number it, deterministically in segment order
            number = 2
            while f"{name} #{number}".casefold() in taken:
                number += 1
            names[i] = f"{name} #{number}"
            taken.add(names[i].casefold())
        seen.add(key)
    return names


def _clashes(names: list[str]) -> list[int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    return [i for i, name in enumerate(names) if counts[name.casefold()] > 1]


def _describe(size: int, share: float, deviations: list[_Deviation], *, is_outlier: bool) -> str:
    """One sentence: who is in the segment and what sets it apart."""
    who = f"{size:,} customer{'s' if size != 1 else ''} ({share:.1%})"
    details = [d.detail for d in deviations[:DESCRIPTION_TERMS]]
    if is_outlier:
        tail = f", mostly {_join(details)}" if details else ""
        return f"{who} that lie outside every dense segment (DBSCAN noise){tail}."
    if not details:
        return f"{who} close to the overall average on every feature."
    return f"{who} with {_join(details)}."


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
