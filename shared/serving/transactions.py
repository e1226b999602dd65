"""Order lines to customer features, with numpy alone: the aggregation kernel and the API's parser.

Training (:mod:`shared.engine.transactions`) parses an uploaded order-line file with pandas into
integer codes and calls :func:`aggregate_lines`; the API parses the JSON lines of
``POST /datasets/{d}/assign-transactions`` with :func:`aggregate_records` (no pandas in the API
image) and calls the same kernel. Both type each value with the scalar rules of
:mod:`shared.serving.values`, so a customer's features are the same either way.

The kernel only needs a customer's own lines, so any partition of the lines by customer (for
instance on a hash of the customer id, chunk by chunk) gives exactly the features of the whole
file: :func:`customer_partition` is that hash.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from shared.contract.transactions import (
    AOV,
    FREQUENCY,
    MONETARY,
    PRODUCTS,
    RECENCY,
    RETURN_SHARE,
    TENURE,
    TransactionColumns,
    TransactionSpec,
)
from shared.exceptions import InvalidTransactionError, NotOrderLinesError
from shared.quoting import quote_value
from shared.serving.model import SegmentationModel
from shared.serving.results import SegmentAssignments
from shared.serving.values import category_label, parse_date, parse_number

__all__ = [
    "DROP_NO_AMOUNT",
    "DROP_NO_CUSTOMER",
    "DROP_NO_DATE",
    "EPOCH_ORDINAL",
    "CustomerLines",
    "LineError",
    "TransactionAssignments",
    "aggregate_lines",
    "aggregate_records",
    "assign_transactions",
    "customer_order",
    "customer_partition",
    "distinct_per_customer",
    "epoch_day",
]

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DROP_NO_CUSTOMER = "no customer id"
DROP_NO_DATE = "no valid date"
DROP_NO_AMOUNT = "no amount"


def epoch_day(day: date) -> int:
    """Days since 1970-01-01 of a calendar day.

    Examples
    --------
    >>> epoch_day(date(1970, 1, 2))
    1
    """
    return day.toordinal() - EPOCH_ORDINAL


def aggregate_lines(
    *,
    customer: np.ndarray,
    n_customers: int,
    day: np.ndarray,
    is_return: np.ndarray,
    as_of_day: int,
    features: Sequence[str],
    order: np.ndarray | None = None,
    amount: np.ndarray | None = None,
    product: np.ndarray | None = None,
) -> np.ndarray:
    """Customer features of order lines, one row per customer code.

    Parameters
    ----------
    customer : ndarray of int
        Customer code ``0..n_customers-1`` of each line.
    n_customers : int
        Number of customers.
    day : ndarray of int
        Day of each line, in days since 1970-01-01.
    is_return : ndarray of bool
        Returns and cancellations: their amount nets against purchases, they are not orders.
    as_of_day : int
        Reference day of recency and tenure (days since 1970-01-01).
    features : sequence of str
        Features to compute, names from :data:`shared.contract.transactions.RFM_FEATURES`.
    order : ndarray of int, optional
        Order code of each line; without one, frequency counts distinct purchase days.
    amount : ndarray of float, optional
        Amount of each line (a return's sign is ignored: it always subtracts).
    product : ndarray of int, optional
        Product code of each line.

    Returns
    -------
    ndarray of float, shape (n_customers, len(features))

    Examples
    --------
    Customer 0 buys twice (orders 0 and 1) and returns 5 of order 1; customer 1 buys once.

    >>> X = aggregate_lines(customer=np.array([0, 0, 0, 1]), n_customers=2,
    ...     day=np.array([10, 20, 21, 15]), is_return=np.array([False, False, True, False]),
    ...     as_of_day=25, features=["recency_days", "frequency", "monetary", "tenure_days"],
    ...     order=np.array([0, 1, 2, 3]), amount=np.array([10.0, 30.0, -5.0, 7.0]))
    >>> X.tolist()
    [[5.0, 2.0, 35.0, 15.0], [10.0, 1.0, 7.0, 10.0]]
    """
    customer = np.asarray(customer, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    is_return = np.asarray(is_return, dtype=bool)
    bought = ~is_return
    columns: dict[str, np.ndarray] = {}
    last = _extreme(customer, day, bought, n_customers, np.maximum)
    first = _extreme(customer, day, bought, n_customers, np.minimum)
    columns[RECENCY] = (as_of_day - last).astype(np.float64)
    columns[TENURE] = (as_of_day - first).astype(np.float64)
    visits = order if order is not None else day
    frequency = distinct_per_customer(customer[bought], visits[bought], n_customers)
    columns[FREQUENCY] = frequency
    if amount is not None:
        magnitude = np.abs(np.asarray(amount, dtype=np.float64))
        # Floating-point sums depend on their order: summed by customer, then by magnitude,
        # the same lines in any file order give bit-identical totals.
        by_value = np.lexsort((magnitude, customer))
        owner, magnitude, kept = customer[by_value], magnitude[by_value], bought[by_value]
        gross = np.bincount(owner[kept], weights=magnitude[kept], minlength=n_customers)
        returned = np.bincount(owner[~kept], weights=magnitude[~kept], minlength=n_customers)
        net = gross - returned
        columns[MONETARY] = net
        columns[AOV] = np.divide(net, frequency, out=np.zeros(n_customers), where=frequency > 0)
        share = np.divide(returned, gross, out=(returned > 0).astype(np.float64), where=gross > 0)
        columns[RETURN_SHARE] = np.minimum(share, 1.0)
    if product is not None:
        columns[PRODUCTS] = distinct_per_customer(customer[bought], product[bought], n_customers)
    missing = [f for f in features if f not in columns]
    if missing:
        raise ValueError(f"cannot compute {missing} from the columns given")
    if not features:
        return np.empty((n_customers, 0))
    return np.column_stack([columns[f] for f in features])


def _extreme(
    customer: np.ndarray, day: np.ndarray, bought: np.ndarray, n: int, ufunc: np.ufunc
) -> np.ndarray:
    """Latest (``np.maximum``) or earliest purchase day per customer; a customer with returns
    only gets the latest/earliest of its lines."""
    start = np.iinfo(np.int64).min if ufunc is np.maximum else np.iinfo(np.int64).max
    of_purchases = np.full(n, start, dtype=np.int64)
    ufunc.at(of_purchases, customer[bought], day[bought])
    of_all = np.full(n, start, dtype=np.int64)
    ufunc.at(of_all, customer, day)
    return np.where(of_purchases == start, of_all, of_purchases)


def distinct_per_customer(customer: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Distinct ``values`` per customer code ``0..n-1`` (pairs counted once).

    Examples
    --------
    >>> distinct_per_customer(np.array([0, 0, 0, 2]), np.array([5, 5, 6, 1]), 3).tolist()
    [2.0, 0.0, 1.0]
    """
    values = np.asarray(values, dtype=np.int64)
    if customer.size == 0:
        return np.zeros(n)
    low = int(values.min())
    span = int(values.max()) - low + 1
    pairs = np.sort(customer * span + (values - low))  # a sort beats np.unique's hashing here
    first = np.ones(pairs.size, dtype=bool)
    first[1:] = pairs[1:] != pairs[:-1]
    return np.bincount(pairs[first] // span, minlength=n).astype(np.float64)


def customer_order(labels: Sequence[str]) -> np.ndarray:
    """Positions that sort customer labels: by number when every label is an integer, else as text.

    Examples
    --------
    >>> customer_order(["10", "9", "100"]).tolist()
    [1, 0, 2]
    >>> customer_order(["b", "A", "a"]).tolist()
    [1, 2, 0]
    """
    items = list(labels)
    if items and all(_is_integer_label(label) for label in items):
        keys = np.array([int(label) for label in items], dtype=object)
        return np.array(sorted(range(len(items)), key=keys.__getitem__), dtype=np.int64)
    return np.array(sorted(range(len(items)), key=items.__getitem__), dtype=np.int64)


def _is_integer_label(label: str) -> bool:
    text = label[1:] if label[:1] == "-" else label
    return text.isascii() and text.isdigit()


def customer_partition(label: str, partitions: int) -> int:
    """The partition of a customer (a stable hash of its label): every line of a customer lands
    in the same one, so partitions aggregate independently and exactly.

    Examples
    --------
    >>> customer_partition("17850", 8) == customer_partition("17850", 8)
    True
    """
    return zlib.crc32(label.encode("utf-8")) % partitions


LineError = InvalidTransactionError


@dataclass
class CustomerLines:
    """Order lines aggregated per customer, in :func:`customer_order`."""

    customers: list[str]
    X: np.ndarray
    features: list[str]
    lines: int
    dropped: dict[str, int] = field(default_factory=dict)

    def records(self) -> list[dict[str, float]]:
        """One ``{feature: value}`` record per customer (the customer-level assign input)."""
        return [dict(zip(self.features, row.tolist(), strict=True)) for row in self.X]


def aggregate_records(
    lines: Sequence[Mapping[str, Any]], spec: TransactionSpec, as_of: date
) -> CustomerLines:
    """Aggregate order lines sent as JSON records (keyed by the upload's columns), as training did.

    Lines without a customer, a date or (when the version uses amounts) an amount are left out
    and counted, as in training. A value of the wrong type is an error naming line and column.

    Raises
    ------
    LineError
        A value cannot be read (the line number, from 0, and the column are named), a line is
        dated after ``as_of``, or no line is left to aggregate.

    Examples
    --------
    >>> from shared.contract.transactions import TransactionColumns
    >>> spec = TransactionSpec(columns=TransactionColumns(customer="id", date="day",
    ...     amount="total"), features=["recency_days", "frequency", "monetary"],
    ...     as_of="2024-01-31")
    >>> out = aggregate_records([{"id": 7, "day": "2024-01-02", "total": 5},
    ...     {"id": 7, "day": "2024-01-09", "total": "2.5"}, {"id": None, "day": "2024-01-09"}],
    ...     spec, date(2024, 1, 10))
    >>> out.customers, out.X.tolist(), out.dropped
    (['7'], [[1.0, 2.0, 7.5]], {'no customer id': 1})
    """
    columns = spec.columns
    as_of_day = epoch_day(as_of)
    labels: dict[str, int] = {}
    orders: dict[str, int] = {}
    products: dict[str, int] = {}
    kept_customer: list[int] = []
    kept_day: list[int] = []
    kept_return: list[bool] = []
    kept_order: list[int] = []
    kept_amount: list[float] = []
    kept_product: list[int] = []
    dropped: dict[str, int] = {}
    uses_amount = MONETARY in spec.features or AOV in spec.features
    for row, line in enumerate(lines):
        read = _LineReader(row, line)
        customer = read.label(columns.customer, spec.customer_dtype)
        if customer is None:
            dropped[DROP_NO_CUSTOMER] = dropped.get(DROP_NO_CUSTOMER, 0) + 1
            continue
        day = read.day(columns.date, spec.date_format)
        if day is None:
            dropped[DROP_NO_DATE] = dropped.get(DROP_NO_DATE, 0) + 1
            continue
        if day > as_of_day:
            raise LineError(
                f"line {row}: {quote_value(columns.date)} is after as_of {as_of.isoformat()}; "
                "recency would be negative"
            )
        amount = read.amount(columns) if uses_amount else None
        if uses_amount and amount is None:
            dropped[DROP_NO_AMOUNT] = dropped.get(DROP_NO_AMOUNT, 0) + 1
            continue
        order = read.label(columns.order, "string") if columns.order else None
        quantity = read.number(columns.quantity) if columns.quantity else None
        returned = (amount is not None and amount < 0) or (quantity is not None and quantity < 0)
        if order is not None and spec.cancel_prefix and order.startswith(spec.cancel_prefix):
            returned = True
        kept_customer.append(labels.setdefault(customer, len(labels)))
        kept_day.append(day)
        kept_return.append(returned)
        if columns.order:
            # A line without an order number is an order of its own.
            key = order if order is not None else f"\x00line {row}"
            kept_order.append(orders.setdefault(key, len(orders)))
        kept_amount.append(amount if amount is not None else 0.0)
        if columns.product:
            product = read.label(columns.product, "string")
            kept_product.append(products.setdefault(product or "", len(products)))
    if not kept_customer:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items())) or "no lines"
        raise LineError(f"no order line can be aggregated ({reasons})")
    X = aggregate_lines(
        customer=np.array(kept_customer),
        n_customers=len(labels),
        day=np.array(kept_day),
        is_return=np.array(kept_return),
        as_of_day=as_of_day,
        features=spec.features,
        order=np.array(kept_order) if columns.order else None,
        amount=np.array(kept_amount) if uses_amount else None,
        product=np.array(kept_product) if columns.product else None,
    )
    names = list(labels)
    sort = customer_order(names)
    return CustomerLines(
        customers=[names[i] for i in sort],
        X=X[sort],
        features=list(spec.features),
        lines=len(lines),
        dropped=dropped,
    )


@dataclass(frozen=True)
class _LineReader:
    row: int
    line: Mapping[str, Any]

    def _fail(self, column: str, problem: Exception) -> LineError:
        return LineError(f"line {self.row}, column {quote_value(column)}: {problem}")

    def label(self, column: str | None, dtype: str) -> str | None:
        if column is None:
            return None
        try:
            return category_label(self.line.get(column), dtype)
        except TypeError as e:
            raise self._fail(column, e) from None

    def number(self, column: str | None) -> float | None:
        if column is None:
            return None
        try:
            return parse_number(self.line.get(column))
        except (TypeError, ValueError) as e:
            raise self._fail(column, e) from None

    def day(self, column: str, date_format: str | None) -> int | None:
        value = self.line.get(column)
        if isinstance(value, int) and not isinstance(value, bool) and date_format == "%Y%m%d":
            value = str(value)  # a compact date sent as a JSON number
        try:
            moment = parse_date(value, date_format)
        except (TypeError, ValueError) as e:
            raise self._fail(column, e) from None
        return None if moment is None else epoch_day(moment.date())

    def amount(self, columns: TransactionColumns) -> float | None:
        if columns.amount:
            return self.number(columns.amount)
        quantity, price = self.number(columns.quantity), self.number(columns.price)
        return None if quantity is None or price is None else quantity * price


@dataclass(frozen=True)
class TransactionAssignments:
    """Order lines aggregated per customer and the customers' segments, in customer order."""

    customers: CustomerLines
    assignments: SegmentAssignments
    as_of: date

    def to_dicts(self) -> list[dict[str, Any]]:
        """One answer per customer: its id, its segment, and the features it was assigned on."""
        out = []
        rows = self.assignments.to_dicts()
        for customer, row, values in zip(
            self.customers.customers, rows, self.customers.records(), strict=True
        ):
            out.append({"customer_id": customer, **row, "features": values})
        return out


def assign_transactions(
    model: SegmentationModel,
    lines: Sequence[Mapping[str, Any]],
    *,
    as_of: date,
    algorithm: str | None = None,
    k: int | None = None,
) -> TransactionAssignments:
    """Aggregate order lines with the version's rules and assign each customer to a segment.

    Raises
    ------
    NotOrderLinesError
        The version was trained on a customer table.
    InvalidTransactionError
        A line cannot be read (see :func:`aggregate_records`).
    """
    summary = model.manifest.transactions
    if summary is None:
        raise NotOrderLinesError(
            f"{model.dataset} version {model.version} was trained on a customer table, not on "
            "order lines; send customers to /datasets/{dataset}/assign instead"
        )
    customers = aggregate_records(lines, summary.spec, as_of)
    result = model.assign_batch(customers.records(), algorithm=algorithm, k=k)
    return TransactionAssignments(customers, result, as_of)
