"""The ``plots.json`` contract the dashboard reads.

Sampled customers with map coordinates and segment ids, and ready figures.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.contract.documents import Document

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


class PlotPoints(Document):
    """A sample of the training customers, for maps and filters."""

    n: int = Field(ge=0, description="Points in the sample.")
    sampled_from: int = Field(ge=0, description="Training rows the sample was drawn from.")
    ids: list[str | int | None] = Field(default_factory=list)
    features: dict[str, list[float | str | None]] = Field(
        default_factory=dict, description="Per used input column, values in original units."
    )
    pca: list[list[float]] = Field(default_factory=list, description="[x, y] per point.")
    pca_explained: list[float] = Field(default_factory=list)
    tsne: list[list[float]] | None = Field(default=None, description="[x, y] per point.")
    labels: dict[str, list[int]] = Field(
        default_factory=dict, description="Per model key, each point's segment_id."
    )
    silhouette: dict[str, list[float | None]] = Field(
        default_factory=dict, description="Per model key, each point's silhouette value."
    )


class PlotData(Document):
    """``plots.json``: everything the dashboard and the report draw."""

    points: PlotPoints
    figures: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named Plotly figures (data + layout)."
    )
    summary: dict[str, Any] = Field(
        default_factory=dict,
        description="Missing-value and dropped-column summary, strongest correlations.",
    )
