"""Benchmark of a training run against a plain scikit-learn K-Means k-sweep.

For each table (the Mall file; synthetic 100k and 1M customer tables with 8 numeric and 1
categorical column and real cluster structure) it measures, each in a fresh child process:

- ``whole run``: the whole ``train_segments`` run (read, validate, prepare, four algorithms with
  their sweeps, metrics, selection, profiles for every model, plots, report, artifacts);
- ``comparison``: from that same run, the sum of its stage timings
  (``TrainingOutput.timings``) ``prepare`` + ``fit`` + ``metrics`` + ``selection``: preparing
  the matrix, fitting the four algorithms over their sweeps (``fit``: the wall time of all the
  fits, which run side by side; the per-algorithm ``fit:<algorithm>`` times overlap, are
  printed as its breakdown and are not added), every candidate's metrics and the k / champion
  choice. The rest of the run (reading and cleaning the
  file, profiles and names for every model, summaries, plots / t-SNE / report HTML, skops and
  serving artifacts) is printed on the stage line but is not part of it;
- ``sweep``: ``KMeans(n_clusters=k).fit(X)`` with default parameters for k = 2..10 on the same
  prepared matrix ``X`` (prepared beforehand in another child and loaded from a ``.npy`` file).

Wall time is ``time.perf_counter`` around the measured call; peak memory is the child's
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident set, whole process: interpreter,
imports and data included). Both children import scikit-learn's ``sklearn.cluster`` before the
clock starts (the sweep's only import); every other import the run needs (scipy, plotly, skops)
happens inside the measured call. Two ratios are printed: whole run / sweep and comparison /
sweep (the issue's goal is comparison <= 4x sweep). With ``--repeat N`` both measurements run N
times (fresh children, alternating) and medians are printed (each quantity's own median: whole
run, comparison, every stage, sweep), with the runs' values.

With ``--against REF`` (a git commit, tag or branch) the whole run is also measured on that
revision of the engine, checked out into a temporary ``git worktree`` and run by the same Python
with the same table and config, alternating with the current tree's runs (old, new, old, new...),
and the ratio current / REF of the medians is printed per size and per stage: how much a change
costs, measured side by side in one run.

``--sizes 10m`` (or ``5m``) measures the streaming run (:mod:`shared.training.streaming`: two
passes over the file, models fitted on a hash sample, every row assigned and profiled chunk by
chunk) on the synthetic table (written in chunks as plain CSV) at 1M, 5M and 10M rows (5M: 1M
and 5M), each in a fresh child: whole-run wall time, peak memory (``ru_maxrss``) and the
stage times (``sample``, ``sample_fit``, ``assign``), to show the peak flat in the rows.

Usage: ``python -m bench.train [--sizes mall,100k,1m,10m] [--repeat N] [--against REF]
[--workers N]`` (default: the three in-memory sizes, once, no reference).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file (`python bench/x.py`, make bench) too
    sys.path.insert(1, str(ROOT))

from bench.children import peak_mb, run_child  # noqa: E402

MALL = ROOT / "data" / "mall_customers.csv"
MALL_FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
SIZES = {"mall": 0, "100k": 100_000, "1m": 1_000_000}
STREAMING_SIZES = {"5m": (1_000_000, 5_000_000), "10m": (1_000_000, 5_000_000, 10_000_000)}
"""``--sizes 5m`` / ``10m``: the streaming run (``shared.training.streaming``) at each of these
row counts, to show its peak memory flat in the rows."""
COMPARISON_STAGES = ("prepare", "fit", "metrics", "selection")
"""``TrainingOutput.timings`` stages that are the comparison (``fit`` is the wall time of all
the fits; the ``fit:<algorithm>`` times inside it overlap, so they are not added)."""


def in_comparison(stage: str) -> bool:
    """Whether a ``TrainingOutput.timings`` stage is part of the comparison.

    Examples
    --------
    >>> [in_comparison(s) for s in ("fit", "fit:gmm", "metrics", "report")]
    [True, False, True, False]
    """
    return stage in COMPARISON_STAGES


def comparison_seconds(timings: dict[str, float]) -> float:
    """Seconds of the comparison itself: prepare + fit + metrics + selection.

    ``fit`` is the wall time of all the fits; the ``fit:<algorithm>`` times overlap inside it
    (the fits run side by side) and are not added.

    Examples
    --------
    >>> comparison_seconds({"read": 5.0, "prepare": 1.0, "fit:kmeans": 2.0, "fit:gmm": 1.5,
    ...     "fit": 2.0, "metrics": 0.5, "selection": 0.25, "report": 9.0})
    3.75
    """
    return sum(seconds for stage, seconds in timings.items() if in_comparison(stage))


def synthetic_table(n_rows: int, *, seed: int = 0) -> bytes:
    """CSV bytes: ``customer_id``, 8 numeric columns and ``region``, from 6 real segments.

    Each segment has its own centre for the numeric columns (spread 1.0 around centres drawn
    with spread 3.0), two columns are made positive and skewed (spend-like), and the region mix
    depends on the segment.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_segments, n_numeric = 6, 8
    centres = rng.normal(0.0, 3.0, (n_segments, n_numeric))
    segment = rng.integers(0, n_segments, n_rows)
    values = centres[segment] + rng.normal(0.0, 1.0, (n_rows, n_numeric))
    values[:, 6] = np.round(np.exp(values[:, 6] / 3.0 + 3.0), 2)
    values[:, 7] = np.round(np.exp(values[:, 7] / 3.0 + 2.0), 2)
    regions = np.array(["north", "south", "east", "west"])
    mix = rng.dirichlet(np.ones(4) * 0.5, n_segments)
    cumulative = mix.cumsum(axis=1)[segment]
    region = regions[(rng.random(n_rows)[:, None] > cumulative).sum(axis=1).clip(0, 3)]
    columns = {"customer_id": np.arange(1, n_rows + 1)}
    names = ["age", "tenure", "visits", "basket", "returns", "discount", "spend", "online_spend"]
    for j, name in enumerate(names):
        columns[name] = np.round(values[:, j], 3)
    frame = pd.DataFrame(columns)
    frame["region"] = region
    return frame.to_csv(index=False).encode()


def _child_prepare(table: Path, config_json: str, out: Path) -> dict[str, Any]:
    from shared.contract.config import parse_config
    from shared.engine.loading import read_table
    from shared.engine.preprocess import fit_preprocessor
    from shared.engine.schema import clean_training_table

    frame = read_table(table.read_bytes(), filename=table.name)
    clean = clean_training_table(frame, parse_config(config_json))
    prepared = fit_preprocessor(clean.features, clean.columns)
    np.save(out, prepared.X)
    return {"rows": int(prepared.X.shape[0]), "features": int(prepared.X.shape[1])}


def _child_kmeans(matrix: Path) -> dict[str, Any]:
    from sklearn.cluster import KMeans

    X = np.load(matrix)
    started = time.perf_counter()
    for k in range(2, 11):
        KMeans(n_clusters=k).fit(X)
    return {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}


def _child_train(table: Path, config_json: str) -> dict[str, Any]:
    import sklearn.cluster  # noqa: F401  (as the sweep child: imported before the clock)

    from shared.contract.config import parse_config
    from shared.training.pipeline import train_segments

    data = table.read_bytes()
    config = parse_config(config_json)
    started = time.perf_counter()
    output = train_segments(data, filename=table.name, config=config, dataset="bench")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "comparison_seconds": comparison_seconds(output.timings),
        "timings": output.timings,
        "champion": output.champion,
        "chosen": {
            a: s.k if s.k is not None else s.n_segments for a, s in output.algorithms.items()
        },
        "silhouette": {a: s.metrics.silhouette for a, s in output.algorithms.items()},
        "artifact_mb": sum(len(v) for v in output.artifacts.values()) / 2**20,
    }


def _child_stream(table: Path, workers: int) -> dict[str, Any]:
    import sklearn.cluster  # noqa: F401  (as the other children: imported before the clock)

    from shared.engine.streaming import TableSource
    from shared.training.streaming import train_streaming

    started = time.perf_counter()
    output = train_streaming(TableSource.from_path(table), dataset="bench", workers=workers)
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": peak_mb(),
        "rows": output.rows.read,
        "timings": {k: v for k, v in output.timings.items() if ":" not in k},
        "champion": output.champion,
        "chosen": {
            a: s.k if s.k is not None else s.n_segments for a, s in output.algorithms.items()
        },
        "assignments_mb": len(output.artifact_bytes("assignments.csv.gz")) / 2**20,
    }


def _streaming_rows(size: str, workdir: Path, workers: int) -> None:
    """The streaming run at each row count of ``STREAMING_SIZES[size]``, one child each."""
    from bench.score import write_table

    print(
        f"streaming run (two passes, hash sample, {workers} worker(s)); peak = ru_maxrss of "
        "the child (workers are separate processes)"
    )
    for n_rows in STREAMING_SIZES[size]:
        table = workdir / f"stream_{n_rows}.csv"
        write_table(table, n_rows)
        result = run_child("bench.train", "stream", str(table), str(workers))
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items())
        print(
            f"{n_rows:>11,} rows {table.stat().st_size / 2**20:7,.0f} MiB CSV: whole run "
            f"{result['seconds']:7.1f} s, peak {result['peak_mb']:6,.0f} MB ({stages} s); "
            f"champion {result['champion']}, chosen {result['chosen']}, assignments.csv.gz "
            f"{result['assignments_mb']:.0f} MiB",
            flush=True,
        )
        table.unlink()


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time (first of the two middle ones), with every time and peak."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["all_seconds"] = [r["seconds"] for r in runs]
    median["peak_mb"] = float(np.median([r["peak_mb"] for r in runs]))
    if "timings" in median:
        median["all_comparison"] = [r["comparison_seconds"] for r in runs]
        median["comparison_seconds"] = float(np.median(median["all_comparison"]))
        median["timings"] = {
            stage: float(np.median([r["timings"][stage] for r in runs]))
            for stage in median["timings"]
        }
    return median


@contextlib.contextmanager
def _checkout(ref: str) -> Iterator[Path]:
    """A temporary detached ``git worktree`` of ``ref`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), ref],
            cwd=ROOT,
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )


def _measure(
    name: str, workdir: Path, repeat: int = 1, reference: Path | None = None
) -> dict[str, Any]:
    if name == "mall":
        table = MALL
        config_json = json.dumps({"features": MALL_FEATURES})
    else:
        table = workdir / f"synthetic_{name}.csv"
        table.write_bytes(synthetic_table(SIZES[name]))
        config_json = "{}"
    matrix = workdir / f"{name}.npy"
    shape = run_child("bench.train", "prepare", str(table), config_json, str(matrix))
    kmeans_runs, train_runs, reference_runs = [], [], []
    for _ in range(max(1, repeat)):
        kmeans_runs.append(run_child("bench.train", "kmeans", str(matrix)))
        if reference is not None:
            reference_runs.append(
                run_child("bench.train", "train", str(table), config_json, root=reference)
            )
        train_runs.append(run_child("bench.train", "train", str(table), config_json))
    return {
        "size": name,
        **shape,
        "repeat": max(1, repeat),
        "train": _median_run(train_runs),
        "kmeans": _median_run(kmeans_runs),
        "reference": _median_run(reference_runs) if reference_runs else None,
    }


def _print_reference(row: dict[str, Any], ref: str) -> None:
    """The reference revision's medians and the ratios current / reference."""
    train, old = row["train"], row["reference"]
    print(
        f"      vs {ref}: whole run {old['seconds']:.1f} s {old['peak_mb']:.0f} MB -> "
        f"{train['seconds']:.1f} s {train['peak_mb']:.0f} MB: "
        f"{train['seconds'] / old['seconds']:.2f}x time, "
        f"{train['peak_mb'] / old['peak_mb']:.2f}x peak memory "
        f"({ref}: champion {old['champion']}, chosen {old['chosen']})",
        flush=True,
    )
    stages = list(dict.fromkeys([*old["timings"], *train["timings"]]))

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    parts = [
        f"{stage} {seconds(old['timings'].get(stage))}->{seconds(train['timings'].get(stage))}"
        for stage in stages
    ]
    print(f"      stages (s) {ref} -> current: {', '.join(parts)}", flush=True)


def _print_row(row: dict[str, Any]) -> None:
    train, kmeans = row["train"], row["kmeans"]
    whole, comparison, sweep = train["seconds"], train["comparison_seconds"], kmeans["seconds"]
    print(
        f"{row['size']:>5} {row['rows']:>9,} {row['features']:>4}  "
        f"(a) whole run {whole:7.1f} s {train['peak_mb']:6.0f} MB | "
        f"(b) comparison {comparison:7.1f} s | "
        f"(c) KMeans sweep {sweep:6.1f} s {kmeans['peak_mb']:6.0f} MB | "
        f"(a)/(c) {whole / sweep:5.2f}x  (b)/(c) {comparison / sweep:5.2f}x",
        flush=True,
    )
    timings: dict[str, float] = train["timings"]
    per_fit = ", ".join(
        f"{stage[4:]} {seconds:.2f}" for stage, seconds in timings.items() if stage[:4] == "fit:"
    )
    inside = ", ".join(
        f"{stage} {seconds:.2f}" + (f" ({per_fit})" if stage == "fit" and per_fit else "")
        for stage, seconds in timings.items()
        if in_comparison(stage)
    )
    outside = ", ".join(
        f"{stage} {seconds:.2f}"
        for stage, seconds in timings.items()
        if not in_comparison(stage) and stage[:4] != "fit:"
    )
    print(f"      stages (s) in (b): {inside}; not in (b): {outside}", flush=True)
    if row["repeat"] > 1:
        spread = {
            name: ", ".join(f"{v:.1f}" for v in values)
            for name, values in (
                ("whole", train["all_seconds"]),
                ("comparison", train["all_comparison"]),
                ("sweep", kmeans["all_seconds"]),
            )
        }
        print(
            f"      medians of {row['repeat']} runs; (a) [{spread['whole']}] s, "
            f"(b) [{spread['comparison']}] s, (c) [{spread['sweep']}] s",
            flush=True,
        )
    silhouettes = {a: None if s is None else round(s, 3) for a, s in train["silhouette"].items()}
    print(
        f"      champion {train['champion']}, chosen {train['chosen']}, silhouette {silhouettes}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measurement in this process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(SIZES),
        help="comma list of mall,100k,1m (in-memory run) and 5m,10m (streaming run at 1M, 5M "
        "and 10M rows)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="streaming sizes: map workers (default 1)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per measurement; medians are printed"
    )
    parser.add_argument(
        "--against", metavar="REF", help="also run the git revision REF, side by side"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "prepare":
            result = _child_prepare(Path(rest[0]), rest[1], Path(rest[2]))
        elif kind == "kmeans":
            result = _child_kmeans(Path(rest[0]))
        elif kind == "stream":
            result = _child_stream(Path(rest[0]), int(rest[1]))
        else:
            result = _child_train(Path(rest[0]), rest[1])
        print(json.dumps(result))
        return 0
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    streaming = [s for s in sizes if s in STREAMING_SIZES]
    sizes = [s for s in sizes if s not in STREAMING_SIZES]
    if streaming:
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
            for size in streaming:
                _streaming_rows(size, Path(tmp), args.workers)
        if not sizes:
            return 0
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
    print(
        "size      rows feat  (a) whole train_segments run | (b) comparison = prepare + fit of "
        "all four algorithms + metrics + selection (stage timings of the same run) | "
        "(c) plain sklearn KMeans k=2..10 sweep on the same prepared matrix"
    )
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-train-"))
        reference = stack.enter_context(_checkout(args.against)) if args.against else None
        for name in sizes:
            row = _measure(name, Path(tmp), args.repeat, reference)
            _print_row(row)
            if row["reference"] is not None:
                _print_reference(row, args.against)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
