/* The segment cards: one per segment of the selected model; a click focuses the segment on
 * the map, the assigned customer's segment is highlighted. */
import { $, el, setChildren } from './dom.js';
import { algoName, fmtNum, fmtPct, modelKey, segColor, shortName } from './format.js';
import { emptyResult, filteredCaption, filteredView } from './filtered.js';
import { renderMap } from './map.js';
import { knownGroupLine, ruleBlock, shapBars } from './reasons.js';
import { decorateCard } from './segments-work.js';
import { state } from './state.js';

function keyStats(seg) {
  const numeric = seg.numeric || {};
  const categorical = seg.categorical || {};
  const order = [...(seg.distinctive || [])];
  for (const f of Object.keys(numeric)) if (!order.includes(f)) order.push(f);
  for (const f of Object.keys(categorical)) if (!order.includes(f)) order.push(f);
  const items = [];
  for (const f of order) {
    if (items.length >= 4) break;
    if (numeric[f]) {
      const s = numeric[f];
      const z = s.z || 0;
      const arrow = z >= 0.5 ? '▲' : z <= -0.5 ? '▼' : '';
      items.push(el('li', { title: `${f}: mean ${fmtNum(s.mean)} (median ${fmtNum(s.median)}, ${fmtNum(s.q1)}–${fmtNum(s.q3)}); ${z >= 0 ? '+' : ''}${z.toFixed(2)} std from all customers` },
        el('span', { className: 'k', text: shortName(f) }),
        el('span', { className: `v ${z >= 0.5 ? 'up' : z <= -0.5 ? 'down' : ''}` }, `${fmtNum(s.mean)} `, arrow)));
    } else if (categorical[f]) {
      const top = Object.entries(categorical[f]).sort((a, b) => b[1] - a[1])[0];
      if (top) {
        items.push(el('li', { title: Object.entries(categorical[f]).map(([c, p]) => `${c}: ${fmtPct(p)}`).join(', ') },
          el('span', { className: 'k', text: shortName(f) }), el('span', { className: 'v', text: `${top[0]} ${fmtPct(top[1])}` })));
      }
    }
  }
  // Outcome rates (columns profiled, never clustered on), e.g. "Churn 45%".
  for (const [f, o] of Object.entries(seg.outcomes || {})) {
    if (o.rate === null || o.rate === undefined) continue;
    items.push(el('li', { className: 'outcome', title: `${f} = ${o.level}: ${fmtPct(o.rate)} of ${o.known} customers (outcome, not clustered on)` },
      el('span', { className: 'k', text: shortName(f) }), el('span', { className: 'v', text: fmtPct(o.rate) })));
  }
  return items;
}

export function renderCards() {
  // With filters on, the segments of the customers that pass (filtered.js).
  const view = filteredView();
  const segs = view ? view.segments : state.segments || [];
  const total = segs.reduce((a, s) => a + (s.size || 0), 0);
  $('cards-caption').textContent = view ? filteredCaption(view) : `${algoName(state.algo)}${state.k !== null && state.k !== undefined ? `, k = ${state.k}` : ''} · ${total.toLocaleString()} training customers · click a card to focus the map`;
  $('cards').dataset.filtered = view ? String(view.shown) : '';
  if (view && view.shown === 0) {
    setChildren($('cards'), emptyResult());
    $('cards').dataset.model = `${state.version}|${modelKey(state.algo, state.k)}`;
    $('cards').removeAttribute('aria-busy');
    return;
  }
  const cards = segs.map((s) => {
    const color = segColor(s.segment_id);
    const card = el('article', {
      className: 'card', vars: { '--seg': color }, tabindex: '0',
      dataset: { segmentId: String(s.segment_id) },
      'data-testid': 'segment-card',
      onclick: () => toggleFocus(s.segment_id),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggleFocus(s.segment_id); } },
    },
    el('div', { className: 'card-title' },
      el('span', { className: 'dot' }),
      el('h3', { className: 'card-name', text: s.name || `Segment ${s.segment_id}` }),
      el('span', { className: 'sid', text: s.segment_id < 0 ? 'outliers' : `#${s.segment_id}` })),
    el('div', { className: 'size' },
      el('span', { className: 'n', text: (s.size ?? 0).toLocaleString() }),
      el('span', { className: 'muted small', text: `customers · ${fmtPct(s.share ?? (total ? s.size / total : 0))}` })),
    el('div', { className: 'share-bar' }, el('span', { style: { width: `${Math.max(1, (s.share ?? 0) * 100)}%` } })),
    rfmLine(s),
    s.description ? el('p', { className: 'desc', text: s.description, title: s.description }) : null,
    el('ul', { className: 'stats' }, keyStats(s)),
    knownGroupLine(s),
    ruleBlock(s),
    shapBars(s));
    decorateCard(card, s);
    return card;
  });
  setChildren($('cards'), ...cards);
  // Which model the cards show (tests and scripts wait on it; users see the caption).
  $('cards').dataset.model = `${state.version}|${modelKey(state.algo, state.k)}`;
  $('cards').removeAttribute('aria-busy');
  applyCardStates();
}

export function applyCardStates() {
  const assignedId = state.assigned ? state.assigned.result.segment_id : null;
  for (const card of $('cards').children) {
    const id = Number(card.dataset.segmentId);
    card.classList.toggle('focused', state.focus === id);
    card.classList.toggle('dimmed', state.focus !== null && state.focus !== id && assignedId !== id);
    card.classList.toggle('highlight', assignedId === id);
    const badge = card.querySelector('.badge-you');
    if (assignedId === id && !badge) card.append(el('span', { className: 'badge-you', text: '★ assigned' }));
    if (assignedId !== id && badge) badge.remove();
  }
}

function toggleFocus(id) {
  state.focus = state.focus === id ? null : id;
  applyCardStates();
  renderMap();
}

/** RFM scores and the descriptive name of a segment trained on order lines (null otherwise). */
function rfmLine(s) {
  const r = s.rfm;
  if (!r) return null;
  const scores = [`R ${r.recency}`, `F ${r.frequency}`].concat(r.monetary ? [`M ${r.monetary}`] : []).join(' · ');
  const text = s.descriptive_name ? `RFM ${scores} · ${s.descriptive_name}` : `RFM ${scores}`;
  return el('p', {
    className: 'rfm small muted', text, 'data-testid': 'rfm-scores',
    title: 'Recency, frequency and monetary scores 1-5 (5 best) of the segment\'s typical customer against all customers',
  });
}
