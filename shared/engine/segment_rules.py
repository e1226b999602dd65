"""Rules a marketer can paste into a CRM: one readable rule per segment, with measured precision.

For every segment of a fitted model, a shallow decision tree (scikit-learn, ``max_depth`` <= 3,
balanced class weights) learns "in this segment or not" from the *original-unit* columns
(numeric values, dates as days before the column's reference date, a categorical column as one
yes/no indicator per category). The rule is the path to the tree's leaf with the best F1 for the
segment on the rows the tree was fitted on; its thresholds are rounded to 3 significant digits
and conditions on one column merged ("Age > 30 and Age > 40" -> "Age > 40"), and that printed
rule is then measured on **held-back** customers the tree never saw:

- ``precision``: share of the held-back customers matching the rule who are in the segment;
- ``coverage``: share of the segment's held-back customers the rule matches.

A rule whose precision is below :data:`MIN_PRECISION` is kept and flagged (``reliable: false``
and a ``note``), never hidden: a segment that no three conditions describe is worth knowing
about. Missing values are filled as in training (the column's ``imputed_with``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shared.contract.manifest import ColumnSchema
from shared.contract.profiles import RuleCheck, RuleCondition, SegmentRule, SegmentSet

__all__ = [
    "HELD_BACK_SHARE",
    "MAX_DEPTH",
    "MAX_RULE_ROWS",
    "MIN_PRECISION",
    "RuleFeatures",
    "add_segment_rules",
    "segment_rule",
]

logger = logging.getLogger(__name__)

MAX_DEPTH = 3
"""Depth of each segment's tree: at most three conditions per rule."""
MIN_PRECISION = 0.7
"""A rule below this held-back precision is flagged as unreliable (shown, with a note)."""
HELD_BACK_SHARE = 0.25
"""Share of the customers kept out of the trees' fit to measure the rules."""
MAX_RULE_ROWS = 5_000
"""Most rows the trees are fitted on (and most held-back rows measured): a sample beyond that."""
MAX_CATEGORIES = 20
"""Most frequent categories of a column that get an indicator (the rest never appear in rules)."""
METHOD = (
    "one decision tree per segment (scikit-learn, depth <= 3, balanced class weights) on the "
    "original-unit columns; the rule is the path to the leaf with the best F1 on the fit rows, "
    "thresholds rounded to 3 significant digits, measured on held-back customers"
)


def _nice(value: float) -> float:
    """``value`` rounded to 3 significant digits (a threshold a person can type)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 2 - math.floor(math.log10(abs(value)))
    return float(round(value, digits))


@dataclass(frozen=True)
class _Indicator:
    column: str
    category: str


class RuleFeatures:
    """The original-unit design matrix the trees read, and how to print its conditions.

    Parameters
    ----------
    features : DataFrame
        The used features in original units (``CleanTable.features``).
    columns : list of ColumnSchema
        The schema (roles, fill values, date references).

    Examples
    --------
    >>> cols = [ColumnSchema(name="Age", role="numeric", dtype="float", used=True,
    ...                      imputed_with=30.0),
    ...         ColumnSchema(name="Gender", role="categorical", dtype="string", used=True,
    ...                      imputed_with="F")]
    >>> f = RuleFeatures(pd.DataFrame({"Age": [20.0, None], "Gender": ["M", None]}), cols)
    >>> f.names, f.matrix.tolist()
    (['Age', 'Gender is F', 'Gender is M'], [[20.0, 0.0, 1.0], [30.0, 1.0, 0.0]])
    """

    def __init__(self, features: pd.DataFrame, columns: list[ColumnSchema]) -> None:
        blocks: list[np.ndarray] = []
        self.sources: list[str | _Indicator] = []
        self.labels: dict[str, str] = {}
        for column in columns:
            if not column.used or column.name not in features.columns:
                continue
            series = features[column.name]
            if column.role in ("numeric", "date"):
                values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
                fill = column.imputed_with
                if isinstance(fill, int | float) and math.isfinite(fill):
                    values = np.where(np.isnan(values), float(fill), values)
                elif np.isnan(values).any():
                    values = np.where(np.isnan(values), np.nanmedian(values), values)
                blocks.append(values[:, None])
                self.sources.append(column.name)
                self.labels[column.name] = (
                    f"{column.name} (days before {column.date_reference.removesuffix('T00:00:00')})"
                    if column.role == "date" and column.date_reference
                    else column.name
                )
            elif column.role == "categorical":
                text = series.astype(object)
                fill = column.imputed_with if isinstance(column.imputed_with, str) else None
                if fill is not None:
                    text = text.where(text.notna(), fill)
                top = text.dropna().astype(str).value_counts().index[:MAX_CATEGORIES]
                for category in sorted(top):
                    blocks.append((text == category).to_numpy(dtype=np.float64)[:, None])
                    self.sources.append(_Indicator(column.name, str(category)))
        self.matrix = np.hstack(blocks) if blocks else np.zeros((len(features), 0))
        self.names = [
            s if isinstance(s, str) else f"{s.column} is {s.category}" for s in self.sources
        ]

    def condition(self, feature: int, greater: bool, threshold: float) -> RuleCondition:
        """The condition "feature > threshold" (or ``<=``) in the column's own terms."""
        source = self.sources[feature]
        if isinstance(source, _Indicator):  # indicators split at 0.5: > is "is", <= "is not"
            return RuleCondition(
                column=source.column, op="is" if greater else "is not", value=source.category
            )
        return RuleCondition(column=source, op=">" if greater else "<=", value=_nice(threshold))

    def matches(
        self, conditions: list[RuleCondition], rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Which rows (all, or positions ``rows``) satisfy every condition: the printed rule,
        rounded thresholds included."""
        matrix = self.matrix if rows is None else self.matrix[rows]
        mask = np.ones(matrix.shape[0], dtype=bool)
        index = {name: j for j, name in enumerate(self.names)}
        for c in conditions:
            if c.op in ("is", "is not"):
                j = index.get(f"{c.column} is {c.value}")
                hit = np.zeros(mask.shape, dtype=bool) if j is None else matrix[:, j] > 0.5
                mask &= hit if c.op == "is" else ~hit
            else:
                values = matrix[:, index[c.column]]
                mask &= values > float(c.value) if c.op == ">" else values <= float(c.value)
        return mask

    def text(self, conditions: list[RuleCondition]) -> str:
        """The rule in words: ``Annual Income (k$) > 69.5 and Gender is Female``."""
        if not conditions:
            return "every customer"
        parts = []
        for c in conditions:
            name = self.labels.get(c.column, c.column)
            value = c.value if isinstance(c.value, str) else f"{c.value:g}"
            parts.append(f"{name} {c.op} {value}")
        return " and ".join(parts)


def _merge(conditions: list[RuleCondition]) -> list[RuleCondition]:
    """One bound per column and direction; "is X" makes "is not Y" on that column redundant."""
    out: dict[tuple[str, str], RuleCondition] = {}
    positive = {c.column for c in conditions if c.op == "is"}
    for c in conditions:
        if c.op == "is not" and c.column in positive:
            continue
        key = (c.column, c.op if c.op in ("<=", ">") else f"{c.op}:{c.value}")
        kept = out.get(key)
        tighter = kept is not None and (
            (c.op == ">" and float(c.value) > float(kept.value))
            or (c.op == "<=" and float(c.value) < float(kept.value))
        )
        if kept is None or tighter:
            out[key] = c
    # One column's conditions together, in the order the tree first used the column.
    first = {c.column: i for i, c in reversed(list(enumerate(conditions)))}
    order = {">": 0, "<=": 1, "is": 2, "is not": 3}
    return sorted(out.values(), key=lambda c: (first[c.column], order[c.op]))


def _leaf_paths(tree: Any) -> dict[int, list[tuple[int, bool, float]]]:
    """Each leaf's path from the root: (feature, went right i.e. ``>``, threshold)."""
    t = tree.tree_
    paths: dict[int, list[tuple[int, bool, float]]] = {}
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == right:
            paths[node] = path
            continue
        feature, threshold = int(t.feature[node]), float(t.threshold[node])
        stack.append((left, [*path, (feature, False, threshold)]))
        stack.append((right, [*path, (feature, True, threshold)]))
    return paths


def segment_rule(
    features: RuleFeatures,
    member: np.ndarray,
    fit: np.ndarray,
    held: np.ndarray,
    *,
    fit_matrix: np.ndarray | None = None,
    random_state: int = 0,
) -> SegmentRule:
    """The rule of one segment: fitted on rows ``fit``, measured on rows ``held``.

    Parameters
    ----------
    features : RuleFeatures
        The design matrix of every row.
    member : ndarray of bool
        Which rows are in the segment.
    fit, held : ndarray of int
        Row positions to fit the tree on and to measure the printed rule on.
    fit_matrix : ndarray, optional
        ``features.matrix[fit]``, when the caller already has it (one copy for many rules).

    Examples
    --------
    >>> cols = [ColumnSchema(name="Income", role="numeric", dtype="float", used=True)]
    >>> income = np.arange(100.0)
    >>> f = RuleFeatures(pd.DataFrame({"Income": income}), cols)
    >>> rule = segment_rule(f, income >= 60, np.arange(0, 100, 2), np.arange(1, 100, 2))
    >>> rule.text, rule.precision, rule.coverage, rule.reliable
    ('Income > 59', 1.0, 1.0, True)
    """
    from sklearn.tree import DecisionTreeClassifier

    y = member[fit]
    X_fit = features.matrix[fit] if fit_matrix is None else fit_matrix
    if y.all() or not y.any():
        conditions: list[RuleCondition] = []
    else:
        tree = DecisionTreeClassifier(
            max_depth=MAX_DEPTH,
            min_samples_leaf=max(2, int(0.005 * fit.size)),
            class_weight="balanced",
            random_state=random_state,
        ).fit(X_fit, y)
        leaf_of = tree.apply(X_fit)
        positives = int(y.sum())
        best, best_f1 = -1, -1.0
        for leaf in np.unique(leaf_of).tolist():
            in_leaf = leaf_of == leaf
            hit = int(y[in_leaf].sum())
            if hit == 0:
                continue
            f1 = 2 * hit / (int(in_leaf.sum()) + positives)
            if f1 > best_f1:
                best, best_f1 = leaf, f1
        path = _leaf_paths(tree)[best]
        conditions = _merge([features.condition(j, g, t) for j, g, t in path])
    match = features.matches(conditions, held)
    truth = member[held]
    matched = int(match.sum())
    precision = float(truth[match].mean()) if matched else None
    coverage = float(match[truth].mean()) if truth.any() else None
    reliable = precision is not None and precision >= MIN_PRECISION
    note = None
    if precision is None:
        note = "the rule matched none of the held-back customers"
    elif not reliable:
        note = (
            f"only {precision:.0%} of the held-back customers matching this rule are in the "
            f"segment (below {MIN_PRECISION:.0%}): no {MAX_DEPTH} conditions describe it well"
        )
    return SegmentRule(
        text=features.text(conditions),
        conditions=conditions,
        precision=precision,
        coverage=coverage,
        matched=matched,
        reliable=reliable,
        note=note,
    )


def split_rows(n: int, *, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit and held-back row positions (:data:`HELD_BACK_SHARE` held back, both capped).

    Examples
    --------
    >>> fit, held = split_rows(200)
    >>> fit.size, held.size, len(set(fit) & set(held))
    (150, 50, 0)
    """
    order = np.random.default_rng(random_state).permutation(n)
    n_held = max(1, round(n * HELD_BACK_SHARE)) if n > 1 else 0
    held, fit = order[:n_held], order[n_held:]
    return np.sort(fit[:MAX_RULE_ROWS]), np.sort(held[:MAX_RULE_ROWS])


def add_segment_rules(
    segments: SegmentSet,
    labels: np.ndarray,
    features: RuleFeatures,
    *,
    random_state: int = 0,
) -> SegmentSet:
    """``segments`` with a rule on every segment (not the outliers) and its ``rule_check``.

    Parameters
    ----------
    segments : SegmentSet
        One model's profiles.
    labels : ndarray of int
        The model's internal label of every row of ``features``.
    features : RuleFeatures
        The rows in original units (shared by every model of a run).

    Examples
    --------
    >>> from shared.contract.profiles import SegmentProfile
    >>> cols = [ColumnSchema(name="Income", role="numeric", dtype="float", used=True)]
    >>> income = np.arange(100.0)
    >>> labels = (income >= 60).astype(int)
    >>> s = SegmentSet(algorithm="kmeans", k=2, n_segments=2, segments=[
    ...     SegmentProfile(segment_id=i, label=i, name=str(i), description="", size=50, share=.5)
    ...     for i in (0, 1)])
    >>> out = add_segment_rules(s, labels, RuleFeatures(pd.DataFrame({"Income": income}), cols))
    >>> [seg.rule.text for seg in out.segments]
    ['Income <= 59.5', 'Income > 59.5']
    """
    fit, held = split_rows(labels.shape[0], random_state=random_state)
    fit_matrix = features.matrix[fit]
    updated = []
    for profile in segments.segments:
        if profile.is_outlier or profile.label < 0:
            updated.append(profile)
            continue
        rule = segment_rule(
            features,
            labels == profile.label,
            fit,
            held,
            fit_matrix=fit_matrix,
            random_state=random_state,
        )
        updated.append(profile.model_copy(update={"rule": rule}))
    check = RuleCheck(
        method=METHOD,
        fit_rows=int(fit.size),
        held_back_rows=int(held.size),
        min_precision=MIN_PRECISION,
        max_depth=MAX_DEPTH,
    )
    return segments.model_copy(update={"segments": updated, "rule_check": check})
