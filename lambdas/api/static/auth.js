/* Sign-in for the deployed dashboard: OAuth 2.0 authorization code flow with PKCE (RFC 7636)
 * against the Cognito managed login pages. Nothing to paste: the page asks GET auth/config (no
 * token needed) how to sign in.
 *   mode "cognito": "Sign in" sends the browser to the authorize URL with a fresh state and
 *     S256 code challenge; back on the page with ?code=&state=, the state is checked, the code is
 *     exchanged (with the verifier) at the token URL, and the tokens are kept in sessionStorage
 *     (this tab only). accessToken() refreshes the access token a minute before it expires.
 *   mode "token": the API takes static tokens; the "API token" popover stays.
 *   mode "open": no token needed.
 * The public client has no secret: the PKCE verifier is what proves the exchange is ours. */

const API_ROOT = new URL('../', import.meta.url.split('?')[0]);
const SESSION_KEY = 'segments.session';
const PENDING_KEY = 'segments.signin';
const REFRESH_MARGIN_MS = 60_000;

let config = { mode: 'open' };
let refreshing = null;

/** URL-safe base64 without padding (RFC 7636 appendix A). */
export function base64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A random string of 32 bytes, URL-safe (43 characters: a valid code verifier). */
export function randomToken() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ascii(verifier))). */
export async function codeChallenge(verifier) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

/** Where the sign-in server sends the browser back: the dashboard itself. */
export const redirectUri = () => API_ROOT.toString();

function readJson(storage, key) {
  try { return JSON.parse(storage.getItem(key) || 'null'); } catch (e) { return null; }
}
function writeJson(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key); else storage.setItem(key, JSON.stringify(value));
  } catch (e) { /* storage disabled: signed in for this page only */ }
}

let memorySession = null;
const session = () => readJson(sessionStorage, SESSION_KEY) || memorySession;
function saveSession(tokens, previous) {
  const value = tokens ? {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token || (previous && previous.refresh_token) || null,
    expires_at: Date.now() + 1000 * Number(tokens.expires_in || 3600),
  } : null;
  memorySession = value;
  writeJson(sessionStorage, SESSION_KEY, value);
}

export const authMode = () => config.mode;
export const signedIn = () => Boolean(session());

/** The signed-in user's name, read from the access token (for display only). */
export function userName() {
  const s = session();
  if (!s) return '';
  try {
    const payload = s.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload));
    return claims.username || claims.email || '';
  } catch (e) { return ''; }
}

async function tokenRequest(params) {
  const res = await fetch(config.token_url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: config.client_id, ...params }).toString(),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok || !data || !data.access_token) {
    throw new Error(`sign-in failed: ${(data && (data.error_description || data.error)) || res.status}`);
  }
  return data;
}

/** A valid access token ('' when not signed in), refreshed shortly before it expires. */
export async function accessToken() {
  if (config.mode !== 'cognito') return '';
  const s = session();
  if (!s) return '';
  if (Date.now() < s.expires_at - REFRESH_MARGIN_MS) return s.access_token;
  if (!s.refresh_token) { saveSession(null); renderButtons(); return ''; }
  if (!refreshing) {
    refreshing = tokenRequest({ grant_type: 'refresh_token', refresh_token: s.refresh_token })
      .then((tokens) => { saveSession(tokens, s); return tokens.access_token; })
      .catch(() => { saveSession(null); renderButtons(); return ''; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function signIn() {
  const verifier = randomToken();
  const state = randomToken();
  writeJson(sessionStorage, PENDING_KEY, { state, verifier, hash: window.location.hash });
  const url = new URL(config.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: (config.scopes || []).join(' '),
    state,
    code_challenge: await codeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

export function signOut() {
  saveSession(null);
  const url = new URL(config.logout_url);
  url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
  window.location.assign(url.toString());
}

/** Back from the sign-in page: check the state, exchange the code, clean the address bar. */
async function completeSignIn(params) {
  const pending = readJson(sessionStorage, PENDING_KEY);
  writeJson(sessionStorage, PENDING_KEY, null);
  window.history.replaceState(null, '', redirectUri() + ((pending && pending.hash) || ''));
  if (params.get('error')) throw new Error(`sign-in failed: ${params.get('error_description') || params.get('error')}`);
  if (!pending || pending.state !== params.get('state')) {
    throw new Error('sign-in failed: the answer does not belong to a sign-in started here (state mismatch); sign in again');
  }
  const tokens = await tokenRequest({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  saveSession(tokens);
}

function renderButtons() {
  const cognito = config.mode === 'cognito';
  const signInButton = document.getElementById('signin-button');
  const signOutButton = document.getElementById('signout-button');
  const tokenButton = document.getElementById('token-button');
  if (tokenButton) tokenButton.hidden = cognito;
  if (signInButton) signInButton.hidden = !cognito || signedIn();
  if (signOutButton) {
    signOutButton.hidden = !cognito || !signedIn();
    const name = userName();
    signOutButton.textContent = name ? `Sign out (${name})` : 'Sign out';
  }
}

/** Read the sign-in configuration, finish a sign-in in progress, wire the buttons. */
export async function startAuth() {
  try {
    const res = await fetch(new URL('auth/config', API_ROOT), { headers: { Accept: 'application/json' } });
    if (res.ok) config = await res.json();
  } catch (e) { /* an older API without auth/config: keep the token popover */ config = { mode: 'token' }; }
  let failure = null;
  const params = new URLSearchParams(window.location.search);
  if (config.mode === 'cognito' && (params.has('code') || params.has('error'))) {
    try { await completeSignIn(params); } catch (e) { failure = e; }
  }
  const signInButton = document.getElementById('signin-button');
  const signOutButton = document.getElementById('signout-button');
  if (signInButton) signInButton.addEventListener('click', () => { signIn(); });
  if (signOutButton) signOutButton.addEventListener('click', () => signOut());
  renderButtons();
  if (failure) throw failure;
  return config;
}
