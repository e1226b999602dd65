"""Segment names and descriptions (shared/engine/naming.py), on rules and on realistic tables."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from shared.contract.config import DatasetConfig
from shared.contract.profiles import SegmentSet
from shared.engine.naming import (
    Term,
    average_name,
    category_term,
    column_words,
    describe,
    feature_word,
    numeric_term,
    unique_names,
)
from shared.engine.preprocess import fit_preprocessor
from shared.engine.profiling import build_segment_set
from shared.engine.schema import CleanTable, clean_training_table
from tests.support.customer_tables import TABLES

# --- column words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "word"),
    [
        ("Annual Income (k$)", "income"),
        ("MonthlyCharges", "monthly charges"),
        ("PURCHASES_INSTALLMENTS_FREQUENCY", "purchases installments frequency"),
        ("CASH_ADVANCE_TRX", "cash advance transactions"),
        ("PRC_FULL_PAYMENT", "share of full payment"),
        ("ONEOFF_PURCHASES", "one-off purchases"),
        ("MntGoldProds", "spending on gold products"),
        ("NumWebVisitsMonth", "web visits per month"),
        ("NumDealsPurchases", "deals purchases"),
        ("n_orders", "number of orders"),
        ("Number of Dependents", "number of dependents"),
        ("avg-order-value", "average order value"),
        ("CLVTotal", "CLV total"),
        ("items.purchased", "items purchased"),
        ("Days Since Last Purchase", "days since last purchase"),
    ],
)
def test_feature_word_splits_and_spells_out(column: str, word: str) -> None:
    assert feature_word(column) == word


@pytest.mark.parametrize(
    ("column", "word"),
    [
        ("Dt_Customer", "customer"),
        ("last_purchase_date", "last purchase"),
        ("SignupDate", "signup"),
    ],
)
def test_date_columns_lose_their_date_words(column: str, word: str) -> None:
    assert feature_word(column, date=True) == word


def test_units_are_kept_for_descriptions() -> None:
    income = column_words("Annual Income (k$)", "numeric")
    spending = column_words("Spending Score (1-100)", "numeric")
    share = column_words("Discount (%)", "numeric")
    assert (income.word, income.unit, income.number(88.24)) == ("income", "k$", "88.2 k$")
    assert (spending.word, spending.scale, spending.number(81.5)) == ("spending", True, "81.5")
    assert share.number(12.5) == "12.5%"
    term = numeric_term(spending, 1, 1.2, 81.5, 50.2)
    assert term is not None
    assert term.detail == "high spending (mean 81.5 vs 50.2 overall, scale 1-100)"
    assert column_words("Year_Birth", "numeric").number(1980.0) == "1980"


# --- numeric terms -----------------------------------------------------------------------------


def _numeric(name: str, z: float, mean: float = 1.0, overall: float = 0.0, role: str = "numeric"):
    term = numeric_term(column_words(name, role), 0, z, mean, overall)
    assert term is not None
    return term


@pytest.mark.parametrize(
    ("column", "role", "z", "text"),
    [
        ("Income", "numeric", 1.0, "high income"),
        ("Income", "numeric", -0.6, "below-average income"),
        ("Income", "numeric", 0.3, "slightly above-average income"),
        ("Age", "numeric", 0.9, "older"),
        ("Customer Age", "numeric", -0.6, "somewhat younger"),
        ("Year_Birth", "numeric", 1.0, "younger"),  # born later
        ("tenure", "numeric", -1.0, "short tenure"),
        ("Days Since Last Purchase", "numeric", 1.0, "long-ago last purchase"),
        ("last_purchase_date", "date", -1.0, "recent last purchase"),
        ("Dt_Customer", "date", 1.0, "long-standing"),
        ("Dt_Customer", "date", -1.0, "new"),
    ],
)
def test_numeric_terms_read_by_kind(column: str, role: str, z: float, text: str) -> None:
    assert _numeric(column, z, role=role).text == text


def test_date_details_count_days_before_the_latest_date() -> None:
    joined = numeric_term(column_words("Dt_Customer", "date"), 0, 1.0, 468.0, 300.0)
    assert joined is not None
    assert joined.detail == (
        "long-standing (mean 468 days before the latest customer date, vs 300 overall)"
    )


def test_weak_numeric_deviations_are_not_terms_below_a_quarter_std() -> None:
    assert numeric_term(column_words("Income", "numeric"), 0, 0.2, 1.0, 0.0) is None
    assert not _numeric("Income", 0.3).distinctive
    assert _numeric("Income", 0.5).distinctive


def test_very_is_kept_for_telling_names_apart() -> None:
    term = _numeric("Income", 2.0)
    assert (term.text, term.fine) == ("high income", "very high income")


# --- category terms ----------------------------------------------------------------------------


def _category(column: str, values: list[str], value: str, share: float = 0.95) -> str:
    words = column_words(column, "categorical", values)
    return category_term(words, 0, value, share, 0.3, 1.0).text


@pytest.mark.parametrize(
    ("column", "values", "value", "text"),
    [
        # "<value> <column>", the column without a generic trailing word
        ("Contract", ["Month-to-month", "One year", "Two year"], "Month-to-month",
         "month-to-month contract"),
        ("InternetService", ["DSL", "Fiber optic", "No"], "Fiber optic",
         "fiber optic internet service"),
        ("InternetService", ["DSL", "Fiber optic", "No"], "DSL", "DSL internet service"),
        ("PaymentMethod", ["Electronic check", "Mailed check"], "Electronic check",
         "electronic check payment"),
        ("Membership Type", ["Gold", "Silver"], "Gold", "gold membership"),
        ("Education", ["Graduation", "PhD", "Basic"], "PhD", "PhD education"),
        ("preferred_channel", ["Online", "Store"], "Online", "online preferred channel"),
        ("Region", ["North", "South"], "North", "north region"),
        # the value already names its column's subject
        ("Satisfaction Level", ["Satisfied", "Unsatisfied"], "Unsatisfied", "unsatisfied"),
        ("OnlineSecurity", ["Yes", "No", "No internet service"], "No internet service",
         "no internet service"),
        # codes carry their column
        ("Channel", ["1", "2", "3"], "1", "channel 1"),
        # traits and places
        ("gender", ["Male", "Female"], "Female", "female"),
        ("Sex", ["M", "F"], "F", "female"),
        ("Marital_Status", ["Married", "Single"], "Single", "single"),
        ("Geography", ["France", "Germany"], "Germany", "in Germany"),
        ("Country", ["United Kingdom", "France"], "United Kingdom", "in United Kingdom"),
        # yes/no flags
        ("Partner", ["Yes", "No"], "Yes", "with partner"),
        ("Dependents", ["Yes", "No"], "No", "without dependents"),
        ("PaperlessBilling", ["Yes", "No"], "Yes", "with paperless billing"),
        ("OnlineSecurity", ["Yes", "No", "No internet service"], "No",
         "without online security"),
        ("SeniorCitizen", ["0", "1"], "1", "senior citizens"),
        ("IsActiveMember", ["0", "1"], "0", "not active members"),
        ("HasCrCard", ["0", "1"], "1", "with cr card"),
        ("Discount Applied", ["True", "False"], "False", "no discount applied"),
        ("is_premium", ["0", "1"], "1", "premium"),
        ("Married", ["0", "1"], "0", "not married"),
        ("AcceptedCmp3", ["0", "1"], "1", "accepted campaign 3"),
        # traits only when the value is one
        ("Gender", ["Male", "Female", "Other"], "Other", "other gender"),
        ("Marital_Status", ["Married", "Together"], "Together", "together marital status"),
        ("Nationality", ["German", "French"], "German", "German"),
    ],
)  # fmt: skip
def test_categories_carry_their_column(
    column: str, values: list[str], value: str, text: str
) -> None:
    assert _category(column, values, value) == text


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.95, "month-to-month contract"), (0.7, "mostly month-to-month contract"),
     (0.4, "often month-to-month contract")],
)  # fmt: skip
def test_category_quantifier_follows_the_share(share: float, text: str) -> None:
    assert _category("Contract", ["Month-to-month", "Two year"], "Month-to-month", share) == text


def test_kinds_of_person_take_many() -> None:
    assert _category("SeniorCitizen", ["0", "1"], "1", 0.35) == "many senior citizens"


def test_category_detail_states_the_share_and_everyone_s() -> None:
    words = column_words("Contract", "categorical", ["Month-to-month", "Two year"])
    term = category_term(words, 0, "Month-to-month", 0.884, 0.48, 0.9)
    assert term.detail == "88% month-to-month contract (48% overall)"


# --- names -------------------------------------------------------------------------------------


def test_adjective_names_end_in_customers_and_stack_age_first() -> None:
    age = _numeric("Age", 1.0)
    female = category_term(column_words("Gender", "categorical", ["F", "M"]), 1, "F", 1.0, 0.5, 1)
    mostly = category_term(column_words("Gender", "categorical", ["F", "M"]), 1, "F", 0.7, 0.5, 1)
    assert unique_names([[age]], [[]], [5]) == ["Older customers"]
    assert unique_names([[female, age]], [[]], [5]) == ["Older female customers"]
    assert unique_names([[mostly, age]], [[]], [5]) == ["Older, mostly female customers"]
    score = replace_order(_numeric("CreditScore", 1.2), -1)  # an earlier column
    assert unique_names([[score, age]], [[]], [5]) == ["Older, high credit score"]


def test_a_name_never_repeats_a_term_or_a_content_word() -> None:
    services = [
        category_term(column_words(c, "categorical", ["Yes", "No", "No internet service"]),
                      i, "No internet service", 1.0, 0.26, 1.7)
        for i, c in enumerate(["OnlineSecurity", "OnlineBackup", "TechSupport", "StreamingTV"])
    ]  # fmt: skip
    charges = _numeric("MonthlyCharges", -1.5)
    purchases = [
        numeric_term(column_words(c, "numeric"), i, 1.2 - i / 10, 1.0, 0.0)
        for i, c in enumerate(["PURCHASES", "ONEOFF_PURCHASES", "PURCHASES_FREQUENCY"])
    ]
    names = unique_names(
        [[*services, replace_order(charges, 9)], [p for p in purchases if p]], [[], []], [1, 1]
    )
    assert names == ["No internet service, low monthly charges", "High purchases"]


def replace_order(term: Term, order: int) -> Term:
    return replace(term, order=order)


def test_clashing_names_grow_with_a_term_the_other_lacks() -> None:
    x, y = _numeric("x", 1.5), replace_order(_numeric("y", 1.2), 1)
    w_up, w_down = replace_order(_numeric("w", 0.9), 2), replace_order(_numeric("w", -0.9), 2)
    v = replace_order(_numeric("v", 1.0), 3)  # shared by both: says nothing new
    names = unique_names([[x, y, v, w_up], [x, y, v, w_down]], [[], []], [1, 1])
    assert names == ["High x, high y, high w", "High x, high y, low w"]


def test_last_resorts_are_finer_words_then_means_then_sizes() -> None:
    high, very = _numeric("x", 1.0, mean=5.0), _numeric("x", 2.0, mean=9.0)
    assert unique_names([[high], [very]], [[], []], [1, 1]) == ["High x", "Very high x"]
    same_band = [_numeric("x", 1.0, mean=5.0), _numeric("x", 1.1, mean=5.5)]
    assert unique_names([[t] for t in same_band], [[], []], [1, 1]) == [
        "High x (mean 5)",
        "High x (mean 5.5)",
    ]
    identical = [_numeric("x", 1.0, mean=5.0)] * 2
    assert unique_names([identical[:1], identical[1:]], [[], []], [3, 2]) == [
        "High x (3 customers)",
        "High x (2 customers)",
    ]


def test_average_names() -> None:
    assert average_name([(0, "income", 0.1), (1, "spending", -0.2)]) == (
        "Average income, average spending"
    )
    assert average_name([(0, "average rating", 0.1)]) == "Typical average rating"


def test_average_segments_are_told_apart_by_the_means_of_their_named_features() -> None:
    def baseline(income: float, spending: float, age: float) -> list[Term]:
        return [
            numeric_term(column_words(c, "numeric"), i, z, 50 + 10 * z, 50.0, minimum=0)
            for i, (c, z) in enumerate([("Income", income), ("Spending", spending), ("Age", age)])
        ]

    first, second = baseline(0.1, -0.2, 0.0), baseline(0.05, 0.2, 0.01)
    names = unique_names([[], []], [first, second], [10, 10])
    assert names == [
        "Average income, average spending (mean spending 48)",
        "Average income, average spending (mean spending 52)",
    ]


# --- descriptions ------------------------------------------------------------------------------


def test_descriptions_list_facts_after_a_colon() -> None:
    age = _numeric("Age", -1.2, mean=31.0, overall=41.5)
    income = numeric_term(column_words("Annual Income (k$)", "numeric"), 1, 1.0, 88.2, 60.56)
    contract = category_term(
        column_words("Contract", "categorical", ["Month-to-month"]), 2, "Month-to-month", 0.88,
        0.48, 0.8,
    )  # fmt: skip
    assert income is not None
    assert describe(120, 0.06, [age, income, contract], is_outlier=False) == (
        "120 customers (6.0%): younger (mean age 31 vs 41.5 overall), high income (mean 88.2 k$ "
        "vs 60.6 k$ overall) and 88% month-to-month contract (48% overall)."
    )
    assert describe(1, 0.01, [age], is_outlier=True) == (
        "1 customer (1.0%) that lies outside every dense segment (DBSCAN noise): younger "
        "(mean age 31 vs 41.5 overall)."
    )
    assert describe(7, 0.5, [], is_outlier=False) == (
        "7 customers (50.0%) close to the overall average on every feature."
    )


# --- realistic tables --------------------------------------------------------------------------

# Words that may legitimately repeat inside one name: levels, quantifiers, linking words.
_REPEATABLE = {
    "high", "low", "very", "above-average", "below-average", "average", "slightly", "somewhat",
    "mostly", "often", "many", "with", "without", "no", "not", "of", "on", "in", "and", "per",
    "customers", "long", "short", "longer", "shorter", "recent", "long-ago", "more", "less",
    "typical", "mean", "service", "score", "total",
}  # fmt: skip
_FLAG_VALUES = {"yes", "no", "true", "false", "y", "n", "t", "f", "0", "1"}
_RAW_TOKENS = re.compile(r"\b(mnt|num|trx|prc|dt|yes|no internet service no|true|false)\b", re.I)
_UNGRAMMATICAL = re.compile(
    r"\bwith (young|younger|old|older|mostly|many|often|\d+%)|\bmany \w+ly\b|\s,|\s{2}|\.\.|#"
)
_DESCRIPTION = re.compile(
    r"^\d[\d,]* customers? \(\d+\.\d%\)(: .+| close to the overall average on every feature)\.$"
)


def _segment_sets(name: str, ks: tuple[int, ...]) -> tuple[CleanTable, list[SegmentSet]]:
    from sklearn.cluster import KMeans

    frame = TABLES[name]()
    table = clean_training_table(frame, DatasetConfig())
    X = fit_preprocessor(table.features, table.columns).X
    sets = []
    for k in ks:
        labels = KMeans(n_clusters=k, random_state=0, n_init=2).fit_predict(X)
        sets.append(
            build_segment_set(
                algorithm="kmeans",
                k=k,
                labels=labels,
                features=table.features,
                columns=table.columns,
                X=X,
            )
        )
    return table, sets


def _bare_values(name: str, table: CleanTable) -> list[str]:
    """Category values shown in ``name`` without a word of their column."""
    bare = []
    for column in table.columns:
        if not column.used or column.role != "categorical":
            continue
        words = column_words(column.name, "categorical", column.categories or [])
        if words.style in {"gender", "trait", "place"}:
            continue
        column_tokens = set(words.word.lower().split())
        for part in name.lower().split(", "):
            for value in column.categories or []:
                value_lower = value.lower()
                if value_lower.startswith("no ") or value_lower in _FLAG_VALUES:
                    continue  # negations read alone; flags read "with/without <column>"
                in_part = re.search(rf"(^|\s){re.escape(value_lower)}(\s|$)", part)
                if in_part and not column_tokens & set(part.split()):
                    bare.append(f"{value!r} of {column.name} in {name!r}")
    return bare


@pytest.mark.slow
@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_names_on_realistic_tables_read_well(table_name: str) -> None:
    table, sets = _segment_sets(table_name, (3, 5, 8))

    for segment_set in sets:
        names = [s.name for s in segment_set.segments]
        assert len({n.casefold() for n in names}) == len(names), names
        for segment in segment_set.segments:
            name = segment.name
            assert "#" not in name
            assert not _RAW_TOKENS.search(name), name
            assert not _UNGRAMMATICAL.search(name), name
            words = [w for w in re.findall(r"[\w'-]+", name.lower()) if w not in _REPEATABLE]
            assert len(words) == len(set(words)), name
            assert not _bare_values(name, table)
            assert _DESCRIPTION.match(segment.description), segment.description
            assert not _UNGRAMMATICAL.search(segment.description), segment.description


@pytest.mark.slow
def test_telecom_names_qualify_categories_and_merge_repeated_services() -> None:
    _, (segment_set,) = _segment_sets("telecom_churn", (4,))
    names = [s.name for s in segment_set.segments]
    # The phone-only customers: six service columns say "No internet service" once.
    no_internet = [n for n in names if "no internet service" in n.lower()]
    assert len(no_internet) == 1
    assert no_internet[0].lower().count("internet") == 1
    joined = " | ".join(names).lower()
    assert "fiber optic internet service" in joined or "month-to-month contract" in joined
    assert "mostly no" not in joined


@pytest.mark.slow
def test_marketing_names_spell_out_spend_and_count_columns() -> None:
    _, sets = _segment_sets("marketing_campaign", (3, 5, 8))
    text = " | ".join(s.name + " " + s.description for ss in sets for s in ss.segments)
    assert "mnt" not in text.lower().split()
    assert re.search(r"spending on (wines|meat products|gold products|fish products)", text)
    assert re.search(r"\b(younger|older)\b", text)  # Year_Birth reads as age
    assert "year birth" not in text
