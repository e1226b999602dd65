"""The numpy serving bundle against the skops reference oracle, on the Mall customers.

Each dataset is trained once by the real pipeline and published by the real publisher into a
local store; then every fitted model (every algorithm, every k of the sweep) assigns the same
customers through the serving bundle (numpy only) and through the oracle
(``tests/support/oracle.py``: ``coerce_customers`` + the skops ``ColumnTransformer`` + the
persisted assigner). Labels, outlier flags, imputed columns and warnings must be identical;
distances, confidences and probabilities equal to 1e-9.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shared.engine.schema as schema
import shared.serving.values as values
from shared.contract.config import ALL_ALGORITHMS, DatasetConfig
from shared.contract.layout import SERVING_PARAMS_PATH, ModelLayout, serving_arrays_path
from shared.contract.manifest import ColumnSchema, CurrentPointer, Manifest, SourceInfo
from shared.engine.bundle import build_serving_artifacts
from shared.engine.preprocess import (
    build_preprocessor,
    coerce_customers,
    fit_preprocessor,
    preprocessing_params,
)
from shared.exceptions import ArtifactError, ChecksumMismatchError, InvalidCustomerError
from shared.serving.bundle import read_serving_params
from shared.serving.model import SegmentationModel
from shared.serving.preprocessing import PreprocessingParams
from shared.serving.rules import load_serving_rule
from shared.serving.transform import COLUMN_PATH_MIN_ROWS, ServingTransform
from shared.store.base import write_current
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import publish_version
from tests.support.oracle import ReferenceModel

ROOT = Path(__file__).resolve().parents[2]
MALL = ROOT / "data" / "mall_customers.csv"
# botocore's package itself is imported by Powertools (the API's JSON logger) to register a
# user-agent hook: 0.3 ms. Its clients and sessions (what boto3 needs) are the heavy part.
HEAVY = (
    "pandas",
    "sklearn",
    "scipy",
    "skops",
    "plotly",
    "boto3",
    "botocore.client",
    "botocore.session",
)


# --- fixtures ------------------------------------------------------------------------------------


@functools.cache
def _oracle(model: SegmentationModel) -> ReferenceModel:
    """The skops reference of a served version (loaded once per version)."""
    return ReferenceModel(model)


def _publish(store: LocalModelStore, dataset: str, output: TrainingOutput) -> Manifest:
    source = SourceInfo(key=f"uploads/{dataset}/x.csv", sha256="0" * 64, size=1)
    manifest = publish_version(store, dataset, "v1", output, source, created_at=datetime.now(UTC))
    write_current(store, dataset, CurrentPointer(version="v1", updated_at=datetime.now(UTC)))
    return manifest


def _enriched_mall_csv() -> bytes:
    """Mall plus a skewed count (log1p), a visit date, a channel with gaps, and missing values."""
    rows = list(csv.DictReader(MALL.open()))
    rng = np.random.default_rng(7)
    start = date(2023, 1, 1)
    out = io.StringIO()
    fields = [*rows[0].keys(), "Purchases", "Last Visit", "Channel"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows):
        row = dict(row)
        row["Purchases"] = str(int(np.exp(rng.normal(1.5, 1.3))))
        row["Last Visit"] = (start + timedelta(days=int(rng.integers(0, 700)))).isoformat()
        row["Channel"] = ["web", "store", "phone", ""][int(rng.integers(0, 4))]
        if i % 17 == 3:
            row["Age"] = ""
        if i % 23 == 5:
            row["Purchases"] = ""
        if i % 29 == 7:
            row["Last Visit"] = ""
        writer.writerow(row)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def mall(tmp_path_factory: pytest.TempPathFactory) -> SegmentationModel:
    store = LocalModelStore(tmp_path_factory.mktemp("mall"))
    # Every algorithm, the opt-in autoencoder too.
    config = DatasetConfig(algorithms=list(ALL_ALGORITHMS))
    output = train_segments(MALL.read_bytes(), filename=MALL.name, dataset="mall", config=config)
    _publish(store, "mall", output)
    return SegmentationModel.open(store, "mall", "v1")


@pytest.fixture(scope="module")
def enriched(tmp_path_factory: pytest.TempPathFactory) -> SegmentationModel:
    store = LocalModelStore(tmp_path_factory.mktemp("enriched"))
    output = train_segments(
        _enriched_mall_csv(),
        filename="enriched.csv",
        dataset="enriched",
        config=DatasetConfig(k_max=5),
    )
    _publish(store, "enriched", output)
    return SegmentationModel.open(store, "enriched", "v1")


def _mall_records(n: int, seed: int) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(MALL.open()))
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for j in rng.integers(0, len(rows), n):
        row = rows[int(j)]
        out.append(
            {
                "Gender": row["Gender"],
                "Age": int(row["Age"]) + int(rng.integers(-3, 4)),
                "Annual Income (k$)": float(row["Annual Income (k$)"]) + float(rng.normal()),
                "Spending Score (1-100)": int(row["Spending Score (1-100)"]),
            }
        )
    return out


AWKWARD_MALL: list[dict[str, Any]] = [
    {"Gender": "Female", "Age": None, "Annual Income (k$)": 70, "Spending Score (1-100)": 77},
    {"Gender": None, "Age": 40},  # two columns omitted, one null
    {"Gender": "Robot", "Age": 30, "Annual Income (k$)": 60, "Spending Score (1-100)": 50},
    {"Gender": "Male", "Age": 150, "Annual Income (k$)": -5, "Spending Score (1-100)": 1000},
    {"Gender": "Male", "Age": "42", "Annual Income (k$)": " 61 ", "Spending Score (1-100)": 5},
    {"Gender": " Female ", "Age": 33, "Email": "x@example.com"},  # unknown key
    {},
]


def _assert_same(serving: list[Any], reference: list[Any], what: str) -> None:
    assert [a.segment_id for a in serving] == [a.segment_id for a in reference], what
    assert [a.outlier for a in serving] == [a.outlier for a in reference], what
    assert [a.imputed for a in serving] == [a.imputed for a in reference], what
    assert [a.warnings for a in serving] == [a.warnings for a in reference], what
    for field in ("distance", "confidence"):
        np.testing.assert_allclose(
            np.array([getattr(a, field) for a in serving], dtype=float),
            np.array([getattr(a, field) for a in reference], dtype=float),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"{what}: {field}",
        )
    for got, want in zip(serving, reference, strict=True):
        if want.probabilities is None:
            assert got.probabilities is None, what
        else:
            assert got.probabilities is not None, what
            assert list(got.probabilities) == list(want.probabilities), what
            np.testing.assert_allclose(
                list(got.probabilities.values()), list(want.probabilities.values()), atol=1e-12
            )


def _every_model(model: SegmentationModel) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for algorithm, summary in sorted(model.manifest.algorithms.items()):
        if summary.k is None:
            out.append((algorithm, None))
        else:
            out.extend((algorithm, int(k)) for k in sorted(summary.models, key=int))
    return out


def _compare_every_model(model: SegmentationModel, records: list[dict[str, Any]]) -> int:
    # A customer with no known feature is refused (422) by both routes; compare the rest.
    _, imputed, _ = _oracle(model).transform(records)
    n = len(values.feature_columns(model.manifest.columns))
    for record, cols in zip(records, imputed, strict=True):
        if len(cols) == n:
            with pytest.raises(InvalidCustomerError, match="no known feature"):
                model.assign([record])
    records = [r for r, cols in zip(records, imputed, strict=True) if len(cols) < n]
    checked = 0
    for algorithm, k in _every_model(model):
        what = f"{algorithm} k={k}"
        # The numpy path must really be the bundle's rule, not the skops assigner.
        assert type(model.rule(model.choose(algorithm, k))).__module__ == (
            "shared.serving.rules"
        ), what
        reference = _oracle(model).assign(records, algorithm=algorithm, k=k)
        for size in (len(records), COLUMN_PATH_MIN_ROWS - 1):  # column route and row route
            serving = model.assign(records[:size], algorithm=algorithm, k=k)
            _assert_same(serving, reference[:size], f"{what}, {size} rows")
        checked += 1
    return checked


# --- the bundle is published ---------------------------------------------------------------------


def test_training_publishes_the_bundle_in_the_manifest(mall: SegmentationModel) -> None:
    artifacts = mall.manifest.artifacts
    assert SERVING_PARAMS_PATH in artifacts
    params = mall.serving_params()
    keys = {key for algorithm, k in _every_model(mall) for key in [mall.choose(algorithm, k).key]}
    assert set(params.models) == keys
    for key, spec in params.models.items():
        assert spec["arrays"] == serving_arrays_path(key)
        assert len(artifacts[spec["arrays"]].sha256) == 64


def test_bundle_bytes_are_deterministic(mall: SegmentationModel) -> None:
    pre = _oracle(mall).preprocessor()
    gmm = _oracle(mall).assigner(mall.choose("gmm", 3))
    first = build_serving_artifacts(pre, mall.manifest.columns, {"gmm-k3": gmm})
    again = build_serving_artifacts(pre, mall.manifest.columns, {"gmm-k3": gmm})
    assert first == again
    assert set(first) == {SERVING_PARAMS_PATH, "serving/gmm-k3.npz"}
    # The same arrays as the published file of the full run.
    published = mall.store.get_bytes(ModelLayout.artifact("mall", "v1", "serving/gmm-k3.npz"))
    assert first["serving/gmm-k3.npz"] == published


# --- same answers as the skops reference ---------------------------------------------------------


def test_every_mall_model_gives_the_reference_answers(mall: SegmentationModel) -> None:
    records = _mall_records(150, seed=3) + AWKWARD_MALL
    rows = [
        {str(k): v for k, v in r.items() if k != "CustomerID"} for r in csv.DictReader(MALL.open())
    ]
    checked = _compare_every_model(mall, records + rows)
    assert checked == 4 * 9 + 1  # kmeans, gmm, agglomerative, autoencoder at k = 2..10; dbscan


def test_rules_equal_the_assigners_on_the_prepared_matrix(mall: SegmentationModel) -> None:
    X, _, _ = _oracle(mall).transform(_mall_records(300, seed=4))
    X = np.vstack([X, X * 3.0])  # far points too: outliers, DBSCAN noise
    for algorithm, k in _every_model(mall):
        choice = mall.choose(algorithm, k)
        got, want = mall.rule(choice).assign(X), _oracle(mall).assigner(choice).assign(X)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_array_equal(got.outlier, want.outlier)
        np.testing.assert_allclose(got.distance, want.distance, rtol=1e-12)
        np.testing.assert_allclose(got.confidence, want.confidence, rtol=1e-12, atol=1e-15)
        if want.probabilities is not None:
            np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-15)


def test_enriched_mall_with_log1p_dates_and_gaps(enriched: SegmentationModel) -> None:
    by_name = {c.name: c for c in enriched.manifest.columns}
    assert by_name["Purchases"].transform == "log1p"
    assert by_name["Last Visit"].role == "date"
    assert by_name["Channel"].role == "categorical"
    rng = np.random.default_rng(5)
    records: list[dict[str, Any]] = []
    for i, base in enumerate(_mall_records(90, seed=6)):
        record: dict[str, Any] = dict(base)
        record["Purchases"] = [3, 0, 40, None, -2, "7"][i % 6]
        visit = date(2023, 1, 1) + timedelta(days=int(rng.integers(-30, 760)))
        record["Last Visit"] = [visit.isoformat(), None, f"{visit.isoformat()}T10:00:00"][i % 3]
        record["Channel"] = ["web", "store", "fax", None, "phone"][i % 5]
        records.append(record)
    checked = _compare_every_model(enriched, records + AWKWARD_MALL)
    assert checked == 3 * 4 + 1
    # The imputation, log1p and date rules really were exercised.
    out = enriched.assign(records)
    assert any("Purchases" in a.imputed for a in out)
    assert any("negative" in w for a in out for w in a.warnings)
    assert any("training dates" in w for a in out for w in a.warnings)
    assert any("'fax'" in w for a in out for w in a.warnings)


def test_wrong_types_name_row_and_column_on_both_routes(mall: SegmentationModel) -> None:
    for size in (3, COLUMN_PATH_MIN_ROWS + 5):
        records: list[dict[str, Any]] = _mall_records(size, seed=8)
        records[2]["Age"] = True
        with pytest.raises(InvalidCustomerError) as info:
            mall.assign(records)
        assert (info.value.row, info.value.column) == (2, "Age")
        records[2]["Age"] = 10**400  # beyond float range: a 422, never an OverflowError
        with pytest.raises(InvalidCustomerError, match="digits"):
            mall.assign(records)


# --- the column route equals the row route -------------------------------------------------------

LOG_COLUMNS = [
    ColumnSchema(name="n", role="numeric", dtype="integer", used=True, min=0, max=500,
                 transform="log1p"),
    ColumnSchema(name="y", role="numeric", dtype="float", used=True, min=-1, max=1),
    ColumnSchema(name="g", role="categorical", dtype="integer", used=True,
                 categories=["1", "2", "3"]),
]  # fmt: skip


def test_column_route_equals_row_route_and_sklearn() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "n": np.floor(np.exp(rng.normal(2, 1.5, n))),
            "y": rng.uniform(-1, 1, n),
            "g": [str(v) for v in rng.integers(1, 4, n)],
        }
    )
    frame.loc[::9, "n"] = np.nan
    fitted = fit_preprocessor(frame, LOG_COLUMNS)
    params = preprocessing_params(fitted.transformer, LOG_COLUMNS)
    again = PreprocessingParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params  # the JSON form reads back to the identical numbers
    records: list[dict[str, Any]] = [
        {
            "n": [int(rng.integers(0, 900)), None, -3, 2.5][i % 4],
            "y": None if i % 11 == 0 else float(rng.uniform(-2, 2)),
            "g": [1, 2.0, "3", 4, None, True][i % 6],
            **({"extra": 1} if i % 13 == 0 else {}),
        }
        for i in range(200)
    ]
    serving = ServingTransform(again, LOG_COLUMNS)
    X_col, imputed_col, warnings_col = serving.transform(records)
    # Batches below COLUMN_PATH_MIN_ROWS take the row route.
    step = COLUMN_PATH_MIN_ROWS - 1
    parts = [serving.transform(records[i : i + step]) for i in range(0, len(records), step)]
    X_row = np.vstack([part[0] for part in parts])
    imputed_row = [row for part in parts for row in part[1]]
    warnings_row = [row for part in parts for row in part[2]]
    np.testing.assert_array_equal(X_col, X_row)
    assert imputed_col == imputed_row
    assert warnings_col == warnings_row
    coerced = coerce_customers(records, LOG_COLUMNS)
    np.testing.assert_allclose(X_col, fitted.transformer.transform(coerced.frame), atol=1e-12)
    assert warnings_col == coerced.warnings
    assert imputed_col == coerced.imputed


def test_a_weighted_one_hot_block_is_served_with_its_weight() -> None:
    """The one-hot block's weight (transformer_weights) is carried by the params, through JSON."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "n": np.floor(np.exp(rng.normal(2, 1.5, 60))),
            "y": rng.uniform(-1, 1, 60),
            "g": [str(v) for v in rng.integers(1, 4, 60)],
        }
    ).astype({"g": object})
    transformer = build_preprocessor(LOG_COLUMNS).set_params(
        transformer_weights={"categorical": 0.5}
    )
    transformer.fit(frame)
    params = preprocessing_params(transformer, LOG_COLUMNS)
    assert [c.value for c in params.categorical] == [0.5]
    doc = params.to_dict()
    assert doc["categorical"][0]["value"] == 0.5
    again = PreprocessingParams.from_dict(json.loads(json.dumps(doc)))
    assert again == params
    records: list[dict[str, Any]] = [
        {"n": [3, None, 40][i % 3], "y": 0.1 * (i % 7), "g": [1, "2", None, "9"][i % 4]}
        for i in range(COLUMN_PATH_MIN_ROWS + 10)
    ]
    expected = transformer.transform(coerce_customers(records, LOG_COLUMNS).frame)
    assert set(np.unique(expected[:, -3:])) == {0.0, 0.5}
    serving = ServingTransform(again, LOG_COLUMNS)
    np.testing.assert_allclose(serving.transform(records)[0], expected, atol=1e-12)  # by column
    np.testing.assert_allclose(serving.transform(records[:5])[0], expected[:5], atol=1e-12)
    # Unweighted params keep their JSON (bundles written before the field read as 1.0).
    # (fit_preprocessor weights one-hot blocks by CATEGORY_WEIGHT: unweight it explicitly)
    plain = build_preprocessor(LOG_COLUMNS).set_params(transformer_weights=None).fit(frame)
    unweighted = preprocessing_params(plain, LOG_COLUMNS)
    assert "value" not in unweighted.to_dict()["categorical"][0]
    assert unweighted.categorical[0].value == 1.0
    numeric = build_preprocessor(LOG_COLUMNS).set_params(transformer_weights={"numeric": 2.0})
    with pytest.raises(TypeError, match="'numeric' is weighted but is not a one-hot block"):
        preprocessing_params(numeric.fit(frame), LOG_COLUMNS)


def test_params_for_other_columns_are_refused() -> None:
    frame = pd.DataFrame({"n": [1.0, 5.0, 50.0], "y": [0.0, 0.5, 1.0], "g": ["1", "2", "3"]})
    params = preprocessing_params(fit_preprocessor(frame, LOG_COLUMNS).transformer, LOG_COLUMNS)
    other = [c.model_copy(update={"transform": None}) for c in LOG_COLUMNS]
    with pytest.raises(ValueError, match="made for columns"):
        ServingTransform(params, other)
    doc = params.to_dict()
    doc["numeric"][0]["output"] = 99
    with pytest.raises(ValueError, match="outside"):
        PreprocessingParams.from_dict(doc)
    doc["numeric"][0]["output"] = "0"
    with pytest.raises(ValueError, match="expected an integer"):
        PreprocessingParams.from_dict(doc)
    bad = {"format": 1, "models": {}, "preprocessing": {**params.to_dict(), "numeric": None}}
    with pytest.raises(ArtifactError, match=r"serving/params\.json refused.*expected a list"):
        read_serving_params(json.dumps(bad).encode())


def test_the_bundle_writer_fails_loudly_instead_of_leaving_the_bundle_out() -> None:
    """Every version needs a bundle: what cannot be written fails the run, naming why."""
    frame = pd.DataFrame({"n": [1.0, 5.0, 50.0], "y": [0.0, 0.5, 1.0], "g": ["1", "2", "3"]})
    fitted = fit_preprocessor(frame, LOG_COLUMNS)
    with pytest.raises(ArtifactError, match=r"model kmeans-k2 cannot be written.*no serving rule"):
        build_serving_artifacts(fitted.transformer, LOG_COLUMNS, {"kmeans-k2": object()})
    params = preprocessing_params(fitted.transformer, LOG_COLUMNS)
    doc = params.to_dict()
    doc["numeric"][0]["scale"] = float("nan")
    with pytest.raises(ValueError, match=rf"column '{doc['numeric'][0]['column']}'.*finite"):
        PreprocessingParams.from_dict(doc)


# --- refusing bad bundles ------------------------------------------------------------------------


def _npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_object_arrays_wrong_shapes_and_kinds_are_refused() -> None:
    spec = {"kind": "nearest_centroid", "n_features": 2}
    good = {
        "centroids": np.zeros((3, 2)),
        "labels": np.arange(3),
        "thresholds": np.ones(3),
    }
    assert load_serving_rule(spec, _npz(**good)).predict(np.zeros((1, 2))).tolist() == [0]
    pickled = {**good, "labels": np.array([0, "a", None], dtype=object)}
    with pytest.raises(ArtifactError, match="refused"):
        load_serving_rule(spec, _npz(**pickled))
    with pytest.raises(ArtifactError, match="shape"):
        load_serving_rule({**spec, "n_features": 5}, _npz(**good))
    with pytest.raises(ArtifactError, match="missing array"):
        load_serving_rule(spec, _npz(centroids=good["centroids"]))
    with pytest.raises(ArtifactError, match="unknown rule kind"):
        load_serving_rule({**spec, "kind": "pickle"}, _npz(**good))
    with pytest.raises(ArtifactError, match="refused"):
        load_serving_rule(spec, b"not a zip")
    with pytest.raises(ArtifactError, match="format"):
        read_serving_params(b'{"format": 99, "preprocessing": {}, "models": {}}')


def test_tampered_bundle_is_refused_before_parsing(mall: SegmentationModel, tmp_path: Path) -> None:
    store = LocalModelStore(tmp_path)
    source = mall.store
    for key in source.list_keys(ModelLayout.dataset("mall")):
        store.put_bytes(key, source.get_bytes(key))
    path = ModelLayout.artifact("mall", "v1", serving_arrays_path("kmeans-k5"))
    store.put_bytes(path, store.get_bytes(path) + b"\0")
    model = SegmentationModel.open(store, "mall", "v1")
    with pytest.raises(ChecksumMismatchError, match=r"kmeans-k5\.npz"):
        model.assign(AWKWARD_MALL, algorithm="kmeans", k=5)


# --- the request path imports numpy only ---------------------------------------------------------

NO_HEAVY_IMPORTS = textwrap.dedent(
    """
    import json, sys
    from shared.serving.model import SegmentationModel
    from shared.store.local import LocalModelStore
    model = SegmentationModel.open(LocalModelStore(sys.argv[1]), "mall", "v1")
    for algorithm in ("kmeans", "gmm", "agglomerative", "dbscan"):
        out = model.assign([{"Gender": "Male", "Age": 30, "Annual Income (k$)": 60}],
                           algorithm=algorithm)
        assert out[0].segment_name
    big = [{"Gender": "Female", "Age": 20 + i % 50, "Annual Income (k$)": i % 130,
            "Spending Score (1-100)": i % 100} for i in range(500)]
    assert len(model.assign(big)) == 500
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in json.loads(sys.argv[2]))
    print(json.dumps(heavy))
    """
)


FIRST_REQUEST = textwrap.dedent(
    """
    import json, sys
    import lambdas.api.main
    heavy = json.loads(sys.argv[2])
    at_import = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    event = json.loads(open(sys.argv[1]).read())
    out = lambdas.api.main.handler(event, None)
    assert out["statusCode"] == 200, out["body"]
    after = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    print(json.dumps([at_import, after]))
    """
)


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _root(model: SegmentationModel) -> str:
    assert isinstance(model.store, LocalModelStore)
    return str(model.store.root)


def test_assigning_imports_no_pandas_sklearn_scipy_or_skops(mall: SegmentationModel) -> None:
    assert _run(NO_HEAVY_IMPORTS, _root(mall), json.dumps(HEAVY)) == []


def test_api_import_and_first_assign_import_no_heavy_library(mall: SegmentationModel) -> None:
    """The cold start of the API: importing the app, then the first assign (local store)."""
    at_import, after_first = _run(
        FIRST_REQUEST,
        str(ROOT / "events" / "api-assign.json"),
        json.dumps(HEAVY),
        env={"MODELS_DIR": _root(mall), "API_TOKENS": "", "ADMIN_TOKENS": ""},
    )
    assert at_import == []
    assert after_first == []


# --- the numpy-only scalar rules are training's --------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["parse_number", "category_label", "date_age_days", "MISSING_TOKENS", "ABSURD_MAGNITUDE"],
)
def test_training_and_serving_share_one_set_of_scalar_rules(name: str) -> None:
    # One implementation serves both: a copy in shared/engine/schema.py could drift from serving's.
    assert getattr(schema, name) is getattr(values, name)
