/* Customer Segments dashboard.
 *
 * A static page over the JSON API. Every URL is relative to the API root, which is derived from
 * where this script was loaded (".../static/app.js" -> ".../"), so the page works at "/" locally
 * and under an API Gateway stage prefix. Data-derived strings only ever reach the DOM through
 * textContent (never innerHTML); strings handed to Plotly are escaped.
 */
(function () {
  'use strict';

  const SCRIPT_URL = document.currentScript ? document.currentScript.src : location.href;
  const API_ROOT = new URL('../', SCRIPT_URL.split('?')[0]);
  const TOKEN_KEY = 'segments.apiToken';
  // Segment colours: the same palette, indexed by segment_id, as the training figures
  // (shared/report/figures.py PALETTE / OUTLIER_COLOUR; a unit test keeps them in step), so a
  // segment has one colour in the cards, the maps, the mix and every analysis plot.
  const PALETTE = [
    '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
    '#e377c2', '#17becf', '#bcbd22', '#393b79', '#ad494a', '#637939',
  ];
  const OUTLIER_COLOR = '#9e9e9e';
  const PLOT_CONFIG = {
    displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d', 'toggleSpikelines'],
  };
  const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif', size: 12, color: '#1d2433' };
  const EDA_PREFIXES = ['hist:', 'scatter_matrix', 'violin:', 'box:', 'bar:', 'correlation', 'missing'];
  const MODEL_ORDER = ['elbow', 'silhouette_by_k', 'gmm_bic', 'dbscan_kdistance', 'silhouette:', 'segment_silhouette', 'dendrogram'];
  const LIVE_SILHOUETTE = 'segment_silhouette';
  // Drawn live by the dashboard instead: the maps (pca, tsne) and the comparison (an HTML table).
  const SKIP_FIGURES = new Set(['pca', 'tsne', 'comparison']);
  // Model figures that belong to one algorithm without saying so in their name.
  const FIGURE_ALGORITHM = { gmm_bic: 'gmm', dbscan_kdistance: 'dbscan', dendrogram: 'agglomerative' };
  const WIDE_FIGURES = ['scatter_matrix', 'dendrogram', 'comparison', 'silhouette:', LIVE_SILHOUETTE];

  const state = {
    datasets: [], dataset: null, versions: [], version: null, currentVersion: null,
    summary: null, plots: null, evaluation: null, columns: [],
    algo: null, k: null, segments: null, projection: 'pca',
    segCache: new Map(), filters: { numeric: {}, categorical: {} },
    focus: null, assigned: null, loadId: 0, modelId: 0,
  };

  // ---------------------------------------------------------------- small helpers
  const $ = (id) => document.getElementById(id);

  /** Build an element; strings in children become text nodes (never parsed as HTML). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'className') node.className = value;
        else if (key === 'text') node.textContent = value;
        else if (key === 'style') Object.assign(node.style, value);
        else if (key === 'vars') for (const [v, x] of Object.entries(value)) node.style.setProperty(v, x);
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Replace a node's children, skipping null/false (replaceChildren would print "null"). */
  function setChildren(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  /** Escape a string for Plotly text (which understands a few HTML tags and entities). */
  function esc(value) {
    return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function fmtNum(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (typeof v !== 'number') return String(v);
    if (digits !== undefined) return v.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
    const a = Math.abs(v);
    const d = a >= 100 ? 0 : a >= 10 ? 1 : 2;
    return v.toLocaleString(undefined, { maximumFractionDigits: d });
  }
  const fmtPct = (share) => (share === null || share === undefined ? '–' : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`);
  const modelKey = (algo, k) => (k === null || k === undefined ? algo : `${algo}-k${k}`);
  const segColor = (id) => (id < 0 ? OUTLIER_COLOR : PALETTE[((id % PALETTE.length) + PALETTE.length) % PALETTE.length]);
  const ALGO_NAMES = { kmeans: 'K-Means', gmm: 'GMM', agglomerative: 'Agglomerative', dbscan: 'DBSCAN' };
  const ALGO_TITLES = { gmm: 'Gaussian mixture model', agglomerative: 'Agglomerative (Ward)', dbscan: 'DBSCAN (density based)', kmeans: 'K-Means' };
  const algoName = (a) => ALGO_NAMES[a] || a;
  /** "Spending Score (1-100)" -> "Spending Score": units go to the tooltip, not the card. */
  const shortName = (name) => String(name).replace(/\s*\([^)]*\)\s*$/, '') || String(name);
  const prettyName = (name) => String(name).replace(/[:_]/g, ' ').replace(/\s+/g, ' ').trim();

  // ---------------------------------------------------------------- API access
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function token() { try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }

  function apiUrl(path, params) {
    const url = new URL(path, API_ROOT);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    return url;
  }

  function errorText(data, res) {
    if (data && typeof data === 'object') {
      if (typeof data.message === 'string') {
        const problems = Array.isArray(data.problems) ? data.problems.map((p) => `${p.field}: ${p.message}`) : [];
        return problems.length > 1 ? `${data.message} (${problems.join('; ')})` : data.message;
      }
      const d = data.detail !== undefined ? data.detail : data.error;
      if (typeof d === 'string') return d;
      if (Array.isArray(d)) {
        return d.map((e) => `${(e.loc || []).filter((x) => x !== 'body').join('.')}: ${e.msg || ''}`).join('; ');
      }
      if (d && typeof d === 'object') return d.message || JSON.stringify(d);
    }
    return `${res.status} ${res.statusText || 'error'}`;
  }

  async function api(path, params, options) {
    const opts = options || {};
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(apiUrl(path, params), {
        method: opts.method || 'GET', headers,
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      });
    } catch (e) {
      throw new ApiError(0, `The API could not be reached (${e.message}).`);
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new ApiError(res.status, errorText(data, res));
    return data;
  }

  const dsPath = (suffix) => `datasets/${encodeURIComponent(state.dataset)}${suffix || ''}`;
  const versionParam = () => (state.version && state.version !== state.currentVersion ? state.version : null);

  // ---------------------------------------------------------------- notices
  function showNotice(kind, title, text) {
    const box = $('notice');
    box.className = `notice ${kind}`;
    setChildren(box, el('strong', { text: title }), text ? el('span', { text }) : null);
    box.hidden = false;
  }
  const hideNotice = () => { $('notice').hidden = true; };

  function showApiError(err, what) {
    if (err.status === 401 || err.status === 403) {
      showNotice('error', 'This API needs a token',
        `${what} was refused (${err.status}: ${err.message}). Enter an API token with the "API token" button.`);
      toggleTokenPanel(true);
    } else {
      showNotice('error', `Could not load ${what}`, err.message);
    }
  }

  // ---------------------------------------------------------------- token popover
  function toggleTokenPanel(open) {
    const panel = $('token-panel');
    const show = open === undefined ? panel.hidden : open;
    panel.hidden = !show;
    $('token-button').setAttribute('aria-expanded', String(show));
    if (show) { $('token-input').value = token(); $('token-input').focus(); }
  }
  function saveToken(value) {
    try {
      if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives for this page only */ }
    updateTokenButton();
    toggleTokenPanel(false);
    boot();
  }
  function updateTokenButton() { $('token-button').textContent = token() ? 'API token ✓' : 'API token'; }

  // ---------------------------------------------------------------- URL hash (shareable state)
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    return { dataset: p.get('dataset'), version: p.get('version'), algo: p.get('algorithm'), k: p.get('k') };
  }
  function writeHash() {
    const p = new URLSearchParams();
    if (state.dataset) p.set('dataset', state.dataset);
    if (state.version && state.version !== state.currentVersion) p.set('version', state.version);
    if (state.algo) p.set('algorithm', state.algo);
    if (state.k !== null && state.k !== undefined) p.set('k', String(state.k));
    history.replaceState(null, '', `#${p.toString()}`);
  }

  // ---------------------------------------------------------------- datasets and versions
  const asList = (data, key) => (Array.isArray(data) ? data : (data && Array.isArray(data[key]) ? data[key] : []));
  const datasetName = (d) => (typeof d === 'string' ? d : d.dataset || d.name);
  const datasetCurrent = (d) => (typeof d === 'string' ? null : d.current_version || d.version || (d.current && d.current.version) || null);
  const versionId = (v) => (typeof v === 'string' ? v : v.version);

  async function boot() {
    const loadId = ++state.loadId;
    hideNotice();
    let data;
    try {
      data = await api('datasets');
    } catch (err) {
      if (loadId !== state.loadId) return;
      $('layout').hidden = true;
      showApiError(err, 'the datasets');
      return;
    }
    if (loadId !== state.loadId) return;
    state.datasets = asList(data, 'datasets').filter((d) => datasetName(d));
    const select = $('dataset-select');
    setChildren(select, ...state.datasets.map((d) => {
      const name = datasetName(d);
      return el('option', { value: name, text: datasetCurrent(d) ? name : `${name} (no model yet)` });
    }));
    select.disabled = state.datasets.length === 0;
    if (state.datasets.length === 0) {
      $('layout').hidden = true;
      setChildren($('version-select'));
      showNotice('info', 'No datasets yet',
        'Upload a customer table to the raw bucket as uploads/<dataset>/<file>.csv (or run the CLI\'s train command). '
        + 'When training finishes, its segments appear here.');
      return;
    }
    const wanted = readHash();
    const names = state.datasets.map(datasetName);
    const withModel = state.datasets.find((d) => datasetCurrent(d));
    const pick = names.includes(wanted.dataset) ? wanted.dataset : datasetName(withModel || state.datasets[0]);
    select.value = pick;
    await selectDataset(pick, wanted);
  }

  async function selectDataset(name, wanted) {
    const loadId = ++state.loadId;
    state.dataset = name;
    state.segCache = new Map();
    state.assigned = null;
    hideNotice();
    let versions = [];
    try {
      versions = asList(await api(dsPath('/versions')), 'versions');
    } catch (err) {
      versions = [];
    }
    if (loadId !== state.loadId) return;
    const entry = state.datasets.find((d) => datasetName(d) === name);
    state.currentVersion = datasetCurrent(entry)
      || (versions.find((v) => v && (v.current || v.is_current)) || {}).version || null;
    // The API lists versions newest first; keep its order (ids need not sort by time).
    state.versions = versions.map(versionId).filter(Boolean);
    if (state.currentVersion && !state.versions.includes(state.currentVersion)) state.versions.unshift(state.currentVersion);
    const created = new Map(versions.filter((v) => v && v.created_at).map((v) => [v.version, new Date(v.created_at)]));
    const label = (v) => {
      const when = created.get(v);
      const tail = v.includes('-') ? v.split('-').pop().slice(0, 6) : '';
      const base = when && !Number.isNaN(when.getTime())
        ? `${when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}${tail ? ` · ${tail}` : ''}`
        : v;
      return v === state.currentVersion ? `${base} (current)` : base;
    };
    const vsel = $('version-select');
    setChildren(vsel, ...state.versions.map((v) => el('option', { value: v, text: label(v), title: v })));
    vsel.disabled = state.versions.length < 1;
    const version = wanted && wanted.version && state.versions.includes(wanted.version) ? wanted.version : state.currentVersion || state.versions[0] || null;
    if (version) vsel.value = version;
    await loadVersion(version, wanted);
  }

  // ---------------------------------------------------------------- one version
  async function loadVersion(version, wanted) {
    const loadId = ++state.loadId;
    state.version = version;
    state.segCache = new Map();
    state.assigned = null;
    state.focus = null;
    hideNotice();
    let summary;
    try {
      summary = await api(dsPath(''), { version: versionParam() });
    } catch (err) {
      if (loadId !== state.loadId) return;
      $('layout').hidden = true;
      if (err.status === 503 || err.status === 404) {
        showNotice('warn', `No model for "${state.dataset}" yet`,
          `${err.message} Training may still be running, or the upload failed. `
          + 'The dashboard shows the segments as soon as a version is published.');
        showLatestFailure(loadId);
      } else {
        showApiError(err, `dataset "${state.dataset}"`);
      }
      return;
    }
    if (loadId !== state.loadId) return;
    const manifest = summary.manifest || summary;
    state.summary = manifest;
    state.version = manifest.model_version || manifest.version || version;
    state.columns = manifest.columns || manifest.schema || [];
    const algos = Object.keys(manifest.algorithms || {});
    if (algos.length === 0) {
      $('layout').hidden = true;
      showNotice('warn', `No model for "${state.dataset}" yet`, 'This version lists no fitted algorithm.');
      return;
    }
    const [plots, evaluation] = await Promise.all([
      api(dsPath('/plots'), { version: versionParam() }).catch((err) => ({ error: err })),
      api(dsPath('/evaluation'), { version: versionParam() }).catch(() => null),
    ]);
    if (loadId !== state.loadId) return;
    state.plots = plots && !plots.error && plots.points ? plots : null;
    state.plotsError = plots && plots.error ? plots.error.message : null;
    state.evaluation = evaluation;
    $('layout').hidden = false;

    renderVersionMeta();
    buildFilters();
    buildAssignForm();
    renderComparison();
    renderDataSummary();
    buildFigures();

    const champion = manifest.champion && algos.includes(manifest.champion) ? manifest.champion : algos[0];
    const algo = wanted && wanted.algo && algos.includes(wanted.algo) ? wanted.algo : champion;
    const ks = sweepKs(algo);
    const wantK = wanted && wanted.k !== null && wanted.k !== undefined ? Number(wanted.k) : null;
    const k = wantK !== null && ks.includes(wantK) ? wantK : chosenK(algo);
    await selectModel(algo, k);
  }

  /** Why the newest upload of a dataset without a model failed, if it did. */
  async function showLatestFailure(loadId) {
    let data;
    try { data = await api(dsPath('/failures'), { limit: 1 }); } catch (e) { return; }
    const failure = data && Array.isArray(data.failures) ? data.failures[0] : null;
    if (!failure || loadId !== state.loadId || $('notice').hidden) return;
    const source = failure.source && failure.source.key ? failure.source.key : 'an upload';
    $('notice').append(el('div', { className: 'failure', 'data-testid': 'latest-failure' },
      el('strong', { text: 'Latest failed upload' }),
      el('span', { text: `${source}: ${failure.error}` })));
  }

  function renderVersionMeta() {
    const m = state.summary;
    const rows = m.rows && m.rows.used !== undefined ? `${m.rows.used.toLocaleString()} customers` : '';
    const source = m.source && m.source.key ? `from ${m.source.key.split('/').pop()}` : '';
    $('version-meta').textContent = [rows, source].filter(Boolean).join(' · ');
    $('version-meta').title = `version ${state.version}${m.created_at ? `, trained ${new Date(m.created_at).toLocaleString()}` : ''}`;
    const link = $('report-link');
    link.href = apiUrl(dsPath('/report'), { version: versionParam() }).toString();
    link.hidden = false;
  }

  function algoSummary(algo) { return (state.summary.algorithms || {})[algo] || {}; }
  function chosenK(algo) {
    const s = algoSummary(algo);
    if (algo === 'dbscan') return null;
    if (s.k !== null && s.k !== undefined) return s.k;
    const ks = sweepKs(algo);
    return ks.length ? ks[0] : null;
  }
  function sweepKs(algo) {
    const s = algoSummary(algo);
    // DBSCAN (k null) finds its own number of segments: there is nothing to choose.
    if (s.k === null || s.k === undefined) return [];
    const ks = (Array.isArray(s.ks) ? s.ks.slice() : Object.keys(s.models || {}).map(Number))
      .filter((n) => Number.isFinite(n));
    if (s.k !== null && s.k !== undefined && !ks.includes(s.k)) ks.push(s.k);
    return ks.sort((a, b) => a - b);
  }

  // ---------------------------------------------------------------- model selection
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
    const kpi = (label, value, title) => el('div', { className: 'kpi', title }, el('div', { className: 'v', text: value }), el('div', { className: 'l', text: label }));
    setChildren($('kpis'), 
      kpi('Segments', String(segments.filter((s) => !s.is_outlier && s.segment_id >= 0).length)),
      kpi('Silhouette', fmtNum(m.silhouette, 2), 'higher is better (-1..1)'),
      kpi('Davies–Bouldin', fmtNum(m.davies_bouldin, 2), 'lower is better'),
    );
    const sweep = state.evaluation && state.evaluation.sweeps ? state.evaluation.sweeps[state.algo] : null;
    const chosen = chosenK(state.algo);
    let reason = sweep && sweep.reason ? sweep.reason : (algoSummary(state.algo).note || '');
    if (state.k !== chosen && chosen !== null && state.k !== null) reason = `Viewing k = ${state.k}; the selection rule chose k = ${chosen}. ${reason}`;
    $('model-reason').textContent = reason;
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

  async function selectModel(algo, k) {
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

  // ---------------------------------------------------------------- segment cards
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

  function renderCards() {
    const segs = state.segments || [];
    const total = segs.reduce((a, s) => a + (s.size || 0), 0);
    $('cards-caption').textContent = `${algoName(state.algo)}${state.k !== null && state.k !== undefined ? `, k = ${state.k}` : ''} · ${total.toLocaleString()} training customers · click a card to focus the map`;
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
      s.description ? el('p', { className: 'desc', text: s.description, title: s.description }) : null,
      el('ul', { className: 'stats' }, keyStats(s)));
      return card;
    });
    setChildren($('cards'), ...cards);
    // Which model the cards show (tests and scripts wait on it; users see the caption).
    $('cards').dataset.model = `${state.version}|${modelKey(state.algo, state.k)}`;
    $('cards').removeAttribute('aria-busy');
    applyCardStates();
  }

  function applyCardStates() {
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

  // ---------------------------------------------------------------- filters
  function columnRole(name) {
    const col = state.columns.find((c) => c.name === name);
    return col ? col.role : null;
  }

  function buildFilters() {
    const box = $('filters');
    state.filters = { numeric: {}, categorical: {} };
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

  function numericFilter(name, nums) {
    let min = Infinity; let max = -Infinity;
    for (const v of nums) { if (v < min) min = v; if (v > max) max = v; }
    const integer = nums.every((v) => Number.isInteger(v));
    const step = integer ? 1 : (max - min) / 200 || 1;
    state.filters.numeric[name] = { lo: min, hi: max, min, max };
    const label = el('span', { className: 'range' });
    const fill = el('div', { className: 'fill' });
    const lo = el('input', { type: 'range', min, max, step, value: min, 'aria-label': `${name} minimum`, dataset: { feature: name, end: 'lo' } });
    const hi = el('input', { type: 'range', min, max, step, value: max, 'aria-label': `${name} maximum`, dataset: { feature: name, end: 'hi' } });
    const sync = (changed) => {
      let a = Number(lo.value); let b = Number(hi.value);
      if (a > b) { if (changed === lo) { a = b; lo.value = String(a); } else { b = a; hi.value = String(b); } }
      state.filters.numeric[name].lo = a;
      state.filters.numeric[name].hi = b;
      label.textContent = `${fmtNum(a)} – ${fmtNum(b)}`;
      const span = max - min || 1;
      fill.style.left = `${((a - min) / span) * 100}%`;
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
  function scheduleFilter() {
    if (filterFrame) return;
    filterFrame = requestAnimationFrame(() => { filterFrame = 0; renderMap(); renderMix(); });
  }

  function passesFilters(i) {
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

  // ---------------------------------------------------------------- map and mix
  function currentLabels() {
    if (!state.plots) return null;
    return (state.plots.points.labels || {})[modelKey(state.algo, state.k)] || null;
  }

  function mapCoords() {
    const p = state.plots.points;
    return state.projection === 'tsne' && p.tsne ? p.tsne : p.pca;
  }

  function placeholder(div, text) {
    if (window.Plotly) Plotly.purge(div);
    setChildren(div, el('div', { className: 'placeholder', text }));
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

  function axisRange(coords, dim) {
    let lo = Infinity; let hi = -Infinity;
    for (const c of coords) { if (c[dim] < lo) lo = c[dim]; if (c[dim] > hi) hi = c[dim]; }
    const pad = (hi - lo) * 0.06 || 1;
    return [lo - pad, hi + pad];
  }

  function renderMap() {
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
    if (state.assigned && state.assigned.coords) {
      const [x, y] = state.assigned.coords[state.projection === 'tsne' && state.plots.points.tsne ? 'tsne' : 'pca'];
      traces.push({
        type: 'scatter', mode: 'markers+text', name: 'Your customer', x: [x], y: [y],
        text: ['Your customer'], textposition: 'top center', textfont: { size: 12, color: '#111a2e' },
        hoverinfo: 'name', showlegend: false, cliponaxis: false,
        marker: { symbol: 'star', size: 22, color: segColor(state.assigned.result.segment_id), line: { width: 2, color: '#111a2e' } },
      });
    }
    const explained = state.plots.points.pca_explained || [];
    const isTsne = state.projection === 'tsne' && state.plots.points.tsne;
    const axisTitle = (n) => (isTsne ? `t-SNE ${n}` : `PC${n}${explained[n - 1] !== undefined ? ` (${(explained[n - 1] * 100).toFixed(0)}% of variance)` : ''}`);
    const layout = {
      font: FONT, margin: { l: 52, r: 12, t: 34, b: 44 }, hovermode: 'closest',
      paper_bgcolor: '#ffffff', plot_bgcolor: '#fbfcfe',
      xaxis: { title: { text: axisTitle(1) }, range: axisRange(coords, 0), zeroline: false, gridcolor: '#edf0f5' },
      yaxis: { title: { text: axisTitle(2) }, range: axisRange(coords, 1), zeroline: false, gridcolor: '#edf0f5' },
      legend: { orientation: 'h', x: 0, y: 1.01, yanchor: 'bottom', font: { size: 11.5 }, itemclick: 'toggle' },
      uirevision: `${state.dataset}|${state.version}|${state.projection}`,
    };
    Plotly.react(div, traces, layout, PLOT_CONFIG);
    const total = coords.length;
    div.dataset.shown = String(shown);
    $('shown-count').textContent = `${shown.toLocaleString()} of ${total.toLocaleString()} customers`;
    const p = state.plots.points;
    $('map-note').textContent = p.sampled_from > p.n
      ? `A random sample of ${p.n.toLocaleString()} of the ${p.sampled_from.toLocaleString()} training customers.`
      : (isTsne ? 't-SNE keeps neighbours together; distances between far clusters mean little.' : 'The two main directions of the prepared features.');
  }

  function renderMix() {
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

  // ---------------------------------------------------------------- assign a customer
  function inputColumns() {
    return state.columns.filter((c) => c.used && ['numeric', 'categorical', 'date'].includes(c.role));
  }

  function buildAssignForm() {
    const cols = inputColumns();
    $('assign-result').hidden = true;
    $('assign-submit').disabled = cols.length === 0;
    setChildren($('assign-fields'), ...(cols.length ? cols.map((c) => {
      let input;
      let hint = '';
      if (c.role === 'categorical') {
        input = el('select', { name: c.name, 'data-column': c.name },
          el('option', { value: '', text: '— unknown —' }),
          (c.categories || []).map((cat) => el('option', { value: cat, text: cat })));
      } else if (c.role === 'date') {
        input = el('input', { type: 'date', name: c.name, 'data-column': c.name });
      } else {
        const hasRange = c.min !== null && c.min !== undefined && c.max !== null && c.max !== undefined;
        hint = hasRange ? `${fmtNum(c.min)} – ${fmtNum(c.max)}` : '';
        input = el('input', { type: 'number', step: 'any', name: c.name, 'data-column': c.name, placeholder: hasRange ? `e.g. ${fmtNum((c.min + c.max) / 2)}` : '', inputmode: 'decimal' });
      }
      return el('label', { className: 'form-field' },
        el('span', { className: 'lbl' }, el('span', { text: c.name }), el('span', { className: 'hint', text: hint })), input);
    }) : [el('p', { className: 'muted small', text: 'The manifest lists no input columns.' })]));
  }

  function fillExample() {
    if (!state.plots) return;
    const p = state.plots.points;
    if (!p.n) return;
    const i = Math.floor(Math.random() * p.n);
    for (const input of $('assign-fields').querySelectorAll('[data-column]')) {
      const values = (p.features || {})[input.dataset.column];
      const v = values ? values[i] : null;
      input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  function readForm() {
    const record = {};
    for (const input of $('assign-fields').querySelectorAll('[data-column]')) {
      const raw = input.value.trim();
      if (raw === '') continue;
      const col = state.columns.find((c) => c.name === input.dataset.column);
      record[input.dataset.column] = col && col.role === 'numeric' ? Number(raw) : raw;
    }
    return record;
  }

  /** Where to mark a typed-in customer: the mean map position of its nearest sampled customers
   * (in standardized feature space, preferring customers of the same segment). The API does not
   * project new customers onto the map, so this is an approximation and labelled as such. */
  function approximateCoords(record, segmentId) {
    if (!state.plots) return null;
    const p = state.plots.points;
    const labels = currentLabels() || [];
    const features = p.features || {};
    const scales = {};
    for (const [name, values] of Object.entries(features)) {
      const nums = values.filter((v) => typeof v === 'number');
      if (nums.length) {
        const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
        const sd = Math.sqrt(nums.reduce((a, b) => a + (b - mean) ** 2, 0) / nums.length) || 1;
        scales[name] = sd;
      }
    }
    const scored = [];
    for (let i = 0; i < p.n; i++) {
      let d = 0;
      for (const [name, v] of Object.entries(record)) {
        const x = features[name] ? features[name][i] : undefined;
        if (x === undefined) continue;
        if (typeof v === 'number' && typeof x === 'number') d += ((v - x) / scales[name]) ** 2;
        else if (String(v) !== String(x)) d += 1;
      }
      scored.push([d + (labels[i] === segmentId ? 0 : 1e6), i]);
    }
    scored.sort((a, b) => a[0] - b[0]);
    const near = scored.slice(0, 5).map((s) => s[1]);
    if (!near.length) return null;
    const mean = (coords) => (coords ? [0, 1].map((d) => near.reduce((a, i) => a + coords[i][d], 0) / near.length) : null);
    return { pca: mean(p.pca), tsne: mean(p.tsne) };
  }

  function clearAssigned() {
    state.assigned = null;
    $('assign-result').hidden = true;
    applyCardStates();
  }

  async function submitAssign(e) {
    e.preventDefault();
    const record = readForm();
    const box = $('assign-result');
    const button = $('assign-submit');
    button.disabled = true;
    button.textContent = 'Assigning…';
    try {
      const params = { algorithm: state.algo, k: state.k ?? null, version: versionParam() };
      const data = await api(dsPath('/assign'), params, { method: 'POST', body: { customers: [record] } });
      const result = (data.assignments || [])[0];
      if (!result) throw new ApiError(0, 'The API returned no assignment.');
      state.assigned = { record, result, coords: approximateCoords(record, result.segment_id) };
      const seg = (state.segments || []).find((s) => s.segment_id === result.segment_id);
      box.className = 'assign-result';
      box.style.setProperty('--seg', segColor(result.segment_id));
      const facts = [];
      if (result.confidence !== undefined && result.confidence !== null) facts.push(`confidence ${fmtPct(result.confidence)}`);
      if (result.distance !== undefined && result.distance !== null) facts.push(`distance ${fmtNum(result.distance, 2)}`);
      if (result.outlier) facts.push('an outlier');
      const notes = [];
      if (result.imputed && result.imputed.length) notes.push(`imputed: ${result.imputed.join(', ')}`);
      if (result.warnings && result.warnings.length) notes.push(...result.warnings);
      setChildren(box, 
        el('div', { className: 'seg' }, el('span', { className: 'dot' }),
          el('span', { 'data-testid': 'assign-segment', text: result.segment_name || (seg && seg.name) || `Segment ${result.segment_id}` })),
        el('div', { className: 'muted small', text: [`segment #${result.segment_id}`, ...facts].join(' · ') }),
        seg && seg.description ? el('p', { className: 'small', text: seg.description }) : null,
        notes.length ? el('div', { className: 'muted small', text: notes.join('; ') }) : null,
        el('div', { className: 'muted small', text: '★ on the map: placed near the most similar sampled customers.' }));
      box.hidden = false;
      applyCardStates();
      renderMap();
      const card = $('cards').querySelector(`[data-segment-id="${CSS.escape(String(result.segment_id))}"]`);
      if (card) card.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    } catch (err) {
      state.assigned = null;
      applyCardStates();
      box.className = 'assign-result error';
      setChildren(box, el('strong', { text: 'Could not assign: ' }), el('span', { text: err.message }));
      box.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = 'Find segment';
    }
  }

  // ---------------------------------------------------------------- analysis: figures and tables
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

  /** A silhouette plot of the selected model: each segment's sampled customers, sorted. */
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
        if (labels[i] === seg.segment_id && typeof values[i] === 'number') vals.push(values[i]);
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
      y += vals.length + Math.max(2, Math.round(labels.length / 60));
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

  function refreshLiveSilhouette() {
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
      if (!fig) { placeholder(div, 'No silhouette values for this model.'); div.dataset.drawn = '1'; return; }
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

  function buildFigures() {
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
    // Per-point silhouettes of every model are in plots.json: draw the selected model's live
    // (any k) instead of the training figures, which show the chosen k only.
    const live = hasLiveSilhouette();
    if (live) figures[LIVE_SILHOUETTE] = { layout: { title: { text: 'Silhouette per segment' } } };
    for (const [name, fig] of Object.entries(figures)) {
      if (SKIP_FIGURES.has(name) || !fig || typeof fig !== 'object') continue;
      if (live && name.startsWith('silhouette:')) continue;
      (EDA_PREFIXES.some((p) => name.startsWith(p)) ? eda : model).push([name, fig]);
    }
    const card = ([name, fig]) => {
      const plot = el('div', { className: 'plot', dataset: { figure: name } });
      const wide = WIDE_FIGURES.some((p) => name.startsWith(p));
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
  function orderModelFigures() {
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

  function observeVisibleFigures() {
    for (const div of document.querySelectorAll('.tab-body:not([hidden]) .figure:not([hidden]) .plot[data-figure]')) {
      if (div.dataset.drawn === '1') continue;
      if (figureObserver) figureObserver.observe(div); else drawFigure(div);
    }
  }

  function renderComparison() {
    const box = $('comparison');
    const rows = (state.evaluation && state.evaluation.comparison) || [];
    if (!rows.length) {
      setChildren(box, el('p', { className: 'muted small', text: 'No evaluation for this version.' }));
      return;
    }
    const head = el('tr', null, ['Algorithm', 'k', 'Segments', 'Silhouette ↑', 'Davies–Bouldin ↓', 'Calinski–Harabasz ↑', 'Score'].map((h) => el('th', { text: h })));
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

  function renderDataSummary() {
    const m = state.summary;
    const rows = m.rows || {};
    const facts = el('dl', { className: 'facts' },
      el('dt', { text: 'Source' }), el('dd', { text: m.source ? m.source.key || '' : '' }),
      el('dt', { text: 'Rows' }), el('dd', { text: `${fmtNum(rows.read)} read · ${fmtNum(rows.used)} used · ${fmtNum(rows.dropped)} dropped` }),
      rows.dropped_reasons && Object.keys(rows.dropped_reasons).length ? [el('dt', { text: 'Dropped rows' }), el('dd', { text: renderValue(rows.dropped_reasons) })] : null,
      rows.imputed_values && Object.keys(rows.imputed_values).length ? [el('dt', { text: 'Imputed values' }), el('dd', { text: renderValue(rows.imputed_values) })] : null);
    const cols = state.columns;
    const table = cols.length ? el('div', { className: 'table-wrap' }, el('table', { className: 'left' },
      el('thead', null, el('tr', null, ['Column', 'Role', 'Type', 'Used', 'Missing', 'Imputed with', 'Note'].map((h) => el('th', { text: h })))),
      el('tbody', null, cols.map((c) => el('tr', null,
        el('td', { text: c.name }), el('td', { text: c.role }), el('td', { text: c.dtype || '' }),
        el('td', { text: c.used ? 'yes' : 'no' }), el('td', { text: fmtNum(c.missing || 0) }),
        el('td', { text: c.imputed_with ?? '' }), el('td', { text: c.reason || c.transform || '' })))))) : null;
    setChildren($('data-summary'), el('h3', { text: 'Training data' }), facts, table, ...plotSummary());
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

  // ---------------------------------------------------------------- wiring
  function wire() {
    $('dataset-select').addEventListener('change', (e) => selectDataset(e.target.value, null));
    $('version-select').addEventListener('change', (e) => loadVersion(e.target.value, { algo: state.algo, k: state.k }));
    $('token-button').addEventListener('click', () => toggleTokenPanel());
    $('token-save').addEventListener('click', () => saveToken($('token-input').value.trim()));
    $('token-clear').addEventListener('click', () => saveToken(''));
    $('token-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') saveToken(e.target.value.trim());
      if (e.key === 'Escape') toggleTokenPanel(false);
    });
    document.addEventListener('click', (e) => {
      const panel = $('token-panel');
      if (!panel.hidden && !panel.contains(e.target) && e.target !== $('token-button')) toggleTokenPanel(false);
    });
    $('assign-form').addEventListener('submit', submitAssign);
    $('assign-example').addEventListener('click', fillExample);
    $('filters-reset').addEventListener('click', () => { buildFilters(); renderMap(); renderMix(); });
    for (const b of document.querySelectorAll('#projection button')) {
      b.addEventListener('click', () => {
        state.projection = b.dataset.projection;
        for (const x of document.querySelectorAll('#projection button')) x.classList.toggle('active', x === b);
        renderMap();
      });
    }
    for (const b of document.querySelectorAll('#analysis-tabs button')) {
      b.addEventListener('click', () => {
        for (const x of document.querySelectorAll('#analysis-tabs button')) x.classList.toggle('active', x === b);
        for (const body of document.querySelectorAll('.tab-body')) body.hidden = body.id !== `tab-${b.dataset.tab}`;
        observeVisibleFigures();
      });
    }
    updateTokenButton();
  }

  wire();
  if (!window.Plotly) {
    showNotice('error', 'Charts unavailable', 'plotly.js did not load from this server; segments are shown without maps.');
  }
  boot().catch((err) => showNotice('error', 'The dashboard failed to start', err.message));
}());
