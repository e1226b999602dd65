"""The serving bundle: a version's fitted numbers in numpy/JSON form, so the API needs numpy only.

A training run publishes, beside the skops artifacts (which stay the reference and serve every
other use), a *serving bundle*:

- ``serving/params.json``: the format number, the fitted preprocessing
  (:meth:`shared.preprocess.FastTransform.to_params`: column order and roles, imputation values,
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

The rules below call the very kernels :mod:`shared.assignment`'s estimators call
(:mod:`shared.kernels`: same operations, chunk sizes and thresholds), so labels, distances,
confidences and probabilities are identical; ``tests/unit/test_serving.py`` checks both paths
on the Mall data for every algorithm and every k. This module imports numpy and the standard
library only; the training-side builder imports the engine lazily.
"""

from __future__ import annotations

import io
import json
import logging
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from shared.exceptions import ArtifactError
from shared.kernels import (
    AssignmentBatch,
    as_matrix,
    assign_core_sample,
    assign_mixture,
    assign_nearest_centroid,
)
from shared.manifest import ColumnSchema
from shared.values import ABSURD_MAGNITUDE, category_label, feature_columns

if TYPE_CHECKING:
    from shared.preprocess import FastTransform

__all__ = [
    "COLUMN_PATH_MIN_ROWS",
    "SERVING_FORMAT",
    "SERVING_PARAMS_PATH",
    "CentroidRule",
    "CoreSampleRule",
    "MixtureRule",
    "ServingBatch",
    "ServingParams",
    "ServingRule",
    "ServingTransform",
    "build_serving_artifacts",
    "load_serving_rule",
    "plain_numbers",
    "read_serving_params",
    "serving_arrays_path",
]

logger = logging.getLogger(__name__)

SERVING_FORMAT = 1
"""Version of the bundle layout; a reader refuses a bundle of another format (skops fallback)."""
SERVING_PARAMS_PATH = "serving/params.json"
COLUMN_PATH_MIN_ROWS = 64
"""From this many customers on, plain JSON values are typed column by column with numpy."""
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def serving_arrays_path(key: str) -> str:
    """Relative path of a model's arrays in a version folder.

    Examples
    --------
    >>> serving_arrays_path("kmeans-k5")
    'serving/kmeans-k5.npz'
    """
    return f"serving/{key}.npz"


ServingBatch = AssignmentBatch
"""The assignment of a batch of prepared rows: :class:`shared.kernels.AssignmentBatch`."""


# --- rules --------------------------------------------------------------------------------------


class ServingRule:
    """A fitted assignment rule rebuilt from its arrays: ``assign(X) -> ServingBatch``."""

    kind: ClassVar[str] = ""
    arrays: ClassVar[tuple[str, ...]] = ()

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


def _need(arr: np.ndarray, name: str, kind: str, shape: tuple[int | None, ...]) -> None:
    wanted = {"f": np.float64, "i": np.int64}[kind]
    if arr.dtype != wanted:
        raise ValueError(f"array {name!r} has dtype {arr.dtype}, expected {np.dtype(wanted)}")
    if arr.ndim != len(shape) or any(
        s is not None and s != got for s, got in zip(shape, arr.shape, strict=True)
    ):
        raise ValueError(f"array {name!r} has shape {arr.shape}, expected {shape}")


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
        """Check dtypes and shapes: weights (k,), means (k, d), precisions (k, d, d)..."""
        d = self.n_features
        means = self.values["means"]
        _need(means, "means", "f", (None, d))
        k = means.shape[0]
        if k == 0:
            raise ValueError("array 'means' is empty")
        _need(self.values["weights"], "weights", "f", (k,))
        _need(self.values["precisions_cholesky"], "precisions_cholesky", "f", (k, d, d))
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
    reference's kernel (:func:`shared.kernels.assign_core_sample`): more than ``5,000,000``
    (row, core sample) pairs use scipy's KD-tree (imported then, never for a single customer);
    fewer use numpy brute force.
    """

    kind = "core_sample"
    arrays = ("components", "core_labels", "labels")

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
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps={self.eps} should be a finite number > 0")

    def assign(self, X: Any) -> ServingBatch:
        """Nearest core sample's segment within ``eps``, or noise."""
        components = self.values["components"]
        if self._norms is None:  # |c|^2, as CoreSampleAssigner.component_norms_
            self._norms = np.einsum("ij,ij->i", components, components)
        return assign_core_sample(
            as_matrix(X, self.n_features),
            components,
            self._norms,
            self.values["core_labels"],
            self.eps,
        )


_RULES: dict[str, type[ServingRule]] = {
    rule.kind: rule for rule in (CentroidRule, MixtureRule, CoreSampleRule)
}


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
        raise ArtifactError(f"serving bundle: unknown rule kind {kind!r}; known: {sorted(_RULES)}")
    try:
        n_features = int(spec["n_features"])
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            absent = [name for name in rule_type.arrays if name not in npz.files]
            if absent:
                raise ValueError(f"missing array(s) {absent}")
            values = {name: npz[name] for name in rule_type.arrays}
        if rule_type is CoreSampleRule:
            rule: ServingRule = CoreSampleRule(n_features, values, eps=float(spec["eps"]))
        else:
            rule = rule_type(n_features, values)
        rule.check()
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as e:
        # np.load raises ValueError for an object array under allow_pickle=False.
        raise ArtifactError(f"serving bundle of a {kind} rule refused: {e}") from e
    return rule


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
    """Spec and arrays of one fitted assigner of :mod:`shared.assignment`."""
    from shared.assignment import (
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
        return spec, {
            "components": f(assigner.components_),
            "core_labels": i(assigner.core_labels_),
            "labels": i(assigner.labels_),
        }
    raise TypeError(f"no serving rule for a {type(assigner).__name__}")


def build_serving_artifacts(
    transformer: Any, columns: list[ColumnSchema], assigners: Mapping[str, Any]
) -> dict[str, bytes]:
    """The serving bundle of a training run: ``serving/params.json`` and one ``.npz`` per model.

    Optional by design: when the preprocessing cannot be expressed (not the shape
    :func:`shared.preprocess.build_preprocessor` makes, or a non-finite parameter) the bundle is
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
    from shared.preprocess import FastTransform

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


# --- customers -> prepared matrix ---------------------------------------------------------------

_PLAIN_NUMBERS: frozenset[type] = frozenset({int, float, type(None)})
_PLAIN_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_TEXT_OR_NONE: frozenset[type] = frozenset({str, type(None)})


def plain_numbers(
    values: list[Any],
    name: str,
    low: float | None,
    high: float | None,
    *,
    log1p: bool,
    warnings: list[list[str]],
    unusual: set[int],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Type one numeric column of plain JSON values: ``(numbers, missing)``, or None.

    ``numbers`` holds the floats (NaN where missing; negatives of a log1p column set to 0,
    their rows added to ``unusual`` so the row route writes their warnings). Values outside
    ``low..high`` get the engine's range warning appended to ``warnings[row]``. None when a
    value is not a plain JSON number or null, or is beyond float range or
    :data:`~shared.values.ABSURD_MAGNITUDE`: the row route then types or names it.

    Examples
    --------
    >>> warnings = [[], [], []]
    >>> numbers, missing = plain_numbers([42, None, 250], "Age", 18, 70, log1p=False,
    ...                                  warnings=warnings, unusual=set())
    >>> missing.tolist(), warnings[2]
    ([False, True, False], ['Age=250 is outside the training range 18..70'])
    """
    if not {type(v) for v in values} <= _PLAIN_NUMBERS:
        return None  # numeric text, booleans, containers: the row route types or names them
    try:
        numbers = np.array(values, dtype=np.float64)  # None -> NaN
    except OverflowError:  # an integer beyond float range: the row route names it
        return None
    missing = np.isnan(numbers)
    present = ~missing
    if (np.abs(numbers[present]) > ABSURD_MAGNITUDE).any():
        return None  # the row route names the value
    if low is not None and high is not None:
        outside = present & ((numbers < low) | (numbers > high))
        span = f"{low:g}..{high:g}"
        for i in np.flatnonzero(outside).tolist():
            warnings[i].append(f"{name}={values[i]!r} is outside the training range {span}")
    if log1p:
        negative = present & (numbers < 0)
        unusual.update(np.flatnonzero(negative).tolist())
        numbers[negative] = 0.0
    return numbers, missing


@dataclass(frozen=True)
class _NumericPlan:
    name: str
    output: int
    fill: float
    log1p: bool
    mean: float
    scale: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class _CategoricalPlan:
    name: str
    dtype: str
    fill: str
    slots: dict[str, int]
    known: frozenset[str]


class ServingTransform:
    """Customer records -> the prepared matrix, with numpy alone, for any batch size.

    Small batches (and any batch with a value outside plain JSON numbers and scalars, or a date
    column) go through :class:`~shared.preprocess.FastTransform` row by row, which validates
    exactly like training's ``coerce_customers``. From :data:`COLUMN_PATH_MIN_ROWS` customers on,
    plain values are typed column by column; rows with a rarer soft problem (an unseen
    category, a negative value in a log1p column, an unknown key) get their warnings from the
    row route, so every message is the engine's. Both routes give the identical matrix.

    Parameters
    ----------
    fast : FastTransform
        The row route (built from the same parameters).
    columns : list of ColumnSchema
        The training schema (ranges and categories for warnings).

    Examples
    --------
    >>> # ServingTransform(FastTransform.from_params(p, cols), cols).transform(records)
    """

    def __init__(self, fast: FastTransform, columns: list[ColumnSchema]) -> None:
        self.fast = fast
        params = fast.to_params()
        self.n_outputs = int(params["n_outputs"])
        self._known_names = frozenset(c.name for c in columns)
        used = {c.name: c for c in feature_columns(columns)}
        self._by_column = all(c.role in ("numeric", "categorical") for c in used.values())
        self._numeric = [
            _NumericPlan(
                name=n["column"],
                output=n["output"],
                fill=n["fill"],
                log1p=n["log1p"],
                mean=n["mean"],
                scale=n["scale"],
                low=used[n["column"]].min,
                high=used[n["column"]].max,
            )
            for n in params["numeric"]
        ]
        self._categorical = [
            _CategoricalPlan(
                name=c["column"],
                dtype=used[c["column"]].dtype,
                fill=c["fill"],
                slots={str(label): int(slot) for label, slot in c["slots"]},
                known=frozenset(used[c["column"]].categories or ()),
            )
            for c in params["categorical"]
        ]
        # Columns in schema order, so each row's warnings and imputed names keep that order.
        order = {name: j for j, name in enumerate(fast.columns)}
        self._plans: list[_NumericPlan | _CategoricalPlan] = sorted(
            [*self._numeric, *self._categorical], key=lambda p: order[p.name]
        )

    def transform(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Validate customer records and return ``(X, imputed, warnings)``.

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (the message names the customer and the column).
        """
        if self._by_column and len(records) >= COLUMN_PATH_MIN_ROWS:
            done = self._column_route(records)
            if done is not None:
                return done
        return self.fast.transform_records(records)

    def _column_route(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]] | None:
        """The column-by-column route; None when a value needs the row route."""
        if not all(type(r) is dict for r in records):
            return None
        n = len(records)
        known = self._known_names
        unusual: set[int] = set()
        if not set().union(*records) <= known:  # one pass over the keys; rarely taken
            unusual.update(i for i, r in enumerate(records) if not known.issuperset(r))
        X = np.zeros((n, self.n_outputs), dtype=np.float64)
        imputed: list[list[str]] = [[] for _ in range(n)]
        warnings: list[list[str]] = [[] for _ in range(n)]
        for plan in self._plans:
            values = [r.get(plan.name) for r in records]
            if isinstance(plan, _NumericPlan):
                missing = self._numeric_column(plan, values, X, warnings, unusual)
            else:
                missing = self._categorical_column(plan, values, X, unusual)
            if missing is None:
                return None
            for i in np.flatnonzero(missing).tolist():
                imputed[i].append(plan.name)
        if unusual:
            rows = sorted(unusual)
            exact = self.fast.transform_records([records[i] for i in rows])
            for j, i in enumerate(rows):
                warnings[i] = exact[2][j]
        return X, imputed, warnings

    @staticmethod
    def _numeric_column(
        plan: _NumericPlan,
        values: list[Any],
        X: np.ndarray,
        warnings: list[list[str]],
        unusual: set[int],
    ) -> np.ndarray | None:
        typed = plain_numbers(
            values,
            plan.name,
            plan.low,
            plan.high,
            log1p=plan.log1p,
            warnings=warnings,
            unusual=unusual,
        )
        if typed is None:
            return None
        numbers, missing = typed
        # Element-wise, in FastTransform's order: the identical floats.
        numbers = np.where(missing, plan.fill, numbers)
        if plan.log1p:
            numbers = np.log1p(numbers)
        X[:, plan.output] = (numbers - plan.mean) / plan.scale
        return missing

    @staticmethod
    def _categorical_column(
        plan: _CategoricalPlan, values: list[Any], X: np.ndarray, unusual: set[int]
    ) -> np.ndarray | None:
        types = {type(v) for v in values}
        if not types <= _PLAIN_SCALARS:
            return None
        # Each distinct value is labelled once. Mixed types are keyed by (type, value): True, 1
        # and 1.0 are equal as dict keys but not as labels. A NaN never equals itself, but a
        # dict finds the very same object, so each NaN object is labelled on its own.
        keys: list[Any] = values if types <= _TEXT_OR_NONE else [(type(v), v) for v in values]
        slot_of: dict[Any, int] = {}
        missing_keys: set[Any] = set()
        unseen_keys: set[Any] = set()
        for key in set(keys):
            label = category_label(key if keys is values else key[1], plan.dtype)
            if label is None:
                missing_keys.add(key)
                label = plan.fill
            elif plan.known and label not in plan.known:
                unseen_keys.add(key)
            slot_of[key] = plan.slots.get(label, -1)
        n = len(keys)
        slots = np.fromiter((slot_of[k] for k in keys), dtype=np.intp, count=n)
        hit = slots >= 0
        X[np.flatnonzero(hit), slots[hit]] = 1.0
        if unseen_keys:
            unusual.update(i for i, k in enumerate(keys) if k in unseen_keys)
        if not missing_keys:
            return np.zeros(n, dtype=bool)
        return np.fromiter((k in missing_keys for k in keys), dtype=bool, count=n)
