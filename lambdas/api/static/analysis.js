/* The analysis tabs: the published static figures of plots.json (drawn as they scroll into
 * view), the live silhouette per segment of the selected model, the algorithm comparison table
 * and the training data summary. */
import { $, el, esc, placeholder, setChildren } from './dom.js';
import { FONT, PLOT_CONFIG, algoName, fmtNum, modelKey, prettyName, segColor, shortName } from './format.js';
import { METRIC_HELP } from './explain.js';
import { filtersActive, passesFilters } from './filters.js';
import { currentLabels, state } from './state.js';

const EDA_PREFIXES = ['hist:', 'scatter_matrix', 'violin:', 'box:', 'bar:', 'correlation', 'missing'];
const MODEL_ORDER = ['elbow', 'silhouette_by_k', 'gmm_bic', 'autoencoder_bottleneck', 'dbscan_kdistance', 'segment_silhouette', 'dendrogram'];
const LIVE_SILHOUETTE = 'segment_silhouette';
// Figures this dashboard owns and draws from plots.json's points (shared/contract/plots.py): the
// maps (map.js), the comparison (an HTML table) and the silhouette per segment (live, for the
// selected model and k). Versions published before that split also carry Python copies of them
// in `figures`; those are never drawn here.
const DASHBOARD_OWNED = ['pca', 'tsne', 'comparison', 'silhouette:'];
const isOwned = (name) => DASHBOARD_OWNED.some((p) => (p.endsWith(':') ? name.startsWith(p) : name === p));
// Model figures that belong to one algorithm without saying so in their name.
const FIGURE_ALGORITHM = { gmm_bic: 'gmm', autoencoder_bottleneck: 'autoencoder', dbscan_kdistance: 'dbscan', dendrogram: 'agglomerative' };

let figureObserver = null;

function figureTitle(name, fig) {
  const t = fig.layout && fig.layout.title;
  const text = typeof t === 'string' ? t : t && t.text;
  return text ? String(text).replace(/<[^>]*>/g, '') : prettyName(name);
}

/** A scatter-matrix (splom, WebGL only) trace as SVG scatter panels: lower half, no diagonal.
 * New versions already publish scatter_matrix as SVG scatter panels (shared/report/figures.py);
 * this keeps the plots.json of versions published before that drawable. */
function splomAsScatter(traces, layout) {
  const dims = (traces[0].dimensions || []).filter((d) => d.visible !== false);
  const n = dims.length;
  if (n < 2) return null;
  const cells = n - 1;
  const gap = 0.04;
  const size = (1 - gap * (cells - 1)) / cells;
  const out = [];
  const axes = {};
  for (let c = 0; c < cells; c++) {
    const x0 = c * (size + gap);
    axes[`xaxis${c + 1}`] = { domain: [x0, x0 + size], anchor: `y${cells}`, title: { text: esc(dims[c].label || '') }, showticklabels: true };
  }
  for (let r = 0; r < cells; r++) {
    const y1 = 1 - r * (size + gap);
    axes[`yaxis${r + 1}`] = { domain: [y1 - size, y1], anchor: 'x1', title: { text: esc(dims[r + 1].label || '') } };
  }
  traces.forEach((t, ti) => {
    const tdims = (t.dimensions || []).filter((d) => d.visible !== false);
    for (let r = 0; r < cells; r++) {
      for (let c = 0; c <= r; c++) {
        out.push({
          type: 'scatter', mode: 'markers', name: t.name, legendgroup: t.name || String(ti),
          showlegend: r === 0 && c === 0 && t.showlegend !== false,
          x: tdims[c].values, y: tdims[r + 1].values, marker: t.marker, text: t.text, hovertext: t.hovertext,
          xaxis: `x${c + 1}`, yaxis: `y${r + 1}`,
        });
      }
    }
  });
  const cleaned = Object.fromEntries(Object.entries(layout).filter(([k]) => !/^[xy]axis\d*$/.test(k)));
  return { data: out, layout: Object.assign(cleaned, axes, { dragmode: 'zoom' }) };
}

/** WebGL figure types drawn as SVG: the data is a bounded sample, and SVG draws everywhere
 * (headless browsers, remote desktops, machines without a GPU), where splom may not. */
function withoutWebGL(data, layout) {
  const sploms = data.filter((t) => t.type === 'splom');
  if (sploms.length) {
    const converted = splomAsScatter(sploms, layout);
    if (converted) return converted;
  }
  return { data: data.map((t) => (t.type === 'scattergl' ? Object.assign({}, t, { type: 'scatter' }) : t)), layout };
}

function hasLiveSilhouette() {
  const sil = state.plots && state.plots.points.silhouette;
  return Boolean(sil && Object.keys(sil).length);
}

/** A silhouette plot of the selected model: each segment's sampled customers that pass the
 * filters, sorted. */
function liveSilhouetteFigure() {
  const values = (state.plots.points.silhouette || {})[modelKey(state.algo, state.k)];
  const labels = currentLabels();
  if (!values || !labels) return null;
  const data = [];
  const tickvals = [];
  const ticktext = [];
  let y = 0;
  let total = 0;
  let count = 0;
  let lowest = 0;
  for (const seg of state.segments || []) {
    const vals = [];
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] === seg.segment_id && typeof values[i] === 'number' && passesFilters(i)) vals.push(values[i]);
    }
    if (!vals.length) continue;
    vals.sort((a, b) => a - b);
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    total += mean * vals.length;
    count += vals.length;
    lowest = Math.min(lowest, vals[0]);
    data.push({
      type: 'bar', orientation: 'h', x: vals, y: vals.map((_, j) => y + j), width: 1,
      marker: { color: segColor(seg.segment_id), line: { width: 0 } },
      name: esc(seg.name), hovertemplate: `${esc(seg.name)}: %{x:.2f}<extra></extra>`,
    });
    tickvals.push(y + vals.length / 2);
    ticktext.push(`${esc(shortName(seg.name)).replace(/, /, ',<br>')} (${mean.toFixed(2)})`);
    // Every segment gets a band tall enough for its label: small segments (DBSCAN's) would
    // otherwise stack their labels on top of each other.
    y += Math.max(vals.length, Math.round(labels.length / 18)) + Math.max(2, Math.round(labels.length / 60));
  }
  if (!count) return null;
  const mean = total / count;
  return {
    data,
    layout: {
      showlegend: false, bargap: 0, hovermode: 'closest',
      xaxis: { title: { text: 'silhouette value (higher: better placed)' }, range: [Math.min(-0.1, lowest - 0.05), 1], gridcolor: '#edf0f5' },
      yaxis: { tickvals, ticktext, showgrid: false, zeroline: false, automargin: true },
      shapes: [{ type: 'line', x0: mean, x1: mean, y0: 0, y1: 1, yref: 'paper', line: { color: '#d62728', dash: 'dash', width: 1.5 } }],
      annotations: [{ x: mean, y: 1, yref: 'paper', yanchor: 'bottom', text: `mean ${mean.toFixed(3)}`, showarrow: false, font: { color: '#d62728' } }],
      margin: { t: 24, r: 16, b: 48 },
    },
  };
}

export function refreshLiveSilhouette() {
  const div = document.querySelector(`.plot[data-figure="${LIVE_SILHOUETTE}"]`);
  if (!div) return;
  const title = div.parentElement.querySelector('h3');
  title.textContent = `Silhouette per segment: ${algoName(state.algo)}${state.k !== null && state.k !== undefined ? `, k = ${state.k}` : ''}`;
  if (div.dataset.drawn === '1') { div.dataset.drawn = '0'; drawFigure(div); }
}

function drawFigure(div) {
  if (div.dataset.figure === LIVE_SILHOUETTE) {
    if (!window.Plotly || !state.plots || div.dataset.drawn === '1') return;
    const fig = liveSilhouetteFigure();
    if (!fig) {
      placeholder(div, filtersActive() ? 'No customers match these filters.' : 'No silhouette values for this model.');
      div.dataset.drawn = '1';
      return;
    }
    if (div.querySelector('.placeholder')) setChildren(div);
    fig.layout.font = FONT;
    Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
    div.dataset.drawn = '1';
    return;
  }
  const fig = (state.plots && state.plots.figures || {})[div.dataset.figure];
  if (!fig || !window.Plotly || div.dataset.drawn === '1') return;
  const layout = Object.assign({}, fig.layout || {});
  delete layout.title;
  delete layout.width;
  delete layout.height;
  layout.autosize = true;
  layout.font = Object.assign({}, FONT, layout.font || {});
  layout.margin = Object.assign({ l: 56, r: 16, t: 16, b: 48 }, layout.margin || {}, { t: 16 });
  layout.paper_bgcolor = '#ffffff';
  const drawable = withoutWebGL(fig.data || [], layout);
  const failed = (err) => {
    div.dataset.drawn = 'error';
    placeholder(div, `This chart could not be drawn here (${err && err.message ? err.message : err}).`);
  };
  div.dataset.drawn = '1';
  try {
    Promise.resolve(Plotly.react(div, drawable.data, drawable.layout, PLOT_CONFIG)).catch(failed);
  } catch (err) {
    failed(err);
  }
}

export function buildFigures() {
  if (figureObserver) figureObserver.disconnect();
  figureObserver = 'IntersectionObserver' in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) { drawFigure(entry.target); figureObserver.unobserve(entry.target); }
      }
    }, { rootMargin: '200px' })
    : null;
  const figures = Object.assign({}, (state.plots && state.plots.figures) || {});
  const eda = [];
  const model = [];
  // Per-point silhouettes of every model are in plots.json: the selected model's (any k) is
  // drawn live.
  const live = hasLiveSilhouette();
  if (live) figures[LIVE_SILHOUETTE] = { layout: { title: { text: 'Silhouette per segment' } } };
  for (const [name, fig] of Object.entries(figures)) {
    if (!fig || typeof fig !== 'object' || (name !== LIVE_SILHOUETTE && isOwned(name))) continue;
    (EDA_PREFIXES.some((p) => name.startsWith(p)) ? eda : model).push([name, fig]);
  }
  // Wide figures: the ones plots.json says (shared/contract/plots.py WIDE_FIGURES) and our own.
  const wideNames = new Set([LIVE_SILHOUETTE, ...((state.plots && state.plots.wide_figures) || [])]);
  const card = ([name, fig]) => {
    const plot = el('div', { className: 'plot', dataset: { figure: name } });
    const wide = wideNames.has(name);
    return el('div', { className: `panel figure${wide ? ' wide' : ''}`, dataset: { figureName: name }, 'data-testid': 'figure' },
      el('h3', { text: figureTitle(name, fig) }), plot);
  };
  const empty = (text) => [el('div', { className: 'panel muted', text })];
  const none = state.plots ? 'No figures of this kind in this version.' : (state.plotsError ? `No figures: ${state.plotsError}` : 'No plot data for this version.');
  setChildren($('figs-eda'), ...(eda.length ? eda.map(card) : empty(none)));
  setChildren($('figs-model'), ...(model.length ? model.map(card) : empty(none)));
  observeVisibleFigures();
}

/** The model figures of the selected algorithm only, in reading order (why this k first). */
export function orderModelFigures() {
  const box = $('figs-model');
  const algorithmOf = (name) => (name.includes(':') ? name.split(':').pop() : FIGURE_ALGORITHM[name] || null);
  const rank = (name) => {
    const base = MODEL_ORDER.findIndex((p) => name.startsWith(p));
    return base < 0 ? MODEL_ORDER.length : base;
  };
  const nodes = [...box.children].filter((n) => n.dataset.figureName);
  nodes.sort((a, b) => rank(a.dataset.figureName) - rank(b.dataset.figureName));
  for (const n of nodes) {
    const owner = algorithmOf(n.dataset.figureName);
    n.hidden = owner !== null && owner !== state.algo;
    box.append(n);
  }
  observeVisibleFigures();
}

export function observeVisibleFigures() {
  for (const div of document.querySelectorAll('.tab-body:not([hidden]) .figure:not([hidden]) .plot[data-figure]')) {
    if (div.dataset.drawn === '1') continue;
    if (figureObserver) figureObserver.observe(div); else drawFigure(div);
  }
}

export function renderComparison() {
  const box = $('comparison');
  const rows = (state.evaluation && state.evaluation.comparison) || [];
  if (!rows.length) {
    setChildren(box, el('p', { className: 'muted small', text: 'No evaluation for this version.' }));
    return;
  }
  const help = [null, null, METRIC_HELP.segments, METRIC_HELP.silhouette, METRIC_HELP.davies_bouldin, METRIC_HELP.calinski_harabasz, METRIC_HELP.score];
  const head = el('tr', null, ['Algorithm', 'k', 'Segments', 'Silhouette ↑', 'Davies–Bouldin ↓', 'Calinski–Harabasz ↑', 'Score'].map((h, i) => el('th', { text: h, title: help[i] || undefined })));
  const body = rows.map((r) => {
    const m = r.metrics || {};
    return el('tr', { className: r.champion ? 'champion' : '' },
      el('td', null, algoName(r.algorithm), r.champion ? el('span', { className: 'pill', text: 'champion' }) : null),
      el('td', { text: r.k ?? 'auto' }), el('td', { text: r.n_segments }),
      el('td', { text: fmtNum(m.silhouette, 3) }), el('td', { text: fmtNum(m.davies_bouldin, 3) }),
      el('td', { text: fmtNum(m.calinski_harabasz, 0) }), el('td', { text: fmtNum(r.score, 3) }));
  });
  const reason = state.evaluation.champion_reason ? el('p', { className: 'muted small', text: state.evaluation.champion_reason }) : null;
  setChildren(box, el('table', null, el('thead', null, head), el('tbody', null, body)), reason);
}

function renderValue(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(renderValue).join(', ');
  return Object.entries(v).map(([k, x]) => `${k}: ${renderValue(x)}`).join(', ');
}

export function renderDataSummary() {
  const m = state.summary;
  const rows = m.rows || {};
  const facts = el('dl', { className: 'facts' },
    el('dt', { text: 'Source' }), el('dd', { text: m.source ? m.source.key || '' : '' }),
    el('dt', { text: 'Rows' }), el('dd', { text: `${fmtNum(rows.read)} read · ${fmtNum(rows.used)} used · ${fmtNum(rows.dropped)} dropped` }),
    rows.dropped_reasons && Object.keys(rows.dropped_reasons).length ? [el('dt', { text: 'Dropped rows' }), el('dd', { text: renderValue(rows.dropped_reasons) })] : null,
    rows.imputed_values && Object.keys(rows.imputed_values).length ? [el('dt', { text: 'Imputed values' }), el('dd', { text: renderValue(rows.imputed_values) })] : null,
    orderLineFacts(m.transactions));
  const cols = state.columns;
  const table = cols.length ? el('div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Training columns' }, el('table', { className: 'left' },
    el('thead', null, el('tr', null, ['Column', 'Role', 'Type', 'Used', 'Missing', 'Imputed with', 'Note'].map((h) => el('th', { text: h })))),
    el('tbody', null, cols.map((c) => el('tr', null,
      el('td', { text: c.name }), el('td', { text: c.role }), el('td', { text: c.dtype || '' }),
      el('td', { text: c.used ? 'yes' : 'no' }), el('td', { text: fmtNum(c.missing || 0) }),
      el('td', { text: c.imputed_with ?? '' }), el('td', { text: c.reason || c.transform || '' })))))) : null;
  setChildren($('data-summary'), el('h3', { text: 'Training data' }), facts, table, ...plotSummary());
}

/** How an order-line upload became customers (manifest `transactions`), or nothing. */
function orderLineFacts(t) {
  if (!t) return null;
  const dropped = t.dropped && Object.keys(t.dropped).length ? renderValue(t.dropped) : 'none';
  return [
    el('dt', { text: 'Order lines' }),
    el('dd', { 'data-testid': 'order-lines', text: `${fmtNum(t.lines)} lines (${t.first_date} to ${t.last_date}) → ${fmtNum(t.customers)} customers · returns netted: ${fmtNum(t.return_lines)} · left out: ${dropped}` }),
    el('dt', { text: 'Aggregation' }),
    el('dd', null, el('ul', { className: 'small' }, (t.evidence || []).map((line) => el('li', { text: line })))),
  ];
}

/** The plots.json summary: the few facts worth reading first, the rest folded away. */
function plotSummary() {
  const summary = Object.assign({}, (state.plots && state.plots.summary) || {});
  const out = [];
  const corr = summary.strongest_correlations;
  delete summary.strongest_correlations;
  if (Array.isArray(corr) && corr.length) {
    out.push(el('h3', { className: 'spaced', text: 'Strongest correlations' }), el('ul', { className: 'small' }, corr.slice(0, 8).map((c) => el('li', {
      text: c && typeof c === 'object' && 'a' in c ? `${c.a} ↔ ${c.b}: r = ${fmtNum(c.r, 2)}` : renderValue(c),
    }))));
  }
  const sample = summary.sample;
  delete summary.sample;
  if (sample && typeof sample === 'object' && sample.n !== undefined) {
    out.push(el('p', { className: 'small muted', text: `Maps, filters and the segment mix use ${fmtNum(sample.n)} of the ${fmtNum(sample.sampled_from)} training customers${sample.method ? ` (${sample.method})` : ''}.` }));
  }
  const rest = Object.entries(summary).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && Object.keys(v).length === 0));
  if (rest.length) {
    out.push(el('details', { className: 'small' }, el('summary', { text: 'More training details' }),
      el('dl', { className: 'facts' }, rest.map(([k, v]) => [el('dt', { text: prettyName(k) }), el('dd', { text: renderValue(v) })]))));
  }
  return out;
}
