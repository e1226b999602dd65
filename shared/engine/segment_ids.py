"""Stable segment ids across versions of a dataset.

A retrain produces segments in an arbitrary order, maybe with another algorithm or k.
:func:`assign_segment_ids` gives the segments of every model of a version ids that mean the same
group of customers as before.

Matching rule (documented once here; the tests pin it):

- **Reference**: the new champion is matched to the current version's **published** segments
  (its champion, ``ProfileCatalog.champion``), whatever their algorithm and k. A catalog
  written before the champion was recorded falls back to the set with the new champion's key.
- **Space**: every segment is described by its numeric means in original units and its category
  shares, each standardized by the **new** population (``(mean - new population mean) / new
  population std``; a category share divided by ``sqrt(p (1 - p))`` of its new population share).
  The previous version's profiles are put in the same space. Working from the profiles in
  original units (not the prepared matrix) keeps the match meaningful when the scaler, the
  imputation or the one-hot layout changed between versions. Only features both versions profiled
  count. When they share none, the centroids on the common prepared feature names are used.
- **Distance**: root-mean-square difference per feature; a categorical feature's categories share
  one feature's weight, so a binary column counts once, not twice.
- **Matching**: Hungarian assignment (``scipy.optimize.linear_sum_assignment``) of new to
  reference segments on the distances, pairs further apart than :data:`MAX_MATCH_DISTANCE` (one
  population standard deviation, RMS over the features) costing more than any valid pair, so
  the most segments match and then the closest; such far pairs are not matches. With another k,
  the extra segments on either side stay unmatched: a merged or split segment keeps its id on
  the side nearest to it.
- **Ids**: a matched segment takes the reference's ``segment_id``; an unmatched (new) one gets
  the next id above the dataset's **high-water mark** (the highest id any version ever used,
  kept in ``profiles.json``), in provisional order (size descending), so a retired id never
  comes back. The "Outliers" segment always keeps -1.
- **Other models of the sweep** (not the champion) are matched, in turn, to the new
  champion's segments (a segment that is one of the published segments shares its id), then
  their remaining segments to the current version's published segments, then to the same
  model's segments in the current version (in both only ids the new champion does not carry:
  those name its segments), and the rest get new ids above the high-water mark. An id
  therefore names one group of customers; non-champion models' extra segments consume ids too.
- **Changes**: the champion's kept, new and retired ids (against the current version's
  champion) are recorded in ``profiles.json`` and the manifest
  (:class:`~shared.contract.profiles.SegmentIdChanges`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from shared.contract.profiles import (
    ProfileCatalog,
    SegmentIdChanges,
    SegmentProfile,
    SegmentSet,
)
from shared.engine.profiling import OTHER_CATEGORY

__all__ = [
    "MAX_MATCH_DISTANCE",
    "assign_segment_ids",
    "high_water_mark",
    "segment_distances",
    "stabilize_segment_ids",
]

logger = logging.getLogger(__name__)

MAX_MATCH_DISTANCE = 1.0
"""Largest RMS standardized distance between two segment centres that still counts as a match."""


def stabilize_segment_ids(
    new: SegmentSet,
    previous: SegmentSet | None,
    *,
    feature_names: list[str],
    previous_feature_names: list[str] | None,
    next_id: int | None = None,
) -> SegmentSet:
    """Give the new segments the ids of the previous version's matching segments.

    Parameters
    ----------
    new : SegmentSet
        The freshly built segments (provisional ids 0..k-1).
    previous : SegmentSet or None
        The segments to match against (any algorithm and k); None keeps ``new`` unchanged
        unless ``next_id`` is given (then every segment is new).
    feature_names : list of str
        Prepared-space feature names of ``new`` (centroid order), for the fallback space.
    previous_feature_names : list of str or None
        Prepared-space feature names of ``previous``.
    next_id : int, optional
        First id for unmatched segments (the dataset's high-water mark + 1); default one above
        every id of ``previous``.

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
    if previous is None and next_id is None:
        return new
    references = [] if previous is None else [(previous, previous_feature_names)]
    if next_id is None:
        next_id = high_water_mark([previous] if previous is not None else []) + 1
    result, _ = _match_and_number(new, references, feature_names=feature_names, next_id=next_id)
    return result


def high_water_mark(sets: list[SegmentSet], recorded: int | None = None) -> int:
    """The highest segment id among ``sets`` and ``recorded`` (-1 when there is none).

    Examples
    --------
    >>> high_water_mark([], recorded=None), high_water_mark([], recorded=12)
    (-1, 12)
    """
    ids = [s.segment_id for each in sets for s in each.segments if not s.is_outlier]
    return max([*ids, -1 if recorded is None else recorded])


def _match_and_number(
    new: SegmentSet,
    references: list[tuple[SegmentSet, list[str] | None]],
    *,
    feature_names: list[str],
    next_id: int,
    reserved: frozenset[int] = frozenset(),
) -> tuple[SegmentSet, int]:
    """Match ``new`` to each reference in turn, then number the rest from ``next_id``.

    A reference segment is skipped when its id is already taken in ``new`` or, after the
    first reference, is in ``reserved`` (ids that name other segments in this version).
    Returns the renumbered set and the next free id.
    """
    new_regular = [s for s in new.segments if not s.is_outlier]
    matched: dict[int, int] = {}  # index in new_regular -> inherited segment_id
    for position, (reference, reference_features) in enumerate(references):
        free = [
            s
            for s in reference.segments
            if not s.is_outlier
            and s.segment_id not in matched.values()
            and (position == 0 or s.segment_id not in reserved)
        ]
        open_rows = [i for i in range(len(new_regular)) if i not in matched]
        if not free or not open_rows:
            continue
        distances = segment_distances(
            new.model_copy(update={"segments": [new_regular[i] for i in open_rows]}),
            reference.model_copy(update={"segments": free}),
            feature_names=feature_names,
            previous_feature_names=reference_features,
        )
        if distances is None:
            logger.warning("no common feature with the reference segments: none is matched")
            continue
        from scipy.optimize import linear_sum_assignment

        # Far pairs cost more than any valid one: first the most matches, then the closest.
        far = float(distances.max()) * (len(open_rows) + len(free)) + 1.0
        cost = np.where(distances <= MAX_MATCH_DISTANCE, distances, far)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if distances[r, c] <= MAX_MATCH_DISTANCE:
                matched[open_rows[int(r)]] = free[int(c)].segment_id
            else:
                logger.info(
                    "segment %r is new: nearest free reference %r is %.2f away (limit %.2f)",
                    new_regular[open_rows[int(r)]].name,
                    free[int(c)].name,
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
    return new.model_copy(update={"segments": [*renumbered, *outliers]}), next_id


def assign_segment_ids(
    sets: Mapping[str, SegmentSet],
    *,
    champion: str,
    previous: ProfileCatalog | None,
    feature_names: list[str],
) -> tuple[dict[str, SegmentSet], SegmentIdChanges]:
    """Stable ids for every model of a version (see the module rules).

    Parameters
    ----------
    sets : mapping
        Model key -> the freshly built segments (provisional ids).
    champion : str
        Model key of the new champion.
    previous : ProfileCatalog or None
        The dataset's current version's profiles.
    feature_names : list of str
        Prepared-space feature names of this version.

    Returns
    -------
    sets : dict
        Model key -> segments with stable ids (same keys, same order).
    changes : SegmentIdChanges
        The champion's kept, new and retired ids and the new high-water mark.

    Examples
    --------
    >>> from shared.engine.profiling import NumericSummary, SegmentProfile, SegmentSet
    >>> def seg(i, mean):
    ...     s = NumericSummary(mean=mean, median=mean, q1=mean, q3=mean, min=mean, max=mean, std=0)
    ...     return SegmentProfile(segment_id=i, label=i, name=f"s{i}", description="", size=1,
    ...                           share=0.5, numeric={"x": s})
    >>> pop = {"x": NumericSummary(mean=5, median=5, q1=0, q3=10, min=0, max=10, std=5)}
    >>> def many(*means):
    ...     return SegmentSet(algorithm="kmeans", k=len(means), n_segments=len(means),
    ...         population=pop, segments=[seg(i, m) for i, m in enumerate(means)])
    >>> before = ProfileCatalog(sets={"kmeans-k2": many(0.0, 10.0)}, champion="kmeans-k2",
    ...     segment_ids=SegmentIdChanges(high_water=6))
    >>> after, changes = assign_segment_ids({"kmeans-k3": many(0.1, 5.0, 9.9)},
    ...     champion="kmeans-k3", previous=before, feature_names=["x"])
    >>> [(s.name, s.segment_id) for s in after["kmeans-k3"].segments]
    [('s0', 0), ('s2', 1), ('s1', 7)]
    >>> changes.kept, changes.new, changes.retired, changes.high_water
    ([0, 1], [7], [], 7)
    """
    recorded = None
    reference: SegmentSet | None = None
    reference_key: str | None = None
    previous_features: list[str] | None = None
    if previous is not None:
        recorded = previous.segment_ids.high_water if previous.segment_ids else None
        reference_key = previous.champion if previous.champion in previous.sets else champion
        reference = previous.sets.get(reference_key)
        if reference is None:
            reference_key = None
        previous_features = previous.feature_names
    start = high_water_mark(list(previous.sets.values()) if previous else [], recorded)
    next_id = start + 1

    out: dict[str, SegmentSet] = {}
    references: list[tuple[SegmentSet, list[str] | None]] = (
        [] if reference is None else [(reference, previous_features)]
    )
    out[champion], next_id = _match_and_number(
        sets[champion], references, feature_names=feature_names, next_id=next_id
    )
    published = {s.segment_id for s in out[champion].segments if not s.is_outlier}
    for key in sorted(sets):
        if key == champion:
            continue
        own: list[tuple[SegmentSet, list[str] | None]] = [(out[champion], feature_names)]
        if reference is not None:
            own.append((reference, previous_features))
        if previous is not None and key in previous.sets and key != reference_key:
            own.append((previous.sets[key], previous_features))
        out[key], next_id = _match_and_number(
            sets[key],
            own,
            feature_names=feature_names,
            next_id=next_id,
            reserved=frozenset(published),
        )

    before = (
        set()
        if reference is None
        else {s.segment_id for s in reference.segments if not s.is_outlier}
    )
    changes = SegmentIdChanges(
        previous_champion=reference_key,
        kept=sorted(published & before),
        new=sorted(published - before),
        retired=sorted(before - published),
        high_water=max(start, next_id - 1),
    )
    return {key: out[key] for key in sets}, changes


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
