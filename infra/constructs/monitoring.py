"""Monitoring: CloudWatch alarms on the pipeline and the API, published to one SNS topic."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
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

__all__ = [
    "CLOUDWATCH_PRINCIPAL",
    "NEAR_TIMEOUT_SHARE",
    "TRAINING_METRICS_NAMESPACE",
    "Monitoring",
    "TrainingMetrics",
]

_FIVE_MINUTES = Duration.minutes(5)
_DEAD_LETTER_MAX_AGE = Duration.days(7)
_API_LATENCY_P99 = Duration.seconds(5)
#: The service that publishes alarm notifications (and needs the topic policy's grant).
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
#: Namespace of the training function's embedded-metric-format metrics
#: (``lambdas/training/runner.py``: ``METRICS_NAMESPACE``; a test keeps the two equal).
TRAINING_METRICS_NAMESPACE = "CustomerSegmentation"
#: A run longer than this share of the function timeout is "near the timeout".
NEAR_TIMEOUT_SHARE = 0.8


class TrainingMetrics:
    """The training function's own metrics (Powertools EMF, dimension ``service``).

    Parameters
    ----------
    service
        ``POWERTOOLS_SERVICE_NAME`` of the training function (the ``service`` dimension).

    Examples
    --------
    >>> TrainingMetrics("segments-training").metric("TrainingFailed").metric_name
    'TrainingFailed'
    """

    def __init__(self, service: str) -> None:
        self.service = service

    def metric(self, name: str) -> cloudwatch.Metric:
        """Sum of ``name`` per five minutes."""
        return cloudwatch.Metric(
            namespace=TRAINING_METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": self.service},
            statistic="Sum",
            period=_FIVE_MINUTES,
        )


class Monitoring(Construct):
    """Alarms -> encrypted SNS topic (optionally with an e-mail subscription).

    Alarms (five-minute periods; each notifies the topic when it goes into ALARM):

    - ``DeadLetterQueueDepth``: an upload failed ``max_receive_count`` times; also notifies when
      the dead-letter queue is empty again (OK action);
    - ``DeadLetterQueueGrowth``: the dead-letter queue grew (metric math ``DIFF`` of its depth),
      so every further failed upload notifies again although the depth alarm is still in ALARM;
    - ``DeadLetterQueueAge``: a dead-lettered upload is older than ``dead_letter_max_age`` and
      will expire from the queue unless someone redrives it;
    - ``IngestQueueAge``: the oldest upload has waited longer than ``max_queue_age`` (+ OK);
    - ``TrainingRunsFailed``: a run published a failure report (the ``TrainingFailed`` metric:
      the upload or its config could not be used);
    - ``TrainingRunsErrored``: a run hit an internal error (``TrainingErrored``): it wrote a
      failure report with the request id whose log has the traceback (or, when not even that
      could be written, the upload is retried); the function's own ``Errors`` metric does not
      count these;
    - ``TrainingNearTimeout``: a run took longer than ``NEAR_TIMEOUT_SHARE`` of the timeout;
    - ``<name>Errors`` / ``<name>Throttles`` for every function in ``functions``;
    - ``ApiServerErrors``: the HTTP API answered 5xx;
    - ``ApiLatencyP99``: the HTTP API's p99 latency stayed above ``api_latency_p99`` for
      three periods (+ OK).

    The topic's policy lets CloudWatch (``cloudwatch.amazonaws.com``) publish, limited to
    alarms of this account (``aws:SourceAccount``) and region (``aws:SourceArn``), and denies
    publishing without TLS. A topic policy replaces SNS's default policy, so without the
    allow statement no alarm could notify.

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    dead_letter_queue, ingest_queue
        The training queues.
    training_function, training_timeout, training_metrics
        The training function, its timeout and its EMF metrics.
    functions
        Functions whose errors and throttles are watched, by a short name used in alarm ids
        (``Training``, ``Api``).
    http_api
        The HTTP API whose 5xx responses and latency are watched.
    max_queue_age
        Age of the oldest ingest message that counts as stuck.
    dead_letter_max_age
        Age of a dead-lettered message worth a reminder (the queue keeps messages 14 days).
    api_latency_p99
        p99 latency of the HTTP API that counts as degraded.
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
        training_function: lambda_.IFunction,
        training_timeout: Duration,
        training_metrics: TrainingMetrics,
        functions: Mapping[str, lambda_.IFunction],
        http_api: apigwv2.IHttpApi,
        max_queue_age: Duration,
        dead_letter_max_age: Duration = _DEAD_LETTER_MAX_AGE,
        api_latency_p99: Duration = _API_LATENCY_P99,
        alarm_email: str = "",
        allow_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
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
            iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Customer segments alarms", master_key=self.key
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                effect=iam.Effect.ALLOW,
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
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
        self.action = cw_actions.SnsAction(self.topic)

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        dead_letters = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=_FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm(
            "DeadLetterQueueDepth",
            dead_letters,
            "An upload failed training repeatedly and is in the dead-letter queue "
            "(OK again once the queue is empty).",
            notify_ok=True,
        )
        self._alarm(
            "DeadLetterQueueGrowth",
            cloudwatch.MathExpression(
                expression="DIFF(dead_letters)",
                using_metrics={"dead_letters": dead_letters},
                label="Messages added to the dead-letter queue",
                period=_FIVE_MINUTES,
            ),
            "Another upload moved to the dead-letter queue.",
        )
        self._alarm(
            "DeadLetterQueueAge",
            dead_letter_queue.metric_approximate_age_of_oldest_message(
                period=_FIVE_MINUTES, statistic="Maximum"
            ),
            f"A dead-lettered upload is older than {dead_letter_max_age.to_days()} days; "
            "redrive or delete it before the queue's retention drops it.",
            threshold=dead_letter_max_age.to_seconds(),
            notify_ok=True,
        )
        self._alarm(
            "IngestQueueAge",
            ingest_queue.metric_approximate_age_of_oldest_message(
                period=_FIVE_MINUTES, statistic="Maximum"
            ),
            f"An upload has waited more than {max_queue_age.to_minutes()} minutes for training.",
            threshold=max_queue_age.to_seconds(),
            notify_ok=True,
        )
        self._alarm(
            "TrainingRunsFailed",
            training_metrics.metric("TrainingFailed"),
            "A training run could not use an upload or its config and wrote a failure report "
            "(datasets/<dataset>/failures/).",
        )
        self._alarm(
            "TrainingRunsErrored",
            training_metrics.metric("TrainingErrored"),
            "A training run hit an internal error: its failure report names the request id whose "
            "log has the traceback (if no report could be written, the upload is retried).",
        )
        near_timeout = training_timeout.to_milliseconds() * NEAR_TIMEOUT_SHARE
        self._alarm(
            "TrainingNearTimeout",
            training_function.metric_duration(period=_FIVE_MINUTES, statistic="Maximum"),
            f"A training run took more than {NEAR_TIMEOUT_SHARE:.0%} of the "
            f"{training_timeout.to_minutes()}-minute timeout: larger uploads will time out "
            "(raise trainingMemoryMb or reduce the upload).",
            threshold=near_timeout,
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
        self._alarm(
            "ApiLatencyP99",
            http_api.metric_latency(period=_FIVE_MINUTES, statistic="p99"),
            f"The HTTP API's p99 latency stayed above {api_latency_p99.to_seconds()} s "
            "for 15 minutes.",
            threshold=api_latency_p99.to_milliseconds(),
            evaluation_periods=3,
            notify_ok=True,
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
        evaluation_periods: int = 1,
        notify_ok: bool = False,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self.action)
        if notify_ok:
            alarm.add_ok_action(self.action)
        self.alarms[name] = alarm
        return alarm
