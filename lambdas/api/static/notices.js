/* What the page tells the user outside the charts: the notice (errors, empty states), the
 * version's warnings banner, and the API token popover. */
import { token } from './api.js';
import { authMode } from './auth.js';
import { $, el, setChildren } from './dom.js';
import { state } from './state.js';

export function showNotice(kind, title, text) {
  const box = $('notice');
  box.className = `notice ${kind}`;
  setChildren(box, el('strong', { text: title }), text ? el('span', { text }) : null);
  box.hidden = false;
}

export const hideNotice = () => { $('notice').hidden = true; };

export function showApiError(err, what) {
  if ((err.status === 401 || err.status === 403) && authMode() === 'cognito') {
    showNotice('error', err.status === 401 ? 'Sign in to see the segments' : 'Not allowed',
      `${what} was refused (${err.status}: ${err.message}).${err.status === 401 ? ' Use the "Sign in" button.' : ''}`);
  } else if (err.status === 401 || err.status === 403) {
    showNotice('error', 'This API needs a token',
      `${what} was refused (${err.status}: ${err.message}). Enter an API token with the "API token" button.`);
    toggleTokenPanel(true);
  } else {
    showNotice('error', `Could not load ${what}`, err.message);
  }
}

// ---------------------------------------------------------------- warnings banner
const warningsKey = () => `${state.dataset}|${state.version}`;

/** The version's warnings (manifest `warnings`: weak structure, excluded columns, guardrail
 * overrides...) above everything else, as text. Dismissing hides them for this version until
 * the page is reloaded; another version shows its own. */
export function showWarnings(warnings) {
  const box = $('warnings-banner');
  const list = (Array.isArray(warnings) ? warnings : []).filter((w) => typeof w === 'string' && w.trim());
  if (!list.length || state.dismissedWarnings.has(warningsKey())) {
    box.hidden = true;
    setChildren(box);
    return;
  }
  const title = list.length === 1 ? 'This version has a warning' : `This version has ${list.length} warnings`;
  setChildren(box,
    el('div', { className: 'warnings-body' },
      el('strong', { text: `${title}: read it before using these segments.` }),
      el('ul', null, list.map((w) => el('li', { 'data-testid': 'warning', text: w })))),
    el('button', {
      type: 'button', className: 'dismiss', 'aria-label': 'Dismiss the warnings', title: 'Dismiss',
      'data-testid': 'warnings-dismiss',
      onclick: () => { state.dismissedWarnings.add(warningsKey()); box.hidden = true; },
    }, '×'));
  box.hidden = false;
}

// ---------------------------------------------------------------- token popover
export function toggleTokenPanel(open) {
  const panel = $('token-panel');
  const show = open === undefined ? panel.hidden : open;
  panel.hidden = !show;
  $('token-button').setAttribute('aria-expanded', String(show));
  if (show) { $('token-input').value = token(); $('token-input').focus(); }
}

export function updateTokenButton() { $('token-button').textContent = token() ? 'API token ✓' : 'API token'; }
