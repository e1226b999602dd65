"""skops artifacts: explicit trusted types, round trips, refusal of anything else."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer

from shared.contract.config import ALL_ALGORITHMS, DatasetConfig
from shared.engine.clustering import fit_candidates
from shared.engine.persistence import TRUSTED_TYPES, dump_artifact, load_artifact, untrusted_types
from shared.engine.preprocess import fit_preprocessor
from shared.engine.schema import clean_training_table
from shared.exceptions import ArtifactError, UntrustedTypeError

DANGEROUS_PREFIXES = (
    "builtins.",
    "os.",
    "posix.",
    "subprocess.",
    "sys.",
    "pickle.",
    "shutil.",
    "importlib.",
    "socket.",
    "functools.partial",
    "operator.",
    "codecs.",
    "runpy.",
)

CONSTRUCTED: list[str] = []


class Detonator:
    """Stands for a malicious payload: constructing it records that code ran."""

    def __init__(self) -> None:
        self.payload = "rm -rf /"

    def __setstate__(self, state: dict[str, Any]) -> None:
        CONSTRUCTED.append("setstate ran")
        self.__dict__.update(state)


def customer_table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "CustomerID": np.arange(1, n + 1),
            "Age": rng.integers(18, 70, n).astype(float),
            "Spend": np.round(rng.lognormal(3, 1.5, n), 2),
            "Region": rng.choice(["north", "south", "east"], n),
            "Score": rng.normal(50, 10, n),
        }
    )


@pytest.fixture(scope="module")
def real_artifacts() -> dict[str, Any]:
    """Every kind of object a training run persists, fitted on a small mixed table."""
    table = clean_training_table(customer_table(), DatasetConfig(k_max=3))
    prepared = fit_preprocessor(table.features, table.columns)
    every = DatasetConfig(k_max=3, algorithms=list(ALL_ALGORITHMS))  # the opt-in ones too
    fits = fit_candidates(prepared.X, every)
    objects: dict[str, Any] = {"preprocessor": prepared.transformer, "X": prepared.X}
    for algorithm, fit in fits.items():
        objects[algorithm] = fit.models[0].assigner
    return objects


def test_every_real_artifact_needs_only_trusted_types(real_artifacts: dict[str, Any]) -> None:
    needed: set[str] = set()
    for name, obj in real_artifacts.items():
        if name == "X":
            continue
        types = set(untrusted_types(dump_artifact(obj)))
        assert types <= set(TRUSTED_TYPES), f"{name} needs untrusted {types - set(TRUSTED_TYPES)}"
        needed |= types
    unused = set(TRUSTED_TYPES) - needed
    assert not unused, f"trusted but no artifact needs them (remove): {unused}"


def test_trusted_list_has_nothing_dangerous() -> None:
    for name in TRUSTED_TYPES:
        assert not name.startswith(DANGEROUS_PREFIXES), name
    assert len(set(TRUSTED_TYPES)) == len(TRUSTED_TYPES)


def test_round_trip_preprocessor(real_artifacts: dict[str, Any]) -> None:
    transformer = real_artifacts["preprocessor"]
    loaded = load_artifact(dump_artifact(transformer))
    frame = clean_training_table(customer_table(), DatasetConfig(k_max=3)).features
    np.testing.assert_array_equal(loaded.transform(frame), transformer.transform(frame))


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_round_trip_every_assigner(real_artifacts: dict[str, Any], algorithm: str) -> None:
    assigner = real_artifacts[algorithm]
    X = real_artifacts["X"]
    loaded = load_artifact(dump_artifact(assigner))
    assert type(loaded) is type(assigner)
    before, after = assigner.assign(X), loaded.assign(X)
    np.testing.assert_array_equal(after.labels, before.labels)
    np.testing.assert_array_equal(after.distance, before.distance)
    np.testing.assert_array_equal(after.confidence, before.confidence)
    np.testing.assert_array_equal(after.outlier, before.outlier)


def test_untrusted_class_is_refused_and_never_constructed() -> None:
    CONSTRUCTED.clear()
    data = dump_artifact(Detonator())
    with pytest.raises(UntrustedTypeError, match=r"test_persistence\.Detonator"):
        load_artifact(data)
    assert CONSTRUCTED == []


def test_untrusted_function_inside_a_trusted_estimator_is_refused() -> None:
    data = dump_artifact(FunctionTransformer(func=eval))
    with pytest.raises(UntrustedTypeError, match=r"builtins\.eval"):
        load_artifact(data)


def test_foreign_bytes_are_an_artifact_error() -> None:
    with pytest.raises(ArtifactError, match="not a readable skops artifact"):
        load_artifact(b"\x80\x04 definitely a pickle")


def test_equal_objects_dump_to_equal_bytes(real_artifacts: dict[str, Any]) -> None:
    X = real_artifacts["X"]
    fits = [fit_candidates(X, DatasetConfig(k_max=3)) for _ in range(2)]
    for algorithm in fits[0]:
        first = dump_artifact(fits[0][algorithm].models[0].assigner)
        second = dump_artifact(fits[1][algorithm].models[0].assigner)
        assert first == second, algorithm
