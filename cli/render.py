"""Rich tables for segments, algorithm comparisons, assignments and store status.

The functions take the JSON shapes of the HTTP API (plain dicts), so the same code renders what
the API returns and what a local ``train`` produced (``model_dump()`` of the same models).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = [
    "assignments_table",
    "comparison_table",
    "format_number",
    "segments_table",
    "segments_view",
    "transaction_assignments_table",
    "versions_table",
    "warnings_view",
]

MAX_FEATURE_COLUMNS = 4


def format_number(value: Any, digits: int = 3) -> str:
    """Format a metric for a table cell: ``-`` for missing, fixed digits otherwise.

    Examples
    --------
    >>> format_number(0.55391), format_number(None), format_number(1234.5, 1)
    ('0.554', '-', '1234.5')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def _feature_columns(segments: Sequence[Mapping[str, Any]]) -> list[str]:
    """Numeric features to show: the most often distinctive first, in first-seen order."""
    seen: dict[str, int] = {}
    for seg in segments:
        for name in seg.get("numeric") or {}:
            seen.setdefault(name, 0)
        for name in seg.get("distinctive") or []:
            if name in seen:
                seen[name] += 1
    order = sorted(seen, key=lambda n: -seen[n])  # stable: ties keep first-seen order
    return order[:MAX_FEATURE_COLUMNS]


def segments_table(payload: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A table of one model's segments: id, name, size, share and key statistics.

    ``payload`` is the body of ``GET /datasets/{dataset}/segments`` (or a ``SegmentSet`` dump):
    ``segments`` with ``segment_id``, ``name``, ``size``, ``share`` and, when present,
    ``numeric`` (feature -> {mean, median, z, ...}) and ``categorical`` (feature -> mix).

    Examples
    --------
    >>> t = segments_table({"segments": [{"segment_id": 0, "name": "A", "size": 3, "share": 1.0}]})
    >>> t.row_count
    1
    """
    segments = list(payload.get("segments") or [])
    algorithm = payload.get("algorithm")
    k = payload.get("k")
    if title is None:
        title = "Segments"
        if algorithm:
            title += f" ({algorithm}{'' if k is None else f', k={k}'})"
    features = _feature_columns(segments)
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("id", justify="right")
    table.add_column("segment")
    table.add_column("size", justify="right")
    table.add_column("share", justify="right")
    for feature in features:
        table.add_column(f"{escape(feature)}\nmean (z)", justify="right")
    has_categorical = any(seg.get("categorical") for seg in segments)
    if has_categorical:
        table.add_column("mostly")
    for seg in segments:
        row = [
            str(seg.get("segment_id", "")),
            escape(str(seg.get("name", ""))),
            str(seg.get("size", "")),
            f"{float(seg.get('share') or 0.0):.0%}",
        ]
        numeric = seg.get("numeric") or {}
        for feature in features:
            stats = numeric.get(feature)
            if not stats:
                row.append("-")
                continue
            z = stats.get("z")
            z_text = "" if z is None else f" ({float(z):+.1f})"
            row.append(f"{format_number(stats.get('mean'), 1)}{z_text}")
        if has_categorical:
            row.append(_top_categories(seg.get("categorical") or {}))
        table.add_row(*row, style="dim" if seg.get("is_outlier") else None)
    return table


def segments_view(payload: Mapping[str, Any], *, title: str | None = None) -> Group:
    """:func:`segments_table` followed by each segment's description, one line each.

    Examples
    --------
    >>> view = segments_view({"segments": [{"segment_id": 0, "name": "A", "size": 3,
    ...                                     "share": 1.0, "description": "Everyone."}]})
    >>> len(view.renderables)
    2
    """
    lines = [
        f"  [bold]{seg.get('segment_id')}[/bold] {escape(str(seg['description']))}"
        for seg in payload.get("segments") or []
        if seg.get("description")
    ]
    return Group(segments_table(payload, title=title), *lines)


def _top_categories(mix: Mapping[str, Mapping[str, float]]) -> str:
    parts = []
    for feature, shares in mix.items():
        if not shares:
            continue
        top, share = max(shares.items(), key=lambda kv: kv[1])
        parts.append(escape(f"{feature}={top} {share:.0%}"))
    return ", ".join(parts[:2])


def comparison_table(rows: Iterable[Mapping[str, Any]], *, title: str | None = None) -> Table:
    """The side-by-side metrics of every algorithm at its chosen k (champion starred).

    ``rows`` are ``ComparisonRow`` dumps (``evaluation.json`` ``comparison``). ``usable`` says
    whether the model passed the champion guardrails; ``structure`` is its structure verdict.

    Examples
    --------
    >>> row = {"algorithm": "kmeans", "k": 5, "n_segments": 5, "champion": True,
    ...        "metrics": {"silhouette": 0.554, "davies_bouldin": 0.57,
    ...                    "calinski_harabasz": 248.6}}
    >>> comparison_table([row]).row_count
    1
    """
    table = Table(
        title=title or "Algorithms compared (at their chosen k)",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("algorithm")
    table.add_column("k", justify="right")
    table.add_column("segments", justify="right")
    table.add_column("silhouette ↑", justify="right")
    table.add_column("Davies-Bouldin ↓", justify="right")
    table.add_column("Calinski-Harabasz ↑", justify="right")
    table.add_column("noise", justify="right")
    table.add_column("score", justify="right")
    table.add_column("usable")
    table.add_column("structure")
    for row in rows:
        metrics = row.get("metrics") or {}
        noise = metrics.get("noise_share")
        champion = bool(row.get("champion"))
        structure = row.get("structure") or {}
        table.add_row(
            f"{'★ ' if champion else '  '}{row.get('algorithm', '')}",
            format_number(row.get("k")),
            format_number(row.get("n_segments")),
            format_number(metrics.get("silhouette")),
            format_number(metrics.get("davies_bouldin")),
            format_number(metrics.get("calinski_harabasz"), 1),
            "-" if noise is None else f"{float(noise):.0%}",
            format_number(row.get("score")),
            "yes" if row.get("eligible", True) else "no",
            escape(str(structure.get("verdict") or "-")),
            style="bold green" if champion else None,
        )
    return table


def transaction_assignments_table(assignments: Sequence[Mapping[str, Any]]) -> Table:
    """One row per customer aggregated from order lines: id, segment and its features.

    Examples
    --------
    >>> transaction_assignments_table([{"customer_id": "7", "segment_id": 1,
    ...     "segment_name": "Champions", "features": {"recency_days": 3.0}}]).columns[-1].header
    'recency_days'
    """
    features = list(assignments[0].get("features", {})) if assignments else []
    table = Table(title="Assignments", title_justify="left", header_style="bold")
    table.add_column("customer")
    table.add_column("segment_id", justify="right")
    table.add_column("segment")
    for name in features:
        table.add_column(escape(name), justify="right")
    for item in assignments:
        values = item.get("features", {})
        table.add_row(
            escape(str(item.get("customer_id", ""))),
            str(item.get("segment_id", "")),
            escape(str(item.get("segment_name", ""))),
            *(escape(format_number(values.get(name))) for name in features),
        )
    return table


def assignments_table(
    assignments: Sequence[Mapping[str, Any]],
    customers: Sequence[Mapping[str, Any]] | None = None,
    *,
    id_column: str | None = None,
) -> Table:
    """One row per assigned customer, in request order.

    Examples
    --------
    >>> assignments_table([{"segment_id": 2, "segment_name": "High income"}]).row_count
    1
    """
    extras = [
        key
        for key in ("distance", "confidence", "is_outlier", "outlier", "imputed")
        if any(key in a for a in assignments)
    ]
    table = Table(title="Assignments", title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    if id_column:
        table.add_column(escape(id_column))
    table.add_column("segment_id", justify="right")
    table.add_column("segment")
    for key in extras:
        table.add_column(key, justify="right")
    for i, item in enumerate(assignments):
        row = [str(i)]
        if id_column:
            value = customers[i].get(id_column) if customers and i < len(customers) else None
            row.append("" if value is None else escape(str(value)))
        row += [str(item.get("segment_id", "")), escape(str(item.get("segment_name", "")))]
        for key in extras:
            value = item.get(key)
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "-"
            row.append(escape(format_number(value)))
        table.add_row(*row)
    return table


def warnings_view(warnings: Sequence[str]) -> Group:
    """A version's warnings (``Manifest.warnings``), one marked paragraph each.

    Empty when there is nothing to warn about. The sentences are printed verbatim (never read
    as markup: they quote column names from the upload).

    Examples
    --------
    >>> len(warnings_view(["Segments slice a continuum [a]."]).renderables)
    2
    >>> len(warnings_view([]).renderables)
    0
    """
    if not warnings:
        return Group()
    noun = "warning" if len(warnings) == 1 else "warnings"
    lines = [Text(f"{len(warnings)} {noun}:", style="bold yellow")]
    lines += [Text.assemble(("! ", "bold yellow"), message) for message in warnings]
    return Group(*lines)


def segment_counts(assignments: Sequence[Mapping[str, Any]]) -> Table:
    """How many of the assigned customers fell in each segment, largest first.

    Examples
    --------
    >>> rows = [{"segment_id": 1, "segment_name": "B"}, {"segment_id": 0, "segment_name": "A"},
    ...         {"segment_id": 1, "segment_name": "B"}]
    >>> segment_counts(rows).row_count
    2
    """
    counts: dict[tuple[Any, str], int] = {}
    for item in assignments:
        key = (item.get("segment_id"), str(item.get("segment_name", "")))
        counts[key] = counts.get(key, 0) + 1
    total = max(len(assignments), 1)
    table = Table(title="Customers per segment", title_justify="left", header_style="bold")
    table.add_column("segment_id", justify="right")
    table.add_column("segment")
    table.add_column("customers", justify="right")
    table.add_column("share", justify="right")
    for (segment_id, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0][0]))):
        table.add_row(str(segment_id), escape(name), f"{n:,}", f"{n / total:.1%}")
    return table


def versions_table(dataset: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """A dataset's versions (newest last), the current one starred.

    Examples
    --------
    >>> versions_table("mall", [{"version": "v1", "current": True}]).row_count
    1
    """
    table = Table(title=f"{dataset}: versions", title_justify="left", header_style="bold")
    # The version id is what `promote` takes: never cut, never wrapped.
    longest = max((len(str(row.get("version", ""))) + 2 for row in rows), default=7)
    table.add_column("version", no_wrap=True, min_width=longest)
    for name in ("created", "source", "rows", "champion", "segments", "silhouette"):
        table.add_column(name, justify="right" if name in {"rows", "segments"} else "left")
    for row in rows:
        table.add_row(
            f"{'★ ' if row.get('current') else '  '}{row.get('version', '')}",
            str(row.get("created_at", "")),
            escape(str(row.get("source", ""))),
            format_number(row.get("rows")),
            str(row.get("champion", "")),
            format_number(row.get("n_segments")),
            format_number(row.get("silhouette")),
            style="bold" if row.get("current") else None,
        )
    return table
