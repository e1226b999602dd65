"""A tiny published version built by hand: 8 customers in two obvious groups.

Customers near (0, 0) are internal label 0, customers near (10, 10) label 1. The profiles map
label 0 -> segment 7 and label 1 -> segment 3 on purpose, to prove the mapping is applied. The
version has K-Means at k=2 and 3 and a Gaussian mixture at k=2, its skops artifacts and (unless
asked otherwise) its serving bundle, published like the publisher does (manifest last).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from shared.contract.config import DatasetConfig
from shared.contract.layout import ModelLayout
from shared.contract.manifest import (
    AlgorithmSummary,
    ArtifactInfo,
    ColumnSchema,
    CurrentPointer,
    Manifest,
    Metrics,
    RowCounts,
    SelectionInfo,
    SourceInfo,
)
from shared.contract.profiles import ProfileCatalog, SegmentProfile, SegmentSet
from shared.engine.assigners import GaussianMixtureAssigner, NearestCentroidAssigner
from shared.engine.bundle import build_serving_artifacts
from shared.engine.persistence import dump_artifact
from shared.engine.preprocess import fit_preprocessor
from shared.store.base import ModelStore, sha256_hex, write_current

__all__ = [
    "COLUMNS",
    "FRAME",
    "LABELS",
    "LABEL_TO_SEGMENT",
    "RECORDS",
    "build_version",
    "point_at",
]

COLUMNS = [
    ColumnSchema(name="id", role="id", dtype="integer", used=False),
    ColumnSchema(name="x", role="numeric", dtype="float", used=True, min=0, max=11),
    ColumnSchema(name="y", role="numeric", dtype="float", used=True, min=0, max=11),
    ColumnSchema(name="g", role="categorical", dtype="string", used=True, categories=["a", "b"]),
]
FRAME = pd.DataFrame(
    {
        "x": [0.0, 0.0, 1.0, 1.0, 10.0, 10.0, 11.0, 11.0],
        "y": [0.0, 1.0, 0.0, 1.0, 10.0, 11.0, 10.0, 11.0],
        "g": ["a", "a", "a", "b", "b", "b", "b", "a"],
    }
)
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
LABEL_TO_SEGMENT = {0: 7, 1: 3}
RECORDS: list[dict[str, Any]] = [
    {"x": 0.5, "y": 0.5, "g": "a"},
    {"x": 10.5, "y": 10.0, "g": "b"},
    {"x": None, "g": "a"},  # x and y imputed with the medians (5.5): ties go to label 0
    {"x": "1", "y": 1, "g": "zzz"},  # numeric text accepted, unseen category warned
]


def _segments(algorithm: str, k: int) -> SegmentSet:
    labels = list(range(k))
    mapping = LABEL_TO_SEGMENT if k == 2 else {lab: lab for lab in labels}
    return SegmentSet(
        algorithm=algorithm,
        k=k,
        n_segments=k,
        segments=[
            SegmentProfile(
                segment_id=mapping[lab],
                label=lab,
                name=f"{algorithm} segment {mapping[lab]}",
                description="test",
                size=int(np.count_nonzero(np.equal(LABELS, lab))) if k == 2 else 1,
                share=0.5,
            )
            for lab in labels
        ],
    )


def build_version(
    store: ModelStore, dataset: str, version: str, *, bundle: bool = True
) -> Manifest:
    """Fit the tiny version and publish it like the publisher does (manifest last).

    ``bundle=False`` leaves the numpy serving bundle out, as publishers did before it existed:
    such a version is refused.
    """
    fitted = fit_preprocessor(FRAME, COLUMNS)
    from sklearn.mixture import GaussianMixture

    km2 = NearestCentroidAssigner("kmeans").fit(fitted.X, LABELS)
    km3 = NearestCentroidAssigner("kmeans").fit(fitted.X, np.array([0, 0, 1, 1, 2, 2, 2, 2]))
    gmm = GaussianMixture(2, random_state=0).fit(fitted.X)
    # Make GMM's internal labels agree with LABELS whatever order the components came out in.
    gmm_assigner = GaussianMixtureAssigner().fit(fitted.X, mixture=gmm)
    if gmm_assigner.predict(fitted.X)[0] != 0:
        gmm.weights_, gmm.means_ = gmm.weights_[::-1].copy(), gmm.means_[::-1].copy()
        gmm.precisions_cholesky_ = gmm.precisions_cholesky_[::-1].copy()
        gmm_assigner = GaussianMixtureAssigner().fit(fitted.X, mixture=gmm)
    artifacts = {
        "preprocessor.skops": dump_artifact(fitted.transformer),
        "models/kmeans-k2.skops": dump_artifact(km2),
        "models/kmeans-k3.skops": dump_artifact(km3),
        "models/gmm-k2.skops": dump_artifact(gmm_assigner),
        "profiles.json": ProfileCatalog(
            feature_names=fitted.feature_names,
            sets={
                "kmeans-k2": _segments("kmeans", 2),
                "kmeans-k3": _segments("kmeans", 3),
                "gmm-k2": _segments("gmm", 2),
            },
        )
        .model_dump_json()
        .encode(),
    }
    if bundle:
        assigners = {"kmeans-k2": km2, "kmeans-k3": km3, "gmm-k2": gmm_assigner}
        artifacts.update(build_serving_artifacts(fitted.transformer, COLUMNS, assigners))
    for path, blob in artifacts.items():
        store.put_bytes(ModelLayout.artifact(dataset, version, path), blob)
    metrics = Metrics(silhouette=0.9, davies_bouldin=0.1, calinski_harabasz=100.0)
    manifest = Manifest(
        version=version,
        dataset=dataset,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        source=SourceInfo(key=f"uploads/{dataset}/t.csv", sha256="0" * 64, size=1),
        rows=RowCounts(read=8, used=8, dropped=0),
        columns=COLUMNS,
        config=DatasetConfig(algorithms=["kmeans", "gmm"], k_max=3),
        champion="kmeans",
        algorithms={
            "kmeans": AlgorithmSummary(
                n_segments=2,
                k=2,
                metrics=metrics,
                artifact="models/kmeans-k2.skops",
                models={"2": "models/kmeans-k2.skops", "3": "models/kmeans-k3.skops"},
                assignment_rule="nearest centre",
                fit_rows=8,
            ),
            "gmm": AlgorithmSummary(
                n_segments=2,
                k=2,
                metrics=metrics,
                artifact="models/gmm-k2.skops",
                models={"2": "models/gmm-k2.skops"},
                assignment_rule="largest posterior",
                fit_rows=8,
            ),
        },
        selection=SelectionInfo(k_rule="test", champion_rule="test"),
        feature_names=fitted.feature_names,
        artifacts={
            path: ArtifactInfo(sha256=sha256_hex(blob), size=len(blob))
            for path, blob in artifacts.items()
        },
    )
    store.put_bytes(ModelLayout.manifest(dataset, version), manifest.to_json().encode())
    return manifest


def point_at(store: ModelStore, dataset: str, version: str) -> None:
    write_current(store, dataset, CurrentPointer(version=version, updated_at=datetime.now(UTC)))
