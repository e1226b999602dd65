/* The filters: narrow the sampled customers shown on the map, in the segment mix and on the
 * cards (filtered.js recomputes the cards for the customers that pass). */
import { $, el, setChildren } from './dom.js';
import { fmtNum } from './format.js';
import { state } from './state.js';

function columnRole(name) {
  const col = state.columns.find((c) => c.name === name);
  return col ? col.role : null;
}

/** One control per sampled feature: a two-ended slider (numeric, date) or checkboxes (2..12
 * categories). `onChange` runs (once per animation frame) when the customers shown change. */
export function buildFilters(onChange) {
  const box = $('filters');
  state.filters = { numeric: {}, categorical: {} };
  changed = onChange;
  if (!state.plots) {
    setChildren(box, el('p', { className: 'muted small', text: 'No plot data for this version, so there is nothing to filter.' }));
    return;
  }
  const features = state.plots.points.features || {};
  const nodes = [];
  for (const [name, values] of Object.entries(features)) {
    const role = columnRole(name);
    const nums = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
    const isNumeric = role ? role === 'numeric' || (role === 'date' && nums.length > 0) : nums.length > values.length / 2;
    if (isNumeric && nums.length) {
      nodes.push(numericFilter(name, nums));
    } else if (!isNumeric) {
      const cats = [...new Set(values.map((v) => (v === null || v === undefined ? '(missing)' : String(v))))].sort();
      if (cats.length >= 2 && cats.length <= 12) nodes.push(categoricalFilter(name, cats));
    }
  }
  setChildren(box, ...(nodes.length ? nodes : [el('p', { className: 'muted small', text: 'No filterable features.' })]));
}

const SLIDER_STEPS = 200;

/** A two-ended slider over [min, max]. Whole-number columns step by 1; others move over
 * SLIDER_STEPS positions mapped back to values, so both ends reach the exact extremes (a float
 * `step` snaps the upper thumb below the maximum and drops the largest customers). */
function numericFilter(name, nums) {
  let min = Infinity; let max = -Infinity;
  for (const v of nums) { if (v < min) min = v; if (v > max) max = v; }
  const integer = max - min <= 1000 && nums.every((v) => Number.isInteger(v));
  // Whole numbers: the slider is in the column's own units. Others: positions 0..SLIDER_STEPS.
  const bottom = integer ? min : 0;
  const top = integer ? max : SLIDER_STEPS;
  const toValue = (pos) => {
    if (pos <= bottom) return min;
    if (pos >= top) return max;
    return integer ? pos : min + ((max - min) * pos) / top;
  };
  state.filters.numeric[name] = { lo: min, hi: max, min, max };
  const label = el('span', { className: 'range' });
  const fill = el('div', { className: 'fill' });
  const lo = el('input', { type: 'range', min: bottom, max: top, step: 1, value: bottom, 'aria-label': `${name} minimum`, dataset: { feature: name, end: 'lo' } });
  const hi = el('input', { type: 'range', min: bottom, max: top, step: 1, value: top, 'aria-label': `${name} maximum`, dataset: { feature: name, end: 'hi' } });
  const sync = (changed) => {
    let a = Number(lo.value); let b = Number(hi.value);
    if (a > b) { if (changed === lo) { a = b; lo.value = String(a); } else { b = a; hi.value = String(b); } }
    const va = toValue(a); const vb = toValue(b);
    state.filters.numeric[name].lo = va;
    state.filters.numeric[name].hi = vb;
    label.textContent = `${fmtNum(va)} – ${fmtNum(vb)}`;
    lo.setAttribute('aria-valuetext', fmtNum(va));
    hi.setAttribute('aria-valuetext', fmtNum(vb));
    const span = top - bottom || 1;
    fill.style.left = `${((a - bottom) / span) * 100}%`;
    fill.style.width = `${((b - a) / span) * 100}%`;
  };
  const onInput = (e) => { sync(e.target); scheduleFilter(); };
  lo.addEventListener('input', onInput); hi.addEventListener('input', onInput);
  lo.addEventListener('change', onInput); hi.addEventListener('change', onInput);
  sync(null);
  return el('div', { className: 'filter', dataset: { filter: name }, 'data-testid': `filter-${name}` },
    el('div', { className: 'filter-head' }, el('span', { className: 'name', text: name }), label),
    el('div', { className: 'dual' }, el('div', { className: 'track' }), fill, lo, hi));
}

function categoricalFilter(name, cats) {
  const allowed = new Set(cats);
  state.filters.categorical[name] = allowed;
  return el('div', { className: 'filter', dataset: { filter: name }, 'data-testid': `filter-${name}` },
    el('div', { className: 'filter-head' }, el('span', { className: 'name', text: name })),
    el('div', { className: 'checks' }, cats.map((c) => el('label', { className: 'check' },
      el('input', { type: 'checkbox', checked: true, value: c, onchange: (e) => {
        if (e.target.checked) allowed.add(c); else allowed.delete(c);
        scheduleFilter();
      } }), c))));
}

let filterFrame = 0;
let changed = () => undefined;
function scheduleFilter() {
  if (filterFrame) return;
  filterFrame = requestAnimationFrame(() => { filterFrame = 0; changed(); });
}

/** Whether any filter excludes anything. */
export function filtersActive() {
  for (const f of Object.values(state.filters.numeric)) if (f.lo > f.min || f.hi < f.max) return true;
  for (const [name, allowed] of Object.entries(state.filters.categorical)) {
    const values = (state.plots && state.plots.points.features[name]) || [];
    const all = new Set(values.map((v) => (v === null || v === undefined ? '(missing)' : String(v))));
    for (const c of all) if (!allowed.has(c)) return true;
  }
  return false;
}

/** Whether sampled point `i` passes every filter. */
export function passesFilters(i) {
  const features = state.plots.points.features;
  for (const [name, f] of Object.entries(state.filters.numeric)) {
    if (f.lo <= f.min && f.hi >= f.max) continue;
    const v = features[name][i];
    if (typeof v !== 'number' || v < f.lo || v > f.hi) return false;
  }
  for (const [name, allowed] of Object.entries(state.filters.categorical)) {
    const v = features[name][i];
    if (!allowed.has(v === null || v === undefined ? '(missing)' : String(v))) return false;
  }
  return true;
}
