"""Preprocessing: the fitted ColumnTransformer, customer coercion and the numpy fast path."""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema
from shared.engine.loading import read_table
from shared.engine.preprocess import (
    FittedPreprocessing,
    build_preprocessor,
    coerce_customers,
    fit_preprocessor,
    preprocessing_params,
)
from shared.engine.schema import CleanTable, clean_training_table, prepare_frame
from shared.exceptions import InvalidCustomerError, MissingColumnError, NoUsableFeatureError
from shared.serving.transform import ServingTransform

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
# The reviewed list the preprocessor needs beyond skops' defaults: SimpleImputer keeps the
# fitted dtype (``_fit_dtype``), which skops stores as a numpy.dtype node it does not trust.
PREPROCESSOR_TRUSTED_TYPES = ["numpy.dtype"]


def _num(name: str, **extra: Any) -> ColumnSchema:
    return ColumnSchema(name=name, role="numeric", dtype="float", used=True, **extra)


def _cat(name: str, categories: list[str]) -> ColumnSchema:
    return ColumnSchema(
        name=name, role="categorical", dtype="string", used=True, categories=categories
    )


@pytest.fixture(scope="module")
def mall_frame() -> pd.DataFrame:
    return read_table(MALL.read_bytes(), filename=MALL.name)


@pytest.fixture(scope="module")
def mall_table(mall_frame: pd.DataFrame) -> CleanTable:
    return clean_training_table(mall_frame, DatasetConfig())


def _messy_frame() -> pd.DataFrame:
    """Missing values, a skewed column (log1p), a date column, categories and an integer code."""
    n = 40
    rng = np.random.default_rng(11)
    spend = rng.lognormal(3, 1.4, n).round(2)
    spend[[3, 17]] = np.nan
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[[5, 6]] = None
    return pd.DataFrame(
        {
            "customer_id": [f"C{100 + i}" for i in range(n)],
            "age": [str(a) if i % 9 else " " for i, a in enumerate(rng.integers(18, 80, n))],
            "spend": spend,
            "signup": pd.date_range("2024-01-01", periods=n, freq="5D").strftime("%Y-%m-%d"),
            "plan": plan,
            "region_code": rng.integers(1, 5, n),
        }
    )


@pytest.fixture(scope="module")
def messy_frame() -> pd.DataFrame:
    return _messy_frame()


@pytest.fixture(scope="module")
def messy_table(messy_frame: pd.DataFrame) -> CleanTable:
    return clean_training_table(messy_frame, DatasetConfig())


def test_messy_table_has_the_kinds_the_tests_rely_on(messy_table: CleanTable) -> None:
    roles = {c.name: (c.role, c.transform) for c in messy_table.feature_columns}
    assert roles == {
        "age": ("numeric", None),
        "spend": ("numeric", "log1p"),
        "signup": ("date", None),
        "plan": ("categorical", None),
        "region_code": ("categorical", None),
    }


# --- build / fit -------------------------------------------------------------------------


def test_build_preprocessor_blocks() -> None:
    columns = [
        _num("a"),
        _num("b", transform="log1p"),
        _cat("c", ["x"]),
        ColumnSchema(name="id", role="id", dtype="integer", used=False),
    ]
    transformer = build_preprocessor(columns)
    blocks = [(name, cols) for name, _, cols in transformer.transformers]
    assert blocks == [("numeric", ["a"]), ("log_numeric", ["b"]), ("categorical", ["c"])]


def test_build_preprocessor_without_features_refuses() -> None:
    with pytest.raises(NoUsableFeatureError):
        build_preprocessor([ColumnSchema(name="id", role="id", dtype="integer", used=False)])


def test_fit_exact_values_on_tiny_data() -> None:
    e = math.e
    features = pd.DataFrame(
        {
            "x": [1.0, 3.0, np.nan],  # median 2 imputed -> (1, 3, 2) -> standardized
            "s": [0.0, e - 1, e**2 - 1],  # log1p -> (0, 1, 2)
            "g": ["b", np.nan, "a"],  # tie a/b -> most_frequent picks the smallest, "a"
        },
    ).astype({"g": object})
    columns = [_num("x"), _num("s", transform="log1p"), _cat("g", ["a", "b"])]
    fitted = fit_preprocessor(features, columns)
    z = math.sqrt(1.5)
    w = 0.5  # a one-hot slot holds CATEGORY_WEIGHT
    expected = [
        [-z, -z, 0.0, w],
        [z, 0.0, w, 0.0],
        [0.0, z, w, 0.0],
    ]
    np.testing.assert_allclose(fitted.X, expected, atol=1e-12)
    assert fitted.feature_names == ["x", "s", "g_a", "g_b"]
    assert fitted.X.dtype == np.float64
    assert fitted.X.flags["C_CONTIGUOUS"]
    assert isinstance(fitted.transformer, ColumnTransformer)


def test_fit_mall(mall_table: CleanTable) -> None:
    fitted = fit_preprocessor(mall_table.features, mall_table.columns)
    assert fitted.X.shape == (200, 5)
    assert fitted.feature_names == [
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
        "Gender_Female",
        "Gender_Male",
    ]
    np.testing.assert_allclose(fitted.X[:, :3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(fitted.X[:, :3].std(axis=0), 1.0)


def test_fit_with_colliding_output_names_uses_prefixes() -> None:
    features = pd.DataFrame({"g_a": [1.0, 2.0], "g": ["a", "b"]}).astype({"g": object})
    fitted = fit_preprocessor(features, [_num("g_a"), _cat("g", ["a", "b"])])
    assert fitted.feature_names == ["numeric__g_a", "categorical__g_a", "categorical__g_b"]


def test_fit_missing_feature_column() -> None:
    with pytest.raises(MissingColumnError, match="'y'"):
        fit_preprocessor(pd.DataFrame({"x": [1.0]}), [_num("x"), _num("y")])


# --- coerce_customers ---------------------------------------------------------------------------


COLUMNS = [
    ColumnSchema(name="Age", role="numeric", dtype="integer", used=True, min=18, max=70),
    ColumnSchema(
        name="Gender",
        role="categorical",
        dtype="string",
        used=True,
        categories=["Female", "Male"],
    ),
    ColumnSchema(
        name="Signup",
        role="date",
        dtype="datetime",
        used=True,
        min=0.0,
        max=30.0,
        date_reference="2024-01-31T00:00:00",
        date_format="%Y-%m-%d",
    ),
    ColumnSchema(name="CustomerID", role="id", dtype="integer", used=False),
]


def test_coerce_customers_types_like_training() -> None:
    out = coerce_customers(
        [
            {"Age": "42", "Gender": " Male", "Signup": "2024-01-21", "CustomerID": 7},
            {"Age": 30.5, "Gender": None},
            {"Age": None, "Gender": "Other", "Signup": "2023-01-01", "Nickname": "Bo"},
        ],
        COLUMNS,
    )
    assert list(out.frame.columns) == ["Age", "Gender", "Signup"]
    assert out.frame["Age"].dtype == np.float64
    assert out.frame["Gender"].dtype == object
    np.testing.assert_array_equal(out.frame["Age"], [42.0, 30.5, np.nan])
    assert out.frame["Gender"].tolist()[0] == "Male"
    assert out.frame["Gender"].isna().tolist() == [False, True, False]
    np.testing.assert_array_equal(out.frame["Signup"], [10.0, np.nan, 395.0])
    assert out.imputed == [[], ["Gender", "Signup"], ["Age"]]
    assert out.warnings[0] == []
    assert out.warnings[2] == [
        "Gender='Other' was not seen in training (known: 'Female', 'Male'); it matches no category",
        "Signup='2023-01-01' is outside the training dates 2024-01-01..2024-01-31",
        "unknown field(s) 'Nickname' ignored",
    ]


def test_out_of_range_is_a_warning() -> None:
    out = coerce_customers([{"Age": 250, "Gender": "Male", "Signup": "2024-01-30"}], COLUMNS)
    assert out.warnings == [["Age=250 is outside the training range 18..70"]]


def test_empty_request_gives_an_empty_typed_frame() -> None:
    out = coerce_customers([], COLUMNS)
    assert out.frame.shape == (0, 3)
    assert out.imputed == []


@pytest.mark.parametrize(
    ("record", "column", "words"),
    [
        ({"Age": "abc"}, "Age", "'abc' is not a number"),
        ({"Age": True}, "Age", "boolean is not a number"),
        ({"Age": [1]}, "Age", "list is not a single value"),
        ({"Age": 1, "Gender": {"x": 1}}, "Gender", "dict is not a single value"),
        ({"Age": float("inf")}, "Age", "not a finite number"),
        ({"Signup": "next week"}, "Signup", "'next week' is not a date"),
        ({"Signup": 20240101}, "Signup", "int is not a date"),
    ],
)
def test_wrong_types_raise_naming_row_and_column(
    record: dict[str, Any], column: str, words: str
) -> None:
    records = [{"Age": 30, "Gender": "Male"}, record]
    routes = [
        lambda: coerce_customers(records, COLUMNS),
        lambda: _fast_for(COLUMNS).transform(records),
    ]
    for route in routes:
        with pytest.raises(InvalidCustomerError) as caught:
            route()
        assert caught.value.row == 1
        assert caught.value.column == column
        message = str(caught.value)
        assert f"customer 1, column {column!r}" in message
        assert words in message


def test_a_record_that_is_not_a_mapping() -> None:
    with pytest.raises(InvalidCustomerError, match="customer 0: expected an object"):
        coerce_customers([["Age", 3]], COLUMNS)  # type: ignore[list-item]


def _serving(transformer: Any, columns: list[ColumnSchema]) -> ServingTransform:
    """The serving transform of a fitted preprocessor (the params form the bundle stores)."""
    return ServingTransform(preprocessing_params(transformer, columns), columns)


def _fast_for(columns: list[ColumnSchema]) -> ServingTransform:
    features = pd.DataFrame(
        {
            "Age": [20.0, 40.0, 60.0],
            "Gender": ["Female", "Male", "Male"],
            "Signup": [0.0, 10.0, 30.0],
        }
    ).astype({"Gender": object})
    fitted = fit_preprocessor(features, columns)
    return _serving(fitted.transformer, columns)


# --- the three routes agree ----------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON would bring them: None for missing values."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]


@pytest.mark.parametrize("dataset", ["mall", "messy"])
def test_fast_path_coerce_and_prepare_frame_give_the_same_matrix(
    dataset: str, request: pytest.FixtureRequest
) -> None:
    frame: pd.DataFrame = request.getfixturevalue(f"{dataset}_frame")
    table: CleanTable = request.getfixturevalue(f"{dataset}_table")
    fitted = fit_preprocessor(table.features, table.columns)
    records = _records(frame)

    via_prepare = fitted.transformer.transform(prepare_frame(frame, table.columns))
    coerced = coerce_customers(records, table.columns)
    via_coerce = fitted.transformer.transform(coerced.frame)
    fast = _serving(fitted.transformer, table.columns)
    via_fast, imputed, _ = fast.transform(records)

    np.testing.assert_allclose(via_prepare, fitted.X, atol=1e-12)
    np.testing.assert_allclose(via_coerce, fitted.X, atol=1e-12)
    np.testing.assert_allclose(via_fast, fitted.X, atol=1e-12)
    assert imputed == coerced.imputed
    n_imputed = sum(len(row) for row in imputed)
    assert n_imputed == sum(table.rows.imputed_values.values())


def test_fast_path_on_new_customers_with_unknowns_and_gaps(
    messy_frame: pd.DataFrame, messy_table: CleanTable
) -> None:
    fitted = fit_preprocessor(messy_table.features, messy_table.columns)
    fast = _serving(fitted.transformer, messy_table.columns)
    records: list[dict[str, Any]] = [
        {
            "age": "33",
            "spend": 12.5,
            "signup": "2024-02-10",
            "plan": "enterprise",
            "region_code": 9,
        },
        {"age": None, "spend": -4, "signup": None, "plan": None},
        {"spend": "1e3", "signup": "2030-01-01", "plan": " pro ", "region_code": "2"},
        {},
    ]
    via_fast, imputed, warnings = fast.transform(records)
    coerced = coerce_customers(records, messy_table.columns)
    np.testing.assert_allclose(via_fast, fitted.transformer.transform(coerced.frame), atol=1e-12)
    np.testing.assert_allclose(
        via_fast,
        fitted.transformer.transform(prepare_frame(pd.DataFrame(records), messy_table.columns)),
        atol=1e-12,
    )
    assert imputed[3] == ["age", "spend", "signup", "plan", "region_code"]
    assert any("'enterprise' was not seen" in w for w in warnings[0])
    assert any("spend=-4 is negative; treated as 0" in w for w in warnings[1])
    # an unknown category encodes as all zeros in its one-hot block
    plan_slots = [i for i, n in enumerate(fitted.feature_names) if n.startswith("plan_")]
    assert via_fast[0, plan_slots].tolist() == [0.0, 0.0, 0.0]


def test_fast_path_is_fast(mall_table: CleanTable) -> None:
    fitted = fit_preprocessor(mall_table.features, mall_table.columns)
    fast = _serving(fitted.transformer, mall_table.columns)
    record = [{"Gender": "Male", "Age": 30, "Annual Income (k$)": 70, "Spending Score (1-100)": 60}]
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        fast.transform(record)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[100] < 1e-3  # median well under a millisecond (about 25 us here)


_VALID_VALUES = {
    "age": st.one_of(st.none(), st.integers(-50, 150), st.floats(-1e6, 1e6), st.just(" 41 ")),
    "spend": st.one_of(st.none(), st.floats(-10, 1e5), st.just("12.5"), st.just("")),
    "signup": st.one_of(
        st.none(),
        st.dates().map(lambda d: d.isoformat()),
        st.just("2024-03-01T10:30:00"),
    ),
    "plan": st.one_of(st.none(), st.sampled_from(["basic", " pro", "team ", "gold", ""])),
    "region_code": st.one_of(st.none(), st.integers(0, 6), st.sampled_from(["2", "3.0", "x"])),
}


@st.composite
def _valid_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    records = []
    for _ in range(draw(st.integers(1, 5))):
        keys = draw(st.sets(st.sampled_from(sorted(_VALID_VALUES))))
        records.append({key: draw(_VALID_VALUES[key]) for key in sorted(keys)})
    return records


@functools.cache
def _messy_fitted() -> tuple[CleanTable, FittedPreprocessing, ServingTransform]:
    table = clean_training_table(_messy_frame(), DatasetConfig())
    fitted = fit_preprocessor(table.features, table.columns)
    return table, fitted, _serving(fitted.transformer, table.columns)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_valid_records())
def test_routes_agree_on_random_valid_customers(records: list[dict[str, Any]]) -> None:
    table, fitted, fast = _messy_fitted()
    via_fast, imputed, _ = fast.transform(records)
    coerced = coerce_customers(records, table.columns)
    assert imputed == coerced.imputed
    np.testing.assert_allclose(via_fast, fitted.transformer.transform(coerced.frame), atol=1e-9)
    full = pd.DataFrame(records, columns=list(_VALID_VALUES)).astype(object)
    via_prepare = fitted.transformer.transform(prepare_frame(full, table.columns))
    np.testing.assert_allclose(via_fast, via_prepare, atol=1e-9)
    assert np.isfinite(via_fast).all()


# --- persistence -------------------------------------------------------------------------


def test_skops_round_trip_needs_only_the_reviewed_trusted_types(
    messy_table: CleanTable, messy_frame: pd.DataFrame
) -> None:
    fitted = fit_preprocessor(messy_table.features, messy_table.columns)
    data = sio.dumps(fitted.transformer)
    assert sorted(sio.get_untrusted_types(data=data)) == PREPROCESSOR_TRUSTED_TYPES
    loaded = sio.loads(data, trusted=PREPROCESSOR_TRUSTED_TYPES)
    prepared = prepare_frame(messy_frame, messy_table.columns)
    np.testing.assert_array_equal(
        loaded.transform(prepared), fitted.transformer.transform(prepared)
    )
    fast = _serving(loaded, messy_table.columns)
    np.testing.assert_allclose(fast.transform(_records(messy_frame))[0], fitted.X)
