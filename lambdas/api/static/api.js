/* The JSON API client. Every URL is relative to the API root, derived from where this module
 * was loaded (".../static/api.js" -> ".../"), so the page works at "/" locally and under an API
 * Gateway stage prefix. The bearer token: the signed-in user's (auth.js), else a pasted one kept
 * in localStorage. */
import { accessToken } from './auth.js';
import { state } from './state.js';

const API_ROOT = new URL('../', import.meta.url.split('?')[0]);
const TOKEN_KEY = 'segments.apiToken';

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function token() { try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }

export function storeToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* storage disabled: the token lives for this page only */ }
}

export function apiUrl(path, params) {
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

export async function api(path, params, options) {
  const opts = options || {};
  const headers = { Accept: 'application/json' };
  const t = (await accessToken()) || token();
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

/** The path of the selected dataset's resource (`suffix` like "/segments"). */
export const dsPath = (suffix) => `datasets/${encodeURIComponent(state.dataset)}${suffix || ''}`;
