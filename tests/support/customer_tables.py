"""Synthetic customer tables shaped like the public tables analysts upload.

Each generator draws a few latent customer groups (fixed seed) and derives columns named and coded
as in the well-known public tables of its kind, so naming and reading rules can be tested on
realistic columns without shipping third-party data:

- :func:`telecom_churn`: a telecom churn table (Yes/No flags, a 0/1 flag, service columns whose
  third value is "No internet service", contract, payment method, charges, a churn outcome).
- :func:`marketing_campaign`: a marketing campaign table (``Year_Birth``, ``Mnt*`` spend and
  ``Num*`` count columns, ``Dt_Customer`` dates, education, marital status, accepted-offer flags).
- :func:`credit_card_usage`: card usage in UPPER_SNAKE_CASE (balance, purchases, cash advance,
  ``*_FREQUENCY``, ``*_TRX``, ``PRC_FULL_PAYMENT``), skewed amounts.
- :func:`bank_churn`: retail-bank customers (geography, gender, age, ``HasCrCard`` and
  ``IsActiveMember`` 0/1 flags, ``NumOfProducts``).
- :func:`ecommerce`: an e-commerce table with spaces in its names (membership type, city,
  satisfaction level, a TRUE/FALSE discount flag, days since last purchase).
- :func:`wide_table`: many columns (an id, 30 metrics, 5 categories by default), for size limits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "TABLES",
    "bank_churn",
    "credit_card_usage",
    "ecommerce",
    "marketing_campaign",
    "telecom_churn",
    "wide_table",
]


def _groups(rng: np.random.Generator, n: int, shares: list[float]) -> np.ndarray:
    return rng.choice(len(shares), size=n, p=np.asarray(shares) / sum(shares))


def _pick(rng: np.random.Generator, group: np.ndarray, options: list[str], p: list[list[float]]):
    """One value per row, drawn from ``options`` with the row's group probabilities."""
    out = np.empty(group.size, dtype=object)
    for g, probs in enumerate(p):
        rows = group == g
        out[rows] = rng.choice(options, size=int(rows.sum()), p=probs)
    return out


def telecom_churn(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    """Telecom customers: new fibre month-to-month, loyal two-year, phone-only.

    Examples
    --------
    >>> telecom_churn(20).shape
    (20, 21)
    """
    rng = np.random.default_rng(seed)
    g = _groups(rng, n, [0.4, 0.35, 0.25])
    internet = _pick(
        rng, g, ["Fiber optic", "DSL", "No"], [[0.85, 0.15, 0], [0.3, 0.7, 0], [0, 0, 1]]
    )
    has_internet = internet != "No"

    def service(p_yes: list[float]) -> np.ndarray:
        yes = rng.random(n) < np.asarray(p_yes)[g]
        return np.where(~has_internet, "No internet service", np.where(yes, "Yes", "No"))

    phone = np.where(rng.random(n) < np.array([0.9, 0.85, 1.0])[g], "Yes", "No")
    tenure = np.clip(rng.normal(np.array([8, 55, 30])[g], np.array([6, 12, 18])[g]), 0, 72).round()
    monthly = np.clip(
        rng.normal(np.array([85, 70, 22])[g], np.array([10, 15, 4])[g]), 18, 120
    ).round(2)
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-{chr(65 + i % 26)}XYZ" for i in range(n)],
            "gender": rng.choice(["Male", "Female"], size=n),
            "SeniorCitizen": (rng.random(n) < np.array([0.25, 0.12, 0.08])[g]).astype(int),
            "Partner": _pick(rng, g, ["Yes", "No"], [[0.3, 0.7], [0.75, 0.25], [0.5, 0.5]]),
            "Dependents": _pick(rng, g, ["Yes", "No"], [[0.15, 0.85], [0.5, 0.5], [0.35, 0.65]]),
            "tenure": tenure.astype(int),
            "PhoneService": phone,
            "MultipleLines": np.where(
                phone == "No", "No phone service", np.where(rng.random(n) < 0.45, "Yes", "No")
            ),
            "InternetService": internet,
            "OnlineSecurity": service([0.15, 0.6, 0]),
            "OnlineBackup": service([0.3, 0.6, 0]),
            "DeviceProtection": service([0.3, 0.6, 0]),
            "TechSupport": service([0.15, 0.6, 0]),
            "StreamingTV": service([0.5, 0.5, 0]),
            "StreamingMovies": service([0.5, 0.5, 0]),
            "Contract": _pick(
                rng,
                g,
                ["Month-to-month", "One year", "Two year"],
                [[0.9, 0.08, 0.02], [0.1, 0.35, 0.55], [0.35, 0.25, 0.4]],
            ),
            "PaperlessBilling": _pick(
                rng, g, ["Yes", "No"], [[0.8, 0.2], [0.55, 0.45], [0.3, 0.7]]
            ),
            "PaymentMethod": _pick(
                rng,
                g,
                [
                    "Electronic check",
                    "Mailed check",
                    "Bank transfer (automatic)",
                    "Credit card (automatic)",
                ],
                [[0.65, 0.15, 0.1, 0.1], [0.1, 0.1, 0.4, 0.4], [0.2, 0.55, 0.15, 0.1]],
            ),
            "MonthlyCharges": monthly,
            "TotalCharges": (monthly * np.maximum(tenure, 1)).round(2),
            "Churn": np.where(rng.random(n) < np.array([0.45, 0.05, 0.08])[g], "Yes", "No"),
        }
    )


def marketing_campaign(n: int = 1500, seed: int = 2) -> pd.DataFrame:
    """Marketing-campaign customers: affluent wine buyers, young families, deal hunters.

    Examples
    --------
    >>> "MntWines" in marketing_campaign(20).columns
    True
    """
    rng = np.random.default_rng(seed)
    g = _groups(rng, n, [0.3, 0.45, 0.25])

    def amount(means: list[float]) -> np.ndarray:
        return np.round(rng.gamma(2.0, np.asarray(means)[g] / 2.0)).astype(int)

    def count(means: list[float]) -> np.ndarray:
        return rng.poisson(np.asarray(means)[g])

    joined = pd.Timestamp("2014-06-29") - pd.to_timedelta(
        rng.integers(0, 700, size=n) + np.array([300, 0, 150])[g], unit="D"
    )
    frame = pd.DataFrame(
        {
            "ID": rng.permutation(np.arange(1, 10 * n, 10))[:n],
            "Year_Birth": np.round(rng.normal(np.array([1955, 1980, 1968])[g], 6)).astype(int),
            "Education": _pick(
                rng,
                g,
                ["Graduation", "PhD", "Master", "Basic", "2n Cycle"],
                [
                    [0.45, 0.35, 0.15, 0.0, 0.05],
                    [0.5, 0.1, 0.15, 0.1, 0.15],
                    [0.5, 0.2, 0.2, 0.02, 0.08],
                ],
            ),
            "Marital_Status": _pick(
                rng,
                g,
                ["Married", "Together", "Single", "Divorced", "Widow"],
                [
                    [0.35, 0.2, 0.15, 0.2, 0.1],
                    [0.45, 0.3, 0.2, 0.05, 0.0],
                    [0.3, 0.25, 0.3, 0.12, 0.03],
                ],
            ),
            "Income": np.round(
                rng.normal(np.array([78000, 32000, 55000])[g], np.array([9000, 8000, 9000])[g])
            ),
            "Kidhome": rng.poisson(np.array([0.05, 1.0, 0.4])[g]),
            "Teenhome": rng.poisson(np.array([0.3, 0.2, 0.9])[g]),
            "Dt_Customer": joined.strftime("%d-%m-%Y"),
            "Recency": rng.integers(0, 100, size=n),
            "MntWines": amount([700, 40, 350]),
            "MntFruits": amount([60, 5, 20]),
            "MntMeatProducts": amount([450, 25, 120]),
            "MntFishProducts": amount([80, 8, 30]),
            "MntSweetProducts": amount([60, 5, 25]),
            "MntGoldProds": amount([70, 15, 60]),
            "NumDealsPurchases": count([1, 2, 5]),
            "NumWebPurchases": count([5, 2, 7]),
            "NumCatalogPurchases": count([6, 0.5, 3]),
            "NumStorePurchases": count([8, 3, 7]),
            "NumWebVisitsMonth": count([3, 7, 6]),
        }
    )
    for i, p in enumerate(([0.02, 0.01, 0.1], [0.1, 0.0, 0.02], [0.25, 0.0, 0.05]), start=1):
        frame[f"AcceptedCmp{i}"] = (rng.random(n) < np.array(p)[g]).astype(int)
    frame["Complain"] = (rng.random(n) < 0.01).astype(int)
    frame["Response"] = (rng.random(n) < np.array([0.3, 0.08, 0.15])[g]).astype(int)
    return frame


def credit_card_usage(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    """Card holders: revolvers on cash advances, big spenders, instalment payers, dormant cards.

    Examples
    --------
    >>> credit_card_usage(20).columns[0]
    'CUST_ID'
    """
    rng = np.random.default_rng(seed)
    g = _groups(rng, n, [0.25, 0.2, 0.3, 0.25])

    def skewed(means: list[float]) -> np.ndarray:
        return np.round(rng.gamma(1.5, np.asarray(means)[g] / 1.5), 2)

    def share(means: list[float]) -> np.ndarray:
        return np.clip(rng.normal(np.asarray(means)[g], 0.12), 0, 1).round(6)

    oneoff = skewed([50, 2500, 100, 10])
    installments = skewed([80, 900, 1200, 10])
    cash = skewed([3000, 100, 80, 50])
    return pd.DataFrame(
        {
            "CUST_ID": [f"C{10001 + i}" for i in range(n)],
            "BALANCE": skewed([4500, 2000, 800, 300]),
            "BALANCE_FREQUENCY": share([0.95, 0.95, 0.9, 0.5]),
            "PURCHASES": (oneoff + installments).round(2),
            "ONEOFF_PURCHASES": oneoff,
            "INSTALLMENTS_PURCHASES": installments,
            "CASH_ADVANCE": cash,
            "PURCHASES_FREQUENCY": share([0.15, 0.85, 0.8, 0.05]),
            "ONEOFF_PURCHASES_FREQUENCY": share([0.05, 0.6, 0.1, 0.02]),
            "PURCHASES_INSTALLMENTS_FREQUENCY": share([0.1, 0.5, 0.8, 0.03]),
            "CASH_ADVANCE_FREQUENCY": share([0.5, 0.05, 0.03, 0.05]),
            "CASH_ADVANCE_TRX": rng.poisson(np.array([12, 1, 0.5, 0.5])[g]),
            "PURCHASES_TRX": rng.poisson(np.array([3, 45, 25, 1])[g]),
            "CREDIT_LIMIT": np.round(rng.normal(np.array([6000, 9000, 3500, 2500])[g], 1000), -2),
            "PAYMENTS": skewed([3500, 3000, 1200, 400]),
            "MINIMUM_PAYMENTS": skewed([1800, 600, 600, 250]),
            "PRC_FULL_PAYMENT": share([0.02, 0.35, 0.2, 0.05]),
            "TENURE": rng.choice([6, 8, 10, 12, 12, 12, 12], size=n),
        }
    )


def bank_churn(n: int = 1500, seed: int = 4) -> pd.DataFrame:
    """Retail-bank customers: German high balances, young inactive, loyal multi-product.

    Examples
    --------
    >>> sorted(bank_churn(50).Geography.unique())
    ['France', 'Germany', 'Spain']
    """
    rng = np.random.default_rng(seed)
    g = _groups(rng, n, [0.3, 0.4, 0.3])
    return pd.DataFrame(
        {
            "RowNumber": np.arange(1, n + 1),
            "CustomerId": 15_600_000 + rng.permutation(n) * 7,
            "Surname": rng.choice(["Hill", "Onio", "Boni", "Mitchell", "Chu", "Bartlett"], n),
            "CreditScore": np.round(rng.normal(np.array([650, 620, 700])[g], 60)).astype(int),
            "Geography": _pick(
                rng,
                g,
                ["France", "Spain", "Germany"],
                [[0.2, 0.1, 0.7], [0.55, 0.35, 0.1], [0.6, 0.25, 0.15]],
            ),
            "Gender": _pick(rng, g, ["Male", "Female"], [[0.5, 0.5], [0.6, 0.4], [0.45, 0.55]]),
            "Age": np.round(rng.normal(np.array([45, 30, 52])[g], 5)).astype(int),
            "Tenure": rng.integers(0, 11, size=n),
            "Balance": np.where(
                rng.random(n) < np.array([0.05, 0.6, 0.3])[g],
                0.0,
                np.round(rng.normal(np.array([120000, 60000, 90000])[g], 20000), 2),
            ),
            "NumOfProducts": np.clip(rng.poisson(np.array([0.5, 0.4, 1.5])[g]) + 1, 1, 4),
            "HasCrCard": (rng.random(n) < np.array([0.7, 0.6, 0.8])[g]).astype(int),
            "IsActiveMember": (rng.random(n) < np.array([0.4, 0.2, 0.9])[g]).astype(int),
            "EstimatedSalary": np.round(rng.uniform(10_000, 200_000, n), 2),
            "Exited": (rng.random(n) < np.array([0.4, 0.2, 0.05])[g]).astype(int),
        }
    )


def ecommerce(n: int = 1200, seed: int = 5) -> pd.DataFrame:
    """E-commerce shoppers: satisfied gold members, neutral silver, unsatisfied bronze lapsers.

    Examples
    --------
    >>> ecommerce(10)["Membership Type"].isin(["Gold", "Silver", "Bronze"]).all()
    np.True_
    """
    rng = np.random.default_rng(seed)
    g = _groups(rng, n, [0.33, 0.34, 0.33])
    return pd.DataFrame(
        {
            "Customer ID": np.arange(101, 101 + n),
            "Gender": _pick(rng, g, ["Female", "Male"], [[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]),
            "Age": np.round(rng.normal(np.array([32, 38, 44])[g], 4)).astype(int),
            "City": _pick(
                rng,
                g,
                ["New York", "Los Angeles", "Chicago", "San Francisco", "Miami", "Houston"],
                [
                    [0.45, 0.05, 0.05, 0.4, 0.025, 0.025],
                    [0.05, 0.45, 0.4, 0.05, 0.025, 0.025],
                    [0.05, 0.05, 0.05, 0.05, 0.4, 0.4],
                ],
            ),
            "Membership Type": _pick(
                rng,
                g,
                ["Gold", "Silver", "Bronze"],
                [[0.9, 0.1, 0], [0.1, 0.8, 0.1], [0, 0.1, 0.9]],
            ),
            "Total Spend": np.round(rng.normal(np.array([1200, 750, 480])[g], 90), 2),
            "Items Purchased": rng.poisson(np.array([17, 11, 8])[g]),
            "Average Rating": np.clip(rng.normal(np.array([4.6, 4.0, 3.3])[g], 0.2), 1, 5).round(1),
            "Discount Applied": rng.random(n) < np.array([0.4, 0.6, 0.5])[g],
            "Days Since Last Purchase": np.round(rng.normal(np.array([18, 30, 50])[g], 6)).astype(
                int
            ),
            "Satisfaction Level": _pick(
                rng,
                g,
                ["Satisfied", "Neutral", "Unsatisfied"],
                [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.05, 0.15, 0.8]],
            ),
        }
    )


TABLES = {
    "telecom_churn": telecom_churn,
    "marketing_campaign": marketing_campaign,
    "credit_card_usage": credit_card_usage,
    "bank_churn": bank_churn,
    "ecommerce": ecommerce,
}
"""Every generator by name."""


def wide_table(
    n: int = 20_000, numeric: int = 30, categorical: int = 5, seed: int = 7
) -> pd.DataFrame:
    """An id column, ``numeric`` metrics and ``categorical`` 4-level categories over 4 groups.

    With the defaults: 20,000 rows x 36 columns, whose report is ~6 MB (the size that once broke
    Lambda's response limit).
    """
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    columns: dict[str, object] = {"customer_id": [f"C{i:06d}" for i in range(n)]}
    for j in range(numeric):
        columns[f"metric_{j:02d}"] = np.round(rng.normal(group * (j % 5 + 1), 1.0 + j % 3), 3)
    levels = np.array(["a", "b", "c", "d"])
    for j in range(categorical):
        columns[f"category_{j}"] = levels[(group + rng.integers(0, 2, n) * j) % 4]
    return pd.DataFrame(columns)
