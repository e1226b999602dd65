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
- **Distinctive** features: strength (``|z|`` or categorical deviation) ``>= 0.5``, strongest first.
  Features from strength 0.25 are kept as weaker terms: they only tell clashing names apart.
- **Words**: levels, names, uniqueness and descriptions follow the rules of
  :mod:`shared.engine.naming` ("High income, low spending", "Mostly month-to-month contract").
  DBSCAN's noise (label -1) is the segment "Outliers" with ``segment_id`` -1.
- **Profiled columns** (``ColumnSchema.profiled``: usable, left out of the clustering by the
  config) get the same statistics and category mixes when ``features`` holds them, but never
  enter names, descriptions or ``distinctive``: the segments were not formed on them.
- **Provisional ids**: segments ordered by size descending, ties by internal label, numbered
  0..k-1; :mod:`shared.engine.segment_ids` later makes them stable across versions.
"""

from __future__ import annotations

import logging
import math
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
from shared.engine.naming import (
    DESCRIPTION_TERMS,
    LEVEL_AVERAGE,
    LEVEL_SLIGHT,
    LEVEL_STRONG,
    NAME_TERMS,
    ColumnWords,
    Term,
    category_term,
    column_words,
    describe,
    feature_word,
    numeric_term,
    unique_names,
)

if TYPE_CHECKING:
    import pandas as pd

    from shared.contract.manifest import ColumnSchema

__all__ = [
    "DESCRIPTION_TERMS",
    "LEVEL_AVERAGE",
    "LEVEL_STRONG",
    "MAX_CATEGORIES_SHOWN",
    "NAME_TERMS",
    "QUANTILE_ROWS",
    "ProfileInputs",
    "build_segment_set",
    "feature_word",
    "outcome_rates",
]

logger = logging.getLogger(__name__)
QUANTILE_ROWS = 20_000
"""Above this many values, quartiles are computed on an evenly strided subsample."""
MAX_CATEGORIES_SHOWN = 20
"""Categories kept per categorical mix; the rarest others are lumped into ``"(other)"``."""
MISSING_CATEGORY = "(missing)"
OTHER_CATEGORY = "(other)"

# --- building profiles -----------------------------------------------------------------------


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
            if not (column.used or column.profiled) or column.name not in features.columns:
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
        The schema; the ``used`` numeric, date and categorical columns are profiled, and the
        ``profiled`` ones that ``features`` holds.
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
    used = [
        c
        for c in columns
        if (c.used or (c.profiled and c.name in features.columns))
        and c.role in ("numeric", "date", "categorical")
    ]
    absent = [c.name for c in used if c.name not in features.columns]
    if absent:
        raise ValueError(f"used column(s) {absent} are not in the features frame")
    described = {c.name for c in used if not c.used}  # profiled: summarised, never named by

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

    words = _column_words(used, inputs)
    population: dict[str, NumericSummary] = {}
    population_mix: dict[str, dict[str, float]] = {}
    numeric_by_group: list[dict[str, NumericSummary]] = [{} for _ in range(n_groups)]
    mix_by_group: list[dict[str, dict[str, float]]] = [{} for _ in range(n_groups)]
    terms: list[list[Term]] = [[] for _ in range(n_groups)]

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
                [[] for _ in range(n_groups)] if column.name in described else terms,
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
            if column.name in described:
                continue
            term = numeric_term(words[column.name], position, summary.z, summary.mean, overall.mean)
            if term is not None:
                terms[g].append(term)

    rates_by_group, population_rates = outcome_rates(inputs.outcome_codes, group, n_groups)
    centroids = _group_centroids(X, group, counts)
    noise = [g for g in range(n_groups) if group_labels[g] == OUTLIER_SEGMENT_ID]
    regular = sorted(
        (g for g in range(n_groups) if group_labels[g] != OUTLIER_SEGMENT_ID),
        key=lambda g: (-int(counts[g]), int(group_labels[g])),
    )
    for g in range(n_groups):
        terms[g].sort(key=lambda t: (-t.strength, t.order))
    numeric_positions = [
        (position, c.name)
        for position, c in enumerate(used)
        if c.role != "categorical" and c.name in population and c.name not in described
    ]
    baselines: list[list[Term]] = []
    for g in regular:  # every numeric feature's term, for names of "average" segments
        baseline = []
        for position, name in numeric_positions:
            summary = numeric_by_group[g][name]
            word = words[name]
            term = numeric_term(
                word, position, summary.z, summary.mean, population[name].mean, minimum=0.0
            )
            if term is not None:
                baseline.append(term)
        baselines.append(baseline)
    names = unique_names([terms[g] for g in regular], baselines, [int(counts[g]) for g in regular])

    segments: list[SegmentProfile] = []
    for segment_id, g in [*enumerate(regular), *((OUTLIER_SEGMENT_ID, g) for g in noise)]:
        size = int(counts[g])
        share = size / n
        is_outlier = segment_id == OUTLIER_SEGMENT_ID
        distinctive = [t for t in terms[g] if t.distinctive]
        segments.append(
            SegmentProfile(
                segment_id=segment_id,
                label=int(group_labels[g]),
                name=OUTLIER_NAME if is_outlier else names[segment_id],
                description=describe(size, share, distinctive, is_outlier=is_outlier),
                size=size,
                share=share,
                is_outlier=is_outlier,
                numeric=numeric_by_group[g],
                categorical=mix_by_group[g],
                centroid=[float(v) for v in centroids[g]],
                distinctive=[t.feature for t in distinctive],
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


def _column_words(used: list[ColumnSchema], inputs: ProfileInputs) -> dict[str, ColumnWords]:
    """How each column reads; columns whose words collide keep their lower-cased names."""
    plain = {c.name: feature_word(c.name, date=c.role == "date") for c in used}
    seen: dict[str, int] = {}
    for word in plain.values():
        seen[word] = seen.get(word, 0) + 1
    result = {}
    for c in used:
        word = plain[c.name] if seen[plain[c.name]] == 1 else " ".join(c.name.lower().split())
        categories = inputs.codes[c.name][1] if c.name in inputs.codes else []
        result[c.name] = column_words(c.name, c.role, categories, word=word or c.name)
    return result


def _profile_categorical(
    name: str,
    words: ColumnWords,
    position: int,
    coded: tuple[np.ndarray, list[str]],
    group: np.ndarray,
    counts: np.ndarray,
    population_mix: dict[str, dict[str, float]],
    mix_by_group: list[dict[str, dict[str, float]]],
    terms: list[list[Term]],
) -> None:
    """Category mix of every segment and the population, and the categorical terms.

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
        if best is None or best[0] < LEVEL_SLIGHT:
            continue
        deviation, c = best
        terms[g].append(
            category_term(
                words, position, categories[c], table[g, c] / size, float(p_pop[c]), deviation
            )
        )
