/* Layout and keyboard behaviour that no other module owns:
 *   - below 1100 px the sidebar (filters, assign) is a drawer opened from a button;
 *   - radiogroups (algorithm, k, projection) move with the arrow keys, one tab stop each,
 *     aria-checked following the active button;
 *   - the analysis tabs keep aria-selected in step and move with the arrow keys.
 * The buttons are rendered by other modules: a MutationObserver keeps their ARIA state. */
import { $ } from './dom.js';

const DRAWER_QUERY = '(max-width: 1100px)';

function setDrawer(open) {
  const sidebar = $('sidebar');
  const narrow = window.matchMedia(DRAWER_QUERY).matches;
  const show = open && narrow;
  sidebar.classList.toggle('open', show);
  $('drawer-backdrop').hidden = !show;
  $('drawer-toggle').setAttribute('aria-expanded', String(show));
  if (show) {
    const first = sidebar.querySelector('input, select, button:not(#drawer-close)');
    (first || $('drawer-close')).focus();
  }
}

function wireDrawer() {
  $('drawer-toggle').addEventListener('click', () => setDrawer(!$('sidebar').classList.contains('open')));
  $('drawer-close').addEventListener('click', () => { setDrawer(false); $('drawer-toggle').focus(); });
  $('drawer-backdrop').addEventListener('click', () => setDrawer(false));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('sidebar').classList.contains('open')) { setDrawer(false); $('drawer-toggle').focus(); }
  });
  window.matchMedia(DRAWER_QUERY).addEventListener('change', () => setDrawer(false));
}

const NEXT = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

/** One tab stop per radiogroup (the checked radio), aria-checked from the `active` class. */
function syncRadios(group) {
  const radios = [...group.querySelectorAll('button')];
  const active = radios.find((b) => b.classList.contains('active')) || radios[0];
  for (const b of radios) {
    if (b.getAttribute('role') === 'radio') b.setAttribute('aria-checked', String(b === active));
    b.tabIndex = b === active ? 0 : -1;
  }
}

function wireRadiogroup(group) {
  group.addEventListener('keydown', (e) => {
    const step = NEXT[e.key];
    if (!step && e.key !== 'Home' && e.key !== 'End') return;
    const radios = [...group.querySelectorAll('button:not([disabled])')];
    if (radios.length < 2) return;
    const at = radios.indexOf(document.activeElement);
    let to = e.key === 'Home' ? 0 : e.key === 'End' ? radios.length - 1 : (at + step + radios.length) % radios.length;
    if (at < 0) to = 0;
    e.preventDefault();
    radios[to].click();
    // The click may re-render the group: focus the button that is now checked.
    const checked = group.querySelector('button.active') || radios[to];
    checked.focus();
  });
  syncRadios(group);
  new MutationObserver(() => syncRadios(group)).observe(group, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] });
}

function syncTabs(tabs) {
  for (const b of tabs.querySelectorAll('[role=tab]')) {
    const selected = b.classList.contains('active');
    if (b.getAttribute('aria-selected') !== String(selected)) b.setAttribute('aria-selected', String(selected));
    b.tabIndex = selected ? 0 : -1;
  }
}

function wireTabs(tabs) {
  tabs.addEventListener('keydown', (e) => {
    const step = NEXT[e.key];
    if (!step) return;
    const all = [...tabs.querySelectorAll('[role=tab]')];
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    e.preventDefault();
    const to = all[(at + step + all.length) % all.length];
    to.click();
    to.focus();
  });
  syncTabs(tabs);
  new MutationObserver(() => syncTabs(tabs)).observe(tabs, { subtree: true, attributes: true, attributeFilter: ['class'] });
}

export function enhanceLayout() {
  wireDrawer();
  for (const id of ['algo-buttons', 'k-buttons', 'projection']) wireRadiogroup($(id));
  wireTabs($('analysis-tabs'));
}
