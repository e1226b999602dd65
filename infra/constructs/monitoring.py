"""Monitoring: CloudWatch alarms on the pipeline and the API, published to one SNS topic."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = ["Monitoring"]

_FIVE_MINUTES = Duration.minutes(5)


class Monitoring(Construct):
    """Alarms -> encrypted SNS topic (optionally with an e-mail subscription).

    One alarm per failure signal, each firing on the first occurrence in five minutes:

    - ``DeadLetterQueueDepth``: an upload failed ``max_receive_count`` times;
    - ``IngestQueueAge``: the oldest upload has waited longer than ``max_queue_age``;
    - ``<name>Errors`` / ``<name>Throttles`` for every function in ``functions``;
    - ``ApiServerErrors``: the HTTP API answered 5xx.

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    dead_letter_queue, ingest_queue
        The training queues.
    functions
        Functions to watch, by a short name used in alarm ids (``Training``, ``Api``).
    http_api
        The HTTP API whose 5xx responses are watched.
    max_queue_age
        Age of the oldest ingest message that counts as stuck.
    alarm_email
        Optional e-mail address subscribed to the topic.
    allow_destroy
        Delete the topic's key with the stack (dev stacks).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dead_letter_queue: sqs.IQueue,
        ingest_queue: sqs.IQueue,
        functions: Mapping[str, lambda_.IFunction],
        http_api: apigwv2.IHttpApi,
        max_queue_age: Duration,
        alarm_email: str = "",
        allow_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so the
        # topic gets its own key with a grant for the CloudWatch service.
        self.key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the segments alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY if allow_destroy else RemovalPolicy.RETAIN,
        )
        self.key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Customer segments alarms", master_key=self.key
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowPublishThroughSSLOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "DeadLetterQueueDepth",
            dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=_FIVE_MINUTES, statistic="Maximum"
            ),
            "An upload failed training repeatedly and is in the dead-letter queue.",
        )
        self._alarm(
            "IngestQueueAge",
            ingest_queue.metric_approximate_age_of_oldest_message(
                period=_FIVE_MINUTES, statistic="Maximum"
            ),
            f"An upload has waited more than {max_queue_age.to_minutes()} minutes for training.",
            threshold=max_queue_age.to_seconds(),
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=_FIVE_MINUTES, statistic="Sum"),
                f"The {name.lower()} function raised errors.",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=_FIVE_MINUTES, statistic="Sum"),
                f"The {name.lower()} function was throttled.",
            )
        self._alarm(
            "ApiServerErrors",
            http_api.metric_server_error(period=_FIVE_MINUTES, statistic="Sum"),
            "The HTTP API answered with 5xx.",
        )

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm
