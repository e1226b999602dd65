"""The assignment rules of the serving bundle.

Centroid, mixture, core-sample and latent-centroid (the autoencoder's), with numpy alone.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from shared.exceptions import ArtifactError
from shared.quoting import quote_value
from shared.serving.encoder import ACTIVATIONS, Encoder
from shared.serving.kernels import (
    AssignmentBatch,
    as_matrix,
    assign_core_sample,
    assign_latent_centroid,
    assign_mixture,
    assign_nearest_centroid,
)

logger = logging.getLogger(__name__)


ServingBatch = AssignmentBatch
"""The assignment of a batch of prepared rows: :class:`shared.serving.kernels.AssignmentBatch`."""


# --- rules --------------------------------------------------------------------------------------


class ServingRule:
    """A fitted assignment rule rebuilt from its arrays: ``assign(X) -> ServingBatch``."""

    kind: ClassVar[str] = ""
    arrays: ClassVar[tuple[str, ...]] = ()
    optional_arrays: ClassVar[tuple[str, ...]] = ()

    def __init__(self, n_features: int, values: Mapping[str, np.ndarray]) -> None:
        self.n_features = n_features
        self.values = dict(values)

    def assign(self, X: Any) -> ServingBatch:
        """Assign every row of the prepared matrix ``X``."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ValueError`` when the arrays' dtypes or shapes do not fit together."""
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Internal labels of the rows of ``X``."""
        return self.assign(X).labels


_INFINITE_ALLOWED = frozenset({"thresholds"})
"""Arrays that may hold infinity (an outlier threshold of a segment without fit rows)."""


def _need(arr: np.ndarray, name: str, kind: str, shape: tuple[int | None, ...]) -> None:
    """Check an array's dtype (``"f"`` float64, ``"i"`` int64) and shape (None: any length);
    float arrays hold no NaN (nor infinity, but for :data:`_INFINITE_ALLOWED`), and ``labels``
    names each segment once."""
    wanted = {"f": np.float64, "i": np.int64}[kind]
    if arr.dtype != wanted:
        raise ValueError(
            f"array {quote_value(name)} has dtype {arr.dtype}, expected {np.dtype(wanted)}"
        )
    if arr.ndim != len(shape) or any(
        s is not None and s != got for s, got in zip(shape, arr.shape, strict=True)
    ):
        raise ValueError(f"array {quote_value(name)} has shape {arr.shape}, expected {shape}")
    if kind == "f" and arr.size:
        if np.isnan(arr).any():
            raise ValueError(f"array {quote_value(name)} holds NaN")
        if name not in _INFINITE_ALLOWED and np.isinf(arr).any():
            raise ValueError(f"array {quote_value(name)} holds an infinite value")
    if name == "labels" and np.unique(arr).size != arr.size:
        raise ValueError("array 'labels' names a segment twice")


class CentroidRule(ServingRule):
    """Nearest centroid (K-Means; Agglomerative's rule): ``NearestCentroidAssigner``'s maths."""

    kind = "nearest_centroid"
    arrays = ("centroids", "labels", "thresholds")

    def check(self) -> None:
        """Check dtypes and shapes: ``centroids (k, d)``, ``labels (k,)``, ``thresholds (k,)``."""
        c = self.values["centroids"]
        _need(c, "centroids", "f", (None, self.n_features))
        k = c.shape[0]
        if k == 0:
            raise ValueError("array 'centroids' is empty")
        _need(self.values["labels"], "labels", "i", (k,))
        _need(self.values["thresholds"], "thresholds", "f", (k,))

    def assign(self, X: Any) -> ServingBatch:
        """Nearest centroid, distance, margin confidence ``1 - d1/d2`` and the outlier flag."""
        return assign_nearest_centroid(
            as_matrix(X, self.n_features),
            self.values["centroids"],
            self.values["labels"],
            self.values["thresholds"],
        )


class MixtureRule(ServingRule):
    """Largest posterior of a full-covariance Gaussian mixture: ``GaussianMixtureAssigner``'s
    maths (scikit-learn's ``_estimate_weighted_log_prob``, all components in one product)."""

    kind = "gaussian_mixture"
    arrays = ("weights", "means", "precisions_cholesky", "labels", "thresholds")

    def check(self) -> None:
        """Check dtypes and shapes: weights (k,), means (k, d), precisions (k, d, d) or, for a
        diagonal mixture, (k, d)..."""
        d = self.n_features
        means = self.values["means"]
        _need(means, "means", "f", (None, d))
        k = means.shape[0]
        if k == 0:
            raise ValueError("array 'means' is empty")
        _need(self.values["weights"], "weights", "f", (k,))
        diagonal = self.values["precisions_cholesky"].ndim == 2
        _need(
            self.values["precisions_cholesky"],
            "precisions_cholesky",
            "f",
            (k, d) if diagonal else (k, d, d),
        )
        _need(self.values["labels"], "labels", "i", (k,))
        _need(self.values["thresholds"], "thresholds", "f", (k,))
        if not (self.values["weights"] > 0).all():
            raise ValueError("array 'weights' has a weight <= 0")

    def assign(self, X: Any) -> ServingBatch:
        """Most probable component, its posterior, all posteriors, distance to its mean."""
        batch, _ = assign_mixture(
            as_matrix(X, self.n_features),
            self.values["weights"],
            self.values["means"],
            self.values["precisions_cholesky"],
            self.values["labels"],
            self.values["thresholds"],
        )
        return batch


class CoreSampleRule(ServingRule):
    """DBSCAN's rule for a new point: ``CoreSampleAssigner``'s maths.

    The segment of the nearest core sample within ``eps``, else noise (``-1``, outlier). The
    reference's kernel (:func:`shared.serving.kernels.assign_core_sample`): more than ``5,000,000``
    (row, core sample) pairs use scipy's KD-tree (imported then, never for a single customer);
    fewer use numpy brute force.
    """

    kind = "core_sample"
    arrays = ("components", "core_labels", "labels")
    optional_arrays = ("feature_weights",)
    """``feature_weights`` (d,): each column's scale in the distances (absent: all 1)."""

    def __init__(self, n_features: int, values: Mapping[str, np.ndarray], *, eps: float) -> None:
        super().__init__(n_features, values)
        self.eps = eps
        self._norms: np.ndarray | None = None

    def check(self) -> None:
        """Check dtypes and shapes: components (m, d), core_labels (m,), labels (u,), eps > 0."""
        components = self.values["components"]
        _need(components, "components", "f", (None, self.n_features))
        _need(self.values["core_labels"], "core_labels", "i", (components.shape[0],))
        _need(self.values["labels"], "labels", "i", (None,))
        if "feature_weights" in self.values:
            _need(self.values["feature_weights"], "feature_weights", "f", (self.n_features,))
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps={self.eps} should be a finite number > 0")

    def assign(self, X: Any) -> ServingBatch:
        """Nearest core sample's segment within ``eps``, or noise."""
        components = self.values["components"]
        if self._norms is None:  # |c|^2, as CoreSampleAssigner.component_norms_
            self._norms = np.einsum("ij,ij->i", components, components)
        arr = as_matrix(X, self.n_features)
        if "feature_weights" in self.values:  # as CoreSampleAssigner: columns scaled first
            arr = arr * self.values["feature_weights"]
        return assign_core_sample(
            arr,
            components,
            self._norms,
            self.values["core_labels"],
            self.eps,
        )


class LatentCentroidRule(ServingRule):
    """The autoencoder's rule: ``LatentCentroidAssigner``'s maths.

    The encoder's layers are arrays ``encoder_w<i>`` ``(in, out)`` and ``encoder_b<i>``
    ``(out,)`` for ``i = 0 .. layers - 1`` (``layers`` and ``activation`` are the spec's
    scalars); a forward pass is one matrix product per layer. Then the nearest of
    ``latent_centroids`` ``(k, b)``; ``centroids`` ``(k, d)`` and ``thresholds`` ``(k,)`` give the
    prepared-space distance and outlier flag; ``reference`` ``(d,)`` is the mean fit row (where
    explanations start).
    """

    kind = "latent_centroid"
    arrays = ("latent_centroids", "centroids", "labels", "thresholds", "reference")
    MAX_LAYERS = 8
    """Most encoder layers a bundle may declare."""

    def __init__(
        self, n_features: int, values: Mapping[str, np.ndarray], *, activation: str, layers: int
    ) -> None:
        super().__init__(n_features, values)
        self.activation = activation
        self.layers = layers

    @staticmethod
    def layer_arrays(layers: int) -> tuple[str, ...]:
        """Names of the encoder's arrays for ``layers`` layers.

        Examples
        --------
        >>> LatentCentroidRule.layer_arrays(2)
        ('encoder_w0', 'encoder_b0', 'encoder_w1', 'encoder_b1')
        """
        return tuple(name for i in range(layers) for name in (f"encoder_w{i}", f"encoder_b{i}"))

    @cached_property
    def encoder(self) -> Encoder:
        """The encoder rebuilt from the arrays, once (its shapes are checked by :meth:`check`)."""
        v = self.values
        return Encoder(
            tuple(v[f"encoder_w{i}"] for i in range(self.layers)),
            tuple(v[f"encoder_b{i}"] for i in range(self.layers)),
            self.activation,
        )

    def check(self) -> None:
        """Check the activation, the layers' chain from ``n_features`` to ``b``, and the rest."""
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation {quote_value(self.activation)} is not one of {sorted(ACTIVATIONS)}"
            )
        width = self.n_features
        for i in range(self.layers):
            _need(self.values[f"encoder_w{i}"], f"encoder_w{i}", "f", (width, None))
            width = int(self.values[f"encoder_w{i}"].shape[1])
            if width == 0:
                raise ValueError(f"array 'encoder_w{i}' has no output unit")
            _need(self.values[f"encoder_b{i}"], f"encoder_b{i}", "f", (width,))
        latent = self.values["latent_centroids"]
        _need(latent, "latent_centroids", "f", (None, width))
        k = latent.shape[0]
        if k == 0:
            raise ValueError("array 'latent_centroids' is empty")
        _need(self.values["centroids"], "centroids", "f", (k, self.n_features))
        _need(self.values["labels"], "labels", "i", (k,))
        _need(self.values["thresholds"], "thresholds", "f", (k,))
        _need(self.values["reference"], "reference", "f", (self.n_features,))

    def assign(self, X: Any) -> ServingBatch:
        """Nearest latent centre; prepared-space distance and outlier flag."""
        arr = as_matrix(X, self.n_features)
        return assign_latent_centroid(
            arr,
            self.encoder.encode(arr),
            self.values["latent_centroids"],
            self.values["centroids"],
            self.values["labels"],
            self.values["thresholds"],
        )


_RULES: dict[str, type[ServingRule]] = {
    rule.kind: rule for rule in (CentroidRule, MixtureRule, CoreSampleRule, LatentCentroidRule)
}


def _count_of(spec: Mapping[str, Any], key: str, low: int, high: int | None) -> int:
    """``spec[key]`` as a count: a JSON integer (not a float, text or boolean) within bounds.

    Examples
    --------
    >>> _count_of({"layers": 2}, "layers", 1, 8)
    2
    >>> _count_of({"layers": 2.9}, "layers", 1, 8)
    Traceback (most recent call last):
    ...
    ValueError: 'layers' should be a whole number, not 2.9
    """
    value = spec[key]
    if type(value) is not int:
        raise ValueError(f"{quote_value(key)} should be a whole number, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{quote_value(key)}={value} should be {bounds}")
    return value


def load_serving_rule(spec: Mapping[str, Any], data: bytes) -> ServingRule:
    """Rebuild one model's rule from its spec (in ``params.json``) and its ``.npz`` bytes.

    The arrays are read with ``np.load(allow_pickle=False)``: an object array (which would need
    pickle) is refused, as is any array of the wrong dtype or shape.

    Raises
    ------
    ArtifactError
        When the spec names an unknown kind, or the arrays are missing, malformed or unsafe.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> np.savez(buf, centroids=np.array([[0.0], [4.0]]), labels=np.array([0, 1]),
    ...          thresholds=np.array([1.0, 1.0]))
    >>> rule = load_serving_rule({"kind": "nearest_centroid", "n_features": 1}, buf.getvalue())
    >>> rule.predict(np.array([[3.0]])).tolist()
    [1]
    """
    kind = spec.get("kind")
    rule_type = _RULES.get(kind) if isinstance(kind, str) else None
    if rule_type is None:
        raise ArtifactError(
            f"serving bundle: unknown rule kind {quote_value(kind)}; known: {sorted(_RULES)}"
        )
    try:
        n_features = _count_of(spec, "n_features", 1, None)
        names = rule_type.arrays
        if rule_type is LatentCentroidRule:
            layers = _count_of(spec, "layers", 1, LatentCentroidRule.MAX_LAYERS)
            names = (*names, *LatentCentroidRule.layer_arrays(layers))
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            absent = [name for name in names if name not in npz.files]
            if absent:
                raise ValueError(f"missing array(s) {absent}")
            values = {name: npz[name] for name in names}
            values.update({n: npz[n] for n in rule_type.optional_arrays if n in npz.files})
        if rule_type is CoreSampleRule:
            rule: ServingRule = CoreSampleRule(n_features, values, eps=float(spec["eps"]))
        elif rule_type is LatentCentroidRule:
            rule = LatentCentroidRule(
                n_features, values, activation=str(spec["activation"]), layers=layers
            )
        else:
            rule = rule_type(n_features, values)
        rule.check()
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as e:
        # np.load raises ValueError for an object array under allow_pickle=False.
        raise ArtifactError(f"serving bundle of a {kind} rule refused: {e}") from e
    return rule
