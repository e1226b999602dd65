"""Alarms (queues, training runs, functions, API), the topic they notify, and stack outputs."""

from __future__ import annotations

from typing import Any

import pytest

from infra.constructs.monitoring import (
    CLOUDWATCH_PRINCIPAL,
    NEAR_TIMEOUT_SHARE,
    TRAINING_METRICS_NAMESPACE,
)
from tests.infra.conftest import Synthesized

ALARMS = {
    "DeadLetterQueueDepth",
    "DeadLetterQueueGrowth",
    "DeadLetterQueueAge",
    "IngestQueueAge",
    "TrainingRunsFailed",
    "TrainingRunsErrored",
    "TrainingNearTimeout",
    "TrainingErrors",
    "TrainingThrottles",
    "ApiErrors",
    "ApiThrottles",
    "ApiServerErrors",
    "ApiLatencyP99",
}
#: Alarms that also say when the condition is over (state alarms, not event counts).
NOTIFY_OK = {"DeadLetterQueueDepth", "DeadLetterQueueAge", "IngestQueueAge", "ApiLatencyP99"}


def _alarm(s: Synthesized, name: str) -> dict[str, Any]:
    props: dict[str, Any] = s.resource(s.stack.monitoring.alarms[name])["Properties"]
    return props


def _dimension(props: dict[str, Any]) -> dict[str, Any]:
    (dimension,) = props["Dimensions"]
    value: dict[str, Any] = dimension
    return value


def test_alarm_set(prod: Synthesized) -> None:
    assert set(prod.stack.monitoring.alarms) == ALARMS
    prod.template.resource_count_is("AWS::CloudWatch::Alarm", len(ALARMS))


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_alarm_action_reaches_the_topic(prod: Synthesized, name: str) -> None:
    topic = {"Ref": prod.logical_id(prod.stack.monitoring.topic)}
    props = _alarm(prod, name)
    assert props["AlarmActions"] == [topic]
    assert props.get("ActionsEnabled", True) is True
    assert props["TreatMissingData"] == "notBreaching"
    if name in NOTIFY_OK:
        assert props["OKActions"] == [topic]
    else:
        assert "OKActions" not in props


def _topic_statements(s: Synthesized) -> list[dict[str, Any]]:
    topic = {"Ref": s.logical_id(s.stack.monitoring.topic)}
    policies = [
        p["Properties"]
        for p in s.template.find_resources("AWS::SNS::TopicPolicy").values()
        if topic in p["Properties"]["Topics"]
    ]
    assert len(policies) == 1
    statements: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    return statements


def test_topic_policy_lets_cloudwatch_alarms_of_this_account_publish(prod: Synthesized) -> None:
    """A topic policy replaces SNS's default one: without this grant no alarm can notify."""
    topic = {"Ref": prod.logical_id(prod.stack.monitoring.topic)}
    allows = [s for s in _topic_statements(prod) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": CLOUDWATCH_PRINCIPAL}
    assert CLOUDWATCH_PRINCIPAL == "cloudwatch.amazonaws.com"
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == topic
    condition = allow["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert condition["ArnLike"] == {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":cloudwatch:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":alarm:*",
                ],
            ]
        }
    }


def test_topic_policy_still_denies_publishing_without_tls(prod: Synthesized) -> None:
    denies = [s for s in _topic_statements(prod) if s["Effect"] == "Deny"]
    assert len(denies) == 1
    (deny,) = denies
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topic_key_lets_cloudwatch_encrypt(prod: Synthesized) -> None:
    key = prod.resource(prod.stack.monitoring.key)["Properties"]
    grants = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": CLOUDWATCH_PRINCIPAL}
    ]
    assert len(grants) == 1
    assert set(grants[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_dead_letter_queue_depth(prod: Synthesized) -> None:
    props = _alarm(prod, "DeadLetterQueueDepth")
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    dlq = prod.logical_id(prod.stack.training.dead_letter_queue)
    assert _dimension(props) == {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letter_queue_growth_notifies_again(prod: Synthesized) -> None:
    """The depth alarm stays in ALARM while messages wait; growth fires for each new one."""
    props = _alarm(prod, "DeadLetterQueueGrowth")
    expression, metric = sorted(props["Metrics"], key=lambda m: "Expression" not in m)
    assert expression["Expression"] == f"DIFF({metric['Id']})"
    assert expression["ReturnData"] is True
    stat = metric["MetricStat"]
    assert stat["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    dlq = prod.logical_id(prod.stack.training.dead_letter_queue)
    assert stat["Metric"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    ]
    assert stat["Stat"] == "Maximum"
    assert metric["ReturnData"] is False
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letter_queue_age_reminds_before_retention_ends(prod: Synthesized) -> None:
    props = _alarm(prod, "DeadLetterQueueAge")
    assert props["MetricName"] == "ApproximateAgeOfOldestMessage"
    dlq = prod.resource(prod.stack.training.dead_letter_queue)["Properties"]
    assert props["Threshold"] == 7 * 24 * 3600 < dlq["MessageRetentionPeriod"]


@pytest.mark.parametrize(
    ("alarm", "metric"),
    [("TrainingRunsFailed", "TrainingFailed"), ("TrainingRunsErrored", "TrainingErrored")],
)
def test_failed_training_runs(prod: Synthesized, alarm: str, metric: str) -> None:
    props = _alarm(prod, alarm)
    assert props["Namespace"] == TRAINING_METRICS_NAMESPACE
    assert props["MetricName"] == metric
    env = prod.resource(prod.stack.training.function)["Properties"]["Environment"]["Variables"]
    assert _dimension(props) == {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}
    assert props["Statistic"] == "Sum"
    assert props["Threshold"] == 1


def test_training_metric_names_are_the_ones_the_handler_emits() -> None:
    import inspect

    from lambdas.training import runner

    assert runner.METRICS_NAMESPACE == TRAINING_METRICS_NAMESPACE
    assert runner._STATUS_METRICS["failed"] == "TrainingFailed"
    assert 'name="TrainingErrored"' in inspect.getsource(runner)


def test_training_near_timeout(prod: Synthesized) -> None:
    props = _alarm(prod, "TrainingNearTimeout")
    function = prod.resource(prod.stack.training.function)["Properties"]
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == "Duration"
    assert props["Statistic"] == "Maximum"
    assert _dimension(props) == {
        "Name": "FunctionName",
        "Value": {"Ref": prod.logical_id(prod.stack.training.function)},
    }
    assert props["Threshold"] == function["Timeout"] * 1000 * NEAR_TIMEOUT_SHARE
    assert props["Threshold"] < function["Timeout"] * 1000


def test_api_latency_p99(prod: Synthesized) -> None:
    props = _alarm(prod, "ApiLatencyP99")
    assert props["Namespace"] == "AWS/ApiGateway"
    assert props["MetricName"] == "Latency"
    assert props["ExtendedStatistic"] == "p99"
    assert props["Threshold"] == 5000
    assert props["EvaluationPeriods"] == 3


def test_queue_age_alarm_beyond_a_few_training_runs(prod: Synthesized) -> None:
    props = _alarm(prod, "IngestQueueAge")
    assert props["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert props["Threshold"] == 4 * 15 * 60


def test_function_errors_and_throttles(prod: Synthesized) -> None:
    for name, function in (
        ("Training", prod.stack.training.function),
        ("Api", prod.stack.api.function),
    ):
        for metric in ("Errors", "Throttles"):
            props = _alarm(prod, f"{name}{metric}")
            assert props["Namespace"] == "AWS/Lambda"
            assert props["MetricName"] == metric
            assert props["Statistic"] == "Sum"
            assert _dimension(props) == {
                "Name": "FunctionName",
                "Value": {"Ref": prod.logical_id(function)},
            }


def test_api_5xx(prod: Synthesized) -> None:
    props = _alarm(prod, "ApiServerErrors")
    assert props["Namespace"] == "AWS/ApiGateway"
    assert props["MetricName"] == "5xx"
    assert _dimension(props) == {
        "Name": "ApiId",
        "Value": {"Ref": prod.logical_id(prod.stack.api.http_api)},
    }


def test_topic_is_encrypted_and_email_is_optional(prod: Synthesized, dev: Synthesized) -> None:
    topic = prod.resource(prod.stack.monitoring.topic)["Properties"]
    key_arn = {"Fn::GetAtt": [prod.logical_id(prod.stack.monitoring.key), "Arn"]}
    assert topic["KmsMasterKeyId"] == key_arn
    prod.template.resource_count_is("AWS::SNS::Subscription", 0)
    dev.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_outputs(prod: Synthesized) -> None:
    outputs = prod.raw["Outputs"]
    storage = prod.stack.storage
    assert outputs["RawBucketName"]["Value"] == {"Ref": prod.logical_id(storage.raw_bucket)}
    assert outputs["ModelsBucketName"]["Value"] == {"Ref": prod.logical_id(storage.models_bucket)}
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::GetAtt": [prod.logical_id(prod.stack.api.http_api), "ApiEndpoint"]
    }
    for name in ("UserPoolId", "ReaderClientId", "AdminClientId", "TokenUrl", "AlarmTopicArn"):
        assert name in outputs
    assert outputs["TrainingLogGroupName"]["Value"] == {
        "Ref": prod.logical_id(prod.stack.training.log_group)
    }
