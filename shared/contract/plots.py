"""The ``plots.json`` contract the dashboard reads.

Sampled customers with map coordinates and segment ids, the PCA projection that placed them,
and the ready figures whose content no filter or selection changes.

Who draws what (one owner per figure and surface):

- ``figures`` holds the static figures (histograms, sweeps, dendrogram...): the report and the
  dashboard both draw them as published.
- The maps (PCA, t-SNE), the per-segment silhouette plot and the algorithm comparison change
  with the selected model, the filters or a typed-in customer: the dashboard draws them from
  ``points`` (``lambdas/api/static/``), the report builds its static copies from the same
  ``points`` when it renders (``shared/report/html.py``). They are not in ``figures``.
- :data:`WIDE_FIGURES` names the figures drawn across the whole page on both surfaces; the
  document carries the list (``wide_figures``) so the dashboard reads it instead of keeping its
  own.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field, computed_field

from shared.contract.documents import Document

__all__ = ["WIDE_FIGURES", "PcaProjection", "PlotData", "PlotPoints"]

logger = logging.getLogger(__name__)

WIDE_FIGURES = ("scatter_matrix", "correlation", "dendrogram")
"""Figures drawn across the whole width of the report and the dashboard (they need room)."""


class PcaProjection(Document):
    """The 2-D PCA map as a formula: ``coords = (x - mean) @ components.T``.

    ``x`` is a customer's prepared feature vector (the row of the model matrix that the API's
    serving transform gives, ``POST /datasets/{d}/assign?prepared=true``), so a new customer
    lands exactly where a training customer with the same values sits on the map. No whitening
    or other scaling is applied. ``components`` always has two rows (a zero row when the data
    has a single dimension). Numbers are full float64 precision.

    Examples
    --------
    >>> p = PcaProjection(mean=[1.0, 2.0], components=[[1.0, 0.0], [0.0, 1.0]])
    >>> p.n_features
    2
    """

    mean: list[float] = Field(description="Per prepared feature, the mean of the fit rows.")
    components: list[list[float]] = Field(
        description="Two rows (PC1, PC2), one column per prepared feature."
    )

    @property
    def n_features(self) -> int:
        """Length of the prepared vectors this projection takes."""
        return len(self.mean)


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
    pca_projection: PcaProjection | None = Field(
        default=None, description="How ``pca`` was computed: places new customers exactly."
    )
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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wide_figures(self) -> list[str]:
        """The published figures drawn across the whole width (see :data:`WIDE_FIGURES`)."""
        return [name for name in self.figures if name in WIDE_FIGURES]
