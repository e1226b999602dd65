/* What a marketer does with the segments of the selected model:
 *   - each card gets "Export CSV" (the segment's training customers, GET .../customers.csv)
 *     and "Rename" (admin: PUT .../name; the name follows the segment's stable id into later
 *     versions, and "Reset" brings the generated name back);
 *   - the segment x feature heat map of z-scores (clustered and profiled columns);
 *   - the distribution of any column per segment (box plots from the plotted customers).
 * Both figures redraw when the cards show another model (the #cards data-model attribute). */
import { ApiError, api, apiUrl, dsPath, token } from './api.js';
import { $, el, esc, placeholder, setChildren } from './dom.js';
import { FONT, PLOT_CONFIG, fmtNum, segColor, shortName } from './format.js';
import { selectModel } from './model.js';
import { showNotice } from './notices.js';
import { currentLabels, state, versionParam } from './state.js';

const isAdminRefusal = (err) => err instanceof ApiError && (err.status === 401 || err.status === 403);

async function downloadCsv(seg) {
  const url = apiUrl(dsPath(`/segments/${seg.segment_id}/customers.csv`), { algorithm: state.algo, version: versionParam() });
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const res = await fetch(url, { headers });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).message || message; } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, message);
  }
  const blob = await res.blob();
  const link = el('a', { href: URL.createObjectURL(blob), download: `${state.dataset}-segment-${seg.segment_id}.csv`, hidden: true });
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  $('cards').dataset.exported = String(seg.segment_id);
}

async function saveName(seg, name) {
  await api(dsPath(`/segments/${seg.segment_id}/name`), null, { method: 'PUT', body: { name } });
  state.segCache = new Map();
  await selectModel(state.algo, state.k);
}

function renameForm(card, seg) {
  const input = el('input', { type: 'text', value: seg.name, maxlength: '80', 'aria-label': `New name for ${seg.name}`, 'data-testid': 'rename-input' });
  const error = el('p', { className: 'rename-error', role: 'alert' });
  const submit = async (name) => {
    try {
      await saveName(seg, name);
    } catch (err) {
      error.textContent = isAdminRefusal(err)
        ? 'Renaming needs an admin token: set one with the "API token" button.'
        : `Could not rename: ${err.message}`;
    }
  };
  const form = el('form', { className: 'rename', 'data-testid': 'rename-form', onsubmit: (e) => { e.preventDefault(); submit(input.value); } },
    input,
    el('div', { className: 'row' },
      el('button', { type: 'submit', className: 'button primary' }, 'Save'),
      seg.name_source === 'person' ? el('button', { type: 'button', className: 'button', title: `Back to "${seg.generated_name}"`, onclick: () => submit(null) }, 'Reset') : null,
      el('button', { type: 'button', className: 'button ghost', onclick: () => { form.remove(); } }, 'Cancel')),
    error);
  // Clicks and keys inside the form must not focus the card's segment.
  form.addEventListener('click', (e) => e.stopPropagation());
  form.addEventListener('keydown', (e) => e.stopPropagation());
  return form;
}

/** The actions row of one card (called by cards.js for every card it draws). */
export function decorateCard(card, seg) {
  if (card.querySelector('.card-actions')) return;
  const stop = (fn) => (e) => { e.stopPropagation(); fn(e); };
  const actions = el('div', { className: 'card-actions' },
    el('button', { type: 'button', className: 'link', 'data-testid': 'export-segment', title: 'Download this segment\'s customers as CSV',
      onclick: stop(() => downloadCsv(seg).catch((err) => showNotice('error', 'Export failed', err.message))) }, 'Export CSV'),
    state.version === state.currentVersion || !state.currentVersion
      ? el('button', { type: 'button', className: 'link', 'data-testid': 'rename-segment', title: 'Give this segment a name (admin)',
        onclick: stop(() => { if (!card.querySelector('form.rename')) { const f = renameForm(card, seg); card.append(f); f.querySelector('input').focus(); } }) }, 'Rename')
      : null);
  if (seg.name_source === 'person') {
    card.querySelector('.card-name').title = `Named by a person; generated name: ${seg.generated_name}`;
  }
  card.append(actions);
}

// ---------------------------------------------------------------- heat map of z-scores
function heatmap() {
  const div = $('profile-heatmap');
  const segs = (state.segments || []).filter((s) => !s.is_outlier && s.segment_id >= 0);
  const features = [];
  for (const s of segs) for (const f of Object.keys(s.numeric || {})) if (!features.includes(f)) features.push(f);
  if (!window.Plotly || !segs.length || !features.length) { placeholder(div, 'No numeric profile to show.'); return; }
  if (div.querySelector('.placeholder')) setChildren(div);
  const profiled = new Set(state.columns.filter((c) => c.profiled).map((c) => c.name));
  const z = segs.map((s) => features.map((f) => (s.numeric[f] ? s.numeric[f].z : null)));
  const text = segs.map((s) => features.map((f) => (s.numeric[f] ? `${fmtNum(s.numeric[f].mean)}` : '')));
  const label = (f) => esc(`${shortName(f)}${profiled.has(f) ? ' *' : ''}`);
  Plotly.react(div, [{
    type: 'heatmap', z, x: features.map(label), y: segs.map((s) => esc(shortName(s.name)).replace(/, /, ',<br>')),
    text, texttemplate: '%{text}', zmid: 0, zmin: -2.5, zmax: 2.5, colorscale: 'RdBu', reversescale: true,
    colorbar: { title: { text: 'z' }, thickness: 12 },
    hovertemplate: '%{y}<br>%{x}: mean %{text} (z %{z:.2f})<extra></extra>',
  }], {
    font: FONT, margin: { l: 10, r: 10, t: 10, b: 60 }, paper_bgcolor: '#ffffff',
    xaxis: { automargin: true, tickangle: 0 }, yaxis: { automargin: true, autorange: 'reversed' },
  }, PLOT_CONFIG);
  div.dataset.drawn = String(segs.length * features.length);
  $('profile-heatmap-note').textContent = `Cells: the segment's mean; colour: how far it is from all customers in standard deviations (z).${profiled.size ? ' * not used to form the segments, only described.' : ''}`;
}

// ---------------------------------------------------------------- distributions by segment
function distributionColumns() {
  const features = (state.plots && state.plots.points.features) || {};
  return Object.keys(features).filter((f) => features[f].some((v) => typeof v === 'number'));
}

function distributions() {
  const div = $('profile-box');
  const select = $('profile-column');
  const labels = currentLabels();
  const columns = distributionColumns();
  if (!window.Plotly || !labels || !columns.length) { placeholder(div, 'No plotted customers for this version.'); select.disabled = true; return; }
  const keep = columns.includes(select.value) ? select.value : columns[0];
  if (select.options.length !== columns.length || [...select.options].some((o, i) => o.value !== columns[i])) {
    setChildren(select, ...columns.map((c) => el('option', { value: c, text: c })));
  }
  select.value = keep;
  select.disabled = false;
  if (div.querySelector('.placeholder')) setChildren(div);
  const values = state.plots.points.features[keep];
  const traces = (state.segments || []).map((s) => {
    const ys = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === s.segment_id && typeof values[i] === 'number') ys.push(values[i]);
    return { type: 'box', name: esc(shortName(s.name)), y: ys, boxmean: true, marker: { color: segColor(s.segment_id) }, boxpoints: false };
  }).filter((t) => t.y.length);
  Plotly.react(div, traces, {
    font: FONT, margin: { l: 50, r: 10, t: 10, b: 60 }, paper_bgcolor: '#ffffff', showlegend: false,
    yaxis: { title: { text: esc(keep) }, gridcolor: '#edf0f5' }, xaxis: { automargin: true },
  }, PLOT_CONFIG);
  div.dataset.column = keep;
}

export function initSegmentWork() {
  $('profile-column').addEventListener('change', distributions);
  new MutationObserver(() => { heatmap(); distributions(); })
    .observe($('cards'), { attributes: true, attributeFilter: ['data-model'] });
}
