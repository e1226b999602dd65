"""Load the real-shaped events of ``events/`` (tests never paste event JSON inline)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["EVENTS_DIR", "load_event", "with_object"]

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return data


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>`` (``.json`` optional)."""
    if not name.endswith(".json"):
        name += ".json"
    return copy.deepcopy(_read(name))


def with_object(event: dict[str, Any], **object_fields: Any) -> dict[str, Any]:
    """An S3 event (direct, or wrapped in SQS bodies) with its object fields replaced.

    ``with_object(event, versionId=real_id)`` points a sample event at an object a test created;
    a value of ``None`` removes the field.
    """

    def patch(s3_event: dict[str, Any]) -> dict[str, Any]:
        for record in s3_event.get("Records", []):
            obj = record["s3"]["object"]
            for name, value in object_fields.items():
                if value is None:
                    obj.pop(name, None)
                else:
                    obj[name] = value
        return s3_event

    event = copy.deepcopy(event)
    for record in event["Records"]:
        if record.get("eventSource") == "aws:sqs":
            record["body"] = json.dumps(patch(json.loads(record["body"])))
    if event["Records"] and event["Records"][0].get("eventSource") == "aws:s3":
        patch(event)
    return event
