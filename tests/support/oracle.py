"""The reference route from customer records to segments: the skops artifacts, as trained.

``coerce_customers`` (a pandas DataFrame) -> the fitted ``ColumnTransformer``
(``preprocessor.skops``) -> the persisted assigner (``models/<key>.skops``), every file read
through the manifest's sha256 check and skops' reviewed trusted-type list. The API never takes
this route (it serves the numpy bundle, :mod:`shared.serving`); the equality tests pin the bundle
to it and ``bench/api.py`` measures against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared.engine.persistence import load_artifact
from shared.engine.preprocess import coerce_customers
from shared.exceptions import InvalidCustomerError
from shared.serving.model import SegmentationModel
from shared.serving.results import CustomerAssignment, ModelChoice, SegmentAssignments
from shared.store.base import read_verified_artifact

__all__ = ["ReferenceModel"]


class ReferenceModel:
    """One published version, assigned through its skops artifacts (pandas, scikit-learn).

    Parameters
    ----------
    model : SegmentationModel
        The served version (its store, manifest, profiles and model choice are reused, so both
        routes resolve ``algorithm``/``k`` and name segments identically).

    Examples
    --------
    >>> oracle = ReferenceModel(SegmentationModel.open(store, "mall", "v1"))  # doctest: +SKIP
    >>> [a.segment_id for a in oracle.assign([{"Age": 30}])]  # doctest: +SKIP
    [2]
    """

    def __init__(self, model: SegmentationModel) -> None:
        self.model = model
        self._preprocessor: Any = None
        self._assigners: dict[str, Any] = {}

    def _load(self, path: str) -> Any:
        return load_artifact(read_verified_artifact(self.model.store, self.model.manifest, path))

    def preprocessor(self) -> Any:
        """The fitted ``ColumnTransformer`` (``preprocessor.skops``), loaded once."""
        if self._preprocessor is None:
            self._preprocessor = self._load(self.model.manifest.preprocessor)
        return self._preprocessor

    def assigner(self, choice: ModelChoice) -> Any:
        """The persisted assigner of one model (``models/<key>.skops``), loaded once."""
        if choice.key not in self._assigners:
            self._assigners[choice.key] = self._load(choice.artifact)
        return self._assigners[choice.key]

    def transform(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """``(X, imputed, warnings)`` through ``coerce_customers`` and the ``ColumnTransformer``."""
        coerced = coerce_customers(records, self.model.manifest.columns)
        X = self.preprocessor().transform(coerced.frame)
        return np.asarray(X, dtype=np.float64), coerced.imputed, coerced.warnings

    def assign_batch(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
    ) -> SegmentAssignments:
        """The reference answer for a batch, named like the served one."""
        choice = self.model.choose(algorithm, k)
        segments = self.model.segment_set(choice)
        assigner = self.assigner(choice)
        X, imputed, warnings = self.transform(records)
        n = sum(1 for c in self.model.manifest.columns if c.used)
        for i, cols in enumerate(imputed):
            if len(cols) == n:
                raise InvalidCustomerError(f"customer {i} has no known feature", row=i, column="")
        result = SegmentAssignments.from_batch(
            choice, segments, assigner.assign(X), imputed, warnings
        )
        # Most features imputed: the segment mostly reflects the training medians and modes.
        for i, cols in enumerate(imputed):
            if 2 * len(cols) > n:
                result.confidence[i] = None
                warnings[i].append(
                    f"{len(cols)} of {n} features were imputed; confidence withheld (null)"
                )
        return result

    def assign(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
    ) -> list[CustomerAssignment]:
        """One reference :class:`CustomerAssignment` per record, in order."""
        return self.assign_batch(records, algorithm=algorithm, k=k).rows()
