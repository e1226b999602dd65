"""Stable segment ids across versions of a dataset.

A retrain produces segments in an arbitrary order. :func:`stabilize_segment_ids` matches the new
segments to the previous version's ones so the same customers keep the same ``segment_id``.

Matching rule (documented once here; the tests pin it):

- **Space**: every segment is described by its numeric means in original units and its category
  shares, each standardized by the **new** population (``(mean - new population mean) / new
  population std``; a category share divided by ``sqrt(p (1 - p))`` of its new population share).
  The previous version's profiles are put in the same space. Working from the profiles in
  original units (not the prepared matrix) keeps the match meaningful when the scaler, the
  imputation or the one-hot layout changed between versions. Only features both versions profiled
  count. When they share none, the centroids on the common prepared feature names are used.
- **Distance**: root-mean-square difference per feature; a categorical feature's categories share
  one feature's weight, so a binary column counts once, not twice.
- **Matching**: Hungarian assignment (``scipy.optimize.linear_sum_assignment``) of new to previous
  segments minimizing the total distance. A pair further apart than :data:`MAX_MATCH_DISTANCE`
  (one population standard deviation, RMS over the features) is not a match.
- **Ids**: matched segments take the previous ``segment_id``; unmatched (genuinely new) ones get
  ids above every id the previous set used, in their provisional order (size descending). The
  "Outliers" segment always keeps -1.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from shared.contract.profiles import OUTLIER_SEGMENT_ID, SegmentProfile, SegmentSet
from shared.engine.profiling import OTHER_CATEGORY

__all__ = ["MAX_MATCH_DISTANCE", "segment_distances", "stabilize_segment_ids"]

logger = logging.getLogger(__name__)

MAX_MATCH_DISTANCE = 1.0
"""Largest RMS standardized distance between two segment centres that still counts as a match."""


def stabilize_segment_ids(
    new: SegmentSet,
    previous: SegmentSet | None,
    *,
    feature_names: list[str],
    previous_feature_names: list[str] | None,
) -> SegmentSet:
    """Give the new segments the ids of the previous version's matching segments.

    Parameters
    ----------
    new : SegmentSet
        The freshly built segments (provisional ids 0..k-1).
    previous : SegmentSet or None
        The same model's segments in the previous version; None keeps ``new`` unchanged.
    feature_names : list of str
        Prepared-space feature names of ``new`` (centroid order), for the fallback space.
    previous_feature_names : list of str or None
        Prepared-space feature names of ``previous``.

    Returns
    -------
    SegmentSet
        A copy of ``new`` with stable ``segment_id`` values, segments ordered by id (the
        "Outliers" segment last).

    Examples
    --------
    >>> from shared.contract.profiles import NumericSummary, SegmentProfile, SegmentSet
    >>> def seg(i, mean):
    ...     s = NumericSummary(mean=mean, median=mean, q1=mean, q3=mean, min=mean, max=mean, std=0)
    ...     return SegmentProfile(segment_id=i, label=i, name=f"s{i}", description="", size=1,
    ...                           share=0.5, numeric={"x": s})
    >>> pop = {"x": NumericSummary(mean=5, median=5, q1=0, q3=10, min=0, max=10, std=5)}
    >>> old = SegmentSet(algorithm="kmeans", k=2, n_segments=2, population=pop,
    ...                  segments=[seg(7, 0.0), seg(3, 10.0)])
    >>> new = SegmentSet(algorithm="kmeans", k=2, n_segments=2, population=pop,
    ...                  segments=[seg(0, 9.8), seg(1, 0.1)])
    >>> [(s.name, s.segment_id) for s in stabilize_segment_ids(
    ...     new, old, feature_names=["x"], previous_feature_names=["x"]).segments]
    [('s0', 3), ('s1', 7)]
    """
    if previous is None:
        return new
    new_regular = [s for s in new.segments if not s.is_outlier]
    old_regular = [s for s in previous.segments if not s.is_outlier]
    used_ids = [s.segment_id for s in previous.segments if s.segment_id != OUTLIER_SEGMENT_ID]
    next_id = max(used_ids, default=-1) + 1

    matched: dict[int, int] = {}  # index in new_regular -> previous segment_id
    if new_regular and old_regular:
        distances = segment_distances(
            new,
            previous,
            feature_names=feature_names,
            previous_feature_names=previous_feature_names,
        )
        if distances is None:
            logger.warning("no common feature between versions: every segment counts as new")
        else:
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(distances)
            for r, c in zip(rows, cols, strict=True):
                if distances[r, c] <= MAX_MATCH_DISTANCE:
                    matched[int(r)] = old_regular[c].segment_id
                else:
                    logger.info(
                        "segment %r is new: nearest previous %r is %.2f away (limit %.2f)",
                        new_regular[r].name,
                        old_regular[c].name,
                        distances[r, c],
                        MAX_MATCH_DISTANCE,
                    )

    renumbered: list[SegmentProfile] = []
    for index in sorted(range(len(new_regular)), key=lambda i: new_regular[i].segment_id):
        if index in matched:
            segment_id = matched[index]
        else:
            segment_id, next_id = next_id, next_id + 1
        renumbered.append(new_regular[index].model_copy(update={"segment_id": segment_id}))
    renumbered.sort(key=lambda s: s.segment_id)
    outliers = [s.model_copy() for s in new.segments if s.is_outlier]
    return new.model_copy(update={"segments": [*renumbered, *outliers]})


def segment_distances(
    new: SegmentSet,
    previous: SegmentSet,
    *,
    feature_names: list[str] | None = None,
    previous_feature_names: list[str] | None = None,
) -> np.ndarray | None:
    """RMS standardized distances between new and previous non-outlier segment centres.

    Returns
    -------
    ndarray of shape (n_new, n_previous), or None
        None when the two versions share no feature to compare on.

    Examples
    --------
    >>> from shared.contract.profiles import SegmentSet
    >>> empty = SegmentSet(algorithm="kmeans", k=2, n_segments=0, segments=[])
    >>> segment_distances(empty, empty) is None
    True
    """
    new_regular = [s for s in new.segments if not s.is_outlier]
    old_regular = [s for s in previous.segments if not s.is_outlier]
    a, b, weights = _profile_space(new, new_regular, old_regular)
    if weights.size == 0:
        a, b, weights = _centroid_space(
            new_regular, old_regular, feature_names, previous_feature_names
        )
    if weights.size == 0:
        return None
    n_features = float(weights.sum())
    diff = a[:, None, :] - b[None, :, :]
    return np.asarray(np.sqrt((diff**2 * weights).sum(axis=2) / n_features))


def _profile_space(
    new: SegmentSet, new_regular: list[SegmentProfile], old_regular: list[SegmentProfile]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment centres from the profiles, standardized by the new population."""
    columns: list[tuple[float, float, float]] = []  # (centre, scale, weight) per dimension
    getters: list[tuple[str, str, str | None]] = []  # (kind, feature, category)
    for feature, summary in new.population.items():
        if summary.std > 0 and all(feature in s.numeric for s in [*new_regular, *old_regular]):
            columns.append((summary.mean, summary.std, 1.0))
            getters.append(("numeric", feature, None))
    for feature, mix in new.population_categorical.items():
        if not all(feature in s.categorical for s in [*new_regular, *old_regular]):
            continue
        usable = [c for c, p in mix.items() if 0 < p < 1 and c != OTHER_CATEGORY]
        for category in usable:
            p = mix[category]
            columns.append((p, math.sqrt(p * (1 - p)), 1.0 / len(usable)))
            getters.append(("categorical", feature, category))

    def vector(segment: SegmentProfile) -> list[float]:
        values = []
        for (centre, scale, _), (kind, feature, category) in zip(columns, getters, strict=True):
            if kind == "numeric":
                raw = segment.numeric[feature].mean
            else:
                raw = segment.categorical[feature].get(category or "", 0.0)
            values.append((raw - centre) / scale)
        return values

    weights = np.array([w for _, _, w in columns], dtype=np.float64)
    width = len(columns)
    a = np.array([vector(s) for s in new_regular], dtype=np.float64).reshape(
        len(new_regular), width
    )
    b = np.array([vector(s) for s in old_regular], dtype=np.float64).reshape(
        len(old_regular), width
    )
    return a, b, weights


def _centroid_space(
    new_regular: list[SegmentProfile],
    old_regular: list[SegmentProfile],
    feature_names: list[str] | None,
    previous_feature_names: list[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fallback: centroids in the prepared space, on the prepared features both versions have."""
    empty = np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0)
    if not feature_names or not previous_feature_names:
        return empty
    old_index = {name: i for i, name in enumerate(previous_feature_names)}
    pairs = [(i, old_index[name]) for i, name in enumerate(feature_names) if name in old_index]
    width_new, width_old = len(feature_names), len(previous_feature_names)
    if not pairs or any(len(s.centroid) != width_new for s in new_regular):
        return empty
    if any(len(s.centroid) != width_old for s in old_regular):
        return empty
    new_cols, old_cols = [p[0] for p in pairs], [p[1] for p in pairs]
    a = np.array([s.centroid for s in new_regular], dtype=np.float64)[:, new_cols]
    b = np.array([s.centroid for s in old_regular], dtype=np.float64)[:, old_cols]
    return a, b, np.ones(len(pairs))
