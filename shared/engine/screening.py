"""Feature screening: columns that should not drive the segmentation, each with its reason.

Two screens run after the roles are inferred (:func:`shared.engine.schema.clean_training_table`
applies them; the dataset config overrides both):

Outcome-like columns
    A column whose name has an outcome word (:data:`OUTCOME_WORDS`, or a word starting with
    one of :data:`OUTCOME_PREFIXES`; the name is split into words at spaces, punctuation,
    digits and camelCase boundaries and compared case-insensitively, so ``AcceptedCmp3``,
    ``is_churned`` and ``Response`` match but ``Days``, ``Year`` and ``Tenure`` do not) and at
    most :data:`OUTCOME_MAX_LEVELS` distinct values is what a campaign or churn model predicts,
    not how customers behave: it is left out of clustering and reported per segment as a rate
    (``SegmentProfile.outcomes``). The config's ``outcomes`` names them explicitly (then no
    name is guessed); ``outcomes: []`` turns the screen off; a column in the config's
    ``features`` is never screened out.

Near-duplicate numeric columns
    Two numeric (or date) features whose Spearman rank correlation is at least
    :data:`DUPLICATE_RHO` in absolute value (``r = -1`` pairs included) measure the same thing
    and would count it twice in every distance. One of them is kept: the one with fewer
    missing values, ties broken by file order (the first column wins). The other is left out
    with a reason naming its twin. The correlation is computed on a bounded, deterministic
    sample of at most :data:`SCREEN_SAMPLE_ROWS` rows chosen by a hash of each row's values (so
    the same rows in any order give the same sample), pairwise-complete when values are
    missing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.quoting import quote_value

__all__ = [
    "DUPLICATE_RHO",
    "OUTCOME_MAX_LEVELS",
    "OUTCOME_PREFIXES",
    "OUTCOME_WORDS",
    "SCREEN_SAMPLE_ROWS",
    "NearDuplicate",
    "name_words",
    "near_duplicates",
    "outcome_word",
    "positive_level",
]

logger = logging.getLogger(__name__)

OUTCOME_MAX_LEVELS = 10
"""Most distinct values an outcome-like column may have (binary flags and small label sets)."""
OUTCOME_WORDS = frozenset({"y", "label", "labels", "outcome", "outcomes", "target", "targets"})
"""Whole words that name an outcome (``y`` only as a whole word, never inside ``days``)."""
OUTCOME_PREFIXES = (
    "accepted",
    "attrition",
    "attrited",
    "churn",
    "complain",
    "conversion",
    "convert",
    "default",
    "exited",
    "respond",
    "response",
)
"""Word beginnings that name an outcome: ``churned``, ``AcceptedCmp1``, ``complaints``..."""
DUPLICATE_RHO = 0.95
"""|Spearman rho| from which two numeric columns are near-duplicates."""
SCREEN_SAMPLE_ROWS = 5_000
"""Rows the rank correlations are computed on (a standard error of about 0.001 near 0.95)."""

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_POSITIVE = ("1", "true", "yes", "y", "t")


def name_words(name: str) -> list[str]:
    """Lower-case words of a column name: camelCase, digits, spaces and punctuation split.

    Examples
    --------
    >>> name_words("AcceptedCmp3"), name_words("is_churned"), name_words("NumWebVisitsMonth")
    (['accepted', 'cmp', '3'], ['is', 'churned'], ['num', 'web', 'visits', 'month'])
    """
    return [w.lower() for w in _WORDS.findall(name)]


def outcome_word(name: str) -> str | None:
    """The word that makes ``name`` look like an outcome column, or None.

    Examples
    --------
    >>> [outcome_word(n) for n in ("Churn", "AcceptedCmp1", "y", "Response", "Complain")]
    ['churn', 'accepted', 'y', 'response', 'complain']
    >>> [outcome_word(n) for n in ("Days", "Year", "Tenure", "yearly_spend", "Recency")]
    [None, None, None, None, None]
    """
    for word in name_words(name):
        if word in OUTCOME_WORDS:
            return word
        for prefix in OUTCOME_PREFIXES:
            if word.startswith(prefix):
                return prefix
    return None


def positive_level(levels: Sequence[str], counts: Sequence[int]) -> str | None:
    """The level whose share is reported as an outcome's rate, or None (not binary).

    A two-level outcome counts the level that reads as "yes" (``1``, ``true``, ``yes``,
    ``y``, ``t``, case-insensitive); failing that, the rarer level (ties: the later one in
    sorted order). Outcomes with more levels report every level's share and no single rate.

    Examples
    --------
    >>> positive_level(["0", "1"], [70, 30]), positive_level(["No", "Yes"], [10, 90])
    ('1', 'Yes')
    >>> positive_level(["Stayed", "Left"], [80, 20]), positive_level(["a", "b", "c"], [1, 1, 1])
    ('Left', None)
    """
    if len(levels) != 2:
        return None
    for level in levels:
        if level.strip().lower() in _POSITIVE:
            return level
    # min keeps the first minimum it meets: iterating in reverse sorted order, ties go to the
    # later level
    pairs = sorted(zip(levels, counts, strict=True))
    return min(reversed(pairs), key=lambda pair: pair[1])[0]


@dataclass(frozen=True)
class NearDuplicate:
    """A column left out as a near-duplicate of ``twin`` (kept), with their Spearman rho."""

    column: str
    twin: str
    rho: float

    @property
    def reason(self) -> str:
        """The manifest reason, naming the twin."""
        return (
            f"near-duplicate of {quote_value(self.twin)} (Spearman rho {self.rho:+.2f}, "
            f"|rho| >= {DUPLICATE_RHO:g}): {quote_value(self.twin)} is kept"
        )


def screening_sample(frame: pd.DataFrame, size: int = SCREEN_SAMPLE_ROWS) -> np.ndarray:
    """Sorted row positions of at most ``size`` rows, chosen by a hash of each row's values.

    The rows with the smallest hashes win, so the sample depends on the rows, not their order.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": range(10)})
    >>> s = screening_sample(frame, 4)
    >>> len(s), sorted(frame["a"].to_numpy()[s]) == sorted(
    ...     frame["a"].to_numpy()[::-1][screening_sample(frame.iloc[::-1], 4)])
    (4, True)
    """
    n = len(frame)
    if n <= size:
        return np.arange(n, dtype=np.int64)
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    chosen = np.argpartition(hashes, size - 1)[:size]
    return np.sort(chosen).astype(np.int64)


def near_duplicates(
    frame: pd.DataFrame, order: Sequence[str], *, threshold: float = DUPLICATE_RHO
) -> list[NearDuplicate]:
    """Columns of ``frame`` that nearly duplicate another one, with the twin each one keeps.

    Parameters
    ----------
    frame : DataFrame
        Numeric columns (float, NaN missing), one row per customer.
    order : sequence of str
        The columns in order of preference to keep (fewer missing values first, then file
        order); only these are screened.
    threshold : float
        |Spearman rho| from which two columns are near-duplicates.

    Returns
    -------
    list of NearDuplicate
        One per column left out, in ``order``. A column is kept unless it nearly duplicates an
        already kept column; its twin is the kept column it correlates with most.

    Examples
    --------
    >>> frame = pd.DataFrame({"spend": [1.0, 2, 3, 4, 5], "refund": [9.0, 7, 5, 3, 1],
    ...                       "visits": [3.0, 1, 4, 1, 5]})
    >>> [(d.column, d.twin, d.rho) for d in near_duplicates(frame, ["spend", "refund", "visits"])]
    [('refund', 'spend', -1.0)]
    """
    names = [n for n in order if n in frame.columns]
    if len(names) < 2:
        return []
    sample = frame[names].iloc[screening_sample(frame[names])]
    if sample.isna().to_numpy().any():
        rho = sample.corr(method="spearman", min_periods=3).to_numpy()
    else:
        ranks = sample.rank().to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.corrcoef(ranks, rowvar=False)
        rho = np.atleast_2d(rho)
    kept: list[int] = []
    out: list[NearDuplicate] = []
    for j, name in enumerate(names):
        strength = [(abs(rho[j, i]), i) for i in kept if np.isfinite(rho[j, i])]
        twin = max(strength, default=None)
        if twin is not None and twin[0] >= threshold:
            value = float(np.round(rho[j, twin[1]], 6))
            out.append(NearDuplicate(column=name, twin=names[twin[1]], rho=value))
        else:
            kept.append(j)
    if out:
        logger.info("near-duplicate columns left out: %s", [(d.column, d.twin) for d in out])
    return out
