"""Order-line uploads: recognition, aggregation rules, the serving twin, RFM names, training."""

from __future__ import annotations

import io
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from shared.contract.config import DatasetConfig, parse_config
from shared.contract.layout import ASSIGNMENTS_PATH, PROFILES_PATH, model_key
from shared.contract.profiles import RfmScores
from shared.engine.loading import read_table
from shared.engine.rfm import RFM_MAP, rfm_name
from shared.engine.transactions import to_customer_table
from shared.exceptions import ConfigError, DataValidationError, MissingColumnError
from shared.serving.transactions import (
    InvalidTransactionError,
    aggregate_records,
    customer_partition,
)
from shared.training.pipeline import train_segments
from tests.support.orders import planted_order_lines

ROOT = Path(__file__).resolve().parents[2]
MALL = ROOT / "data" / "mall_customers.csv"
CDNOW = ROOT / "tests" / "data" / "CDNOW_master.txt"


def lines(rows: list[tuple[object, ...]], columns: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split(","))


SHOP = lines(
    [
        (
            "536365",
            "85123A",
            "WHITE HANGING HEART T-LIGHT HOLDER",
            6,
            "12/01/2010 08:26",
            2.55,
            17850.0,
        ),
        ("536365", "71053", "WHITE METAL LANTERN", 6, "12/01/2010 08:26", 3.39, 17850.0),
        ("536366", "22633", "HAND WARMER UNION JACK", 6, "12/03/2010 08:28", 1.85, 17850.0),
        ("C536379", "D", "Discount", -1, "12/03/2010 09:41", 27.50, 17850.0),
        ("536367", "84879", "ASSORTED COLOUR BIRD ORNAMENT", 32, "12/02/2010 08:34", 1.69, 13047.0),
        ("536368", "22960", "JAM MAKING SET WITH JARS", 6, "12/05/2010 08:34", 4.25, 13047.0),
        ("536369", "21756", "BATH BUILDING BLOCK WORD", 3, "12/05/2010 08:35", 5.95, np.nan),
        ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", 24, "12/04/2010 08:45", 3.75, 12583.0),
        ("536370", "22727", "ALARM CLOCK BAKELIKE RED", 24, "12/04/2010 08:45", 3.75, 12583.0),
        ("536371", "22728", "ALARM CLOCK BAKELIKE PINK", 1, "12/05/2010 09:00", 3.75, 12583.0),
    ],
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID",
)


# --- recognition --------------------------------------------------------------------------------


def test_shop_export_is_recognised_with_its_roles_and_evidence() -> None:
    table = to_customer_table(SHOP, DatasetConfig())
    assert table is not None
    spec = table.summary.spec
    columns = spec.columns
    assert (columns.customer, columns.date, columns.order) == (
        "CustomerID",
        "InvoiceDate",
        "InvoiceNo",
    )
    assert (columns.quantity, columns.price, columns.product) == (
        "Quantity",
        "UnitPrice",
        "StockCode",
    )
    assert columns.amount is None
    assert spec.cancel_prefix == "C"
    assert spec.date_format == "%m/%d/%Y %H:%M"
    assert table.summary.detected == "auto"
    assert "10 lines" not in table.summary.evidence[0]  # one line had no customer
    assert table.summary.evidence[0].startswith(
        "recognised as order lines: 9 lines for 3 customers"
    )
    assert table.summary.dropped == {"no customer id": 1}
    assert table.summary.return_lines == 1
    assert "Description" not in table.frame.columns
    assert "InvoiceNo" not in table.frame.columns


def test_aggregation_rules_by_hand() -> None:
    table = to_customer_table(SHOP, DatasetConfig())
    assert table is not None
    frame = table.frame.set_index("CustomerID")
    assert list(frame.index) == ["12583", "13047", "17850"]  # customer-id order, as labels
    # 17850: orders 536365 (15.3 + 20.34) and 536366 (11.1); C536379 cancels 27.50.
    c = frame.loc["17850"]
    assert c["frequency"] == 2  # the cancellation is not an order
    assert c["monetary"] == pytest.approx(15.3 + 20.34 + 11.1 - 27.5)
    assert c["return_share"] == pytest.approx(27.5 / (15.3 + 20.34 + 11.1))
    assert c["recency_days"] == 2  # newest line: 2010-12-05; last purchase 2010-12-03
    assert c["tenure_days"] == 4
    assert c["distinct_products"] == 3  # the discount line is a return, not a product bought
    assert c["avg_order_value"] == pytest.approx(c["monetary"] / 2)
    # 12583: two lines of one order plus one order; 2 distinct products.
    c = frame.loc["12583"]
    assert (c["frequency"], c["distinct_products"], c["recency_days"]) == (2, 2, 0)
    assert c["monetary"] == pytest.approx(24 * 3.75 * 2 + 3.75)
    assert frame.loc["13047", "return_share"] == 0


def test_customer_table_is_never_order_lines() -> None:
    mall = read_table(MALL.read_bytes(), filename="mall_customers.csv")
    assert to_customer_table(mall, DatasetConfig()) is None
    # A customer table with a signup date and a few duplicated rows is not order lines either.
    frame = mall.assign(Joined=pd.date_range("2020-01-01", periods=len(mall)).strftime("%Y-%m-%d"))
    doubled = pd.concat([frame, frame.iloc[:30]], ignore_index=True)
    assert to_customer_table(doubled, DatasetConfig()) is None


def test_config_forces_either_reading() -> None:
    assert to_customer_table(SHOP, DatasetConfig(table="customers")) is None
    forced = to_customer_table(
        SHOP.drop_duplicates("CustomerID"), DatasetConfig(table="transactions")
    )
    assert forced is not None
    assert forced.summary.detected == "config"


def test_wrong_override_is_an_error_naming_the_column() -> None:
    with pytest.raises(MissingColumnError, match=r"customer_column.*'Client'.*available columns"):
        to_customer_table(SHOP, DatasetConfig(customer_column="Client"))
    with pytest.raises(ConfigError, match=r"date column 'StockCode' does not hold dates"):
        to_customer_table(SHOP, DatasetConfig(date_column="StockCode"))
    with pytest.raises(ConfigError, match=r"amount column 'Description' is not numeric"):
        to_customer_table(SHOP, DatasetConfig(amount_column="Description"))
    no_date = SHOP.drop(columns="InvoiceDate")
    with pytest.raises(ConfigError, match=r"no date column was found.*'date_column'"):
        to_customer_table(no_date, DatasetConfig(table="transactions"))
    with pytest.raises(ConfigError, match=r"only apply to order lines"):
        parse_config({"table": "customers", "order_column": "InvoiceNo"})


def test_customers_named_by_name_without_order_column_count_purchase_days() -> None:
    frame = lines(
        [
            ("Ann Lee", "2024-03-01", 10.0),
            ("Ann Lee", "2024-03-01", 5.0),
            ("Ann Lee", "2024-03-04", 7.0),
            ("Bo Chen", "2024-03-02", 3.0),
            ("Bo Chen", "2024-03-05", 3.0),
        ],
        "Customer Name,Purchase Date,Sales",
    )
    table = to_customer_table(frame, DatasetConfig())
    assert table is not None
    got = table.frame.set_index("Customer Name")
    assert got.loc["Ann Lee", "frequency"] == 2  # two purchase days, three lines
    assert got.loc["Ann Lee", "monetary"] == 22.0
    assert "no order column: frequency = distinct purchase days" in table.summary.evidence


def test_one_customer_on_one_day_and_as_of() -> None:
    frame = lines([(1, "2024-01-05", 2.0), (1, "2024-01-05", 3.0)], "customer_id,date,amount")
    table = to_customer_table(frame, DatasetConfig(table="transactions", as_of="2024-01-15"))
    assert table is not None
    assert table.frame.to_dict("records") == [
        {
            "customer_id": "1",
            "recency_days": 10.0,
            "frequency": 1.0,
            "monetary": 5.0,
            "tenure_days": 10.0,
            "avg_order_value": 5.0,
        }
    ]
    late = to_customer_table(frame, DatasetConfig(table="transactions", as_of="2024-01-15"))
    assert late is not None
    assert late.summary.spec.as_of == "2024-01-15"
    with pytest.raises(DataValidationError, match="after as_of 2024-01-01"):
        to_customer_table(frame, DatasetConfig(table="transactions", as_of="2024-01-01"))


def test_lines_without_customer_are_counted_never_merged() -> None:
    frame = SHOP.assign(CustomerID=np.nan)
    with pytest.raises(DataValidationError, match=r"none of the 10 order lines.*10 no customer id"):
        to_customer_table(frame, DatasetConfig(table="transactions"))


def test_whitespace_file_with_compact_dates_is_read_and_recognised() -> None:
    raw = CDNOW.read_bytes()[:20_000]
    raw = raw[: raw.rindex(b"\n") + 1]
    frame = read_table(raw, filename="CDNOW_master.txt")
    assert list(frame.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    table = to_customer_table(frame, DatasetConfig())
    assert table is not None
    spec = table.summary.spec
    assert spec.date_format == "%Y%m%d"
    assert (spec.columns.amount, spec.columns.quantity) == ("dollar_value", "number_of_cds")
    assert spec.features == [
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_order_value",
    ]


def test_row_order_does_not_change_the_customers() -> None:
    planted = planted_order_lines(90, seed=3).frame
    first = to_customer_table(planted, DatasetConfig())
    again = to_customer_table(planted.sample(frac=1.0, random_state=11), DatasetConfig())
    assert first is not None
    assert again is not None
    pd.testing.assert_frame_equal(first.frame, again.frame, check_exact=True)
    assert first.summary == again.summary


def test_line_order_does_not_change_a_single_bit_of_the_sums() -> None:
    """Floating-point totals depend on summation order; CDNOW shuffled must still match."""
    text = CDNOW.read_text()
    header, *body = text.splitlines(keepends=True)
    random.Random(3).shuffle(body)
    first = to_customer_table(read_table(text.encode(), filename="c.txt"), DatasetConfig())
    again = to_customer_table(
        read_table((header + "".join(body)).encode(), filename="c.txt"), DatasetConfig()
    )
    assert first is not None
    assert again is not None
    pd.testing.assert_frame_equal(first.frame, again.frame, check_exact=True)


def test_partitions_by_customer_hash_aggregate_exactly() -> None:
    planted = planted_order_lines(120, seed=4).frame
    config = DatasetConfig(as_of="2024-06-30")
    whole = to_customer_table(planted, config)
    assert whole is not None
    labels = planted["CustomerID"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    parts = []
    for part in range(4):
        chunk = planted[labels.map(lambda s: customer_partition(s, 4)) == part]
        table = to_customer_table(chunk, config.model_copy(update={"table": "transactions"}))
        assert table is not None
        parts.append(table.frame.reindex(columns=whole.frame.columns, fill_value=0.0))
    merged = pd.concat(parts).sort_values("CustomerID", key=lambda s: s.astype(int))
    pd.testing.assert_frame_equal(merged.reset_index(drop=True), whole.frame)


# --- the serving twin ---------------------------------------------------------------------------


def _cdnow_head() -> pd.DataFrame:
    raw = CDNOW.read_bytes()[:60_000]
    return read_table(raw[: raw.rindex(b"\n") + 1], filename="CDNOW_master.txt")


@pytest.mark.parametrize(
    "make", [lambda: planted_order_lines(150, seed=5).frame, _cdnow_head], ids=["shop", "cdnow"]
)
def test_serving_aggregation_equals_training(make: Any) -> None:
    planted = make()
    table = to_customer_table(planted, DatasetConfig())
    assert table is not None
    spec = table.summary.spec
    records = json.loads(planted.to_json(orient="records"))
    served = aggregate_records(records, spec, date.fromisoformat(spec.as_of))
    assert served.customers == list(table.frame[spec.columns.customer])
    np.testing.assert_allclose(served.X, table.frame[spec.features].to_numpy(), rtol=1e-12)
    assert served.dropped == table.summary.dropped


def test_serving_names_the_bad_line_and_refuses_future_lines() -> None:
    table = to_customer_table(SHOP, DatasetConfig())
    assert table is not None
    spec = table.summary.spec
    good = {
        "CustomerID": 1,
        "InvoiceNo": "1",
        "InvoiceDate": "12/01/2010 08:26",
        "Quantity": 2,
        "UnitPrice": 1.5,
    }
    with pytest.raises(
        InvalidTransactionError, match=r"line 1, column 'Quantity': 'many' is not a number"
    ):
        aggregate_records([good, {**good, "Quantity": "many"}], spec, date(2010, 12, 31))
    with pytest.raises(InvalidTransactionError, match=r"line 0, column 'InvoiceDate'"):
        aggregate_records([{**good, "InvoiceDate": "yesterday"}], spec, date(2010, 12, 31))
    with pytest.raises(InvalidTransactionError, match="after as_of 2010-11-30"):
        aggregate_records([good], spec, date(2010, 11, 30))
    with pytest.raises(InvalidTransactionError, match="no order line can be aggregated"):
        aggregate_records([{**good, "CustomerID": None}], spec, date(2010, 12, 31))


# --- RFM names ----------------------------------------------------------------------------------


def test_rfm_map_names_every_cell() -> None:
    for r in range(1, 6):
        for value in range(1, 6):
            name = rfm_name(RfmScores(recency=r, frequency=value, value=value))
            assert any(r in rs and value in vs and n == name for rs, vs, n in RFM_MAP)
    assert rfm_name(RfmScores(recency=5, frequency=5, monetary=5, value=5)) == "Champions"
    assert rfm_name(RfmScores(recency=1, frequency=1, monetary=1, value=1)) == "Lost"
    assert rfm_name(RfmScores(recency=2, frequency=4, monetary=3, value=4)) == "At risk"


# --- training -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted_run() -> tuple[pd.Series, object]:
    planted = planted_order_lines(600, seed=0)
    raw = planted.frame.to_csv(index=False).encode()
    return planted.plan, train_segments(raw, filename="orders.csv")


def test_planted_groups_are_recovered_with_rfm_names(planted_run: tuple[pd.Series, object]) -> None:
    plan, out = planted_run
    assert out.transactions is not None
    assert out.transactions.detected == "auto"
    assignments = pd.read_csv(
        io.BytesIO(out.artifacts[ASSIGNMENTS_PATH]), compression="gzip", dtype={"CustomerID": str}
    )
    assert len(assignments) == 600  # one row per customer, not per line
    assert assignments["CustomerID"].is_unique
    truth = plan.loc[assignments["CustomerID"]].to_numpy()
    champion = assignments[out.champion].to_numpy()
    assert adjusted_rand_score(truth, champion) >= 0.8
    catalog = json.loads(out.artifacts[PROFILES_PATH])
    segments = catalog["sets"][model_key(out.champion, out.algorithms[out.champion].k)]["segments"]
    by_id = {s["segment_id"]: s for s in segments}
    names = {}
    for group in ("champions", "lapsed", "new"):
        members = champion[truth == group]
        majority = int(pd.Series(members).mode()[0])
        names[group] = by_id[majority]["name"]
        assert by_id[majority]["descriptive_name"]
        assert by_id[majority]["rfm"]["recency"] >= 1
    assert names["champions"].startswith(("Champions", "Loyal customers"))
    assert names["lapsed"].startswith(("Hibernating", "Lost", "At risk"))
    assert names["new"].startswith(("New customers", "Promising", "Potential loyalists"))
    assert any("no customer id" in w for w in out.warnings)


def test_profiles_are_in_original_units(planted_run: tuple[pd.Series, object]) -> None:
    _, out = planted_run
    catalog = json.loads(out.artifacts[PROFILES_PATH])
    chosen = catalog["sets"][model_key(out.champion, out.algorithms[out.champion].k)]
    recency = chosen["population"]["recency_days"]
    assert recency["min"] >= 0
    assert recency["max"] <= 400
    assert chosen["population"]["frequency"]["max"] >= 10  # orders


def test_forcing_customers_trains_the_lines_as_asked() -> None:
    planted = planted_order_lines(60, seed=1, missing_customer_lines=0, cancellations=0.0)
    raw = planted.frame.to_csv(index=False).encode()
    out = train_segments(
        raw,
        filename="orders.csv",
        config=DatasetConfig(table="customers", algorithms=["kmeans"], k_max=4),
    )
    assert out.transactions is None
    assert out.rows.read == len(planted.frame)


def test_cdnow_trains_into_customer_segments() -> None:
    out = train_segments(
        CDNOW.read_bytes(), filename="CDNOW_master.txt", config=DatasetConfig(algorithms=["kmeans"])
    )
    assert out.transactions is not None
    assert out.transactions.customers == 23_570
    assert out.transactions.lines == 69_659
    assert out.rows.read == 23_570
    names = [
        s.name for s in out.profiles.sets[model_key("kmeans", out.algorithms["kmeans"].k)].segments
    ]
    assert all(
        s.rfm is not None
        for s in out.profiles.sets[model_key("kmeans", out.algorithms["kmeans"].k)].segments
    )
    assert len(set(names)) == len(names)


def test_nested_cells_are_not_customers() -> None:
    frame = pd.DataFrame(
        {"customer_id": [[1], [1], [2]], "date": ["2024-01-01", "2024-01-02", "2024-01-03"]}
    )
    assert to_customer_table(frame, DatasetConfig()) is None
    with pytest.raises(ConfigError, match="holds nested values"):
        to_customer_table(frame, DatasetConfig(table="transactions"))


def test_space_aligned_reading_needs_a_consistent_width() -> None:
    aligned = read_table(
        b" id   day        total\n 1  20240101   5.5\n 2  20240102  7\n", filename="x.txt"
    )
    assert list(aligned.columns) == ["id", "day", "total"]
    ragged = read_table(b"name\nJohn Smith\nAnn Lee\n", filename="x.csv")
    assert list(ragged.columns) == ["name"]


def test_several_amount_columns_take_the_first_unless_the_config_names_one() -> None:
    frame = lines(
        [
            ("A", "2024-01-01", 10.0, 11.0),
            ("A", "2024-01-05", 20.0, 22.0),
            ("B", "2024-01-03", 5.0, 5.5),
            ("B", "2024-01-04", 5.0, 5.5),
        ],
        "client,order_date,Amount EUR,Amount USD",
    )
    first = to_customer_table(frame, DatasetConfig())
    assert first is not None
    assert first.summary.spec.columns.amount == "Amount EUR"
    assert "amount: Amount EUR (monetary = net amount)" in first.summary.evidence
    assert list(first.frame["monetary"]) == [30.0, 10.0]
    named = to_customer_table(frame, DatasetConfig(amount_column="Amount USD"))
    assert named is not None
    assert list(named.frame["monetary"]) == [33.0, 11.0]


def _with_customer_columns(frame: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """The planted lines with a per-customer Country and age band (as a real export has them),
    one missing Country cell, and a line-level Channel that varies within customers."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    ids = out["CustomerID"].dropna().unique()
    places = rng.choice(["United Kingdom", "France", "Germany"], ids.size)
    country = dict(zip(ids, places, strict=True))
    band = dict(zip(ids, rng.choice(["18-34", "35-54", "55+"], ids.size), strict=True))
    out["Country"] = out["CustomerID"].map(country)
    out["AgeBand"] = out["CustomerID"].map(band)
    out.loc[out.index[out["CustomerID"].notna()][0], "Country"] = None
    out["Channel"] = rng.choice(["web", "store"], len(out))
    return out


def test_per_customer_columns_are_carried_and_profiled_not_clustered() -> None:
    planted = planted_order_lines(300, seed=4)
    lines = _with_customer_columns(planted.frame)
    table = to_customer_table(lines, DatasetConfig())
    assert table is not None
    # Country, AgeBand: one value per customer; Description, StockCode, Channel vary.
    assert table.summary.attributes == ["Country", "AgeBand"]
    assert "carried and profiled per segment: 'Country', 'AgeBand'" in table.summary.evidence[-1]
    by_customer = lines.dropna(subset=["CustomerID"]).groupby("CustomerID")
    expected = by_customer["Country"].agg(lambda s: s.dropna().iloc[0])
    got = table.frame.set_index("CustomerID")["Country"]
    assert got.to_dict() == {str(int(k)): v for k, v in expected.items()}
    # Another line order: the same carried values.
    again = to_customer_table(lines.sample(frac=1.0, random_state=2), DatasetConfig())
    assert again is not None
    pd.testing.assert_frame_equal(table.frame, again.frame, check_exact=True)

    out = train_segments(lines.to_csv(index=False).encode(), filename="orders.csv")
    roles = {c.name: (c.used, c.profiled) for c in out.columns}
    assert roles["Country"] == roles["AgeBand"] == (False, True)
    assert out.transactions is not None
    assert out.transactions.attributes == ["Country", "AgeBand"]
    ids = pd.read_csv(io.BytesIO(out.artifacts[ASSIGNMENTS_PATH]), compression="gzip")
    segments = out.profiles.sets[out.profiles.champion]
    countries = got.reindex(ids["CustomerID"].astype(str)).to_numpy()
    for segment in segments.segments:
        mine = countries[ids[out.champion].to_numpy() == segment.segment_id]
        share = float(np.mean(mine == "France"))
        assert segment.categorical["Country"].get("France", 0.0) == pytest.approx(share, abs=0.01)
    # Named in the config's features, an attribute is clustered on.
    rfm = list(table.summary.spec.features)
    chosen = DatasetConfig(features=[*rfm, "Country"], algorithms=["kmeans"], k_max=4)
    clustered = train_segments(lines.to_csv(index=False).encode(), filename="o.csv", config=chosen)
    assert {c.name: c.used for c in clustered.columns}["Country"] is True
