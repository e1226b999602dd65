"""Least privilege: who may read and write which bucket keys."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam

from tests.infra.conftest import Synthesized


def _statements(s: Synthesized, role: iam.IRole) -> list[dict[str, Any]]:
    role_id = s.logical_id(role)
    policies = s.template.find_resources("AWS::IAM::Policy")
    statements = [
        st
        for p in policies.values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements, f"no policy attached to {role.node.path}"
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _object_arn(s: Synthesized, bucket: Any, key: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [s.logical_id(bucket), "Arn"]}, f"/{key}"]]}


def _grants(s: Synthesized, role: iam.IRole) -> set[tuple[str, str]]:
    """(action, resource) pairs, resources rendered as JSON text for comparison."""
    import json

    return {
        (action, json.dumps(resource, sort_keys=True))
        for st in _statements(s, role)
        if st["Effect"] == "Allow"
        for action in _actions(st)
        for resource in _resources(st)
    }


def _pair(action: str, resource: Any) -> tuple[str, str]:
    import json

    return (action, json.dumps(resource, sort_keys=True))


def test_no_wildcard_actions_or_resources(prod: Synthesized) -> None:
    for role in (prod.stack.training.role, prod.stack.api.role):
        for st in _statements(prod, role):
            assert not any(a.endswith(":*") or a == "*" for a in _actions(st)), st
            assert "*" not in _resources(st), st


def test_no_aws_managed_policies_on_our_roles(prod: Synthesized) -> None:
    for role in (prod.stack.training.role, prod.stack.api.role):
        assert "ManagedPolicyArns" not in prod.resource(role)["Properties"]


def test_training_reads_raw_and_writes_models(prod: Synthesized) -> None:
    storage = prod.stack.storage
    raw, models = storage.raw_bucket, storage.models_bucket
    grants = _grants(prod, prod.stack.training.role)
    for key in ("uploads/*", "configs/*", "score/*"):
        assert _pair("s3:GetObject", _object_arn(prod, raw, key)) in grants
        assert _pair("s3:PutObject", _object_arn(prod, raw, key)) not in grants
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert _pair(action, _object_arn(prod, models, "datasets/*")) in grants
    raw_writes = [
        g
        for g in grants
        if g[0] in {"s3:PutObject", "s3:DeleteObject"} and prod.logical_id(raw) in g[1]
    ]
    assert raw_writes == []


def test_training_consumes_only_its_queue(prod: Synthesized) -> None:
    grants = _grants(prod, prod.stack.training.role)
    queue_arn = {"Fn::GetAtt": [prod.logical_id(prod.stack.training.queue), "Arn"]}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert _pair(action, queue_arn) in grants
    assert not [g for g in grants if g[0] == "sqs:SendMessage"]


def test_api_reads_models_and_may_write_only_current_pointer_promotions_and_names(
    prod: Synthesized,
) -> None:
    storage = prod.stack.storage
    grants = _grants(prod, prod.stack.api.role)
    models, raw = storage.models_bucket, storage.raw_bucket
    assert _pair("s3:GetObject", _object_arn(prod, models, "datasets/*")) in grants
    writes = {g for g in grants if g[0] in {"s3:PutObject", "s3:DeleteObject"}}
    assert writes == {
        _pair("s3:PutObject", _object_arn(prod, models, "datasets/*/current.json")),
        _pair("s3:PutObject", _object_arn(prod, models, "datasets/*/promotions/*")),
        _pair("s3:PutObject", _object_arn(prod, models, "datasets/*/names.json")),
        # The browser uploads it signs (presigned POST, one key, size-capped).
        _pair("s3:PutObject", _object_arn(prod, raw, "uploads/*")),
        # presigned uploads of files to score (POST /datasets/{d}/score-jobs)
        _pair("s3:PutObject", _object_arn(prod, raw, "score/*")),
    }
    raw_grants = {g for g in grants if prod.logical_id(raw) in g[1]}
    assert raw_grants == {
        _pair("s3:PutObject", _object_arn(prod, raw, "uploads/*")),
        _pair("s3:PutObject", _object_arn(prod, raw, "score/*")),
    }
    assert not [g for g in grants if g[0].startswith("sqs:")]
