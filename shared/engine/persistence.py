"""Model artifacts with skops only: an explicit, reviewed list of trusted types.

skops stores an object's state, not pickled code, and refuses on load to construct any type
that is neither in its own default-trusted set (numpy, scipy, scikit-learn estimators) nor in
the ``trusted`` list it is given. The artifacts of a training run need exactly the types of
:data:`TRUSTED_TYPES` beyond skops's defaults; ``load_artifact`` audits a file with
``skops.io.get_untrusted_types`` first and refuses anything else, naming it, before any object
is built. ``trusted=True`` is never used. Pickle and joblib are never used.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from shared.exceptions import ArtifactError, UntrustedTypeError

__all__ = ["TRUSTED_TYPES", "dump_artifact", "load_artifact", "untrusted_types"]

logger = logging.getLogger(__name__)

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

TRUSTED_TYPES: tuple[str, ...] = (
    # The assigners a training run persists (shared/engine/assigners.py): plain numpy state.
    "shared.engine.assigners.CoreSampleAssigner",
    "shared.engine.assigners.GaussianMixtureAssigner",
    "shared.engine.assigners.LatentCentroidAssigner",
    "shared.engine.assigners.NearestCentroidAssigner",
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

    return _normalized_zip(bytes(sio.dumps(obj)))


def _normalized_zip(data: bytes) -> bytes:
    """Make a skops file deterministic: equal objects give equal bytes.

    skops names memo entries and array files after ``id()`` of the saved objects and stamps zip
    entries with the current time. Both are renumbered here (ids in order of first appearance in
    ``schema.json``; a fixed 1980-01-01 timestamp); ids are only memo keys and file names, so
    the renumbered file loads to the same object.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    mapping: dict[int, int] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    mapping.setdefault(value, len(mapping) + 1)
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def renamed_file(name: str) -> str:
        stem, dot, suffix = name.partition(".")
        if stem.isdigit():
            return f"{mapping.setdefault(int(stem), len(mapping) + 1)}{dot}{suffix}"
        return name

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = mapping[value]
                elif key == "file" and isinstance(value, str):
                    out[key] = renamed_file(value)
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    collect(schema)
    canonical = rewrite(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for entry in sorted(source.infolist(), key=lambda e: renamed_file(e.filename)):
            if entry.filename == "schema.json":
                continue
            info = zipfile.ZipInfo(renamed_file(entry.filename), date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(entry.filename))
        info = zipfile.ZipInfo("schema.json", date_time=_ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        target.writestr(info, json.dumps(canonical, indent=2))
    return buffer.getvalue()


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
    >>> from shared.engine.assigners import NearestCentroidAssigner
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
