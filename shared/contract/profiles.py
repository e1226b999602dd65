"""The ``profiles.json`` contract.

One ``SegmentSet`` of ``SegmentProfile`` per fitted model of the sweep.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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
