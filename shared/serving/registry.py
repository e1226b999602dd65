"""The per-container cache of current models the API serves from.

Every time a dataset's ``current.json`` is re-read (at most every ``refresh_seconds``), its
``names.json`` is re-read too and the names people gave segments go to the models served
(:meth:`SegmentationModel.set_person_names`): answers show a rename within ``refresh_seconds``
in every container, and at once in the container that made it (the rename route invalidates).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.contract.config import validate_dataset_name
from shared.contract.layout import ModelLayout
from shared.exceptions import (
    ArtifactError,
    DatasetNotFoundError,
    NoModelError,
    TransientStoreError,
    VersionNotFoundError,
)
from shared.quoting import quote_value
from shared.serving.model import SegmentationModel
from shared.serving.names import read_names
from shared.store.base import ModelStore, read_current

logger = logging.getLogger(__name__)


# --- per-container cache -----------------------------------------------------------------------


@dataclass
class _Entry:
    model: SegmentationModel
    checked_at: float
    refused: dict[str, str] = field(default_factory=dict)


class ModelRegistry:
    """Per-container cache of each dataset's current model (and a few pinned versions).

    Parameters
    ----------
    store : ModelStore
        The model store.
    refresh_seconds : float
        ``current.json`` is re-read at most this often per dataset.
    clock : callable
        Monotonic seconds (tests inject a fake clock).
    pinned_versions : int
        How many explicitly requested (``?version=``) models to keep.

    Examples
    --------
    A dataset that was never trained is a 404 at the API:

    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> registry = ModelRegistry(LocalModelStore(tempfile.mkdtemp()), refresh_seconds=5)
    >>> registry.get("mall")
    Traceback (most recent call last):
    ...
    shared.exceptions.DatasetNotFoundError: no dataset named 'mall'
    """

    def __init__(
        self,
        store: ModelStore,
        *,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        pinned_versions: int = 4,
    ) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._pinned_max = pinned_versions
        self._entries: dict[str, _Entry] = {}
        self._pinned: OrderedDict[tuple[str, str], SegmentationModel] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, dataset: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(dataset, threading.Lock())

    def cached_versions(self) -> dict[str, str]:
        """Dataset -> version currently served from this container's cache."""
        return {name: e.model.version for name, e in self._entries.items()}

    def invalidate(self, dataset: str) -> None:
        """Make the next :meth:`current` call re-read ``current.json`` immediately."""
        entry = self._entries.get(dataset)
        if entry is not None:
            entry.checked_at = -math.inf

    def cached(self, dataset: str, version: str | None = None) -> SegmentationModel | None:
        """The model :meth:`get` would return when that needs no store read, else None.

        In memory only (no I/O, no lock held for long): what an ``async`` route may call on the
        event loop before it decides to hand the request to a thread.

        Examples
        --------
        >>> import tempfile
        >>> from shared.store.local import LocalModelStore
        >>> ModelRegistry(LocalModelStore(tempfile.mkdtemp())).cached("mall") is None
        True
        """
        entry = self._entries.get(dataset)
        if entry is not None and (
            entry.model.version == version
            if version is not None
            else self._clock() - entry.checked_at < self.refresh_seconds
        ):
            return entry.model
        if version is None:
            return None
        with self._guard:
            found = self._pinned.get((dataset, version))
            if found is not None:
                self._pinned.move_to_end((dataset, version))  # recently used, as in get()
            return found

    def get(self, dataset: str, version: str | None = None) -> SegmentationModel:
        """The current model of ``dataset``, or the given ``version`` of it.

        Raises
        ------
        DatasetNotFoundError, VersionNotFoundError, NoModelError, ArtifactError
            See :meth:`current`; a pinned version that does not exist is a
            :class:`VersionNotFoundError`.
        """
        if version is None:
            return self.current(dataset)
        validate_dataset_name(dataset)
        entry = self._entries.get(dataset)
        if entry is not None and entry.model.version == version:
            return entry.model
        key = (dataset, version)
        with self._guard:
            found = self._pinned.get(key)
            if found is not None:
                self._pinned.move_to_end(key)
                return found
        try:
            model = SegmentationModel.open(self.store, dataset, version)
        except VersionNotFoundError:
            if not self._dataset_exists(dataset):
                raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}") from None
            raise
        current = self._entries.get(dataset)
        if current is not None:  # the names the dataset's current model was last given
            model.set_person_names(current.model.person_names)
        else:
            self._read_names(dataset, [model])
        with self._guard:
            self._pinned[key] = model
            while len(self._pinned) > self._pinned_max:
                self._pinned.popitem(last=False)
        return model

    def current(self, dataset: str) -> SegmentationModel:
        """The model ``current.json`` points at, from cache when checked recently.

        A new version is opened and warmed completely before it replaces the cached one; when
        it is refused (tampered, untrusted, missing) the cached model keeps serving and the
        refusal is logged.

        Raises
        ------
        InvalidDatasetNameError
            When ``dataset`` is not a valid name.
        DatasetNotFoundError
            When nothing at all is stored for ``dataset``.
        NoModelError
            When the dataset exists but has no published version yet.
        ArtifactError
            When the current version is refused and nothing good is cached.
        """
        validate_dataset_name(dataset)
        entry = self._entries.get(dataset)
        if entry is not None and self._clock() - entry.checked_at < self.refresh_seconds:
            return entry.model
        with self._lock_for(dataset):
            now = self._clock()
            entry = self._entries.get(dataset)
            if entry is not None and now - entry.checked_at < self.refresh_seconds:
                return entry.model
            return self._refresh(dataset, entry, now)

    def _refresh(self, dataset: str, entry: _Entry | None, now: float) -> SegmentationModel:
        # The names first: a new version is given them before it is served.
        names = self._fetch_names(dataset)
        model = self._refresh_pointer(dataset, entry, now, names)
        if names is not None:
            with self._guard:
                pinned = [m for (name, _), m in self._pinned.items() if name == dataset]
            for served in (model, *pinned):
                served.set_person_names(names)
        return model

    def _read_names(self, dataset: str, models: list[SegmentationModel]) -> None:
        """Give ``models`` the dataset's names (unchanged when the store is out)."""
        names = self._fetch_names(dataset)
        if names is not None:
            for model in models:
                model.set_person_names(names)

    def _fetch_names(self, dataset: str) -> dict[int, str] | None:
        """The dataset's ``names.json`` as segment id -> name; None when the store is out."""
        try:
            overlay = read_names(self.store, dataset)
        except TransientStoreError as e:
            logger.warning(
                "cannot re-read names.json, keeping the names already served",
                extra={"dataset": dataset, "error": str(e)},
            )
            return None
        return {
            int(key): entry.name
            for key, entry in overlay.names.items()
            if key.lstrip("-").isdigit()  # a hand-edited key that is no segment id names none
        }

    def _refresh_pointer(
        self, dataset: str, entry: _Entry | None, now: float, names: dict[int, str] | None
    ) -> SegmentationModel:
        try:
            pointer = read_current(self.store, dataset)
        except TransientStoreError as e:
            # An unreadable pointer reads as absent (see read_current); only outages land here.
            if entry is None:
                raise
            logger.warning(
                "cannot re-read current.json, still serving the cached version",
                extra={"dataset": dataset, "version": entry.model.version, "error": str(e)},
            )
            entry.checked_at = now
            return entry.model
        if pointer is None:
            if entry is not None:
                logger.warning(
                    "current.json disappeared, still serving the cached version",
                    extra={"dataset": dataset, "version": entry.model.version},
                )
                entry.checked_at = now
                return entry.model
            if self._dataset_exists(dataset):
                raise NoModelError(
                    f"dataset {quote_value(dataset)} has no published model yet (training has not "
                    "finished, or every upload failed: see its failures)"
                )
            raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}")
        if entry is not None and entry.model.version == pointer.version:
            entry.checked_at = now
            return entry.model
        try:
            model = self._build(dataset, pointer.version, warm=entry is not None)
        except ArtifactError as e:
            if entry is None:
                raise
            if entry.refused.get(pointer.version) != str(e):
                logger.error(
                    "refused new version, still serving the last good one",
                    extra={
                        "dataset": dataset,
                        "refused_version": pointer.version,
                        "version": entry.model.version,
                        "error": str(e),
                    },
                )
            entry.refused[pointer.version] = str(e)
            entry.checked_at = now
            return entry.model
        if names is None:  # the store is out: the names the previous model was serving
            names = entry.model.person_names if entry is not None else {}
        model.set_person_names(names)
        previous = entry.model.version if entry is not None else None
        self._entries[dataset] = _Entry(model=model, checked_at=now)
        logger.info(
            "serving version",
            extra={"dataset": dataset, "version": model.version, "previous_version": previous},
        )
        return model

    def _build(self, dataset: str, version: str, *, warm: bool) -> SegmentationModel:
        """Open a version; warm it (load every artifact assignment needs) when ``warm``."""
        try:
            model = SegmentationModel.open(self.store, dataset, version)
        except VersionNotFoundError as e:
            raise ArtifactError(
                f"current.json of dataset {quote_value(dataset)} points at version "
                f"{quote_value(version)}, which has "
                "no manifest; refusing it"
            ) from e
        if warm:
            # A switch never serves a half-loaded model: everything the champion needs is
            # loaded (and verified) before the new version replaces the old one.
            model.warm()
        return model

    def _dataset_exists(self, dataset: str) -> bool:
        return bool(self.store.list_children(ModelLayout.dataset(dataset)))
