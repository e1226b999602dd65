"""How an order-line (transaction) upload became a customer table: the rules and the evidence.

A transaction upload (one row per order line: a customer id that repeats, a date, an amount...)
is aggregated to one row per customer before clustering (:mod:`shared.engine.transactions`).
:class:`TransactionSpec` holds the rules of that aggregation, which the API repeats on new lines
(``POST /datasets/{d}/assign-transactions``, :mod:`shared.serving.transactions`);
:class:`TransactionSummary` adds what the run found (lines, customers, dropped lines and why),
published in the manifest's ``transactions`` field and shown in the report and dashboard.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contract.documents import Document

__all__ = [
    "AOV",
    "FREQUENCY",
    "MONETARY",
    "PRODUCTS",
    "RECENCY",
    "RETURN_SHARE",
    "RFM_FEATURES",
    "TENURE",
    "TableKind",
    "TransactionColumns",
    "TransactionSpec",
    "TransactionSummary",
]

TableKind = Literal["auto", "customers", "transactions"]

RECENCY = "recency_days"
"""Days from the customer's last purchase to ``as_of``."""
FREQUENCY = "frequency"
"""Distinct orders with a purchase (distinct purchase days when there is no order column)."""
MONETARY = "monetary"
"""Net amount: purchases minus returns and cancellations."""
TENURE = "tenure_days"
"""Days from the customer's first purchase to ``as_of``."""
AOV = "avg_order_value"
"""Net amount per order (``monetary / frequency``; 0 for a customer with returns only)."""
PRODUCTS = "distinct_products"
"""Distinct products bought."""
RETURN_SHARE = "return_share"
"""Returned or cancelled amount over the amount bought."""
RFM_FEATURES = (RECENCY, FREQUENCY, MONETARY, TENURE, AOV, PRODUCTS, RETURN_SHARE)
"""Every customer feature an aggregation can produce, in column order."""


class TransactionColumns(Document):
    """The upload's column for each role of an order line (None: the file has none)."""

    customer: str = Field(description="Who bought: an id or a name; repeats across lines.")
    date: str = Field(description="When: a date or timestamp.")
    order: str | None = Field(default=None, description="Order or invoice number.")
    amount: str | None = Field(default=None, description="Line amount (currency).")
    quantity: str | None = Field(default=None, description="Units on the line.")
    price: str | None = Field(default=None, description="Unit price (amount = quantity x price).")
    product: str | None = Field(default=None, description="Product or stock code.")


class TransactionSpec(Document):
    """The rules that turn order lines into customer features, repeated at assignment time.

    Examples
    --------
    >>> spec = TransactionSpec(columns=TransactionColumns(customer="id", date="day"),
    ...     features=["recency_days", "frequency", "tenure_days"], as_of="2024-03-31")
    >>> spec.monetary_source
    """

    columns: TransactionColumns
    date_format: str | None = Field(
        default=None,
        description="strftime format of the date column (None: ISO 8601; '%Y%m%d' for "
        "compact dates such as 19970101).",
    )
    customer_dtype: Literal["integer", "string"] = Field(
        default="string",
        description="How customer ids are labelled: 'integer' when the column held numbers "
        "(17850, 17850.0 and '17850' are one customer).",
    )
    cancel_prefix: str | None = Field(
        default=None,
        description="Order numbers starting with this prefix are cancellations (e.g. 'C').",
    )
    features: list[str] = Field(description="Customer features produced, in column order.")
    as_of: str = Field(
        description="Reference day (YYYY-MM-DD) of recency and tenure in training: the "
        "config's as_of, else the newest line's day."
    )

    @property
    def monetary_source(self) -> str | None:
        """How a line's amount is read: the amount column, quantity x price, or nothing."""
        if self.columns.amount:
            return self.columns.amount
        if self.columns.quantity and self.columns.price:
            return f"{self.columns.quantity} x {self.columns.price}"
        return None


class TransactionSummary(Document):
    """What the aggregation of one upload found: its evidence, its counts, its rules."""

    detected: Literal["auto", "config"] = Field(
        description="Whether the table was recognised as order lines or the config said so."
    )
    evidence: list[str] = Field(
        default_factory=list, description="Why the table was read as order lines."
    )
    lines: int = Field(ge=0, description="Lines in the upload.")
    used_lines: int = Field(ge=0, description="Lines aggregated.")
    customers: int = Field(ge=0, description="Customers after aggregation.")
    lines_per_customer: float = Field(ge=0, description="Mean aggregated lines per customer.")
    repeat_share: float = Field(
        ge=0, le=1, description="Share of customers with more than one line."
    )
    dropped: dict[str, int] = Field(
        default_factory=dict, description="Lines left out, by reason (never merged or imputed)."
    )
    return_lines: int = Field(
        default=0, ge=0, description="Returns and cancellations, netted against purchases."
    )
    first_date: str | None = Field(default=None, description="Earliest line's day.")
    last_date: str | None = Field(default=None, description="Newest line's day.")
    attributes: list[str] = Field(
        default_factory=list,
        description="Columns with one value per customer on every line (a country, a "
        "segment, an age), carried to the customer table and profiled per segment; clustered "
        "only when the config's features name them.",
    )
    spec: TransactionSpec
