"""Write the serving bundle of a version from its fitted preprocessing and assigners."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.contract.layout import SERVING_PARAMS_PATH, serving_arrays_path
from shared.contract.manifest import ColumnSchema
from shared.exceptions import ArtifactError
from shared.serving.bundle import SERVING_FORMAT
from shared.serving.rules import CentroidRule, CoreSampleRule, MixtureRule

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# --- writing (training side) --------------------------------------------------------------------


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A ``.npz`` (zip of ``.npy``) with fixed timestamps: equal arrays give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, value in arrays.items():
            array = io.BytesIO()
            np.lib.format.write_array(array, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, array.getvalue())
    return buffer.getvalue()


def _rule_of(assigner: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Spec and arrays of one fitted assigner of :mod:`shared.engine.assigners`."""
    from shared.engine.assigners import (
        CoreSampleAssigner,
        GaussianMixtureAssigner,
        NearestCentroidAssigner,
    )

    def f(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def i(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    spec: dict[str, Any] = {"n_features": int(assigner.n_features_in_)}
    if isinstance(assigner, NearestCentroidAssigner):
        spec["kind"] = CentroidRule.kind
        return spec, {
            "centroids": f(assigner.centroids_),
            "labels": i(assigner.labels_),
            "thresholds": f(assigner.thresholds_),
        }
    if isinstance(assigner, GaussianMixtureAssigner):
        spec["kind"] = MixtureRule.kind
        spec["covariance_type"] = "full"
        return spec, {
            "weights": f(assigner.weights_),
            "means": f(assigner.means_),
            "precisions_cholesky": f(assigner.precisions_cholesky_),
            "labels": i(assigner.labels_),
            "thresholds": f(assigner.thresholds_),
        }
    if isinstance(assigner, CoreSampleAssigner):
        spec["kind"] = CoreSampleRule.kind
        spec["eps"] = float(assigner.eps)
        arrays = {
            "components": f(assigner.components_),
            "core_labels": i(assigner.core_labels_),
            "labels": i(assigner.labels_),
        }
        weights = getattr(assigner, "feature_weights_", None)
        if weights is not None and not bool(np.all(weights == 1.0)):
            arrays["feature_weights"] = f(weights)
        return spec, arrays
    raise TypeError(f"no serving rule for a {type(assigner).__name__}")


def build_serving_artifacts(
    transformer: Any, columns: list[ColumnSchema], assigners: Mapping[str, Any]
) -> dict[str, bytes]:
    """The serving bundle of a training run: ``serving/params.json`` and one ``.npz`` per model.

    Optional by design: when the preprocessing cannot be expressed (not the shape
    :func:`shared.engine.preprocess.build_preprocessor` makes, or a non-finite parameter) the
    bundle is
    left out with a warning, and a model whose assigner has no serving rule is left out alone;
    the API then serves those from the skops artifacts.

    Parameters
    ----------
    transformer : ColumnTransformer
        The fitted preprocessor (``FittedPreprocessing.transformer``).
    columns : list of ColumnSchema
        The training schema (``CleanTable.columns``).
    assigners : mapping of str to SegmentAssigner
        Model key -> fitted assigner.

    Returns
    -------
    dict of str to bytes
        Relative paths in the version folder -> bytes (empty when no bundle could be made).

    Examples
    --------
    >>> # artifacts.update(build_serving_artifacts(prepared.transformer, table.columns,
    >>> #                                          {"kmeans-k5": assigner}))
    """
    from shared.engine.preprocess import FastTransform

    try:
        preprocessing = FastTransform.from_fitted(transformer, columns).to_params()
    except (TypeError, ValueError, ArtifactError) as e:
        logger.warning("no serving bundle: the preprocessing cannot be expressed (%s)", e)
        return {}
    out: dict[str, bytes] = {}
    models: dict[str, dict[str, Any]] = {}
    for key, assigner in assigners.items():
        try:
            spec, arrays = _rule_of(assigner)
        except (TypeError, AttributeError) as e:
            logger.warning("model %s left out of the serving bundle: %s", key, e)
            continue
        spec["arrays"] = serving_arrays_path(key)
        models[key] = spec
        out[spec["arrays"]] = _npz_bytes(arrays)
    doc = {"format": SERVING_FORMAT, "preprocessing": preprocessing, "models": models}
    try:
        text = json.dumps(doc, allow_nan=False, sort_keys=True, indent=1)
    except ValueError as e:
        logger.warning("no serving bundle: a fitted parameter is not finite (%s)", e)
        return {}
    out[SERVING_PARAMS_PATH] = text.encode("utf-8")
    return out
