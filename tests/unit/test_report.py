"""Plot data, figures and the HTML report (shared/report/, shared/report/figures.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import dendrogram, ward

from shared.contract.evaluation import AlgorithmSweep, Candidate, ComparisonRow, Evaluation
from shared.contract.layout import model_key
from shared.contract.manifest import ColumnSchema, Metrics, RowCounts
from shared.contract.plots import PlotData
from shared.contract.profiles import ProfileCatalog, SegmentSet
from shared.engine.profiling import build_segment_set
from shared.report.html import render_report_html, report_asset, report_figures
from shared.report.plot_data import build_plot_data, pca_coordinates, silhouette_values

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"
HOSTILE = "<script>alert(1)</script>"


def mall_columns() -> list[ColumnSchema]:
    return [
        ColumnSchema(name="CustomerID", role="id", dtype="integer", used=False, reason="id"),
        ColumnSchema(name="Gender", role="categorical", dtype="string", used=True),
        ColumnSchema(name="Age", role="numeric", dtype="integer", used=True, missing=0),
        ColumnSchema(name=INCOME, role="numeric", dtype="integer", used=True),
        ColumnSchema(name=SPENDING, role="numeric", dtype="integer", used=True),
    ]


def segment_ids(labels: np.ndarray, segments: SegmentSet) -> np.ndarray:
    mapping = {s.label: s.segment_id for s in segments.segments}
    return np.array([mapping[v] for v in labels])


def fit_inputs(frame: pd.DataFrame, columns: list[ColumnSchema], numeric: list[str]) -> dict:
    """Everything build_plot_data takes, from small real fits (K-Means, GMM, DBSCAN)."""
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # small fits: threads only contend on a shared CPU
        return _fit_inputs(frame, columns, numeric, StandardScaler().fit_transform(frame[numeric]))


def _fit_inputs(
    frame: pd.DataFrame, columns: list[ColumnSchema], numeric: list[str], X: np.ndarray
) -> dict:
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.mixture import GaussianMixture

    sets: dict[str, SegmentSet] = {}
    labels_by_model: dict[str, np.ndarray] = {}
    kmeans, gmm = [], []

    def add(algorithm: str, k: int | None, labels: np.ndarray) -> Metrics:
        key = model_key(algorithm, k)
        sets[key] = build_segment_set(
            algorithm=algorithm, k=k, labels=labels, features=frame, columns=columns, X=X
        )
        labels_by_model[key] = segment_ids(labels, sets[key])
        keep = labels != -1
        return Metrics(
            silhouette=float(silhouette_score(X[keep], labels[keep])),
            davies_bouldin=1.0,
            calinski_harabasz=100.0,
            noise_share=float(1 - keep.mean()) if not keep.all() else None,
        )

    for k in (3, 4, 5, 6):
        model = KMeans(n_clusters=k, random_state=0, n_init=4).fit(X)
        metrics = add("kmeans", k, model.labels_).model_copy(update={"inertia": model.inertia_})
        kmeans.append(Candidate(k=k, n_segments=k, metrics=metrics, fit_seconds=0.01))
        mixture = GaussianMixture(n_components=k, random_state=0).fit(X)
        metrics = add("gmm", k, mixture.predict(X)).model_copy(
            update={"bic": mixture.bic(X), "aic": mixture.aic(X)}
        )
        gmm.append(Candidate(k=k, n_segments=k, metrics=metrics, fit_seconds=0.01))
    db_labels = DBSCAN(eps=0.3, min_samples=5).fit_predict(X)
    db_metrics = add("dbscan", None, db_labels)
    tree = dendrogram(ward(X), no_plot=True, truncate_mode="lastp", p=12)
    evaluation = Evaluation(
        sweeps={
            "kmeans": AlgorithmSweep(
                algorithm="kmeans",
                candidates=kmeans,
                chosen_k=5,
                reason="elbow and silhouette",
                fit_rows=len(X),
                extra={"inertia_k1": float(len(X) * X.shape[1])},
            ),
            "gmm": AlgorithmSweep(
                algorithm="gmm", candidates=gmm, chosen_k=5, reason="lowest BIC", fit_rows=len(X)
            ),
            "dbscan": AlgorithmSweep(
                algorithm="dbscan",
                candidates=[Candidate(k=None, n_segments=7, metrics=db_metrics, fit_seconds=0.1)],
                chosen_k=None,
                reason="knee",
                fit_rows=len(X),
                extra={
                    "eps": 0.3,
                    "min_samples": 5,
                    "k_distance": {
                        "rank": [0, 50, 100, 150, 199],
                        "distance": [0.05, 0.1, 0.2, 0.3, 0.9],
                        "knee_rank": 150,
                    },
                },
            ),
        },
        comparison=[
            ComparisonRow(
                algorithm="kmeans",
                k=5,
                n_segments=5,
                metrics=kmeans[2].metrics,
                score=0.9,
                champion=True,
            ),
            ComparisonRow(algorithm="gmm", k=5, n_segments=5, metrics=gmm[2].metrics, score=0.5),
            ComparisonRow(algorithm="dbscan", k=None, n_segments=7, metrics=db_metrics),
        ],
        champion="kmeans",
        champion_reason="best silhouette",
        dendrogram={
            "icoord": tree["icoord"],
            "dcoord": tree["dcoord"],
            "ivl": tree["ivl"],
            "n_rows": len(X),
        },
        silhouette_sample=len(X),
    )
    return {
        "features": frame,
        "columns": columns,
        "X": X,
        "labels_by_model": labels_by_model,
        "evaluation": evaluation,
        "profiles": ProfileCatalog(feature_names=numeric, sets=sets),
    }


@pytest.fixture(scope="module")
def mall_inputs() -> dict:
    raw = pd.read_csv(MALL)
    frame = raw[["Gender", "Age", INCOME, SPENDING]].astype(
        {"Age": float, INCOME: float, SPENDING: float}
    )
    inputs = fit_inputs(frame, mall_columns(), [INCOME, SPENDING])
    inputs["ids"] = raw["CustomerID"]
    return inputs


@pytest.fixture(scope="module")
def mall_plots(mall_inputs: dict) -> PlotData:
    return build_plot_data(**mall_inputs)


# --- plot data --------------------------------------------------------------------------------


def test_every_documented_figure_is_built_and_json_serialisable(mall_plots: PlotData) -> None:
    expected = {
        "hist:Age",
        f"hist:{INCOME}",
        f"hist:{SPENDING}",
        "scatter_matrix",
        f"violin:{SPENDING}:Gender",
        f"violin:{INCOME}:Gender",
        "violin:Age:Gender",
        "box:Age",
        f"box:{INCOME}",
        f"box:{SPENDING}",
        "correlation",
        "elbow:kmeans",
        "silhouette_by_k:kmeans",
        "silhouette_by_k:gmm",
        "gmm_bic",
        "dbscan_kdistance",
        "dendrogram",
    }
    # The maps, silhouette plots and the comparison are drawn from the points by each surface.
    assert set(mall_plots.figures) == expected
    assert mall_plots.wide_figures == ["scatter_matrix", "correlation", "dendrogram"]
    for name, figure in mall_plots.figures.items():
        assert set(figure) >= {"data", "layout"}, name
        json.dumps(figure, allow_nan=False)  # plain data, no NaN
    document = mall_plots.model_dump_json()
    assert PlotData.model_validate_json(document) == mall_plots


def test_points_carry_every_model_and_the_exact_silhouette(mall_plots: PlotData, mall_inputs):
    from sklearn.metrics import silhouette_samples

    points = mall_plots.points
    assert (points.n, points.sampled_from) == (200, 200)  # small table: every row
    assert points.ids[:3] == [1, 2, 3]
    assert points.features[INCOME][:2] == [15.0, 15.0]
    assert points.features["Gender"][:2] == ["Male", "Male"]
    assert len(points.pca) == len(points.tsne or []) == 200
    assert sum(points.pca_explained) == pytest.approx(1.0)  # 2 features, 2 components
    assert set(points.labels) == set(mall_inputs["labels_by_model"])
    assert points.labels["kmeans-k5"] == mall_inputs["labels_by_model"]["kmeans-k5"].tolist()
    expected = silhouette_samples(mall_inputs["X"], points.labels["kmeans-k5"])
    assert points.silhouette["kmeans-k5"] == pytest.approx(expected.tolist(), abs=1e-4)
    dbscan = np.array(points.labels["dbscan"])
    values = points.silhouette["dbscan"]
    assert [v is None for v in values] == (dbscan == -1).tolist()
    keep = dbscan != -1
    expected_db = silhouette_samples(mall_inputs["X"][keep], dbscan[keep])
    assert [v for v in values if v is not None] == pytest.approx(expected_db.tolist(), abs=1e-4)


def test_scatter_matrix_is_svg_panels_of_the_lower_half_with_distributions_on_the_diagonal(
    mall_plots: PlotData,
) -> None:
    figure = mall_plots.figures["scatter_matrix"]
    features = mall_plots.summary["scatter_matrix_features"]
    assert len(features) == 3  # Age, income, spending: a 3x3 grid, 3 panels below the diagonal
    types = {trace["type"] for trace in figure["data"]}
    assert types == {"scatter", "histogram"}  # no splom/scattergl: those need WebGL
    labels = mall_plots.points.labels[mall_plots.summary["champion_model"]]
    segments = len(set(labels))
    scatters = [t for t in figure["data"] if t["type"] == "scatter"]
    histograms = [t for t in figure["data"] if t["type"] == "histogram"]
    assert (len(scatters), len(histograms)) == (3 * segments, 3 * segments)
    rows = [i for i, label in enumerate(labels) if label == min(labels)]
    first = histograms[0]  # lowest segment id, the top-left cell: its distribution of feature 1
    column = mall_plots.points.features[features[0]]
    assert first["x"] == pytest.approx([column[i] for i in rows])
    pair = scatters[0]  # row 2, column 1: feature 2 against feature 1
    for axis, feature in (("x", features[0]), ("y", features[1])):
        column = mall_plots.points.features[feature]
        assert pair[axis] == pytest.approx([column[i] for i in rows])
    legend = [t["name"] for t in figure["data"] if t.get("showlegend") is not False]
    assert len(legend) == segments  # one legend entry per segment


def test_silhouette_values_single_segment_is_none() -> None:
    distances = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert silhouette_values(distances, np.array([0, 0])) == [None, None]
    assert silhouette_values(distances, np.array([0, -1])) == [None, None]


def test_summary_missing_dropped_and_strongest_correlations(mall_plots, mall_inputs) -> None:
    summary = mall_plots.summary
    assert summary["dropped_columns"] == [{"name": "CustomerID", "role": "id", "reason": "id"}]
    frame = mall_inputs["features"]
    pairs = summary["strongest_correlations"]
    assert len(pairs) == 3  # three numeric features: three pairs
    assert [abs(p["r"]) for p in pairs] == sorted((abs(p["r"]) for p in pairs), reverse=True)
    first = pairs[0]
    assert first["r"] == pytest.approx(frame[first["a"]].corr(frame[first["b"]]), abs=1e-4)
    assert summary["informative_features"][:2] == [SPENDING, INCOME] or summary[
        "informative_features"
    ][:2] == [INCOME, SPENDING]
    assert summary["champion_model"] == "kmeans-k5"


def test_histogram_counts_every_row_in_integer_bins(mall_plots, mall_inputs) -> None:
    bars = mall_plots.figures["hist:Age"]["data"][0]
    assert sum(bars["y"]) == 200
    ages = mall_inputs["features"]["Age"]
    assert bars["x"][0] == ages.min()  # one bar per integer age
    assert bars["y"][0] == int((ages == ages.min()).sum())


def test_marked_chosen_k_and_kdistance_eps(mall_plots: PlotData) -> None:
    elbow = mall_plots.figures["elbow:kmeans"]["data"]
    assert elbow[0]["x"] == [1, 3, 4, 5, 6]  # k=1 from the sweep's extra
    assert elbow[1]["x"] == [5]
    kdist = mall_plots.figures["dbscan_kdistance"]
    assert kdist["data"][0]["y"] == [0.05, 0.1, 0.2, 0.3, 0.9]
    assert kdist["layout"]["shapes"][0]["y0"] == 0.3


def test_absent_curves_are_tolerated(mall_inputs: dict) -> None:
    sweeps = dict(mall_inputs["evaluation"].sweeps)
    sweeps["dbscan"] = sweeps["dbscan"].model_copy(update={"extra": {}})
    evaluation = mall_inputs["evaluation"].model_copy(update={"sweeps": sweeps, "dendrogram": None})
    data = build_plot_data(**{**mall_inputs, "evaluation": evaluation, "max_points": 60})
    assert "dbscan_kdistance" not in data.figures
    assert "dendrogram" not in data.figures
    assert data.points.silhouette["dbscan"]


def test_stratified_sample_keeps_every_segment_and_is_reproducible(mall_inputs: dict) -> None:
    first = build_plot_data(**{**mall_inputs, "max_points": 40})
    again = build_plot_data(**{**mall_inputs, "max_points": 40})
    assert first.points.ids == again.points.ids
    assert first.points.n == 40
    champion = np.array(mall_inputs["labels_by_model"]["kmeans-k5"])
    sampled = np.array(first.points.labels["kmeans-k5"])
    for segment_id in np.unique(champion):
        expected = (champion == segment_id).mean() * 40
        assert abs((sampled == segment_id).sum() - expected) <= 1
    assert first.summary["sample"]["method"].startswith("stratified")


def test_tsne_embeds_a_subset_and_places_the_rest(monkeypatch, mall_inputs: dict) -> None:
    import shared.report.plot_data as report

    monkeypatch.setattr(report, "TSNE_MAX_POINTS", 30)
    data = build_plot_data(**{**mall_inputs, "max_points": 80})
    assert data.summary["tsne"]["embedded"] == 30
    assert data.summary["tsne"]["placed"] == 50
    assert data.points.tsne is not None
    assert len(data.points.tsne) == 80


def test_rows_that_disagree_are_refused(mall_inputs: dict) -> None:
    with pytest.raises(ValueError, match="rows disagree"):
        build_plot_data(**{**mall_inputs, "X": mall_inputs["X"][:10]})
    labels = {"kmeans-k5": np.zeros(3, dtype=int)}
    with pytest.raises(ValueError, match="'kmeans-k5'"):
        build_plot_data(**{**mall_inputs, "labels_by_model": labels})


# --- hostile input and the HTML report --------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_report() -> tuple[PlotData, str]:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            HOSTILE: np.concatenate([rng.normal(0, 1, n // 2), rng.normal(6, 1, n // 2)]),
            "y": rng.normal(0, 1, n),
            "kind": rng.choice(["</script><b>x</b>", "a&b"], n),
        }
    )
    columns = [
        ColumnSchema(name=HOSTILE, role="numeric", dtype="float", used=True, missing=2),
        ColumnSchema(name="y", role="numeric", dtype="float", used=True),
        ColumnSchema(name="kind", role="categorical", dtype="string", used=True),
        ColumnSchema(
            name='"><img src=x onerror=alert(2)>',
            role="dropped",
            dtype="string",
            used=False,
            reason="free text <i>",
        ),
    ]
    inputs = fit_inputs(frame, columns, [HOSTILE, "y"])
    inputs["ids"] = pd.Series([f"<id{i}>" for i in range(n)])
    plots = build_plot_data(**inputs)
    page = render_report_html(
        title=f"Segments {HOSTILE}",
        plot_data=plots,
        evaluation=inputs["evaluation"],
        profiles=inputs["profiles"],
        columns=columns,
        rows=RowCounts(
            read=62, used=60, dropped=2, dropped_reasons={HOSTILE: 2}, imputed_values={HOSTILE: 2}
        ),
    )
    return plots, page


def test_report_is_self_contained(hostile_report: tuple[PlotData, str]) -> None:
    _, page = hostile_report
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=", page, re.IGNORECASE)
    assert "Plotly.newPlot" in page
    assert len(page) > 3_000_000  # plotly.js itself is inlined


def test_report_escapes_hostile_strings(hostile_report: tuple[PlotData, str]) -> None:
    plots, page = hostile_report
    assert HOSTILE not in page
    assert "<img src=x" not in page
    assert "<b>x</b>" not in page
    assert "<i>" not in page.split("<main>")[1].split("<script")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Only the report's own three script elements open and close.
    assert page.lower().count("<script") == 3
    assert page.lower().count("</script") - _plotly_closings(page) == 3
    # The figures travel as JSON that still decodes to the escaped figure text.
    payload = page.split('id="report-figures">')[1].split("</script>")[0]
    figures = json.loads(payload)
    assert f"hist:{HOSTILE}" in figures
    assert {"pca", "tsne"} <= set(figures)  # built from the points at render time
    published = {name: figures[name] for name in plots.figures}
    assert published == json.loads(json.dumps(plots.figures))
    assert HOSTILE not in json.dumps(list(figures.values()))
    assert "<id1>" not in json.dumps(figures["pca"])  # customer ids escaped in the map hover


def _plotly_closings(page: str) -> int:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().lower().count("</script")


def test_report_shows_segments_metrics_and_rows(mall_plots: PlotData, mall_inputs: dict) -> None:
    page = render_report_html(
        title="Mall customers",
        plot_data=mall_plots,
        evaluation=mall_inputs["evaluation"],
        profiles=mall_inputs["profiles"],
        columns=mall_inputs["columns"],
        rows=RowCounts(read=200, used=200, dropped=0),
    )
    for segment in mall_inputs["profiles"].sets["kmeans-k5"].segments:
        assert segment.name in page
        assert f"{segment.size:,} customers" in page
    assert "200 rows read, 200 used, 0 dropped" in page
    assert "best silhouette" in page
    shown = {*mall_plots.figures, "pca", "tsne", "silhouette:kmeans", "silhouette:gmm"}
    for name in shown | {"silhouette:dbscan"}:
        assert f'data-figure="{name}"' in page.replace("&#x27;", "'")
    assert 'data-figure="comparison"' not in page  # the algorithm table is HTML, shown once
    assert page.count("<th>Davies-Bouldin ↓</th>") == 1
    assert 'class="warnings"' not in page  # no warnings, no block


def test_sparse_prepared_matrix_gives_the_same_maps(mall_inputs: dict) -> None:
    from scipy import sparse

    dense = build_plot_data(**{**mall_inputs, "max_points": 50})
    csr = build_plot_data(
        **{**mall_inputs, "max_points": 50, "X": sparse.csr_matrix(mall_inputs["X"])}
    )
    assert np.allclose(csr.points.pca, dense.points.pca, atol=1e-4)
    assert csr.points.silhouette == dense.points.silhouette


# --- the PCA projection and the report's own figures ------------------------------------------


def test_published_projection_reproduces_every_map_point(mall_plots, mall_inputs) -> None:
    """points.pca is sklearn's PCA of the prepared rows, and the published formula gives it."""
    from sklearn.decomposition import PCA

    projection = mall_plots.points.pca_projection
    assert projection is not None
    X = np.asarray(mall_inputs["X"], dtype=np.float64)
    assert projection.n_features == X.shape[1]
    assert len(projection.components) == 2
    ours = pca_coordinates(projection, X)
    assert np.allclose(ours, mall_plots.points.pca, atol=1e-5)  # published rounded to 5 places
    reference = PCA(n_components=2, random_state=0).fit(X).transform(X)
    assert np.allclose(np.abs(ours), np.abs(reference), atol=1e-9)  # up to each axis' sign
    again = type(projection).model_validate_json(projection.model_dump_json())
    assert np.array_equal(pca_coordinates(again, X), ours)  # JSON keeps every bit
    with pytest.raises(ValueError, match="takes 2 features"):
        pca_coordinates(projection, X[:, :1])


def test_one_dimensional_data_publishes_a_zero_second_component() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2]})
    columns = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    evaluation = Evaluation(
        sweeps={}, comparison=[], champion="kmeans", champion_reason="-", silhouette_sample=6
    )
    data = build_plot_data(
        features=frame,
        columns=columns,
        X=frame.to_numpy(),
        ids=None,
        labels_by_model={"kmeans-k2": np.array([0, 0, 0, 1, 1, 1])},
        evaluation=evaluation,
        profiles=ProfileCatalog(),
    )
    projection = data.points.pca_projection
    assert projection is not None
    assert projection.components[1] == [0.0]
    assert [round(p[0], 4) for p in data.points.pca] == [-2.6, -2.5, -2.4, 2.4, 2.5, 2.6] or [
        round(p[0], 4) for p in data.points.pca
    ] == [2.6, 2.5, 2.4, -2.4, -2.5, -2.6]
    assert {p[1] for p in data.points.pca} == {0.0}


def test_report_draws_maps_and_silhouettes_from_the_points(mall_plots, mall_inputs) -> None:
    figures = report_figures(mall_plots, mall_inputs["evaluation"], mall_inputs["profiles"])
    assert set(figures) == {
        "pca",
        "tsne",
        "silhouette:kmeans",
        "silhouette:gmm",
        "silhouette:dbscan",
    }
    points = mall_plots.points
    champion = points.labels["kmeans-k5"]
    traces = figures["pca"]["data"]
    assert sum(len(t["x"]) for t in traces) == points.n
    names = {s.segment_id: s.name for s in mall_inputs["profiles"].sets["kmeans-k5"].segments}
    first = traces[0]  # lowest segment id first
    rows = [i for i, label in enumerate(champion) if label == min(champion)]
    assert first["name"] == names[min(champion)]
    assert first["x"] == pytest.approx([points.pca[i][0] for i in rows], abs=1e-4)
    bars = figures["silhouette:kmeans"]["data"]
    assert sum(len(b["x"]) for b in bars) == points.n
    dbscan = figures["silhouette:dbscan"]["data"]
    assert sum(len(b["x"]) for b in dbscan) == sum(
        v is not None for v in points.silhouette["dbscan"]
    )


def test_report_opens_with_the_warnings_escaped(mall_plots, mall_inputs) -> None:
    warnings = [
        "No substantial structure: silhouette 0.13 < 0.25; these segments slice a continuum",
        "Column <b>churn</b> excluded from clustering & profiled as a rate",
    ]
    page = render_report_html(
        title="Mall customers",
        plot_data=mall_plots,
        evaluation=mall_inputs["evaluation"],
        profiles=mall_inputs["profiles"],
        columns=mall_inputs["columns"],
        rows=RowCounts(read=200, used=200, dropped=0),
        warnings=warnings,
    )
    main = page.split("<main>", 1)[1].lstrip()
    assert main.startswith('<section class="warnings"')  # first thing on the page
    block = main.split("</section>", 1)[0]
    assert "2 warnings" in block
    assert "<li>No substantial structure: silhouette 0.13 &lt; 0.25; these segments" in block
    assert "Column &lt;b&gt;churn&lt;/b&gt; excluded from clustering &amp; profiled" in block
    assert "<b>churn</b>" not in page


def test_report_css_and_js_are_package_data() -> None:
    from importlib import resources

    static = resources.files("shared.report").joinpath("static")
    assert report_asset("report.css") == static.joinpath("report.css").read_text(encoding="utf-8")
    assert "IntersectionObserver" in report_asset("report.js")
    with pytest.raises(KeyError):
        report_asset("../html.py")
    import tomllib

    pyproject = tomllib.loads((MALL.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["shared.report"]
    assert {"static/*.css", "static/*.js"} <= set(shipped)


# --- chart defects --------------------------------------------------------------------------------


def test_no_missing_value_chart_when_nothing_is_missing() -> None:
    from shared.report.figures import missing_figure

    full = ColumnSchema(name="Age", role="numeric", dtype="float", used=True)
    assert missing_figure([full], 10) is None
    holey = full.model_copy(update={"missing": 3})
    figure = missing_figure([holey, full], 10)
    assert figure is not None
    assert figure["data"][0]["x"] == [3, 0]
    assert figure["layout"]["yaxis"]["automargin"] is True


def test_whole_number_histograms_have_whole_bins() -> None:
    """Whole numbers spanning more values than bars: every bar holds the same count of integers
    (fractional bins put one more integer in some bars: false spikes)."""
    from shared.report.figures import HIST_MAX_BINS, histogram_figure

    values = np.arange(0, 1000, dtype=float)  # uniform: every bar must be as tall as the others
    figure = histogram_figure("Visits", values)
    counts = figure["data"][0]["y"]
    widths = set(figure["data"][0]["width"])
    assert len(counts) <= HIST_MAX_BINS
    assert len(widths) == 1
    assert float(next(iter(widths))).is_integer()
    assert max(counts[:-1]) == min(counts[:-1])  # the last bar may be cut by the maximum


def test_silhouette_axis_reaches_the_lowest_value() -> None:
    from shared.report.figures import silhouette_figure

    figure = silhouette_figure("kmeans-k2", [0.5, -0.6, 0.7, 0.2], [0, 0, 1, 1], {})
    low, high = figure["layout"]["xaxis"]["range"]
    assert low <= -0.6 - 0.05 + 1e-9
    assert high == 1


def test_correlation_labels_make_room_for_themselves() -> None:
    from shared.report.figures import correlation_figure

    figure = correlation_figure(["A very long column name (units)", "B"], np.eye(2))
    assert figure["layout"]["xaxis"]["automargin"] is True
    assert figure["layout"]["yaxis"]["automargin"] is True
