"""cdk-nag acknowledgments: one helper so every suppression carries a rule id and a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

__all__ = ["acknowledge"]


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge (suppress) one cdk-nag finding on ``construct`` and its children.

    Parameters
    ----------
    construct
        Where the finding is reported (or an ancestor of it).
    rule_id
        The finding id, e.g. ``AwsSolutions-S1`` or ``AwsSolutions-IAM5[Resource::*]``.
    reason
        Why the finding does not apply here; shown in the validation report.

    Examples
    --------
    >>> from aws_cdk import Stack
    >>> acknowledge(Stack(), "AwsSolutions-S1", "the log bucket cannot log into itself")
    """
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledgment of {rule_id} needs a specific reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
