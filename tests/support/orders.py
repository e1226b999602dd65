"""Synthetic order-line exports with planted customer groups (tests and bench/train.py).

The shape of a shop's invoice-line export (InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country), with three planted groups whose recency,
frequency and spend differ the way real ones do:

- ``champions``: frequent big spenders still buying (10-30 orders, last order within 20 days);
- ``lapsed``: one-time buyers whose only order is 300-400 days old;
- ``new``: one or two recent small orders (first order within 30 days).

Cancellations (``C`` invoices with negative quantities), lines without a customer id and a free
text description are included, so the aggregation's rules are exercised too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["GROUPS", "OrderLines", "planted_order_lines"]

GROUPS = ("champions", "lapsed", "new")
_END = np.datetime64("2024-06-30")
_WORDS = ("mug", "lamp", "candle", "poster", "bag", "tin", "card", "clock")


@dataclass(frozen=True)
class OrderLines:
    """The lines and each customer's planted group (customer id -> group)."""

    frame: pd.DataFrame
    plan: pd.Series


def planted_order_lines(
    n_customers: int = 600,
    *,
    seed: int = 0,
    missing_customer_lines: int = 25,
    cancellations: float = 0.03,
    timestamps: bool = True,
) -> OrderLines:
    """Order lines of ``n_customers`` customers in three planted groups of equal size.

    ``cancellations`` is the share of orders followed by a ``C`` invoice cancelling one line.
    """
    rng = np.random.default_rng(seed)
    group = np.arange(n_customers) % len(GROUPS)
    orders = np.where(
        group == 0,
        rng.integers(10, 31, n_customers),
        np.where(group == 1, 1, rng.integers(1, 3, n_customers)),
    )
    customer_of_order = np.repeat(np.arange(n_customers), orders)
    g = group[customer_of_order]
    age = np.where(
        g == 0,
        rng.integers(0, 360, customer_of_order.size),
        np.where(g == 1, rng.integers(300, 400, customer_of_order.size), 0),
    )
    # Champions' latest order is recent; new customers' orders are all within 30 days.
    first_of_customer = np.r_[0, np.cumsum(orders)[:-1]]
    age[first_of_customer[group == 0]] = rng.integers(0, 20, int((group == 0).sum()))
    new_orders = g == 2
    age[new_orders] = rng.integers(0, 30, int(new_orders.sum()))
    lines_per_order = np.where(g == 0, rng.integers(3, 9, g.size), rng.integers(1, 3, g.size))
    line_order = np.repeat(np.arange(customer_of_order.size), lines_per_order)
    n_lines = line_order.size
    price = np.round(
        np.where(g[line_order] == 0, rng.uniform(8, 40, n_lines), rng.uniform(1, 6, n_lines)), 2
    )
    quantity = rng.integers(1, 12, n_lines)
    seconds = rng.integers(8 * 3600, 20 * 3600, customer_of_order.size)
    moment = (_END - age.astype("timedelta64[D]")).astype("datetime64[s]") + seconds.astype(
        "timedelta64[s]"
    )
    invoice = (536_000 + np.arange(customer_of_order.size)).astype(str)
    customer_id = (12_000 + np.arange(n_customers)).astype(float)
    frame = pd.DataFrame(
        {
            "InvoiceNo": invoice[line_order],
            "StockCode": rng.integers(10_000, 10_400, n_lines).astype(str),
            "Description": [
                f"{_WORDS[i % len(_WORDS)]} in assorted colours, set of {i % 7 + 2}"
                for i in rng.integers(0, 1000, n_lines)
            ],
            "Quantity": quantity,
            "InvoiceDate": moment[line_order],
            "UnitPrice": price,
            "CustomerID": customer_id[customer_of_order[line_order]],
            "Country": rng.choice(
                ["United Kingdom", "France", "Germany"], n_lines, p=[0.8, 0.1, 0.1]
            ),
        }
    )
    cancelled = rng.random(customer_of_order.size) < cancellations
    if cancelled.any():
        first_line = np.r_[0, np.cumsum(lines_per_order)[:-1]][cancelled]
        cancel = frame.iloc[first_line].copy()
        cancel["InvoiceNo"] = "C" + cancel["InvoiceNo"]
        cancel["Quantity"] = -cancel["Quantity"]
        cancel["InvoiceDate"] = cancel["InvoiceDate"] + pd.Timedelta(hours=1)
        frame = pd.concat([frame, cancel], ignore_index=True)
    if missing_customer_lines:
        orphans = frame.sample(missing_customer_lines, random_state=seed).copy()
        orphans["CustomerID"] = np.nan
        orphans["InvoiceNo"] = (900_000 + np.arange(missing_customer_lines)).astype(str)
        frame = pd.concat([frame, orphans], ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if timestamps:
        frame["InvoiceDate"] = frame["InvoiceDate"].dt.strftime("%m/%d/%Y %H:%M")
    else:
        frame["InvoiceDate"] = frame["InvoiceDate"].dt.strftime("%Y-%m-%d")
    plan = pd.Series(
        [GROUPS[i] for i in group], index=[str(int(c)) for c in customer_id], name="group"
    )
    return OrderLines(frame, plan)
