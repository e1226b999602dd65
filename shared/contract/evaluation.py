"""The ``evaluation.json`` contract: metrics of every candidate, k sweeps, the comparison table."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field

from shared.contract.config import Algorithm
from shared.contract.documents import Document
from shared.contract.manifest import Metrics, StructureVerdict

logger = logging.getLogger(__name__)


class Candidate(Document):
    """One fitted candidate of a sweep."""

    k: int | None = Field(description="Requested k (None for DBSCAN).")
    n_segments: int
    metrics: Metrics
    params: dict[str, Any] = Field(default_factory=dict)
    fit_seconds: float = Field(ge=0)
    stability: float | None = Field(
        default=None,
        description="Reproducibility under resampling (see Evaluation.stability_method), "
        "scored for the k values of the elbow window; None elsewhere and for DBSCAN.",
    )


class AlgorithmSweep(Document):
    """Every candidate of one algorithm and the k the rule chose."""

    algorithm: Algorithm
    candidates: list[Candidate]
    chosen_k: int | None
    reason: str = Field(description="Why this k, in words, with the numbers that decided it.")
    fit_rows: int = Field(ge=0)
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Algorithm-specific curves: elbow knee, k-distance curve and eps, BIC/AIC.",
    )


class ComparisonRow(Document):
    """One line of the side-by-side table of algorithms at their chosen k."""

    algorithm: Algorithm
    k: int | None
    n_segments: int
    metrics: Metrics
    score: float | None = Field(default=None, description="Champion score (see the rule).")
    champion: bool = False
    eligible: bool = Field(
        default=True, description="False when the model cannot be champion (see the reason)."
    )
    ineligible_reason: str | None = None
    structure: StructureVerdict | None = None


class Evaluation(Document):
    """``evaluation.json``: sweeps, dendrogram data, and the comparison table."""

    sweeps: dict[str, AlgorithmSweep]
    comparison: list[ComparisonRow]
    champion: Algorithm
    champion_reason: str
    champion_eligible: bool = Field(
        default=True,
        description="False when no model passed the usability guardrails and the least "
        "unusable one was published.",
    )
    dendrogram: dict[str, Any] | None = Field(
        default=None,
        description="scipy dendrogram data (icoord, dcoord, leaf counts) of the ward linkage "
        "on the fit sample, truncated to a readable number of leaves.",
    )
    silhouette_sample: int = Field(ge=0, description="Rows the silhouette was computed on.")
    stability_method: str | None = Field(
        default=None, description="How Candidate.stability is measured, with its sizes."
    )
    metric_sample: int | None = Field(
        default=None,
        ge=0,
        description="Rows Davies-Bouldin's per-segment scatter was averaged over (a fixed "
        "random sample of at most METRIC_SAMPLE_CAP rows; every row of a smaller table). "
        "Inertia and Calinski-Harabasz always use every row.",
    )
