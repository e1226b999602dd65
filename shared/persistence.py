"""Model artifacts with skops only: an explicit, reviewed list of trusted types.

skops stores an object's state, not pickled code, and refuses on load to construct any type
that is neither in its own default-trusted set (numpy, scipy, scikit-learn estimators) nor in
the ``trusted`` list it is given. The artifacts of a training run need exactly the types of
:data:`TRUSTED_TYPES` beyond skops's defaults; ``load_artifact`` audits a file with
``skops.io.get_untrusted_types`` first and refuses anything else, naming it, before any object
is built. ``trusted=True`` is never used. Pickle and joblib are never used.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.exceptions import ArtifactError, UntrustedTypeError

__all__ = ["TRUSTED_TYPES", "dump_artifact", "load_artifact", "untrusted_types"]

logger = logging.getLogger(__name__)

TRUSTED_TYPES: tuple[str, ...] = (
    # The assigners a training run persists (shared/assignment.py): plain numpy state.
    "shared.assignment.CoreSampleAssigner",
    "shared.assignment.GaussianMixtureAssigner",
    "shared.assignment.NearestCentroidAssigner",
    # OneHotEncoder(dtype=np.float64) stores a numpy dtype: data, not code.
    "numpy.dtype",
)
"""Types trusted beyond skops's defaults. Reviewed: each is a data holder with no side effects
on construction. ``tests/unit/test_persistence.py`` fails when a real artifact needs a type
outside this list, or when an entry is no longer needed."""


def dump_artifact(obj: Any) -> bytes:
    """Serialize a fitted estimator (preprocessor or assigner) to skops bytes.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> data = dump_artifact(StandardScaler().fit([[0.0], [2.0]]))
    >>> load_artifact(data).mean_.tolist()
    [1.0]
    """
    import skops.io as sio

    return bytes(sio.dumps(obj))


def untrusted_types(data: bytes) -> list[str]:
    """Types in a skops file that skops does not trust by default (audit only, builds nothing)."""
    import skops.io as sio

    try:
        return [str(t) for t in sio.get_untrusted_types(data=data)]
    except Exception as e:  # skops raises zip, JSON and key errors on foreign bytes
        raise ArtifactError(f"not a readable skops artifact ({len(data)} bytes): {e}") from e


def load_artifact(data: bytes) -> Any:
    """Load a skops artifact, trusting only :data:`TRUSTED_TYPES` beyond skops's defaults.

    Raises
    ------
    UntrustedTypeError
        When the file carries a type outside the list (named in the message); nothing in the
        file is constructed.
    ArtifactError
        When the bytes are not a readable skops file.

    Examples
    --------
    >>> import numpy as np
    >>> from shared.assignment import NearestCentroidAssigner
    >>> a = NearestCentroidAssigner().fit(np.array([[0.0], [4.0]]), np.array([0, 1]))
    >>> load_artifact(dump_artifact(a)).predict(np.array([[3.0]])).tolist()
    [1]
    """
    import skops.io as sio

    offending = sorted(set(untrusted_types(data)) - set(TRUSTED_TYPES))
    if offending:
        raise UntrustedTypeError(
            f"artifact refused: it carries type(s) outside the trusted list: {', '.join(offending)}"
        )
    try:
        return sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as e:
        raise ArtifactError(f"skops artifact could not be loaded: {e}") from e
