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

``baseline + other + sum(contribution) == margin`` (to the :data:`DECIMALS` places published):
the listed columns are the :data:`TOP_CONTRIBUTIONS` largest in absolute value, ``other`` adds
up the rest. Segment means and shares are given to 6 significant digits. A categorical
contribution carries ``segment_share`` / ``versus_share`` (the share of the customer's category
in each segment) instead of means. Values are those the model used: an imputed value is the
training fill value. This module imports numpy and the standard library only.
"""

from __future__ import annotations

import logging
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
    attribute_latent_centroid,
    attribute_mixture,
    attribute_nearest_centroid,
)
from shared.serving.kernels import NOISE_LABEL, AssignmentBatch
from shared.serving.preprocessing import PreprocessingParams
from shared.serving.rules import (
    CentroidRule,
    CoreSampleRule,
    LatentCentroidRule,
    MixtureRule,
    ServingRule,
)

__all__ = ["TOP_CONTRIBUTIONS", "SegmentExplainer", "attribute"]

logger = logging.getLogger(__name__)

TOP_CONTRIBUTIONS = 3
"""Columns listed per customer (the rest are summed into ``other``)."""
DECIMALS = 6
"""Decimal places of the published margin, baseline and contributions."""


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
    elif isinstance(rule, LatentCentroidRule):
        position = _positions(v["labels"], batch.labels)
        out = attribute_latent_centroid(
            X, rule.encoder, v["latent_centroids"], v["reference"], position
        )
    elif isinstance(rule, CoreSampleRule):
        weighted = X * v["feature_weights"] if "feature_weights" in v else X
        return attribute_core_sample(weighted, v["components"], v["core_labels"], rule.eps, batch)
    else:
        raise TypeError(f"no exact explanation for a {quote_value(rule.kind)} rule")
    has = out.runner_up != NO_RUNNER_UP
    runner_up = np.where(has, v["labels"][np.where(has, out.runner_up, 0)], NO_RUNNER_UP)
    return Attribution(runner_up, out.margin, out.baseline, out.terms, out.noise)


def _significant(value: float | None) -> float | None:
    """A segment mean or share to 6 significant digits (None stays None)."""
    return None if value is None else float(f"{value:.6g}")


def _short(value: float) -> str:
    return f"{value:.4g}"


_OUTLIERS = (NOISE_LABEL, "Outliers")


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

    def _values(self, X: np.ndarray) -> tuple[list[list[Any]], np.ndarray]:
        """Each column's value as the model saw it, in original units (a category's label),
        and each row's category code per column ``(n, m)``: slot + 1, 0 for unseen or numeric."""
        values: list[list[Any]] = []
        codes = np.zeros((X.shape[0], len(self.groups.columns)), dtype=np.int64)
        for position, column in enumerate(self.groups.columns):
            num = self._numeric.get(column)
            if num is not None:
                raw = X[:, num.output] * num.scale + num.mean
                if num.log1p:
                    raw = np.expm1(raw)
                # Rounded to 9 decimals: 120 comes back as 120.0, not 120.00000000000001.
                values.append(np.round(raw, 9).tolist())
                continue
            onehot = self._onehot[column]
            block = X[:, [s.output for s in onehot.slots]]
            hit = block.argmax(axis=1)
            known = block[np.arange(X.shape[0]), hit] > 0
            codes[:, position] = np.where(known, hit + 1, 0)
            labels = [None, *(s.label for s in onehot.slots)]
            values.append([labels[c] for c in codes[:, position].tolist()])
        return values, codes

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
        # Published to DECIMALS places (a 10,000-customer answer is a tenth smaller); ``other``
        # is computed from the rounded parts, so the parts still add up to the margin.
        picked = np.round(picked, DECIMALS)
        margin = np.round(att.margin, DECIMALS)
        baseline = np.round(att.baseline, DECIMALS)
        other = np.round(margin - baseline - picked.sum(axis=1), DECIMALS)
        by_position, categories = self._values(X)
        # A batch repeats few (column, segment, runner-up, direction, category) combinations:
        # each gets one integer code, and its fixed fields and sentence parts are built once.
        known = np.unique(np.concatenate([batch.labels, att.runner_up]))
        own_index = np.searchsorted(known, batch.labels)
        runner_index = np.searchsorted(known, att.runner_up)
        width = int(categories.max()) + 1 if categories.size else 1
        code = order * known.size + own_index[:, None]
        code = code * known.size + runner_index[:, None]
        code = (code * 2 + (picked >= 0)) * 2 + att.noise[:, None]
        code = code * width + np.take_along_axis(categories, order, axis=1)
        per_code = known.size * known.size * 4 * width
        # Each row's listed values, in order (numbers and category labels alike).
        listed = np.empty((n, len(by_position)), dtype=object)
        for j, column_values in enumerate(by_position):
            listed[:, j] = column_values
        listed = np.take_along_axis(listed, order, axis=1)
        templates: dict[int, tuple[dict[str, Any], dict[Any, str], str, str]] = {}
        versus_refs: dict[int, dict[str, Any]] = {}
        kind = MARGIN_KINDS[self.kind]
        out: list[dict[str, Any]] = []
        rows = zip(
            batch.labels.tolist(),
            att.runner_up.tolist(),
            att.noise.tolist(),
            margin.tolist(),
            baseline.tolist(),
            other.tolist(),
            listed.tolist(),
            picked.tolist(),
            code.tolist(),
            strict=True,
        )
        for label, runner, noise, margin, baseline, rest, values, amounts, keys in rows:
            if runner == NO_RUNNER_UP:
                out.append(self._no_runner_up())
                continue
            contributions = []
            for value, amount, key in zip(values, amounts, keys, strict=True):
                template = templates.get(key)
                if template is None:
                    j = key // per_code
                    template = self._template(j, label, runner, amount >= 0, noise, value)
                    templates[key] = template
                fixed, texts, before, after = template
                text = texts.get(value)
                if text is None:
                    text = texts[value] = before + self._show(value, fixed) + after
                entry = fixed.copy()  # key order: column, contribution, value, means, text
                entry["contribution"] = amount
                entry["value"] = value
                entry["text"] = text
                contributions.append(entry)
            versus = versus_refs.get(runner)
            if versus is None:
                segment = self._segment.get(runner, _OUTLIERS)
                versus = {"segment_id": segment[0], "segment_name": segment[1]}
                versus_refs[runner] = versus
            out.append(
                {
                    "versus": versus,
                    "margin": margin,
                    "margin_kind": (
                        MARGIN_KINDS["core_sample_noise"]
                        if noise
                        else MARGIN_KINDS["core_sample_alone"]
                        if runner == NOISE_LABEL
                        else kind
                    ),
                    "baseline": baseline,
                    "other": rest,
                    "contributions": contributions,
                }
            )
        return out

    def _no_runner_up(self) -> dict[str, Any]:
        return {
            "versus": None,
            "margin": 0.0,
            "margin_kind": MARGIN_KINDS[self.kind],
            "baseline": 0.0,
            "other": 0.0,
            "contributions": [],
        }

    @staticmethod
    def _show(value: Any, fixed: dict[str, Any]) -> str:
        if value is None:
            return "(unseen category)"
        return _short(value) if "versus_mean" in fixed else str(value)

    def _template(
        self, j: int, label: int, runner: int, towards_own: bool, noise: bool, value: Any
    ) -> tuple[dict[str, Any], dict[Any, str], str, str]:
        """The fixed fields of one contribution, an empty cache of its sentences by value, and
        the text around its value."""
        column = self.groups.columns[j]
        own = self._segment.get(label, _OUTLIERS)[1]
        versus = self._segment.get(runner, _OUTLIERS)[1]
        numeric = column in self._means
        fixed: dict[str, Any] = {"column": column, "contribution": 0.0, "value": None}
        if numeric:
            ref = self._means[column].get(label)
            other = self._means[column].get(runner)
            if not noise:
                fixed["segment_mean"] = _significant(ref)
            fixed["versus_mean"] = _significant(other)
        else:
            shares = self._shares[column]
            ref = shares.get(label, {}).get(str(value))
            other = shares.get(runner, {}).get(str(value))
            if not noise:
                fixed["segment_share"] = _significant(ref)
            fixed["versus_share"] = _significant(other)
        fixed["text"] = ""
        if noise:
            # The comparison that matters is with the segment the customer failed to reach.
            if other is None:
                after = f" kept the customer away from {quote_value(versus)}"
            elif numeric:
                after = f" vs {quote_value(versus)} mean {_short(other)} kept the customer away"
            else:
                after = f" ({other:.0%} of {quote_value(versus)}) kept the customer away from it"
            return fixed, {}, f"{column} ", after
        # Towards the own segment: compared with its mean (share); towards the runner-up: with
        # the runner-up's.
        shown = ref if towards_own else other
        whose = "segment" if towards_own else "runner-up"
        if shown is None:
            comparison = ""
        elif numeric:
            comparison = f" vs {whose} mean {_short(shown)}"
        else:
            comparison = f" ({shown:.0%} of the {whose})"
        towards = own if towards_own else versus
        return fixed, {}, f"{column} ", f"{comparison} pushed towards {quote_value(towards)}"
