"""Alarms (DLQ depth, queue age, function errors and throttles, API 5xx) and stack outputs."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized


def _alarm(s: Synthesized, name: str) -> dict[str, Any]:
    props: dict[str, Any] = s.resource(s.stack.monitoring.alarms[name])["Properties"]
    return props


def _dimension(props: dict[str, Any]) -> dict[str, Any]:
    (dimension,) = props["Dimensions"]
    value: dict[str, Any] = dimension
    return value


def test_alarm_set(prod: Synthesized) -> None:
    assert set(prod.stack.monitoring.alarms) == {
        "DeadLetterQueueDepth",
        "IngestQueueAge",
        "TrainingErrors",
        "TrainingThrottles",
        "ApiErrors",
        "ApiThrottles",
        "ApiServerErrors",
    }
    prod.template.resource_count_is("AWS::CloudWatch::Alarm", 7)


def test_every_alarm_notifies_the_topic(prod: Synthesized) -> None:
    topic = {"Ref": prod.logical_id(prod.stack.monitoring.topic)}
    for name in prod.stack.monitoring.alarms:
        props = _alarm(prod, name)
        assert props["AlarmActions"] == [topic], name
        assert props["TreatMissingData"] == "notBreaching", name


def test_dead_letter_queue_depth(prod: Synthesized) -> None:
    props = _alarm(prod, "DeadLetterQueueDepth")
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    dlq = prod.logical_id(prod.stack.training.dead_letter_queue)
    assert _dimension(props) == {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


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
