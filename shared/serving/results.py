"""What an assignment returns: per customer and per batch."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.contract.profiles import OUTLIER_NAME, OUTLIER_SEGMENT_ID, SegmentSet

if TYPE_CHECKING:
    from shared.serving.kernels import AssignmentBatch

logger = logging.getLogger(__name__)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerAssignment:
    """The segment one customer belongs to, and how sure the model is.

    Attributes
    ----------
    segment_id : int
        Stable segment id (``-1``: DBSCAN noise, the "Outliers" segment).
    segment_name : str
        The segment's readable name.
    distance : float or None
        Distance to the segment's centre (or nearest core point) in the prepared feature space.
    confidence : float or None
        How clearly the customer belongs to the segment (0..1; the GMM posterior for GMM).
    probabilities : dict or None
        GMM only: segment id -> posterior probability.
    outlier : bool
        True when the algorithm flags the customer as an outlier.
    imputed : list of str
        Columns whose missing value was imputed as in training.
    warnings : list of str
        Soft problems (values outside the training range, unseen categories).
    explanation : dict or None
        With ``explain=True``: why this segment (:mod:`shared.serving.explanations`).
    """

    segment_id: int
    segment_name: str
    distance: float | None
    confidence: float | None
    probabilities: dict[int, float] | None
    outlier: bool
    imputed: list[str]
    warnings: list[str]
    explanation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (probability keys become strings, as JSON requires)."""
        extra = {} if self.explanation is None else {"explanation": self.explanation}
        return {
            "segment_id": self.segment_id,
            "segment_name": self.segment_name,
            "distance": self.distance,
            "confidence": self.confidence,
            "probabilities": (
                None
                if self.probabilities is None
                else {str(k): v for k, v in self.probabilities.items()}
            ),
            "outlier": self.outlier,
            "imputed": self.imputed,
            "warnings": self.warnings,
            **extra,
        }


@dataclass(frozen=True)
class ModelChoice:
    """One fitted model of a version, resolved from ``algorithm=`` and ``k=``."""

    algorithm: str
    k: int | None
    key: str
    artifact: str


@dataclass(frozen=True)
class SegmentAssignments:
    """A batch's assignments, column by column (cheap to build and to serialize).

    ``rows()`` turns them into :class:`CustomerAssignment` objects; ``to_dicts()`` into
    JSON-ready mappings, in request order.
    """

    choice: ModelChoice
    segment_ids: list[int]
    segment_names: list[str]
    distance: list[float | None]
    confidence: list[float | None]
    probabilities: list[dict[int, float]] | None
    outlier: list[bool]
    imputed: list[list[str]]
    warnings: list[list[str]]
    probability_ids: list[int] | None = None
    """The segment ids keying every row of ``probabilities``, in the same order (when set,
    ``to_dicts`` formats the keys once instead of once per customer)."""
    explanations: list[dict[str, Any]] | None = None
    """With ``explain=True``: one explanation per customer (:mod:`shared.serving.explanations`)."""

    def __len__(self) -> int:
        return len(self.segment_ids)

    @classmethod
    def from_batch(
        cls,
        choice: ModelChoice,
        segments: SegmentSet,
        batch: AssignmentBatch,
        imputed: list[list[str]],
        warnings: list[list[str]],
    ) -> SegmentAssignments:
        """Name a batch's internal labels with the model's segments (stable ids and names).

        Internal labels without a segment (DBSCAN noise, ``-1``) become the Outliers segment;
        GMM posterior column ``j`` (internal label ``j``) is keyed by that label's segment id.

        Examples
        --------
        >>> import numpy as np
        >>> from shared.contract.profiles import SegmentProfile
        >>> from shared.serving.kernels import AssignmentBatch
        >>> profile = SegmentProfile(segment_id=7, label=0, name="Savers", description="",
        ...                          size=3, share=1.0)
        >>> segments = SegmentSet(algorithm="dbscan", k=None, n_segments=1, segments=[profile])
        >>> batch = AssignmentBatch(np.array([0, -1]), np.array([0.1, 2.0]), np.array([0.9, 0.0]),
        ...                         None, np.array([False, True]))
        >>> choice = ModelChoice("dbscan", None, "dbscan", "models/dbscan.skops")
        >>> out = SegmentAssignments.from_batch(choice, segments, batch, [[], []], [[], []])
        >>> out.segment_ids, out.segment_names, out.outlier
        ([7, -1], ['Savers', 'Outliers'], [False, True])
        """
        n = len(batch)
        by_label = segments.label_to_segment()
        ids: dict[int, int] = {label: s.segment_id for label, s in by_label.items()}
        names: dict[int, str] = {label: s.name for label, s in by_label.items()}
        labels = batch.labels.tolist()
        probabilities: list[dict[int, float]] | None = None
        column_ids: list[int] | None = None
        if batch.probabilities is not None:
            # Column j of the posterior matrix is internal label j (a GMM component).
            column_ids = [ids.get(j, j) for j in range(batch.probabilities.shape[1])]
            probabilities = [
                dict(zip(column_ids, row, strict=True)) for row in batch.probabilities.tolist()
            ]
        return cls(
            choice=choice,
            segment_ids=[ids.get(lab, OUTLIER_SEGMENT_ID) for lab in labels],
            segment_names=[names.get(lab, OUTLIER_NAME) for lab in labels],
            distance=_finite_or_none(batch.distance, n),
            confidence=_finite_or_none(batch.confidence, n),
            probabilities=probabilities,
            probability_ids=column_ids,
            outlier=batch.outlier.astype(bool).tolist(),
            imputed=imputed,
            warnings=warnings,
        )

    def rows(self) -> list[CustomerAssignment]:
        """One :class:`CustomerAssignment` per customer, in request order."""
        probs = self.probabilities
        return [
            CustomerAssignment(
                segment_id=self.segment_ids[i],
                segment_name=self.segment_names[i],
                distance=self.distance[i],
                confidence=self.confidence[i],
                probabilities=None if probs is None else probs[i],
                outlier=self.outlier[i],
                imputed=self.imputed[i],
                warnings=self.warnings[i],
                explanation=None if self.explanations is None else self.explanations[i],
            )
            for i in range(len(self.segment_ids))
        ]

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready mappings, in request order (probability keys as strings)."""
        n = len(self.segment_ids)
        probs: list[dict[str, float]] | list[None]
        if self.probabilities is None:
            probs = [None] * n
        elif self.probability_ids is not None:
            keys = [str(k) for k in self.probability_ids]
            probs = [dict(zip(keys, p.values(), strict=True)) for p in self.probabilities]
        else:
            probs = [{str(k): v for k, v in p.items()} for p in self.probabilities]
        # zip + a dict display: several times faster than indexing each column per row.
        rows = [
            {
                "segment_id": sid,
                "segment_name": name,
                "distance": dist,
                "confidence": conf,
                "probabilities": prob,
                "outlier": out,
                "imputed": imp,
                "warnings": warn,
            }
            for sid, name, dist, conf, prob, out, imp, warn in zip(
                self.segment_ids,
                self.segment_names,
                self.distance,
                self.confidence,
                probs,
                self.outlier,
                self.imputed,
                self.warnings,
                strict=True,
            )
        ]
        if self.explanations is not None:
            for row, explanation in zip(rows, self.explanations, strict=True):
                row["explanation"] = explanation
        return rows


def _finite_or_none(values: Any, n: int) -> list[float | None]:
    """A float list with NaN/inf (and a missing array) as None: JSON has no NaN."""
    if values is None:
        return [None] * n
    import numpy as np

    if np.isfinite(values).all():  # the common case: one C loop, no per-value check
        finite: list[float | None] = values.tolist()
        return finite
    return [v if math.isfinite(v) else None for v in values.tolist()]
