/* Why this segment: a segment's CRM rule and its membership SHAP bars (on the cards), and a
 * customer's exact reasons from assign?explain=true (in the assign result). Text only, never
 * markup: every value goes through el(). */
import { el } from './dom.js';
import { fmtNum, fmtPct, shortName } from './format.js';

/** Seeded K-Means: the known group the segment grew from, who stayed, left and joined. */
export function knownGroupLine(seg) {
  const g = seg.known_group;
  if (!g) return null;
  return el('div', { className: 'seg-known', 'data-testid': 'segment-known-group',
    text: `Known group ${g.label}: ${g.stayed} of ${g.seeds} seeds stayed, ${g.defected} moved to other segments; ${g.joined} unlabelled customers joined` });
}

/** The segment's CRM rule with its held-back precision; a weak rule is shown, flagged. */
export function ruleBlock(seg) {
  const rule = seg.rule;
  if (!rule) return null;
  const measured = `precision ${fmtPct(rule.precision)}, coverage ${fmtPct(rule.coverage)} on held-back customers`;
  return el('div', { className: `seg-rule${rule.reliable ? '' : ' weak'}`, 'data-testid': 'segment-rule', title: rule.note || measured },
    el('span', { className: 'k', text: 'CRM rule' }),
    el('code', { text: rule.text }),
    el('span', { className: 'muted small', text: rule.reliable ? measured : `${measured} · weak rule` }));
}

/** Bars of the segment's mean |SHAP| per column (GMM only), largest first. */
export function shapBars(seg, top = 4) {
  const entries = Object.entries(seg.shap || {}).slice(0, top);
  if (!entries.length) return null;
  const largest = Math.max(...entries.map(([, v]) => v)) || 1;
  return el('div', { className: 'seg-shap', 'data-testid': 'segment-shap', title: 'GMM: mean |SHAP value| of the segment membership probability' },
    el('span', { className: 'k', text: 'What drives membership (SHAP)' }),
    entries.map(([name, value]) => el('div', { className: 'shap-row' },
      el('span', { className: 'shap-name', text: shortName(name), title: name }),
      el('span', { className: 'shap-bar' }, el('span', { style: { width: `${Math.round((100 * value) / largest)}%` } })),
      el('span', { className: 'shap-value', text: fmtNum(value, 3) }))));
}

/** The exact reasons of one assignment: the runner-up, then the largest contributions. */
export function reasonsList(explanation) {
  if (!explanation) return null;
  if (!explanation.versus) return el('div', { className: 'muted small', text: 'The model has a single segment: nothing to compare with.' });
  return el('div', { className: 'reasons', 'data-testid': 'assign-reasons' },
    el('div', { className: 'small', text: `Why this segment rather than “${explanation.versus.segment_name}”:` }),
    el('ul', {}, explanation.contributions.map((c) => el('li', {
      className: c.contribution >= 0 ? 'towards' : 'against',
      title: `contribution ${fmtNum(c.contribution, 3)} of a margin of ${fmtNum(explanation.margin, 3)} (${explanation.margin_kind})`,
      text: c.text,
    }))));
}
