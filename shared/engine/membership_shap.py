"""SHAP values of the Gaussian mixture's soft memberships, at training time, on a sample.

The GMM gives every customer a probability of belonging to each segment. Which columns drive
those probabilities? :func:`membership_shap` explains the mixture's ``predict_proba`` (the
serving kernel :func:`shared.serving.kernels.mixture_posteriors`, the very numbers the API
returns) with the ``shap`` library's model-agnostic ``KernelExplainer``:

- the explained customers are :data:`SHAP_ROWS` rows of a representative sample of the training
  rows (all of them when there are fewer);
- the background (the "feature absent" reference) is :data:`BACKGROUND_POINTS` other training
  rows drawn at random (uniform weights; ``shap.kmeans``'s weighted summary was tried and
  refused tables with few distinct rows);
- each customer costs ``2 d + 512`` coalitions of its ``d`` prepared features (all ``2^d - 2``
  when that is fewer: exact for small ``d``);
- above :data:`MAX_FEATURES` prepared features the stage is skipped (the profiles then carry no
  SHAP values and no ``shap_check``), and so it is, with a logged warning, where the ``shap``
  package is missing (an environment older than this requirement; the SHAP tests fail there).

SHAP values are computed per prepared feature and added per input column (a one-hot column's
slots sum into the column: SHAP values are additive). Per segment the result is the mean
absolute SHAP value of *that segment's* membership probability over the explained customers,
per column, largest first (:attr:`shared.contract.profiles.SegmentProfile.shap`). The run's
stage timings carry the seconds this takes (``timings["shap"]``; never in a document, which
stays identical across identical retrains).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np

from shared.contract.profiles import SegmentSet, ShapCheck
from shared.serving.kernels import mixture_posteriors
from shared.serving.preprocessing import PreprocessingParams

__all__ = ["BACKGROUND_POINTS", "MAX_FEATURES", "SHAP_ROWS", "membership_shap"]

logger = logging.getLogger(__name__)

SHAP_ROWS = 100
"""Customers whose memberships are explained (a representative sample)."""
BACKGROUND_POINTS = 20
"""Training rows drawn as the SHAP background."""
EXTRA_COALITIONS = 512
"""Coalitions per customer beyond ``2 d`` (KernelExplainer's default adds 2048)."""
MAX_FEATURES = 64
"""Above this many prepared features the SHAP stage is skipped (logged; no ``shap`` values):
KernelExplainer holds ``coalitions x background x d`` floats per explained customer, 1.4 GB
at 2,000 features."""


def membership_shap(
    segments: SegmentSet,
    assigner: Any,
    X: np.ndarray,
    params: PreprocessingParams,
    *,
    random_state: int = 0,
) -> SegmentSet:
    """``segments`` (a GMM's) with the mean |SHAP| per column of each segment's membership.

    Parameters
    ----------
    segments : SegmentSet
        The mixture's profiles (internal label ``j`` = posterior column ``j``).
    assigner : GaussianMixtureAssigner
        The fitted mixture (``weights_``, ``means_``, ``precisions_cholesky_``, ``labels_``).
    X : ndarray of shape (n, d)
        The prepared training matrix.
    params : PreprocessingParams
        The fitted preprocessing (which input column owns each prepared feature).

    Examples
    --------
    ``tests/unit/test_segment_explanations.py`` checks, on a planted case, that the one column
    separating a segment ranks first.
    """
    if X.shape[1] > MAX_FEATURES:
        logger.info(
            "membership SHAP skipped",
            extra={"features": int(X.shape[1]), "limit": MAX_FEATURES},
        )
        return segments
    try:
        import shap  # numba and llvmlite: imported only when the stage runs
    except ImportError:  # an environment installed before shap joined requirements.txt
        logger.warning("membership SHAP skipped: the shap package is not installed")
        return segments

    from shared.engine.clustering import representative_sample
    from shared.serving.attribution import FeatureGroups

    started = time.perf_counter()
    weights, means = assigner.weights_, assigner.means_
    chol = assigner.precisions_cholesky_

    def predict_proba(rows: np.ndarray) -> np.ndarray:
        _, probabilities, _ = mixture_posteriors(np.asarray(rows, dtype=np.float64), weights,
                                                 means, chol)  # fmt: skip
        assert probabilities is not None
        return probabilities

    n, d = X.shape
    explained = X[representative_sample(n, SHAP_ROWS, random_state=random_state)]
    background = X[representative_sample(n, BACKGROUND_POINTS, random_state=random_state + 1)]
    coalitions = 2 * d + EXTRA_COALITIONS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own notices about background sizes
        explainer = shap.KernelExplainer(predict_proba, background)
        # KernelExplainer samples coalitions from numpy's global generator: seed it for a
        # deterministic run, and give the caller's state back afterwards.
        state = np.random.get_state()
        np.random.seed(random_state)
        try:
            values = np.asarray(explainer.shap_values(explained, nsamples=coalitions, silent=True))
        finally:
            np.random.set_state(state)
    if values.ndim == 2:  # a single output (one component)
        values = values[:, :, None]
    groups = FeatureGroups.from_preprocessing(params)
    per_column = np.einsum("ndk,dm->nmk", values, groups.matrix)
    mean_abs = np.abs(per_column).mean(axis=0)  # (m, k)
    column_of = {label: j for j, label in enumerate(np.asarray(assigner.labels_).tolist())}
    updated = []
    for profile in segments.segments:
        j = column_of.get(profile.label)
        if j is None:
            updated.append(profile)
            continue
        ranked = sorted(
            zip(groups.columns, mean_abs[:, j].tolist(), strict=True), key=lambda p: -p[1]
        )
        updated.append(profile.model_copy(update={"shap": {c: round(v, 6) for c, v in ranked}}))
    seconds = time.perf_counter() - started
    check = ShapCheck(
        method="shap.KernelExplainer on the mixture's predict_proba (prepared features, summed "
        "per input column); mean |SHAP| of each segment's membership probability",
        explained_rows=int(explained.shape[0]),
        background_rows=int(background.shape[0]),
        evaluations=int(min(coalitions, 2**d - 2)) if d < 31 else coalitions,
    )
    logger.info("membership SHAP", extra={"rows": explained.shape[0], "seconds": seconds})
    return segments.model_copy(update={"segments": updated, "shap_check": check})
