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
from typing import Any, NamedTuple

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


def _distinct(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for non-negative integer codes, by a table
    instead of a sort when the codes span less than a few times their number.

    Examples
    --------
    >>> distinct, inverse = _distinct(np.array([7, 3, 7, 0]))
    >>> distinct.tolist(), inverse.tolist()
    ([0, 3, 7], [2, 1, 2, 0])
    """
    span = int(codes.max()) + 1 if codes.size else 0
    if span > 4 * codes.size + 1024:
        distinct, inverse = np.unique(codes, return_inverse=True)
        return distinct, inverse.reshape(-1)
    present = np.zeros(span, dtype=bool)
    present[codes] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


class _Template(NamedTuple):
    """What the contributions of one (column, segment, runner-up, direction, noise, category)
    share: their fixed fields (column and comparison means or shares, in answer key order), the
    text around a numeric value, or a category's value and whole text."""

    fixed: dict[str, Any]
    before: str
    after: str
    category: str | None
    text: str | None


class SegmentExplainer:
    """Turns a batch's exact attribution into readable reasons (built once per served model).

    The answer is built column-wise: a batch repeats few (column, segment, runner-up,
    direction, noise, category) combinations and few values per combination, so numpy finds
    the distinct (combination, value) pairs, Python builds each one's mapping and sentence once,
    and each contribution is a copy of its pair's mapping with its amount set; the per-customer
    mappings are one dict display each, over lists made by numpy.

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
    Mall data, and the answer against a row-by-row reference (``tests/support/explanations.py``).
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
        self._categorical = np.array([c not in self._numeric for c in self.groups.columns])
        # Every category label (None for unseen, first) of every categorical column, and where
        # each column's labels start: a category's value is ``_labels[_label_start[j] + code]``.
        labels: list[str | None] = []
        self._label_start = np.zeros(len(self.groups.columns), dtype=np.int64)
        for j, column in enumerate(self.groups.columns):
            if column in self._onehot:
                self._label_start[j] = len(labels)
                labels.extend([None, *(s.label for s in self._onehot[column].slots)])
        self._labels = np.array(labels, dtype=object)
        # What a margin measures: the rule's, a DBSCAN noise point's, inside DBSCAN's only segment.
        self._kinds = np.array(
            [
                MARGIN_KINDS[rule.kind],
                MARGIN_KINDS["core_sample_noise"],
                MARGIN_KINDS["core_sample_alone"],
            ],
            dtype=object,
        )
        # Templates met so far, by (column, label, runner-up, towards own, noise, category):
        # a model has a bounded number, and their mappings are only ever copied.
        self._templates: dict[tuple[int, int, int, int, int, int], _Template] = {}
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

    def _values(self, X: np.ndarray) -> np.ndarray:
        """Each column's value as the model saw it ``(n, m)``: in original units for a numeric
        column, the category code (slot + 1, 0 for unseen) for a categorical one."""
        values = np.empty((X.shape[0], len(self.groups.columns)))
        for position, column in enumerate(self.groups.columns):
            num = self._numeric.get(column)
            if num is not None:
                raw = X[:, num.output] * num.scale + num.mean
                if num.log1p:
                    raw = np.expm1(raw)
                values[:, position] = raw
                continue
            block = X[:, [s.output for s in self._onehot[column].slots]]
            hit = block.argmax(axis=1)
            known = block[np.arange(X.shape[0]), hit] > 0
            values[:, position] = np.where(known, hit + 1, 0)
        # Rounded to 9 decimals: 120 comes back as 120.0, not 120.00000000000001 (the codes
        # are whole numbers already).
        return np.round(values, 9)

    # the answer --------------------------------------------------------------------------------

    def explain(self, X: np.ndarray, batch: AssignmentBatch) -> list[dict[str, Any]]:
        """One explanation mapping per row of ``X`` (see the module notes), in row order."""
        n = X.shape[0]
        if n == 0:
            return []
        att = attribute(self.rule, X, batch)
        alone = att.runner_up == NO_RUNNER_UP
        if alone.all():
            return [self._no_runner_up() for _ in range(n)]
        per_column = att.terms @ self.groups.matrix  # (n, m)
        top = min(self.top, per_column.shape[1])
        order = np.argsort(-np.abs(per_column), axis=1, kind="stable")[:, :top]
        rows = np.arange(n)[:, None]
        picked = per_column[rows, order]
        # Published to DECIMALS places (a 10,000-customer answer is a tenth smaller); ``other``
        # is computed from the rounded parts, so the parts still add up to the margin.
        picked = np.round(picked, DECIMALS)
        margin = np.round(att.margin, DECIMALS)
        baseline = np.round(att.baseline, DECIMALS)
        other = np.round(margin - baseline - picked.sum(axis=1), DECIMALS)
        # Labels (assigned and runner-up) as positions in the batch's sorted distinct labels.
        known = np.unique(np.concatenate([batch.labels, att.runner_up]))
        own = np.searchsorted(known, batch.labels)
        runner_up = np.searchsorted(known, att.runner_up)
        contributions = self._contributions(X, att, known, own, runner_up, order, picked)
        versus = np.empty(known.size, dtype=object)
        for i, runner in enumerate(known.tolist()):
            segment = self._segment.get(runner, _OUTLIERS)
            versus[i] = {"segment_id": segment[0], "segment_name": segment[1]}
        kinds = self._kinds[np.where(att.noise, 1, np.where(att.runner_up == NOISE_LABEL, 2, 0))]
        # Each row takes the next ``top`` contributions.
        grouped = list(map(list, zip(*[iter(contributions)] * top, strict=True)))
        out = [
            {
                "versus": vs,
                "margin": mg,
                "margin_kind": kind,
                "baseline": base,
                "other": rest,
                "contributions": listed,
            }
            for vs, mg, kind, base, rest, listed in zip(
                versus[runner_up].tolist(),
                margin.tolist(),
                kinds.tolist(),
                baseline.tolist(),
                other.tolist(),
                grouped if top else [[] for _ in range(n)],
                strict=True,
            )
        ]
        for i in np.flatnonzero(alone).tolist():
            out[i] = self._no_runner_up()
        return out

    def _contributions(
        self,
        X: np.ndarray,
        att: Attribution,
        known: np.ndarray,
        own: np.ndarray,
        runner_up: np.ndarray,
        order: np.ndarray,
        picked: np.ndarray,
    ) -> list[dict[str, Any]]:
        """The listed contributions (columns ``order``, amounts ``picked``), row after row;
        ``own`` and ``runner_up`` are each row's labels as positions in ``known``."""
        if order.size == 0:
            return []
        listed = self._values(X)[np.arange(order.shape[0])[:, None], order]
        category = np.where(self._categorical[order], listed, 0.0).astype(np.int64)
        # One integer code per (column, segment, runner-up, direction, noise, category) in the
        # batch; its fixed fields and the text around the value are built once per model.
        k = known.size
        width = int(category.max()) + 1
        row = (own * k + runner_up) * 2 + att.noise
        code = ((order * (2 * k * k) + row[:, None]) * 2 + (picked >= 0)) * width + category
        codes, template_of = _distinct(code.ravel())
        labels = known.tolist()
        templates = []
        for c in codes.tolist():
            c, cat = divmod(c, width)
            c, towards_own = divmod(c, 2)
            c, noise = divmod(c, 2)
            c, runner = divmod(c, k)
            j, assigned = divmod(c, k)
            key = (j, labels[assigned], labels[runner], towards_own, noise, cat)
            template = self._templates.get(key)
            if template is None:
                value = self._labels[self._label_start[j] + cat] if cat else None
                template = self._template(*key[:3], bool(towards_own), bool(noise), value)
                self._templates[key] = template
            templates.append(template)
        # One value and one sentence per distinct (template, value) pair, each number formatted
        # once: a value's bits are made dense, then paired with the template.
        distinct_bits, value_of = np.unique(listed.ravel().view(np.int64), return_inverse=True)
        numbers = distinct_bits.view(np.float64).tolist()
        shown = [_short(number) for number in numbers]  # category codes too: a few, unused
        distinct, pair_of = _distinct(template_of * len(numbers) + value_of)
        sample = np.empty(distinct.size, dtype=np.int64)
        sample[pair_of] = np.arange(pair_of.size)  # any entry of a pair: they share the value
        pair_template = template_of[sample].tolist()
        values: list[Any] = []
        texts: list[str] = []
        for t, v in zip(pair_template, value_of[sample].tolist(), strict=True):
            template = templates[t]
            if template.text is None:
                values.append(numbers[v])
                texts.append(template.before + shown[v] + template.after)
            else:
                values.append(template.category)
                texts.append(template.text)
        fixed = np.array([t.fixed for t in templates], dtype=object)
        amounts = picked.ravel().tolist()
        # Key order as in ``_Template.fixed``: column, contribution, value, means, text.
        if 2 * distinct.size <= pair_of.size:
            # Pairs repeat (values on a grid): one complete mapping per pair, copied per entry.
            shared = np.empty(distinct.size, dtype=object)
            shared[:] = [
                dict(f, value=value, text=text)
                for f, value, text in zip(fixed[pair_template].tolist(), values, texts, strict=True)
            ]
            return [
                dict(f, contribution=amount)
                for f, amount in zip(shared[pair_of].tolist(), amounts, strict=True)
            ]
        # Most values are distinct (continuous columns): one mapping per entry.
        return [
            dict(f, contribution=amount, value=value, text=text)
            for f, amount, value, text in zip(
                fixed[template_of].tolist(),
                amounts,
                np.array(values, dtype=object)[pair_of].tolist(),
                np.array(texts, dtype=object)[pair_of].tolist(),
                strict=True,
            )
        ]

    def _no_runner_up(self) -> dict[str, Any]:
        return {
            "versus": None,
            "margin": 0.0,
            "margin_kind": MARGIN_KINDS[self.kind],
            "baseline": 0.0,
            "other": 0.0,
            "contributions": [],
        }

    def _template(
        self, j: int, label: int, runner: int, towards_own: bool, noise: bool, value: Any
    ) -> _Template:
        """The comparison fields of one contribution and the text around its value (``value``
        is the category's label, None for an unseen one or a numeric column)."""
        column = self.groups.columns[j]
        own = self._segment.get(label, _OUTLIERS)[1]
        versus = self._segment.get(runner, _OUTLIERS)[1]
        numeric = column in self._means
        fixed: dict[str, Any] = {"column": column, "contribution": 0.0, "value": None}
        if numeric:
            ref = self._means[column].get(label)
            other = self._means[column].get(runner)
            keys = ("segment_mean", "versus_mean")
        else:
            shares = self._shares[column]
            ref = shares.get(label, {}).get(str(value))
            other = shares.get(runner, {}).get(str(value))
            keys = ("segment_share", "versus_share")
        if noise:
            # The comparison that matters is with the segment the customer failed to reach.
            if other is None:
                after = f" kept the customer away from {quote_value(versus)}"
            elif numeric:
                after = f" vs {quote_value(versus)} mean {_short(other)} kept the customer away"
            else:
                after = f" ({other:.0%} of {quote_value(versus)}) kept the customer away from it"
        else:
            # Towards the own segment: compared with its mean (share); towards the runner-up:
            # with the runner-up's.
            shown = ref if towards_own else other
            whose = "segment" if towards_own else "runner-up"
            if shown is None:
                comparison = ""
            elif numeric:
                comparison = f" vs {whose} mean {_short(shown)}"
            else:
                comparison = f" ({shown:.0%} of the {whose})"
            after = f"{comparison} pushed towards {quote_value(own if towards_own else versus)}"
            fixed[keys[0]] = _significant(ref)
        fixed[keys[1]] = _significant(other)
        fixed["text"] = ""
        before = f"{column} "
        if numeric:
            return _Template(fixed, before, after, None, None)
        label_shown = "(unseen category)" if value is None else str(value)
        return _Template(fixed, before, after, value, before + label_shown + after)
