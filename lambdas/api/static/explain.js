/* Plain words for the numbers: one line per metric (tooltips of the KPIs and the comparison
 * table) and the choice of k as a sentence, built from the version's own sweep. The rule's exact
 * wording (the manifest's selection.k_rule) stays one click away for whoever wants it. */
import { fmtNum } from './format.js';

export const METRIC_HELP = {
  segments: 'How many groups of customers this model found.',
  silhouette: 'How clearly customers sit in their own segment rather than the next one: -1 (wrong segment) to 1 (clear-cut); above 0.5 is strong, below 0.25 weak.',
  davies_bouldin: 'How much segments overlap compared with how tight they are: lower is better, 0 would be perfectly apart.',
  calinski_harabasz: 'Spread between segments over spread within them: higher is better; compare it only on the same data.',
  score: 'The champion rule ranks the algorithms on the metrics together: the highest score wins.',
  stability: 'How often the same segments come back when the model is refitted on resampled customers: 1 always, 0 never.',
  noise_share: 'Share of customers DBSCAN left out as outliers (too far from any dense group).',
};

const pct = (v) => `${Math.round(v * 100)}%`;

/** "5 segments: the elbow of the within-segment spread is at 5 and it has the best separation
 * nearby (silhouette 0.55)." — from the sweep of `algo` (evaluation.sweeps[algo]); null when
 * the sweep says too little. */
export function kSentence(algo, sweep, summary) {
  if (!sweep) return null;
  if (algo === 'dbscan') {
    const n = summary && summary.n_segments;
    const noise = summary && summary.metrics ? summary.metrics.noise_share : null;
    return `${n ?? 'Some'} segment${n === 1 ? '' : 's'}: DBSCAN finds the number itself from where customers crowd together`
      + `${typeof noise === 'number' ? `; ${pct(noise)} fit no dense group and are shown as outliers` : ''}.`;
  }
  const k = sweep.chosen_k;
  if (k === null || k === undefined) return null;
  const extra = sweep.extra || {};
  const elbow = extra.elbow ? extra.elbow.elbow_k : null;
  const candidates = sweep.candidates || [];
  const window = Array.isArray(extra.k_window) && extra.k_window.length ? extra.k_window : candidates.map((c) => c.k);
  const near = candidates.filter((c) => window.includes(c.k) && c.metrics && typeof c.metrics.silhouette === 'number');
  const chosen = candidates.find((c) => c.k === k);
  const parts = [];
  if (elbow !== null && elbow !== undefined) {
    const where = algo === 'gmm' ? 'the fit-for-its-size score (BIC) is best at' : 'the elbow of the within-segment spread is at';
    parts.push(elbow === k ? `${where} ${k}` : `${where} ${elbow}, next to ${k}`);
  }
  if (extra.kept_previous_k) {
    parts.push(`the previous version also had ${k} and it is about as good as any k nearby`);
  } else if (chosen && near.length) {
    const best = near.reduce((a, b) => (b.metrics.silhouette > a.metrics.silhouette ? b : a));
    const sil = chosen.metrics.silhouette;
    if (best.k === k) {
      parts.push(`it has the best separation nearby (silhouette ${fmtNum(sil, 2)})`);
    } else if (typeof chosen.stability === 'number') {
      parts.push(`its segments come back most reliably when refitted (stability ${fmtNum(chosen.stability, 2)}), with separation close to the best nearby`);
    } else {
      parts.push(`its separation (silhouette ${fmtNum(sil, 2)}) is close to the best nearby`);
    }
  }
  if (!parts.length) return null;
  return `${k} segments: ${parts.join(' and ')}.`;
}
