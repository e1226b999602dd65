"""The report's "why this segment" blocks: a segment's CRM rule and its membership SHAP bars.

Plain HTML (every value escaped) inside each segment card; the bars are CSS widths, so the
report stays self-contained and needs no extra figure.
"""

from __future__ import annotations

import html
import logging

from shared.contract.profiles import SegmentProfile

__all__ = ["known_group_html", "rule_html", "shap_html"]

logger = logging.getLogger(__name__)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def rule_html(segment: SegmentProfile) -> str:
    """The segment's CRM rule with its held-back precision and coverage ('' without a rule).

    Examples
    --------
    >>> from shared.contract.profiles import SegmentRule
    >>> s = SegmentProfile(segment_id=1, label=0, name="A", description="", size=5, share=.5,
    ...     rule=SegmentRule(text="Age > 40", precision=0.5, coverage=1.0, matched=4,
    ...                      reliable=False, note="only 50%"))
    >>> html_text = rule_html(s)
    >>> 'class="rule weak"' in html_text, "<code>Age &gt; 40</code>" in html_text
    (True, True)
    >>> "precision 50%, coverage 100% on held-back customers (4 matched)" in html_text
    True
    """
    rule = segment.rule
    if rule is None:
        return ""
    precision = "n/a" if rule.precision is None else f"{rule.precision:.0%}"
    coverage = "n/a" if rule.coverage is None else f"{rule.coverage:.0%}"
    note = f" · <em>{_e(rule.note)}</em>" if rule.note else ""
    return (
        f'<div class="rule{"" if rule.reliable else " weak"}"><b>CRM rule</b>: '
        f"<code>{_e(rule.text)}</code><br>precision {precision}, coverage {coverage} on "
        f"held-back customers ({rule.matched} matched){note}</div>"
    )


def shap_html(segment: SegmentProfile, *, top: int = 5) -> str:
    """Bars of the segment's mean |SHAP| per column, largest first ('' without SHAP values).

    Examples
    --------
    >>> s = SegmentProfile(segment_id=1, label=0, name="A", description="", size=5, share=.5,
    ...                    shap={"Age": 0.2, "Income": 0.1})
    >>> 'style="width:50%"' in shap_html(s)
    True
    """
    if not segment.shap:
        return ""
    items = list(segment.shap.items())[:top]
    largest = max(v for _, v in items) or 1.0
    rows = "".join(
        f'<div class="shap-row"><span class="shap-name">{_e(name)}</span>'
        f'<span class="shap-bar"><span style="width:{100 * value / largest:.0f}%"></span></span>'
        f'<span class="shap-value">{value:.3f}</span></div>'
        for name, value in items
    )
    return (
        '<div class="shap"><b>What drives membership</b> (GMM, mean |SHAP| of the segment '
        f"probability){rows}</div>"
    )


def known_group_html(segment: SegmentProfile) -> str:
    """Seeded K-Means: the known group the segment grew from, its stayers, defectors, joiners.

    Examples
    --------
    >>> from shared.contract.profiles import KnownGroup
    >>> s = SegmentProfile(segment_id=1, label=0, name="VIP", description="", size=5, share=.5,
    ...     known_group=KnownGroup(label="VIP", seeds=12, stayed=10, defected=2, joined=30))
    >>> print(known_group_html(s))
    <div class="known"><b>Known group</b> VIP: 10 of 12 seeds stayed, 2 ended in another segment; 30 unlabelled customers joined</div>
    """  # noqa: E501
    group = segment.known_group
    if group is None:
        return ""
    return (
        f'<div class="known"><b>Known group</b> {_e(group.label)}: {group.stayed} of '
        f"{group.seeds} seeds stayed, {group.defected} ended in another segment; "
        f"{group.joined} unlabelled customers joined</div>"
    )
