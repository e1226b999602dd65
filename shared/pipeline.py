"""One training run: bytes of an upload (+ config) in, everything a version publishes out.

Pure: no AWS, no environment, no printing. The training Lambda and the CLI's local ``train``
both call :func:`train_segments` and publish its :class:`TrainingOutput` through a ``ModelStore``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import Algorithm, DatasetConfig
from shared.evaluation import Evaluation
from shared.manifest import AlgorithmSummary, ColumnSchema, RowCounts, SelectionInfo
from shared.profiles import ProfileCatalog

__all__ = ["TrainingOutput", "train_segments"]


@dataclass(frozen=True)
class TrainingOutput:
    """Everything a training run produces, ready to publish as one version.

    ``artifacts`` maps relative paths inside the version folder to their bytes: the skops files
    (``preprocessor.skops``, ``models/<key>.skops``), ``profiles.json``, ``evaluation.json``,
    ``plots.json``, ``report.html`` and ``assignments.csv.gz``. The manifest is not among them:
    the publisher writes it (with source, version and the artifacts' sha256) after them.
    """

    rows: RowCounts
    columns: list[ColumnSchema]
    config: DatasetConfig
    champion: Algorithm
    algorithms: dict[str, AlgorithmSummary]
    selection: SelectionInfo
    feature_names: list[str]
    profiles: ProfileCatalog
    evaluation: Evaluation
    artifacts: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
