"""Where everything lives: every storage key and artifact name of the product, once.

Raw bucket (:class:`RawLayout`): ``uploads/<dataset>/<name>.csv|.csv.gz|.parquet`` starts a
training run, ``configs/<dataset>.json`` tunes it. Models bucket (:class:`ModelLayout`):
``datasets/<dataset>/current.json``, ``.../versions/<version>/<artifact>``,
``.../failures/<id>.json`` and ``.../claims/<version>.json``. Inside a version folder the artifact
names are the ``*_PATH`` constants below, :func:`model_artifact_path` and
:func:`serving_arrays_path`. Nothing else in the code spells a key or an artifact name.
"""

from __future__ import annotations

__all__ = [
    "ASSIGNMENTS_PATH",
    "EVALUATION_PATH",
    "MANIFEST_PATH",
    "MAX_CONFIG_BYTES",
    "PLOTS_PATH",
    "PREPROCESSOR_PATH",
    "PROFILES_PATH",
    "REPORT_PATH",
    "SCORES_CSV_PATH",
    "SCORES_PARQUET_PATH",
    "SCORE_RECORD_PATH",
    "SERVING_PARAMS_PATH",
    "ModelLayout",
    "RawLayout",
    "model_artifact_path",
    "model_key",
    "score_name",
    "serving_arrays_path",
]

# --- the files of one version folder -------------------------------------------------------------

MANIFEST_PATH = "manifest.json"
"""Written last by the publisher; never produced by the engine."""
PREPROCESSOR_PATH = "preprocessor.skops"
PROFILES_PATH = "profiles.json"
EVALUATION_PATH = "evaluation.json"
PLOTS_PATH = "plots.json"
REPORT_PATH = "report.html"
ASSIGNMENTS_PATH = "assignments.csv.gz"
SERVING_PARAMS_PATH = "serving/params.json"


def model_key(algorithm: str, k: int | None) -> str:
    """Name one fitted model of a version.

    Examples
    --------
    >>> model_key("kmeans", 5), model_key("dbscan", None)
    ('kmeans-k5', 'dbscan')
    """
    return algorithm if k is None else f"{algorithm}-k{k}"


def model_artifact_path(algorithm: str, k: int | None) -> str:
    """Relative path of a model's skops artifact inside a version folder.

    Examples
    --------
    >>> model_artifact_path("gmm", 3)
    'models/gmm-k3.skops'
    """
    return f"models/{model_key(algorithm, k)}.skops"


# --- the raw bucket: uploads and configs --------------------------------------------------------

MAX_CONFIG_BYTES = 1024 * 1024
"""A dataset config larger than this (1 MiB) is refused without being read."""


class RawLayout:
    """Keys of the raw-bucket contract.

    Examples
    --------
    >>> RawLayout.config("mall")
    'configs/mall.json'
    >>> RawLayout.dataset_of("uploads/mall/mall_customers.csv")
    'mall'
    >>> RawLayout.dataset_of("configs/mall.json") is None
    True
    """

    UPLOADS = "uploads/"
    CONFIGS = "configs/"
    SCORES = "score/"
    """``score/<dataset>/<name>.csv|.csv.gz|.parquet``: a whole file to score."""
    SUFFIXES = (".csv", ".csv.gz", ".parquet", ".CSV", ".CSV.GZ", ".PARQUET")
    """Suffixes the bucket notification sends to training, one rule each. S3 matches suffixes
    case-sensitively, so the upper-case spellings (``MALL.CSV``) have rules of their own; the CLI
    writes any other mixed case (``.Csv``) in lower case."""

    @staticmethod
    def config(dataset: str) -> str:
        return f"{RawLayout.CONFIGS}{dataset}.json"

    @staticmethod
    def upload(dataset: str, name: str) -> str:
        """Key of an upload that trains ``dataset``.

        Examples
        --------
        >>> RawLayout.upload("mall", "mall_customers.csv")
        'uploads/mall/mall_customers.csv'
        """
        return f"{RawLayout.UPLOADS}{dataset}/{name}"

    @staticmethod
    def dataset_of(key: str) -> str | None:
        """The ``<dataset>`` of ``uploads/<dataset>/<name>``; None for any other key.

        The name is not validated here (see :func:`shared.contract.config.validate_dataset_name`).
        Deeper keys (``uploads/<dataset>/2024/x.csv``) belong to ``<dataset>`` too.
        """
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != RawLayout.UPLOADS.rstrip("/") or not parts[-1]:
            return None
        return parts[1]

    @staticmethod
    def score_upload(dataset: str, name: str) -> str:
        """Key of a file to score against ``dataset``'s current version.

        Examples
        --------
        >>> RawLayout.score_upload("mall", "march.csv.gz")
        'score/mall/march.csv.gz'
        """
        return f"{RawLayout.SCORES}{dataset}/{name}"

    @staticmethod
    def score_dataset_of(key: str) -> str | None:
        """The ``<dataset>`` of ``score/<dataset>/<name>``; None for any other key.

        Examples
        --------
        >>> RawLayout.score_dataset_of("score/mall/march.csv"), RawLayout.score_dataset_of("x")
        ('mall', None)
        """
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != RawLayout.SCORES.rstrip("/") or not parts[-1]:
            return None
        return parts[1]


SCORES_CSV_PATH = "scores.csv.gz"
"""A scored file: one row per input row (id, segment_id, segment_name, confidence, outlier)."""
SCORES_PARQUET_PATH = "scores.parquet"
SCORE_RECORD_PATH = "score.json"
"""Beside a scored file, written last: the model version used, rows, source, status."""


def score_name(name: str) -> str:
    """The ``<name>`` of a scored file: the upload's file name without its table extension.

    Examples
    --------
    >>> score_name("march.csv.gz"), score_name("Q1.parquet"), score_name("a.b.csv")
    ('march', 'Q1', 'a.b')
    """
    lower = name.lower()
    for suffix in (".csv.gz", ".parquet", ".csv", ".gz", ".pq"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


class ModelLayout:
    """Keys of the models-bucket contract.

    Examples
    --------
    >>> ModelLayout.current("mall")
    'datasets/mall/current.json'
    >>> ModelLayout.artifact("mall", "v1", "models/kmeans-k5.skops")
    'datasets/mall/versions/v1/models/kmeans-k5.skops'
    >>> ModelLayout.claim("mall", "v1")
    'datasets/mall/claims/v1.json'
    """

    ROOT = "datasets/"

    @staticmethod
    def dataset(dataset: str) -> str:
        return f"{ModelLayout.ROOT}{dataset}/"

    @staticmethod
    def current(dataset: str) -> str:
        return f"{ModelLayout.dataset(dataset)}current.json"

    @staticmethod
    def versions(dataset: str) -> str:
        return f"{ModelLayout.dataset(dataset)}versions/"

    @staticmethod
    def version(dataset: str, version: str) -> str:
        return f"{ModelLayout.versions(dataset)}{version}/"

    @staticmethod
    def manifest(dataset: str, version: str) -> str:
        return ModelLayout.artifact(dataset, version, MANIFEST_PATH)

    @staticmethod
    def artifact(dataset: str, version: str, path: str) -> str:
        return f"{ModelLayout.version(dataset, version)}{path}"

    @staticmethod
    def failure(dataset: str, failure_id: str) -> str:
        return f"{ModelLayout.dataset(dataset)}failures/{failure_id}.json"

    @staticmethod
    def scores(dataset: str, name: str) -> str:
        """Folder of the scores of the file ``<name>`` (see :func:`score_name`).

        Examples
        --------
        >>> ModelLayout.scores("mall", "march")
        'datasets/mall/scores/march/'
        """
        return f"{ModelLayout.dataset(dataset)}scores/{name}/"

    @staticmethod
    def claim(dataset: str, version: str) -> str:
        """The claim a worker holds while it trains ``version`` (see the training run)."""
        return f"{ModelLayout.dataset(dataset)}claims/{version}.json"

    @staticmethod
    def names(dataset: str) -> str:
        """Segment names set by people (``shared.contract.names``), beside the versions."""
        return f"{ModelLayout.dataset(dataset)}names.json"

    @staticmethod
    def promotion(dataset: str, version: str) -> str:
        """When ``version`` was last promoted (retention spares it for a grace period)."""
        return f"{ModelLayout.dataset(dataset)}promotions/{version}.json"


def serving_arrays_path(key: str) -> str:
    """Relative path of a model's arrays in a version folder.

    Examples
    --------
    >>> serving_arrays_path("kmeans-k5")
    'serving/kmeans-k5.npz'
    """
    return f"serving/{key}.npz"
