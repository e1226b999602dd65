"""Mixed numeric + one-hot data: weighted slots, sane mixtures, DBSCAN not split by a dummy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema
from shared.engine.preprocess import CATEGORY_WEIGHT, fit_preprocessor, preprocessing_params
from shared.serving.preprocessing import PreprocessingParams
from shared.serving.transform import ServingTransform
from shared.training.pipeline import TrainingOutput, train_segments

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"


def _blobs_with_dummies(seed: int, n: int = 600) -> pd.DataFrame:
    """Three numeric blobs; Gender and Plan are independent of them (pure noise)."""
    rng = np.random.default_rng(seed)
    blob = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    values = centres[blob] + rng.normal(0.0, 1.0, (n, 2))
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "spend": values[:, 0],
            "visits": values[:, 1],
            "Gender": rng.choice(["Female", "Male"], n),
            "plan": rng.choice(["basic", "plus", "gold"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _train(frame: pd.DataFrame, **config: object) -> TrainingOutput:
    return train_segments(
        frame.to_csv(index=False).encode(),
        filename="customers.csv",
        config=DatasetConfig.model_validate(config),
    )


def _gender_purity(out: TrainingOutput, algorithm: str, *, min_share: float) -> float:
    summary = out.algorithms[algorithm]
    key = algorithm if algorithm == "dbscan" else f"{algorithm}-k{summary.k}"
    return max(
        max(s.categorical["Gender"].values())
        for s in out.profiles.sets[key].segments
        if not s.is_outlier and s.share >= min_share
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_mixture_with_one_hot_columns_stays_sane(seed: int) -> None:
    out = _train(_blobs_with_dummies(seed), algorithms=["kmeans", "gmm", "dbscan"])
    gmm, kmeans = out.algorithms["gmm"], out.algorithms["kmeans"]
    # No component collapses onto a dummy: the three blobs, not k = 6-9 gender-pure pieces.
    assert gmm.n_segments == 3
    assert gmm.metrics.silhouette is not None
    assert kmeans.metrics.silhouette is not None
    assert gmm.metrics.silhouette >= kmeans.metrics.silhouette - 0.05
    assert _gender_purity(out, "gmm", min_share=0.0) < 0.7
    assert gmm.params["covariance_type"] in ("full", "diag", "tied", "spherical")
    assert gmm.params["reg_covar"] == pytest.approx(CATEGORY_WEIGHT**2 / 4)
    # The one-hot column alone does not cut DBSCAN's segments in two.
    assert _gender_purity(out, "dbscan", min_share=0.05) < 0.8


def test_mall_without_config_gmm_close_to_kmeans_and_dbscan_not_by_gender() -> None:
    out = train_segments(MALL.read_bytes(), filename="mall_customers.csv", config=None)
    assert [c.name for c in out.columns if c.used] == [
        "Gender",
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
    ]
    gmm, kmeans = out.algorithms["gmm"].metrics, out.algorithms["kmeans"].metrics
    assert gmm.silhouette is not None
    assert kmeans.silhouette is not None
    assert abs(gmm.silhouette - kmeans.silhouette) <= 0.05
    assert _gender_purity(out, "dbscan", min_share=0.05) < 0.9


def test_one_hot_slots_carry_the_category_weight_in_training_and_serving() -> None:
    columns = [
        ColumnSchema(name="x", role="numeric", dtype="float", used=True),
        ColumnSchema(
            name="g", role="categorical", dtype="string", used=True, categories=["a", "b", "c"]
        ),
    ]
    features = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "c", "a"]}).astype(
        {"g": object}
    )
    fitted = fit_preprocessor(features, columns)
    onehot = fitted.X[:, 1:]
    assert sorted(np.unique(onehot).tolist()) == [0.0, CATEGORY_WEIGHT]
    # Two customers who differ only in g are at squared distance 2 * 0.5^2 = 0.5.
    assert float(np.sum((onehot[0] - onehot[1]) ** 2)) == pytest.approx(0.5)
    params = preprocessing_params(fitted.transformer, columns)
    assert [c.value for c in params.categorical] == [CATEGORY_WEIGHT]
    doc = params.to_dict()
    assert [c["value"] for c in doc["categorical"]] == [CATEGORY_WEIGHT]
    records = [{"x": 1.0, "g": "b"}, {"x": None, "g": "zz"}, {"x": 4.0, "g": None}]
    expected = fitted.transformer.transform(
        pd.DataFrame({"x": [1.0, np.nan, 4.0], "g": ["b", "zz", np.nan]}).astype({"g": object})
    )
    served = ServingTransform(PreprocessingParams.from_dict(doc), columns).transform(records)[0]
    np.testing.assert_array_equal(served, expected)
    # A bundle written before the weighting (no "value") still serves its ones.
    for entry in doc["categorical"]:
        del entry["value"]
    old = ServingTransform(PreprocessingParams.from_dict(doc), columns).transform(records[:1])[0]
    assert old[0, 1:].tolist() == [0.0, 1.0, 0.0]


def test_dbscan_density_ignores_one_hot_slots_at_any_scale() -> None:
    """With 12,000 rows eps is far below the one-hot gap, which used to cut every dense region
    into one island per level; now the slots are left out of DBSCAN's distances."""
    from shared.engine.bundle import _npz_bytes, _rule_of
    from shared.engine.clustering import fit_dbscan
    from shared.serving.rules import load_serving_rule

    rng = np.random.default_rng(5)
    n = 12_000
    blob = rng.integers(0, 2, n)
    numeric = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0]])[blob] + rng.normal(0, 1, (n, 3))
    female = rng.random(n) < 0.5
    onehot = np.column_stack([female, ~female]).astype(float) * CATEGORY_WEIGHT
    X = np.hstack([numeric, onehot])
    model = fit_dbscan(X).models[0]
    assert model.params["density_features"] == 3
    assert model.params["eps"] < CATEGORY_WEIGHT * np.sqrt(2)  # the gap would have split it
    big = [label for label in np.unique(model.labels) if label >= 0]
    big = [label for label in big if np.mean(model.labels == label) >= 0.05]
    assert len(big) == 2
    for label in big:
        assert 0.4 < female[model.labels == label].mean() < 0.6
    # The serving bundle carries the weights: same answers as the assigner on new customers.
    assigner = model.assigner
    spec, arrays = _rule_of(assigner)
    assert arrays["feature_weights"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    rule = load_serving_rule(spec, _npz_bytes(arrays))
    new = np.hstack([rng.normal(3.0, 3.0, (400, 3)), onehot[:400]])
    np.testing.assert_array_equal(rule.predict(new), assigner.predict(new))
    np.testing.assert_allclose(rule.assign(new).distance, assigner.assign(new).distance)
