"""clean_training_table and prepare_frame: roles, typing, validation, and what is reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema
from shared.engine.loading import read_table
from shared.engine.schema import (
    PROFILED_REASON,
    CleanTable,
    category_label,
    clean_training_table,
    date_age_days,
    minimum_rows,
    parse_number,
    prepare_frame,
)
from shared.exceptions import (
    ConfigError,
    DataValidationError,
    MissingColumnError,
    NoUsableFeatureError,
    TooFewRowsError,
)

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"


def _roles(table: CleanTable) -> dict[str, tuple[str, bool]]:
    return {c.name: (c.role, c.used) for c in table.columns}


def _column(table: CleanTable, name: str) -> ColumnSchema:
    return next(c for c in table.columns if c.name == name)


@pytest.fixture(scope="module")
def mall() -> pd.DataFrame:
    return read_table(MALL.read_bytes(), filename=MALL.name)


# --- the files the issue names -------------------------------------------------------------------


def test_mall_file_cleans_without_config(mall: pd.DataFrame) -> None:
    table = clean_training_table(mall, DatasetConfig())
    assert _roles(table) == {
        "CustomerID": ("id", False),
        "Gender": ("categorical", True),
        "Age": ("numeric", True),
        "Annual Income (k$)": ("numeric", True),
        "Spending Score (1-100)": ("numeric", True),
    }
    assert list(table.features.columns) == [
        "Gender",
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
    ]
    assert table.features.shape == (200, 4)
    assert table.ids is not None
    assert table.ids.tolist() == list(range(1, 201))
    assert table.rows.model_dump() == {
        "read": 200,
        "used": 200,
        "dropped": 0,
        "dropped_reasons": {},
        "imputed_values": {},
    }
    gender = _column(table, "Gender")
    assert gender.categories == ["Female", "Male"]
    assert gender.imputed_with == "Female"  # 112 women, 88 men
    income = _column(table, "Annual Income (k$)")
    assert (income.min, income.max, income.imputed_with) == (15.0, 137.0, 61.5)
    assert all(c.transform is None for c in table.columns)
    assert table.features["Gender"].dtype == object
    assert table.features["Age"].dtype == np.float64


def test_mall_with_the_published_features(mall: pd.DataFrame) -> None:
    config = DatasetConfig(features=["Annual Income (k$)", "Spending Score (1-100)"])
    table = clean_training_table(mall, config)
    assert list(table.features.columns) == ["Annual Income (k$)", "Spending Score (1-100)"]
    assert _roles(table)["CustomerID"] == ("id", False)
    gender, age = _column(table, "Gender"), _column(table, "Age")
    assert (gender.role, gender.used, gender.profiled) == ("categorical", False, True)
    assert (age.role, age.used, age.profiled, age.min, age.max) == ("numeric", False, True, 18, 70)
    assert gender.reason == PROFILED_REASON
    assert list(table.profiled.columns) == ["Gender", "Age"]
    assert table.profiled["Age"].dtype == np.float64
    assert sorted(table.profiled["Gender"].unique()) == ["Female", "Male"]
    assert len(table.profiled) == len(table.features)


def test_excluded_ids_and_empty_columns_are_not_profiled() -> None:
    frame = pd.DataFrame(
        {
            "id": range(20),
            "x": [float(i % 7) for i in range(20)],
            "region": ["n", "s"] * 10,
            "note": [None] * 20,
            "hidden": [1.0, 2.0] * 10,
        }
    )
    config = DatasetConfig(features=["x"], exclude=["hidden"])
    table = clean_training_table(frame, config)
    assert [c.name for c in table.columns if c.profiled] == ["region"]
    assert list(table.profiled.columns) == ["region"]


def _eighteen_numeric_columns(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"CUST_ID": [f"C{10001 + i}" for i in range(n)]})
    for j in range(17):
        values = rng.lognormal(3, 1.5, n) if j % 2 else rng.normal(50, 10, n)
        values[rng.random(n) < 0.05] = np.nan
        frame[f"V{j}"] = values.round(3)
    frame["TENURE"] = rng.integers(6, 13, n)
    return frame


def test_eighteen_numeric_columns_with_missing_values() -> None:
    frame = _eighteen_numeric_columns()
    data = frame.to_csv(index=False, na_rep="").encode()
    table = clean_training_table(read_table(data, filename="cc.csv"), DatasetConfig())
    assert _roles(table)["CUST_ID"] == ("id", False)
    used = table.feature_columns
    assert len(used) == 18
    assert all(c.role == "numeric" for c in used)
    assert table.rows.imputed_values == {
        c: int(frame[c].isna().sum()) for c in frame.columns if frame[c].isna().any()
    }
    # lognormal columns are skewed and non-negative, normal ones are not
    assert {c.name for c in used if c.transform == "log1p"} == {f"V{j}" for j in range(1, 17, 2)}


def test_tab_separated_file_with_dates_and_categories() -> None:
    n = 60
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": range(1000, 1000 + n),
            "signup": pd.date_range("2023-01-01", periods=n, freq="7D").strftime("%d/%m/%Y"),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "spend": rng.normal(100, 10, n).round(2),
            "active": rng.choice([True, False], n),
        }
    )
    data = frame.to_csv(index=False, sep="\t").encode()
    table = clean_training_table(read_table(data, filename="c.tsv"), DatasetConfig())
    assert _roles(table) == {
        "customer_id": ("id", False),
        "signup": ("date", True),
        "plan": ("categorical", True),
        "spend": ("numeric", True),
        "active": ("categorical", True),
    }
    signup = _column(table, "signup")
    newest = pd.Timestamp("2023-01-01") + pd.Timedelta(days=7 * (n - 1))
    assert signup.date_reference == newest.isoformat()
    assert signup.date_format == "%d/%m/%Y"
    assert table.features["signup"].tolist() == [7.0 * (n - 1 - i) for i in range(n)]
    assert (signup.min, signup.max) == (0.0, 7.0 * (n - 1))
    assert _column(table, "active").categories == ["False", "True"]


def test_dozens_of_categorical_columns() -> None:
    n = 80
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            f"question_{j}": rng.choice(["yes", "no", "maybe", "n/a"][: 2 + j % 3], n)
            for j in range(36)
        }
    )
    table = clean_training_table(frame, DatasetConfig())
    assert len(table.feature_columns) == 36
    assert all(c.role == "categorical" for c in table.feature_columns)
    assert set(table.features.dtypes) == {np.dtype(object)}


# --- roles on tiny hand-checkable tables -------------------------------------------------------


def _tiny(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_roles_of_every_kind_of_column() -> None:
    n = 12
    frame = _tiny(
        row=list(range(1, n + 1)),
        code=[f"X{i:03d}" for i in range(n)],
        income=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 125],
        flag=[0, 1] * 6,
        region_code=[1, 2, 3, 4] * 3,
        color=["red", "blue", "green"] * 4,
        same=["x"] * n,
        empty=[None] * n,
        comment=[
            f"a rather long free text comment number {i} about the customer" for i in range(n)
        ],
        many=[f"v{i}" for i in range(10)] + ["v0", "v1"],
    )
    table = clean_training_table(frame, min_rows=5)
    assert _roles(table) == {
        "row": ("id", False),
        "code": ("dropped", False),
        "income": ("numeric", True),
        "flag": ("categorical", True),
        "region_code": ("categorical", True),
        "color": ("categorical", True),
        "same": ("dropped", False),
        "empty": ("dropped", False),
        "comment": ("dropped", False),
        "many": ("dropped", False),
    }
    assert _column(table, "code").reason == "unique per row like the identifier 'row'"
    assert _column(table, "same").reason == "constant (every present value is 'x')"
    assert _column(table, "empty").reason == "all values are missing"
    assert (_column(table, "comment").reason or "").startswith("free text")
    assert _column(table, "many").reason == (
        "high-cardinality text: 10 distinct values in 12 rows (limit 6)"
    )
    assert _column(table, "region_code").categories == ["1", "2", "3", "4"]
    assert table.features["flag"].tolist() == ["0", "1"] * 6


@pytest.mark.parametrize("name", ["CustomerID", "CUST_ID", "id", "customer_id", "Customer Number"])
def test_identifier_names(name: str) -> None:
    frame = _tiny(**{name: [5, 3, 9, 1, 7, 2, 8, 4, 6, 10], "x": [1.5, 2.5] * 5})
    table = clean_training_table(frame, min_rows=5)
    assert _roles(table)[name] == ("id", False)


@pytest.mark.parametrize("name", ["Paid", "Valid", "width"])
def test_names_ending_in_id_letters_are_not_identifiers(name: str) -> None:
    frame = _tiny(**{name: [5.5, 3.5, 9.5, 1.5, 7.5, 2.5, 8.5, 4.5, 6.5, 10.5], "x": [1, 2] * 5})
    assert _roles(clean_training_table(frame, min_rows=5))[name] == ("numeric", True)


def test_code_like_unique_text_is_the_identifier_when_no_other() -> None:
    frame = _tiny(ref=[f"C{i}" for i in range(10)], x=[1.5, 2.5] * 5)
    assert _roles(clean_training_table(frame, min_rows=5))["ref"] == ("id", False)


def test_a_row_number_in_any_row_order_is_the_identifier() -> None:
    # An exported row index (R's "rownames", pandas' "Unnamed: 0"), rows in canonical order.
    rows = [7, 2, 9, 1, 4, 10, 3, 6, 8, 5]
    frame = _tiny(rownames=rows, x=[1.5, 2.5, 0.5, 3.0, 2.0] * 2)
    assert _roles(clean_training_table(frame, min_rows=5))["rownames"] == ("id", False)
    gapped = _tiny(count=[7, 2, 9, 1, 4, 11, 3, 6, 8, 5], x=[1.5, 2.5, 0.5, 3.0, 2.0] * 2)
    assert _roles(clean_training_table(gapped, min_rows=5))["count"][0] != "id"


def test_numbers_stored_as_text_with_blanks_are_numeric_with_missing() -> None:
    frame = _tiny(
        age=["31", " ", "45", "", "50", " 60 ", "NaN", "70", "80", "90"],
        sex=["F", "M"] * 5,
    )
    table = clean_training_table(frame, min_rows=5)
    age = _column(table, "age")
    assert (age.role, age.dtype, age.missing) == ("numeric", "integer", 3)
    assert age.imputed_with == 60.0  # median of 31 45 50 60 70 80 90
    expected = [31.0, np.nan, 45.0, np.nan, 50.0, 60.0, np.nan, 70.0, 80.0, 90.0]
    np.testing.assert_array_equal(table.features["age"].to_numpy(), expected)
    assert table.rows.imputed_values == {"age": 3}
    assert not any("not numbers" in w for w in table.warnings)


def test_a_few_words_in_a_numeric_column_are_missing_and_warned() -> None:
    values = [str(v) for v in range(1, 40)] + ["unknown"]
    frame = _tiny(score=values, g=["a", "b"] * 20)
    table = clean_training_table(frame)
    assert _column(table, "score").role == "numeric"
    assert table.rows.imputed_values == {"score": 1}
    assert "column 'score': 1 value(s) that are not numbers ('unknown') treated as missing" in (
        table.warnings
    )


def test_infinities_and_absurd_magnitudes_are_missing_and_warned() -> None:
    frame = _tiny(x=[1.0, 2.0, np.inf, -np.inf, 1e16, 3.0, 4.0, 5.0, 6.0, 7.0], g=["a", "b"] * 5)
    table = clean_training_table(frame, min_rows=5)
    x = _column(table, "x")
    assert (x.missing, x.min, x.max) == (3, 1.0, 7.0)
    assert any("'x': 3 infinite or absurd value(s)" in w and "1e+15" in w for w in table.warnings)


def test_rows_with_every_feature_missing_are_dropped_and_counted() -> None:
    frame = _tiny(
        id=list(range(1, 13)),
        a=[1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, None, 11.0, 12.0],
        b=["x", "y", None, "x", "y", "x", "y", "x", "y", None, "x", None],
    )
    table = clean_training_table(frame, min_rows=5)
    assert table.rows.model_dump() == {
        "read": 12,
        "used": 10,
        "dropped": 2,
        "dropped_reasons": {"every feature missing": 2},
        "imputed_values": {"b": 1},
    }
    assert table.ids is not None
    assert table.ids.tolist() == [1, 2, 4, 5, 6, 7, 8, 9, 11, 12]
    assert table.features.index.tolist() == list(range(10))
    # Said once, with its share, by the run's warnings (shared.training.caveats).
    assert not any("dropped" in w for w in table.warnings)


def test_log1p_rule() -> None:
    skewed = [0, 0, 0, 1, 1, 2, 3, 5, 8, 400]
    negative = [-1, 0, 0, 1, 1, 2, 3, 5, 8, 400]
    symmetric = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10.5]
    table = clean_training_table(
        _tiny(skewed=skewed, negative=negative, symmetric=symmetric), min_rows=5
    )
    assert _column(table, "skewed").transform == "log1p"
    assert "skewness" in (_column(table, "skewed").reason or "")
    assert _column(table, "negative").transform is None
    assert _column(table, "symmetric").transform is None
    assert (_column(table, "skewed").min, _column(table, "skewed").max) == (0.0, 400.0)


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2024-01-01", "2024-01-11", "2024-01-31"], "%Y-%m-%d"),
        (["01/01/2024", "11/01/2024", "31/01/2024"], "%d/%m/%Y"),
        (["01/01/2024", "01/11/2024", "01/31/2024"], "%m/%d/%Y"),
        (["01.01.2024", "11.01.2024", "31.01.2024"], "%d.%m.%Y"),
    ],
)
def test_date_formats_become_days_before_the_newest(values: list[str], fmt: str) -> None:
    frame = _tiny(d=values * 4, g=["a", "b", "c"] * 4)
    table = clean_training_table(frame, min_rows=5)
    d = _column(table, "d")
    assert (d.role, d.date_format, d.date_reference) == ("date", fmt, "2024-01-31T00:00:00")
    assert table.features["d"].tolist() == [30.0, 20.0, 0.0] * 4


def test_a_few_unparseable_dates_are_missing_and_warned() -> None:
    values = [f"2024-01-{d:02d}" for d in range(1, 31)] + ["someday"]
    table = clean_training_table(_tiny(d=values, x=[1.5, 2.5] * 15 + [3.5]), min_rows=5)
    assert (_column(table, "d").role, _column(table, "d").missing) == ("date", 1)
    assert "column 'd': 1 value(s) that are not dates ('someday') treated as missing" in (
        table.warnings
    )


def test_native_datetime_column() -> None:
    moments = pd.to_datetime(["2024-03-01", "2024-03-03", "2024-03-05"] * 4)
    table = clean_training_table(_tiny(d=list(moments), g=["a", "b", "c"] * 4), min_rows=5)
    assert table.features["d"].tolist() == [4.0, 2.0, 0.0] * 4


def test_boolean_column_with_missing_values_and_text_booleans() -> None:
    frame = read_table(
        b"active,vip,x\nTrue,yes,1.5\nFalse,no,2.5\n,yes,3.5\nTrue,no,4.5\nFalse,yes,5.5\n",
        filename="b.csv",
    )
    table = clean_training_table(frame, min_rows=5)
    active = _column(table, "active")
    assert (active.role, active.dtype, active.categories) == (
        "categorical",
        "boolean",
        ["False", "True"],
    )
    assert active.missing == 1
    assert _column(table, "vip").categories == ["no", "yes"]
    prepared = prepare_frame(
        pd.DataFrame({"active": ["true", True], "vip": ["yes", "no"], "x": [1, 2]}), table.columns
    )
    assert prepared["active"].tolist() == ["True", "True"]


def test_parquet_categorical_dtype_is_read_as_plain_values() -> None:
    frame = pd.DataFrame(
        {"plan": pd.Categorical(["a", "b", None, "a", "b"] * 2), "x": [1.5, 2.5] * 5}
    )
    table = clean_training_table(frame, min_rows=5)
    plan = _column(table, "plan")
    assert (plan.role, plan.categories, plan.missing) == ("categorical", ["a", "b"], 2)
    pd.testing.assert_frame_equal(prepare_frame(frame, table.columns), table.features)


def test_numbers_and_text_mixed_in_an_object_column() -> None:
    frame = _tiny(v=[1, "2", 3.5, " 4 ", None, 6, "7", 8, 9, 10], g=["a", "b"] * 5)
    table = clean_training_table(frame, min_rows=5)
    assert _column(table, "v").role == "numeric"
    expected = [1.0, 2.0, 3.5, 4.0, np.nan, 6.0, 7.0, 8.0, 9.0, 10.0]
    np.testing.assert_array_equal(table.features["v"].to_numpy(), expected)


# --- config overrides --------------------------------------------------------------------------


def test_config_overrides_inference() -> None:
    frame = _tiny(
        key=["k1", "k2", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"],
        row=list(range(1, 11)),
        code=[1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
        x=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.5],
        skip=[1.0, 3.0] * 5,
    )
    config = DatasetConfig(id_column="key", categorical=["code"], exclude=["skip"])
    table = clean_training_table(frame, config, min_rows=5)
    assert _roles(table) == {
        "key": ("id", False),
        "row": ("dropped", False),
        "code": ("categorical", True),
        "x": ("numeric", True),
        "skip": ("dropped", False),
    }
    assert any("id_column 'key' is not unique" in w for w in table.warnings)
    assert _column(table, "skip").reason == "excluded by the config"


def test_config_features_are_used_whatever_inference_thinks() -> None:
    frame = _tiny(
        row=list(range(1, 11)),
        constant=[3.0] * 10,
        label=[f"name {i}" for i in range(10)],
        x=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.5],
    )
    table = clean_training_table(
        frame, DatasetConfig(features=["row", "constant", "label"]), min_rows=5
    )
    assert _roles(table) == {
        "row": ("numeric", True),
        "constant": ("numeric", True),
        "label": ("categorical", True),
        "x": ("numeric", False),
    }
    assert _column(table, "x").profiled  # usable, not clustered on: described per segment
    assert any("'constant' named by the config is constant" in w for w in table.warnings)


def test_id_is_kept_when_features_are_named() -> None:
    frame = _tiny(CustomerID=list(range(10)), x=[1.0, 2.0] * 5, y=[1.0, 5.0] * 5)
    table = clean_training_table(frame, DatasetConfig(features=["x"]), min_rows=5)
    assert _roles(table)["CustomerID"] == ("id", False)
    assert table.ids is not None


# --- validation errors name the problem ----------------------------------------------------------


def test_minimum_rows_default() -> None:
    assert minimum_rows(DatasetConfig()) == 20
    assert minimum_rows(DatasetConfig(k_max=4)) == 10
    assert minimum_rows(DatasetConfig(k_min=2, k_max=15)) == 30


@pytest.mark.parametrize(
    ("frame", "config", "min_rows", "error", "words"),
    [
        (
            _tiny(x=[1.0, 2.0] * 5),
            DatasetConfig(),
            None,
            TooFewRowsError,
            ["10 rows read", "at least 20", "k_max=10"],
        ),
        (
            _tiny(x=[1.0, 2.0, None, None, None, None], y=[None, "a", None, None, None, None]),
            DatasetConfig(),
            3,
            TooFewRowsError,
            ["2 usable rows of 6", "4 dropped", "at least 3", "min_rows"],
        ),
        (
            _tiny(id=list(range(10)), note=[f"free text number {i} " * 3 for i in range(10)]),
            DatasetConfig(),
            5,
            NoUsableFeatureError,
            ["'id': identifier", "'note': free text"],
        ),
        (
            _tiny(Age=[1.0, 2.0] * 5),
            DatasetConfig(features=["age", "Income"]),
            5,
            MissingColumnError,
            ["'age', 'Income'", "available columns: 'Age'", "did you mean 'Age'"],
        ),
        (
            _tiny(a=[1.0, 2.0] * 5, b=[1, 2] * 5),
            DatasetConfig(id_column="a", features=["a", "b"]),
            5,
            ConfigError,
            ["id_column 'a' is also in 'features'"],
        ),
        (
            _tiny(a=[1.0, 2.0] * 5, b=[1, 2] * 5),
            DatasetConfig(features=["a", "b"], exclude=["b"]),
            5,
            ConfigError,
            ["'b' in both 'features' and 'exclude'"],
        ),
        (
            _tiny(a=[1.0, 2.0] * 5, b=[1, 2] * 5),
            DatasetConfig(categorical=["a"], exclude=["a"]),
            5,
            ConfigError,
            ["'a' in both 'categorical' and 'exclude'"],
        ),
        (
            _tiny(a=[1.0, 2.0] * 5),
            DatasetConfig(features=["a", "a"]),
            5,
            ConfigError,
            ["'features' lists 'a' more than once"],
        ),
        (
            pd.DataFrame([[1.0, 2.0]] * 10, columns=["a", "a"]),
            DatasetConfig(),
            5,
            DataValidationError,
            ["'a' appear more than once"],
        ),
    ],
)
def test_validation_errors_name_column_and_limit(
    frame: pd.DataFrame,
    config: DatasetConfig,
    min_rows: int | None,
    error: type[DataValidationError],
    words: list[str],
) -> None:
    with pytest.raises(error) as caught:
        clean_training_table(frame, config, min_rows=min_rows)
    for word in words:
        assert word in str(caught.value)


# --- prepare_frame ----------------------------------------------------------------------------


def test_prepare_frame_reproduces_the_training_features(mall: pd.DataFrame) -> None:
    table = clean_training_table(mall)
    pd.testing.assert_frame_equal(prepare_frame(mall, table.columns), table.features)


def test_prepare_frame_reproduces_messy_training_features() -> None:
    frame = _tiny(
        id=list(range(1, 13)),
        amount=["1", " ", "3.5", "4", "5", "x", "7", "8", "9", "10", "11", "1e3"],
        code=[1, 2, 1, 2, 3, 1, 2, 3, 1, 2, 3, 3],
        when=["2024-01-0" + str(i % 9 + 1) for i in range(12)],
        g=[" a", "b ", "a", None, "b", "a", "b", "a", "b", "a", "b", "a"],
    )
    table = clean_training_table(frame, DatasetConfig(categorical=["code"]), min_rows=5)
    assert table.rows.dropped == 0
    pd.testing.assert_frame_equal(prepare_frame(frame, table.columns), table.features)


def test_prepare_frame_types_new_values_like_training() -> None:
    frame = _tiny(
        amount=[1.0, 2.0, 3.0, 4.0] * 3,
        code=[1, 2, 3, 4] * 3,
        # not in amount's order: a date column rank-identical to amount would be screened out
        when=["2024-01-05", "2024-01-01", "2024-01-11", "2024-01-09"] * 3,
        skew=[0, 0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 2000],
    )
    table = clean_training_table(frame, DatasetConfig(categorical=["code"]), min_rows=5)
    new = pd.DataFrame(
        {
            "amount": ["7", "abc", None],
            "code": ["2", 3.0, "9"],
            "when": ["2024-01-10", "2024-01-12T00:00:00", "garbage"],
            "skew": [-5, 1, None],
            "extra": [1, 2, 3],
        }
    )
    prepared = prepare_frame(new, table.columns)
    assert list(prepared.columns) == ["amount", "code", "when", "skew"]
    assert prepared["amount"].tolist()[0] == 7.0
    assert np.isnan(prepared["amount"].iloc[1])
    assert prepared["code"].tolist() == ["2", "3", "9"]
    assert prepared["when"].tolist()[:2] == [1.0, -1.0]
    assert prepared["skew"].tolist()[:2] == [0.0, 1.0]  # log1p column clipped at 0


def test_prepare_frame_missing_column_lists_available() -> None:
    columns = [ColumnSchema(name="Age", role="numeric", dtype="integer", used=True)]
    with pytest.raises(MissingColumnError, match=r"'Age'.*available columns: 'age'"):
        prepare_frame(pd.DataFrame({"age": [1]}), columns)


# --- scalar rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (2.5, 2.5), (" 42 ", 42.0), ("-1e3", -1000.0), ("", None), (None, None),
     (float("nan"), None)],
)  # fmt: skip
def test_parse_number(value: object, expected: float | None) -> None:
    assert parse_number(value) == expected


@pytest.mark.parametrize("value", [True, "abc", "1_000", [1], {"a": 1}, float("inf"), 1e16])
def test_parse_number_refuses(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_number(value)


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [(" Male ", "string", "Male"), (2, "integer", "2"), (2.0, "integer", "2"),
     ("2.0", "integer", "2"), ("02", "string", "02"), (True, "boolean", "True"),
     (1.5, "float", "1.5"), ("", "string", None), (None, "string", None)],
)  # fmt: skip
def test_category_label(value: object, dtype: str, expected: str | None) -> None:
    assert category_label(value, dtype) == expected


def test_date_age_days() -> None:
    assert date_age_days("2024-01-21", "2024-01-31T00:00:00", "%Y-%m-%d") == 10.0
    assert date_age_days("2024-01-30T12:00:00+00:00", "2024-01-31T00:00:00") == 0.5
    assert date_age_days("", "2024-01-31T00:00:00") is None
    with pytest.raises(ValueError, match="not a date"):
        date_age_days("soon", "2024-01-31T00:00:00", "%Y-%m-%d")
    with pytest.raises(TypeError):
        date_age_days(20240101, "2024-01-31T00:00:00")


# --- property: messy tables clean or raise DataValidationError, nothing else ------------------

_CELLS = st.one_of(
    st.none(),
    st.just(""),
    st.just(" "),
    st.just(float("nan")),
    st.just(float("inf")),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["a", "b", "Male", "yes", "no", "abc", " 42 ", "2024-01-05", "3,5", "1e3"]),
    st.booleans(),
)


@st.composite
def _messy_tables(draw: st.DrawFn) -> pd.DataFrame:
    n_rows = draw(st.integers(0, 30))
    n_cols = draw(st.integers(1, 6))
    columns: dict[str, list[object]] = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(["mixed", "numeric", "text", "dates", "ids"]))
        if kind == "numeric":
            cell = st.one_of(st.floats(-100, 100), st.none(), st.just(" "), st.just("x"))
        elif kind == "text":
            cell = st.one_of(st.sampled_from(["a", "b", "c", " ", ""]), st.none())
        elif kind == "dates":
            cell = st.one_of(st.dates().map(lambda d: d.isoformat()), st.none(), st.just("?"))
        elif kind == "ids":
            cell = st.integers(0, 10**6)
        else:
            cell = _CELLS
        columns[draw(st.sampled_from(["ID", "x", "Age", "code", "when"])) + str(j)] = [
            draw(cell) for _ in range(n_rows)
        ]
    frame = pd.DataFrame(columns)
    if n_rows and draw(st.booleans()):
        frame = pd.concat([frame, frame.iloc[:3]], ignore_index=True)  # duplicate rows
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_messy_tables(), k_max=st.integers(2, 6))
def test_messy_tables_clean_or_raise_data_validation_error(frame: pd.DataFrame, k_max: int) -> None:
    config = DatasetConfig(k_max=k_max)
    try:
        table = clean_training_table(frame, config)
    except DataValidationError as e:
        message = str(e)
        table = None
    if table is None:
        assert message  # a refusal always explains itself
        return
    assert len(table.features) == table.rows.used >= minimum_rows(config)
    assert table.rows.read == len(frame)
    assert table.features.index.tolist() == list(range(table.rows.used))
    assert not table.features.isna().all(axis=1).any()
    for column in table.feature_columns:
        values = table.features[column.name]
        if column.role == "categorical":
            assert values.dtype == object
            assert all(isinstance(v, str) for v in values.dropna())
        else:
            assert values.dtype == np.float64
            assert np.isfinite(values.dropna()).all()
    prepared = prepare_frame(frame, table.columns)
    kept = prepared.loc[~prepared.isna().all(axis=1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, table.features)


# --- Parquet nested columns (issue 16, item 2) ---------------------------------------------------


def _nested_frame() -> pd.DataFrame:
    n = 20
    return pd.DataFrame(
        {
            "Age": [20 + (i % 2) * 30 for i in range(n)],
            "address": [{"city": "x", "zip": i} if i else None for i in range(n)],
            "tags": [np.array(["a", "b"]) for _ in range(n)],
            "attributes": [[("tier", i % 2)] for i in range(n)],
        }
    )


def test_struct_list_and_map_columns_are_dropped_with_a_reason() -> None:
    table = clean_training_table(_nested_frame(), DatasetConfig())
    reasons = {c.name: (c.role, c.used, c.reason) for c in table.columns}
    assert reasons["address"] == (
        "dropped",
        False,
        "nested values (a struct per row): a struct, list or map column cannot be clustered on",
    )
    assert reasons["tags"][:2] == ("dropped", False)
    assert "(a list per row)" in str(reasons["tags"][2])
    assert "(a map per row)" in str(reasons["attributes"][2])
    assert list(table.features.columns) == ["Age"]


@pytest.mark.parametrize("key", ["features", "categorical", "outcomes"])
def test_a_nested_column_named_by_the_config_is_refused_naming_it(key: str) -> None:
    config = DatasetConfig(**{key: ["Age", "tags"] if key == "features" else ["tags"]})
    with pytest.raises(ConfigError, match=r"'tags'.* holds nested values \(a list per row\)"):
        clean_training_table(_nested_frame(), config)
