"""Load test of the local stack over HTTP: concurrent clients, mixed requests, bounded time.

1. Starts the local stack in this process (:class:`cli.localstack.LocalStack`: moto server for
   S3 + SQS, the queue dispatcher running the training handler, the API under uvicorn), all on
   127.0.0.1.
2. Trains the Mall model the way a user does (config + upload -> notification -> queue ->
   training handler -> models bucket) and waits for the version.
3. In a separate process (so the clients do not share the server's interpreter lock), drives the
   API with ``--clients`` concurrent asyncio clients (httpx) for ``--seconds``: a weighted mix of
   single-customer assigns, 100-customer batch assigns, segment listings and health checks.
4. Prints, per request type and overall: requests, throughput, p50 and p99 latency, errors (any
   non-2xx answer or transport error). The goal is zero errors.

Traffic goes ONLY to 127.0.0.1 (checked before any request; proxies from the environment are
ignored).

Usage: ``python -m bench.load [--seconds 20] [--clients 16] [--dataset mall]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
MALL = ROOT / "data" / "mall_customers.csv"
MALL_CONFIG = ROOT / "data" / "mall_config.json"
LOOPBACK = "127.0.0.1"

MIX: dict[str, int] = {"assign_1": 50, "assign_100": 15, "segments": 20, "health": 15}
"""Request type -> weight."""


@dataclass
class Stats:
    """Latencies (seconds) and errors of one request type."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


def _customers() -> list[dict[str, Any]]:
    with MALL.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {k: (v if k == "Gender" else int(v)) for k, v in row.items() if k != "CustomerID"}
        for row in rows
    ]


def _request(
    kind: str, dataset: str, rng: random.Random, customers: list[dict[str, Any]]
) -> tuple[str, str, Any]:
    if kind == "assign_1":
        return "POST", f"/datasets/{dataset}/assign", {"customers": [rng.choice(customers)]}
    if kind == "assign_100":
        return "POST", f"/datasets/{dataset}/assign", {"customers": rng.sample(customers, 100)}
    if kind == "segments":
        return "GET", f"/datasets/{dataset}/segments", None
    return "GET", "/health", None


async def _client(
    client: Any, dataset: str, seed: int, deadline: float, stats: dict[str, Stats]
) -> None:
    rng = random.Random(seed)
    customers = _customers()
    kinds, weights = list(MIX), list(MIX.values())
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        method, path, body = _request(kind, dataset, rng, customers)
        entry = stats[kind]
        started = time.perf_counter()
        try:
            response = await client.request(method, path, json=body)
            elapsed = time.perf_counter() - started
            entry.statuses[response.status_code] = entry.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 300:
                entry.errors += 1
                if len(entry.examples) < 3:
                    entry.examples.append(f"{response.status_code} {response.text[:200]}")
                continue
            if kind.startswith("assign"):
                answer = response.json()
                if len(answer["assignments"]) != len(body["customers"]):
                    entry.errors += 1
                    continue
        except Exception as e:  # transport errors count as errors
            entry.errors += 1
            if len(entry.examples) < 3:
                entry.examples.append(f"{type(e).__name__}: {e}")
            continue
        entry.latencies.append(elapsed)


async def _drive(base_url: str, dataset: str, clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    stats = {kind: Stats() for kind in MIX}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30.0, limits=limits, trust_env=False
    ) as client:
        # Warm up: load the model in the API before timing anything.
        for _ in range(3):
            await client.post(f"/datasets/{dataset}/assign", json={"customers": _customers()[:5]})
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(client, dataset, seed, deadline, stats) for seed in range(clients))
        )
        wall = time.perf_counter() - started
    return {
        "wall": wall,
        "stats": {k: {"latencies": s.latencies, "errors": s.errors, "statuses": s.statuses,
                      "examples": s.examples} for k, s in stats.items()},
    }  # fmt: skip


def _client_process(base_url: str, dataset: str, clients: int, seconds: float, out: Any) -> None:
    out.send(asyncio.run(_drive(base_url, dataset, clients, seconds)))
    out.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(result: dict[str, Any], clients: int) -> int:
    """Print the table; return the total number of errors."""
    wall = result["wall"]
    rows = []
    every: list[float] = []
    total_errors = 0
    for kind, entry in result["stats"].items():
        latencies = entry["latencies"]
        every += latencies
        total_errors += entry["errors"]
        rows.append((kind, len(latencies) + entry["errors"], latencies, entry["errors"]))
    rows.append(("all", sum(r[1] for r in rows), every, total_errors))
    print(f"\n{clients} concurrent clients for {wall:.1f} s against 127.0.0.1")
    print(f"{'request':<12}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, count, latencies, errors in rows:
        print(
            f"{kind:<12}{count:>8}{count / wall:>9.1f}{_percentile(latencies, 50) * 1e3:>9.1f}"
            f"{_percentile(latencies, 99) * 1e3:>9.1f}{errors:>8}"
        )
    for kind, entry in result["stats"].items():
        for example in entry["examples"]:
            print(f"  {kind} error: {example}")
    if every:
        print(f"mean latency {statistics.fmean(every) * 1e3:.1f} ms")
    return total_errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load test of the local stack over HTTP.")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--dataset", default="mall")
    args = parser.parse_args(argv)

    from cli.localstack import LocalStack, LocalStackConfig

    started = time.perf_counter()
    with LocalStack(LocalStackConfig(host=LOOPBACK, api_port=0)) as stack:
        url = stack.api_url
        if urlsplit(url).hostname != LOOPBACK:
            raise SystemExit(f"refusing to load anything but {LOOPBACK}: {url}")
        print(f"local stack up in {time.perf_counter() - started:.1f} s; API at {url}")
        step = time.perf_counter()
        manifest = stack.train(MALL, dataset=args.dataset, config=MALL_CONFIG, timeout=600)
        print(
            f"trained {args.dataset} version {manifest.version} (champion {manifest.champion}) "
            f"in {time.perf_counter() - step:.1f} s through S3 -> SQS -> training handler"
        )
        ctx = mp.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_client_process, args=(url, args.dataset, args.clients, args.seconds, sender)
        )
        process.start()
        sender.close()
        result = receiver.recv()
        process.join(timeout=60)
    errors = report(result, args.clients)
    print(json.dumps({"errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
