"""The reference route from an attribution to the ``explanation`` mappings: one customer at a
time, written as the module notes of :mod:`shared.serving.explanations` read.

``SegmentExplainer.explain`` builds the same answer column-wise for speed (distinct templates,
values and sentences found by numpy, one dict per contribution from ready lists); the equality
tests pin it to this loop, key order included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.contract.profiles import SegmentSet
from shared.quoting import quote_value
from shared.serving.attribution import MARGIN_KINDS, NO_RUNNER_UP, FeatureGroups
from shared.serving.explanations import DECIMALS, attribute
from shared.serving.kernels import NOISE_LABEL, AssignmentBatch
from shared.serving.preprocessing import PreprocessingParams
from shared.serving.rules import ServingRule

__all__ = ["reference_explanations"]


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def _published(value: Any) -> float:
    return float(np.round(value, DECIMALS))


def reference_explanations(
    rule: ServingRule,
    params: PreprocessingParams,
    segments: SegmentSet,
    X: np.ndarray,
    batch: AssignmentBatch,
    *,
    top: int,
) -> list[dict[str, Any]]:
    """One explanation per row of ``X``, built row by row."""
    att = attribute(rule, X, batch)
    groups = FeatureGroups.from_preprocessing(params)
    per_column = att.terms @ groups.matrix
    by_label = segments.label_to_segment()
    numeric = {n.column: n for n in params.numeric}
    onehot = {c.column: c for c in params.categorical}

    def name(label: int) -> str:
        found = by_label.get(label)
        return "Outliers" if found is None else found.name

    out: list[dict[str, Any]] = []
    for i in range(X.shape[0]):
        label, runner = int(batch.labels[i]), int(att.runner_up[i])
        if runner == NO_RUNNER_UP:
            out.append(
                {
                    "versus": None,
                    "margin": 0.0,
                    "margin_kind": MARGIN_KINDS[rule.kind],
                    "baseline": 0.0,
                    "other": 0.0,
                    "contributions": [],
                }
            )
            continue
        noise = bool(att.noise[i])
        row = per_column[i]
        order = sorted(range(len(groups.columns)), key=lambda j: -abs(row[j]))[:top]
        amounts = np.round(row[order], DECIMALS)
        margin = _published(att.margin[i])
        baseline = _published(att.baseline[i])
        contributions = []
        for j, amount in zip(order, amounts.tolist(), strict=True):
            column = groups.columns[j]
            entry: dict[str, Any] = {"column": column, "contribution": amount}
            own, versus = by_label.get(label), by_label.get(runner)
            if column in numeric:
                scaled = numeric[column]
                raw = X[i, scaled.output] * scaled.scale + scaled.mean
                value: Any = float(np.round(np.expm1(raw) if scaled.log1p else raw, 9))
                shown = f"{value:.4g}"
                ref = own.numeric[column].mean if own and column in own.numeric else None
                other = versus.numeric[column].mean if versus and column in versus.numeric else None
                keys = ("segment_mean", "versus_mean")
            else:
                slots = onehot[column].slots
                block = X[i, [s.output for s in slots]]
                hit = int(block.argmax())
                value = slots[hit].label if block[hit] > 0 else None
                shown = "(unseen category)" if value is None else str(value)
                ref = own.categorical.get(column, {}).get(str(value)) if own else None
                other = versus.categorical.get(column, {}).get(str(value)) if versus else None
                keys = ("segment_share", "versus_share")
            entry["value"] = value
            if not noise:
                entry[keys[0]] = _significant(ref)
            entry[keys[1]] = _significant(other)
            if noise:
                # Compared with the segment the customer failed to reach.
                reached = quote_value(name(runner))
                if other is None:
                    after = f" kept the customer away from {reached}"
                elif column in numeric:
                    after = f" vs {reached} mean {other:.4g} kept the customer away"
                else:
                    after = f" ({other:.0%} of {reached}) kept the customer away from it"
            else:
                towards_own = amount >= 0
                compared = ref if towards_own else other
                whose = "segment" if towards_own else "runner-up"
                if compared is None:
                    comparison = ""
                elif column in numeric:
                    comparison = f" vs {whose} mean {compared:.4g}"
                else:
                    comparison = f" ({compared:.0%} of the {whose})"
                towards = name(label) if towards_own else name(runner)
                after = f"{comparison} pushed towards {quote_value(towards)}"
            entry["text"] = f"{column} {shown}{after}"
            contributions.append(entry)
        versus_id = by_label[runner].segment_id if runner in by_label else NOISE_LABEL
        if noise:
            kind = MARGIN_KINDS["core_sample_noise"]
        elif runner == NOISE_LABEL:
            kind = MARGIN_KINDS["core_sample_alone"]
        else:
            kind = MARGIN_KINDS[rule.kind]
        out.append(
            {
                "versus": {"segment_id": versus_id, "segment_name": name(runner)},
                "margin": margin,
                "margin_kind": kind,
                "baseline": baseline,
                "other": _published(margin - baseline - float(np.sum(amounts))),
                "contributions": contributions,
            }
        )
    return out
