"""``datasets/<dataset>/names.json``: segment names set by people, keyed by stable segment id.

Stable ids (``shared.engine.segment_ids``) name one group of customers across the models and
versions of a dataset, so a name set once follows the group through every retrain. The overlay
is a layer of its own, beside the versions: a retrain never touches it and it never touches a
version.

Name precedence (:data:`NAME_PRECEDENCE`): a person's name, then a known-group label, then an
RFM name, then the generated name; :func:`resolve_name` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import Field, field_validator

from shared.contract.documents import Document

__all__ = [
    "MAX_NAME_CHARS",
    "NAME_PATTERN",
    "NAME_PRECEDENCE",
    "PersonName",
    "SegmentNames",
    "clean_segment_name",
    "resolve_name",
]

MAX_NAME_CHARS = 80
"""Longest segment name a person may set (it is a card title and a CSV value)."""

NAME_PATTERN = r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"
"""What a name may be, as a JSON-schema pattern: no control character, not only spaces."""

NAME_PRECEDENCE = ("person", "known_group", "rfm", "generated")
"""Where a segment's shown name comes from, strongest first."""


def clean_segment_name(value: str) -> str:
    """A name as stored: inner whitespace collapsed, 1..:data:`MAX_NAME_CHARS` printable chars.

    Raises
    ------
    ValueError
        Empty, too long, or holding control characters (the message says which).

    Examples
    --------
    >>> clean_segment_name("  Weekend   shoppers ")
    'Weekend shoppers'
    """
    text = " ".join(str(value).split())
    if not text:
        raise ValueError("a segment name cannot be empty")
    if len(text) > MAX_NAME_CHARS:
        raise ValueError(f"a segment name has at most {MAX_NAME_CHARS} characters, not {len(text)}")
    if any(ch < " " or ch == "\x7f" for ch in text):
        raise ValueError("a segment name cannot hold control characters")
    return text


class PersonName(Document):
    """One name a person set."""

    name: str
    set_at: datetime
    set_by: str | None = Field(default=None, description="Who set it, when known.")

    @field_validator("name")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_segment_name(value)


class SegmentNames(Document):
    """The overlay of one dataset: segment id (as text, JSON keys are strings) -> name."""

    dataset: str
    names: dict[str, PersonName] = Field(default_factory=dict)

    def name_of(self, segment_id: int) -> str | None:
        """The person's name of a segment, or None."""
        entry = self.names.get(str(segment_id))
        return entry.name if entry is not None else None


def resolve_name(candidates: Mapping[str, str | None]) -> tuple[str, str]:
    """The name shown and where it comes from, by :data:`NAME_PRECEDENCE`.

    ``candidates`` maps a source (``person``, ``known_group``, ``rfm``, ``generated``) to its
    name or None; unknown sources are ignored.

    Raises
    ------
    ValueError
        When no source has a name.

    Examples
    --------
    >>> resolve_name({"generated": "High income", "person": "VIP"})
    ('VIP', 'person')
    >>> resolve_name({"generated": "High income", "rfm": "Champions", "person": None})
    ('Champions', 'rfm')
    """
    for source in NAME_PRECEDENCE:
        name = candidates.get(source)
        if name:
            return name, source
    raise ValueError(f"no name among {sorted(candidates)}")
