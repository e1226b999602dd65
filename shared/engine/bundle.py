"""Write the serving bundle of a version from its fitted preprocessing and assigners."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from shared.contract.layout import SERVING_PARAMS_PATH, serving_arrays_path
from shared.contract.manifest import ColumnSchema
from shared.exceptions import ArtifactError
from shared.serving.bundle import ServingParams
from shared.serving.rules import CentroidRule, CoreSampleRule, LatentCentroidRule, MixtureRule

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
        LatentCentroidAssigner,
        NearestCentroidAssigner,
    )

    def f(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def i(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    def spec(kind: str, **scalars: Any) -> dict[str, Any]:
        return {"kind": kind, "n_features": int(assigner.n_features_in_), **scalars}

    if isinstance(assigner, NearestCentroidAssigner):
        return spec(CentroidRule.kind), {
            "centroids": f(assigner.centroids_),
            "labels": i(assigner.labels_),
            "thresholds": f(assigner.thresholds_),
        }
    if isinstance(assigner, GaussianMixtureAssigner):
        # Diagonal and spherical mixtures keep (k, d) diagonal factors (no d x d matrices).
        form = "diag" if assigner.precisions_cholesky_.ndim == 2 else "full"
        return spec(MixtureRule.kind, covariance_type=form), {
            "weights": f(assigner.weights_),
            "means": f(assigner.means_),
            "precisions_cholesky": f(assigner.precisions_cholesky_),
            "labels": i(assigner.labels_),
            "thresholds": f(assigner.thresholds_),
        }
    if isinstance(assigner, LatentCentroidAssigner):
        layers = len(assigner.encoder_weights_)
        arrays = {
            "latent_centroids": f(assigner.latent_centroids_),
            "centroids": f(assigner.centroids_),
            "labels": i(assigner.labels_),
            "thresholds": f(assigner.thresholds_),
            "reference": f(assigner.reference_),
        }
        for n, (w, b) in enumerate(
            zip(assigner.encoder_weights_, assigner.encoder_biases_, strict=True)
        ):
            arrays[f"encoder_w{n}"] = f(w)
            arrays[f"encoder_b{n}"] = f(b)
        return spec(
            LatentCentroidRule.kind, activation=str(assigner.activation), layers=layers
        ), arrays
    if isinstance(assigner, CoreSampleAssigner):
        arrays = {
            "components": f(assigner.components_),
            "core_labels": i(assigner.core_labels_),
            "labels": i(assigner.labels_),
        }
        weights = getattr(assigner, "feature_weights_", None)
        if weights is not None and not bool(np.all(weights == 1.0)):
            arrays["feature_weights"] = f(weights)
        return spec(CoreSampleRule.kind, eps=float(assigner.eps)), arrays
    raise TypeError(f"no serving rule for a {type(assigner).__name__}")


def build_serving_artifacts(
    transformer: Any, columns: list[ColumnSchema], assigners: Mapping[str, Any]
) -> dict[str, bytes]:
    """The serving bundle of a training run: ``serving/params.json`` and one ``.npz`` per model.

    Every version needs one (the API serves from nothing else), so a preprocessing that cannot
    be expressed or an assigner with no serving rule fails the run instead of publishing a
    version the API would refuse.

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
        Relative paths in the version folder -> bytes.

    Raises
    ------
    ArtifactError
        When the preprocessing is not the shape :func:`shared.engine.preprocess.build_preprocessor`
        makes, a fitted number is not finite, or an assigner has no serving rule.

    Examples
    --------
    >>> import pandas as pd
    >>> from shared.engine.assigners import NearestCentroidAssigner
    >>> from shared.engine.preprocess import fit_preprocessor
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    >>> fitted = fit_preprocessor(pd.DataFrame({"x": [0.0, 1.0, 9.0, 10.0]}), cols)
    >>> kmeans = NearestCentroidAssigner().fit(fitted.X, np.array([0, 0, 1, 1]))
    >>> sorted(build_serving_artifacts(fitted.transformer, cols, {"kmeans-k2": kmeans}))
    ['serving/kmeans-k2.npz', 'serving/params.json']
    """
    from shared.engine.preprocess import preprocessing_params

    try:
        preprocessing = preprocessing_params(transformer, columns)
    except (TypeError, ValueError) as e:
        raise ArtifactError(
            f"the preprocessing cannot be written to {SERVING_PARAMS_PATH}: {e}"
        ) from e
    out: dict[str, bytes] = {}
    models: dict[str, dict[str, Any]] = {}
    for key, assigner in assigners.items():
        try:
            spec, arrays = _rule_of(assigner)
        except (TypeError, AttributeError) as e:
            raise ArtifactError(f"model {key} cannot be written to the serving bundle: {e}") from e
        spec["arrays"] = serving_arrays_path(key)
        models[key] = spec
        out[spec["arrays"]] = _npz_bytes(arrays)
    try:
        out[SERVING_PARAMS_PATH] = ServingParams(preprocessing, models).to_json()
    except ValueError as e:
        raise ArtifactError(f"{SERVING_PARAMS_PATH}: a fitted number is not finite ({e})") from e
    return out
