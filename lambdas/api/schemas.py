"""Request and response models of the segment API (the HTTP contract, as pydantic).

Documents published by training (``SegmentProfile``, ``ColumnSchema``, ``Evaluation``...) are
reused as they are, so the API and the models bucket never drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contract.config import Algorithm, DatasetConfig
from shared.contract.evaluation import Evaluation
from shared.contract.manifest import (
    ColumnSchema,
    FailureReport,
    Metrics,
    RowCounts,
    SelectionInfo,
    SourceInfo,
    StructureVerdict,
)
from shared.contract.names import MAX_NAME_CHARS, NAME_PATTERN, clean_segment_name
from shared.contract.plots import PlotData
from shared.contract.profiles import NumericSummary, SegmentProfile
from shared.contract.transactions import TransactionSummary

__all__ = [
    "AlgorithmInfo",
    "AssignRequest",
    "AssignResponse",
    "Assignment",
    "AuthConfig",
    "Contribution",
    "CustomerRecord",
    "DatasetDetail",
    "DatasetItem",
    "DatasetList",
    "ErrorResponse",
    "EvaluationResponse",
    "Explanation",
    "FailureList",
    "FieldProblem",
    "HealthResponse",
    "PlotsResponse",
    "PromoteResponse",
    "ReportLink",
    "SegmentDetail",
    "SegmentRef",
    "SegmentsResponse",
    "TransactionAssignRequest",
    "TransactionAssignResponse",
    "TransactionAssignment",
    "VersionItem",
    "VersionList",
]

CustomerValue = str | int | float | bool | None
CustomerRecord = dict[str, CustomerValue]


class _Schema(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# --- errors ------------------------------------------------------------------------------------


class FieldProblem(_Schema):
    """One invalid field of a request."""

    field: str = Field(description="Where: 'customers[3].Age', 'k', 'body'...")
    message: str
    row: int | None = Field(default=None, description="Zero-based customer index, if any.")
    column: str | None = Field(default=None, description="The customer's column, if any.")


class ErrorResponse(_Schema):
    """Every error answer: a machine code, a message naming the problem, a request id."""

    error: str = Field(description="Machine-readable code: not_found, invalid_customer...")
    message: str = Field(description="What went wrong, naming the field, row, value or limit.")
    request_id: str | None = None
    field: str | None = None
    row: int | None = None
    column: str | None = None
    limit: int | None = None
    problems: list[FieldProblem] | None = None


# --- health and datasets -----------------------------------------------------------------------


class HealthResponse(_Schema):
    """Liveness, plus whether in-app authorization is on."""

    status: Literal["ok"] = "ok"
    auth: Literal["enabled", "disabled"]
    version: str = Field(description="Application version.")
    store: Literal["s3", "local", "unconfigured"]
    models: dict[str, str] = Field(
        default_factory=dict, description="Dataset -> version cached by this container."
    )


class DatasetItem(_Schema):
    """A dataset and the version it currently serves (None: no model yet)."""

    dataset: str
    current_version: str | None
    updated_at: datetime | None = None
    promoted: bool = False


class DatasetList(_Schema):
    datasets: list[DatasetItem]


class AlgorithmInfo(_Schema):
    """One fitted algorithm of a version."""

    n_segments: int
    k: int | None
    ks: list[int] = Field(
        default_factory=list, description="Every k of the sweep (any can be used)."
    )
    champion: bool = False
    metrics: Metrics
    params: dict[str, object] = Field(default_factory=dict)
    assignment_rule: str
    rule_agreement: float | None = None
    fit_rows: int
    note: str | None = None
    eligible: bool = Field(
        default=True, description="False when the model cannot be champion (see the reason)."
    )
    ineligible_reason: str | None = None
    structure: StructureVerdict | None = Field(
        default=None, description="Whether its segments are real groups (verdict and numbers)."
    )


class DatasetDetail(_Schema):
    """The manifest summary of one version."""

    dataset: str
    model_version: str
    created_at: datetime
    source: SourceInfo
    rows: RowCounts
    columns: list[ColumnSchema] = Field(description="Every input column: role, type, range.")
    input_columns: list[str] = Field(description="Columns a customer record for /assign uses.")
    config: DatasetConfig
    champion: Algorithm
    algorithms: dict[str, AlgorithmInfo]
    selection: SelectionInfo
    feature_names: list[str]
    previous_version: str | None = None
    engine: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(
        default_factory=list,
        description="What a reader of these segments should know, in plain sentences (weak "
        "structure, guardrails, rows left out, columns not used, values filled in).",
    )
    transactions: TransactionSummary | None = Field(
        default=None,
        description="For a version trained on order lines: how they became customers (roles, "
        "lines, customers, dropped lines and why); POST /assign-transactions takes such lines.",
    )


# --- segments ----------------------------------------------------------------------------------


class NamedSegment(SegmentProfile):
    """A segment profile with the name people see (``name``) and where it comes from."""

    generated_name: str = Field(description="The name training gave the segment.")
    name_source: Literal["person", "known_group", "rfm", "generated"] = Field(
        default="generated", description="Where ``name`` comes from (strongest first)."
    )


class SegmentsResponse(_Schema):
    """Every segment of one fitted model."""

    dataset: str
    model_version: str
    algorithm: Algorithm
    k: int | None
    n_segments: int
    segments: list[NamedSegment]
    population: dict[str, NumericSummary] = Field(
        default_factory=dict,
        description="Per numeric column, the whole population's summary (what z compares to).",
    )
    population_categorical: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per categorical column, the population's mix."
    )


class SegmentDetail(NamedSegment):
    """One segment, with the model it belongs to."""

    dataset: str
    model_version: str
    algorithm: Algorithm
    k: int | None


# --- assign ------------------------------------------------------------------------------------


class AssignRequest(_Schema):
    """Customers to assign, keyed by the upload's original column names."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customers": [
                        {
                            "Gender": "Female",
                            "Age": 31,
                            "Annual Income (k$)": 70,
                            "Spending Score (1-100)": 77,
                        }
                    ]
                }
            ]
        }
    )

    customers: list[CustomerRecord] = Field(
        description="One object per customer; a missing or null value is imputed as in "
        "training (and flagged). At most MAX_ASSIGN_BATCH (default 10,000) customers."
    )


class SegmentRef(_Schema):
    """A segment named by id and name."""

    segment_id: int
    segment_name: str


class Contribution(_Schema):
    """One input column's share of an assignment's margin, in original units."""

    column: str
    contribution: float = Field(
        description="Part of the margin this column owns: > 0 pushed towards the assigned "
        "segment, < 0 towards the runner-up (`versus`)."
    )
    value: float | str | None = Field(
        description="The value the model used (an imputed value is the training fill value; "
        "null: a category unseen in training)."
    )
    segment_mean: float | None = None
    versus_mean: float | None = None
    segment_share: float | None = Field(
        default=None, description="Categorical: share of the customer's category in the segment."
    )
    versus_share: float | None = None
    text: str = Field(description="The reason in a sentence.")


class Explanation(_Schema):
    """Why the customer is in its segment (`explain=true`): the rule's own margin, split over the
    columns exactly (the autoencoder's by integrated gradients, which add up to it too)."""

    versus: SegmentRef | None = Field(
        description="The runner-up: the segment the customer came closest to joining instead "
        "(for DBSCAN noise, the segment it failed to reach); null when there is no other one."
    )
    margin: float = Field(description="How much the rule favoured the assigned segment (>= 0).")
    margin_kind: Literal[
        "squared_distance_gap",
        "log_posterior_ratio",
        "beyond_eps",
        "within_eps",
        "latent_squared_distance_gap",
    ] = Field(
        description="What the margin measures: squared_distance_gap (centroid rules and DBSCAN: "
        "squared distance to the runner-up's centre or core sample minus that to the assigned "
        "one's, prepared space), log_posterior_ratio (GMM: log p(assigned|x) - "
        "log p(runner-up|x)), beyond_eps (DBSCAN noise: squared distance to the nearest core "
        "sample minus eps^2), within_eps (DBSCAN with a single segment, the runner-up being the "
        "outliers: eps^2 minus the squared distance to the nearest core sample), "
        "latent_squared_distance_gap (autoencoder: the same gap between latent centres, split "
        "over the columns by integrated gradients from the average customer)."
    )
    baseline: float = Field(
        description="The part of the margin no column owns (GMM: component sizes and spreads; "
        "DBSCAN noise: -eps^2; DBSCAN's only segment: eps^2; autoencoder: the margin the "
        "average customer would have between the same two segments; otherwise 0)."
    )
    other: float = Field(description="Sum of the contributions of the columns not listed.")
    contributions: list[Contribution] = Field(
        description="The largest contributions by absolute value; baseline + other + their "
        "sum = margin."
    )


class Assignment(_Schema):
    """The segment of one customer."""

    segment_id: int = Field(description="Stable segment id; -1 is the Outliers segment.")
    segment_name: str
    distance: float | None = Field(
        default=None, description="Distance to the segment in the standardized feature space."
    )
    confidence: float | None = Field(default=None, description="0..1, higher is clearer.")
    probabilities: dict[str, float] | None = Field(
        default=None, description="GMM: segment id -> posterior probability."
    )
    outlier: bool = False
    imputed: list[str] = Field(default_factory=list, description="Columns imputed as in training.")
    warnings: list[str] = Field(default_factory=list)
    prepared: list[float] | None = Field(
        default=None,
        description="With `prepared=true`: the customer's prepared feature vector (model "
        "matrix row); plots.json's `pca_projection` maps it onto the customer map.",
    )
    explanation: Explanation | None = Field(
        default=None, description="With `explain=true`: why this segment."
    )


class AssignResponse(_Schema):
    """Assignments in request order."""

    dataset: str
    model_version: str
    algorithm: Algorithm
    k: int | None
    count: int
    assignments: list[Assignment]


class TransactionAssignRequest(_Schema):
    """Order lines to aggregate per customer and assign, keyed by the upload's column names."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transactions": [
                        {
                            "InvoiceNo": "581475",
                            "InvoiceDate": "12/09/2011 12:39",
                            "CustomerID": 13069,
                            "StockCode": "22596",
                            "Quantity": 36,
                            "UnitPrice": 0.39,
                        }
                    ],
                    "as_of": "2011-12-10",
                }
            ]
        }
    )

    transactions: list[CustomerRecord] = Field(
        description="One object per order line, keyed by the training upload's columns (the "
        "version's manifest lists them under transactions.spec.columns). At most "
        "MAX_ASSIGN_BATCH (default 10,000) lines."
    )
    as_of: date | None = Field(
        default=None,
        description="Day recency and tenure are counted to (YYYY-MM-DD); default: today (UTC).",
    )


class TransactionAssignment(Assignment):
    """The segment of one customer aggregated from order lines."""

    customer_id: str = Field(description="The customer, as labelled in training.")
    features: dict[str, float] = Field(
        description="The customer's aggregated features (recency_days, frequency, ...)."
    )


class TransactionAssignResponse(_Schema):
    """One assignment per customer, in customer-id order."""

    dataset: str
    model_version: str
    algorithm: Algorithm
    k: int | None
    as_of: date = Field(description="The day recency and tenure were counted to.")
    as_of_source: Literal["request", "today"] = Field(
        description="Whether as_of came with the request or is today's date (UTC)."
    )
    lines: int = Field(description="Order lines received.")
    dropped_lines: dict[str, int] = Field(
        description="Lines left out, by reason (no customer id, no valid date, no amount)."
    )
    count: int = Field(description="Customers assigned.")
    assignments: list[TransactionAssignment]


# --- evaluation, plots, failures ---------------------------------------------------------------


class EvaluationResponse(Evaluation):
    """``evaluation.json`` of a version: sweeps, comparison, dendrogram."""

    dataset: str
    model_version: str


class PlotsResponse(PlotData):
    """``plots.json`` of a version: sampled points and ready Plotly figures."""

    dataset: str
    model_version: str


class FailureList(_Schema):
    """Recent failure reports of a dataset, newest first."""

    dataset: str
    failures: list[FailureReport]


# --- versions ----------------------------------------------------------------------------------


class VersionItem(_Schema):
    version: str
    created_at: datetime
    champion: Algorithm
    rows_used: int
    source_key: str
    previous_version: str | None = None
    current: bool = False


class VersionList(_Schema):
    """Every complete version of a dataset, newest first."""

    dataset: str
    current_version: str | None
    versions: list[VersionItem]


class PromoteResponse(_Schema):
    """The result of pointing ``current.json`` at a version."""

    dataset: str
    version: str
    previous_version: str | None
    updated_at: datetime


# --- status ------------------------------------------------------------------------------------


class TrainingRunInfo(_Schema):
    """A training run holding its claim: a version being trained right now."""

    version: str
    source_key: str | None = Field(default=None, description="The upload being trained.")
    since: datetime = Field(description="When the run claimed the version.")


class DatasetStatus(_Schema):
    """What a dashboard polls: is a model training, did the newest upload fail, which version
    is served."""

    dataset: str
    current_version: str | None = Field(description="The version served (None: no model yet).")
    updated_at: datetime | None = Field(
        default=None, description="When ``current.json`` last changed."
    )
    training: list[TrainingRunInfo] = Field(
        default_factory=list, description="Runs in progress (claims younger than the timeout)."
    )
    last_failure: FailureReport | None = Field(
        default=None, description="The newest failure report, if any."
    )


# --- segment work ------------------------------------------------------------------------------


class SegmentNameRequest(_Schema):
    """A person's name for a segment; null clears it (the generated name shows again)."""

    name: str | None = Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN)

    @field_validator("name")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else clean_segment_name(value)


class SegmentNameResponse(_Schema):
    dataset: str
    segment_id: int
    name: str | None = Field(description="The person's name now set (None: cleared).")
    names: dict[str, str] = Field(description="Every name people set, by segment id.")


class SegmentCount(_Schema):
    segment_id: int
    name: str
    size: int
    share: float


class SegmentMove(_Schema):
    from_segment: int
    to_segment: int
    customers: int


class VersionComparison(_Schema):
    """Two versions' published segments side by side, and how customers moved between them."""

    dataset: str
    base_version: str
    other_version: str
    base_model: str
    other_model: str
    base_segments: list[SegmentCount]
    other_segments: list[SegmentCount]
    kept: list[int] = Field(description="Segment ids both versions publish.")
    matched_customers: int | None = Field(
        description="Customers found in both versions by id (None: no id column)."
    )
    moves: list[SegmentMove] = Field(default_factory=list)
    note: str | None = None


# --- browser uploads ---------------------------------------------------------------------------


MAX_POST_UPLOAD_BYTES = 5 * 1024**3
"""The largest object S3 accepts in one POST upload."""


class UploadRequest(_Schema):
    """A file a person is about to upload from the browser."""

    filename: str = Field(
        min_length=1,
        max_length=120,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*\.(?:csv|CSV|csv\.gz|CSV\.GZ|parquet|PARQUET)$",
        description="The file's name: letters, digits, '.', '_', '-', spaces; .csv, .csv.gz or "
        ".parquet.",
    )
    size: int = Field(
        ge=1,
        le=MAX_POST_UPLOAD_BYTES,
        description="The file's size in bytes (checked against MAX_UPLOAD_BYTES; S3 takes at "
        "most 5 GiB in one POST).",
    )


class UploadTicket(_Schema):
    """A presigned S3 POST: post ``fields`` then the file (field ``file``) to ``url``."""

    dataset: str
    key: str = Field(description="uploads/<dataset>/<name>: its upload starts a training run.")
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_at: datetime


# --- report link and sign-in -------------------------------------------------------------------


class ReportLink(_Schema):
    """A short-lived URL of a version's HTML report: open it, no token needed until it expires."""

    dataset: str
    model_version: str
    url: str = Field(
        description="An S3 presigned URL, or (a local model folder) this API's report URL "
        "with an expiring signature."
    )
    expires_at: datetime


class AuthConfig(_Schema):
    """How a client signs in (``GET /auth/config``, no token needed; holds no secret)."""

    mode: Literal["cognito", "token", "open"] = Field(
        description="cognito: sign in with the OAuth endpoints below (authorization code + "
        "PKCE); token: send one of the API's static bearer tokens; open: no token needed."
    )
    authorize_url: str | None = None
    token_url: str | None = None
    logout_url: str | None = None
    client_id: str | None = Field(default=None, description="The dashboard's public app client.")
    cli_client_id: str | None = Field(
        default=None, description="The CLI's public app client (loopback redirect)."
    )
    scopes: list[str] = Field(default_factory=list)


class ScoreJobRequest(_Schema):
    """``POST /datasets/{dataset}/score-jobs``: the format of the file that will be uploaded."""

    format: Literal["csv", "csv.gz", "parquet"] = Field(
        default="csv.gz", description="The file's format (its key gets this extension)."
    )


class ScoreJobCreated(_Schema):
    """Where to upload the file to score, and where to follow the job."""

    job_id: str
    dataset: str
    upload_url: str = Field(description="Presigned URL: PUT the file's bytes to it.")
    upload_method: Literal["PUT"] = "PUT"
    upload_key: str = Field(description="The raw-bucket key the upload lands under.")
    expires_in: int = Field(description="Seconds the upload URL stays valid.")
    status_url: str = Field(description="GET it for the job's status and output locations.")


class ScoreOutput(_Schema):
    """One scored file: its key in the models bucket and a presigned download URL."""

    key: str
    url: str | None = Field(default=None, description="Presigned GET URL (None: local store).")


class ScoreJobStatus(_Schema):
    """``GET /datasets/{dataset}/score-jobs/{job_id}``: pending until ``score.json`` exists."""

    job_id: str
    dataset: str
    status: Literal["pending", "done", "failed"]
    model_version: str | None = None
    algorithm: str | None = None
    k: int | None = None
    rows: int = 0
    unscored: int = 0
    segment_counts: dict[str, int] = Field(default_factory=dict)
    outputs: dict[str, ScoreOutput] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None
