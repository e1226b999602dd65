"""The training state machine: Prepare -> Fit -> Distributed Map (assign parts) -> Reduce.

Uploads of at least ``WORKFLOW_MIN_BYTES`` are handed here by the training function (see
``shared/training/workflow.py``). Every Task state invokes the step function (the training
image with the command ``lambdas.training.steps.handler``) with ``{"step": ..., "run": ...}``:

- ``Prepare``: pass 1 over the upload (hash sample, row-aligned part files);
- ``Fit``: the models on the sample;
- ``Assign``: a **Distributed Map** over the part list (``ItemsPath``), one child workflow per
  part, ``MaxConcurrency`` = ``map_concurrency`` (default 4: a new account's Lambda
  concurrency of 10 keeps room for the API and the training function);
- ``Reduce``: merge the parts' statistics, publish the version (manifest last,
  ``current.json`` by compare-and-swap), release the claim.

Each Task retries Lambda's transient service errors; any failure is caught into ``Fail``
(the failure report, the claim released), then the execution fails. The execution times out
after ``timeout_hours``, the lifetime of the run's claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.function import image_function
from infra.nag import acknowledge

__all__ = ["STEPS_HANDLER", "TrainingWorkflow", "training_definition"]

#: Image command of the step function (lambdas/training/steps.py:handler).
STEPS_HANDLER = "lambdas.training.steps.handler"


class TrainingWorkflow(Construct):
    """The step function and the state machine that drives it.

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    image
        The training image (the step function runs the same code).
    environment
        Environment of the step function (the stack's training environment).
    memory_mb
        Step function memory: 3,008 MB (a new account's limit) by default.
    map_concurrency
        Parts assigned at the same time (Distributed Map ``MaxConcurrency``).
    timeout_hours
        Execution timeout (also how long the run's claim holds).
    log_level, allow_destroy
        As for the other functions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecr_assets.DockerImageAsset,
        environment: Mapping[str, str],
        memory_mb: int = 3008,
        map_concurrency: int = 4,
        timeout_hours: int = 6,
        log_level: str = "INFO",
        allow_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if map_concurrency < 1:
            raise ValueError(f"map_concurrency={map_concurrency} must be >= 1")
        removal = RemovalPolicy.DESTROY if allow_destroy else RemovalPolicy.RETAIN
        self.log_group, self.role, self.function = image_function(
            self,
            image=image,
            handler=STEPS_HANDLER,
            description="Steps of a distributed training run (lambdas/training/steps.py).",
            role_description="Training steps: read raw uploads, write model versions.",
            memory_mb=memory_mb,
            timeout=Duration.minutes(15),
            environment=environment,
            removal=removal,
            log_level=log_level,
        )
        self.map_concurrency = map_concurrency

        self.state_machine_logs = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=removal,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                training_definition(self, self.function, map_concurrency=map_concurrency)
            ),
            timeout=Duration.hours(timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.state_machine_logs, level=sfn.LogLevel.ALL),
        )
        self.timeout_hours = timeout_hours
        self._acknowledge_grants()

    def _acknowledge_grants(self) -> None:
        """cdk-nag IAM5 findings on the grants Step Functions adds by itself (ids computed
        from the logical ids, never written by hand)."""
        stack = Stack.of(self)
        function_id = stack.get_logical_id(self.function.node.default_child)  # type: ignore[arg-type]
        machine_id = stack.get_logical_id(self.state_machine.node.default_child)  # type: ignore[arg-type]
        name = '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"' + machine_id + '"}]}]}'
        executions = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}"
        findings = {
            f"<{function_id}.Arn>:*": "invoking any version of the step function (LambdaInvoke)",
            "*": "X-Ray segments and log delivery, which take no resource",
            f"{executions}:*": "the Distributed Map describes/stops its own executions",
            f"{executions}/*:*": "the Distributed Map's child executions of this state machine",
        }
        for resource, reason in findings.items():
            acknowledge(
                self.state_machine,
                f"AwsSolutions-IAM5[Resource::{resource}]",
                f"Granted by Step Functions itself: {reason}.",
            )


def training_definition(
    scope: Construct, function: lambda_.IFunction, *, map_concurrency: int
) -> sfn.IChainable:
    """The states (Prepare -> Prepared -> Fit -> Assign (Distributed Map) -> Reduce, each
    caught into Fail), every Task invoking ``function``. Tests synthesize it with a stand-in
    function and run it in moto's Step Functions interpreter."""

    def step(name: str, payload: dict[str, object], **options: Any) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            scope,
            name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            retry_on_service_exceptions=True,
            **options,
        )

    run = sfn.JsonPath.object_at("$.run")
    prepared = sfn.JsonPath.object_at("$.prepared")
    prepare = step(
        "Prepare",
        {"step": "prepare", "run": run},
        result_selector={"value": sfn.JsonPath.object_at("$.Payload")},
        result_path="$.prepared_result",
    )
    # Keep the state small: {"run", "prepared"} (the part list, the CSV format, the sample).
    unwrap = sfn.Pass(
        scope,
        "Prepared",
        parameters={"run": run, "prepared": sfn.JsonPath.object_at("$.prepared_result.value")},
    )
    fit = step(
        "Fit", {"step": "fit", "run": run, "prepared": prepared}, result_path=sfn.JsonPath.DISCARD
    )
    assign_part = step(
        "AssignPart",
        {
            "step": "assign",
            "run": sfn.JsonPath.object_at("$.run"),
            "part": sfn.JsonPath.object_at("$.part"),
            "format": sfn.JsonPath.object_at("$.format"),
        },
        output_path="$.Payload",
    )
    assign = sfn.DistributedMap(
        scope,
        "Assign",
        items_path=sfn.JsonPath.string_at("$.prepared.parts"),
        item_selector={
            "run": sfn.JsonPath.object_at("$.run"),
            "format": sfn.JsonPath.object_at("$.prepared.format"),
            "part": sfn.JsonPath.object_at("$$.Map.Item.Value"),
        },
        max_concurrency=map_concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
    assign.item_processor(assign_part)
    reduce = step(
        "Reduce", {"step": "reduce", "run": run, "prepared": prepared}, output_path="$.Payload"
    )
    fail = step(
        "Fail",
        {"step": "fail", "run": run, "error": sfn.JsonPath.object_at("$.error")},
        result_path=sfn.JsonPath.DISCARD,
    )
    fail.next(sfn.Fail(scope, "TrainingFailed", cause="a step failed; see the failure report"))
    for state in (prepare, fit, assign, reduce):
        state.add_catch(fail, errors=["States.ALL"], result_path="$.error")
    return prepare.next(unwrap).next(fit).next(assign).next(reduce)
