"""Benchmark of an order-line upload: lines aggregated per customer, then the whole training run.

A synthetic shop export (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
CustomerID, Country; cancellations as ``C`` invoices with negative quantities; some lines without
a customer) with three kinds of customers (frequent big spenders, lapsed one-time buyers, new
customers) is written once as CSV, then measured in fresh child processes:

- ``train``: the whole ``train_segments`` run on the file, no config (read, recognise the order
  lines, aggregate per customer, then the normal engine); its ``aggregate`` stage timing, wall
  time and peak resident memory (``ru_maxrss`` of the child: interpreter, imports and data);
- ``floor``: the same file read by ``pandas.read_csv`` and aggregated by a plain pandas
  ``groupby`` (last and first date, distinct invoices, net amount per customer): what a data
  scientist would write by hand, with no recognition, no validation and no clustering.

The file is generated in a child as well: Linux carries a process's peak resident set across
``fork`` and ``exec``, so a parent that built the table would lend its peak to every child.

Printed: the run's time and peak against Lambda's limits (10,240 MB maximum, 3,008 MB in a new
account, 900 s timeout), the stage timings, and the ratios aggregate / floor's aggregation and
whole run / floor, measured side by side in one run (children alternate with ``--repeat N``;
medians are printed).

Usage: ``python -m bench.orders [--lines 5m] [--customers 200k] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file (`python bench/x.py`, make bench) too
    sys.path.insert(1, str(ROOT))

from bench.children import peak_mb, run_child  # noqa: E402

LAMBDA_MAX_MB = 10_240
NEW_ACCOUNT_MB = 3_008
LAMBDA_TIMEOUT_S = 900
_WORDS = np.array(
    ["WHITE HANGING HEART T-LIGHT HOLDER", "REGENCY CAKESTAND 3 TIER", "JUMBO BAG RED RETROSPOT",
     "PARTY BUNTING", "LUNCH BAG RED RETROSPOT", "ASSORTED COLOUR BIRD ORNAMENT",
     "SET OF 3 CAKE TINS PANTRY DESIGN", "PACK OF 72 RETROSPOT CAKE CASES"]
)  # fmt: skip


def _count(text: str) -> int:
    """``5m`` -> 5,000,000; ``200k`` -> 200,000.

    Examples
    --------
    >>> _count("5m"), _count("200k"), _count("1500")
    (5000000, 200000, 1500)
    """
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def order_lines_csv(n_lines: int, n_customers: int, path: Path, *, seed: int = 0) -> int:
    """Write about ``n_lines`` order lines of ``n_customers`` customers to ``path``; return lines.

    A third of the customers are frequent buyers (most of the lines), a third lapsed one-time
    buyers, a third new customers with one or two recent orders; 2 % of the orders are followed by
    a cancellation, 0.2 % of the lines have no customer id.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = np.arange(n_customers) % 3
    light = (n_customers - int((group == 0).sum())) * 1.5 * 1.5
    per_frequent = max(1.0, (n_lines - light) / max(int((group == 0).sum()), 1) / 4.5)
    orders = np.where(
        group == 0,
        np.maximum(2, rng.poisson(per_frequent, n_customers)),
        np.where(group == 1, 1, rng.integers(1, 3, n_customers)),
    )
    customer = np.repeat(np.arange(n_customers), orders)
    g = group[customer]
    age = np.where(g == 0, rng.integers(0, 365, customer.size), 0)
    age = np.where(g == 1, rng.integers(300, 400, customer.size), age)
    age = np.where(g == 2, rng.integers(0, 30, customer.size), age)
    per_order = np.where(g == 0, rng.integers(2, 8, g.size), rng.integers(1, 3, g.size))
    line_order = np.repeat(np.arange(customer.size), per_order)
    n = line_order.size
    moment = (
        np.datetime64("2024-06-30T00:00") - age[line_order].astype("timedelta64[D]")
    ) + rng.integers(8 * 60, 20 * 60, n).astype("timedelta64[m]")
    invoice = (1_000_000 + line_order).astype(str).astype(object)
    quantity = rng.integers(1, 13, n)
    cancel = rng.random(customer.size) < 0.02
    cancelled_line = cancel[line_order] & (np.r_[True, line_order[1:] != line_order[:-1]])
    invoice[cancelled_line] = "C" + invoice[cancelled_line]
    quantity[cancelled_line] = -quantity[cancelled_line]
    customer_id = (10_000 + customer[line_order]).astype(float)
    customer_id[rng.random(n) < 0.002] = np.nan
    frame = pd.DataFrame(
        {
            "InvoiceNo": invoice,
            "StockCode": (20_000 + rng.integers(0, 4_000, n)).astype(str),
            "Description": _WORDS[rng.integers(0, _WORDS.size, n)],
            "Quantity": quantity,
            "InvoiceDate": pd.Series(moment).dt.strftime("%m/%d/%Y %H:%M"),
            "UnitPrice": np.round(
                np.where(g[line_order] == 0, rng.uniform(2, 30, n), rng.uniform(0.5, 5, n)), 2
            ),
            "CustomerID": customer_id,
            "Country": np.where(rng.random(n) < 0.9, "United Kingdom", "France"),
        }
    )
    frame.to_csv(path, index=False)
    return n


def _child_train(table: Path) -> dict[str, Any]:
    import sklearn.cluster  # noqa: F401  (imported before the clock, as in bench.train)

    from shared.training.pipeline import train_segments

    data = table.read_bytes()
    started = time.perf_counter()
    output = train_segments(data, filename=table.name, dataset="bench-orders")
    seconds = time.perf_counter() - started
    assert output.transactions is not None, "the order lines were not recognised"
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "timings": output.timings,
        "customers": output.transactions.customers,
        "lines": output.transactions.lines,
        "dropped": output.transactions.dropped,
        "champion": output.champion,
        "k": output.algorithms[output.champion].n_segments,
    }


def _child_floor(table: Path) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(table)
    read = time.perf_counter() - started
    frame = frame.dropna(subset=["CustomerID"])
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M")
    frame["amount"] = frame["Quantity"] * frame["UnitPrice"]
    bought = frame[~frame["InvoiceNo"].astype(str).str.startswith("C")]
    grouped = frame.groupby("CustomerID")
    out = pd.DataFrame(
        {
            "last": grouped["InvoiceDate"].max(),
            "first": grouped["InvoiceDate"].min(),
            "monetary": grouped["amount"].sum(),
            "frequency": bought.groupby("CustomerID")["InvoiceNo"].nunique(),
        }
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "read": read, "aggregate": seconds - read, "customers": len(out),
            "peak_mb": peak_mb()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Generate the file, measure train and floor children (alternating), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="5m", help="order lines (default 5m)")
    parser.add_argument("--customers", default="200k", help="customers (default 200k)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each child (medians)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, table, *sizes = args.child
        if kind == "generate":
            lines = order_lines_csv(int(sizes[0]), int(sizes[1]), Path(table))
            print(json.dumps({"lines": lines}))
            return 0
        result = _child_train(Path(table)) if kind == "train" else _child_floor(Path(table))
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "order_lines.csv"
        started = time.perf_counter()
        # Generated in a child too: Linux keeps a process's peak resident set across fork and
        # exec, so a parent that built the table would lend its peak to every measured child.
        sizes = (str(_count(args.lines)), str(_count(args.customers)))
        n = int(run_child("bench.orders", "generate", str(path), *sizes)["lines"])
        print(
            f"order lines: {n:,} lines, {path.stat().st_size / 2**20:,.0f} MB CSV "
            f"(written in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        trains, floors = [], []
        for _ in range(max(1, args.repeat)):
            floors.append(run_child("bench.orders", "floor", str(path)))
            trains.append(run_child("bench.orders", "train", str(path)))
    train = sorted(trains, key=lambda r: r["seconds"])[(len(trains) - 1) // 2]
    floor = sorted(floors, key=lambda r: r["seconds"])[(len(floors) - 1) // 2]
    peak = float(np.median([r["peak_mb"] for r in trains]))
    timings = train["timings"]
    print(
        f"train: {train['seconds']:.1f} s, peak {peak:,.0f} MB; {train['lines']:,} lines -> "
        f"{train['customers']:,} customers (left out: {train['dropped']}); champion "
        f"{train['champion']} with {train['k']} segments"
    )
    print("  stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if ":" not in k))
    print(
        f"floor (pandas read_csv + groupby): {floor['seconds']:.1f} s (read {floor['read']:.1f} s,"
        f" aggregate {floor['aggregate']:.1f} s), peak {floor['peak_mb']:,.0f} MB"
    )
    print(
        f"ratios: read+aggregate / floor = "
        f"{(timings['read'] + timings['aggregate']) / floor['seconds']:.2f}x; aggregate / floor "
        f"aggregate = {timings['aggregate'] / floor['aggregate']:.2f}x; whole run / floor = "
        f"{train['seconds'] / floor['seconds']:.2f}x"
    )
    print(
        f"Lambda: peak {peak:,.0f} MB of {LAMBDA_MAX_MB:,} MB maximum "
        f"({'fits' if peak < LAMBDA_MAX_MB else 'DOES NOT FIT'}), of {NEW_ACCOUNT_MB:,} MB in a "
        f"new account ({'fits' if peak < NEW_ACCOUNT_MB else 'does not fit'}); "
        f"{train['seconds']:.0f} s of the {LAMBDA_TIMEOUT_S} s timeout"
    )
    if args.repeat > 1:
        print(f"runs: train {[round(r['seconds'], 1) for r in trains]}, "
              f"floor {[round(r['seconds'], 1) for r in floors]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
