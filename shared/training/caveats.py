"""The warnings a published version carries (``Manifest.warnings``), in words a marketer reads.

Every surface shows them (``segments train`` / ``upload``, ``GET /datasets/{d}``, the report
and the dashboard), so each is one plain sentence that says what happened and what it means
for using the segments, most important first:

1. the structure verdict of the published model (``shared.engine.structure``): no substantial
   structure ("these segments slice a continuum") or weak structure;
2. the usability guardrails (``shared.engine.guardrails``): none passed, or the best-scoring
   model was set aside for failing them;
3. the data: rows left out, columns not used (the config's own choices aside), values filled in;
4. the table's own warnings (values treated as missing, repeated rows...), as the schema
   inference wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.contract.config import DatasetConfig
from shared.contract.manifest import AlgorithmSummary, ColumnSchema, RowCounts
from shared.engine.guardrails import Guardrails
from shared.engine.structure import NULL_MARGIN
from shared.quoting import quote_value

__all__ = ["ALGORITHM_NAMES", "data_warnings", "guardrail_warnings", "structure_warnings"]

ALGORITHM_NAMES = {
    "kmeans": "K-Means",
    "agglomerative": "Agglomerative (Ward)",
    "dbscan": "DBSCAN",
    "gmm": "Gaussian mixture",
    "autoencoder": "Autoencoder + K-Means",
}
"""How the algorithms are named in sentences."""

LISTED = 5
"""Columns named in one sentence before "and N more"."""


def _name(algorithm: str) -> str:
    return ALGORITHM_NAMES.get(algorithm, algorithm)


def _percent(part: float, whole: float) -> str:
    """``part / whole`` as a percentage with the precision it needs.

    Examples
    --------
    >>> _percent(1, 3), _percent(1, 400), _percent(1, 200_000)
    ('33%', '0.25%', 'under 0.01%')
    """
    share = 100.0 * part / whole if whole else 0.0
    if share >= 10:
        return f"{share:.0f}%"
    if share >= 1:
        return f"{share:.1f}%".replace(".0%", "%")
    if share >= 0.01:
        return f"{share:.2f}%"
    return "under 0.01%"


def _listing(items: Sequence[str]) -> str:
    """``a, b and c``, with at most ``LISTED`` items named.

    Examples
    --------
    >>> _listing(["a"]), _listing(["a", "b", "c"])
    ('a', 'a, b and c')
    """
    shown = list(items[:LISTED])
    if len(items) > LISTED:
        shown.append(f"{len(items) - LISTED} more")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def structure_warnings(champion: str, summary: AlgorithmSummary) -> list[str]:
    """The warning of the published model's structure verdict (none when reasonable/strong).

    Examples
    --------
    >>> from shared.contract.manifest import Metrics
    >>> from shared.engine.structure import structure_verdict
    >>> s = AlgorithmSummary(n_segments=4, k=4, artifact="a", assignment_rule="r", fit_rows=9,
    ...     metrics=Metrics(silhouette=0.14, davies_bouldin=1.9, calinski_harabasz=300.0),
    ...     structure=structure_verdict(0.14, 0.15))
    >>> print(structure_warnings("kmeans", s)[0])  # doctest: +NORMALIZE_WHITESPACE
    The customers do not form distinct groups (silhouette 0.14, no better than the 0.15 of the
    same columns shuffled at random): these 4 segments slice a continuum, so treat them as
    ranges of similar customers, not as distinct types; customers near a border could as well
    belong to the next segment.
    """
    verdict = summary.structure
    if verdict is None or verdict.verdict in ("reasonable", "strong"):
        return []
    silhouette = verdict.silhouette
    if silhouette is None:
        return [
            f"The published model ({_name(champion)}) found fewer than two segments: the "
            "customers could not be split into groups."
        ]
    numbers = f"silhouette {silhouette:.2f}"
    null = verdict.null_silhouette
    if null is not None and silhouette - null <= NULL_MARGIN:
        numbers += f", no better than the {null:.2f} of the same columns shuffled at random"
    if verdict.verdict == "none":
        return [
            f"The customers do not form distinct groups ({numbers}): these "
            f"{summary.n_segments} segments slice a continuum, so treat them as ranges of "
            "similar customers, not as distinct types; customers near a border could as well "
            "belong to the next segment."
        ]
    return [
        f"The segments are only weakly separated ({numbers}): many customers sit between two "
        "segments, so treat the borders as approximate."
    ]


def guardrail_warnings(
    champion: str,
    *,
    champion_eligible: bool,
    overridden: str | None,
    ineligible: Mapping[str, str],
    guardrails: Guardrails,
    n_rows: int,
    n_segments: int,
) -> list[str]:
    """Warnings when the usability guardrails decided or could not decide the champion.

    Examples
    --------
    >>> print(guardrail_warnings("kmeans", champion_eligible=True, overridden="dbscan",
    ...     ineligible={"dbscan": "its largest segment holds 91% of the customers "
    ...                 "(at most 70% allowed)"},
    ...     guardrails=Guardrails(), n_rows=9000, n_segments=5)[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    DBSCAN scored best on the quality metrics but was not published because its largest
    segment holds 91% of the customers (at most 70% allowed); K-Means was published instead.
    """
    if not champion_eligible:
        why = ineligible.get(champion)
        tail = f", but {why}" if why else ""
        return [
            f"No segmentation passed the usability checks ({guardrails.describe(n_rows)}). "
            f"The published {_name(champion)} segmentation ({n_segments} segments) comes "
            f"closest{tail}: use it with caution."
        ]
    if overridden is not None and overridden in ineligible:
        return [
            f"{_name(overridden)} scored best on the quality metrics but was not published "
            f"because {ineligible[overridden]}; {_name(champion)} was published instead."
        ]
    return []


def data_warnings(
    rows: RowCounts, columns: Sequence[ColumnSchema], config: DatasetConfig
) -> list[str]:
    """Warnings about the data: rows left out, columns not used, values filled in.

    Columns the config itself left out (``exclude``, ``outcomes``, or not among ``features``)
    are the user's choice and not repeated; the identifier column is not a feature by design.

    Examples
    --------
    >>> rows = RowCounts(read=200, used=190, dropped=10,
    ...     dropped_reasons={"every feature missing": 10}, imputed_values={"Income": 38})
    >>> cols = [ColumnSchema(name="Notes", role="dropped", dtype="string", used=False,
    ...                      reason="free text")]
    >>> for line in data_warnings(rows, cols, DatasetConfig()):
    ...     print(line)
    ... # doctest: +NORMALIZE_WHITESPACE
    10 of 200 rows (5%) were left out (every feature missing: 10).
    1 column was not used to form the segments: 'Notes' (free text).
    Missing values were filled in with a typical value (the median, or the most common
    category) for 'Income' (20% of customers); segments say less about these customers on
    those columns.
    """
    out: list[str] = []
    if rows.dropped:
        reasons = [f"{why}: {count}" for why, count in rows.dropped_reasons.items()]
        detail = f" ({'; '.join(reasons)})" if reasons else ""
        out.append(
            f"{rows.dropped} of {rows.read} rows ({_percent(rows.dropped, rows.read)}) were "
            f"left out{detail}."
        )
    chosen_out = set(config.exclude) | set(config.outcomes or [])
    if config.features is not None:
        chosen_out |= {c.name for c in columns if c.name not in config.features}
    unused = [
        f"{quote_value(c.name)} ({c.reason})" if c.reason else quote_value(c.name)
        for c in columns
        if not c.used and c.role != "id" and c.name not in chosen_out
    ]
    if unused:
        plural = "s were" if len(unused) > 1 else " was"
        out.append(
            f"{len(unused)} column{plural} not used to form the segments: {_listing(unused)}."
        )
    imputed = sorted(rows.imputed_values.items(), key=lambda item: (-item[1], item[0]))
    if imputed and rows.used:
        parts = [
            f"{quote_value(name)} ({_percent(count, rows.used)} of customers)"
            for name, count in imputed
        ]
        out.append(
            "Missing values were filled in with a typical value (the median, or the most common "
            f"category) for {_listing(parts)}; segments say less about these customers on "
            "those columns."
        )
    return out
