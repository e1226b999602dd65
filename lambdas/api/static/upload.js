/* Upload a customer file from the browser (admin): the API hands out a presigned S3 POST for
 * uploads/<dataset>/<name> (POST .../uploads), the browser posts the file straight to S3 with a
 * progress bar, and the page then follows the dataset: status.js says "Training ..." and shows
 * the new version as soon as it is published. */
import { ApiError, api } from './api.js';
import { $, el, setChildren } from './dom.js';
import { state } from './state.js';

const DATASET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
let follow = () => undefined;

function say(kind, text) {
  const box = $('upload-message');
  box.className = `upload-message ${kind}`;
  box.textContent = text;
}

function progress(share) {
  const bar = $('upload-progress');
  bar.hidden = share === null;
  if (share !== null) { bar.value = Math.round(share * 100); bar.textContent = `${Math.round(share * 100)}%`; }
}

/** POST the file to S3 with the ticket's fields (the file last, as S3 requires). */
function postToS3(ticket, file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(ticket.fields)) form.append(k, v);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', ticket.url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded / e.total); };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`S3 answered ${xhr.status}${xhr.responseText ? `: ${xhr.responseText.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200)}` : ''}`)));
    xhr.onerror = () => reject(new Error('the upload could not reach S3 (network or CORS)'));
    xhr.send(form);
  });
}

async function waitUntilKnown(dataset) {
  for (let i = 0; i < 40; i++) {
    try { await api(`datasets/${encodeURIComponent(dataset)}/status`); return true; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 1500));
  }
  return false;
}

async function upload(e) {
  e.preventDefault();
  const dataset = $('upload-dataset').value.trim();
  const file = $('upload-file').files[0];
  if (!DATASET_NAME.test(dataset)) { say('error', 'A dataset name is lower-case letters, digits, "-" or "_" (up to 63).'); return; }
  if (!file) { say('error', 'Choose a .csv, .csv.gz or .parquet file.'); return; }
  const button = $('upload-submit');
  button.disabled = true;
  try {
    say('info', 'Asking the API for an upload…');
    const ticket = await api(`datasets/${encodeURIComponent(dataset)}/uploads`, null, { method: 'POST', body: { filename: file.name, size: file.size } });
    say('info', `Uploading ${file.name}…`);
    progress(0);
    await postToS3(ticket, file);
    progress(1);
    say('ok', `Uploaded to ${ticket.key}. Training starts in a moment; this page follows it.`);
    $('upload-panel').dataset.uploaded = ticket.key;
    if (await waitUntilKnown(dataset)) follow(dataset);
  } catch (err) {
    progress(null);
    say('error', err instanceof ApiError && (err.status === 401 || err.status === 403)
      ? 'Uploading needs an admin token: set one with the "API token" button.'
      : `Upload failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

function toggle(open) {
  const panel = $('upload-panel');
  const show = open === undefined ? panel.hidden : open;
  panel.hidden = !show;
  $('upload-button').setAttribute('aria-expanded', String(show));
  if (show) {
    if (!$('upload-dataset').value) $('upload-dataset').value = state.dataset || '';
    $('upload-file').focus();
  }
}

/** Wire the Upload button; `onUploaded(dataset)` shows that dataset once the API knows it. */
export function initUpload(onUploaded) {
  follow = onUploaded;
  $('upload-button').addEventListener('click', () => toggle());
  $('upload-form').addEventListener('submit', upload);
  $('upload-cancel').addEventListener('click', () => toggle(false));
  $('upload-panel').addEventListener('keydown', (e) => { if (e.key === 'Escape') toggle(false); });
  setChildren($('upload-message'));
}
