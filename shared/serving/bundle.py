"""The serving bundle: a version's fitted numbers in numpy/JSON form, so the API needs numpy only.

A training run publishes, beside the skops artifacts (which stay the reference and serve every
other use), a *serving bundle*:

- ``serving/params.json``: the format number, the fitted preprocessing
  (:class:`~shared.serving.preprocessing.PreprocessingParams`: column order and roles,
  imputation values, log1p flags, scaler means and scales, one-hot slots) and, per model key
  (``kmeans-k5``,
  ``gmm-k3``, ``dbscan``...), the rule's kind and scalars (``n_features``, DBSCAN's ``eps``) and
  the path of its arrays;
- ``serving/<model_key>.npz``: that model's arrays (centroids, outlier thresholds, mixture
  weights/means/precision Cholesky factors, core samples and their labels), written as a plain
  ``.npz`` of ``.npy`` files (no object arrays) and read with ``np.load(allow_pickle=False)``:
  nothing in it can execute code.

Every file is listed in the manifest with its sha256 like the other artifacts and is verified
before it is parsed. The validation rules (types, ranges, categories, date references) come from
the manifest's schema. The bundle is mandatory: the API serves every version from it and
refuses a version without one (the skops artifacts beside it are the reviewed reference, read by
the tests' oracle, the CLI and the benchmark, never by the API).

The rules (:mod:`shared.serving.rules`) call the very kernels :mod:`shared.engine.assigners`'s
estimators call (:mod:`shared.serving.kernels`), so labels, distances, confidences and
probabilities are identical; ``tests/unit/test_serving.py`` checks that against the oracle on the
Mall data for every algorithm and every k. :mod:`shared.engine.bundle` writes the bundle; this
module reads it, with the standard library only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from shared.contract.layout import SERVING_PARAMS_PATH
from shared.exceptions import ArtifactError
from shared.quoting import quote_value
from shared.serving.preprocessing import PreprocessingParams

logger = logging.getLogger(__name__)

SERVING_FORMAT = 1
"""Version of the bundle layout; a reader refuses a bundle of another format."""


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServingParams:
    """``serving/params.json``, parsed: the preprocessing and each bundled model's spec.

    Attributes
    ----------
    preprocessing : PreprocessingParams
        The fitted preprocessing.
    models : dict of str to dict
        Model key -> the rule's spec: ``kind``, ``n_features``, ``arrays`` (the ``.npz`` path)
        and the rule's scalars (DBSCAN's ``eps``).
    """

    preprocessing: PreprocessingParams
    models: dict[str, dict[str, Any]]

    def to_json(self) -> bytes:
        """The document's bytes: sorted keys, one space indents, no NaN (deterministic).

        Raises
        ------
        ValueError
            When a number is not finite (JSON has no NaN).

        Examples
        --------
        >>> empty = PreprocessingParams((), 0, (), ())
        >>> read_serving_params(ServingParams(empty, {}).to_json()).models
        {}
        """
        doc = {
            "format": SERVING_FORMAT,
            "preprocessing": self.preprocessing.to_dict(),
            "models": self.models,
        }
        return json.dumps(doc, allow_nan=False, sort_keys=True, indent=1).encode("utf-8")


def read_serving_params(data: bytes) -> ServingParams:
    """Parse ``serving/params.json``.

    Raises
    ------
    ArtifactError
        When the document is not JSON, is of another format, lacks its sections, or its
        preprocessing is malformed (every message names the file).

    Examples
    --------
    >>> doc = (b'{"format": 1, "models": {}, "preprocessing": {"columns": [], "n_outputs": 0,'
    ...        b' "numeric": [], "categorical": []}}')
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
            f"{SERVING_PARAMS_PATH} has format {quote_value(found)}; this reader knows "
            f"{SERVING_FORMAT}"
        )
    preprocessing, models = doc.get("preprocessing"), doc.get("models")
    if not isinstance(preprocessing, dict) or not isinstance(models, dict):
        raise ArtifactError(f"{SERVING_PARAMS_PATH} lacks its 'preprocessing' or 'models' object")
    if not all(isinstance(spec, dict) for spec in models.values()):
        raise ArtifactError(f"{SERVING_PARAMS_PATH}: every model spec must be an object")
    try:
        params = PreprocessingParams.from_dict(preprocessing)
    except ValueError as e:
        raise ArtifactError(f"{SERVING_PARAMS_PATH} refused: {e}") from e
    return ServingParams(preprocessing=params, models=models)
