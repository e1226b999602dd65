"""Canonical row order: the same rows in any order train the very same models.

A training run never looks at a row's position in the upload. Right after reading, the rows are
put in **canonical order**: sorted by a 64-bit hash of their content (every column's parsed
value, ``pandas.util.hash_pandas_object`` with a fixed key; text cells hash by their text). Every
later step sees that order: schema inference's head samples, the fit samples
(``shared.engine.clustering.representative_sample`` draws positions of the canonical order),
K-Means initialisation, agglomerative and DBSCAN tie-breaks, silhouette, metric, stability and
plot samples. So any permutation of the upload gives bit-identical matrices, fits and metrics.

- **Identical rows** share a hash and sit side by side; the stable sort keeps their upload order,
  but being identical they are interchangeable: the canonical table is the same.
- **Collisions** of two different rows on 64 bits (probability about ``n^2 / 2^65``: 3e-8 for a
  million rows) would leave those two rows in upload order; nothing else depends on the order.
- **Per-row outputs** (``assignments.csv.gz``) are written back in the upload's row order with
  :func:`upload_order`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["ROW_HASH_KEY", "canonical_order", "row_hashes", "upload_order"]

logger = logging.getLogger(__name__)

ROW_HASH_KEY = "segments-rows-v1"
"""The 16-character key of the row hash (fixed: the canonical order must not change between
runs, machines or versions of this engine without a reason)."""


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's content (column names and positions do not enter it).

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1, 2, 1], "b": ["x", "y", "x"]})
    >>> h = row_hashes(frame)
    >>> bool(h[0] == h[2]), bool(h[0] == h[1])
    (True, False)

    Nested values (Parquet struct, list and map columns, dropped later by the schema) are hashed
    by their text form:

    >>> nested = pd.DataFrame({"a": [1, 2], "n": [{"k": 1}, [1, 2]]})
    >>> row_hashes(nested).shape
    (2,)
    """
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.uint64)
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=ROW_HASH_KEY)
    except TypeError:
        # Only a table with unhashable cells pays for a second pass (and a copy).
        hashable = frame.apply(_hashable_column)
        hashed = pd.util.hash_pandas_object(hashable, index=False, hash_key=ROW_HASH_KEY)
    return np.asarray(hashed.to_numpy(), dtype=np.uint64)


def _hashable_column(series: pd.Series) -> pd.Series:
    """The column itself, or its values' text when some are unhashable (dicts, lists, arrays)."""
    if series.dtype != object:
        return series
    try:
        pd.util.hash_array(series.to_numpy())
    except TypeError:
        return series.map(repr)
    return series


def canonical_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``frame`` sorted by their content hash, and where each came from.

    Returns
    -------
    canonical : pandas.DataFrame
        The same rows in canonical order, index ``0..n-1``.
    upload_rows : ndarray of int64
        ``upload_rows[i]`` is the position in ``frame`` of canonical row ``i``.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [3, 1, 2]})
    >>> shuffled = frame.iloc[[2, 0, 1]]
    >>> canonical_order(frame)[0].equals(canonical_order(shuffled)[0])
    True
    >>> rows, positions = canonical_order(frame)
    >>> frame.iloc[positions].reset_index(drop=True).equals(rows)
    True
    """
    positions = np.argsort(row_hashes(frame), kind="stable").astype(np.int64)
    return frame.take(positions).reset_index(drop=True), positions


def upload_order(upload_rows: np.ndarray) -> np.ndarray:
    """Positions that put canonical-order values back in upload order.

    Parameters
    ----------
    upload_rows : ndarray of int
        Upload position of each canonical row (of the rows kept; gaps are dropped rows).

    Examples
    --------
    >>> upload_rows = np.array([2, 0, 5])
    >>> values = np.array(["c", "a", "f"])
    >>> values[upload_order(upload_rows)].tolist()
    ['a', 'c', 'f']
    """
    return np.argsort(np.asarray(upload_rows), kind="stable").astype(np.int64)
