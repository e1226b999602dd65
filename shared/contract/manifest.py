"""The documents a training run publishes and readers rely on (the models-bucket contract).

``Manifest`` is ``datasets/<dataset>/versions/<version>/manifest.json``; ``CurrentPointer`` is
``datasets/<dataset>/current.json``; ``FailureReport`` is ``datasets/<dataset>/failures/<id>.json``.
Model keys name one fitted model of the sweep: ``kmeans-k5``, ``gmm-k3``, ``agglomerative-k4``,
``dbscan``; its artifact is ``models/<key>.skops`` beside the manifest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from shared.contract.config import Algorithm, DatasetConfig
from shared.contract.documents import Document
from shared.contract.layout import PREPROCESSOR_PATH
from shared.contract.profiles import SegmentIdChanges
from shared.contract.transactions import TransactionSummary

ColumnRole = Literal["id", "numeric", "categorical", "date", "dropped"]
StructureLevel = Literal["none", "weak", "reasonable", "strong"]
"""How clearly customers form groups: no substantial structure, weak, reasonable, strong."""
STRUCTURE_WORDS: dict[StructureLevel, str] = {
    "none": "no substantial structure",
    "weak": "weak structure",
    "reasonable": "reasonable structure",
    "strong": "strong structure",
}
"""The structure levels in words."""


class ColumnSchema(Document):
    """What training inferred (or the config decided) about one input column."""

    name: str
    role: ColumnRole
    dtype: Literal["integer", "float", "string", "boolean", "datetime"]
    used: bool = Field(description="True when the column is a clustering feature.")
    profiled: bool = Field(
        default=False,
        description="True when the column is not clustered on but described per segment "
        "(numeric summaries or category mixes in the profiles, figures and filters).",
    )
    reason: str | None = Field(default=None, description="Why dropped, or why this role.")
    missing: int = Field(default=0, ge=0, description="Missing values in the training rows.")
    imputed_with: float | str | None = None
    transform: Literal["log1p"] | None = None
    categories: list[str] | None = Field(
        default=None, description="Categories seen in training (categorical columns)."
    )
    min: float | None = Field(default=None, description="Smallest training value (numeric).")
    max: float | None = Field(default=None, description="Largest training value (numeric).")
    date_reference: str | None = Field(
        default=None,
        description="Date columns: ISO date the age in days is measured from (newest date seen).",
    )
    date_format: str | None = Field(
        default=None,
        description="Date columns: strftime format the training values were parsed with "
        "(None: ISO 8601 or a native datetime column).",
    )


class SourceInfo(Document):
    """The uploaded object a version was trained from."""

    bucket: str | None = None
    key: str
    version_id: str | None = None
    etag: str | None = None
    sha256: str
    size: int = Field(ge=0)
    config_sha256: str | None = Field(
        default=None,
        description="sha256 of the effective dataset config the version was trained with "
        "(part of the version id: a new config makes a new version).",
    )
    event_time: datetime | None = Field(
        default=None,
        description="The S3 event time of the upload (milliseconds), when training came from "
        "an event for this object: orders versions whose ids share an upload second.",
    )


class RowCounts(Document):
    """Rows read, used and dropped, and values imputed: nothing silent."""

    read: int = Field(ge=0)
    used: int = Field(ge=0)
    dropped: int = Field(ge=0)
    dropped_reasons: dict[str, int] = Field(default_factory=dict)
    imputed_values: dict[str, int] = Field(
        default_factory=dict, description="Per column, how many missing values were imputed."
    )


class Metrics(Document):
    """Quality metrics of one fitted model. ``None`` only where fewer than two segments exist."""

    model_config = ConfigDict(extra="allow")

    silhouette: float | None
    davies_bouldin: float | None
    calinski_harabasz: float | None
    inertia: float | None = None
    bic: float | None = None
    aic: float | None = None
    noise_share: float | None = None


class StructureVerdict(Document):
    """Whether a model's segments are real groups or slices of a continuum, and why.

    See ``shared.engine.structure`` for the rule (silhouette bands capped by a null reference).
    """

    verdict: StructureLevel = Field(description="The verdict: none, weak, reasonable, strong.")
    band: StructureLevel = Field(
        description="Kaufman & Rousseeuw's band of the silhouette alone (< 0.25 none, "
        "0.25-0.5 weak, 0.5-0.7 reasonable, > 0.7 strong)."
    )
    silhouette: float | None = Field(description="The model's silhouette.")
    null_silhouette: float | None = Field(
        default=None,
        description="Mean silhouette of the same algorithm at the same k on reference tables "
        "whose columns were permuted independently (no groups); None when not computed.",
    )
    null_rows: int = Field(default=0, ge=0, description="Rows of each reference table.")
    null_references: int = Field(default=0, ge=0, description="Reference tables averaged.")
    reason: str = Field(description="The verdict in one sentence, with its numbers.")


class AlgorithmSummary(Document):
    """One algorithm of a version: its chosen model and every model of its sweep."""

    n_segments: int = Field(ge=0)
    k: int | None = Field(default=None, description="Chosen k (None for DBSCAN).")
    metrics: Metrics
    params: dict[str, Any] = Field(default_factory=dict)
    artifact: str = Field(description="Relative path of the chosen model's skops artifact.")
    models: dict[str, str] = Field(
        default_factory=dict, description="Every fitted model of the sweep: str(k) -> artifact."
    )
    assignment_rule: str = Field(description="How new customers are assigned, in words.")
    rule_agreement: float | None = Field(
        default=None,
        description="Share of training rows whose assignment by the rule equals the fit's label.",
    )
    fit_rows: int = Field(ge=0, description="Rows the fit saw (a sample for O(n^2) algorithms).")
    note: str | None = None
    eligible: bool = Field(
        default=True,
        description="False when this model cannot be champion: fewer than two segments or "
        "segments failing the usability guardrails (see ineligible_reason).",
    )
    ineligible_reason: str | None = Field(
        default=None, description="Why the model cannot be champion, in plain words."
    )
    structure: StructureVerdict | None = Field(
        default=None, description="Whether its segments are real groups (see StructureVerdict)."
    )


class SelectionInfo(Document):
    """How k and the champion were chosen, in words and numbers."""

    k_rule: str
    champion_rule: str
    scores: dict[str, float] = Field(default_factory=dict)
    guardrails: dict[str, float] = Field(
        default_factory=dict,
        description="The usability limits applied (max_segment_share, min_segment_share, "
        "min_segment_size, max_noise_share).",
    )
    champion_eligible: bool = Field(
        default=True,
        description="False when no model passed the guardrails and the least unusable one "
        "was published (the warnings say so).",
    )
    structure_rule: str | None = Field(
        default=None, description="How the structure verdicts are decided."
    )


class ArtifactInfo(Document):
    """Integrity record of one artifact, checked before it is loaded."""

    sha256: str
    size: int = Field(ge=0)
    content_type: str = "application/octet-stream"


class Manifest(Document):
    """``manifest.json`` of one published version."""

    version: str
    dataset: str
    created_at: datetime
    source: SourceInfo
    rows: RowCounts
    columns: list[ColumnSchema] = Field(alias="schema")
    config: DatasetConfig
    champion: Algorithm
    algorithms: dict[str, AlgorithmSummary]
    selection: SelectionInfo
    preprocessor: str = PREPROCESSOR_PATH
    feature_names: list[str] = Field(
        default_factory=list, description="Columns of the prepared matrix."
    )
    artifacts: dict[str, ArtifactInfo] = Field(default_factory=dict)
    previous_version: str | None = None
    engine: dict[str, str] = Field(default_factory=dict, description="Library versions.")
    warnings: list[str] = Field(
        default_factory=list, description="Soft problems the training run reported."
    )
    segment_ids: SegmentIdChanges | None = Field(
        default=None,
        description="Champion segment ids kept from the current version, new and retired.",
    )
    transactions: TransactionSummary | None = Field(
        default=None,
        description="How an order-line upload became customers (None: a customer table).",
    )

    def to_json(self) -> str:
        """Serialize with the contract's field names (``schema``, not ``columns``)."""
        return self.model_dump_json(by_alias=True, indent=2)

    @property
    def id_column(self) -> str | None:
        """The identifier column, if the upload had one."""
        return next((c.name for c in self.columns if c.role == "id"), None)

    @property
    def input_columns(self) -> list[ColumnSchema]:
        """Columns a customer record for assignment is keyed by (the clustering features)."""
        return [c for c in self.columns if c.used]


class CurrentPointer(Document):
    """``current.json``: which version readers serve. Written last, only after a full version."""

    version: str
    updated_at: datetime
    source_key: str | None = None
    source_last_modified: datetime | None = Field(
        default=None, description="Upload time of the source; an older upload never wins."
    )
    source_event_time: datetime | None = Field(
        default=None,
        description="The S3 event time of the upload (milliseconds): orders two uploads made "
        "within one second, which ``source_last_modified`` (whole seconds) cannot.",
    )
    config_read_at: datetime | None = Field(
        default=None,
        description="When the run read the dataset config: of two versions of one upload "
        "(trained with different configs), the one whose config was read last wins.",
    )
    promoted: bool = Field(default=False, description="True when set by a promote call.")


class FailureReport(Document):
    """``failures/<id>.json``: why an upload could not be used."""

    id: str
    dataset: str
    error: str
    error_type: str
    source: SourceInfo | dict[str, Any]
    created_at: datetime
    request_id: str | None = None
    """The training invocation's request id, for internal errors (the log has the details)."""
