"""Uploads that used to exhaust the training worker's memory, under a hard memory limit.

Each case runs the real reader or engine in a child process whose address space is capped
(``RLIMIT_AS``): the fixed code refuses the upload with a message naming the limit and stays far
below the cap; a regression dies of ``MemoryError`` in the child and fails the test, instead of
taking the machine. The peak resident memory of each child is asserted too.
"""

from __future__ import annotations

import pytest

from tests.support.memory import run_with_memory_limit

MiB = 1024 * 1024
CAP = 1200 * MiB
"""Address-space cap of the child: Python, pandas, pyarrow and scikit-learn imported take
~350 MiB of address space here; an 8 GiB inflation or a 400M-row read cannot fit."""

pytestmark = pytest.mark.slow

_CORPUS = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("make_bad_corpus", "scripts/make_bad_corpus.py")
corpus = importlib.util.module_from_spec(spec)
sys.modules["make_bad_corpus"] = corpus
spec.loader.exec_module(corpus)
"""


def test_an_8_gib_gzip_bomb_is_refused_at_the_decompressed_limit() -> None:
    run = run_with_memory_limit(
        _CORPUS
        + """
from shared.engine.loading import read_table
from shared.exceptions import FileTooLargeError
bomb = corpus.gzip_bomb(8 * 1024**3)
try:
    read_table(bomb, filename="customers.csv.gz", max_decompressed_bytes=256 * 1024 * 1024)
    result = {"size": len(bomb), "error": None}
except FileTooLargeError as e:
    result = {"size": len(bomb), "error": str(e)}
""",
        limit_bytes=CAP,
    )
    assert run.result is not None, run.stderr
    assert run.result["size"] < 9 * MiB
    assert run.result["error"] == (
        "customers.csv.gz: inflates to more than 268,435,456 bytes; the limit is 268,435,456 "
        "bytes once decompressed (MAX_DECOMPRESSED_BYTES)"
    )
    # The inflated output never exceeds the limit (plus one step): no copy of it is made.
    assert run.peak_rss < 256 * MiB + 300 * MiB, run.peak_rss


def test_a_parquet_file_declaring_400m_rows_is_refused_from_its_footer() -> None:
    run = run_with_memory_limit(
        _CORPUS
        + """
from shared.training.pipeline import train_segments
from shared.exceptions import FileTooLargeError
data = corpus.huge_parquet(400_000_000)
try:
    train_segments(data, filename="customers.parquet")
    result = {"size": len(data), "error": None}
except FileTooLargeError as e:
    result = {"size": len(data), "error": str(e)}
""",
        limit_bytes=CAP,
    )
    assert run.result is not None, run.stderr
    assert run.result["size"] < 1 * MiB
    assert run.result["error"] == (
        "customers.parquet: declares 400,000,000 rows; the limit is 10,000,000 rows "
        "(MAX_TABLE_ROWS)"
    )
    assert run.peak_rss < 400 * MiB, run.peak_rss


def test_gmm_on_2000_features_trains_within_the_memory_limit() -> None:
    """Just under MAX_FEATURE_WIDTH: full covariances would hold k x 2,000 x 2,000 floats per
    array (128 MB at k = 4, several arrays per fit, every k kept, and the covariance type is
    chosen among fits of every type); diagonal and spherical ones hold k x 2,000."""
    run = run_with_memory_limit(
        _CORPUS
        + """
from shared.contract.config import DatasetConfig
from shared.training.pipeline import train_segments
data = corpus._wide(2000, 60)
out = train_segments(data, filename="wide.csv",
                     config=DatasetConfig(algorithms=["gmm"], k_max=4))
result = {"width": len(out.feature_names),
          "covariance": out.algorithms["gmm"].params["covariance_type"],
          "segments": out.algorithms["gmm"].n_segments}
""",
        # Address space, not resident memory: the whole engine's imports and worker threads map
        # more than they touch. Full covariances would need several GB; peak_rss below is the
        # tight check.
        limit_bytes=2 * CAP,
        timeout=300,
    )
    assert run.result is not None, run.stderr
    assert run.result is not None
    assert run.result["width"] == 1999
    assert run.result["covariance"] in ("diag", "spherical")  # never full or tied here
    assert run.result["segments"] == 2
    assert run.peak_rss < 700 * MiB, run.peak_rss
