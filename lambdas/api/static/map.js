/* The customer map (PCA or t-SNE, one trace per segment, filters applied, the typed-in customer
 * as a star) and the segment mix beside it. */
import { $, esc, placeholder, setChildren } from './dom.js';
import { FONT, PLOT_CONFIG, fmtNum, fmtPct, modelKey, segColor } from './format.js';
import { passesFilters } from './filters.js';
import { currentLabels, state } from './state.js';

/** Where a prepared feature vector (from `assign?prepared=true`) lies on the PCA map: plots.json's
 * `pca_projection`, coords = (x - mean) @ components.T, the formula that placed every sampled
 * customer (shared/report/plot_data.py pca_coordinates). Null when this version published no
 * projection or the vector does not fit it. */
export function projectOnPca(prepared) {
  const projection = state.plots && state.plots.points.pca_projection;
  if (!projection || !Array.isArray(prepared) || prepared.length !== projection.mean.length) return null;
  return projection.components.map((row) => {
    let sum = 0;
    for (let j = 0; j < row.length; j++) sum += (prepared[j] - projection.mean[j]) * row[j];
    return sum;
  });
}

function mapCoords() {
  const p = state.plots.points;
  return state.projection === 'tsne' && p.tsne ? p.tsne : p.pca;
}

function hoverText(i, segName) {
  const p = state.plots.points;
  const lines = [`<b>${esc(segName)}</b>`];
  if (p.ids && p.ids[i] !== null && p.ids[i] !== undefined) lines.push(`id ${esc(p.ids[i])}`);
  for (const [name, values] of Object.entries(p.features || {}).slice(0, 8)) {
    const v = values[i];
    lines.push(`${esc(name)}: ${esc(typeof v === 'number' ? fmtNum(v) : v ?? '–')}`);
  }
  return lines.join('<br>');
}

function axisRange(coords, dim, extra) {
  let lo = Infinity; let hi = -Infinity;
  for (const c of extra ? [...coords, extra] : coords) { if (c[dim] < lo) lo = c[dim]; if (c[dim] > hi) hi = c[dim]; }
  const pad = (hi - lo) * 0.06 || 1;
  return [lo - pad, hi + pad];
}

export function renderMap() {
  const div = $('map');
  const tsneButton = document.querySelector('#projection [data-projection="tsne"]');
  if (tsneButton) tsneButton.disabled = !(state.plots && state.plots.points.tsne);
  const labels = currentLabels();
  if (!state.plots || !window.Plotly) {
    placeholder(div, state.plotsError ? `No map: ${state.plotsError}` : 'No plot data for this version.');
    $('shown-count').textContent = '';
    div.dataset.shown = '0';
    return;
  }
  if (!labels) {
    placeholder(div, `plots.json has no labels for ${modelKey(state.algo, state.k)}.`);
    $('shown-count').textContent = '';
    div.dataset.shown = '0';
    return;
  }
  if (div.querySelector('.placeholder')) setChildren(div);
  const coords = mapCoords();
  const segs = state.segments || [];
  const byId = new Map(segs.map((s) => [s.segment_id, s]));
  const groups = new Map(segs.map((s) => [s.segment_id, []]));
  let shown = 0;
  for (let i = 0; i < coords.length; i++) {
    if (!passesFilters(i)) continue;
    const id = labels[i];
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(i);
    shown++;
  }
  const traces = [];
  for (const [id, idx] of groups) {
    const seg = byId.get(id);
    const name = seg ? seg.name : `Segment ${id}`;
    const faded = state.focus !== null && state.focus !== id;
    traces.push({
      type: 'scatter', mode: 'markers', name: esc(name), legendgroup: String(id),
      x: idx.map((i) => coords[i][0]), y: idx.map((i) => coords[i][1]),
      text: idx.map((i) => hoverText(i, name)), hoverinfo: 'text',
      marker: {
        color: segColor(id), size: 8, opacity: faded ? 0.12 : 0.85,
        symbol: id < 0 ? 'x' : 'circle', line: { width: 0.5, color: '#ffffff' },
      },
      meta: { segment_id: id },
    });
  }
  const isTsne = Boolean(state.projection === 'tsne' && state.plots.points.tsne);
  // The typed-in customer: exactly projected on the PCA map; t-SNE has no formula for new points.
  const star = state.assigned && !isTsne ? state.assigned.pca : null;
  if (star) {
    const [x, y] = star;
    traces.push({
      type: 'scatter', mode: 'markers+text', name: 'Your customer', x: [x], y: [y],
      text: ['Your customer'], textposition: 'top center', textfont: { size: 12, color: '#111a2e' },
      hoverinfo: 'name', showlegend: false, cliponaxis: false,
      marker: { symbol: 'star', size: 22, color: segColor(state.assigned.result.segment_id), line: { width: 2, color: '#111a2e' } },
    });
  }
  const explained = state.plots.points.pca_explained || [];
  const axisTitle = (n) => (isTsne ? `t-SNE ${n}` : `PC${n}${explained[n - 1] !== undefined ? ` (${(explained[n - 1] * 100).toFixed(0)}% of variance)` : ''}`);
  const layout = {
    font: FONT, margin: { l: 52, r: 12, t: 34, b: 44 }, hovermode: 'closest',
    paper_bgcolor: '#ffffff', plot_bgcolor: '#fbfcfe',
    xaxis: { title: { text: axisTitle(1) }, range: axisRange(coords, 0, star), zeroline: false, gridcolor: '#edf0f5' },
    yaxis: { title: { text: axisTitle(2) }, range: axisRange(coords, 1, star), zeroline: false, gridcolor: '#edf0f5' },
    legend: { orientation: 'h', x: 0, y: 1.01, yanchor: 'bottom', font: { size: 11.5 }, itemclick: 'toggle' },
    uirevision: `${state.dataset}|${state.version}|${state.projection}`,
  };
  if (!shown && coords.length) {
    layout.annotations = [{ text: 'No customers match these filters', xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, showarrow: false, font: { size: 14, color: '#5b6578' } }];
  }
  Plotly.react(div, traces, layout, PLOT_CONFIG);
  const total = coords.length;
  div.dataset.shown = String(shown);
  $('shown-count').textContent = `${shown.toLocaleString()} of ${total.toLocaleString()} customers`;
  const p = state.plots.points;
  const notes = [p.sampled_from > p.n
    ? `A random sample of ${p.n.toLocaleString()} of the ${p.sampled_from.toLocaleString()} training customers.`
    : (isTsne ? 't-SNE keeps neighbours together; distances between far clusters mean little.' : 'The two main directions of the prepared features.')];
  if (state.assigned && isTsne) notes.push('Your customer is shown on the PCA map: t-SNE cannot place a new customer.');
  $('map-note').textContent = notes.join(' ');
}

export function renderMix() {
  const div = $('mix');
  const labels = currentLabels();
  if (!state.plots || !labels || !window.Plotly) {
    placeholder(div, 'No segment mix without plot data.');
    return;
  }
  if (div.querySelector('.placeholder')) setChildren(div);
  const segs = state.segments || [];
  const all = new Map(segs.map((s) => [s.segment_id, 0]));
  const kept = new Map(segs.map((s) => [s.segment_id, 0]));
  for (let i = 0; i < labels.length; i++) {
    const id = labels[i];
    all.set(id, (all.get(id) || 0) + 1);
    if (passesFilters(i)) kept.set(id, (kept.get(id) || 0) + 1);
  }
  const ids = [...all.keys()].reverse();
  // Two-line tick labels ("High income,<br>low spending") keep the bars wide.
  const name = (id) => {
    const s = segs.find((x) => x.segment_id === id);
    return esc(s ? s.name : `Segment ${id}`).replace(/, /, ',<br>');
  };
  const nKept = [...kept.values()].reduce((a, b) => a + b, 0) || 1;
  const traces = [
    { type: 'bar', orientation: 'h', name: 'all customers', y: ids.map(name), x: ids.map((id) => all.get(id)),
      marker: { color: ids.map((id) => segColor(id)), opacity: 0.22 }, hoverinfo: 'x+name' },
    { type: 'bar', orientation: 'h', name: 'shown', y: ids.map(name), x: ids.map((id) => kept.get(id) || 0),
      marker: { color: ids.map((id) => segColor(id)) },
      text: ids.map((id) => `${kept.get(id) || 0} · ${fmtPct((kept.get(id) || 0) / nKept)}`),
      textposition: 'outside', cliponaxis: false, hoverinfo: 'x+name' },
  ];
  const layout = {
    font: FONT, barmode: 'overlay', showlegend: false, bargap: 0.35,
    margin: { l: 10, r: 60, t: 8, b: 36 }, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
    xaxis: { title: { text: 'customers (shown over all)' }, gridcolor: '#edf0f5', rangemode: 'tozero' },
    yaxis: { automargin: true, ticks: '', tickfont: { size: 12 } },
  };
  Plotly.react(div, traces, layout, PLOT_CONFIG);
}
