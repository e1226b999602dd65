"""The training state machine, synthesized by CDK and executed by moto's Step Functions.

How: ``infra.constructs.workflow.training_definition`` is synthesized in a bare stack with a
stand-in function (no Docker image), its ``DefinitionString`` resolved (the function's
``Fn::GetAtt`` -> a moto function ARN), and the state machine created in moto with
``mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda":
{"use_docker": False}})``: moto's ASL interpreter runs every state, including the Distributed
Map, and its ``lambda:invoke`` tasks reach ``LambdaSimpleBackend.invoke``, which this test routes
to ``lambdas.training.steps.handler`` in-process (an exception becomes a Lambda function error,
so the ``Catch`` path runs too). The run is started the way production starts it: by
``TrainingRun`` with a ``StepFunctionsStarter`` on moto's client.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from lambdas.training import steps
from shared.contract.config import DatasetConfig
from shared.contract.layout import ASSIGNMENTS_PATH, PROFILES_PATH, ModelLayout
from shared.engine.streaming import TableSource
from shared.settings import ENV, get_settings
from shared.store.base import read_current
from shared.store.s3 import S3ModelStore, S3RawUploadReader
from shared.store.workflow import StepFunctionsStarter
from shared.training.run import TrainingRun, UploadEvent
from shared.training.streaming import train_streaming
from shared.training.workflow import WorkflowSteps
from tests.support.aws import REGION, FakeLambdaContext, make_local_stack

SAMPLE_ROWS, CHUNK_ROWS = 600, 400
CONFIG = {"algorithms": ["kmeans", "gmm"], "k_max": 4}
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:segments-steps"


def _table(n: int) -> bytes:
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 8.0]])
    group = rng.integers(0, 3, n)
    values = centres[group] + rng.normal(0, 1, (n, 2))
    frame = pd.DataFrame({"customer_id": np.arange(1, n + 1), "income": values[:, 0].round(3) + 50})
    frame["spend"] = values[:, 1].round(3) + 20
    frame["region"] = np.array(["north", "south", "east"])[group]
    return frame.to_csv(index=False).encode()


def _resolve(value: Any, function_id: str) -> Any:
    """A CloudFormation value with only the function's ARN and pseudo parameters in it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_resolve(v, function_id) for v in value]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(p, function_id)) for p in parts)
    if "Fn::GetAtt" in value and value["Fn::GetAtt"] == [function_id, "Arn"]:
        return FUNCTION_ARN
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    if "Ref" in value and value["Ref"] in pseudo:
        return pseudo[value["Ref"]]
    raise AssertionError(f"unexpected CloudFormation value {value}")


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    """The state machine definition as CDK synthesizes it (with a stand-in function)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk.assertions import Template

    from infra.constructs.workflow import training_definition

    stack = Stack(App(), "WorkflowUnderTest")
    function = lambda_.Function(
        stack,
        "Steps",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
    )
    machine = sfn.StateMachine(
        stack,
        "Machine",
        definition_body=sfn.DefinitionBody.from_chainable(
            training_definition(stack, function, map_concurrency=2)
        ),
    )
    resources = Template.from_stack(stack).to_json()["Resources"]
    function_id = stack.get_logical_id(function.node.default_child)  # type: ignore[arg-type]
    machine_id = stack.get_logical_id(machine.node.default_child)  # type: ignore[arg-type]
    text = _resolve(resources[machine_id]["Properties"]["DefinitionString"], function_id)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@dataclass
class Env:
    s3: Any
    sfn: Any
    raw: str
    models: str
    machine_arn: str
    invocations: list[str]


def _invoke(invocations: list[str]) -> Any:
    """``LambdaSimpleBackend.invoke`` routed to the step handler, in this process."""

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, out: Any
    ) -> bytes:
        event = json.loads(body)
        invocations.append(event["step"])
        try:
            answer = steps.handler(event, FakeLambdaContext())
        except Exception as e:  # as Lambda does: a function error with type and message
            out["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}).encode()
        return json.dumps(answer).encode()

    return invoke


@pytest.fixture
def env(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, definition: dict[str, Any]
) -> Iterator[Env]:
    import boto3
    from moto import mock_aws
    from moto.awslambda_simple.models import LambdaSimpleBackend

    invocations: list[str] = []
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", _invoke(invocations))
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        resources = make_local_stack(s3, sqs)
        monkeypatch.setenv(ENV.RAW_BUCKET, resources.raw_bucket)
        monkeypatch.setenv(ENV.MODELS_BUCKET, resources.models_bucket)
        get_settings.cache_clear()
        client = boto3.client("stepfunctions", region_name=REGION)
        machine = client.create_state_machine(
            name="segments-training",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/segments-workflow",
        )
        steps.configure(
            WorkflowSteps(
                store=S3ModelStore(resources.models_bucket, client=s3),
                raw=S3RawUploadReader(resources.raw_bucket, client=s3),
                max_upload_bytes=10**8,
                keep_versions=5,
                sample_rows=SAMPLE_ROWS,
                chunk_rows=CHUNK_ROWS,
            )
        )
        yield Env(
            s3,
            client,
            resources.raw_bucket,
            resources.models_bucket,
            machine["stateMachineArn"],
            invocations,
        )
        steps.configure(None)
    get_settings.cache_clear()


def _train(
    env: Env, key: str, body: bytes, config: dict[str, Any] = CONFIG
) -> tuple[Any, dict[str, Any]]:
    """Upload, let TrainingRun hand it to the state machine, wait for the execution."""
    env.s3.put_object(Bucket=env.raw, Key="configs/shop.json", Body=json.dumps(config).encode())
    env.s3.put_object(Bucket=env.raw, Key=key, Body=body)
    store = S3ModelStore(env.models, client=env.s3)
    run = TrainingRun(
        store=store,
        raw=S3RawUploadReader(env.raw, client=env.s3),
        max_upload_bytes=10**8,
        keep_versions=5,
        workflow=StepFunctionsStarter(env.machine_arn, client=env.sfn),
        workflow_min_bytes=1,
    )
    result = run.run(UploadEvent(key=key))
    assert result.status == "started"
    assert result.version is not None
    claim = json.loads(store.get_bytes(f"datasets/shop/claims/{result.version}.json"))
    assert "expires_at" in claim  # the claim outlives this function's run
    executions = env.sfn.list_executions(stateMachineArn=env.machine_arn)["executions"]
    execution = next(e for e in executions if e["name"].endswith(result.version))
    deadline = time.monotonic() + 120
    while True:
        described = env.sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return result, described
        time.sleep(0.2)


def test_the_state_machine_trains_as_the_one_process_run(env: Env) -> None:
    data = _table(2_000)
    result, execution = _train(env, "uploads/shop/big.csv", data)
    assert execution["status"] == "SUCCEEDED", execution
    parts = -(-2_000 // CHUNK_ROWS)
    assert env.invocations == ["prepare", "fit", *["assign"] * parts, "reduce"]

    store = S3ModelStore(env.models, client=env.s3)
    current = read_current(store, "shop")
    assert current is not None
    assert current.version == result.version
    inline = train_streaming(
        TableSource.from_bytes(data, "big.csv"),
        config=DatasetConfig.model_validate(CONFIG),
        dataset="shop",
        sample_rows=SAMPLE_ROWS,
        chunk_rows=CHUNK_ROWS,
    )
    for path in (ASSIGNMENTS_PATH, PROFILES_PATH):
        published = store.get_bytes(ModelLayout.artifact("shop", current.version, path))
        assert published == inline.artifact_bytes(path), path
    assigned = pd.read_csv(io.BytesIO(gzip.decompress(inline.artifact_bytes(ASSIGNMENTS_PATH))))
    assert len(assigned) == 2_000
    manifest = json.loads(store.get_bytes(ModelLayout.manifest("shop", current.version)))
    assert manifest["rows"]["read"] == 2_000
    assert not store.list_keys(f"datasets/shop/claims/{current.version}")  # claim released
    assert not store.list_keys(f"datasets/shop/runs/{current.version}/")  # work folder gone


def test_a_failing_step_ends_in_a_failure_report_and_the_current_model_stays(env: Env) -> None:
    _, first = _train(env, "uploads/shop/good.csv", _table(900))
    assert first["status"] == "SUCCEEDED"
    store = S3ModelStore(env.models, client=env.s3)
    before = read_current(store, "shop")
    env.invocations.clear()
    # A config naming a column this upload lacks: the Fit step fails (MissingColumnError).
    bad = _table(900).replace(b"customer_id,income", b"customer_id,wrong", 1)
    config = {**CONFIG, "features": ["income", "spend"]}
    result, execution = _train(env, "uploads/shop/bad.csv", bad, config)
    assert execution["status"] == "FAILED"
    assert env.invocations[:2] == ["prepare", "fit"]
    assert env.invocations[-1] == "fail"
    (failure_key,) = store.list_keys("datasets/shop/failures/")
    report = json.loads(store.get_bytes(failure_key))
    assert report["error_type"] == "MissingColumnError"
    assert "income" in report["error"]
    assert read_current(store, "shop") == before
    assert not store.list_keys(f"datasets/shop/claims/{result.version}")
