"""The base of every JSON document the product publishes, and the constants they share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["NOISE_LABEL", "Document"]

NOISE_LABEL = -1
"""Internal label of DBSCAN's noise rows (the "Outliers" segment); never a cluster's label."""


class Document(BaseModel):
    """A published JSON document: fields may be filled by alias, unknown fields are ignored.

    Ignoring unknown fields lets an older reader open a newer version's documents.

    Examples
    --------
    >>> class Pointer(Document):
    ...     version: str
    >>> Pointer.model_validate({"version": "v1", "added_later": 1}).version
    'v1'
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
