/* The assign form: type a customer's values, the API assigns them (the selected model), the
 * segment card lights up and the customer appears on the PCA map at its exact position. */
import { ApiError, api, dsPath } from './api.js';
import { applyCardStates } from './cards.js';
import { $, el, setChildren } from './dom.js';
import { fmtNum, fmtPct, segColor } from './format.js';
import { projectOnPca, renderMap } from './map.js';
import { reasonsList } from './reasons.js';
import { state, versionParam } from './state.js';

function inputColumns() {
  return state.columns.filter((c) => c.used && ['numeric', 'categorical', 'date'].includes(c.role));
}

export function buildAssignForm() {
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
      input = el('input', { type: 'number', step: 'any', name: c.name, 'data-column': c.name, placeholder: hasRange ? `e.g. ${fmtNum((c.min + c.max) / 2)}` : '', inputmode: 'decimal',
        min: hasRange ? c.min : undefined, max: hasRange ? c.max : undefined });
    }
    const error = el('span', { className: 'field-error', role: 'alert', 'data-testid': `assign-error-${c.name}` });
    input.addEventListener('input', onFieldChange);
    return el('label', { className: 'form-field' },
      el('span', { className: 'lbl' }, el('span', { text: c.name }), el('span', { className: 'hint', text: hint })), input, error);
  }) : [el('p', { className: 'muted small', text: 'The manifest lists no input columns.' })]));
}

export function fillExample() {
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

/** The typed customer, or null when a field is invalid (each invalid field says why): numbers
 * must be numbers inside the range training saw (the hint), the model knows nothing outside. */
function readForm() {
  const record = {};
  let valid = true;
  for (const input of $('assign-fields').querySelectorAll('[data-column]')) {
    const raw = input.value.trim();
    const col = state.columns.find((c) => c.name === input.dataset.column);
    const error = input.parentElement.querySelector('.field-error');
    let problem = '';
    if (raw !== '' && col && col.role === 'numeric') {
      const value = Number(raw);
      const ranged = col.min !== null && col.min !== undefined && col.max !== null && col.max !== undefined;
      if (!Number.isFinite(value) || (input.validity && input.validity.badInput)) problem = 'Type a number.';
      else if (ranged && (value < col.min || value > col.max)) problem = `Between ${fmtNum(col.min)} and ${fmtNum(col.max)}, the range seen in training.`;
      else record[input.dataset.column] = value;
    } else if (raw !== '') {
      record[input.dataset.column] = raw;
    } else if (input.validity && input.validity.badInput) {
      problem = 'Type a number.';
    }
    if (error) error.textContent = problem;
    if (problem) { input.setAttribute('aria-invalid', 'true'); valid = false; } else input.removeAttribute('aria-invalid');
  }
  return valid ? record : null;
}

let liveTimer = 0;
/** After a first assignment, the answer follows the typed values (debounced). */
function onFieldChange() {
  if (!state.assigned) return;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => { if (state.assigned) $('assign-form').requestSubmit(); }, 450);
}

/** GMM: the customer's probability of belonging to each segment, as bars. */
function membership(result) {
  const probabilities = result.probabilities;
  if (!probabilities || typeof probabilities !== 'object') return null;
  const rows = Object.entries(probabilities).map(([id, p]) => [Number(id), p]).filter(([, p]) => p >= 0.005).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return null;
  return el('div', { className: 'membership', 'data-testid': 'assign-membership' },
    el('div', { className: 'muted small', text: 'Membership (how likely each segment is)' }),
    rows.map(([id, p]) => {
      const seg = (state.segments || []).find((s) => s.segment_id === id);
      return el('div', { className: 'bar-row', vars: { '--seg': segColor(id) } },
        el('span', { className: 'bar-name', text: seg ? seg.name : `Segment ${id}` }),
        el('span', { className: 'bar' }, el('span', { style: { width: `${Math.max(1, p * 100)}%` } })),
        el('span', { className: 'bar-value', text: fmtPct(p) }));
    }));
}

export function clearAssigned() {
  state.assigned = null;
  $('assign-result').hidden = true;
  applyCardStates();
}

export async function submitAssign(e) {
  e.preventDefault();
  const record = readForm();
  const box = $('assign-result');
  if (record === null) {
    box.className = 'assign-result error';
    setChildren(box, el('strong', { text: 'Check the highlighted values.' }));
    box.hidden = false;
    return;
  }
  const button = $('assign-submit');
  button.disabled = true;
  button.textContent = 'Assigning…';
  try {
    // prepared=true: the API also returns the customer's prepared vector (its own serving
    // transform), which plots.json's PCA projection maps exactly onto the customer map.
    // explain=true: the exact reasons (margin over the runner-up segment, split per column).
    const params = { algorithm: state.algo, k: state.k ?? null, version: versionParam(), prepared: 'true', explain: 'true' };
    const data = await api(dsPath('/assign'), params, { method: 'POST', body: { customers: [record] } });
    const result = (data.assignments || [])[0];
    if (!result) throw new ApiError(0, 'The API returned no assignment.');
    state.assigned = { record, result, pca: projectOnPca(result.prepared) };
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
        el('span', { 'data-testid': 'assign-segment', text: (seg && seg.name_source === 'person' ? seg.name : result.segment_name) || (seg && seg.name) || `Segment ${result.segment_id}` })),
      el('div', { className: 'muted small', text: [`segment #${result.segment_id}`, ...facts].join(' · ') }),
      seg && seg.description ? el('p', { className: 'small', text: seg.description }) : null,
      membership(result),
      reasonsList(result.explanation),
      notes.length ? el('div', { className: 'muted small', text: notes.join('; ') }) : null,
      el('div', { className: 'muted small', 'data-testid': 'assign-map-note',
        text: state.assigned.pca ? '★ on the PCA map: where the model places this customer.'
          : 'Not on the map: this version did not publish its PCA projection.' }));
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
