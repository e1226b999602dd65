"""``current.json`` by compare-and-swap, and the promote that cannot race retention.

Promote (the API) and retention (the training run) meet here, below both: promote records
itself in ``datasets/<d>/promotions/<version>.json`` (:func:`mark_promotion`) before it verifies
the version, replaces ``current.json`` by compare-and-swap (:func:`promote_version`) and reads
the manifest again afterwards, putting the previous pointer back if the version was deleted in
between. Retention (:func:`shared.training.run.apply_retention`) re-reads ``current.json`` before
each delete and spares every version published or promoted within :data:`RETENTION_GRACE`
(:func:`recently_used`). Either retention saw the promotion record and kept the version, or it
deleted the version before the promote's swap, which the promote's re-check then notices.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from shared.contract.layout import ModelLayout
from shared.contract.manifest import CurrentPointer
from shared.exceptions import TransientStoreError, VersionNotFoundError
from shared.quoting import quote_value
from shared.store.base import ModelStore, ObjectNotFoundError, read_manifest

__all__ = [
    "CURRENT_SWAP_ATTEMPTS",
    "RETENTION_GRACE",
    "mark_promotion",
    "promote_version",
    "read_current_tagged",
    "recently_used",
]

logger = logging.getLogger(__name__)

RETENTION_GRACE = timedelta(minutes=30)
"""Retention never deletes a version published or promoted more recently than this: longer than
a training run (at most 15 minutes) or a promote (seconds) can hold a version it checked."""

CURRENT_SWAP_ATTEMPTS = 5
"""Compare-and-swap attempts on ``current.json`` before giving up with a transient error."""


def read_current_tagged(
    store: ModelStore, dataset: str
) -> tuple[CurrentPointer | None, str | None]:
    """``current.json`` and its tag; a corrupt pointer reads as None (the next publish fixes it).

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> read_current_tagged(LocalModelStore(tempfile.mkdtemp()), "mall")
    (None, None)
    """
    try:
        raw, tag = store.get_with_tag(ModelLayout.current(dataset))
    except ObjectNotFoundError:
        return None, None
    try:
        return CurrentPointer.model_validate_json(raw), tag
    except ValidationError as e:
        logger.error("current.json of %s is unreadable (%s); treating it as absent", dataset, e)
        return None, tag


def mark_promotion(store: ModelStore, dataset: str, version: str, *, now: datetime) -> None:
    """Record that ``version`` is being promoted, so retention spares it (call before verifying).

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> mark_promotion(store, "mall", "v1", now=datetime(2025, 1, 1, tzinfo=UTC))
    >>> store.exists("datasets/mall/promotions/v1.json")
    True
    """
    body = json.dumps({"version": version, "promoted_at": _utc(now).isoformat()}).encode()
    store.put_bytes(ModelLayout.promotion(dataset, version), body, content_type="application/json")


def promote_version(
    store: ModelStore, dataset: str, pointer: CurrentPointer
) -> CurrentPointer | None:
    """Make ``pointer`` current by compare-and-swap, then check its version still exists.

    The caller has called :func:`mark_promotion` and verified the version. If the version's
    manifest is gone after the swap (retention deleted it meanwhile), the previous pointer is
    restored (unless ``current.json`` changed again since; without a usable previous pointer,
    one that any publish replaces is left) and the promote fails.

    Returns
    -------
    CurrentPointer or None
        The pointer that was current before (None when there was none, or it was unreadable).

    Raises
    ------
    VersionNotFoundError
        When the version was deleted while it was being promoted.
    TransientStoreError
        When ``current.json`` kept changing under the swap.

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> pointer = CurrentPointer(version="v1", updated_at=datetime.now(UTC), promoted=True)
    >>> promote_version(store, "mall", pointer)
    Traceback (most recent call last):
    ...
    shared.exceptions.VersionNotFoundError: dataset 'mall' has no version 'v1' ...
    """
    key = ModelLayout.current(dataset)
    data = pointer.model_dump_json(indent=2).encode()
    for _ in range(CURRENT_SWAP_ATTEMPTS):
        previous, tag = read_current_tagged(store, dataset)
        if store.put_if_tag(key, data, tag, content_type="application/json"):
            break
        logger.info("current.json of %s changed during a promote; trying again", dataset)
    else:
        raise TransientStoreError(
            f"current.json of {quote_value(dataset)} kept changing during "
            f"{CURRENT_SWAP_ATTEMPTS} attempts"
        )
    if store.exists(ModelLayout.manifest(dataset, pointer.version)):
        return previous
    # Deleted between the caller's check and the swap: do not leave readers pointed at nothing.
    restored = _undo_promote(store, dataset, data, previous)
    logger.error(
        "%s/%s was deleted while being promoted; previous pointer %s",
        dataset,
        pointer.version,
        "restored" if restored else "not restored",
    )
    raise VersionNotFoundError(
        f"dataset {quote_value(dataset)} has no version {quote_value(pointer.version)} any "
        "more: it was deleted "
        "while being promoted; nothing was changed"
    )


def _undo_promote(
    store: ModelStore, dataset: str, written: bytes, previous: CurrentPointer | None
) -> bool:
    """Put ``previous`` back in ``current.json`` if it still holds ``written`` (our promote).

    Without a usable ``previous``, the promoted pointer is replaced by an unpromoted one without
    an upload time, which every later publish replaces (see ``promote_if_newer``).
    """
    key = ModelLayout.current(dataset)
    try:
        data, tag = store.get_with_tag(key)
    except ObjectNotFoundError:
        return False
    if data != written:
        return False  # a newer writer replaced our pointer: theirs stands
    if previous is not None and store.exists(ModelLayout.manifest(dataset, previous.version)):
        body = previous.model_dump_json(indent=2).encode()
    else:
        # Nothing to go back to (readers answer 503 either way, and the API may not delete the
        # pointer): leave one that counts as oldest, so the next publish replaces it.
        stale = CurrentPointer.model_validate_json(written)
        body = (
            CurrentPointer(version=stale.version, updated_at=stale.updated_at)
            .model_dump_json(indent=2)
            .encode()
        )
    return store.put_if_tag(key, body, tag, content_type="application/json")


def recently_used(store: ModelStore, dataset: str, version: str, since: datetime) -> bool:
    """Whether ``version`` was published or promoted after ``since``.

    An unreadable promotion record counts as recent (keep the version rather than guess).

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> mark_promotion(store, "mall", "v1", now=datetime(2025, 1, 1, 12, tzinfo=UTC))
    >>> recently_used(store, "mall", "v1", datetime(2025, 1, 1, 11, 45, tzinfo=UTC))
    True
    >>> recently_used(store, "mall", "v1", datetime(2025, 1, 1, 12, tzinfo=UTC))
    False
    """
    times: list[datetime] = []
    with contextlib.suppress(VersionNotFoundError, ValidationError):
        times.append(read_manifest(store, dataset, version).created_at)
    try:
        marker = json.loads(store.get_bytes(ModelLayout.promotion(dataset, version)))
        times.append(datetime.fromisoformat(marker["promoted_at"]))
    except ObjectNotFoundError:
        pass
    except (ValueError, KeyError, TypeError):
        return True  # an unreadable marker: keep the version rather than guess
    return any(_utc(t) > since for t in times)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
