/* Customer Segments dashboard: the entry module.
 *
 * A static page over the JSON API, split into ES modules by concern (loaded natively, no build
 * step; the server versions every module URL, see lambdas/api/routes/dashboard.py):
 *   state.js     the shared state and the shareable URL hash
 *   api.js       the JSON API client (relative URLs, bearer token)
 *   auth.js      sign-in (authorization code + PKCE) when deployed; report.js  the full report
 *   dom.js       safe element building; format.js numbers, names, colours
 *   notices.js   notices, the version's warnings banner, the token popover
 *   model.js     algorithm / k selection and the KPIs
 *   cards.js     segment cards;  map.js  customer map and segment mix
 *   filters.js   the feature filters;  assign.js  the assign form
 *   analysis.js  the analysis tabs (figures, comparison, data summary)
 *   filtered.js  the cards of the filtered customers;  status.js  live training status
 *   explain.js   metrics and the k choice in words;  layout.js  drawer, keyboard, ARIA
 *   segments-work.js  rename, export, heat map, distributions by segment
 *   versions.js  compare two versions, promote (admin);  upload.js  browser upload (admin)
 * This module loads datasets and versions and wires the page's controls.
 */
import { buildFigures, observeVisibleFigures, refreshLiveSilhouette, renderComparison, renderDataSummary } from './analysis.js';
import { api, apiUrl, dsPath, storeToken } from './api.js';
import { buildAssignForm, fillExample, submitAssign } from './assign.js';
import { startAuth } from './auth.js';
import { renderCards } from './cards.js';
import { $, el, setChildren } from './dom.js';
import { buildFilters } from './filters.js';
import { enhanceLayout } from './layout.js';
import { initSegmentWork } from './segments-work.js';
import { initVersionsPanel } from './versions.js';
import { renderMap, renderMix } from './map.js';
import { chosenK, selectModel, sweepKs } from './model.js';
import { hideNotice, showApiError, showNotice, showWarnings, toggleTokenPanel, updateTokenButton } from './notices.js';
import { openReport } from './report.js';
import { readHash, state, versionParam } from './state.js';
import { watchStatus } from './status.js';
import { initUpload } from './upload.js';

const asList = (data, key) => (Array.isArray(data) ? data : (data && Array.isArray(data[key]) ? data[key] : []));
const datasetName = (d) => (typeof d === 'string' ? d : d.dataset || d.name);
const datasetCurrent = (d) => (typeof d === 'string' ? null : d.current_version || d.version || (d.current && d.current.version) || null);
const versionId = (v) => (typeof v === 'string' ? v : v.version);

async function boot(override) {
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
    showWarnings([]);
    setChildren($('version-select'));
    showNotice('info', 'No datasets yet',
      'Upload a customer table with the Upload button (admin), or to the raw bucket as uploads/<dataset>/<file>.csv (or run the CLI\'s train command). '
      + 'When training finishes, its segments appear here.');
    return;
  }
  const wanted = override || readHash();
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
      ? `${when.toLocaleString(undefined, { month: 'short', day: 'numeric', year: when.getFullYear() === new Date().getFullYear() ? undefined : 'numeric', hour: '2-digit', minute: '2-digit' })}${tail ? ` · ${tail}` : ''}`
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
    showWarnings([]);
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
  showWarnings(summary.warnings || manifest.warnings || []);
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
  buildFilters(redrawFiltered);
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
/** The filters changed: the map, the mix, the cards and the live silhouette plot show the
 * customers that pass. */
function redrawFiltered() { renderMap(); renderMix(); renderCards(); refreshLiveSilhouette(); }

function saveToken(value) {
  storeToken(value);
  updateTokenButton();
  toggleTokenPanel(false);
  boot();
}

function wire() {
  $('dataset-select').addEventListener('change', (e) => selectDataset(e.target.value, null));
  // Another version: the same algorithm at that version's own chosen k.
  $('version-select').addEventListener('change', (e) => loadVersion(e.target.value, { algo: state.algo, k: null }));
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
  $('report-link').addEventListener('click', openReport);
  $('assign-form').addEventListener('submit', submitAssign);
  $('assign-example').addEventListener('click', fillExample);
  $('filters-reset').addEventListener('click', () => { buildFilters(redrawFiltered); redrawFiltered(); });
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
  enhanceLayout();
  initSegmentWork();
  initVersionsPanel();
}

wire();
if (!window.Plotly) {
  showNotice('error', 'Charts unavailable', 'plotly.js did not load from this server; segments are shown without maps.');
}
startAuth()
  .then(() => boot(), (err) => showNotice('error', 'Sign-in failed', err.message))
  .catch((err) => showNotice('error', 'The dashboard failed to start', err.message));
// A newer version was published (status.js): reload the dataset list and stay on this dataset.
watchStatus(() => boot(Object.assign(readHash(), { dataset: state.dataset })));
// A browser upload (upload.js): show its dataset; status.js follows the training run.
initUpload((dataset) => boot({ dataset, version: null, algo: null, k: null }));
