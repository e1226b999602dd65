"""The serving bundle: a version's fitted numbers in numpy/JSON form, so the API needs numpy only.

A training run publishes, beside the skops artifacts (which stay the reference and serve every
other use), a *serving bundle*:

- ``serving/params.json``: the format number, the fitted preprocessing
  (:meth:`shared.engine.preprocess.FastTransform.to_params`: column order and roles, imputation
  values,
  log1p flags, scaler means and scales, one-hot slots) and, per model key (``kmeans-k5``,
  ``gmm-k3``, ``dbscan``...), the rule's kind and scalars (``n_features``, DBSCAN's ``eps``) and
  the path of its arrays;
- ``serving/<model_key>.npz``: that model's arrays (centroids, outlier thresholds, mixture
  weights/means/precision Cholesky factors, core samples and their labels), written as a plain
  ``.npz`` of ``.npy`` files (no object arrays) and read with ``np.load(allow_pickle=False)``:
  nothing in it can execute code.

Every file is listed in the manifest with its sha256 like the other artifacts and is verified
before it is parsed. The validation rules (types, ranges, categories, date references) come from
the manifest's schema, as on the skops path.

The rules below call the very kernels :mod:`shared.engine.assigners`'s estimators call
(:mod:`shared.serving.kernels`: same operations, chunk sizes and thresholds), so labels, distances,
confidences and probabilities are identical; ``tests/unit/test_serving.py`` checks both paths
on the Mall data for every algorithm and every k. This module imports numpy and the standard
library only; the training-side builder imports the engine lazily.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.contract.layout import SERVING_PARAMS_PATH
from shared.exceptions import ArtifactError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

SERVING_FORMAT = 1
"""Version of the bundle layout; a reader refuses a bundle of another format (skops fallback)."""


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServingParams:
    """``serving/params.json``, parsed: the preprocessing and each bundled model's spec."""

    preprocessing: dict[str, Any]
    models: dict[str, dict[str, Any]]


def read_serving_params(data: bytes) -> ServingParams:
    """Parse ``serving/params.json``.

    Raises
    ------
    ArtifactError
        When the document is not JSON, is of another format, or lacks its sections.

    Examples
    --------
    >>> doc = b'{"format": 1, "preprocessing": {}, "models": {}}'
    >>> read_serving_params(doc).models
    {}
    """
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ArtifactError(f"{SERVING_PARAMS_PATH} is not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != SERVING_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ArtifactError(
            f"{SERVING_PARAMS_PATH} has format {found!r}; this reader knows {SERVING_FORMAT}"
        )
    preprocessing, models = doc.get("preprocessing"), doc.get("models")
    if not isinstance(preprocessing, dict) or not isinstance(models, dict):
        raise ArtifactError(f"{SERVING_PARAMS_PATH} lacks its 'preprocessing' or 'models' object")
    if not all(isinstance(spec, dict) for spec in models.values()):
        raise ArtifactError(f"{SERVING_PARAMS_PATH}: every model spec must be an object")
    return ServingParams(preprocessing=preprocessing, models=models)
