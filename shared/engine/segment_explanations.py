"""Why each segment: the training-time explanations added to a run's segment profiles.

- every model's segments get a CRM rule with its held-back precision and coverage
  (:mod:`shared.engine.segment_rules`);
- the chosen Gaussian mixture's segments get the mean |SHAP| of their membership probability
  per column (:mod:`shared.engine.membership_shap`).

The per-customer reasons at assign time are the serving side's
(:mod:`shared.serving.explanations`); they need nothing from training beyond the bundle and
the profiles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from shared.contract.manifest import ColumnSchema
from shared.contract.profiles import SegmentSet

__all__ = ["explain_segments"]

logger = logging.getLogger(__name__)


def explain_segments(
    sets: Mapping[str, SegmentSet],
    models: Mapping[str, Any],
    *,
    chosen_gmm: str | None,
    features: pd.DataFrame,
    columns: list[ColumnSchema],
    X: np.ndarray,
    transformer: Any,
    timings: dict[str, float],
    random_state: int = 0,
) -> dict[str, SegmentSet]:
    """The segment sets with their rules (every model) and SHAP values (the chosen GMM).

    Parameters
    ----------
    sets : mapping of str to SegmentSet
        Model key -> profiles (segment ids already assigned).
    models : mapping of str to FittedModel
        Model key -> the fitted model (``labels`` of every row, ``assigner``).
    chosen_gmm : str or None
        Model key of the chosen Gaussian mixture (None: no SHAP stage).
    features, columns, X, transformer
        The run's original-unit features, schema, prepared matrix and fitted preprocessor.
    timings : dict
        The run's stage timings; ``rules`` and ``shap`` are added.

    Examples
    --------
    ``tests/unit/test_segment_explanations.py`` runs it through the training pipeline.
    """
    from shared.engine.membership_shap import membership_shap
    from shared.engine.preprocess import preprocessing_params
    from shared.engine.segment_rules import RuleFeatures, add_segment_rules

    started = time.perf_counter()
    rule_features = RuleFeatures(features, columns)
    out = {
        key: add_segment_rules(
            segments, np.asarray(models[key].labels), rule_features, random_state=random_state
        )
        for key, segments in sets.items()
    }
    timings["rules"] = time.perf_counter() - started
    if chosen_gmm is not None and chosen_gmm in out:
        started = time.perf_counter()
        out[chosen_gmm] = membership_shap(
            out[chosen_gmm],
            models[chosen_gmm].assigner,
            X,
            preprocessing_params(transformer, columns),
            random_state=random_state,
        )
        timings["shap"] = time.perf_counter() - started
    return out
