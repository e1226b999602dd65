"""The ``profiles.json`` contract.

One ``SegmentSet`` of ``SegmentProfile`` per fitted model of the sweep.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from shared.contract.config import Algorithm
from shared.contract.documents import Document

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

OUTLIER_SEGMENT_ID = -1
"""``segment_id`` of DBSCAN's noise, always its own "Outliers" segment."""
OUTLIER_NAME = "Outliers"


class NumericSummary(Document):
    """One numeric feature within a segment (or the whole population), in original units."""

    mean: float
    median: float
    q1: float
    q3: float
    min: float
    max: float
    std: float
    z: float = Field(default=0.0, description="(segment mean - population mean) / population std.")


class OutcomeRate(Document):
    """One outcome column (a churn flag, a campaign response) within a segment or population.

    Outcomes are never clustered on (``shared.engine.screening``); they say how the segments
    differ in what the business wants to predict.
    """

    level: str | None = Field(
        default=None,
        description="The level counted by ``rate`` (a two-level outcome's positive level); "
        "None for outcomes with more levels.",
    )
    rate: float | None = Field(
        default=None, ge=0, le=1, description="Share of ``level`` among the known values."
    )
    shares: dict[str, float] = Field(
        default_factory=dict, description="Every level's share among the known values."
    )
    known: int = Field(default=0, ge=0, description="Customers with a known value.")


class RuleCondition(Document):
    """One condition of a segment rule, on an input column in original units."""

    column: str
    op: Literal["<=", ">", "is", "is not"]
    value: float | str = Field(
        description="A threshold (numeric, dates as days before the "
        "column's date_reference) or a category."
    )


class ShapCheck(Document):
    """How the SHAP values of a Gaussian mixture's memberships were computed."""

    method: str
    explained_rows: int = Field(ge=0, description="Customers explained (a sample).")
    background_rows: int = Field(
        ge=0, description="Background rows (training rows drawn at random)."
    )
    evaluations: int = Field(ge=0, description="Coalitions evaluated per explained customer.")


class SegmentRule(Document):
    """A rule a marketer can paste into a CRM, and how well it picks the segment out.

    Measured on held-back customers the rule's tree never saw (``RuleCheck``).
    """

    text: str = Field(description="The conditions in words, joined by 'and'.")
    conditions: list[RuleCondition] = Field(default_factory=list)
    precision: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the held-back customers matching the rule who are in the segment "
        "(None: the rule matched none of them).",
    )
    coverage: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the segment's held-back customers the rule matches.",
    )
    matched: int = Field(default=0, ge=0, description="Held-back customers matching the rule.")
    reliable: bool = Field(
        description="False when the precision is below RuleCheck.min_precision: the rule is "
        "shown, with this warning, rather than hidden."
    )
    note: str | None = Field(default=None, description="Why the rule should be read with care.")


class RuleCheck(Document):
    """How a model's segment rules were fitted and measured."""

    method: str
    fit_rows: int = Field(ge=0)
    held_back_rows: int = Field(ge=0)
    min_precision: float = Field(ge=0, le=1)
    max_depth: int = Field(ge=1)


class KnownGroup(Document):
    """A segment grown from the seeds of a known group (config ``seed_column``)."""

    label: str = Field(description="The known group's label (the seed column's value).")
    seeds: int = Field(ge=0, description="Customers of the group in the training rows.")
    stayed: int = Field(ge=0, description="Seeds that ended in this segment.")
    defected: int = Field(ge=0, description="Seeds that ended in another segment.")
    joined: int = Field(ge=0, description="Unlabelled customers who joined the segment.")


class RfmScores(Document):
    """A segment's place in the population on recency, frequency and monetary (1-5, 5 best).

    ``value`` is the FM score the RFM map reads (F and M averaged; F alone without amounts).
    See :mod:`shared.engine.rfm` for the rules.
    """

    recency: int = Field(ge=1, le=5)
    frequency: int = Field(ge=1, le=5)
    monetary: int | None = Field(default=None, ge=1, le=5)
    value: int = Field(ge=1, le=5)
    tenure: int | None = Field(
        default=None, ge=1, le=5, description="1: among the newest customers."
    )


class SegmentProfile(Document):
    """One segment: who is in it and what sets it apart."""

    segment_id: int = Field(description="Stable across versions of the dataset.")
    label: int = Field(description="The fitted model's internal label (-1: DBSCAN noise).")
    name: str = Field(description="Short readable name, unique within the model.")
    description: str
    descriptive_name: str | None = Field(
        default=None,
        description="The generated descriptive name, when `name` comes from the RFM map.",
    )
    rfm: RfmScores | None = Field(
        default=None, description="RFM scores (versions trained on order lines)."
    )
    size: int = Field(ge=0, description="Training customers in the segment.")
    share: float = Field(ge=0, le=1)
    is_outlier: bool = False
    numeric: dict[str, NumericSummary] = Field(default_factory=dict)
    categorical: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per categorical feature, category -> share."
    )
    centroid: list[float] = Field(
        default_factory=list,
        description="Mean of the segment in the prepared (standardized) feature space.",
    )
    distinctive: list[str] = Field(
        default_factory=list, description="Features that set the segment apart, strongest first."
    )
    outcomes: dict[str, OutcomeRate] = Field(
        default_factory=dict,
        description="Per outcome column (not clustered on), its rate in the segment.",
    )
    rule: SegmentRule | None = Field(
        default=None, description="A CRM rule for the segment, with its measured precision."
    )
    known_group: KnownGroup | None = Field(
        default=None, description="Seeded K-Means: the known group this segment grew from."
    )
    shap: dict[str, float] = Field(
        default_factory=dict,
        description="GMM: per input column, the mean |SHAP value| of the segment's membership "
        "probability over the explained sample, largest first.",
    )


class SegmentSet(Document):
    """All segments of one fitted model (one algorithm at one k)."""

    algorithm: Algorithm
    k: int | None
    n_segments: int
    segments: list[SegmentProfile]
    population: dict[str, NumericSummary] = Field(default_factory=dict)
    population_categorical: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per categorical feature, the whole population's category -> share.",
    )
    population_outcomes: dict[str, OutcomeRate] = Field(
        default_factory=dict, description="Per outcome column, its rate in the whole population."
    )
    rule_check: RuleCheck | None = Field(
        default=None, description="How the segments' rules were fitted and measured."
    )
    shap_check: ShapCheck | None = Field(
        default=None, description="GMM: how the membership SHAP values were computed."
    )

    def by_id(self, segment_id: int) -> SegmentProfile | None:
        """The segment with that id, or None."""
        return next((s for s in self.segments if s.segment_id == segment_id), None)

    def label_to_segment(self) -> dict[int, SegmentProfile]:
        """Map the model's internal labels to their segments."""
        return {s.label: s for s in self.segments}


class SegmentIdChanges(Document):
    """How the published (champion) segment ids moved from the current version to this one."""

    previous_champion: str | None = Field(
        default=None, description="Model key of the champion the ids were matched to."
    )
    kept: list[int] = Field(default_factory=list, description="Ids of persisting segments.")
    new: list[int] = Field(default_factory=list, description="Ids issued for new segments.")
    retired: list[int] = Field(
        default_factory=list, description="Published ids of the previous champion now gone."
    )
    high_water: int = Field(
        default=-1, description="Highest segment id the dataset has ever used; never reused."
    )


class ProfileCatalog(Document):
    """``profiles.json``: every model's segments, keyed by model key (``kmeans-k5``, ``dbscan``)."""

    feature_names: list[str] = Field(
        default_factory=list, description="Prepared-space feature names (centroid order)."
    )
    sets: dict[str, SegmentSet] = Field(default_factory=dict)
    champion: str | None = Field(
        default=None, description="Model key of the published (champion) segments."
    )
    chosen: dict[str, str] = Field(
        default_factory=dict, description="Algorithm -> model key of its chosen model."
    )
    segment_ids: SegmentIdChanges | None = Field(
        default=None, description="Kept, new and retired ids, and the id high-water mark."
    )
