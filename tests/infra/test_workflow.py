"""The training state machine: Prepare -> Fit -> Distributed Map -> Reduce, caught into Fail."""

from __future__ import annotations

import json
from typing import Any

from infra.config import FRESH_ACCOUNT_MEMORY_MB
from infra.constructs.workflow import STEPS_HANDLER
from shared.training.run import DEFAULT_WORKFLOW_CLAIM
from tests.infra.conftest import Synthesized


def _definition(s: Synthesized) -> dict[str, Any]:
    """The definition with every CloudFormation token rendered as its JSON text."""
    props = s.resource(s.stack.workflow.state_machine)["Properties"]
    parts = props["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else json.dumps(json.dumps(p))[1:-1] for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_states_run_prepare_fit_distributed_map_reduce(prod: Synthesized) -> None:
    definition = _definition(prod)
    states = definition["States"]
    assert definition["StartAt"] == "Prepare"
    assert [states[n]["Next"] for n in ("Prepare", "Prepared", "Fit", "Assign")] == [
        "Prepared", "Fit", "Assign", "Reduce",
    ]  # fmt: skip
    assert states["Reduce"]["End"] is True
    assign = states["Assign"]
    assert assign["Type"] == "Map"
    assert assign["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert assign["ItemsPath"] == "$.prepared.parts"
    assert assign["MaxConcurrency"] == 4  # default: room in a new account's quota of 10
    (child,) = assign["ItemProcessor"]["States"].values()
    assert child["Parameters"]["Payload"]["step"] == "assign"


def test_map_concurrency_is_configurable(dev: Synthesized) -> None:
    assert _definition(dev)["States"]["Assign"]["MaxConcurrency"] == 8


def test_every_step_failure_goes_to_the_failure_report(prod: Synthesized) -> None:
    states = _definition(prod)["States"]
    for name in ("Prepare", "Fit", "Assign", "Reduce"):
        (catch,) = states[name]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail"}
    assert states["Fail"]["Parameters"]["Payload"]["step"] == "fail"
    assert states[states["Fail"]["Next"]]["Type"] == "Fail"


def test_the_step_function_is_the_training_image_at_fresh_account_size(prod: Synthesized) -> None:
    props = prod.resource(prod.stack.workflow.function)["Properties"]
    assert props["ImageConfig"] == {"Command": [STEPS_HANDLER]}
    assert props["MemorySize"] == FRESH_ACCOUNT_MEMORY_MB
    assert props["Timeout"] == 900
    assert prod.image_target(prod.stack.workflow.function) == "training"


def test_the_run_times_out_when_its_claim_expires(prod: Synthesized) -> None:
    assert _definition(prod)["TimeoutSeconds"] == DEFAULT_WORKFLOW_CLAIM.total_seconds()
    props = prod.resource(prod.stack.workflow.state_machine)["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_training_may_start_the_machine_and_knows_its_arn(prod: Synthesized) -> None:
    machine_ref = {"Ref": prod.logical_id(prod.stack.workflow.state_machine)}
    env = prod.resource(prod.stack.training.function)["Properties"]["Environment"]["Variables"]
    assert env["WORKFLOW_STATE_MACHINE_ARN"] == machine_ref
    policies = prod.template.find_resources("AWS::IAM::Policy")
    role_ref = {"Ref": prod.logical_id(prod.stack.training.role)}
    statements = [
        st
        for policy in policies.values()
        if role_ref in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        st["Action"] == "states:StartExecution" and st["Resource"] == machine_ref
        for st in statements
    )
