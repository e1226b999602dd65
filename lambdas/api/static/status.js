/* Live status: the page polls GET /datasets/{d}/status and says when a model is training (since
 * when, from which upload) or the newest upload failed; when a newer version is published, the
 * page reloads itself onto it. Polls every FAST_MS while a model trains or the dataset has none
 * yet, every SLOW_MS otherwise, and not at all while the tab is hidden. */
import { api, dsPath } from './api.js';
import { $, el, setChildren } from './dom.js';
import { state } from './state.js';

export const FAST_MS = 3000;
export const SLOW_MS = 15000;

let timer = 0;
let onNewVersion = () => undefined;
let lastStatus = null;
let refreshedFor = null;
const startedAt = new Date();

function ago(when) {
  const seconds = Math.max(0, Math.round((Date.now() - when.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s`;
  return `${Math.round(seconds / 60)} min`;
}

const fileOf = (key) => (key ? String(key).split('/').pop() : 'an upload');

/** The status line: training (since when), a failure newer than the page, or nothing. */
export function renderStatus(status) {
  const box = $('live-status');
  if (!box) return;
  const training = (status && status.training) || [];
  const failure = status && status.last_failure;
  const failedAt = failure ? new Date(failure.created_at) : null;
  if (training.length) {
    const run = training[training.length - 1];
    const since = new Date(run.since);
    box.className = 'live-status training';
    setChildren(box, el('span', { className: 'spinner', 'aria-hidden': 'true' }),
      `Training ${fileOf(run.source_key)} for ${ago(since)}; this page updates when it is published.`);
    box.title = `version ${run.version}, started ${since.toLocaleString()}`;
    box.hidden = false;
  } else if (failure && failedAt > startedAt) {
    box.className = 'live-status failed';
    setChildren(box, `The upload ${fileOf(failure.source && failure.source.key)} failed: ${failure.error}`);
    box.title = failure.created_at;
    box.hidden = false;
  } else {
    box.hidden = true;
    setChildren(box);
  }
  box.dataset.state = training.length ? 'training' : (box.hidden ? 'idle' : 'failed');
}

async function tick() {
  timer = 0;
  const dataset = state.dataset;
  if (dataset && document.visibilityState !== 'hidden') {
    try {
      lastStatus = await api(dsPath('/status'));
    } catch (err) {
      lastStatus = null;
    }
    if (lastStatus && dataset === state.dataset) {
      renderStatus(lastStatus);
      const published = lastStatus.current_version;
      if (published && published !== state.currentVersion && published !== refreshedFor) {
        refreshedFor = published;
        onNewVersion(published);
      }
    }
  }
  schedule();
}

function schedule() {
  if (timer) clearTimeout(timer);
  const busy = !state.currentVersion || (lastStatus && (lastStatus.training || []).length > 0);
  timer = setTimeout(tick, busy ? FAST_MS : SLOW_MS);
}

/** Ask for the status now (after a promote: the page follows the new current version). */
export function checkStatusNow() { if (timer) clearTimeout(timer); tick(); }

/** Start polling; `refresh(version)` runs when a version newer than the page's is published. */
export function watchStatus(refresh) {
  onNewVersion = refresh;
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tick(); });
  schedule();
}
