"""The segment-name overlay of a dataset (``names.json``): read it, change it, apply it.

The document and the precedence rule are :mod:`shared.contract.names`. Writes go through the
store's compare-and-swap, so two people renaming at once both land (or one retries).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.contract.layout import ModelLayout
from shared.contract.names import PersonName, SegmentNames, resolve_name
from shared.contract.profiles import SegmentProfile
from shared.exceptions import TransientStoreError
from shared.store.base import ModelStore, ObjectNotFoundError

__all__ = ["NAME_SWAP_ATTEMPTS", "named", "read_names", "set_segment_name"]

logger = logging.getLogger(__name__)

NAME_SWAP_ATTEMPTS = 5
"""Compare-and-swap attempts on ``names.json`` before giving up with a transient error."""


def _read_tagged(store: ModelStore, dataset: str) -> tuple[SegmentNames, str | None]:
    try:
        raw, tag = store.get_with_tag(ModelLayout.names(dataset))
    except ObjectNotFoundError:
        return SegmentNames(dataset=dataset), None
    try:
        return SegmentNames.model_validate_json(raw), tag
    except (ValidationError, ValueError):
        # An unreadable overlay hides no segment: the generated names show, the next write
        # replaces it.
        logger.warning("names.json of %s is unreadable; showing the generated names", dataset)
        return SegmentNames(dataset=dataset), tag


def read_names(store: ModelStore, dataset: str) -> SegmentNames:
    """The dataset's overlay (empty when none was set or it is unreadable).

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> read_names(LocalModelStore(tempfile.mkdtemp()), "mall").names
    {}
    """
    return _read_tagged(store, dataset)[0]


def set_segment_name(
    store: ModelStore,
    dataset: str,
    segment_id: int,
    name: str | None,
    *,
    set_by: str | None = None,
    now: datetime | None = None,
) -> SegmentNames:
    """Set (or, with ``name=None``, clear) a person's name for ``segment_id``; return the overlay.

    Raises
    ------
    ValueError
        The name is empty, too long or holds control characters.
    TransientStoreError
        Other writers kept changing the overlay (:data:`NAME_SWAP_ATTEMPTS` tries).

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> set_segment_name(store, "mall", 3, " Big  spenders ").name_of(3)
    'Big spenders'
    >>> set_segment_name(store, "mall", 3, None).name_of(3) is None
    True
    """
    entry = (
        None
        if name is None
        else PersonName(name=name, set_at=now or datetime.now(UTC), set_by=set_by)
    )
    for _ in range(NAME_SWAP_ATTEMPTS):
        overlay, tag = _read_tagged(store, dataset)
        names = dict(overlay.names)
        if entry is None:
            names.pop(str(segment_id), None)
        else:
            names[str(segment_id)] = entry
        updated = SegmentNames(dataset=dataset, names=names)
        body = updated.model_dump_json(indent=2).encode("utf-8")
        if store.put_if_tag(ModelLayout.names(dataset), body, tag, content_type="application/json"):
            logger.info("segment %s of %s named %r", segment_id, dataset, name)
            return updated
    raise TransientStoreError(
        f"names.json of {dataset} kept changing during {NAME_SWAP_ATTEMPTS} attempts; retry"
    )


def named(
    segments: Sequence[SegmentProfile], overlay: SegmentNames
) -> list[tuple[SegmentProfile, str, str]]:
    """Each segment with the name to show and its source (``person``, ``known_group``,
    ``rfm``, ``generated``), by :func:`shared.contract.names.resolve_name`.

    A segment of an order-line version carries its RFM name as ``name`` and the generated
    descriptive one as ``descriptive_name``; a seeded segment carries its known group's label
    (``known_group.label``, also its ``name``).

    Examples
    --------
    >>> from shared.contract.names import PersonName
    >>> seg = SegmentProfile(segment_id=2, label=0, name="High income", description="",
    ...                      size=1, share=1.0)
    >>> overlay = SegmentNames(dataset="d", names={"2": PersonName(
    ...     name="VIP", set_at=datetime(2026, 1, 1, tzinfo=UTC))})
    >>> [(s.name, shown, source) for s, shown, source in named([seg], overlay)]
    [('High income', 'VIP', 'person')]
    >>> from shared.contract.profiles import RfmScores
    >>> rfm = seg.model_copy(update={"segment_id": 3, "name": "Champions",
    ...     "descriptive_name": "Recent, frequent", "rfm": RfmScores(recency=5, frequency=5,
    ...     value=5)})
    >>> [(shown, source) for _, shown, source in named([rfm], overlay)]
    [('Champions', 'rfm')]
    >>> from shared.contract.profiles import KnownGroup
    >>> seeded = seg.model_copy(update={"segment_id": 4, "name": "VIP buyers",
    ...     "known_group": KnownGroup(label="VIP buyers", seeds=2, stayed=2, defected=0,
    ...                               joined=0)})
    >>> [(shown, source) for _, shown, source in named([seeded], overlay)]
    [('VIP buyers', 'known_group')]
    """
    out = []
    for segment in segments:
        rfm = segment.name if segment.rfm is not None and segment.descriptive_name else None
        known = segment.known_group.label if segment.known_group is not None else None
        shown, source = resolve_name(
            {
                "person": overlay.name_of(segment.segment_id),
                "known_group": known,
                "rfm": rfm,
                "generated": segment.descriptive_name or segment.name,
            }
        )
        out.append((segment, shown, source))
    return out
