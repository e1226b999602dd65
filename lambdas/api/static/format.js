/* Formatting shared by every part of the dashboard: numbers, names, segment colours and the
 * Plotly settings all its charts use. No DOM, no state. */

// Segment colours: the same palette, indexed by segment_id, as the training figures
// (shared/report/figures.py PALETTE / OUTLIER_COLOUR; a unit test keeps them in step), so a
// segment has one colour in the cards, the maps, the mix and every analysis plot.
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#17becf', '#bcbd22', '#393b79', '#ad494a', '#637939',
];
export const OUTLIER_COLOR = '#9e9e9e';
export const PLOT_CONFIG = {
  displaylogo: false, responsive: true,
  modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d', 'toggleSpikelines'],
};
export const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif', size: 12, color: '#1d2433' };

export function fmtNum(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  if (digits !== undefined) return v.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const a = Math.abs(v);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return v.toLocaleString(undefined, { maximumFractionDigits: d });
}
export const fmtPct = (share) => (share === null || share === undefined ? '–' : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`);
export const modelKey = (algo, k) => (k === null || k === undefined ? algo : `${algo}-k${k}`);
export const segColor = (id) => (id < 0 ? OUTLIER_COLOR : PALETTE[((id % PALETTE.length) + PALETTE.length) % PALETTE.length]);
const ALGO_NAMES = { kmeans: 'K-Means', gmm: 'GMM', agglomerative: 'Agglomerative', dbscan: 'DBSCAN', autoencoder: 'Autoencoder' };
export const ALGO_TITLES = { gmm: 'Gaussian mixture model', agglomerative: 'Agglomerative (Ward)', dbscan: 'DBSCAN (density based)', kmeans: 'K-Means', autoencoder: 'Autoencoder + K-Means (latent space)' };
export const algoName = (a) => ALGO_NAMES[a] || a;
/** "Spending Score (1-100)" -> "Spending Score": units go to the tooltip, not the card. */
export const shortName = (name) => String(name).replace(/\s*\([^)]*\)\s*$/, '') || String(name);
export const prettyName = (name) => String(name).replace(/[:_]/g, ' ').replace(/\s+/g, ' ').trim();
