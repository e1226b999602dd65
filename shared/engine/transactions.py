"""Order-line (transaction) uploads: recognise them and aggregate them to one row per customer.

Most businesses export order or invoice lines, not a customer table. Clustering such lines would
segment lines, not customers, so :func:`to_customer_table` recognises them and aggregates each
customer's lines to recency / frequency / monetary features (and tenure, average order value,
distinct products, return share) before the normal engine runs.

Recognising order lines (``"table": "auto"``, the default)
-----------------------------------------------------------
Columns get roles from their names and values (the config's ``customer_column``,
``date_column``, ``order_column``, ``amount_column``, ``quantity_column``, ``price_column``,
``product_column`` override each one):

- **customer**: named with a customer word (customer, client, member, user, account, buyer,
  shopper...) or just ``id``; an id or a name.
- **date**: parses as dates (text, native dates, or compact ``19970101`` numbers in a column
  named like a date).
- **order**: an order word (invoice, order, transaction, receipt, basket, ticket...) that is not
  a date or an amount. **amount**: an amount word (amount, total, revenue, sales, value,
  spend...); **price**: a price word (``UnitPrice``); **quantity**: a quantity word (quantity,
  qty, units, items, ``number_of_cds``); numeric. **product**: a product word (stock, sku,
  product, item, article).

The table is order lines when it has a customer and a date column, customers repeat (at least
:data:`MIN_REPEAT_SHARE` of them have several lines), the repeat customers' lines fall on
different days (at least :data:`MIN_SPREAD_SHARE` of them: a customer table with duplicated rows
is not order lines), and there is an amount, a quantity or an order column (or nothing else
but free text and product codes). ``"table": "transactions"`` forces the aggregation (a
missing customer or date column is then an error naming it); ``"table": "customers"`` turns
it off.

Aggregation
-----------
Lines without a customer, without a valid date or (when amounts are used) without an amount are
left out and counted by reason, never merged into one customer or imputed. Returns and
cancellations (a negative amount or quantity, or an order number with the cancel prefix, such
as ``C536379``) net against purchases and are not orders. The kernel is
:func:`shared.serving.transactions.aggregate_lines`, which the API runs on lines sent for
assignment.

Customer attributes
-------------------
Any other column that holds one value per customer on all of that customer's kept lines
(missing cells aside: a country, a customer segment, an age) is carried to the customer table
as an *attribute* (at most :data:`MAX_ATTRIBUTES`, in file order). Attributes are profiled per
segment ("Country: United Kingdom 92%") and can be filtered on in the dashboard, but the
segments are formed on the aggregated features alone unless the config's ``features`` names
them. A column that varies within a customer (a product description, a line's price) is not
carried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from shared.contract.config import TRANSACTION_COLUMN_KEYS, DatasetConfig
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
    TransactionSummary,
)
from shared.engine.schema import PARSE_SHARE, guess_date_format, missing_column_error, name_words
from shared.exceptions import ConfigError, DataValidationError
from shared.quoting import quote_value
from shared.serving.transactions import (
    DROP_NO_AMOUNT,
    DROP_NO_CUSTOMER,
    DROP_NO_DATE,
    aggregate_lines,
    customer_order,
    distinct_per_customer,
    epoch_day,
)
from shared.serving.values import MISSING_TOKENS, category_label

__all__ = [
    "DROP_AFTER_AS_OF",
    "MAX_ATTRIBUTES",
    "MIN_REPEAT_SHARE",
    "MIN_SPREAD_SHARE",
    "CustomerTable",
    "LineRoles",
    "aggregation_warnings",
    "customer_config",
    "find_roles",
    "to_customer_table",
]

logger = logging.getLogger(__name__)

MAX_ATTRIBUTES = 20
"""Most per-customer attribute columns carried from the lines to the customer table."""
ATTRIBUTE_PROBE_CUSTOMERS = 2_000
"""Customers a column is first checked on before every line is (most columns that vary within
customers are rejected there: measured on 5,000,000 lines of 200,000 customers, the attribute
scan took 1.7 s checking every line of every column)."""
MIN_REPEAT_SHARE = 0.05
"""Least share of customers with more than one line for a table to be order lines."""
MIN_SPREAD_SHARE = 0.3
"""Least share of repeat customers whose lines span more than one day."""
DROP_AFTER_AS_OF = "after as_of"

_CUSTOMER_WORDS = frozenset(
    {
        "customer", "customers", "cust", "client", "clients", "member", "user", "account",
        "buyer", "shopper", "consumer", "patron", "household", "contact", "guest", "person",
    }
)  # fmt: skip
_DATE_WORDS = frozenset(
    {"date", "time", "timestamp", "datetime", "day", "dt", "when", "created", "ts", "at"}
)
_ORDER_WORDS = frozenset(
    {"invoice", "order", "transaction", "trans", "txn", "receipt", "basket", "ticket", "bill"}
)
_AMOUNT_WORDS = frozenset(
    {
        "amount", "amt", "total", "revenue", "sales", "sale", "value", "spend", "spent", "sum",
        "payment", "paid", "turnover", "subtotal", "gmv", "monetary", "dollars", "net", "gross",
    }
)  # fmt: skip
_PRICE_WORDS = frozenset({"price", "unitprice", "rate", "cost"})
_QUANTITY_WORDS = frozenset({"quantity", "qty", "units", "items", "pieces", "pcs", "count"})
_PRODUCT_WORDS = frozenset(
    {"stock", "stockcode", "sku", "product", "item", "article", "ean", "upc", "barcode", "asin"}
)
_COMPACT_DATE = "%Y%m%d"
_CANCEL_ORDER = re.compile(r"^([A-Za-z]{1,2})\d+$")


@dataclass(frozen=True)
class CustomerTable:
    """An order-line upload aggregated per customer: the table the engine clusters."""

    frame: pd.DataFrame
    """The customer column (labels, as text) then one column per feature, in customer order."""
    summary: TransactionSummary


def customer_config(config: DatasetConfig, table: CustomerTable) -> DatasetConfig:
    """The config the engine uses on the aggregated table: its customer column is the id, and
    without ``features`` in the config the aggregated features are the ones clustered (carried
    attributes are profiled, not clustered).

    Raises
    ------
    ConfigError
        The config names another ``id_column``.
    """
    customer = table.summary.spec.columns.customer
    if config.id_column not in (None, customer):
        raise ConfigError(
            f"id_column {quote_value(config.id_column)} cannot be used with order lines: the "
            f"customers are identified by customer_column {quote_value(customer)}"
        )
    update: dict[str, object] = {"id_column": customer}
    if config.features is None and table.summary.attributes:
        # The segments stay RFM segments; the carried attributes are profiled alongside.
        update["features"] = list(table.summary.spec.features)
    return config.model_copy(update=update)


def aggregation_warnings(summary: TransactionSummary) -> list[str]:
    """The run's warnings about lines left out of the aggregation, one per reason.

    Examples
    --------
    >>> from shared.contract.transactions import TransactionColumns
    >>> spec = TransactionSpec(columns=TransactionColumns(customer="c", date="d"),
    ...     features=["recency_days"], as_of="2024-01-01")
    >>> aggregation_warnings(TransactionSummary(detected="auto", lines=100, used_lines=90,
    ...     customers=9, lines_per_customer=10, repeat_share=1, dropped={"no customer id": 10},
    ...     spec=spec))
    ['10 of 100 order lines (10.0%) have no customer id and were left out (not merged into one \
customer, not imputed)']
    """
    out = []
    for reason, n in sorted(summary.dropped.items()):
        what = "are dated after as_of" if reason == DROP_AFTER_AS_OF else f"have {reason}"
        out.append(
            f"{n:,} of {summary.lines:,} order lines ({n / summary.lines:.1%}) {what} and were "
            "left out (not merged into one customer, not imputed)"
        )
    return out


@dataclass(frozen=True)
class LineRoles:
    """The column of each order-line role (``columns`` None: the ``missing`` role was not found)
    and the date column's format."""

    columns: TransactionColumns | None
    missing: str | None = None
    date_format: str | None = None


def find_roles(frame: pd.DataFrame, config: DatasetConfig) -> LineRoles:
    """The column of each order-line role (config first, then names and values).

    Raises
    ------
    MissingColumnError
        A ``*_column`` key names a column the file does not have.
    ConfigError
        A named column cannot play its role (an amount that is not numeric...).
    """
    names = [str(c) for c in frame.columns]
    for key in TRANSACTION_COLUMN_KEYS:
        wanted = getattr(config, key)
        if wanted is not None and wanted not in names:
            raise missing_column_error(key, [wanted], names)
    taken: set[str] = {getattr(config, k) for k in TRANSACTION_COLUMN_KEYS if getattr(config, k)}
    taken |= set(config.exclude)

    def pick(key: str, find: Callable[[list[str]], str | None]) -> str | None:
        named: str | None = getattr(config, key)
        if named is not None:
            return named
        found = find([n for n in names if n not in taken])
        if found is not None:
            taken.add(found)
        return found

    customer = pick("customer_column", _find_customer)
    formats: dict[str, str | None] = {}
    date_column = pick("date_column", lambda free: _find_date(frame, free, formats))
    if customer is None or date_column is None:
        role = "customer" if customer is None else "date"
        return LineRoles(None, missing=role)
    quantity = pick("quantity_column", lambda free: _find_numeric(frame, free, _is_quantity))
    amount = pick("amount_column", lambda free: _find_numeric(frame, free, _is_amount))
    price = pick("price_column", lambda free: _find_numeric(frame, free, _is_price))
    if price is not None and amount is None and quantity is None:
        amount, price = price, None  # a price without a quantity is the line's amount
    if amount is not None and price is not None and config.price_column is None:
        price = None  # the line amount is given; a unit price adds nothing
    order = pick("order_column", lambda free: _find_named(free, _is_order))
    product = pick("product_column", lambda free: _find_named(free, _is_product))
    for role, column in (("amount", amount), ("quantity", quantity), ("price", price)):
        if column is not None and _numeric_share(frame[column]) < PARSE_SHARE:
            raise ConfigError(
                f"{role} column {quote_value(column)} is not numeric: fewer than "
                f"{PARSE_SHARE:.0%} of its values are numbers"
            )
    columns = TransactionColumns(
        customer=customer,
        date=date_column,
        order=order,
        amount=amount,
        quantity=quantity,
        price=price,
        product=product,
    )
    if date_column not in formats:  # named by the config
        formats[date_column] = _date_format(frame[date_column], named=True)
        if formats[date_column] is None:
            raise ConfigError(
                f"date column {quote_value(date_column)} does not hold dates: fewer than "
                f"{PARSE_SHARE:.0%} of its values parse with one date format"
            )
    return LineRoles(columns, date_format=formats[date_column])


def to_customer_table(
    frame: pd.DataFrame, config: DatasetConfig, *, filename: str = "the file"
) -> CustomerTable | None:
    """Aggregate an order-line table per customer; None for a customer table.

    Parameters
    ----------
    frame : DataFrame
        The upload as read.
    config : DatasetConfig
        ``table`` decides (``auto``: recognise order lines); the ``*_column`` keys and
        ``as_of`` steer the aggregation.
    filename : str
        Shown in messages.

    Returns
    -------
    CustomerTable or None
        The customer table and the summary of the aggregation, or None when the upload is
        a customer table (or the config says so).

    Raises
    ------
    ConfigError
        ``table`` is ``transactions`` but the file has no customer or date column (named), or a
        named column cannot play its role.
    DataValidationError
        No line can be aggregated (every line lacks a customer, a date or an amount).

    Examples
    --------
    >>> lines = pd.DataFrame({"CustomerID": [1, 1, 2, 2, 3],
    ...     "InvoiceDate": ["2024-01-01", "2024-02-01", "2024-01-15", "2024-01-20", "2024-02-01"],
    ...     "Amount": [10.0, 20.0, 5.0, 5.0, 40.0]})
    >>> table = to_customer_table(lines, DatasetConfig())
    >>> table.frame
      CustomerID  recency_days  frequency  monetary  tenure_days  avg_order_value
    0          1           0.0        2.0      30.0         31.0             15.0
    1          2          12.0        2.0      10.0         17.0              5.0
    2          3           0.0        1.0      40.0          0.0             40.0
    >>> to_customer_table(lines.drop_duplicates("CustomerID"), DatasetConfig()) is None
    True
    """
    if config.table == "customers":
        return None
    roles = find_roles(frame, config)
    if roles.columns is None:
        if config.table == "transactions":
            key = f"{roles.missing}_column"
            raise ConfigError(
                f'table is "transactions" but no {roles.missing} column was found in '
                f"{filename}; name it with {quote_value(key)}"
            )
        return None
    try:
        lines = _Lines.parse(frame, roles.columns, roles.date_format)
    except TypeError as e:  # nested cells (a Parquet list column) cannot be a customer or date
        if config.table == "auto":
            return None
        raise ConfigError(
            f"customer column {quote_value(roles.columns.customer)} or date column "
            f"{quote_value(roles.columns.date)} holds nested values, not ids or dates"
        ) from e
    repeat, spread = lines.repetition()
    if config.table == "auto":
        if repeat < MIN_REPEAT_SHARE or spread < MIN_SPREAD_SHARE:
            return None
        if not _has_line_measures(frame, roles.columns):
            return None
    return lines.aggregate(config, roles.columns, detected=config.table, repeat=repeat)


def _has_line_measures(frame: pd.DataFrame, columns: TransactionColumns) -> bool:
    """An amount, quantity or order column, or nothing but text and codes beside the roles."""
    if columns.amount or columns.quantity or columns.order:
        return True
    roles = {columns.customer, columns.date, columns.product}
    others = [c for c in frame.columns if c not in roles]
    return not any(_numeric_share(frame[c]) >= PARSE_SHARE for c in others)


# --- roles from names and values --------------------------------------------------------------


def _find_customer(names: list[str]) -> str | None:
    for name in names:
        if any(w in _CUSTOMER_WORDS for w in name_words(name)):
            return name
    return next((n for n in names if name_words(n) == ["id"]), None)


def _find_named(names: list[str], test: Callable[[list[str]], bool]) -> str | None:
    return next((n for n in names if test(name_words(n))), None)


def _find_numeric(
    frame: pd.DataFrame, names: list[str], test: Callable[[list[str]], bool]
) -> str | None:
    return next(
        (n for n in names if test(name_words(n)) and _numeric_share(frame[n]) >= PARSE_SHARE),
        None,
    )


def _is_amount(words: list[str]) -> bool:
    if any(w in _AMOUNT_WORDS for w in words):
        return not (any(w in _PRICE_WORDS for w in words) and "unit" in words)
    return False


def _is_price(words: list[str]) -> bool:
    return any(w in _PRICE_WORDS for w in words)


def _is_quantity(words: list[str]) -> bool:
    if any(w in _PRICE_WORDS or w in _AMOUNT_WORDS for w in words):
        return False
    if any(w in _QUANTITY_WORDS for w in words):
        return True
    return len(words) >= 3 and words[0] in ("number", "num", "no") and words[1] == "of"


def _is_order(words: list[str]) -> bool:
    if not any(w in _ORDER_WORDS for w in words):
        return False
    other = _DATE_WORDS | _AMOUNT_WORDS | _PRICE_WORDS | _QUANTITY_WORDS | {"status", "type"}
    return not any(w in other for w in words)


def _is_product(words: list[str]) -> bool:
    if not any(w in _PRODUCT_WORDS for w in words):
        return False
    other = _PRICE_WORDS | _AMOUNT_WORDS | _QUANTITY_WORDS | {"description", "desc", "category"}
    return not any(w in other for w in words)


def _numeric_share(series: pd.Series) -> float:
    if ptypes.is_bool_dtype(series.dtype):
        return 0.0
    if ptypes.is_numeric_dtype(series.dtype):
        return 1.0
    present = series.dropna()
    if present.empty:
        return 0.0
    sample = present.iloc[:1000]
    try:
        return float(pd.to_numeric(sample, errors="coerce").notna().mean())
    except TypeError:  # nested cells (Parquet structs, lists, maps) are not numbers
        return 0.0


def _find_date(frame: pd.DataFrame, names: list[str], formats: dict[str, str | None]) -> str | None:
    """A date column: named like one and parsing, else any text column that parses."""
    named = [n for n in names if any(w in _DATE_WORDS for w in name_words(n))]
    for name in [*named, *(n for n in names if n not in named)]:
        formats[name] = _date_format(frame[name], named=name in named)
        if formats[name] is not None:
            return name
    return None


def _date_format(series: pd.Series, *, named: bool) -> str | None:
    """The column's date format (``""``: ISO or native dates), None when it is not dates."""
    if ptypes.is_datetime64_any_dtype(series.dtype):
        return ""
    if ptypes.is_integer_dtype(series.dtype) or ptypes.is_float_dtype(series.dtype):
        if not named:
            return None
        values = series.dropna()
        if values.empty or not (values == np.floor(values)).all():
            return None
        if not values.between(1_000_01_01, 2_999_12_31).all():
            return None
        sample = values.iloc[:500].astype(np.int64).astype(str)
        parsed = pd.to_datetime(sample, format=_COMPACT_DATE, errors="coerce")
        return _COMPACT_DATE if float(parsed.notna().mean()) >= PARSE_SHARE else None
    if not (ptypes.is_object_dtype(series.dtype) or ptypes.is_string_dtype(series.dtype)):
        return None
    try:
        uniques = np.asarray(pd.unique(series.dropna()), dtype=object)  # iterating Arrow is slow
    except TypeError:  # nested cells (Parquet structs, lists, maps) are not dates
        return None
    distinct = [v for v in uniques if isinstance(v, str)]
    if not distinct:
        return None
    return guess_date_format(pd.Series(distinct, dtype=object))


# --- parsing and aggregation ------------------------------------------------------------------


@dataclass
class _Lines:
    """The order lines as codes: the kernel's input."""

    customer: np.ndarray  # label code per line, -1: no customer
    labels: list[str]
    customer_dtype: str
    day: np.ndarray  # days since 1970-01-01, -2**62: no valid date
    date_format: str | None
    n_lines: int
    frame: pd.DataFrame

    _NO_DAY = -(2**62)

    @classmethod
    def parse(
        cls, frame: pd.DataFrame, columns: TransactionColumns, date_format: str | None
    ) -> _Lines:
        raw = frame[columns.customer]
        dtype = "integer" if ptypes.is_numeric_dtype(raw.dtype) else "string"
        customer, labels = _label_codes(raw, dtype)
        day = _days(frame[columns.date], date_format)
        return cls(
            customer=customer.astype(np.int64),
            labels=labels,
            customer_dtype=dtype,
            day=day,
            date_format=date_format or None,
            n_lines=len(frame),
            frame=frame,
        )

    def repetition(self) -> tuple[float, float]:
        """Share of customers with several lines, and of those, with lines on several days."""
        known = (self.customer >= 0) & (self.day != self._NO_DAY)
        if not known.any():
            return 0.0, 0.0
        customer, day = self.customer[known], self.day[known]
        lines = np.bincount(customer, minlength=len(self.labels))
        present = lines > 0
        repeat = lines > 1
        days = distinct_per_customer(customer, day, len(self.labels))
        repeat_share = float(repeat.sum() / max(present.sum(), 1))
        spread_share = float((days[repeat] > 1).sum() / max(repeat.sum(), 1))
        return repeat_share, spread_share

    def aggregate(
        self,
        config: DatasetConfig,
        columns: TransactionColumns,
        *,
        detected: str,
        repeat: float,
    ) -> CustomerTable:
        frame = self.frame
        dropped: dict[str, int] = {}
        keep = self.customer >= 0
        _count(dropped, DROP_NO_CUSTOMER, ~keep)
        has_day = self.day != self._NO_DAY
        _count(dropped, DROP_NO_DATE, keep & ~has_day)
        keep &= has_day
        quantity = _numbers(frame[columns.quantity]) if columns.quantity else None
        amount: np.ndarray | None = None
        if columns.amount:
            amount = _numbers(frame[columns.amount])
        elif quantity is not None and columns.price:
            amount = quantity * _numbers(frame[columns.price])
        if amount is not None:
            _count(dropped, DROP_NO_AMOUNT, keep & np.isnan(amount))
            keep &= ~np.isnan(amount)
        if not keep.any():
            reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(dropped.items()))
            raise DataValidationError(
                f"none of the {self.n_lines:,} order lines can be aggregated ({reasons})"
            )
        if config.as_of is not None:
            as_of = date.fromisoformat(config.as_of)
            late = keep & (self.day > epoch_day(as_of))
            _count(dropped, DROP_AFTER_AS_OF, late)
            keep &= ~late
            if not keep.any():
                raise DataValidationError(f"every order line is dated after as_of {config.as_of}")
        else:
            as_of = _day_of(int(self.day[keep].max()))
        is_return = np.zeros(self.n_lines, dtype=bool)
        if amount is not None:
            is_return |= amount < 0
        if quantity is not None:
            is_return |= np.nan_to_num(quantity) < 0
        order_codes = None
        cancel_prefix = None
        if columns.order:
            order_codes, order_labels = _label_codes(frame[columns.order])
            cancel_prefix = _cancel_prefix(order_labels, order_codes, is_return)
            if cancel_prefix is not None:
                cancelled = np.array([s.startswith(cancel_prefix) for s in order_labels] + [False])
                is_return |= cancelled[order_codes]
            # A line without an order number is an order of its own.
            alone = order_codes < 0
            order_codes = np.where(alone, len(order_labels) + np.arange(self.n_lines), order_codes)
        product_codes = None
        if columns.product:
            product_codes, _ = _label_codes(frame[columns.product])
        features = [RECENCY, FREQUENCY]
        if amount is not None:
            features.append(MONETARY)
        features.append(TENURE)
        if amount is not None:
            features.append(AOV)
        if product_codes is not None:
            features.append(PRODUCTS)
        if amount is not None and bool(is_return[keep].any()):
            features.append(RETURN_SHARE)
        # Re-code the kept customers 0..n-1 (a customer whose every line was dropped is gone).
        kept = self.customer[keep]
        present = np.bincount(kept, minlength=len(self.labels)) > 0
        used = np.flatnonzero(present)
        customer = (np.cumsum(present) - 1)[kept]
        X = aggregate_lines(
            customer=customer,
            n_customers=len(used),
            day=self.day[keep],
            is_return=is_return[keep],
            as_of_day=epoch_day(as_of),
            features=features,
            order=None if order_codes is None else order_codes[keep],
            amount=None if amount is None else amount[keep],
            product=None if product_codes is None else np.maximum(product_codes[keep], -1) + 1,
        )
        labels = [self.labels[i] for i in used]
        sort = customer_order(labels)
        out = pd.DataFrame(X[sort], columns=features)
        out.insert(0, columns.customer, pd.Series([labels[i] for i in sort], dtype=object))
        attributes = _customer_attributes(
            frame, columns, keep, customer, len(used), reserved={*features, *out.columns}
        )
        for name, values in attributes.items():
            out[name] = values.iloc[sort].reset_index(drop=True)
        spec = TransactionSpec(
            columns=columns,
            date_format=self.date_format,
            customer_dtype="integer" if self.customer_dtype == "integer" else "string",
            cancel_prefix=cancel_prefix,
            features=features,
            as_of=as_of.isoformat(),
        )
        used_lines = int(keep.sum())
        days = self.day[keep]
        summary = TransactionSummary(
            detected="auto" if detected == "auto" else "config",
            evidence=[
                *_evidence(columns, spec, detected, repeat, len(used), used_lines),
                *(
                    [f"one value per customer, carried and profiled per segment: {named}"]
                    if (named := ", ".join(quote_value(a) for a in attributes))
                    else []
                ),
            ],
            lines=self.n_lines,
            used_lines=used_lines,
            customers=len(used),
            lines_per_customer=round(used_lines / len(used), 3),
            repeat_share=round(repeat, 4),
            dropped={k: v for k, v in dropped.items() if v},
            return_lines=int(is_return[keep].sum()),
            first_date=_day_of(int(days.min())).isoformat(),
            last_date=_day_of(int(days.max())).isoformat(),
            attributes=list(attributes),
            spec=spec,
        )
        logger.info(
            "order lines aggregated",
            extra={"lines": self.n_lines, "customers": len(used), "dropped": summary.dropped},
        )
        return CustomerTable(out, summary)


def _customer_attributes(
    frame: pd.DataFrame,
    columns: TransactionColumns,
    keep: np.ndarray,
    customer: np.ndarray,
    n_customers: int,
    *,
    reserved: set[str],
) -> dict[str, pd.Series]:
    """The columns with one value per customer on its kept lines, as one value per customer.

    ``customer`` is the kept lines' customer code (``0..n_customers-1``); the values come back
    in that code order. Role columns, names in ``reserved`` and nested values are skipped; at
    most :data:`MAX_ATTRIBUTES` columns, in file order. Missing cells do not count as a value
    (a customer whose lines are all missing gets a missing value).

    Examples
    --------
    >>> lines = pd.DataFrame({"c": [1, 1, 2], "d": ["x", "x", "y"], "Country": ["UK", "UK", "FR"],
    ...                       "Item": ["pen", "cup", "pen"]})
    >>> roles = TransactionColumns(customer="c", date="d")
    >>> out = _customer_attributes(lines, roles, np.ones(3, bool), np.array([0, 0, 1]), 2,
    ...                            reserved=set())
    >>> list(out), out["Country"].tolist()
    (['Country'], ['UK', 'FR'])
    """
    roles = {name for name in columns.model_dump().values() if isinstance(name, str)}
    out: dict[str, pd.Series] = {}
    # A column that varies within customers usually shows it within the first few thousand
    # customers: checked there first, it is rejected without coding every line.
    probe = customer < ATTRIBUTE_PROBE_CUSTOMERS
    kept_rows = np.flatnonzero(keep)
    for name in frame.columns:
        if len(out) >= MAX_ATTRIBUTES:
            break
        if name in roles or name in reserved or not isinstance(name, str):
            continue
        series = frame[name]  # factorized as stored (Arrow strings stay Arrow)
        try:
            probed = _one_code_each(series.iloc[kept_rows[probe]], customer[probe], n_customers)
            found = probed and _one_code_each(series.iloc[kept_rows], customer, n_customers)
        except TypeError:  # nested cells (a Parquet list column)
            continue
        if not found:
            continue
        codes, uniques = found
        known = codes >= 0
        if not known.any():
            continue
        per_customer = np.full(n_customers, -1, dtype=np.int64)
        per_customer[customer[known]] = codes[known]
        column = pd.Series(uniques).take(np.maximum(per_customer, 0)).reset_index(drop=True)
        out[name] = column.where(pd.Series(per_customer >= 0))
    return out


def _one_code_each(
    values: pd.Series, customer: np.ndarray, n_customers: int
) -> tuple[np.ndarray, Any] | None:
    """The codes (-1: missing) and distinct values of ``values`` when every customer has at
    most one distinct non-missing value among them, else None."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes)
    known = codes >= 0
    if distinct_per_customer(customer[known], codes[known], n_customers).max() > 1:
        return None
    return codes, uniques


def _count(dropped: dict[str, int], reason: str, mask: np.ndarray) -> None:
    n = int(mask.sum())
    if n:
        dropped[reason] = dropped.get(reason, 0) + n


def _day_of(epoch: int) -> date:
    return date.fromordinal(epoch + date(1970, 1, 1).toordinal())


def _numbers(series: pd.Series) -> np.ndarray:
    values = np.array(
        pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    )
    values[~(np.abs(values) <= 1e15)] = np.nan
    return values


def _label_codes(series: pd.Series, dtype: str = "string") -> tuple[np.ndarray, list[str]]:
    """Codes of the category labels of a column (-1: missing) and the labels.

    The labels are :func:`~shared.serving.values.category_label` of each distinct value (what
    the API computes for one line); plain text and integer columns take a vectorised route to
    the same labels.

    Examples
    --------
    >>> codes, labels = _label_codes(pd.Series([" A1", "A1", None, "NULL", 7.0, "b"]))
    >>> codes.tolist(), labels
    ([0, 0, -1, -1, 1, 2], ['A1', '7', 'b'])
    """
    codes, uniques = pd.factorize(series, sort=False)
    unique_labels = _labels_of(np.asarray(uniques, dtype=object), dtype)
    label_codes, labels = pd.factorize(pd.Series(unique_labels, dtype=object), sort=False)
    return np.append(label_codes, -1)[codes].astype(np.int64), [str(v) for v in labels]


def _labels_of(uniques: np.ndarray, dtype: str) -> list[str | None]:
    """``category_label`` of each value (vectorised for all-text and all-integer values)."""
    if dtype == "string" and uniques.size and all(type(v) is str for v in uniques):
        stripped = pd.Series(uniques, dtype=object).str.strip()
        missing = (stripped == "") | stripped.isin(MISSING_TOKENS)
        return [None if m else v for v, m in zip(stripped.tolist(), missing.tolist(), strict=True)]
    if uniques.size and all(type(v) in (int, np.int64) for v in uniques):
        return [str(int(v)) for v in uniques]
    if uniques.size and all(type(v) in (float, np.float64) for v in uniques):
        numbers = uniques.astype(np.float64)
        if bool(np.all((numbers == np.floor(numbers)) & (np.abs(numbers) < 2**53))):
            return [str(v) for v in numbers.astype(np.int64).tolist()]
    return [category_label(u, dtype) for u in uniques]


def _days(series: pd.Series, date_format: str | None) -> np.ndarray:
    """Days since 1970-01-01 of each value (``_Lines._NO_DAY`` when missing or not a date)."""
    missing = np.full(len(series), _Lines._NO_DAY, dtype=np.int64)
    if date_format is None:
        return missing
    codes, uniques = pd.factorize(series, sort=False)
    if ptypes.is_datetime64_any_dtype(series.dtype):
        moments = pd.Series(uniques)
        if getattr(moments.dt, "tz", None) is not None:
            moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        values = np.asarray(uniques, dtype=object)
        if date_format == _COMPACT_DATE:
            values = np.array(
                [str(int(v)) if isinstance(v, int | float | np.number) else v for v in values],
                dtype=object,
            )
        text = pd.Series([v.strip() if isinstance(v, str) else None for v in values], dtype=object)
        moments = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce", utc=True)
        retry = moments.isna() & text.notna()
        if date_format and retry.any():
            moments[retry] = pd.to_datetime(
                text[retry], format="ISO8601", errors="coerce", utc=True
            )
        moments = moments.dt.tz_localize(None)
    days = moments.to_numpy(dtype="datetime64[D]")
    per_unique = np.where(np.isnat(days), _Lines._NO_DAY, days.astype(np.int64))
    return np.append(per_unique, _Lines._NO_DAY)[codes]


def _cancel_prefix(labels: list[str], codes: np.ndarray, is_return: np.ndarray) -> str | None:
    """A letter prefix marking cancelled orders (``C536379``): on a minority of order numbers
    that are otherwise digits, whose lines are mostly returns (negative amounts or quantities)."""
    if not labels:
        return None
    prefixes = [m.group(1) if (m := _CANCEL_ORDER.match(s)) else None for s in labels]
    digits = sum(s.isdigit() for s in labels)
    counts: dict[str, int] = {}
    for prefix in prefixes:
        if prefix is not None:
            counts[prefix] = counts.get(prefix, 0) + 1
    if not counts or digits < len(labels) / 2:
        return None
    prefix, n = max(counts.items(), key=lambda item: (item[1], item[0]))
    if n >= len(labels) / 2:
        return None
    marked = np.array([p == prefix for p in prefixes] + [False])[codes]
    if not marked.any() or float(is_return[marked].mean()) < 0.5:
        return None
    return prefix


def _evidence(
    columns: TransactionColumns,
    spec: TransactionSpec,
    detected: str,
    repeat: float,
    customers: int,
    lines: int,
) -> list[str]:
    how = "recognised as order lines" if detected == "auto" else 'config "table": "transactions"'
    out = [
        f"{how}: {lines:,} lines for {customers:,} customers ({lines / customers:.1f} per "
        f"customer; {repeat:.0%} of customers have more than one line)",
        f"customer: {quote_value(columns.customer)}; date: {quote_value(columns.date)}"
        + (f" (format {spec.date_format})" if spec.date_format else ""),
    ]
    if columns.order:
        out.append(f"order: {quote_value(columns.order)} (frequency = distinct orders)")
    else:
        out.append("no order column: frequency = distinct purchase days")
    if spec.monetary_source:
        out.append(f"amount: {spec.monetary_source} (monetary = net amount)")
    else:
        out.append("no amount column: no monetary features")
    if columns.product:
        out.append(f"product: {quote_value(columns.product)}")
    if spec.cancel_prefix:
        out.append(f"orders starting with {quote_value(spec.cancel_prefix)} are cancellations")
    out.append(f"recency and tenure counted to {spec.as_of}")
    return out
