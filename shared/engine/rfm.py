"""Segment names in the language of RFM (recency, frequency, monetary) for order-line uploads.

Marketers name RFM segments with a standard map (Champions, Loyal customers, At risk, Cannot
lose them, Hibernating...). When a version was trained on customers aggregated from order lines
(:mod:`shared.engine.transactions`), each segment gets such a name; the generated descriptive
name stays in ``descriptive_name``.

Scores (1-5, 5 best) place a segment's typical customer (its median) in the whole population:

- **R** = 1 + floor(5 x share of customers whose last purchase is *older* than the segment's
  median recency), capped at 5;
- **F** and **M** = 1 + floor(5 x share of customers with *fewer* orders / a *smaller* net
  amount than the segment's median), capped at 5;
- **FM** = (F + M) / 2 rounded half up (F alone without amounts);
- **T** (tenure) = 1 + floor(5 x share of customers whose first purchase is *more recent* than
  the segment's median first purchase), capped at 5: 1 means among the newest customers.

A segment among the newest customers (T = 1) that is recent (R >= 3) and buys little (FM <= 2)
is **New customers** whatever its R: with many recent buyers in a file, a relative R alone
would call a two-week-old first order "About to sleep".

The map from (R, FM) (:data:`RFM_MAP`, the grid most RFM tools use, with a Lost corner):

====== ======================= ======================================
R      FM                      name
====== ======================= ======================================
5      4-5                     Champions
3-4    4-5                     Loyal customers
4-5    2-3                     Potential loyalists
5      1                       New customers
4      1                       Promising
3      3                       Need attention
3      1-2                     About to sleep
1-2    3-4                     At risk
1-2    5                       Cannot lose them
1-2    1-2 (not 1-1)           Hibernating
1      1                       Lost
====== ======================= ======================================

Two segments with the same name are told apart by value ("higher value" / "lower value", or a
rank when more than two share it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from shared.contract.profiles import RfmScores, SegmentProfile, SegmentSet
from shared.contract.transactions import FREQUENCY, MONETARY, RECENCY, TENURE

__all__ = ["RFM_MAP", "rfm_name", "rfm_named", "rfm_scores"]

RFM_MAP: tuple[tuple[range, range, str], ...] = (
    (range(5, 6), range(4, 6), "Champions"),
    (range(3, 5), range(4, 6), "Loyal customers"),
    (range(4, 6), range(2, 4), "Potential loyalists"),
    (range(5, 6), range(1, 2), "New customers"),
    (range(4, 5), range(1, 2), "Promising"),
    (range(3, 4), range(3, 4), "Need attention"),
    (range(3, 4), range(1, 3), "About to sleep"),
    (range(1, 3), range(3, 5), "At risk"),
    (range(1, 3), range(5, 6), "Cannot lose them"),
    (range(1, 2), range(1, 2), "Lost"),
    (range(1, 3), range(1, 3), "Hibernating"),
)
"""(R scores, FM scores, name): the first row that holds a segment's scores names it."""


def _score(share: float) -> int:
    return min(5, 1 + math.floor(5 * share))


def rfm_scores(
    segment: Mapping[str, np.ndarray], population: Mapping[str, np.ndarray]
) -> RfmScores:
    """The R, F, M scores of one segment against the population.

    Examples
    --------
    >>> population = {"recency_days": np.arange(100.0),
    ...     "frequency": np.repeat([1.0, 2, 5], [60, 30, 10])}
    >>> rfm_scores({"recency_days": np.array([5.0]), "frequency": np.array([5.0])}, population)
    RfmScores(recency=5, frequency=5, monetary=None, value=5, tenure=None)
    """
    recency = float(np.median(segment[RECENCY]))
    r = _score(float(np.mean(population[RECENCY] > recency)))
    f = _score(float(np.mean(population[FREQUENCY] < float(np.median(segment[FREQUENCY])))))
    m: int | None = None
    value = f
    if MONETARY in segment and MONETARY in population:
        median = float(np.median(segment[MONETARY]))
        m = _score(float(np.mean(population[MONETARY] < median)))
        value = math.floor((f + m) / 2 + 0.5)
    t: int | None = None
    if TENURE in segment and TENURE in population:
        t = _score(float(np.mean(population[TENURE] < float(np.median(segment[TENURE])))))
    return RfmScores(recency=r, frequency=f, monetary=m, value=value, tenure=t)


def rfm_name(scores: RfmScores) -> str:
    """The map's name for a segment's scores.

    Examples
    --------
    >>> rfm_name(RfmScores(recency=1, frequency=5, monetary=5, value=5))
    'Cannot lose them'
    >>> rfm_name(RfmScores(recency=3, frequency=1, monetary=2, value=2, tenure=1))
    'New customers'
    """
    if scores.tenure == 1 and scores.recency >= 3 and scores.value <= 2:
        return "New customers"
    for recency, value, name in RFM_MAP:
        if scores.recency in recency and scores.value in value:
            return name
    raise AssertionError(f"RFM_MAP misses R={scores.recency} FM={scores.value}")


def rfm_named(
    segments: SegmentSet, labels: np.ndarray, population: Mapping[str, np.ndarray]
) -> SegmentSet:
    """The segment set with RFM names (descriptive names kept in ``descriptive_name``).

    Parameters
    ----------
    segments : SegmentSet
        One model's profiled segments.
    labels : ndarray of int
        The model's internal label of every customer (rows of ``population``).
    population : mapping of str to ndarray
        ``recency_days``, ``frequency`` and (optionally) ``monetary`` of every customer.
    """
    named: list[tuple[SegmentProfile, RfmScores | None]] = []
    for profile in segments.segments:
        if profile.is_outlier or profile.size == 0:
            named.append((profile, None))
            continue
        rows = labels == profile.label
        scores = rfm_scores({k: v[rows] for k, v in population.items()}, population)
        named.append((profile, scores))
    names = [rfm_name(s) if s is not None else p.name for p, s in named]
    names = _tell_apart(names, [s for _, s in named])
    out = [
        p
        if s is None
        else p.model_copy(update={"name": name, "descriptive_name": p.name, "rfm": s})
        for (p, s), name in zip(named, names, strict=True)
    ]
    return segments.model_copy(update={"segments": out})


def _tell_apart(names: list[str], scores: list[RfmScores | None]) -> list[str]:
    out = list(names)
    for name in set(names):
        group = [i for i, n in enumerate(names) if n == name and scores[i] is not None]
        if len(group) < 2:
            continue
        ranked = sorted(group, key=lambda i: _value_key(scores[i]), reverse=True)
        for rank, i in enumerate(ranked):
            if len(group) == 2:
                out[i] = f"{name}, {'higher' if rank == 0 else 'lower'} value"
            else:
                out[i] = f"{name} ({rank + 1} of {len(group)} by value)"
    return out


def _value_key(scores: RfmScores | None) -> tuple[int, int, int]:
    assert scores is not None
    return (scores.value, scores.monetary or 0, scores.recency)
