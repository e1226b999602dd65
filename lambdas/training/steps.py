"""The training state machine's task function: one handler, one step per call.

Each Task state of the state machine (``infra/constructs/workflow.py``) invokes this function
with ``{"step": "prepare" | "fit" | "assign" | "reduce" | "fail", "run": <RunTicket>, ...}``;
the work itself is :class:`shared.training.workflow.WorkflowSteps`. A step that raises fails
its Task state (Lambda reports the exception's type and message), and the state machine's
``Catch`` sends the run to ``fail``, which writes the failure report.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared.settings import get_settings
from shared.store.s3 import build_model_store, build_raw_reader
from shared.training.workflow import RunTicket, WorkflowSteps

__all__ = ["STEPS", "configure", "handler"]

STEPS = ("prepare", "fit", "assign", "reduce", "fail")
"""The steps this function runs (the state machine's Task states)."""

logger = Logger()
_steps: WorkflowSteps | None = None


def configure(steps: WorkflowSteps | None) -> None:
    """Use ``steps`` for the next invocations (tests); ``None`` rebuilds from the settings."""
    global _steps
    _steps = steps


def _get_steps() -> WorkflowSteps:
    global _steps
    if _steps is None:
        settings = get_settings()
        _steps = WorkflowSteps(
            store=build_model_store(settings),
            raw=build_raw_reader(settings),
            max_upload_bytes=settings.max_upload_bytes,
            keep_versions=settings.keep_versions,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        )
    return _steps


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the step ``event["step"]`` of the run ``event["run"]``; answer its JSON result."""
    step = event.get("step")
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    ticket = RunTicket.model_validate(event["run"])
    steps = _get_steps()
    logger.info("step %s of %s/%s", step, ticket.dataset, ticket.version)
    if step == "prepare":
        return steps.prepare(ticket)
    if step == "fit":
        return steps.fit(ticket, event["prepared"])
    if step == "assign":
        return steps.assign(ticket, event["part"], event.get("format"))
    if step == "reduce":
        return steps.reduce(ticket, event["prepared"])
    return steps.fail(ticket, event.get("error") or {})
