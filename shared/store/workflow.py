"""Starting the training state machine (Step Functions): the only Step Functions client code.

Examples
--------
>>> StepFunctionsStarter("arn:aws:states:us-east-1:123456789012:stateMachine:t").state_machine_arn
'arn:aws:states:us-east-1:123456789012:stateMachine:t'
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Protocol

from shared.exceptions import TransientStoreError

__all__ = ["StepFunctionsStarter", "WorkflowStarter", "execution_name"]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class WorkflowStarter(Protocol):
    """Starts one distributed training run; returns its execution id."""

    def start(self, name: str, run: dict[str, Any]) -> str: ...


def execution_name(dataset: str, version: str) -> str:
    """An execution name (at most 80 of ``A-Za-z0-9-_``) unique per dataset version: a second
    start of the same version is refused by Step Functions instead of running twice.

    Examples
    --------
    >>> execution_name("mall", "20250301T120000Z-0123456789")
    'mall-20250301T120000Z-0123456789'
    """
    return _UNSAFE.sub("_", f"{dataset}-{version}")[:80]


class StepFunctionsStarter:
    """:class:`WorkflowStarter` over a Step Functions state machine (client built lazily)."""

    def __init__(self, state_machine_arn: str, *, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def start(self, name: str, run: dict[str, Any]) -> str:
        """Start an execution named ``name`` with input ``{"run": run}``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps({"run": run}),
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                logger.info("execution %s already exists: the run is under way", name)
                return f"{self.state_machine_arn}:{name}"
            raise TransientStoreError(f"could not start the training state machine: {e}") from e
        except BotoCoreError as e:
            raise TransientStoreError(f"could not start the training state machine: {e}") from e
        return str(answer["executionArn"])
