"""Serving one published model version: load it once, assign customers to segments fast.

:class:`SegmentationModel` is one version of one dataset: its manifest and profiles (JSON, read
eagerly) and, loaded lazily on first use, its serving bundle (:mod:`shared.serving.bundle`):
``serving/params.json`` (the fitted preprocessing and each model's rule spec) and one
``serving/<model_key>.npz`` per model (``kmeans-k5``, ``gmm-k3``, ``dbscan``...). Every file is
read through :func:`shared.store.base.read_verified_artifact` (sha256 checked against the
manifest) before it is parsed, and the arrays are read with ``allow_pickle=False``: a tampered
file is refused, never executed.

The bundle is mandatory: a version without ``serving/params.json`` is refused with an
:class:`~shared.exceptions.ArtifactError` naming the file. Customers are assigned with numpy
alone (:class:`~shared.serving.transform.ServingTransform`, then the model's rule); no skops,
scikit-learn, scipy or pandas is imported, which keeps a Lambda cold start short. The skops
artifacts beside the bundle stay the reviewed reference: the tests' oracle
(``tests/support/oracle.py``), the CLI and the benchmark read them through
:mod:`shared.engine.persistence`, and the tests pin the bundle to the same answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shared.contract.layout import (
    EVALUATION_PATH,
    PLOTS_PATH,
    PROFILES_PATH,
    SERVING_PARAMS_PATH,
    model_key,
)
from shared.contract.manifest import Manifest
from shared.contract.profiles import ProfileCatalog, SegmentSet
from shared.exceptions import AlgorithmNotFittedError, ArtifactError, InvalidCustomerError
from shared.quoting import quote_value
from shared.serving.bundle import ServingParams, read_serving_params
from shared.serving.explanations import SegmentExplainer
from shared.serving.results import CustomerAssignment, ModelChoice, SegmentAssignments
from shared.serving.rules import ServingRule, load_serving_rule
from shared.serving.transform import ServingTransform
from shared.serving.values import feature_columns
from shared.store.base import ModelStore, read_manifest, read_verified_artifact

if TYPE_CHECKING:
    import numpy as np

    from shared.contract.evaluation import Evaluation
    from shared.contract.plots import PlotData

logger = logging.getLogger(__name__)

LOW_INFORMATION_SHARE = 0.5
"""A customer with more than this share of its features imputed gets ``confidence: null``: its
segment comes mostly from the training medians and modes, not from what was sent."""
_SHOWN_FEATURES = 20

MAX_ROW_WARNINGS = 10
"""Most warnings listed for one customer; the rest are counted in a last "... and K more"."""
MAX_BATCH_WARNINGS = 1_000
"""Most warnings listed in one answer (a 10,000-customer batch of unknown keys would otherwise
answer with more warnings than assignments)."""


def cap_warnings(
    warnings: list[list[str]],
    per_row: int = MAX_ROW_WARNINGS,
    total: int = MAX_BATCH_WARNINGS,
) -> None:
    """Cut each customer's warnings to ``per_row`` and the batch's to ``total``, in place.

    A cut list ends with one ``"... and K more warning(s)"`` entry saying how many were left out.

    Examples
    --------
    >>> rows = [["a", "b", "c"], ["d"], ["e", "f"]]
    >>> cap_warnings(rows, per_row=2, total=3)
    >>> for row in rows:
    ...     print(row)
    ['a', '... and 2 more warning(s)']
    ['d']
    ['... and 2 more warning(s) (at most 3 per answer)']
    """
    budget = total
    for i, row in enumerate(warnings):
        room = min(per_row, budget)
        if len(row) <= room:
            budget -= len(row)
            continue
        keep = max(room - 1, 0)  # one line for the note
        reason = "" if room == per_row else f" (at most {total} per answer)"
        warnings[i] = [*row[:keep], f"... and {len(row) - keep} more warning(s){reason}"]
        budget -= keep


def _no_bundle(manifest: Manifest) -> str:
    return (
        f"{manifest.dataset} version {manifest.version} has no {SERVING_PARAMS_PATH} (no serving "
        "bundle); refusing it: train the upload again to publish a servable version"
    )


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

    Examples
    --------
    A version is opened through its manifest; one that was never published is refused by name
    (``tests/unit/test_model.py`` assigns customers with a hand-built version):

    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> SegmentationModel.open(LocalModelStore(tempfile.mkdtemp()), "mall", "v1")
    Traceback (most recent call last):
    ...
    shared.exceptions.VersionNotFoundError: ...
    """

    def __init__(
        self,
        store: ModelStore,
        manifest: Manifest,
        profiles: ProfileCatalog,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.profiles = profiles
        self._lock = threading.RLock()
        self._serving_transform: ServingTransform | None = None
        self._serving: ServingParams | None = None
        self._rules: dict[str, ServingRule] = {}
        self._explainers: dict[str, SegmentExplainer] = {}
        self._documents: dict[str, Any] = {}
        self._person_names: dict[int, str] = {}
        self._shown_sets: dict[str, SegmentSet] = {}

    # construction --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        store: ModelStore,
        dataset: str,
        version: str,
    ) -> SegmentationModel:
        """Read a version's manifest and verified profiles (the bundle is read on first use).

        Raises
        ------
        VersionNotFoundError
            When the dataset has no such complete version.
        ChecksumMismatchError
            When ``profiles.json`` does not match the manifest.
        ArtifactError
            When the manifest or the profiles are not valid documents, or the version has no
            serving bundle (the message names ``serving/params.json``).
        """
        try:
            manifest = read_manifest(store, dataset, version)
        except ValueError as e:  # pydantic's ValidationError: not a manifest document
            raise ArtifactError(
                f"manifest.json of {dataset} version {version} is not a valid manifest; "
                f"refusing it ({str(e).splitlines()[0]})"
            ) from e
        if SERVING_PARAMS_PATH not in manifest.artifacts:
            raise ArtifactError(_no_bundle(manifest))
        raw = read_verified_artifact(store, manifest, PROFILES_PATH)
        try:
            profiles = ProfileCatalog.model_validate_json(raw)
        except ValueError as e:
            raise ArtifactError(
                f"profiles.json of {dataset} version {version} is not a valid profile "
                "catalog; refusing it"
            ) from e
        return cls(store, manifest, profiles)

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

    def is_ready(self, algorithm: str | None = None, k: int | None = None) -> bool:
        """True when assigning with ``algorithm``/``k`` needs no store read (all loaded).

        False too when that model does not exist (:meth:`choose` then says why).
        """
        if self._serving_transform is None:
            return False
        try:
            return self.choose(algorithm, k).key in self._rules
        except AlgorithmNotFittedError:
            return False

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
                f"algorithm {quote_value(name)} was not fitted for {self.dataset} version "
                f"{self.version}; "
                f"fitted: {fitted}"
            )
        if k is None or k == summary.k:
            return ModelChoice(name, summary.k, model_key(name, summary.k), summary.artifact)
        if summary.k is None:
            raise AlgorithmNotFittedError(
                f"algorithm {quote_value(name)} has no k (it finds the number of segments "
                f"itself); drop k={k}"
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
                f"model {quote_value(choice.key)}"
            )
        return segments

    def set_person_names(self, names: Mapping[int, str]) -> None:
        """The names people gave segments (``names.json``: segment id -> name), which answers
        show instead of the generated ones (:func:`shared.contract.names.resolve_name`: a
        person's name wins over every other). The model registry sets them when it re-reads
        the dataset's pointer; a change drops the answers' cached names and reasons.

        Examples
        --------
        ``tests/unit/test_model.py`` assigns with and without a person's name.
        """
        names = dict(names)
        if names == self._person_names:
            return
        with self._lock:
            self._person_names = names
            self._shown_sets = {}
            self._explainers = {}

    @property
    def person_names(self) -> dict[int, str]:
        """The names people gave segments, as last set (segment id -> name)."""
        return dict(self._person_names)

    def shown_segment_set(self, choice: ModelChoice) -> SegmentSet:
        """:meth:`segment_set` with the names people gave its segments (see
        :meth:`set_person_names`); the generated set itself when nobody renamed one."""
        segments = self.segment_set(choice)
        names = self._person_names
        if not any(s.segment_id in names for s in segments.segments):
            return segments
        found = self._shown_sets.get(choice.key)
        if found is None:
            renamed = [
                s.model_copy(update={"name": names[s.segment_id]}) if s.segment_id in names else s
                for s in segments.segments
            ]
            found = segments.model_copy(update={"segments": renamed})
            self._shown_sets[choice.key] = found
        return found

    # lazily loaded artifacts ---------------------------------------------------------------

    def serving_params(self) -> ServingParams:
        """The version's ``serving/params.json`` (verified, parsed once).

        Raises
        ------
        ArtifactError
            When the version has no serving bundle, or the document is tampered with or
            malformed (the message names the file and the version).
        """
        if self._serving is None:
            with self._lock:
                if self._serving is None:
                    if SERVING_PARAMS_PATH not in self.manifest.artifacts:
                        raise ArtifactError(_no_bundle(self.manifest))
                    data = read_verified_artifact(self.store, self.manifest, SERVING_PARAMS_PATH)
                    try:
                        self._serving = read_serving_params(data)
                    except ArtifactError as e:
                        raise ArtifactError(f"{self.dataset}/{self.version}: {e}") from e
        return self._serving

    def serving_transform(self) -> ServingTransform:
        """Customer records -> prepared matrix with numpy, any batch size (built once).

        Raises
        ------
        ArtifactError
            When the bundle's preprocessing does not fit the manifest's schema.
        """
        if self._serving_transform is None:
            params = self.serving_params()
            with self._lock:
                if self._serving_transform is None:
                    try:
                        transform = ServingTransform(params.preprocessing, self.manifest.columns)
                    except ValueError as e:
                        raise ArtifactError(
                            f"{SERVING_PARAMS_PATH} of {self.dataset}/{self.version} refused: {e}"
                        ) from e
                    self._serving_transform = transform
        return self._serving_transform

    def rule(self, choice: ModelChoice) -> ServingRule:
        """The assignment rule of one model key (loaded on first use, thread-safe).

        Raises
        ------
        ArtifactError
            When the bundle has no rule for that model, or its file is tampered with or
            malformed.
        """
        found = self._rules.get(choice.key)
        if found is None:
            spec = self.serving_params().models.get(choice.key)
            if spec is None:
                raise ArtifactError(
                    f"{SERVING_PARAMS_PATH} of {self.dataset}/{self.version} has no rule for "
                    f"model {quote_value(choice.key)}; refusing it"
                )
            with self._lock:
                found = self._rules.get(choice.key)
                if found is None:
                    found = self._load_rule(spec)
                    self._rules[choice.key] = found
        return found

    def _load_rule(self, spec: Mapping[str, Any]) -> ServingRule:
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
            When the serving bundle is missing, tampered with or malformed.
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
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Validate and prepare customer records as in training (numpy only).

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
        return self.serving_transform().transform(records)

    def assign_batch(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
        explain: bool = False,
    ) -> SegmentAssignments:
        """Assign customers to segments, column by column (see :meth:`assign`).

        With ``explain=True`` each customer also gets the exact reasons of its segment
        (:mod:`shared.serving.explanations`).
        """
        choice = self.choose(algorithm, k)
        segments = self.shown_segment_set(choice)
        rule = self.rule(choice)
        if not records:
            return SegmentAssignments(
                choice, [], [], [], [], None, [], [], [], explanations=[] if explain else None
            )
        X, imputed, warnings = self.transform(records)
        cap_warnings(warnings)
        low_information = self._check_information(imputed, warnings)
        batch = rule.assign(X)
        result = SegmentAssignments.from_batch(choice, segments, batch, imputed, warnings)
        if explain:
            result = replace(result, explanations=self.explainer(choice).explain(X, batch))
        for i in low_information:
            result.confidence[i] = None
        return result

    def explainer(self, choice: ModelChoice) -> SegmentExplainer:
        """The reasons-builder of one model (built on first use from its rule and profiles)."""
        found = self._explainers.get(choice.key)
        if found is None:
            found = SegmentExplainer(
                self.rule(choice),
                self.serving_params().preprocessing,
                self.shown_segment_set(choice),
            )
            self._explainers[choice.key] = found
        return found

    def _check_information(self, imputed: list[list[str]], warnings: list[list[str]]) -> list[int]:
        """Refuse customers with no known feature; the rows whose confidence is withheld."""
        features = [c.name for c in feature_columns(self.manifest.columns)]
        n = len(features)
        low: list[int] = []
        for i, row_imputed in enumerate(imputed):
            missing = len(row_imputed)
            if missing >= n:
                shown = ", ".join(quote_value(name) for name in features[:_SHOWN_FEATURES])
                more = f" and {n - _SHOWN_FEATURES} more" if n > _SHOWN_FEATURES else ""
                raise InvalidCustomerError(
                    f"customer {i} has no known feature (every one would be imputed, so any "
                    f"segment would be a guess); expected at least one of: {shown}{more}",
                    row=i,
                    column="",
                )
            if missing > n * LOW_INFORMATION_SHARE:
                low.append(i)
                warnings[i].append(
                    f"{missing} of {n} features were imputed; confidence withheld (null)"
                )
        return low

    def assign(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
    ) -> list[CustomerAssignment]:
        """Assign customers (keyed by the upload's original column names) to segments.

        Parameters
        ----------
        records : sequence of mapping
            One mapping per customer; missing or null values are imputed as in training.
            A customer with no known feature (``{}``, or only misspelt columns) is refused:
            its segment would come from the imputed values alone. A customer with more than
            half of its features (:data:`LOW_INFORMATION_SHARE`) imputed is assigned with
            ``confidence`` None and a warning saying how many were imputed.
        algorithm : str, optional
            Any fitted algorithm; default the version's champion.
        k : int, optional
            Any k of that algorithm's sweep; default its chosen k.

        Returns
        -------
        list of CustomerAssignment
            In request order.

        Raises
        ------
        InvalidCustomerError
            A value of the wrong type (names row and column), or a customer with no known
            feature (names the row and the expected columns).
        AlgorithmNotFittedError
            That algorithm or k was not fitted in this version.
        ArtifactError
            The serving bundle is missing, tampered with or malformed.

        See :meth:`assign_batch` for the batch form; ``tests/unit/test_model.py`` pins both on
        a hand-built version.
        """
        return self.assign_batch(records, algorithm=algorithm, k=k).rows()
