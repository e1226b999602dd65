/* Model selection: the algorithm and k buttons, the KPIs, and loading a model's segments
 * (cached per version), after which every view redraws for it. */
import { api, dsPath } from './api.js';
import { clearAssigned } from './assign.js';
import { orderModelFigures, refreshLiveSilhouette } from './analysis.js';
import { renderCards } from './cards.js';
import { $, el, setChildren } from './dom.js';
import { METRIC_HELP, kSentence } from './explain.js';
import { ALGO_TITLES, algoName, fmtNum, modelKey } from './format.js';
import { renderMap, renderMix } from './map.js';
import { state, versionParam, writeHash } from './state.js';

function algoSummary(algo) { return (state.summary.algorithms || {})[algo] || {}; }
export function chosenK(algo) {
  const s = algoSummary(algo);
  if (algo === 'dbscan') return null;
  if (s.k !== null && s.k !== undefined) return s.k;
  const ks = sweepKs(algo);
  return ks.length ? ks[0] : null;
}
export function sweepKs(algo) {
  const s = algoSummary(algo);
  // DBSCAN (k null) finds its own number of segments: there is nothing to choose.
  if (s.k === null || s.k === undefined) return [];
  const ks = (Array.isArray(s.ks) ? s.ks.slice() : Object.keys(s.models || {}).map(Number))
    .filter((n) => Number.isFinite(n));
  if (s.k !== null && s.k !== undefined && !ks.includes(s.k)) ks.push(s.k);
  return ks.sort((a, b) => a - b);
}

function renderModelBar() {
  const algos = Object.keys(state.summary.algorithms || {});
  setChildren($('algo-buttons'), ...algos.map((a) => {
    const b = el('button', {
      type: 'button', role: 'radio', 'aria-checked': String(a === state.algo),
      className: a === state.algo ? 'active' : '', dataset: { algo: a }, title: ALGO_TITLES[a],
      onclick: () => { if (a !== state.algo) selectModel(a, chosenK(a)); },
    }, algoName(a));
    if (a === state.summary.champion || algoSummary(a).champion) b.append(el('span', { className: 'tag', text: '★' , title: 'champion' }));
    return b;
  }));
  const ks = sweepKs(state.algo);
  const chosen = chosenK(state.algo);
  const kBox = $('k-buttons');
  if (ks.length === 0) {
    const n = algoSummary(state.algo).n_segments;
    setChildren(kBox, el('button', { type: 'button', className: 'active', disabled: true,
      title: 'DBSCAN finds the number of segments itself' }, `${n ?? '?'} (found)`));
  } else {
    setChildren(kBox, ...ks.map((k) => el('button', {
      type: 'button', role: 'radio', 'aria-checked': String(k === state.k),
      className: [k === state.k ? 'active' : '', k === chosen ? 'chosen' : ''].join(' ').trim(),
      title: k === chosen ? 'chosen by the selection rule' : undefined,
      dataset: { k: String(k) },
      onclick: () => { if (k !== state.k) selectModel(state.algo, k); },
    }, String(k))));
  }
}

function candidateMetrics(algo, k) {
  const sweep = state.evaluation && state.evaluation.sweeps ? state.evaluation.sweeps[algo] : null;
  const cand = sweep && (sweep.candidates || []).find((c) => (c.k ?? null) === (k ?? null));
  if (cand && cand.metrics) return cand.metrics;
  const s = algoSummary(algo);
  return (k ?? null) === (chosenK(algo) ?? null) ? s.metrics || {} : {};
}

function renderKpis(segments) {
  const m = candidateMetrics(state.algo, state.k);
  // Each KPI says in one line what it means (title, and aria-describedby for screen readers).
  const kpi = (label, value, help, id) => el('div', { className: 'kpi', title: help, tabindex: '0', 'aria-describedby': `kpi-help-${id}`, 'data-testid': `kpi-${id}` },
    el('div', { className: 'v', text: value }), el('div', { className: 'l', text: label }),
    el('span', { className: 'visually-hidden', id: `kpi-help-${id}`, text: help }));
  setChildren($('kpis'),
    kpi('Segments', String(segments.filter((s) => !s.is_outlier && s.segment_id >= 0).length), METRIC_HELP.segments, 'segments'),
    kpi('Silhouette', fmtNum(m.silhouette, 2), METRIC_HELP.silhouette, 'silhouette'),
    kpi('Davies–Bouldin', fmtNum(m.davies_bouldin, 2), METRIC_HELP.davies_bouldin, 'davies-bouldin'),
  );
  const sweep = state.evaluation && state.evaluation.sweeps ? state.evaluation.sweeps[state.algo] : null;
  const chosen = chosenK(state.algo);
  const technical = sweep && sweep.reason ? sweep.reason : (algoSummary(state.algo).note || '');
  const sentence = kSentence(state.algo, sweep, algoSummary(state.algo)) || technical;
  const lead = state.k !== chosen && chosen !== null && state.k !== null ? `Viewing k = ${state.k}; the selection rule chose k = ${chosen}. ` : '';
  const box = $('model-reason');
  box.title = technical;
  setChildren(box, el('span', { 'data-testid': 'k-sentence', text: `${lead}${sentence}` }),
    technical && technical !== sentence ? el('details', { className: 'rule' }, el('summary', { text: 'How exactly' }), el('span', { text: technical })) : null);
}

async function getSegments(algo, k) {
  const key = `${modelKey(algo, k)}@${state.version}`;
  if (!state.segCache.has(key)) {
    const promise = api(dsPath('/segments'), { algorithm: algo, k: k ?? null, version: versionParam() })
      .catch((err) => { state.segCache.delete(key); throw err; });
    state.segCache.set(key, promise);
  }
  return state.segCache.get(key);
}

export async function selectModel(algo, k) {
  const modelId = ++state.modelId;
  $('cards').setAttribute('aria-busy', 'true');
  state.algo = algo;
  state.k = k;
  state.focus = null;
  if (state.assigned) clearAssigned();
  renderModelBar();
  writeHash();
  let data;
  try {
    data = await getSegments(algo, k);
  } catch (err) {
    if (modelId !== state.modelId) return;
    setChildren($('cards'), el('div', { className: 'panel muted', text: `Could not load the segments: ${err.message}` }));
    return;
  }
  if (modelId !== state.modelId) return;
  state.population = data.population || {};
  state.segments = (data.segments || []).slice().sort((a, b) => (a.segment_id < 0) - (b.segment_id < 0) || a.segment_id - b.segment_id);
  renderKpis(state.segments);
  renderCards();
  renderMap();
  renderMix();
  orderModelFigures();
  refreshLiveSilhouette();
  prefetch(algo);
}

function prefetch(algo) {
  for (const k of sweepKs(algo)) getSegments(algo, k).catch(() => undefined);
}
