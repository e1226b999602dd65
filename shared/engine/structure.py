"""Structure verdict: do the customers form real groups, or do the segments slice a continuum?

Any clustering algorithm returns segments, even on data without groups. The verdict of a model
(``STRUCTURE_RULE``) weighs two things:

1. **Silhouette band** (Kaufman & Rousseeuw, *Finding Groups in Data*, 1990): below 0.25 no
   substantial structure, 0.25-0.5 weak, 0.5-0.7 reasonable, above 0.7 strong.
2. **Null reference** (in the spirit of the gap statistic, Tibshirani, Walther & Hastie 2001):
   the same step (prepare, then fit that algorithm at that k) run on reference tables that have
   the same columns but no groups: a deterministic sample of the training rows with each column
   permuted independently. A permutation keeps every column's values (its spread, skew,
   categories) and destroys the relationships between columns, which is where groups of
   customers live. The silhouette the algorithm reaches there (``null_silhouette``) is what
   slicing structureless data of this shape scores; the model has to beat it.

The verdict is the band of the model's silhouette, one level lower when the model is no
clearer than on the shuffled table (its silhouette at most ``NULL_MARGIN`` above the null's):
weak becomes none, reasonable becomes weak, strong becomes reasonable.

Why only one level: in the weak band (0.25-0.5) structureless data is common (K-Means on two
independent uniform columns reaches 0.41), and the null tells it apart (0.41 against 0.41:
none). A silhouette of 0.5 or more, however, means well-separated segments; when the shuffled
table reaches it too, the separation comes from single columns' own values (a bimodal column,
a few distinct values, groups lying along the axes) rather than from combinations of columns:
still groups, one level less convincing.

Measured: on independent gaussian or uniform columns every algorithm reaches within about
0.02 of its null; on Mall's income and spending K-Means at k=5 reaches 0.55 against about 0.38
(reasonable); on well-separated blobs in 4 dimensions 0.73 against 0.24 (strong).

A table with a single feature column has no relationships between columns to destroy (its
permutation is the table itself): its verdict is the band alone, without a null reference.

A limit: a table whose columns all follow one common factor (a correlated cloud without groups)
keeps a silhouette well above its permutation null, so its verdict rests on the band alone
(typically weak, which also warns).

Cost: ``NULL_REFERENCES`` reference tables of at most ``NULL_SAMPLE_ROWS`` rows, one fit per
algorithm at its chosen k on each (the tables run side by side on two threads): independent of
the table's size, about a second.

Order invariance: the sample is :func:`shared.engine.clustering.representative_sample`'s, put in
a canonical order (sorted by the prepared rows' values) before the fixed-seed permutations, so
the same rows in any order give the same reference tables.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from shared.contract.config import DatasetConfig
from shared.contract.manifest import STRUCTURE_WORDS, StructureLevel, StructureVerdict
from shared.engine.clustering import fit_candidates, representative_sample
from shared.engine.metrics import SilhouetteSample

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NULL_MARGIN",
    "NULL_REFERENCES",
    "NULL_SAMPLE_ROWS",
    "STRUCTURE_RULE",
    "assess_structure",
    "null_silhouettes",
    "silhouette_band",
    "structure_verdict",
]

logger = logging.getLogger(__name__)

NULL_SAMPLE_ROWS = 2_000
"""Rows of each reference table (a deterministic sample of the training rows)."""
NULL_REFERENCES = 2
"""Reference tables (independent permutations); their silhouettes are averaged. Two tables of
2,000 rows: on Mall, 1, 4 and 10 tables gave null silhouettes within 0.01 of each other."""
NULL_MARGIN = 0.05
"""How far (in silhouette) a model must beat its null reference for its band to stand (the
null varies by about 0.02 between reference tables of 2,000 rows)."""
BANDS: tuple[tuple[float, StructureLevel], ...] = (
    (0.25, "none"),
    (0.50, "weak"),
    (0.70, "reasonable"),
)
"""Kaufman & Rousseeuw's silhouette bands: upper bound (exclusive) of each level."""
LEVELS: tuple[StructureLevel, ...] = ("none", "weak", "reasonable", "strong")

STRUCTURE_RULE = (
    "Kaufman & Rousseeuw silhouette bands (< 0.25 no substantial structure, 0.25-0.5 weak, "
    "0.5-0.7 reasonable, > 0.7 strong), one level lower when the silhouette is at most "
    f"{NULL_MARGIN} above the null reference's: the same algorithm at the same k on "
    f"{NULL_REFERENCES} tables of up to {NULL_SAMPLE_ROWS:,} sampled rows with every column "
    "permuted independently (no groups)"
)


def silhouette_band(silhouette: float | None) -> StructureLevel:
    """Kaufman & Rousseeuw's band of a silhouette (None: no segments, so none).

    Examples
    --------
    >>> [silhouette_band(s) for s in (0.1, 0.25, 0.55, 0.7, 0.71, None)]
    ['none', 'weak', 'reasonable', 'strong', 'strong', 'none']
    """
    if silhouette is None:
        return "none"
    for upper, level in BANDS:
        if silhouette < upper:
            return level
    return "strong"


def structure_verdict(
    silhouette: float | None,
    null_silhouette: float | None,
    *,
    null_rows: int = 0,
    null_references: int = 0,
) -> StructureVerdict:
    """The verdict of a model from its silhouette and its null reference's (see the module).

    Examples
    --------
    >>> structure_verdict(0.55, 0.38).verdict
    'reasonable'
    >>> structure_verdict(0.41, 0.41).verdict  # no clearer than shuffled columns
    'none'
    >>> structure_verdict(0.58, 0.55).verdict  # well apart, but along single columns' values
    'weak'
    >>> structure_verdict(0.75, 0.72).verdict
    'reasonable'
    """
    band = silhouette_band(silhouette)
    common = {
        "band": band,
        "silhouette": silhouette,
        "null_silhouette": null_silhouette,
        "null_rows": null_rows,
        "null_references": null_references,
    }
    if silhouette is None:
        return StructureVerdict(
            verdict="none", reason="fewer than two segments: no groups to measure", **common
        )
    verdict = band
    reason = f"silhouette {silhouette:.2f}: {STRUCTURE_WORDS[band]} by Kaufman & Rousseeuw's bands"
    if null_silhouette is not None:
        lift = silhouette - null_silhouette
        if lift <= NULL_MARGIN:
            verdict = LEVELS[max(0, LEVELS.index(band) - 1)]
            reason += (
                f"; the same algorithm reaches {null_silhouette:.2f} on the same columns shuffled "
                f"independently (no groups), so the segments are no clearer than that: "
                f"{STRUCTURE_WORDS[verdict]}"
            )
        else:
            reason += f", {lift:.2f} above the same algorithm on shuffled columns"
    return StructureVerdict(verdict=verdict, reason=reason, **common)


def _canonical(X: np.ndarray) -> np.ndarray:
    """Order of the rows of ``X`` sorted by their values (first column first): the same for
    any input order of the same rows.

    Examples
    --------
    >>> _canonical(np.array([[2.0, 0], [1, 5], [1, 3]])).tolist()
    [2, 1, 0]
    """
    return np.lexsort(X.T[::-1]) if X.shape[0] else np.arange(0)


def _reference_silhouettes(
    reference: np.ndarray,
    chosen: Mapping[str, int | None],
    config: DatasetConfig,
    random_state: int,
) -> dict[str, float]:
    """Each algorithm's silhouette at its k on one reference table (0 below two segments)."""
    scorer = SilhouetteSample(reference, np.arange(reference.shape[0]))
    scores: dict[str, float] = {}
    for algorithm, k in chosen.items():
        if k is not None and k >= reference.shape[0]:
            continue
        one = config.model_copy(
            update={"algorithms": [algorithm], "k_min": k or 2, "k_max": k or 2}
        )
        fit = fit_candidates(reference, one, random_state=random_state)[algorithm]
        score = scorer.score(fit.model(k).labels)
        scores[algorithm] = 0.0 if score is None else float(score)
    return scores


def null_silhouettes(
    features: pd.DataFrame,
    prepare: Callable[[pd.DataFrame], np.ndarray],
    X: np.ndarray,
    chosen: Mapping[str, int | None],
    config: DatasetConfig,
    *,
    random_state: int = 0,
) -> tuple[dict[str, float | None], int]:
    """Silhouette of each algorithm at its chosen k on tables without groups (see the module).

    Parameters
    ----------
    features : pandas.DataFrame
        The typed training features (``CleanTable.features``), one row per row of ``X``.
    prepare : callable
        The fitted preparation: typed features -> prepared matrix (as the training matrix was).
    X : ndarray of shape (n, d)
        The prepared training matrix (for the canonical order of the sample).
    chosen : mapping
        Algorithm -> its chosen k (None for DBSCAN).
    config : DatasetConfig
        The run's config (the fits use it as the training fits do).
    random_state : int
        Seed of the sample, the permutations and the fits.

    Returns
    -------
    (dict, int)
        Algorithm -> mean silhouette over the reference tables (noise counted as in training;
        0 on a table where the algorithm finds fewer than two segments; None when the table is
        too small for that k, and for every algorithm when the table has a single feature
        column), and the rows of each reference table.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> null, rows = null_silhouettes(frame, lambda f: f.to_numpy(), frame.to_numpy(),
    ...                               {"kmeans": 3}, DatasetConfig())
    >>> rows, 0.15 < null["kmeans"] < 0.4
    (300, True)
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    if not chosen or features.shape[1] < 2:
        return dict.fromkeys(chosen), 0
    index = representative_sample(int(X.shape[0]), NULL_SAMPLE_ROWS, random_state=random_state)
    index = index[_canonical(X[index])]
    sample = features.iloc[index].reset_index(drop=True)
    rng = np.random.default_rng(random_state)
    references = []
    for _ in range(NULL_REFERENCES):
        shuffled = sample.copy()
        for name in sample.columns:
            shuffled[name] = sample[name].to_numpy()[rng.permutation(len(sample))]
        references.append(np.ascontiguousarray(prepare(shuffled), dtype=np.float64))
    # The tables are independent small fits: one per core. Warning filters and the BLAS thread
    # count are process-wide, so they are set once around both threads (as the training fits).
    with (
        warnings.catch_warnings(),
        threadpool_limits(limits=1, user_api="blas"),
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="null") as pool,
    ):
        warnings.simplefilter("ignore")
        results = list(
            pool.map(
                lambda reference: _reference_silhouettes(reference, chosen, config, random_state),
                references,
            )
        )
    null: dict[str, float | None] = {}
    for algorithm in chosen:
        values = [r[algorithm] for r in results if algorithm in r]
        null[algorithm] = float(np.mean(values)) if values else None
    return null, len(sample)


def assess_structure(
    features: pd.DataFrame,
    prepare: Callable[[pd.DataFrame], np.ndarray],
    X: np.ndarray,
    chosen: Mapping[str, tuple[int | None, float | None]],
    config: DatasetConfig,
    *,
    random_state: int = 0,
) -> dict[str, StructureVerdict]:
    """The structure verdict of each algorithm's chosen model.

    Parameters
    ----------
    features, prepare, X, config, random_state
        As for :func:`null_silhouettes`.
    chosen : mapping
        Algorithm -> (its chosen k, None for DBSCAN; its silhouette, None below two segments).
        Models without a silhouette get the verdict "none" without a null reference.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> centres = np.repeat([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0], [-6.0, 6.0, -6.0]], 100, axis=0)
    >>> frame = pd.DataFrame(centres + rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> verdict = assess_structure(frame, lambda f: f.to_numpy(), frame.to_numpy(),
    ...                            {"kmeans": (3, 0.77)}, DatasetConfig())["kmeans"]
    >>> verdict.verdict, round(verdict.null_silhouette, 1)
    ('strong', 0.3)
    """
    measured = {a: k for a, (k, silhouette) in chosen.items() if silhouette is not None}
    null, rows = null_silhouettes(features, prepare, X, measured, config, random_state=random_state)
    verdicts = {}
    for algorithm, (_, silhouette) in chosen.items():
        reference = null.get(algorithm)
        verdicts[algorithm] = structure_verdict(
            silhouette,
            reference,
            null_rows=rows if reference is not None else 0,
            null_references=NULL_REFERENCES if reference is not None else 0,
        )
    return verdicts
