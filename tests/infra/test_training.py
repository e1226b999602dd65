"""Upload notifications -> ingest queue (+DLQ) -> training function (container image)."""

from __future__ import annotations

from typing import Any

from infra.config import FRESH_ACCOUNT_MEMORY_MB, DeploymentConfig
from infra.constructs.training import TRAINING_HANDLER
from infra.stack import NOTIFIED_PREFIXES, UPLOAD_PREFIX, UPLOAD_SUFFIXES
from shared.settings import Settings
from tests.infra.conftest import Synthesized

DEFAULTS = DeploymentConfig()


def _function(s: Synthesized) -> dict[str, Any]:
    props: dict[str, Any] = s.resource(s.stack.training.function)["Properties"]
    return props


def test_notification_filters_uploads_by_suffix(prod: Synthesized) -> None:
    notifications = prod.template.find_resources("Custom::S3BucketNotifications")
    assert len(notifications) == 1
    props = next(iter(notifications.values()))["Properties"]
    assert props["BucketName"] == {"Ref": prod.logical_id(prod.stack.storage.raw_bucket)}
    configs = props["NotificationConfiguration"]["QueueConfigurations"]
    queue_arn = {"Fn::GetAtt": [prod.logical_id(prod.stack.training.queue), "Arn"]}
    filters = set()
    for config in configs:
        assert config["Events"] == ["s3:ObjectCreated:*"]
        assert config["QueueArn"] == queue_arn
        rules = {r["Name"]: r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}
        filters.add((rules["prefix"], rules["suffix"]))
    suffixes = {".csv", ".csv.gz", ".parquet", ".CSV", ".CSV.GZ", ".PARQUET"}
    assert filters == {(p, suffix) for p in ("uploads/", "score/") for suffix in suffixes}
    assert {(p, s) for p in NOTIFIED_PREFIXES for s in UPLOAD_SUFFIXES} == filters
    assert UPLOAD_PREFIX in NOTIFIED_PREFIXES
    assert "LambdaFunctionConfigurations" not in props["NotificationConfiguration"]


def test_queue_allows_only_the_raw_bucket_to_send(prod: Synthesized) -> None:
    queue_id = prod.logical_id(prod.stack.training.queue)
    policies = prod.template.find_resources("AWS::SQS::QueuePolicy")
    statements = [
        s
        for p in policies.values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert len(statements) == 1
    allow = statements[0]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "sqs:SendMessage" in allow["Action"]
    raw_arn = {"Fn::GetAtt": [prod.logical_id(prod.stack.storage.raw_bucket), "Arn"]}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == raw_arn


def test_queue_is_encrypted_with_visibility_six_times_training_timeout(prod: Synthesized) -> None:
    queue = prod.resource(prod.stack.training.queue)["Properties"]
    timeout = _function(prod)["Timeout"]
    assert timeout == DEFAULTS.training_timeout_minutes * 60
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["SqsManagedSseEnabled"] is True


def test_dead_letter_queue_after_five_receives(prod: Synthesized) -> None:
    queue = prod.resource(prod.stack.training.queue)["Properties"]
    dlq_id = prod.logical_id(prod.stack.training.dead_letter_queue)
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    # AWS suggests >= 5 for Lambda event sources: throttled receives also count.
    assert redrive["maxReceiveCount"] == 5
    # The function knows the limit: its last delivery writes a failure report before it starts.
    env = _function(prod)["Environment"]["Variables"]
    assert env["MAX_RECEIVE_COUNT"] == str(redrive["maxReceiveCount"])
    assert Settings().max_receive_count == redrive["maxReceiveCount"]  # the default agrees
    dlq = prod.resource(prod.stack.training.dead_letter_queue)["Properties"]
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_event_source_reads_one_message_with_partial_failures(prod: Synthesized) -> None:
    prod.template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    prod.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [prod.logical_id(prod.stack.training.queue), "Arn"]},
            "FunctionName": {"Ref": prod.logical_id(prod.stack.training.function)},
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": DEFAULTS.training_max_concurrency},
        },
    )


def test_training_function_is_an_image_with_its_own_command(prod: Synthesized) -> None:
    props = _function(prod)
    assert props["PackageType"] == "Image"
    assert props["ImageConfig"] == {"Command": [TRAINING_HANDLER]}
    assert TRAINING_HANDLER == "lambdas.training.handler.handler"
    assert "Handler" not in props
    assert "Runtime" not in props


def test_training_defaults_deploy_on_a_fresh_account(prod: Synthesized) -> None:
    """New accounts allow 3,008 MB per function and cannot reserve concurrency (quota 10)."""
    props = _function(prod)
    assert props["MemorySize"] == 3008 == FRESH_ACCOUNT_MEMORY_MB
    assert "ReservedConcurrentExecutions" not in props
    assert props["Timeout"] == 900
    assert props["EphemeralStorage"] == {"Size": 10240}
    assert props["Architectures"] == ["x86_64"]


def test_memory_and_reserved_concurrency_are_raised_by_context(dev: Synthesized) -> None:
    props = _function(dev)
    assert props["MemorySize"] == 10240
    assert props["ReservedConcurrentExecutions"] == 2


def test_training_environment(prod: Synthesized) -> None:
    env = _function(prod)["Environment"]["Variables"]
    assert env["RAW_BUCKET"] == {"Ref": prod.logical_id(prod.stack.storage.raw_bucket)}
    assert env["MODELS_BUCKET"] == {"Ref": prod.logical_id(prod.stack.storage.models_bucket)}
    assert env["POWERTOOLS_SERVICE_NAME"] == "segments-training"
    assert env["LOG_LEVEL"] == "INFO"
    assert "API_TOKENS" not in env
    assert "ADMIN_TOKENS" not in env


def test_training_logs_json_to_its_own_log_group(prod: Synthesized) -> None:
    props = _function(prod)
    log_group_id = prod.logical_id(prod.stack.training.log_group)
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert prod.resource(prod.stack.training.log_group)["Properties"]["RetentionInDays"] == 30
