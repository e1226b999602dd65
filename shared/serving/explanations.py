"""Why a customer is in its segment: the exact reasons of :mod:`shared.serving.attribution`,
per input column and in original units, ready for the ``assign?explain=true`` answer.

:class:`SegmentExplainer` is built once per served model (from the rule's arrays, the fitted
preprocessing and the model's segment profiles) and turns a batch's prepared matrix and
assignment into one ``explanation`` mapping per customer::

    {"versus": {"segment_id": 3, "segment_name": "Careful spenders"},
     "margin": 2.41, "margin_kind": "...", "baseline": 0.0, "other": 0.02,
     "contributions": [{"column": "Annual Income (k$)", "contribution": 2.1, "value": 120.0,
                        "segment_mean": 86.5, "versus_mean": 55.3,
                        "text": "Annual Income (k$) 120 vs segment mean 86.5 pushed towards
                                 'High income, high spending'"}, ...]}

``baseline + other + sum(contribution) == margin`` (to rounding): the listed columns are the
:data:`TOP_CONTRIBUTIONS` largest in absolute value, ``other`` adds up the rest. A categorical
contribution carries ``segment_share`` / ``versus_share`` (the share of the customer's category
in each segment) instead of means. Values are those the model used: an imputed value is the
training fill value. This module imports numpy and the standard library only.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from shared.contract.profiles import SegmentSet
from shared.quoting import quote_value
from shared.serving.attribution import (
    MARGIN_KINDS,
    NO_RUNNER_UP,
    Attribution,
    FeatureGroups,
    attribute_core_sample,
    attribute_mixture,
    attribute_nearest_centroid,
)
from shared.serving.kernels import NOISE_LABEL, AssignmentBatch
from shared.serving.preprocessing import PreprocessingParams
from shared.serving.rules import CentroidRule, CoreSampleRule, MixtureRule, ServingRule

__all__ = ["TOP_CONTRIBUTIONS", "SegmentExplainer", "attribute"]

logger = logging.getLogger(__name__)

TOP_CONTRIBUTIONS = 3
"""Columns listed per customer (the rest are summed into ``other``)."""


def _positions(labels: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """Row position in ``labels`` (the rule's label order) of each assigned label."""
    lookup = np.full(int(labels.max()) + 1, 0, dtype=np.int64)
    lookup[labels] = np.arange(labels.shape[0])
    return lookup[assigned]


def attribute(rule: ServingRule, X: np.ndarray, batch: AssignmentBatch) -> Attribution:
    """The exact per-feature split of each row's margin under ``rule`` (runner-ups as labels).

    Raises
    ------
    TypeError
        For a rule kind with no exact split.

    Examples
    --------
    >>> import io
    >>> from shared.serving.rules import load_serving_rule
    >>> buf = io.BytesIO()
    >>> np.savez(buf, centroids=np.array([[0.0, 0.0], [4.0, 0.0]]), labels=np.array([5, 6]),
    ...          thresholds=np.array([9.0, 9.0]))
    >>> rule = load_serving_rule({"kind": "nearest_centroid", "n_features": 2}, buf.getvalue())
    >>> X = np.array([[1.0, 3.0]])
    >>> a = attribute(rule, X, rule.assign(X))
    >>> a.runner_up.tolist(), a.margin.tolist()
    ([6], [8.0])
    """
    v = rule.values
    if isinstance(rule, CentroidRule):
        position = _positions(v["labels"], batch.labels)
        out = attribute_nearest_centroid(X, v["centroids"], position)
    elif isinstance(rule, MixtureRule):
        position = _positions(v["labels"], batch.labels)
        out = attribute_mixture(X, v["weights"], v["means"], v["precisions_cholesky"], position)
    elif isinstance(rule, CoreSampleRule):
        weighted = X * v["feature_weights"] if "feature_weights" in v else X
        return attribute_core_sample(weighted, v["components"], v["core_labels"], rule.eps, batch)
    else:
        raise TypeError(f"no exact explanation for a {quote_value(rule.kind)} rule")
    has = out.runner_up != NO_RUNNER_UP
    runner_up = np.where(has, v["labels"][np.where(has, out.runner_up, 0)], NO_RUNNER_UP)
    return Attribution(runner_up, out.margin, out.baseline, out.terms, out.noise)


def _short(value: float) -> str:
    return f"{value:.4g}"


def _rounded(value: float) -> float:
    return float(f"{value:.6g}")


class SegmentExplainer:
    """Turns a batch's exact attribution into readable reasons (built once per served model).

    Parameters
    ----------
    rule : ServingRule
        The model's assignment rule.
    params : PreprocessingParams
        The fitted preprocessing (to map prepared values back to original units).
    segments : SegmentSet
        The model's profiles (names, segment means and category shares).
    top : int
        Columns listed per customer.

    Examples
    --------
    ``tests/unit/test_explanations.py`` checks every rule kind on hand-built versions and on the
    Mall data.
    """

    def __init__(
        self,
        rule: ServingRule,
        params: PreprocessingParams,
        segments: SegmentSet,
        *,
        top: int = TOP_CONTRIBUTIONS,
    ) -> None:
        self.rule = rule
        self.groups = FeatureGroups.from_preprocessing(params)
        self.top = top
        self.kind = rule.kind
        by_label = segments.label_to_segment()
        self._segment = {label: (s.segment_id, s.name) for label, s in by_label.items()}
        self._numeric = {n.column: n for n in params.numeric}
        self._onehot = {c.column: c for c in params.categorical}
        # Per column and label: the segment mean (numeric) or category shares (categorical).
        self._means: dict[str, dict[int, float]] = {}
        self._shares: dict[str, dict[int, dict[str, float]]] = {}
        for column in self.groups.columns:
            if column in self._numeric:
                self._means[column] = {
                    label: s.numeric[column].mean
                    for label, s in by_label.items()
                    if column in s.numeric
                }
            else:
                self._shares[column] = {
                    label: s.categorical.get(column, {}) for label, s in by_label.items()
                }

    # values in original units ------------------------------------------------------------------

    def _values(self, X: np.ndarray) -> dict[str, list[Any]]:
        """Each column's value as the model saw it, in original units (a category's label)."""
        out: dict[str, list[Any]] = {}
        for column in self.groups.columns:
            num = self._numeric.get(column)
            if num is not None:
                raw = X[:, num.output] * num.scale + num.mean
                if num.log1p:
                    raw = np.expm1(raw)
                out[column] = [_rounded(v) for v in raw.tolist()]
                continue
            onehot = self._onehot[column]
            outputs = [s.output for s in onehot.slots]
            block = X[:, outputs]
            hit = block.argmax(axis=1)
            known = block[np.arange(X.shape[0]), hit] > 0
            labels = [s.label for s in onehot.slots]
            out[column] = [
                labels[j] if ok else None
                for j, ok in zip(hit.tolist(), known.tolist(), strict=True)
            ]
        return out

    # the answer --------------------------------------------------------------------------------

    def explain(self, X: np.ndarray, batch: AssignmentBatch) -> list[dict[str, Any]]:
        """One explanation mapping per row of ``X`` (see the module notes), in row order."""
        n = X.shape[0]
        if n == 0:
            return []
        att = attribute(self.rule, X, batch)
        per_column = att.terms @ self.groups.matrix  # (n, m)
        m = per_column.shape[1]
        top = min(self.top, m)
        order = np.argsort(-np.abs(per_column), axis=1, kind="stable")[:, :top]
        picked = np.take_along_axis(per_column, order, axis=1)
        other = per_column.sum(axis=1) - picked.sum(axis=1)
        values = self._values(X)
        columns = self.groups.columns
        out: list[dict[str, Any]] = []
        for i, (label, runner, noise) in enumerate(
            zip(
                batch.labels.tolist(),
                att.runner_up.tolist(),
                att.noise.tolist(),
                strict=True,
            )
        ):
            if runner == NO_RUNNER_UP:
                out.append(
                    {
                        "versus": None,
                        "margin": 0.0,
                        "margin_kind": MARGIN_KINDS[self.kind],
                        "baseline": 0.0,
                        "other": 0.0,
                        "contributions": [],
                    }
                )
                continue
            versus = self._segment.get(runner, (NOISE_LABEL, "Outliers"))
            own = self._segment.get(label, (NOISE_LABEL, "Outliers"))
            contributions = [
                self._contribution(columns[j], c, values[columns[j]][i], label, runner, own, versus,
                                   noise)
                for j, c in zip(order[i].tolist(), picked[i].tolist(), strict=True)
            ]  # fmt: skip
            out.append(
                {
                    "versus": {"segment_id": versus[0], "segment_name": versus[1]},
                    "margin": float(att.margin[i]),
                    "margin_kind": MARGIN_KINDS["core_sample_noise" if noise else self.kind],
                    "baseline": float(att.baseline[i]),
                    "other": float(other[i]),
                    "contributions": contributions,
                }
            )
        return out

    def _contribution(
        self,
        column: str,
        amount: float,
        value: Any,
        label: int,
        runner: int,
        own: tuple[int, str],
        versus: tuple[int, str],
        noise: bool,
    ) -> dict[str, Any]:
        """One column's entry: the amount, the value, both segments' means or shares, a text."""
        entry: dict[str, Any] = {"column": column, "contribution": amount, "value": value}
        towards = own[1] if amount >= 0 else versus[1]
        if noise:
            # The comparison that matters is with the segment the customer failed to reach.
            mean = self._means.get(column, {}).get(runner)
            share = self._shares.get(column, {}).get(runner, {}).get(str(value))
            entry["versus_mean" if column in self._means else "versus_share"] = (
                mean if column in self._means else share
            )
            ref = mean if column in self._means else share
            entry["text"] = self._text(column, value, ref, versus[1], "far from", amount)
            return entry
        if column in self._means:
            mean = self._means[column].get(label)
            entry["segment_mean"] = mean
            entry["versus_mean"] = self._means[column].get(runner)
            entry["text"] = self._text(column, value, mean, own[1], "towards", amount, towards)
        else:
            shares = self._shares[column]
            share = shares.get(label, {}).get(str(value))
            entry["segment_share"] = share
            entry["versus_share"] = shares.get(runner, {}).get(str(value))
            entry["text"] = self._text(column, value, share, own[1], "towards", amount, towards)
        return entry

    def _text(
        self,
        column: str,
        value: Any,
        ref: float | None,
        segment: str,
        verb: str,
        amount: float,
        towards: str | None = None,
    ) -> str:
        numeric = column in self._means
        shown = "unseen category" if value is None else (
            _short(value) if numeric and isinstance(value, float) else str(value)
        )  # fmt: skip
        if verb == "far from":
            if ref is None or (isinstance(ref, float) and not math.isfinite(ref)):
                return f"{column} {shown} kept the customer away from {quote_value(segment)}"
            what = "mean" if numeric else "share of that category"
            ref_text = _short(ref) if numeric else f"{ref:.0%}"
            return (
                f"{column} {shown} vs {quote_value(segment)} {what} {ref_text} kept the "
                "customer away from it"
            )
        if ref is None:
            comparison = ""
        elif numeric:
            comparison = f" vs segment mean {_short(ref)}"
        else:
            comparison = f" ({ref:.0%} of the segment)"
        return f"{column} {shown}{comparison} pushed towards {quote_value(towards or segment)}"
