"""A tiny stand-in for ``shared.training.pipeline.train_segments`` (unit tests of the training run).

It reads ``x,y`` CSV rows, "segments" them by the sign of ``x`` and returns a complete
:class:`~shared.training.pipeline.TrainingOutput` whose artifacts are small JSON documents, so the
publisher, ordering and retention rules can be tested in milliseconds without scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from shared.contract.config import DatasetConfig
from shared.contract.evaluation import Evaluation
from shared.contract.manifest import (
    AlgorithmSummary,
    ColumnSchema,
    Metrics,
    RowCounts,
    SelectionInfo,
)
from shared.contract.profiles import ProfileCatalog
from shared.exceptions import EmptyFileError, NotATableError
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import ModelStore, RawUploadReader
from shared.training.pipeline import TrainingOutput
from shared.training.run import TrainingEngine, TrainingRun

__all__ = [
    "CachingEngine",
    "EngineCache",
    "FakeEngine",
    "fake_csv",
    "settings_training_run",
    "train_cached",
]

EngineCache = dict[tuple[str, str, str], TrainingOutput]
"""Trained outputs by (upload sha256, config JSON, previous profiles JSON)."""


def fake_csv(*xs: float) -> bytes:
    """A CSV the fake engine accepts: one row per ``x`` (``y`` = 2x)."""
    return ("x,y\n" + "".join(f"{x},{2 * x}\n" for x in xs)).encode()


def settings_training_run(
    engine: TrainingEngine,
    *,
    store: ModelStore | None = None,
    raw: RawUploadReader | None = None,
    keep_versions: int | None = None,
) -> TrainingRun:
    """A training run over the buckets of the current settings (the moto stack's), as the
    handler builds it, with ``engine`` (optionally another store, raw reader or retention)."""
    from shared.settings import get_settings
    from shared.store.s3 import build_model_store, build_raw_reader

    settings = get_settings()
    return TrainingRun(
        store=build_model_store(settings) if store is None else store,
        raw=build_raw_reader(settings) if raw is None else raw,
        max_upload_bytes=settings.max_upload_bytes,
        keep_versions=settings.keep_versions if keep_versions is None else keep_versions,
        max_decompressed_bytes=settings.max_decompressed_bytes,
        engine=engine,
    )


def train_cached(
    cache: EngineCache,
    data: bytes,
    *,
    filename: str,
    config: DatasetConfig | None = None,
    previous: ProfileCatalog | None = None,
    dataset: str = "dataset",
    random_state: int = 0,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> TrainingOutput:
    """The real engine's output for this input, trained on the first call only.

    The engine is deterministic for a fixed seed, so the output is keyed by the upload's
    sha256, the config and the previous profiles (``random_state`` is always 0 in tests).
    """
    from shared.training.pipeline import train_segments

    key = (
        hashlib.sha256(data).hexdigest(),
        config.model_dump_json() if config else "",
        previous.model_dump_json() if previous else "",
    )
    if key not in cache:
        cache[key] = train_segments(
            data,
            filename=filename,
            config=config,
            previous=previous,
            dataset=dataset,
            random_state=random_state,
            max_decompressed_bytes=max_decompressed_bytes,
        )
    return cache[key]


@dataclass
class EngineCall:
    """What one call to the fake engine received."""

    filename: str
    dataset: str
    config: DatasetConfig | None
    previous: ProfileCatalog | None
    size: int


@dataclass
class FakeEngine:
    """Records its calls; optionally waits on ``gate`` (to hold a run inside the engine)."""

    calls: list[EngineCall] = field(default_factory=list)
    gate: threading.Event | None = None
    artifacts_to_drop: tuple[str, ...] = ()

    def __call__(
        self,
        data: bytes,
        *,
        filename: str,
        config: DatasetConfig | None = None,
        previous: ProfileCatalog | None = None,
        dataset: str = "dataset",
        random_state: int = 0,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> TrainingOutput:
        self.calls.append(EngineCall(filename, dataset, config, previous, len(data)))
        if self.gate is not None:
            self.gate.wait(timeout=10)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NotATableError(f"{filename!r} is not UTF-8 text (byte {e.start})") from e
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise EmptyFileError(f"{filename!r} has no bytes")
        if lines[0] != "x,y":
            raise NotATableError(f"{filename!r} does not start with the header 'x,y'")
        xs = [float(line.split(",")[0]) for line in lines[1:]]
        labels = [int(x > 0) for x in xs]
        config = config or DatasetConfig()
        summary = AlgorithmSummary(
            n_segments=len(set(labels)),
            k=2,
            metrics=Metrics(silhouette=0.5, davies_bouldin=0.5, calinski_harabasz=10.0),
            artifact="models/kmeans-k2.skops",
            models={"2": "models/kmeans-k2.skops"},
            assignment_rule="sign of x",
            fit_rows=len(xs),
        )
        profiles = ProfileCatalog(feature_names=["x", "y"])
        evaluation = Evaluation(
            sweeps={},
            comparison=[],
            champion="kmeans",
            champion_reason="only one",
            silhouette_sample=0,
        )
        artifacts = {
            "preprocessor.skops": b"fake preprocessor",
            "models/kmeans-k2.skops": json.dumps({"labels": labels}).encode(),
            "profiles.json": profiles.model_dump_json().encode(),
            "evaluation.json": evaluation.model_dump_json().encode(),
            "assignments.csv.gz": b"\x1f\x8bfake",
        }
        for path in self.artifacts_to_drop:
            artifacts.pop(path, None)
        return TrainingOutput(
            rows=RowCounts(read=len(xs), used=len(xs), dropped=0),
            columns=[
                ColumnSchema(name="x", role="numeric", dtype="float", used=True),
                ColumnSchema(name="y", role="numeric", dtype="float", used=True),
            ],
            config=config,
            champion="kmeans",
            algorithms={"kmeans": summary},
            selection=SelectionInfo(k_rule="fixed", champion_rule="only one"),
            feature_names=["x", "y"],
            profiles=profiles,
            evaluation=evaluation,
            artifacts=artifacts,
            warnings=["fake engine"],
        )


@dataclass
class CachingEngine:
    """The real engine, run once per distinct input (it is deterministic for a fixed seed).

    Tests that publish the same upload under several keys or orders pay for one training.
    """

    cache: EngineCache = field(default_factory=dict)
    calls: int = 0

    def __call__(
        self,
        data: bytes,
        *,
        filename: str,
        config: DatasetConfig | None = None,
        previous: ProfileCatalog | None = None,
        dataset: str = "dataset",
        random_state: int = 0,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> TrainingOutput:
        self.calls += 1
        return train_cached(
            self.cache,
            data,
            filename=filename,
            config=config,
            previous=previous,
            dataset=dataset,
            random_state=random_state,
            max_decompressed_bytes=max_decompressed_bytes,
        )
