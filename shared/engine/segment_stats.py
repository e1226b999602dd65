"""Per-segment sufficient statistics: exact segment profiles over any number of rows.

A streaming training run fits its models on a sample, then assigns every row chunk by chunk.
:class:`SegmentStats` accumulates, per segment of one model, what its profile needs, in a form
that merges: two statistics of disjoint row sets combine into the statistics of their union,
whatever the order, so one worker or many, in any chunking, give the same numbers (counts
exactly; floating-point sums to rounding, far below 1e-9 relative).

- **counts** of rows per segment (exact sizes and shares);
- per numeric or date feature: observed count, mean and sum of squared deviations (combined
  with Chan's parallel rule, numerically stable), min and max: exact means, standard deviations
  (``ddof=0``, as ``numpy.std``), ranges and z-scores;
- per categorical feature and outcome column: the count of every label (exact shares and
  rates; a missing value is the label ``(missing)`` for features and not counted for outcomes);
- the sum of the prepared matrix rows (exact centroids);
- a **quantile sketch**: the :data:`SKETCH_ROWS` rows of the segment with the smallest row
  hashes (a bottom-k sample: order-independent and exactly mergeable, since the union of two
  bottom-k sets holds the bottom-k of the union). Medians and quartiles come from it, as the
  in-memory profiles take theirs from a strided subsample above 20,000 values.

:func:`apply_segment_stats` writes the statistics into a fitted model's
:class:`~shared.contract.profiles.SegmentSet` (its names and the details of its descriptions stay
those of the fit).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.contract.profiles import NumericSummary, OutcomeRate, SegmentSet

__all__ = ["SKETCH_ROWS", "SegmentStats", "apply_segment_stats"]

logger = logging.getLogger(__name__)

SKETCH_ROWS = 4_096
"""Rows per segment kept by the quantile sketch (bottom-k by row hash)."""
MISSING_LABEL = "(missing)"
OTHER_LABEL = "(other)"
MAX_CATEGORIES_SHOWN = 20


def _label_counts(
    values: pd.Series, group: np.ndarray, n_groups: int, *, count_missing: bool
) -> dict[str, np.ndarray]:
    """Per label, the count of rows per group."""
    if count_missing:
        values = values.astype(object).where(values.notna(), MISSING_LABEL)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    known = codes >= 0
    n_labels = len(uniques)
    table = np.bincount(
        group[known] * n_labels + codes[known], minlength=n_groups * n_labels
    ).reshape(n_groups, n_labels)
    out: dict[str, np.ndarray] = {}
    for j, label in enumerate(uniques):
        key = str(label)
        out[key] = out.get(key, 0) + table[:, j]
    return out


def _add_counts(into: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> None:
    for label, counts in other.items():
        into[label] = into[label] + counts if label in into else counts.copy()


@dataclass
class SegmentStats:
    """Mergeable statistics of one model's segments (see the module notes).

    ``labels`` are the model's internal labels (``-1``: DBSCAN noise); group ``g`` is
    ``labels[g]``. Build one per chunk with :meth:`from_rows`, combine with :meth:`merge`.

    Examples
    --------
    >>> feats = pd.DataFrame({"x": [1.0, 3.0, 10.0, np.nan], "c": ["a", "b", "a", None]})
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> h = np.arange(4, dtype=np.uint64)
    >>> one = SegmentStats.from_rows((0, 1), np.array([0, 0, 1, 1]), feats, X, h,
    ...                              numeric=["x"], categorical=["c"])
    >>> a = SegmentStats.from_rows((0, 1), np.array([0, 0]), feats[:2], X[:2], h[:2],
    ...                            numeric=["x"], categorical=["c"])
    >>> b = SegmentStats.from_rows((0, 1), np.array([1, 1]), feats[2:].reset_index(drop=True),
    ...                            X[2:], h[2:], numeric=["x"], categorical=["c"])
    >>> merged = a.merge(b)
    >>> merged.counts.tolist(), merged.mean[:, 0].tolist(), merged.m2[:, 0].tolist()
    ([2, 2], [2.0, 10.0], [2.0, 0.0])
    >>> bool(np.allclose(merged.centroid_sums, one.centroid_sums))
    True
    """

    labels: tuple[int, ...]
    numeric: list[str]
    counts: np.ndarray
    observed: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    low: np.ndarray
    high: np.ndarray
    centroid_sums: np.ndarray
    categories: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    sketch_hashes: list[np.ndarray] = field(default_factory=list)
    sketch_values: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def from_rows(
        cls,
        labels: tuple[int, ...],
        group: np.ndarray,
        features: pd.DataFrame,
        X: np.ndarray,
        hashes: np.ndarray,
        *,
        numeric: list[str],
        categorical: list[str],
        outcomes: pd.DataFrame | None = None,
    ) -> SegmentStats:
        """The statistics of some rows: ``group`` indexes ``labels`` for each row, ``features``
        holds the typed features (numeric and dates as float days, categoricals as labels),
        ``X`` the prepared rows, ``hashes`` the row hashes (for the sketch)."""
        n_groups = len(labels)
        group = np.asarray(group, dtype=np.int64)
        counts = np.bincount(group, minlength=n_groups)
        values = (
            features[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
            if numeric
            else np.empty((len(group), 0))
        )
        n_num = values.shape[1]
        observed = np.zeros((n_groups, n_num), dtype=np.int64)
        mean = np.zeros((n_groups, n_num))
        m2 = np.zeros((n_groups, n_num))
        low = np.full((n_groups, n_num), np.inf)
        high = np.full((n_groups, n_num), -np.inf)
        order = np.argsort(group, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        sketch_hashes: list[np.ndarray] = []
        sketch_values: list[np.ndarray] = []
        for g in range(n_groups):
            rows = order[bounds[g] : bounds[g + 1]]
            mine = values[rows]
            present = ~np.isnan(mine)
            observed[g] = present.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                sums = np.where(present, mine, 0.0).sum(axis=0)
                mean[g] = np.where(observed[g] > 0, sums / np.maximum(observed[g], 1), 0.0)
                deviation = np.where(present, mine - mean[g], 0.0)
            m2[g] = (deviation * deviation).sum(axis=0)
            if rows.size:
                low[g] = np.nanmin(np.where(present, mine, np.inf), axis=0)
                high[g] = np.nanmax(np.where(present, mine, -np.inf), axis=0)
            keep = _bottom(hashes[rows], SKETCH_ROWS)
            sketch_hashes.append(hashes[rows][keep])
            sketch_values.append(mine[keep])
        dense = np.asarray(X, dtype=np.float64)
        centroid_sums = np.empty((n_groups, dense.shape[1]))
        for j in range(dense.shape[1]):
            centroid_sums[:, j] = np.bincount(group, weights=dense[:, j], minlength=n_groups)
        categories = {
            name: _label_counts(features[name], group, n_groups, count_missing=True)
            for name in categorical
        }
        outcome_counts = {}
        if outcomes is not None:
            outcome_counts = {
                str(name): _label_counts(outcomes[name], group, n_groups, count_missing=False)
                for name in outcomes.columns
            }
        return cls(
            labels=tuple(labels),
            numeric=list(numeric),
            counts=counts,
            observed=observed,
            mean=mean,
            m2=m2,
            low=low,
            high=high,
            centroid_sums=centroid_sums,
            categories=categories,
            outcomes=outcome_counts,
            sketch_hashes=sketch_hashes,
            sketch_values=sketch_values,
        )

    def merge(self, other: SegmentStats) -> SegmentStats:
        """The statistics of the union of both row sets (Chan's rule for mean and m2)."""
        if other.labels != self.labels or other.numeric != self.numeric:
            raise ValueError("cannot merge statistics of different models")
        n_a, n_b = self.observed, other.observed
        total = n_a + n_b
        delta = other.mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, n_b / np.maximum(total, 1), 0.0)
            mean = self.mean + delta * share
            m2 = self.m2 + other.m2 + delta * delta * n_a * share
        categories = {name: dict(counts) for name, counts in self.categories.items()}
        for name, counts in other.categories.items():
            _add_counts(categories.setdefault(name, {}), counts)
        outcomes = {name: dict(counts) for name, counts in self.outcomes.items()}
        for name, counts in other.outcomes.items():
            _add_counts(outcomes.setdefault(name, {}), counts)
        sketch_hashes, sketch_values = [], []
        for g in range(len(self.labels)):
            hashes = np.concatenate([self.sketch_hashes[g], other.sketch_hashes[g]])
            values = np.concatenate([self.sketch_values[g], other.sketch_values[g]])
            keep = _bottom(hashes, SKETCH_ROWS)
            sketch_hashes.append(hashes[keep])
            sketch_values.append(values[keep])
        return SegmentStats(
            labels=self.labels,
            numeric=self.numeric,
            counts=self.counts + other.counts,
            observed=total,
            mean=mean,
            m2=m2,
            low=np.minimum(self.low, other.low),
            high=np.maximum(self.high, other.high),
            centroid_sums=self.centroid_sums + other.centroid_sums,
            categories=categories,
            outcomes=outcomes,
            sketch_hashes=sketch_hashes,
            sketch_values=sketch_values,
        )

    def population(self) -> SegmentStats:
        """The statistics of all segments together, as one group (label 0)."""
        parts = [self._group(g) for g in range(len(self.labels))]
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part)
        return merged

    def _group(self, g: int) -> SegmentStats:
        def pick(a: np.ndarray) -> np.ndarray:
            return a[g : g + 1].copy()

        return SegmentStats(
            labels=(0,),
            numeric=self.numeric,
            counts=pick(self.counts),
            observed=pick(self.observed),
            mean=pick(self.mean),
            m2=pick(self.m2),
            low=pick(self.low),
            high=pick(self.high),
            centroid_sums=pick(self.centroid_sums),
            categories={n: {k: pick(v) for k, v in c.items()} for n, c in self.categories.items()},
            outcomes={n: {k: pick(v) for k, v in c.items()} for n, c in self.outcomes.items()},
            sketch_hashes=[self.sketch_hashes[g]],
            sketch_values=[self.sketch_values[g]],
        )


def _bottom(hashes: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest hashes, in hash order (ties: identical rows)."""
    if hashes.size <= k:
        return np.argsort(hashes, kind="stable")
    part = np.argpartition(hashes, k - 1)[:k]
    return part[np.argsort(hashes[part], kind="stable")]


def _ranked(counts: dict[str, np.ndarray]) -> list[str]:
    """Labels by count (descending), ties by label: the order the in-memory profiles show."""
    return sorted(counts, key=lambda label: (-int(counts[label].sum()), label))


def _summary(stats: SegmentStats, g: int, j: int) -> NumericSummary | None:
    n = int(stats.observed[g, j])
    if n == 0:
        return None
    sketch = stats.sketch_values[g][:, j]
    sketch = sketch[~np.isnan(sketch)]
    q1, q2, q3 = np.percentile(sketch, [25, 50, 75]) if sketch.size else (np.nan,) * 3
    return NumericSummary(
        mean=float(stats.mean[g, j]),
        median=float(q2),
        q1=float(q1),
        q3=float(q3),
        min=float(stats.low[g, j]),
        max=float(stats.high[g, j]),
        std=math.sqrt(max(float(stats.m2[g, j]) / n, 0.0)),
    )


def _mix(counts: dict[str, np.ndarray], g: int, total: int, ranked: list[str]) -> dict[str, float]:
    shown, rest = ranked[:MAX_CATEGORIES_SHOWN], ranked[MAX_CATEGORIES_SHOWN:]
    result = {label: float(counts[label][g]) / max(total, 1) for label in shown}
    if rest:
        result[OTHER_LABEL] = sum(float(counts[label][g]) for label in rest) / max(total, 1)
    return result


def _rate(counts: dict[str, np.ndarray], g: int, level: str | None) -> OutcomeRate:
    total = int(sum(int(c[g]) for c in counts.values()))
    shares = {label: float(c[g]) / total for label, c in sorted(counts.items())} if total else {}
    return OutcomeRate(
        level=level,
        rate=shares.get(level, 0.0 if total else None) if level is not None else None,
        shares=shares,
        known=total,
    )


def apply_segment_stats(segments: SegmentSet, stats: SegmentStats) -> SegmentSet:
    """``segments`` with sizes, shares, numeric summaries, category mixes, outcome rates and
    centroids taken from ``stats`` (every row), names and description details kept.

    The description's opening (``"1,234 customers (12.3%)"``) is rewritten with the exact
    size and share.

    Examples
    --------
    >>> from shared.contract.profiles import SegmentProfile
    >>> s = SegmentSet(algorithm="kmeans", k=1, n_segments=1, segments=[SegmentProfile(
    ...     segment_id=0, label=0, name="All", description="2 customers (100.0%): all.",
    ...     size=2, share=1.0)])
    >>> feats = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> st = SegmentStats.from_rows((0,), np.zeros(3, int), feats, np.zeros((3, 1)),
    ...                             np.arange(3, dtype=np.uint64), numeric=["x"], categorical=[])
    >>> out = apply_segment_stats(s, st)
    >>> out.segments[0].size, out.segments[0].description, out.population["x"].mean
    (3, '3 customers (100.0%): all.', 2.0)
    """
    n = int(stats.counts.sum())
    population = stats.population()
    position = {label: g for g, label in enumerate(stats.labels)}
    pop_numeric: dict[str, NumericSummary] = {}
    for j, name in enumerate(stats.numeric):
        summary = _summary(population, 0, j)
        if summary is not None:
            pop_numeric[name] = summary
    ranked = {name: _ranked(counts) for name, counts in population.categories.items()}
    levels = {name: rate.level for name, rate in segments.population_outcomes.items()}
    profiles = []
    for segment in segments.segments:
        g = position.get(segment.label)
        if g is None:  # a segment no row was assigned to
            size = 0
            numeric = dict(segment.numeric)
            mix = dict(segment.categorical)
            outcomes = dict(segment.outcomes)
            centroid = segment.centroid
        else:
            size = int(stats.counts[g])
            numeric = {}
            for j, name in enumerate(stats.numeric):
                summary = _summary(stats, g, j)
                overall = pop_numeric.get(name)
                if overall is None:
                    continue
                if summary is None:
                    summary = overall.model_copy()
                elif overall.std > 0:
                    summary.z = (summary.mean - overall.mean) / overall.std
                numeric[name] = summary
            mix = {
                name: _mix(counts, g, size, ranked[name])
                for name, counts in stats.categories.items()
            }
            outcomes = {
                name: _rate(counts, g, levels.get(name)) for name, counts in stats.outcomes.items()
            }
            centroid = [float(v) for v in stats.centroid_sums[g] / max(size, 1)]
        share = size / n if n else 0.0
        before = _who(segment.size, segment.share)
        description = segment.description
        if description.startswith(before):
            description = _who(size, share) + description[len(before) :]
        profiles.append(
            segment.model_copy(
                update={
                    "size": size,
                    "share": share,
                    "numeric": numeric,
                    "categorical": mix,
                    "outcomes": outcomes,
                    "centroid": centroid,
                    "description": description,
                }
            )
        )
    return segments.model_copy(
        update={
            "segments": profiles,
            "population": pop_numeric,
            "population_categorical": {
                name: _mix(counts, 0, n, ranked[name])
                for name, counts in population.categories.items()
            },
            "population_outcomes": {
                name: _rate(counts, 0, levels.get(name))
                for name, counts in population.outcomes.items()
            },
        }
    )


def _who(size: int, share: float) -> str:
    """The opening of a description (``shared.engine.naming.describe``)."""
    return f"{size:,} customer{'s' if size != 1 else ''} ({share:.1%})"
