/* The Versions panel (Data tab): compare the shown version with another one (segment sizes
 * and how customers moved, GET .../versions/{v}/compare) and, for an admin, promote the shown
 * version after a confirmation (POST .../promote); the page then follows the new current
 * version through status.js. */
import { ApiError, api, dsPath } from './api.js';
import { $, el, setChildren } from './dom.js';
import { fmtPct } from './format.js';
import { state } from './state.js';
import { checkStatusNow } from './status.js';

function promoteButton() {
  if (!state.version || state.version === state.currentVersion) {
    return el('p', { className: 'muted small', text: 'This is the current version: the API and the assign form use it.' });
  }
  const message = el('p', { className: 'small', role: 'status', 'data-testid': 'promote-message' });
  const button = el('button', {
    type: 'button', className: 'button', 'data-testid': 'promote',
    onclick: async () => {
      const ok = window.confirm(`Serve version ${state.version} to everyone? The API, the CLI and this page switch to it; you can promote the previous one back.`);
      if (!ok) return;
      button.disabled = true;
      try {
        const done = await api(dsPath(`/versions/${encodeURIComponent(state.version)}/promote`), null, { method: 'POST' });
        message.textContent = `Version ${done.version} is now current.`;
        checkStatusNow();
      } catch (err) {
        button.disabled = false;
        message.textContent = err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? 'Promoting needs an admin token: set one with the "API token" button.'
          : `Could not promote: ${err.message}`;
      }
    },
  }, 'Make this version current…');
  return el('div', null, button, message);
}

function comparisonView(data) {
  const before = new Map(data.base_segments.map((s) => [s.segment_id, s]));
  const after = new Map(data.other_segments.map((s) => [s.segment_id, s]));
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => (a < 0) - (b < 0) || a - b);
  const names = new Map([...data.base_segments, ...data.other_segments].map((s) => [s.segment_id, s.name]));
  const sizes = el('table', { 'data-testid': 'compare-sizes' },
    el('thead', null, el('tr', null, ['Segment', 'This version', 'Other version', 'Change'].map((h) => el('th', { text: h })))),
    el('tbody', null, ids.map((id) => {
      const a = before.get(id); const b = after.get(id);
      const change = a && b ? b.size - a.size : null;
      return el('tr', { dataset: { segmentId: String(id) } },
        el('td', { text: `${names.get(id)} (#${id})` }),
        el('td', { text: a ? `${a.size.toLocaleString()} · ${fmtPct(a.share)}` : 'new' }),
        el('td', { text: b ? `${b.size.toLocaleString()} · ${fmtPct(b.share)}` : 'gone' }),
        el('td', { text: change === null ? '–' : `${change > 0 ? '+' : ''}${change.toLocaleString()}` }));
    })));
  const out = [el('div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Segment sizes in both versions' }, sizes)];
  if (data.matched_customers !== null && data.matched_customers !== undefined) {
    const stayed = data.moves.filter((m) => m.from_segment === m.to_segment).reduce((n, m) => n + m.customers, 0);
    const moved = data.moves.filter((m) => m.from_segment !== m.to_segment).sort((x, y) => y.customers - x.customers);
    out.push(el('p', { className: 'small', 'data-testid': 'compare-summary', text: `${stayed.toLocaleString()} of the ${data.matched_customers.toLocaleString()} customers in both versions kept their segment; ${(data.matched_customers - stayed).toLocaleString()} moved.` }));
    if (moved.length) {
      out.push(el('ul', { className: 'small moves', 'data-testid': 'compare-moves' }, moved.slice(0, 10).map((m) => el('li', {
        text: `${m.customers.toLocaleString()} from ${names.get(m.from_segment) || `#${m.from_segment}`} to ${names.get(m.to_segment) || `#${m.to_segment}`}`,
      }))));
    }
  }
  if (data.note) out.push(el('p', { className: 'muted small', text: data.note }));
  return out;
}

export function renderVersionsPanel() {
  const box = $('versions-panel');
  if (!box || !state.version) return;
  const others = state.versions.filter((v) => v !== state.version);
  const select = el('select', { 'aria-label': 'Version to compare with', 'data-testid': 'compare-select' },
    others.map((v) => el('option', { value: v, text: v === state.currentVersion ? `${v} (current)` : v })));
  const result = el('div', { 'data-testid': 'compare-result' });
  const compare = el('button', {
    type: 'button', className: 'button', 'data-testid': 'compare', disabled: others.length === 0,
    onclick: async () => {
      setChildren(result, el('p', { className: 'muted small', text: 'Comparing…' }));
      try {
        const data = await api(dsPath(`/versions/${encodeURIComponent(state.version)}/compare`), { with: select.value });
        setChildren(result, ...comparisonView(data));
      } catch (err) {
        setChildren(result, el('p', { className: 'small', text: `Could not compare: ${err.message}` }));
      }
    },
  }, 'Compare');
  setChildren(box, el('h3', { text: 'Versions' }),
    el('p', { className: 'small', text: `Shown: ${state.version}${state.version === state.currentVersion ? ' (current)' : ''}` }),
    promoteButton(),
    others.length
      ? el('div', { className: 'compare-row' }, el('span', { className: 'small', text: 'Compare with' }), select, compare)
      : el('p', { className: 'muted small', text: 'No other version to compare with yet.' }),
    result);
}

export function initVersionsPanel() {
  let shown = null;
  new MutationObserver(() => {
    const key = `${state.dataset}|${state.version}|${state.currentVersion}|${state.versions.length}`;
    if (key !== shown) { shown = key; renderVersionsPanel(); }
  }).observe($('cards'), { attributes: true, attributeFilter: ['data-model'] });
}
