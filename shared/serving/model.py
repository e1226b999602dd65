"""Serving one published model version: load it once, assign customers to segments fast.

:class:`SegmentationModel` is one version of one dataset: its manifest and profiles (JSON, read
eagerly) and, loaded lazily on first use, the fitted preprocessor and one assigner per model key
(``kmeans-k5``, ``gmm-k3``, ``dbscan``...). Every artifact is read through
:func:`shared.store.base.read_verified_artifact` (sha256 checked against the manifest) and only then
handed to :func:`shared.engine.persistence.load_artifact` (skops with the reviewed trusted-type
list):
a tampered or untrusted artifact is refused, never executed.

:class:`ModelRegistry` is the per-container cache the API uses: one current model per dataset,
``current.json`` rechecked at most every ``refresh_seconds``, a new version built completely
before it replaces the old one, and the last good model kept when a new version is refused.

Serving path: a version published with a serving bundle (:mod:`shared.serving`:
``serving/params.json`` + ``serving/<model_key>.npz``, sha256-checked like every artifact) is
served with numpy alone: no skops, scikit-learn, scipy or pandas is imported to assign customers,
which keeps a Lambda cold start short. Versions without a bundle are served from the skops
artifacts (the preprocessor is replayed with numpy through ``FastTransform.from_fitted``). The
skops artifacts stay the reference: ``path="frame"`` assigns through them (pandas +
``ColumnTransformer`` + the persisted assigner), and the tests pin both paths to the same answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from shared.contract.layout import (
    EVALUATION_PATH,
    PLOTS_PATH,
    PROFILES_PATH,
    SERVING_PARAMS_PATH,
    model_key,
)
from shared.contract.manifest import ColumnSchema, Manifest
from shared.contract.profiles import OUTLIER_NAME, OUTLIER_SEGMENT_ID, ProfileCatalog, SegmentSet
from shared.exceptions import (
    AlgorithmNotFittedError,
    ArtifactError,
)
from shared.serving.bundle import ServingParams, read_serving_params
from shared.serving.results import (
    CustomerAssignment,
    ModelChoice,
    SegmentAssignments,
    _finite_or_none,
)
from shared.serving.rules import load_serving_rule
from shared.serving.transform import ServingTransform, plain_numbers
from shared.store.base import ModelStore, read_manifest, read_verified_artifact

if TYPE_CHECKING:
    import numpy as np

    from shared.contract.evaluation import Evaluation
    from shared.contract.plots import PlotData
    from shared.engine.preprocess import FastTransform

logger = logging.getLogger(__name__)

FAST_PATH_MAX_ROWS = 256
"""Kept for compatibility: every batch now goes through the numpy path unless
``path="frame"`` asks for the reference (pandas + skops) route."""

TransformPath = Literal["auto", "fast", "frame"]
ArtifactLoader = Callable[[bytes], Any]


def _default_loader(data: bytes) -> Any:
    # Deferred: skops imports every sklearn estimator (~1 s); only assignment needs it.
    from shared.engine.persistence import load_artifact

    return load_artifact(data)


# --- large batches ------------------------------------------------------------------------------


def coerce_batch(records: Sequence[Mapping[str, Any]], columns: list[ColumnSchema]) -> Any:
    """Validate and type a large batch like :func:`shared.engine.preprocess.coerce_customers`,
    faster.

    The common case (JSON numbers or null in numeric columns, scalars in categorical ones) is
    typed column by column with numpy, range warnings included. Rows with a rarer soft problem
    (an unseen category, a negative value in a log column, an unknown key) get their warnings
    from ``coerce_customers`` itself, row by row, so those messages are the engine's.
    Anything else (numeric text, dates, a wrong type...) sends the whole batch through
    ``coerce_customers``, which also names the first invalid row and column.

    Returns
    -------
    CoercedCustomers
        The same frame, imputed columns and warnings as ``coerce_customers(records, columns)``.

    Examples
    --------
    >>> cols = [ColumnSchema(name="Age", role="numeric", dtype="integer", used=True,
    ...                      min=18, max=70)]
    >>> out = coerce_batch([{"Age": 42}, {"Age": 250}, {}], cols)
    >>> out.frame["Age"].tolist(), out.imputed, out.warnings[1]
    ([42.0, 250.0, nan], [[], [], ['Age']], ['Age=250 is outside the training range 18..70'])
    """
    from shared.engine.preprocess import CoercedCustomers, coerce_customers

    typed = _typed_columns(records, columns)
    if typed is None:
        return coerce_customers(records, columns)
    import pandas as pd

    data, imputed, warnings, unusual = typed
    if unusual:
        rows = sorted(unusual)
        exact = coerce_customers([records[i] for i in rows], columns)
        for j, i in enumerate(rows):
            warnings[i] = exact.warnings[j]
    index = pd.RangeIndex(len(records))
    # Explicit dtypes, as coerce_customers: pandas would infer its "str" dtype for the labels.
    series = {
        name: pd.Series(values, index=index, dtype=values.dtype) for name, values in data.items()
    }
    frame = pd.DataFrame(series, index=index)
    return CoercedCustomers(frame=frame, imputed=imputed, warnings=warnings)


def _typed_columns(
    records: Sequence[Mapping[str, Any]], columns: list[ColumnSchema]
) -> tuple[dict[str, np.ndarray], list[list[str]], list[list[str]], set[int]] | None:
    """Typed feature columns, imputed columns and warnings per row, rows needing exact warnings.

    Range warnings are written here (same words as the engine's; the unit tests compare them);
    rows with rarer soft problems are listed in the returned set for the exact route.

    None when any value falls outside the vectorized case (see :func:`coerce_batch`).
    """
    import numpy as np

    from shared.serving.values import category_label

    used = [c for c in columns if c.used]
    if not used or any(c.role not in ("numeric", "categorical") for c in used):
        return None
    if not all(type(r) is dict for r in records):
        return None
    n = len(records)
    known_names = frozenset(c.name for c in columns)
    unusual = {i for i, r in enumerate(records) if not r.keys() <= known_names}
    imputed: list[list[str]] = [[] for _ in range(n)]
    warnings: list[list[str]] = [[] for _ in range(n)]
    data: dict[str, np.ndarray] = {}
    for column in used:
        values = [r.get(column.name) for r in records]
        if column.role == "categorical":
            labels = _category_labels(values, column, category_label)
            if labels is None:
                return None
            out, missing, unseen = labels
            data[column.name] = out
            unusual.update(unseen)
        else:
            typed = plain_numbers(
                values,
                column.name,
                column.min,
                column.max,
                log1p=column.transform == "log1p",
                warnings=warnings,
                unusual=unusual,
            )
            if typed is None:
                return None  # the exact route types or names the value
            data[column.name], missing = typed
        for i in np.flatnonzero(missing).tolist():
            imputed[i].append(column.name)
    return data, imputed, warnings, unusual


_PLAIN_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _category_labels(
    values: list[Any], column: ColumnSchema, category_label: Callable[[Any, str], str | None]
) -> tuple[np.ndarray, np.ndarray, list[int]] | None:
    """Labels of one categorical column (object array, NaN missing), missing mask, unseen rows."""
    import numpy as np

    if not {type(v) for v in values} <= _PLAIN_SCALARS:
        return None
    # Keyed by (type, value): True, 1 and 1.0 are equal as dict keys but not as labels.
    by_value: dict[tuple[type, Any], str | None] = {}
    labels: list[str | None] = []
    for v in values:
        key = (type(v), v)
        if key in by_value:  # NaN never equals itself: each NaN is labelled on its own
            labels.append(by_value[key])
        else:
            label = by_value[key] = category_label(v, column.dtype)
            labels.append(label)
    out = np.array(labels, dtype=object)
    missing = np.array([label is None for label in labels], dtype=bool)
    out[missing] = np.nan
    known = set(column.categories or ())
    unseen: list[int] = []
    if known:
        unseen = [i for i, label in enumerate(labels) if label is not None and label not in known]
    return out, missing, unseen


# --- one version -------------------------------------------------------------------------------


class SegmentationModel:
    """One published version of a dataset, ready to assign customers.

    Parameters
    ----------
    store : ModelStore
        Where the version's artifacts live.
    manifest : Manifest
        The version's manifest (its sha256 list guards every artifact read).
    profiles : ProfileCatalog
        The version's ``profiles.json``.
    loader : callable, optional
        ``bytes -> object`` for skops artifacts; default
        :func:`shared.engine.persistence.load_artifact`.

    Examples
    --------
    >>> model = SegmentationModel.open(store, "mall", "v1")  # doctest: +SKIP
    >>> model.assign([{"Age": 30, "Annual Income (k$)": 60, "Spending Score (1-100)": 50}])[0]
    ... # doctest: +SKIP
    CustomerAssignment(segment_id=2, segment_name='Average income, average spending', ...)
    """

    def __init__(
        self,
        store: ModelStore,
        manifest: Manifest,
        profiles: ProfileCatalog,
        *,
        loader: ArtifactLoader | None = None,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.profiles = profiles
        self._loader = loader or _default_loader
        self._lock = threading.RLock()
        self._preprocessor: Any = None
        self._fast_transform: FastTransform | None = None
        self._serving_transform: ServingTransform | None = None
        self._serving: ServingParams | None = None
        self._assigners: dict[str, Any] = {}
        self._rules: dict[str, Any] = {}
        self._documents: dict[str, Any] = {}

    # construction --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        store: ModelStore,
        dataset: str,
        version: str,
        *,
        loader: ArtifactLoader | None = None,
    ) -> SegmentationModel:
        """Read a version's manifest and verified profiles (no skops yet).

        Raises
        ------
        VersionNotFoundError
            When the dataset has no such complete version.
        ChecksumMismatchError
            When ``profiles.json`` does not match the manifest.
        ArtifactError
            When the manifest or the profiles are not valid documents.
        """
        try:
            manifest = read_manifest(store, dataset, version)
        except ValueError as e:  # pydantic's ValidationError: not a manifest document
            raise ArtifactError(
                f"manifest.json of {dataset} version {version} is not a valid manifest; "
                f"refusing it ({str(e).splitlines()[0]})"
            ) from e
        raw = read_verified_artifact(store, manifest, PROFILES_PATH)
        try:
            profiles = ProfileCatalog.model_validate_json(raw)
        except ValueError as e:
            raise ArtifactError(
                f"profiles.json of {dataset} version {version} is not a valid profile "
                "catalog; refusing it"
            ) from e
        return cls(store, manifest, profiles, loader=loader)

    @property
    def dataset(self) -> str:
        """The dataset name."""
        return self.manifest.dataset

    @property
    def version(self) -> str:
        """The version id."""
        return self.manifest.version

    @property
    def is_warm(self) -> bool:
        """True once the customer transform and at least one assignment rule are loaded."""
        return self._serving_transform is not None and bool(self._rules)

    @property
    def has_serving_bundle(self) -> bool:
        """True when the version was published with a numpy serving bundle."""
        return SERVING_PARAMS_PATH in self.manifest.artifacts

    # choosing a fitted model ---------------------------------------------------------------

    def choose(self, algorithm: str | None = None, k: int | None = None) -> ModelChoice:
        """Resolve ``algorithm`` (default: the champion) and ``k`` (default: its chosen k).

        Raises
        ------
        AlgorithmNotFittedError
            When this version did not fit that algorithm, or not at that k (the message lists
            what was fitted).
        """
        name = algorithm or self.manifest.champion
        summary = self.manifest.algorithms.get(name)
        if summary is None:
            fitted = ", ".join(sorted(self.manifest.algorithms)) or "none"
            raise AlgorithmNotFittedError(
                f"algorithm {name!r} was not fitted for {self.dataset} version {self.version}; "
                f"fitted: {fitted}"
            )
        if k is None or k == summary.k:
            return ModelChoice(name, summary.k, model_key(name, summary.k), summary.artifact)
        if summary.k is None:
            raise AlgorithmNotFittedError(
                f"algorithm {name!r} has no k (it finds the number of segments itself); drop k={k}"
            )
        artifact = summary.models.get(str(k))
        if artifact is None:
            ks = ", ".join(sorted(summary.models, key=int)) or str(summary.k)
            raise AlgorithmNotFittedError(
                f"{name} was not fitted with k={k} for {self.dataset} version {self.version}; "
                f"fitted k: {ks}"
            )
        return ModelChoice(name, k, model_key(name, k), artifact)

    def segment_set(self, choice: ModelChoice) -> SegmentSet:
        """The profiles of one fitted model.

        Raises
        ------
        ArtifactError
            When ``profiles.json`` has no segments for that model (an incomplete version).
        """
        segments = self.profiles.sets.get(choice.key)
        if segments is None:
            raise ArtifactError(
                f"profiles.json of {self.dataset} version {self.version} has no segments for "
                f"model {choice.key!r}"
            )
        return segments

    # lazily loaded artifacts ---------------------------------------------------------------

    def _load(self, path: str) -> Any:
        data = read_verified_artifact(self.store, self.manifest, path)
        try:
            obj = self._loader(data)
        except ArtifactError as e:
            # Say which file of which version was refused (the loader only sees bytes).
            raise type(e)(f"{path} of {self.dataset}/{self.version}: {e}") from e
        logger.info(
            "loaded artifact",
            extra={"dataset": self.dataset, "version": self.version, "artifact": path},
        )
        return obj

    def preprocessor(self) -> Any:
        """The fitted preprocessor (loaded on first use, thread-safe)."""
        if self._preprocessor is None:
            with self._lock:
                if self._preprocessor is None:
                    self._preprocessor = self._load(self.manifest.preprocessor)
        return self._preprocessor

    def assigner(self, choice: ModelChoice) -> Any:
        """The fitted assigner of one model key (loaded on first use, thread-safe)."""
        found = self._assigners.get(choice.key)
        if found is None:
            with self._lock:
                found = self._assigners.get(choice.key)
                if found is None:
                    found = self._load(choice.artifact)
                    self._assigners[choice.key] = found
        return found

    def serving_params(self) -> ServingParams | None:
        """The version's ``serving/params.json`` (verified, parsed once); None without a bundle.

        Raises
        ------
        ArtifactError
            When the document is tampered with or malformed.
        """
        if not self.has_serving_bundle:
            return None
        if self._serving is None:
            with self._lock:
                if self._serving is None:
                    data = read_verified_artifact(self.store, self.manifest, SERVING_PARAMS_PATH)
                    self._serving = read_serving_params(data)
        return self._serving

    def fast_transform(self) -> FastTransform:
        """The numpy replay of the fitted preprocessing (built once).

        From the serving bundle when the version has one (numpy only), else from the skops
        preprocessor.

        Raises
        ------
        ArtifactError
            When the bundle's preprocessing does not fit the manifest's schema.
        """
        if self._fast_transform is None:
            with self._lock:
                if self._fast_transform is None:
                    from shared.engine.preprocess import FastTransform

                    params = self.serving_params()
                    if params is None:
                        fast = FastTransform.from_fitted(self.preprocessor(), self.manifest.columns)
                    else:
                        try:
                            fast = FastTransform.from_params(
                                params.preprocessing, self.manifest.columns
                            )
                        except ValueError as e:
                            raise ArtifactError(
                                f"{SERVING_PARAMS_PATH} of {self.dataset}/{self.version} "
                                f"refused: {e}"
                            ) from e
                    self._fast_transform = fast
        return self._fast_transform

    def serving_transform(self) -> ServingTransform:
        """Customer records -> prepared matrix with numpy, any batch size (built once)."""
        if self._serving_transform is None:
            fast = self.fast_transform()
            with self._lock:
                if self._serving_transform is None:
                    self._serving_transform = ServingTransform(fast, self.manifest.columns)
        return self._serving_transform

    def rule(self, choice: ModelChoice) -> Any:
        """The assignment rule served for one model key (loaded on first use, thread-safe).

        The numpy rule of the serving bundle when the version has one for that key; else the
        skops assigner (:meth:`assigner`). Both have ``assign(X)`` with the same fields.

        Raises
        ------
        ArtifactError
            When the rule's file is tampered with or malformed.
        """
        found = self._rules.get(choice.key)
        if found is None:
            params = self.serving_params()
            spec = None if params is None else params.models.get(choice.key)
            with self._lock:
                found = self._rules.get(choice.key)
                if found is None:
                    found = self.assigner(choice) if spec is None else self._load_rule(spec)
                    self._rules[choice.key] = found
        return found

    def _load_rule(self, spec: dict[str, Any]) -> Any:
        path = str(spec.get("arrays", ""))
        data = read_verified_artifact(self.store, self.manifest, path)
        try:
            rule = load_serving_rule(spec, data)
        except ArtifactError as e:
            raise type(e)(f"{path} of {self.dataset}/{self.version}: {e}") from e
        logger.info(
            "loaded serving rule",
            extra={"dataset": self.dataset, "version": self.version, "artifact": path},
        )
        return rule

    def warm(self, algorithm: str | None = None, k: int | None = None) -> SegmentationModel:
        """Load everything an assignment with ``algorithm``/``k`` needs; return ``self``.

        Raises
        ------
        ArtifactError
            When an artifact is tampered with or carries an untrusted type.
        """
        choice = self.choose(algorithm, k)
        self.segment_set(choice)
        self.rule(choice)
        self.serving_transform()
        return self

    def document(self, path: str) -> bytes:
        """A verified document of the version (``evaluation.json``, ``report.html``...)."""
        found = self._documents.get(path)
        if found is None:
            found = read_verified_artifact(self.store, self.manifest, path)
            self._documents[path] = found
        return bytes(found)

    def evaluation(self) -> Evaluation:
        """The version's ``evaluation.json``."""
        from shared.contract.evaluation import Evaluation

        key = "parsed:" + EVALUATION_PATH
        if key not in self._documents:
            self._documents[key] = Evaluation.model_validate_json(self.document(EVALUATION_PATH))
        result: Evaluation = self._documents[key]
        return result

    def plots(self) -> PlotData:
        """The version's ``plots.json``."""
        from shared.contract.plots import PlotData

        key = "parsed:" + PLOTS_PATH
        if key not in self._documents:
            self._documents[key] = PlotData.model_validate_json(self.document(PLOTS_PATH))
        result: PlotData = self._documents[key]
        return result

    # assignment ----------------------------------------------------------------------------

    def transform(
        self, records: Sequence[Mapping[str, Any]], *, path: TransformPath = "auto"
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Validate and prepare customer records as in training.

        ``"auto"`` and ``"fast"``: the numpy path
        (:class:`~shared.serving.transform.ServingTransform`:
        row by row for small batches, column by column for large ones). ``"frame"``: the
        reference, the fitted skops preprocessor on a DataFrame. All give the same matrix.

        Returns
        -------
        X : ndarray of shape (n, n_features)
        imputed : list of list of str
            Per record, the columns whose missing value was imputed.
        warnings : list of list of str
            Per record, soft problems (out-of-range values, unseen categories).

        Raises
        ------
        InvalidCustomerError
            When a value has the wrong type (the message names row and column).
        """
        import numpy as np

        if path != "frame":
            return self.serving_transform().transform(records)
        coerced = coerce_batch(records, self.manifest.columns)
        X = self.preprocessor().transform(coerced.frame)
        return np.asarray(X, dtype=np.float64), coerced.imputed, coerced.warnings

    def assign_batch(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
        path: TransformPath = "auto",
    ) -> SegmentAssignments:
        """Assign customers to segments, column by column (see :meth:`assign`)."""
        choice = self.choose(algorithm, k)
        segments = self.segment_set(choice)
        assigner = self.assigner(choice) if path == "frame" else self.rule(choice)
        if not records:
            return SegmentAssignments(choice, [], [], [], [], None, [], [], [])
        X, imputed, warnings = self.transform(records, path=path)
        batch = assigner.assign(X)
        n = len(records)

        by_label = segments.label_to_segment()
        ids: dict[int, int] = {label: s.segment_id for label, s in by_label.items()}
        names: dict[int, str] = {label: s.name for label, s in by_label.items()}
        labels = batch.labels.tolist()
        segment_ids = [ids.get(lab, OUTLIER_SEGMENT_ID) for lab in labels]
        segment_names = [names.get(lab, OUTLIER_NAME) for lab in labels]
        outlier_flags = getattr(batch, "outlier", None)
        outlier = (
            [lab == -1 for lab in labels]
            if outlier_flags is None
            else outlier_flags.astype(bool).tolist()
        )

        probabilities: list[dict[int, float]] | None = None
        column_ids: list[int] | None = None
        if getattr(batch, "probabilities", None) is not None:
            # Column j of the posterior matrix is internal label j (a GMM component).
            column_ids = [ids.get(j, j) for j in range(batch.probabilities.shape[1])]
            probabilities = [
                dict(zip(column_ids, row, strict=True)) for row in batch.probabilities.tolist()
            ]
        return SegmentAssignments(
            choice=choice,
            segment_ids=segment_ids,
            segment_names=segment_names,
            distance=_finite_or_none(getattr(batch, "distance", None), n),
            confidence=_finite_or_none(getattr(batch, "confidence", None), n),
            probabilities=probabilities,
            probability_ids=column_ids,
            outlier=outlier,
            imputed=imputed,
            warnings=warnings,
        )

    def assign(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
        path: TransformPath = "auto",
    ) -> list[CustomerAssignment]:
        """Assign customers (keyed by the upload's original column names) to segments.

        Parameters
        ----------
        records : sequence of mapping
            One mapping per customer; missing or null values are imputed as in training.
        algorithm : str, optional
            Any fitted algorithm; default the version's champion.
        k : int, optional
            Any k of that algorithm's sweep; default its chosen k.
        path : {"auto", "fast", "frame"}
            ``"auto"``/``"fast"``: the numpy path (the serving bundle when the version has
            one); ``"frame"``: the reference skops path (pandas, scikit-learn). They agree;
            the tests pin that.

        Returns
        -------
        list of CustomerAssignment
            In request order.

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (names row and column).
        AlgorithmNotFittedError
            That algorithm or k was not fitted in this version.
        ArtifactError
            An artifact was tampered with or carries an untrusted type.

        Examples
        --------
        >>> [a.segment_id for a in model.assign(customers)]  # doctest: +SKIP
        [0, 3]
        """
        return self.assign_batch(records, algorithm=algorithm, k=k, path=path).rows()
