"""The ``score.json`` contract: what scoring a whole file produced, written last.

``datasets/<dataset>/scores/<name>/score.json`` sits beside the scored files
(``scores.csv.gz``, ``scores.parquet``) and is written after them: a reader that finds it
``done`` finds the files complete. A file that could not be scored gets a ``failed`` record with
the error (no scored files), and the current model is never touched either way.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.contract.documents import Document

__all__ = ["SCORE_NAME_PATTERN", "ScoreRecord"]

logger = logging.getLogger(__name__)

SCORE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$"
"""A scored file's name (and score job id): safe as one key segment."""


class ScoreRecord(Document):
    """``score.json``: one scored file (or why it could not be scored)."""

    dataset: str
    name: str = Field(description="The scored file's name without extension; the job id.")
    status: Literal["done", "failed"]
    source_key: str = Field(description="The raw-bucket key that was scored.")
    created_at: datetime
    model_version: str | None = Field(default=None, description="The version scored with.")
    algorithm: str | None = None
    k: int | None = None
    rows: int = Field(default=0, ge=0)
    unscored: int = Field(default=0, ge=0, description="Rows with no known feature.")
    segment_counts: dict[str, int] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(
        default_factory=dict, description="Format (csv.gz, parquet) -> key in the models bucket."
    )
    error: str | None = None
    error_type: str | None = None
