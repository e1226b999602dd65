"""One training run: bytes of an upload (+ config) in, everything a version publishes out.

Pure: no AWS, no environment, no printing. The training Lambda and the CLI's local ``train``
both call :func:`train_segments` and publish its :class:`TrainingOutput` through a ``ModelStore``.

Steps: read the table -> validate and type it -> fit the preprocessing -> fit every candidate of
every algorithm (``shared.engine.clustering``; ``FIT_WORKERS`` algorithms at a time) -> metrics
(``shared.engine.metrics``) -> choose k and the champion (``shared.engine.selection``) -> profile
and name
every model's segments -> stable segment ids against the current version's published segments
-> plot data and HTML report -> artifacts. Rows are put in canonical order first
(``shared.engine.row_order``), so the row order of the upload never changes the result. Between
selection and profiles, each chosen model's structure verdict (``shared.engine.structure``: does
it find real groups?); the warnings a marketer reads are composed by ``shared.training.caveats``.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shared.contract.config import Algorithm, DatasetConfig, parse_config
from shared.contract.evaluation import AlgorithmSweep, Candidate, ComparisonRow, Evaluation
from shared.contract.layout import (
    ASSIGNMENTS_PATH,
    EVALUATION_PATH,
    PLOTS_PATH,
    PREPROCESSOR_PATH,
    PROFILES_PATH,
    REPORT_PATH,
    model_artifact_path,
    model_key,
)
from shared.contract.manifest import (
    AlgorithmSummary,
    ColumnSchema,
    Metrics,
    RowCounts,
    SelectionInfo,
)
from shared.contract.profiles import ProfileCatalog, SegmentSet
from shared.contract.transactions import (
    FREQUENCY,
    MONETARY,
    RECENCY,
    TENURE,
    TransactionSummary,
)
from shared.engine.clustering import (
    AlgorithmFit,
    FittedModel,
    fit_candidates,
    representative_sample,
)
from shared.engine.guardrails import Guardrails, segment_sizes
from shared.engine.limits import check_matrix_size
from shared.engine.loading import read_table
from shared.engine.metrics import (
    METRIC_SAMPLE_CAP,
    SILHOUETTE_SAMPLE_CAP,
    MetricRows,
    SilhouetteSample,
    cluster_metrics,
    dendrogram_data,
)
from shared.engine.persistence import dump_artifact
from shared.engine.preprocess import fit_preprocessor
from shared.engine.profiling import ProfileInputs, build_segment_set
from shared.engine.rfm import rfm_named
from shared.engine.row_order import canonical_order, upload_order
from shared.engine.schema import clean_training_table
from shared.engine.seeded import (
    add_seeded_kmeans,
    kept_seeds,
    mark_seeded_sets,
    split_seed_column,
    without_kmeans,
)
from shared.engine.segment_explanations import explain_segments
from shared.engine.segment_ids import assign_segment_ids
from shared.engine.selection import (
    CHAMPION_RULE,
    K_RULE,
    ChampionCandidate,
    KChoice,
    choose_champion,
    choose_k,
)
from shared.engine.stability import stability_method, sweep_stability
from shared.engine.structure import STRUCTURE_RULE, assess_structure
from shared.engine.transactions import (
    CustomerTable,
    aggregation_warnings,
    customer_config,
    to_customer_table,
)
from shared.exceptions import ConfigError
from shared.report.html import render_report_html
from shared.report.plot_data import build_plot_data
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.training.caveats import data_warnings, guardrail_warnings, structure_warnings

__all__ = ["ASSIGNMENTS_FORMULA_PREFIXES", "TrainingOutput", "train_segments"]

logger = logging.getLogger(__name__)

FIT_WORKERS = min(2, os.cpu_count() or 1)
"""Algorithms fitted at a time: one per core, at most two (the machine the bench runs on has
two; small fits run single-threaded, so one algorithm alone leaves the other core idle).
Set from ``os.cpu_count()`` at import (not an environment setting)."""
CONCURRENT_FIT_ROWS = 5_000
"""Below this many rows the algorithms are fitted one after the other: tiny fits are mostly
Python (holding the GIL), so side by side they only contend (measured fit stage, median of
5: 200 rows 0.19 s alone vs 0.25 s side by side; 2,000 rows about even; 10,000 rows 2.3 s vs
1.9 s)."""
FIT_ORDER = ("autoencoder", "gmm", "agglomerative", "dbscan", "kmeans")
"""Order the algorithms start in: the slowest first (measured on 100,000 rows x 6 features:
autoencoder 7.5 s, Gaussian mixture 1.7 s, K-Means 0.5 s)."""

ASSIGNMENTS_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cells starting with these are read as formulas by spreadsheets (CSV injection); such id
values and column names (the header is a row too) are written with a leading apostrophe."""


@dataclass(frozen=True)
class TrainingOutput:
    """Everything a training run produces, ready to publish as one version.

    ``artifacts`` maps relative paths inside the version folder to their bytes: the skops files
    (``preprocessor.skops``, ``models/<key>.skops``), ``profiles.json``, ``evaluation.json``,
    ``plots.json``, ``report.html`` and ``assignments.csv.gz``. The manifest is not among them:
    the publisher writes it (with source, version and the artifacts' sha256) after them.

    ``timings`` holds the wall-clock seconds of each stage of the run, in order: ``read``,
    ``aggregate`` (order-line uploads only: lines to customers), ``clean``, ``prepare``,
    ``fit:<algorithm>`` (one per algorithm, each fit's own wall time),
    ``fit`` (the wall time of all fits; they run side by side, so it is less than the sum of
    the ``fit:<algorithm>`` times, which overlap), ``metrics``, ``selection``, ``structure``
    (the null references of the structure verdicts), ``profiles``, ``rules`` (the segments' CRM
    rules), ``shap`` (the GMM's membership SHAP values; absent without a GMM), ``summaries``,
    ``report``, ``artifacts``. It is diagnostics only: it never enters the manifest or any
    artifact (those stay identical across identical retrains).
    """

    rows: RowCounts
    columns: list[ColumnSchema]
    config: DatasetConfig
    champion: Algorithm
    algorithms: dict[str, AlgorithmSummary]
    selection: SelectionInfo
    feature_names: list[str]
    profiles: ProfileCatalog
    evaluation: Evaluation
    artifacts: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    transactions: TransactionSummary | None = None
    """How order lines became customers (None: the upload was a customer table)."""
    artifact_files: dict[str, Path] = field(default_factory=dict)
    """Artifacts written to local files instead of held as bytes (the streaming run's
    ``assignments.csv.gz``); published by streaming them, then deleted by the publisher."""

    def artifact_bytes(self, path: str) -> bytes:
        """One artifact's bytes, whether held in memory or written to a file."""
        if path in self.artifact_files:
            return self.artifact_files[path].read_bytes()
        return self.artifacts[path]


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    """Record ``stage`` as the seconds since ``since``; return now (the next stage's start)."""
    now = time.perf_counter()
    timings[stage] = now - since
    return now


def _fit_one(
    X: np.ndarray, config: DatasetConfig, algorithm: str, random_state: int
) -> tuple[AlgorithmFit, float]:
    """One algorithm's candidates (``fit_candidates`` on a one-algorithm config), with seconds."""
    started = time.perf_counter()
    one = config.model_copy(update={"algorithms": [algorithm]})
    fit = fit_candidates(X, one, random_state=random_state)[algorithm]
    return fit, time.perf_counter() - started


def _fit_concurrently(
    X: np.ndarray, config: DatasetConfig, random_state: int, timings: dict[str, float]
) -> dict[str, AlgorithmFit]:
    """Every algorithm's candidates, ``FIT_WORKERS`` algorithms at a time (one after the
    other below ``CONCURRENT_FIT_ROWS`` rows).

    The fits are independent (each has its own fixed seed, reads ``X`` only and shares no
    mutable state), so running them side by side gives the very models of one fit after the
    other. Two process-wide settings are pinned once around the whole section, as the fits'
    own per-fit set-and-restore of them would race between threads (a fit restoring the value
    it saw on entry while another one still runs, possibly leaving it changed for good):

    - the BLAS thread count (OpenBLAS' is process-global in threadpoolctl): one thread, as
      every fit either already limits BLAS to one thread (small fits, and K-Means' own Lloyd
      loop) or runs beside another fit that keeps the other core busy. OpenMP's thread count
      is a per-thread setting, so each fit's own limit (``shared.engine.clustering``) still applies;
    - the warning filters (``warnings.catch_warnings`` is not thread-safe before Python 3.14):
      restored once the section ends.

    Each algorithm's own wall time goes to ``timings["fit:<algorithm>"]`` (in config order);
    the caller records the section's wall time as ``fit``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    names = list(config.algorithms)
    if FIT_WORKERS < 2 or len(names) < 2 or X.shape[0] < CONCURRENT_FIT_ROWS:
        done = {name: _fit_one(X, config, name, random_state) for name in names}
    else:
        # The slowest first, so the last one to start is a short one.
        order = sorted(names, key=lambda name: FIT_ORDER.index(name))
        with (
            warnings.catch_warnings(),
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(max_workers=FIT_WORKERS, thread_name_prefix="fit") as pool,
        ):
            futures = {name: pool.submit(_fit_one, X, config, name, random_state) for name in order}
            done = {name: futures[name].result() for name in names}
    fits: dict[str, AlgorithmFit] = {}
    for name in names:
        fits[name], timings[f"fit:{name}"] = done[name]
    return fits


def _fittable(config: DatasetConfig, n_features: int) -> tuple[DatasetConfig, list[str]]:
    """The config the fits run with, and a warning per algorithm the matrix cannot take.

    The autoencoder needs :data:`~shared.engine.autoencoder.MIN_FEATURES` prepared features
    (a bottleneck narrower than its input): on fewer it is left out, with a warning, unless
    it is the only algorithm asked for (then the run fails, naming the problem).

    Examples
    --------
    >>> fitted, notes = _fittable(DatasetConfig(algorithms=["kmeans", "autoencoder"]), 2)
    >>> fitted.algorithms, len(notes)
    (['kmeans'], 1)
    """
    from shared.engine.autoencoder import MIN_FEATURES

    if "autoencoder" not in config.algorithms or n_features >= MIN_FEATURES:
        return config, []
    why = (
        f"the autoencoder needs at least {MIN_FEATURES} prepared features to compress and "
        f"this upload has {n_features}"
    )
    if list(config.algorithms) == ["autoencoder"]:
        raise ConfigError(
            f"{why}: add another algorithm to the config's 'algorithms' or more feature columns"
        )
    kept = [a for a in config.algorithms if a != "autoencoder"]
    return config.model_copy(update={"algorithms": kept}), [f"Not fitted: {why}."]


def _contender(model: FittedModel, metrics: Metrics) -> ChampionCandidate:
    """One algorithm's chosen model as the champion rule sees it (metrics and sizes)."""
    sizes, _ = segment_sizes(model.labels)
    return ChampionCandidate(metrics=metrics, sizes=sizes, n_rows=int(model.labels.shape[0]))


def _candidate_metrics(
    X: np.ndarray, model: FittedModel, silhouette: float | None, rows: MetricRows
) -> Metrics:
    metrics = cluster_metrics(X, model.labels, rows=rows)
    update: dict[str, float | None] = dict(model.scores)
    if metrics.davies_bouldin is not None:  # two segments or more: silhouette is defined
        update["silhouette"] = silhouette
    return metrics.model_copy(update=update) if update else metrics


def _sweep(
    fit: AlgorithmFit,
    metrics: dict[str, Metrics],
    *,
    X: np.ndarray,
    previous_k: int | None,
    random_state: int,
) -> tuple[AlgorithmSweep, KChoice]:
    """The sweep document of one algorithm and its k choice (stability scored on ``X``)."""
    candidates = [
        Candidate(
            k=m.k,
            n_segments=m.n_segments,
            metrics=metrics[model_key(m.algorithm, m.k)],
            params=m.params,
            fit_seconds=round(m.fit_seconds, 4),
        )
        for m in fit.models
    ]
    extra = dict(fit.extra)
    extra["rule_agreement"] = {str(m.k): m.rule_agreement for m in fit.models}
    if fit.algorithm == "dbscan":
        choice = KChoice(
            k=None,
            elbow_k=None,
            reason=f"DBSCAN sets no k: {fit.extra['eps_rule']}; found "
            f"{candidates[0].n_segments} segment(s), noise share "
            f"{(candidates[0].metrics.noise_share or 0.0):.1%}",
        )
    else:
        k1 = fit.extra.get("bic_k1" if fit.algorithm == "gmm" else "inertia_k1")
        choice = choose_k(
            fit.algorithm,
            candidates,
            k1_value=k1,
            stability=lambda ks: sweep_stability(X, fit, ks, random_state=random_state)[0],
            previous_k=previous_k,
        )
        candidates = [
            c.model_copy(update={"stability": choice.stability.get(int(c.k or 0))})
            for c in candidates
        ]
        extra["k_window"] = choice.window
        extra["previous_k"] = previous_k
        extra["kept_previous_k"] = choice.kept_previous
        extra["elbow"] = {
            "curve": "bic" if fit.algorithm == "gmm" else "inertia",
            "k": [1, *[int(c.k or 0) for c in candidates]],
            "value": [k1, *[choice.curve.get(str(c.k)) for c in candidates]],
            "elbow_k": choice.elbow_k,
        }
        if fit.algorithm == "gmm":
            extra["aic"] = {str(c.k): c.metrics.aic for c in candidates}
    sweep = AlgorithmSweep(
        algorithm=fit.algorithm,
        candidates=candidates,
        chosen_k=choice.k,
        reason=choice.reason,
        fit_rows=fit.fit_rows,
        extra=extra,
    )
    return sweep, choice


def _previous_chosen_k(previous: ProfileCatalog | None) -> dict[str, int]:
    """Algorithm -> the k its chosen model had in the current version (for hysteresis)."""
    if previous is None:
        return {}
    out: dict[str, int] = {}
    for algorithm, key in previous.chosen.items():
        segments = previous.sets.get(key)
        if segments is not None and segments.k is not None:
            out[algorithm] = int(segments.k)
    return out


def _segment_ids_per_row(labels: np.ndarray, segments: SegmentSet) -> np.ndarray:
    """Map every row's internal label to its segment id (through ``label_to_segment``)."""
    mapping = segments.label_to_segment()
    present = np.unique(labels)
    ids = np.empty(labels.shape[0], dtype=np.int64)
    for label in present:
        ids[labels == label] = mapping[int(label)].segment_id
    return ids


def _rfm_population(ids: pd.Series | None, lines: CustomerTable) -> dict[str, np.ndarray]:
    """Recency, frequency and monetary of every clustered customer (rows as in the matrix)."""
    frame = lines.frame
    customer = lines.summary.spec.columns.customer
    if ids is not None:
        frame = frame.set_index(customer).loc[list(ids.astype(str))]
    return {
        name: frame[name].to_numpy(dtype=np.float64)
        for name in (RECENCY, FREQUENCY, MONETARY, TENURE)
        if name in frame.columns
    }


def _neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(ASSIGNMENTS_FORMULA_PREFIXES):
        return "'" + value
    return value


def _assignments_csv(
    ids: pd.Series | None, id_name: str | None, columns: dict[str, np.ndarray]
) -> bytes:
    """``assignments.csv.gz``: id (if any) + one segment-id column per algorithm, gzip, mtime 0.

    Formula-like id values and column names are neutralised (see
    :data:`ASSIGNMENTS_FORMULA_PREFIXES`): the id column's name comes from the upload.
    """
    frame = pd.DataFrame({str(_neutralise(name)): values for name, values in columns.items()})
    if ids is not None:
        values = ids.reset_index(drop=True)
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            values = values.map(_neutralise)
        frame.insert(0, str(_neutralise(id_name or "id")), values)
    text = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as handle:
        handle.write(text)
    return buffer.getvalue()


def _note(model: FittedModel, metrics: Metrics) -> str | None:
    if model.n_segments < 2:
        return (
            f"{model.algorithm} found {model.n_segments} segment(s): silhouette, Davies-Bouldin "
            "and Calinski-Harabasz need at least two, so they are null"
        )
    if model.algorithm == "dbscan" and metrics.noise_share:
        return (
            f"noise share {metrics.noise_share:.1%} (the Outliers segment), counted against the "
            "metrics: 0 in the silhouette mean, one more group for Davies-Bouldin and "
            "Calinski-Harabasz"
        )
    return None


def train_segments(
    data: bytes,
    *,
    filename: str,
    config: DatasetConfig | None = None,
    previous: ProfileCatalog | None = None,
    dataset: str = "dataset",
    random_state: int = 0,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> TrainingOutput:
    """Train, compare, profile and package every segmentation model of one upload.

    Parameters
    ----------
    data : bytes
        The uploaded file (CSV, gzip CSV or Parquet).
    filename : str
        Its name (the extension helps the reader).
    config : DatasetConfig, optional
        The dataset config; default: infer everything, all four algorithms, k = 2..10.
    previous : ProfileCatalog, optional
        The current version's profiles: the new champion's segment ids are matched to its
        published (champion) segments, the other models' to the new champion's and their own
        previous ones (``shared.engine.segment_ids``); each algorithm's previous k is kept on a
        near-tie (``shared.engine.selection``).
    dataset : str
        Dataset name (report title).
    random_state : int
        Seed of every sample and fit; the same bytes and seed give identical output.
    max_decompressed_bytes : int
        Most bytes the upload may hold once decompressed (see
        :func:`shared.engine.loading.read_table`); the deployment's ``MAX_DECOMPRESSED_BYTES``.

    Returns
    -------
    TrainingOutput
        Summaries, profiles, evaluation and the artifacts of the version.

    Raises
    ------
    DataValidationError
        The file or config cannot be used (subclass and message name the problem).

    Examples
    --------
    >>> from pathlib import Path
    >>> out = train_segments(Path("data/mall_customers.csv").read_bytes(),
    ...     filename="mall_customers.csv",
    ...     config=DatasetConfig(features=["Annual Income (k$)", "Spending Score (1-100)"]))
    >>> out.algorithms["kmeans"].k
    5
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    config = parse_config(config)
    frame = read_table(data, filename=filename, max_decompressed_bytes=max_decompressed_bytes)
    # Order lines become one row per customer (shared.engine.transactions); the engine then
    # clusters customers, identified by the customer column.
    aggregating = time.perf_counter()
    lines = to_customer_table(frame, config, filename=filename)
    aggregate_seconds = time.perf_counter() - aggregating
    engine_config = config
    if lines is not None:
        frame = lines.frame
        engine_config = customer_config(config, lines)
    # Canonical order (shared.engine.row_order): every later step sees the rows sorted by their
    # content hash, so the same rows in any order give the same result.
    frame, upload_rows = canonical_order(frame)
    step = _lap(timings, "read", started)
    if lines is not None:
        timings["read"] -= aggregate_seconds
        timings["aggregate"] = aggregate_seconds
    # Known groups (config seed_column, shared.engine.seeded): never a feature.
    seeds, clean_config = split_seed_column(frame, engine_config)
    table = clean_training_table(frame, clean_config)
    if seeds is not None:
        seeds = kept_seeds(seeds, table.kept_rows)
    del frame
    if table.kept_rows is not None:
        upload_rows = upload_rows[table.kept_rows]
    step = _lap(timings, "clean", step)
    check_matrix_size(table.columns, len(table.features))  # before the matrix is allocated
    prepared = fit_preprocessor(table.features, table.columns)
    X = prepared.X
    n_rows = int(X.shape[0])
    step = _lap(timings, "prepare", step)

    fit_config, fit_warnings = _fittable(config, int(X.shape[1]))
    if seeds is None or "kmeans" not in fit_config.algorithms:
        fits = _fit_concurrently(X, fit_config, random_state, timings)
    else:  # Seeded K-Means replaces K-Means
        fits = _fit_concurrently(X, without_kmeans(fit_config), random_state, timings)
        fits = add_seeded_kmeans(fits, X, fit_config, seeds, timings, random_state=random_state)
    step = _lap(timings, "fit", step)

    silhouette = SilhouetteSample(
        X, representative_sample(n_rows, SILHOUETTE_SAMPLE_CAP, random_state=random_state)
    )
    every_model = [model for fit in fits.values() for model in fit.models]
    # One pass over the silhouette distance matrix for all candidates.
    silhouettes = silhouette.scores([model.labels for model in every_model])
    silhouette_rows = silhouette.size
    del silhouette
    rows = MetricRows(
        X, representative_sample(n_rows, METRIC_SAMPLE_CAP, random_state=random_state)
    )
    metrics: dict[str, Metrics] = {}
    for model, score in zip(every_model, silhouettes, strict=True):
        metrics[model_key(model.algorithm, model.k)] = _candidate_metrics(X, model, score, rows)
    metric_rows = n_rows if rows.index is None else int(rows.index.size)
    del rows
    step = _lap(timings, "metrics", step)

    sweeps: dict[str, AlgorithmSweep] = {}
    chosen: dict[str, FittedModel] = {}
    previous_chosen = _previous_chosen_k(previous)
    for algorithm, fit in fits.items():
        sweeps[algorithm], choice = _sweep(
            fit,
            metrics,
            X=X,
            previous_k=previous_chosen.get(algorithm),
            random_state=random_state,
        )
        chosen[algorithm] = fit.model(choice.k)
    guardrails = Guardrails.from_config(config)
    champion = choose_champion(
        {a: _contender(m, metrics[model_key(a, m.k)]) for a, m in chosen.items()},
        guardrails=guardrails,
    )
    step = _lap(timings, "selection", step)

    feature_names = [c.name for c in table.columns if c.used]
    structure = assess_structure(
        table.features,
        lambda frame: prepared.transformer.transform(frame[feature_names]),
        X,
        {a: (m.k, metrics[model_key(a, m.k)].silhouette) for a, m in chosen.items()},
        config,
        random_state=random_state,
    )
    step = _lap(timings, "structure", step)

    sets: dict[str, SegmentSet] = {}
    labels_by_model: dict[str, np.ndarray] = {}
    # The clustered features and the profiled columns (described per segment, not clustered).
    described = (
        pd.concat([table.features, table.profiled], axis=1)
        if len(table.profiled.columns)
        else table.features
    )
    profile_inputs = ProfileInputs(described, table.columns, table.outcomes)
    for fit in fits.values():
        for model in fit.models:
            sets[model_key(model.algorithm, model.k)] = build_segment_set(
                algorithm=model.algorithm,
                k=model.k,
                labels=model.labels,
                features=described,
                columns=table.columns,
                X=X,
                inputs=profile_inputs,
                outcomes=table.outcomes,
            )
    del profile_inputs
    if lines is not None:
        population = _rfm_population(table.ids, lines)
        for fit in fits.values():
            for model in fit.models:
                key = model_key(model.algorithm, model.k)
                sets[key] = rfm_named(sets[key], model.labels, population)
    champion_key = model_key(champion.champion, chosen[champion.champion].k)
    sets, id_changes = assign_segment_ids(
        sets, champion=champion_key, previous=previous, feature_names=prepared.feature_names
    )
    if seeds is not None and "kmeans" in fits:
        sets = mark_seeded_sets(sets, fits["kmeans"], seeds)
    for fit in fits.values():
        for model in fit.models:
            key = model_key(model.algorithm, model.k)
            labels_by_model[key] = _segment_ids_per_row(model.labels, sets[key])
    step = _lap(timings, "profiles", step)
    # Why each segment (shared.engine.segment_explanations): a CRM rule per segment of every
    # model, measured on held-back rows; SHAP of the chosen GMM's memberships on a sample.
    sets = explain_segments(
        sets,
        {model_key(m.algorithm, m.k): m for f in fits.values() for m in f.models},
        chosen_gmm=model_key("gmm", chosen["gmm"].k) if "gmm" in chosen else None,
        features=table.features,
        columns=table.columns,
        X=X,
        transformer=prepared.transformer,
        timings=timings,
        random_state=random_state,
    )
    catalog = ProfileCatalog(
        feature_names=prepared.feature_names,
        sets=sets,
        champion=champion_key,
        chosen={a: model_key(a, m.k) for a, m in chosen.items()},
        segment_ids=id_changes,
    )
    step = time.perf_counter()

    comparison = [
        ComparisonRow(
            algorithm=a,
            k=m.k,
            n_segments=m.n_segments,
            metrics=metrics[model_key(a, m.k)],
            score=champion.scores.get(a),
            champion=a == champion.champion,
            eligible=a not in champion.ineligible,
            ineligible_reason=champion.ineligible.get(a),
            structure=structure[a],
        )
        for a, m in chosen.items()
    ]
    linkage = fits["agglomerative"].linkage if "agglomerative" in fits else None
    evaluation = Evaluation(
        sweeps=sweeps,
        comparison=comparison,
        champion=champion.champion,
        champion_reason=champion.reason,
        champion_eligible=champion.champion_eligible,
        dendrogram=dendrogram_data(linkage) if linkage is not None else None,
        silhouette_sample=silhouette_rows,
        metric_sample=metric_rows,
        stability_method=stability_method(n_rows),
    )

    algorithms: dict[str, AlgorithmSummary] = {}
    for algorithm, fit in fits.items():
        model = chosen[algorithm]
        key_metrics = metrics[model_key(algorithm, model.k)]
        if algorithm == "dbscan":
            models = {str(model.n_segments): model_artifact_path("dbscan", None)}
        else:
            models = {str(m.k): model_artifact_path(algorithm, m.k) for m in fit.models}
        algorithms[algorithm] = AlgorithmSummary(
            n_segments=model.n_segments,
            k=model.k,
            metrics=key_metrics,
            params=model.params,
            artifact=model_artifact_path(algorithm, model.k),
            models=models,
            assignment_rule=model.assigner.assignment_rule,
            rule_agreement=model.rule_agreement,
            fit_rows=model.fit_rows,
            note=_note(model, key_metrics),
            eligible=algorithm not in champion.ineligible,
            ineligible_reason=champion.ineligible.get(algorithm),
            structure=structure[algorithm],
        )
    step = _lap(timings, "summaries", step)

    warnings = [
        *structure_warnings(champion.champion, algorithms[champion.champion]),
        *guardrail_warnings(
            champion.champion,
            champion_eligible=champion.champion_eligible,
            overridden=champion.overridden,
            ineligible=champion.ineligible,
            guardrails=guardrails,
            n_rows=n_rows,
            n_segments=algorithms[champion.champion].n_segments,
        ),
        *data_warnings(table.rows, table.columns, config),
        *fit_warnings,
        *table.warnings,
        *([] if lines is None else aggregation_warnings(lines.summary)),
    ]
    plot_data = build_plot_data(
        features=described,
        columns=table.columns,
        X=X,
        # Without an id column the points are named by their row in the upload.
        ids=table.ids if table.ids is not None else pd.Series(upload_rows),
        labels_by_model=labels_by_model,
        evaluation=evaluation,
        profiles=catalog,
        random_state=random_state,
    )
    report_html = render_report_html(
        title=f"Customer segments: {dataset}",
        plot_data=plot_data,
        evaluation=evaluation,
        profiles=catalog,
        columns=table.columns,
        rows=table.rows,
        warnings=warnings,  # the manifest's warnings open the report
        transactions=None if lines is None else lines.summary,
    )
    step = _lap(timings, "report", step)

    artifacts: dict[str, bytes] = {PREPROCESSOR_PATH: dump_artifact(prepared.transformer)}
    for fit in fits.values():
        for model in fit.models:
            artifacts[model_artifact_path(model.algorithm, model.k)] = dump_artifact(model.assigner)
    # The API's numpy-only serving bundle (serving/params.json + serving/<key>.npz): the same
    # fitted numbers, so a cold start needs no skops/scikit-learn (see shared/serving/).
    from shared.engine.bundle import build_serving_artifacts

    assigners = {model_key(m.algorithm, m.k): m.assigner for f in fits.values() for m in f.models}
    artifacts.update(build_serving_artifacts(prepared.transformer, table.columns, assigners))
    artifacts[PROFILES_PATH] = catalog.model_dump_json().encode("utf-8")
    artifacts[EVALUATION_PATH] = evaluation.model_dump_json().encode("utf-8")
    artifacts[PLOTS_PATH] = plot_data.model_dump_json().encode("utf-8")
    artifacts[REPORT_PATH] = report_html.encode("utf-8")
    back = upload_order(upload_rows)  # assignments.csv.gz keeps the upload's row order
    artifacts[ASSIGNMENTS_PATH] = _assignments_csv(
        None if table.ids is None else table.ids.iloc[back],
        table.id_column,
        {a: labels_by_model[model_key(a, m.k)][back] for a, m in chosen.items()},
    )
    _lap(timings, "artifacts", step)

    logger.info(
        "training run finished",
        extra={
            "dataset": dataset,
            "rows": n_rows,
            "features": len(prepared.feature_names),
            "champion": champion.champion,
            "seconds": {k: round(v, 3) for k, v in timings.items()},
            "total_seconds": round(time.perf_counter() - started, 3),
        },
    )
    return TrainingOutput(
        rows=table.rows,
        columns=table.columns,
        config=config,
        champion=champion.champion,
        algorithms=algorithms,
        selection=SelectionInfo(
            k_rule=K_RULE,
            champion_rule=CHAMPION_RULE,
            scores={a: s for a, s in champion.scores.items() if s is not None},
            guardrails={
                "max_segment_share": guardrails.max_segment_share,
                "min_segment_share": guardrails.min_segment_share,
                "min_segment_size": guardrails.min_segment_size,
                "max_noise_share": guardrails.max_noise_share,
            },
            champion_eligible=champion.champion_eligible,
            structure_rule=STRUCTURE_RULE,
        ),
        feature_names=prepared.feature_names,
        profiles=catalog,
        evaluation=evaluation,
        artifacts=artifacts,
        warnings=warnings,
        timings=timings,
        transactions=None if lines is None else lines.summary,
    )
