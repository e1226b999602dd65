/* The dashboard's state (one object, shared by every module) and its shareable part in the
 * URL hash: dataset, version, algorithm and k. */
import { modelKey } from './format.js';

export const state = {
  datasets: [], dataset: null, versions: [], version: null, currentVersion: null,
  summary: null, plots: null, plotsError: null, evaluation: null, columns: [],
  algo: null, k: null, segments: null, projection: 'pca',
  segCache: new Map(), filters: { numeric: {}, categorical: {} },
  focus: null, assigned: null, loadId: 0, modelId: 0,
  dismissedWarnings: new Set(),
};

/** The version to ask the API for: null means "the current one" (the API's default). */
export const versionParam = () => (state.version && state.version !== state.currentVersion ? state.version : null);

export function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  return { dataset: p.get('dataset'), version: p.get('version'), algo: p.get('algorithm'), k: p.get('k') };
}

export function writeHash() {
  const p = new URLSearchParams();
  if (state.dataset) p.set('dataset', state.dataset);
  if (state.version && state.version !== state.currentVersion) p.set('version', state.version);
  if (state.algo) p.set('algorithm', state.algo);
  if (state.k !== null && state.k !== undefined) p.set('k', String(state.k));
  history.replaceState(null, '', `#${p.toString()}`);
}

/** Segment id of every sampled point under the selected model (null without plot data). */
export function currentLabels() {
  if (!state.plots) return null;
  return (state.plots.points.labels || {})[modelKey(state.algo, state.k)] || null;
}
