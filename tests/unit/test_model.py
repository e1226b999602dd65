"""Unit tests of shared.serving.model: one version served from a local store, and the registry
cache.

The version is built by hand on 8 customers (two obvious groups, ``tests/support/versions.py``),
so every label is checkable: customers near (0, 0) are internal label 0, customers near
(10, 10) label 1. The profiles map label 0 -> segment 7 and label 1 -> segment 3 on purpose, to
prove the mapping is applied.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared.contract.layout import SERVING_PARAMS_PATH, ModelLayout
from shared.contract.manifest import (
    ArtifactInfo,
    ColumnSchema,
)
from shared.contract.profiles import ProfileCatalog
from shared.engine.preprocess import coerce_customers, fit_preprocessor, preprocessing_params
from shared.exceptions import (
    AlgorithmNotFittedError,
    ArtifactError,
    ChecksumMismatchError,
    DatasetNotFoundError,
    InvalidCustomerError,
    NoModelError,
    VersionNotFoundError,
)
from shared.serving.model import SegmentationModel
from shared.serving.registry import ModelRegistry
from shared.serving.transform import COLUMN_PATH_MIN_ROWS, ServingTransform
from shared.store.base import sha256_hex
from shared.store.local import LocalModelStore
from tests.support.oracle import ReferenceModel
from tests.support.versions import (
    FRAME,
    LABEL_TO_SEGMENT,
    LABELS,
    RECORDS,
    build_version,
    point_at,
)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> LocalModelStore:
    store = LocalModelStore(tmp_path_factory.mktemp("models"))
    build_version(store, "tiny", "v1")
    build_version(store, "tiny", "v2")
    point_at(store, "tiny", "v1")
    return store


class CountingStore(LocalModelStore):
    """A local store that records the keys it was asked for."""

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self._reads_lock = threading.Lock()

    def get_bytes(self, key: str) -> bytes:
        with self._reads_lock:
            self.reads.append(key)
        return super().get_bytes(key)


@pytest.fixture
def store(tmp_path: Any) -> LocalModelStore:
    return LocalModelStore(tmp_path)


# --- SegmentationModel --------------------------------------------------------------------------


def test_assign_maps_labels_to_segments_in_request_order(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    out = model.assign(RECORDS)
    assert [a.segment_id for a in out] == [7, 3, 7, 7]
    assert out[0].segment_name == "kmeans segment 7"
    assert out[2].imputed == ["x", "y"]
    assert out[0].imputed == []
    assert any("'zzz'" in w for w in out[3].warnings)
    assert all(a.probabilities is None for a in out)
    assert out[0].distance is not None
    assert out[0].distance >= 0
    assert out[0].confidence is not None
    assert 0 <= out[0].confidence <= 1


def test_assign_reproduces_training_labels(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    records = [{str(k): v for k, v in row.items()} for row in FRAME.to_dict(orient="records")]
    for algorithm in ("kmeans", "gmm"):
        ids = [a.segment_id for a in model.assign(records, algorithm=algorithm)]
        assert ids == [LABEL_TO_SEGMENT[int(lab)] for lab in LABELS], algorithm


def test_bundle_agrees_with_the_skops_oracle(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    oracle = ReferenceModel(model)
    rng = np.random.default_rng(0)
    records: list[dict[str, Any]] = [
        {
            "x": float(rng.uniform(-2, 13)),
            "y": None if i % 7 == 0 else float(rng.uniform(-2, 13)),
            "g": ["a", "b", "c", None][i % 4],
        }
        for i in range(60)
    ]
    for algorithm in ("kmeans", "gmm"):
        fast = model.assign(records, algorithm=algorithm)
        frame = oracle.assign(records, algorithm=algorithm)
        assert [a.segment_id for a in fast] == [a.segment_id for a in frame]
        assert [a.imputed for a in fast] == [a.imputed for a in frame]
        assert [a.warnings for a in fast] == [a.warnings for a in frame]
        for field in ("distance", "confidence"):
            np.testing.assert_allclose(
                np.array([getattr(a, field) for a in fast], dtype=float),
                np.array([getattr(a, field) for a in frame], dtype=float),
                rtol=1e-9,
            )


def test_gmm_probabilities_are_keyed_by_segment_id(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    (near_zero,) = model.assign([{"x": 0, "y": 0, "g": "a"}], algorithm="gmm")
    assert near_zero.probabilities is not None
    assert set(near_zero.probabilities) == {7, 3}
    assert near_zero.probabilities[7] > 0.99
    assert near_zero.probabilities[7] == pytest.approx(near_zero.confidence)
    assert sum(near_zero.probabilities.values()) == pytest.approx(1.0)


def test_any_k_of_the_sweep(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    out = model.assign([{"x": 0, "y": 0, "g": "a"}, {"x": 11, "y": 11, "g": "b"}], k=3)
    assert [a.segment_id for a in out] == [0, 2]
    with pytest.raises(AlgorithmNotFittedError, match=r"k=5.*fitted k: 2, 3"):
        model.choose("kmeans", 5)
    with pytest.raises(AlgorithmNotFittedError, match=r"'dbscan'.*fitted: gmm, kmeans"):
        model.choose("dbscan")


def test_wrong_type_names_row_and_column(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    bad = [{"x": 1, "y": 1, "g": "a"}, {"x": "lots", "y": 1, "g": "a"}]
    for route in (model, ReferenceModel(model)):
        with pytest.raises(InvalidCustomerError) as info:
            route.assign(bad)
        assert (info.value.row, info.value.column) == (1, "x")


def test_empty_batch(published: LocalModelStore) -> None:
    assert SegmentationModel.open(published, "tiny", "v1").assign([]) == []


def test_lazy_loading_is_thread_safe(published: LocalModelStore) -> None:
    store = CountingStore(published.root)
    model = SegmentationModel.open(store, "tiny", "v1")
    opened = len(store.reads)  # the manifest and profiles.json
    threads = [threading.Thread(target=model.warm) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loaded = sorted(key.rsplit("/v1/", 1)[1] for key in store.reads[opened:])
    assert loaded == ["serving/kmeans-k2.npz", SERVING_PARAMS_PATH]  # once each
    assert model.is_warm
    assert model.is_ready()
    assert not model.is_ready("gmm")  # not loaded yet
    assert not model.is_ready("dbscan")  # not fitted at all


def test_bundle_serves_with_numpy_and_never_reads_skops(published: LocalModelStore) -> None:
    store = CountingStore(published.root)
    model = SegmentationModel.open(store, "tiny", "v1")
    assert [a.segment_id for a in model.assign(RECORDS)] == [7, 3, 7, 7]
    assert [a.segment_id for a in model.assign(RECORDS, algorithm="gmm")] == [7, 3, 7, 7]
    assert [a.segment_id for a in model.assign(RECORDS, k=3)][:2] == [0, 2]
    assert model.warm("gmm").is_warm
    assert store.reads
    assert not [key for key in store.reads if key.endswith(".skops")]


def test_bundle_answers_equal_the_oracle_for_every_model(published: LocalModelStore) -> None:
    model = SegmentationModel.open(published, "tiny", "v1")
    oracle = ReferenceModel(model)
    for algorithm, k in (("kmeans", 2), ("kmeans", 3), ("gmm", 2)):
        a = model.assign(RECORDS, algorithm=algorithm, k=k)
        b = oracle.assign(RECORDS, algorithm=algorithm, k=k)
        assert [x.to_dict() for x in a] == [x.to_dict() for x in b]


def test_version_without_serving_bundle_is_refused_naming_the_file(
    store: LocalModelStore,
) -> None:
    manifest = build_version(store, "tiny", "v1", bundle=False)
    with pytest.raises(ArtifactError, match=r"tiny version v1 has no serving/params\.json"):
        SegmentationModel.open(store, "tiny", "v1")
    profiles = ProfileCatalog.model_validate_json(
        store.get_bytes(ModelLayout.artifact("tiny", "v1", "profiles.json"))
    )
    model = SegmentationModel(store, manifest, profiles)  # built around the check
    with pytest.raises(ArtifactError, match=r"tiny version v1 has no serving/params\.json"):
        model.assign(RECORDS)


def test_bundle_without_a_rule_for_a_model_is_refused(store: LocalModelStore) -> None:
    manifest = build_version(store, "tiny", "v1")
    key = ModelLayout.artifact("tiny", "v1", SERVING_PARAMS_PATH)
    doc = store.get_bytes(key).replace(b'"gmm-k2"', b'"gmm-k9"')
    store.put_bytes(key, doc)
    manifest.artifacts[SERVING_PARAMS_PATH] = ArtifactInfo(sha256=sha256_hex(doc), size=len(doc))
    store.put_bytes(ModelLayout.manifest("tiny", "v1"), manifest.to_json().encode())
    model = SegmentationModel.open(store, "tiny", "v1")
    assert [a.segment_id for a in model.assign(RECORDS)] == [7, 3, 7, 7]
    with pytest.raises(ArtifactError, match=r"has no rule for model 'gmm-k2'"):
        model.assign(RECORDS, algorithm="gmm")


def test_tampered_bundle_is_refused(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    key = ModelLayout.artifact("tiny", "v1", SERVING_PARAMS_PATH)
    store.put_bytes(key, store.get_bytes(key).replace(b'"mean"', b'"mean" '))
    with pytest.raises(ChecksumMismatchError, match=r"serving/params\.json"):
        SegmentationModel.open(store, "tiny", "v1").assign(RECORDS)


def test_tampered_artifact_is_refused_before_loading(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    key = ModelLayout.artifact("tiny", "v1", "serving/kmeans-k2.npz")
    store.put_bytes(key, store.get_bytes(key) + b"x")
    model = SegmentationModel.open(store, "tiny", "v1")
    with pytest.raises(ChecksumMismatchError, match=r"kmeans-k2\.npz"):
        model.assign(RECORDS)
    assert not model.is_ready()


# --- ModelRegistry ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_registry_caches_and_rechecks_after_refresh(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    build_version(store, "tiny", "v2")
    point_at(store, "tiny", "v1")
    clock = FakeClock()
    registry = ModelRegistry(store, refresh_seconds=5, clock=clock)
    first = registry.current("tiny")
    assert first.version == "v1"
    point_at(store, "tiny", "v2")
    clock.now = 4.9
    assert registry.current("tiny") is first  # not rechecked yet
    clock.now = 5.0
    second = registry.current("tiny")
    assert second.version == "v2"
    assert second.is_warm  # built completely before the swap
    assert registry.cached_versions() == {"tiny": "v2"}


def test_registry_keeps_last_good_model_when_new_version_is_tampered(
    store: LocalModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    build_version(store, "tiny", "v1")
    build_version(store, "tiny", "v2")
    key = ModelLayout.artifact("tiny", "v2", SERVING_PARAMS_PATH)
    store.put_bytes(key, b"not what the manifest says")
    point_at(store, "tiny", "v1")
    clock = FakeClock()
    registry = ModelRegistry(store, refresh_seconds=1, clock=clock)
    assert registry.current("tiny").version == "v1"
    point_at(store, "tiny", "v2")
    clock.now = 2
    with caplog.at_level("ERROR", logger="shared.serving.model"):
        assert registry.current("tiny").version == "v1"
    assert any("refused new version" in r.message for r in caplog.records)


def test_registry_refuses_a_version_without_bundle_when_nothing_is_cached(
    store: LocalModelStore,
) -> None:
    build_version(store, "tiny", "v1", bundle=False)
    point_at(store, "tiny", "v1")
    with pytest.raises(ArtifactError, match=r"serving/params\.json"):
        ModelRegistry(store).current("tiny").assign(RECORDS)


def test_registry_keeps_serving_when_a_new_version_has_no_bundle(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    build_version(store, "tiny", "v2", bundle=False)
    point_at(store, "tiny", "v1")
    clock = FakeClock()
    registry = ModelRegistry(store, refresh_seconds=1, clock=clock)
    assert registry.current("tiny").version == "v1"
    point_at(store, "tiny", "v2")
    clock.now = 2
    assert registry.current("tiny").version == "v1"


def test_cached_needs_no_store_read(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    build_version(store, "tiny", "v2")
    point_at(store, "tiny", "v1")
    clock = FakeClock()
    registry = ModelRegistry(store, refresh_seconds=5, clock=clock, pinned_versions=1)
    assert registry.cached("tiny") is None  # never read
    current = registry.current("tiny")
    assert registry.cached("tiny") is current
    assert registry.cached("tiny", "v1") is current
    assert registry.cached("tiny", "v2") is None
    pinned = registry.get("tiny", "v2")
    assert registry.cached("tiny", "v2") is pinned
    clock.now = 5.0  # due for a recheck of current.json: only get() may do that
    assert registry.cached("tiny") is None
    assert registry.cached("tiny", "v1") is current


def test_registry_pointer_to_missing_version(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    point_at(store, "tiny", "gone")
    with pytest.raises(ArtifactError, match="'gone', which has no manifest"):
        ModelRegistry(store).current("tiny")


def test_registry_no_model_and_unknown_dataset(store: LocalModelStore) -> None:
    store.put_bytes(ModelLayout.failure("pending", "f1"), b"{}")
    registry = ModelRegistry(store)
    with pytest.raises(NoModelError, match="'pending' has no published model"):
        registry.current("pending")
    with pytest.raises(DatasetNotFoundError, match="'nothing'"):
        registry.current("nothing")
    with pytest.raises(DatasetNotFoundError):
        registry.get("nothing", "v1")


def test_registry_pinned_versions(published: LocalModelStore) -> None:
    registry = ModelRegistry(published, pinned_versions=1)
    assert registry.get("tiny", "v2").version == "v2"
    assert registry.get("tiny", "v2") is registry.get("tiny", "v2")
    with pytest.raises(VersionNotFoundError, match="'v9'"):
        registry.get("tiny", "v9")


# --- the column route (large batches) against the oracle's coercion -------------------------------

BATCH_COLUMNS = [
    ColumnSchema(name="id", role="id", dtype="integer", used=False),
    ColumnSchema(name="age", role="numeric", dtype="integer", used=True, min=18, max=70),
    ColumnSchema(
        name="spend", role="numeric", dtype="float", used=True, min=0, max=500, transform="log1p"
    ),
    ColumnSchema(name="plan", role="categorical", dtype="string", used=True, categories=["a"]),
    ColumnSchema(name="code", role="categorical", dtype="integer", used=True, categories=["1"]),
]


def _batch(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    plans: list[Any] = ["a", " a ", "b", None, "", True, 2.5]
    codes: list[Any] = [1, 1.0, "1", 2, None, float("nan")]
    out: list[dict[str, Any]] = []
    for i in range(n):
        record: dict[str, Any] = {
            "age": [int(rng.integers(10, 80)), float(rng.uniform(10, 80)), None][i % 3],
            "spend": [float(rng.uniform(-5, 600)), None, 3][i % 3],
            "plan": plans[i % len(plans)],
            "code": codes[i % len(codes)],
        }
        if i % 11 == 0:
            record["extra"] = i
        if i % 13 == 0:
            del record["age"]
        out.append(record)
    return out


def _batch_transform() -> tuple[Any, ServingTransform]:
    """The fitted ColumnTransformer for BATCH_COLUMNS and its serving transform."""
    frame = pd.DataFrame(
        {
            "age": [20.0, 30.0, 60.0],
            "spend": [1.0, 10.0, 400.0],
            "plan": ["a", "a", "a"],
            "code": ["1", "1", "1"],
        }
    ).astype({"plan": object, "code": object})
    fitted = fit_preprocessor(frame, BATCH_COLUMNS)
    params = preprocessing_params(fitted.transformer, BATCH_COLUMNS)
    return fitted.transformer, ServingTransform(params, BATCH_COLUMNS)


def test_column_route_equals_coerce_customers() -> None:
    transformer, serving = _batch_transform()
    records = _batch(300)
    assert len(records) >= COLUMN_PATH_MIN_ROWS
    X, imputed, warnings = serving.transform(records)
    exact = coerce_customers(records, BATCH_COLUMNS)
    np.testing.assert_allclose(X, transformer.transform(exact.frame), atol=1e-12)
    assert imputed == exact.imputed
    assert warnings == exact.warnings
    assert any(warnings)  # the batch does exercise the warning rows
    assert any(imputed)


@pytest.mark.parametrize(
    ("value", "column"),
    [("12", "age"), ("lots", "age"), (True, "age"), (float("inf"), "spend"), ([1], "plan")],
)
def test_column_route_defers_unusual_values_to_the_row_route(value: Any, column: str) -> None:
    transformer, serving = _batch_transform()
    records = _batch(COLUMN_PATH_MIN_ROWS + 6)
    records[17][column] = value
    try:
        expected = coerce_customers(records, BATCH_COLUMNS)
    except InvalidCustomerError as e:
        error = e
    else:
        X, _, warnings = serving.transform(records)
        np.testing.assert_allclose(X, transformer.transform(expected.frame), atol=1e-12)
        assert warnings == expected.warnings
        return
    with pytest.raises(InvalidCustomerError) as info:
        serving.transform(records)
    assert (info.value.row, info.value.column) == (error.row, error.column) == (17, column)
    assert str(info.value) == str(error)


def test_corrupt_manifest_is_refused_not_a_crash(store: LocalModelStore) -> None:
    build_version(store, "tiny", "v1")
    point_at(store, "tiny", "v1")
    store.put_bytes(ModelLayout.manifest("tiny", "v1"), b'{"version": "v1"}')
    with pytest.raises(ArtifactError, match=r"tiny version v1 is not a valid manifest"):
        ModelRegistry(store).current("tiny")


def test_names_people_gave_segments_reach_answers_and_other_containers(
    store: LocalModelStore,
) -> None:
    """The registry gives models the dataset's names.json each time it re-reads the pointer:
    a rename shows at once after ``invalidate`` and within ``refresh_seconds`` elsewhere."""
    from shared.serving.names import set_segment_name

    build_version(store, "tiny", "v1")
    point_at(store, "tiny", "v1")
    clock = FakeClock()
    here = ModelRegistry(store, refresh_seconds=5, clock=clock)
    elsewhere = ModelRegistry(store, refresh_seconds=5, clock=clock)
    assert here.current("tiny").assign(RECORDS)[0].segment_name == "kmeans segment 7"
    assert elsewhere.current("tiny").assign(RECORDS)[0].segment_name == "kmeans segment 7"
    pinned = here.get("tiny", "v1")

    set_segment_name(store, "tiny", 7, "Weekend regulars")
    here.invalidate("tiny")
    answers = here.current("tiny").assign(RECORDS)
    assert [a.segment_name for a in answers] == [
        "Weekend regulars", "kmeans segment 3", "Weekend regulars", "Weekend regulars"
    ]  # fmt: skip
    assert pinned.assign(RECORDS)[0].segment_name == "Weekend regulars"
    assert elsewhere.current("tiny").assign(RECORDS)[0].segment_name == "kmeans segment 7"
    clock.now = 5.0
    assert elsewhere.current("tiny").assign(RECORDS)[0].segment_name == "Weekend regulars"
    # Every model of the version: the name follows the stable id.
    gmm = here.current("tiny").assign_batch(RECORDS, algorithm="gmm").to_dicts()
    assert {r["segment_name"] for r in gmm if r["segment_id"] == 7} <= {"Weekend regulars"}
    # A new version is given the names before it is served.
    build_version(store, "tiny", "v2")
    point_at(store, "tiny", "v2")
    clock.now = 10.0
    newer = here.current("tiny")
    assert newer.version == "v2"
    assert newer.person_names == {7: "Weekend regulars"}
    assert newer.assign(RECORDS)[0].segment_name == "Weekend regulars"

    set_segment_name(store, "tiny", 7, None)
    here.invalidate("tiny")
    assert here.current("tiny").assign(RECORDS)[0].segment_name == "kmeans segment 7"
