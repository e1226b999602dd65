/* The segments of the filtered customers: sizes, shares, means, quartiles and category mixes
 * recomputed for the customers that pass the filters, so the cards say what the selection looks
 * like ("of the women under 30: 41% Low income, high spending").
 *
 * Computed from plots.json's points: every training customer when the version has at most
 * `points.n` of them (exact), else the stratified sample (an estimate, and the caption says so).
 * z-scores stay relative to the whole population's mean and spread (the profiles'), so an arrow
 * on a filtered card means the same as on an unfiltered one. */
import { $, el } from './dom.js';
import { filtersActive, passesFilters } from './filters.js';
import { currentLabels, state } from './state.js';

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Numeric summary of the values (NaN/null left out), z relative to `overall`. */
export function summarize(values, overall) {
  const nums = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (!nums.length) return null;
  const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
  const std = overall && overall.std > 0 ? overall.std : 0;
  return {
    mean, median: quantile(nums, 0.5), q1: quantile(nums, 0.25), q3: quantile(nums, 0.75),
    min: nums[0], max: nums[nums.length - 1], z: std ? (mean - overall.mean) / std : 0,
  };
}

/** Category shares of the values (missing as "(missing)"), largest first. */
export function mixOf(values) {
  const counts = new Map();
  for (const v of values) {
    const c = v === null || v === undefined ? '(missing)' : String(v);
    counts.set(c, (counts.get(c) || 0) + 1);
  }
  const total = values.length || 1;
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([c, n]) => [c, n / total]));
}

/** Whether the points are every training customer (exact) or a sample (estimate). */
export function filterBasis() {
  const p = state.plots && state.plots.points;
  if (!p) return null;
  return { exact: !(p.sampled_from > p.n), n: p.n, of: p.sampled_from };
}

/** The selected model's segments for the filtered customers, or null when no filter is active
 * (or there are no points to filter). Each segment keeps its id, name and description; size,
 * share, numeric and categorical are recomputed; `filtered` holds the totals. */
export function filteredView() {
  const labels = currentLabels();
  if (!state.plots || !labels || !state.segments || !filtersActive()) return null;
  const features = state.plots.points.features || {};
  const rows = new Map(state.segments.map((s) => [s.segment_id, []]));
  let shown = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!passesFilters(i)) continue;
    if (!rows.has(labels[i])) rows.set(labels[i], []);
    rows.get(labels[i]).push(i);
    shown++;
  }
  const basis = filterBasis();
  const scale = basis.exact || !basis.n ? 1 : basis.of / basis.n;
  const segments = state.segments.map((seg) => {
    const idx = rows.get(seg.segment_id) || [];
    const numeric = {};
    const categorical = {};
    for (const [name, values] of Object.entries(features)) {
      const picked = idx.map((i) => values[i]);
      if (seg.numeric && seg.numeric[name]) {
        const overall = (state.population || {})[name] || null;
        const s = idx.length ? summarize(picked, overall) : null;
        if (s) numeric[name] = s;
      } else if (seg.categorical && seg.categorical[name] && idx.length) {
        categorical[name] = mixOf(picked);
      }
    }
    const size = Math.round(idx.length * scale);
    // The training description counts the whole segment: say what the filter kept instead.
    const description = `${basis.exact ? '' : 'About '}${size.toLocaleString()} of its ${(seg.size || 0).toLocaleString()} customers pass the filters.`;
    return Object.assign({}, seg, {
      size, share: shown ? idx.length / shown : 0, description,
      numeric, categorical, sampled: idx.length,
    });
  });
  return {
    segments, shown, total: labels.length, exact: basis.exact,
    estimate: Math.round(shown * scale), of: basis.of,
  };
}

/** The caption of the filtered cards: how many customers and how exact. */
export function filteredCaption(view) {
  if (view.exact) return `Filtered: ${view.shown.toLocaleString()} of ${view.total.toLocaleString()} training customers (exact)`;
  return `Filtered: about ${view.estimate.toLocaleString()} of ${view.of.toLocaleString()} training customers `
    + `(estimate from ${view.shown.toLocaleString()} of the ${view.total.toLocaleString()} sampled on the map)`;
}

/** What the cards say when no customer passes the filters, with a way out. */
export function emptyResult() {
  return el('div', { className: 'panel empty-result', role: 'status', 'data-testid': 'empty-result' },
    el('strong', { text: 'No customers match these filters.' }),
    el('span', { className: 'muted', text: ' Widen a range or tick a category again, or ' }),
    el('button', { type: 'button', className: 'link', onclick: () => $('filters-reset').click() }, 'reset the filters'),
    '.');
}
