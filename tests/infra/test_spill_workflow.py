"""The spill workflow (stacks/spill_workflow.py) by property on the synthesized template: the definition has the
states ``spill.workflow.STATES`` lists, which the local driver interprets; least privilege; the schedule; the
alarm and the dashboard row; cdk-nag and cfn-lint clean. Both configurations.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import contract
from spill import workflow
from stacks.config import SPILL_AFTER_SECONDS
from stacks.spill_workflow import CHECK_HANDLER, DEFAULT_SPILL_AFTER_SECONDS, STEP_HANDLER
from tests.infra.synthesis import Synthesized, bring_your_own_context, cfn_lint, iter_violations, project_context
from tests.infra.synthesis import synthesize as synthesize_app

# The bring-your-own configuration's putQuotas.
PUT_QUOTAS = {"PutItems": 8}


@pytest.fixture(scope="module", params=["provisioned", "bring-your-own"])
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # cdk.json's spillAfterSeconds deploys the spill, with datasets the stack creates and with existing ones; the
    # latter with PutItems lowered (room left for another writer), which the check's estimate must know.
    context = project_context() if request.param == "provisioned" else bring_your_own_context(putQuotas=PUT_QUOTAS)
    return synthesize_app(context, tmp_path_factory.mktemp(request.param))


def test_cdk_json_spills_after_the_default_backlog(synthesized: Synthesized) -> None:
    # The construct's default and the configuration's are one number, which both functions are given.
    assert SPILL_AFTER_SECONDS.default == DEFAULT_SPILL_AFTER_SECONDS == synthesized.config.spill_after_seconds
    for handler in (STEP_HANDLER, CHECK_HANDLER):
        _, properties = synthesized.function(handler)
        variables = properties["Environment"]["Variables"]
        assert variables[contract.SPILL_AFTER_SECONDS] == str(DEFAULT_SPILL_AFTER_SECONDS), handler


def test_the_check_estimates_at_the_quotas_the_ingest_function_paces_to(synthesized: Synthesized) -> None:
    # The same PUT_QUOTAS as the ingest function (none without putQuotas), which spill.config parses with
    # ingest.pacing's rule.
    ingest = synthesized.ingest_function()[1]["Environment"]["Variables"]
    check = synthesized.function(CHECK_HANDLER)[1]["Environment"]["Variables"]
    if synthesized.config.put_quotas:
        assert check[contract.PUT_QUOTAS] == ingest[contract.PUT_QUOTAS] == "PutItems=8"
    else:
        assert contract.PUT_QUOTAS not in check
        assert contract.PUT_QUOTAS not in ingest


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"spillAfterSeconds": 0}, id="disabled"),
        # A FIFO queue's order is its message groups', which a drain in chunks would not keep.
        pytest.param({"queueType": "fifo", "batchSize": None, "maxBatchingWindowSeconds": None}, id="fifo"),
    ],
)
def test_no_spill_is_deployed_when_disabled_or_on_a_fifo_queue(
    overrides: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> None:
    synthesized = synthesize_app(project_context(**overrides), tmp_path_factory.mktemp("no-spill"))

    functions = synthesized.resources("AWS::Lambda::Function").values()
    assert not {function["Properties"].get("Handler") for function in functions} & {STEP_HANDLER, CHECK_HANDLER}
    rules = synthesized.resources("AWS::Events::Rule").values()
    assert not [rule for rule in rules if "ScheduleExpression" in rule["Properties"]]
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    assert not [logical_id for logical_id in machines if logical_id.startswith("Spill")]
    assert "SpillsStarted" not in json.dumps(synthesized.only("AWS::CloudWatch::Dashboard")[1]["DashboardBody"])


def definition(synthesized: Synthesized) -> dict[str, Any]:
    """The state machine's definition, with its tokens (function ARNs) left as placeholders."""
    (machine,) = [
        machine
        for logical_id, machine in synthesized.resources("AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith("SpillWorkflow")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else '"TOKEN"' for part in parts)
    return dict(json.loads(text.replace('""TOKEN""', '"TOKEN"')))


def test_the_definition_has_the_local_drivers_states_and_transitions(synthesized: Synthesized) -> None:
    asl = definition(synthesized)
    assert asl["StartAt"] == workflow.START
    states = asl["States"]
    assert set(states) == set(workflow.STATES)
    for name, spec in workflow.STATES.items():
        state = states[name]
        assert state["Type"] == spec.type, name
        if spec.type in ("Task", "Wait"):
            assert state.get("Next") == spec.next, name
        if spec.type == "Task":
            assert state["Parameters"] == {"step": spec.step, "state.$": "$"}
            catches = [catch["Next"] for catch in state.get("Catch", [])]
            assert catches == ([workflow.RESUME_AFTER_FAILURE] if spec.catch else []), name
            assert state["Retry"][0]["MaxAttempts"] == workflow.RETRY_ATTEMPTS
        if spec.type == "Wait":
            assert state["Seconds"] == spec.seconds
        if spec.type == "Choice":
            assert [(c["Variable"], c["Next"]) for c in state["Choices"]] == [(f"$.{f}", t) for f, t in spec.when]
            assert all(c["BooleanEquals"] is True for c in state["Choices"])
            assert state["Default"] == spec.next
    assert asl["TimeoutSeconds"] == workflow.TIMEOUT_SECONDS


def test_every_failure_path_resumes_the_mapping(synthesized: Synthesized) -> None:
    states = definition(synthesized)["States"]
    assert states[workflow.RESUME_AFTER_FAILURE]["Parameters"]["step"] == "resume_after_failure"
    assert states[workflow.RESUME_AFTER_FAILURE]["Next"] == workflow.FAILED
    tasks = [name for name, state in states.items() if state["Type"] == "Task"]
    resumes = {workflow.RESUME, workflow.RESUME_AFTER_FAILURE}
    assert all(states[name].get("Catch") for name in tasks if name not in resumes)


def spill_role(synthesized: Synthesized, handler: str) -> str:
    function_id, _ = synthesized.function(handler)
    return synthesized.role_of(function_id)


def test_the_steps_may_touch_the_mapping_the_bucket_prefix_and_the_import_role_only(synthesized: Synthesized) -> None:
    role = spill_role(synthesized, "spill.handler.step")
    (mapping,) = synthesized.resources("AWS::Lambda::EventSourceMapping")
    mappings = synthesized.resources_of("lambda:UpdateEventSourceMapping", role)
    assert len(mappings) == 1
    assert mapping in json.dumps(mappings[0])
    (passed,) = synthesized.resources_of("iam:PassRole", role)
    assert "Imports" in json.dumps(passed)
    statement = next(s for s in synthesized.statements(role) if "iam:PassRole" in json.dumps(s["Action"]))
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}}
    (objects,) = synthesized.resources_of("s3:PutObject", role)
    assert "/spill/*" in json.dumps(objects)
    created = json.dumps(synthesized.resources_of("personalize:CreateDatasetImportJob", role))
    assert "dataset-import-job/spill-*" in created
    assert '"*"' not in created
    allowed = {action for action, _ in synthesized.allowed(role)}
    assert not any(action.endswith(":*") or action == "*" for action in allowed)
    assert "personalize:PutItems" not in allowed


def test_the_check_may_start_this_workflow_and_read_the_queue(synthesized: Synthesized) -> None:
    role = spill_role(synthesized, "spill.handler.check")
    allowed = {action for action, _ in synthesized.allowed(role)}
    assert {"states:StartExecution", "states:ListExecutions", "sqs:GetQueueAttributes"} <= allowed
    assert "sqs:ReceiveMessage" not in allowed
    assert "lambda:UpdateEventSourceMapping" in allowed


def test_the_check_runs_every_minute(synthesized: Synthesized) -> None:
    rules = [r["Properties"] for r in synthesized.resources("AWS::Events::Rule").values()]
    assert any(rule.get("ScheduleExpression") == "rate(1 minute)" for rule in rules)


def test_an_alarm_watches_failed_and_stuck_spills(synthesized: Synthesized) -> None:
    alarms = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    (alarm,) = [a for a in alarms if "spill" in json.dumps(a.get("AlarmDescription", "")).lower()]
    names = json.dumps(alarm["Metrics"])
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "SpillsFailed", "MappingRestored"):
        assert metric in names
    assert alarm["AlarmActions"]


def test_the_dashboard_shows_the_spill(synthesized: Synthesized) -> None:
    _, dashboard = synthesized.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["DashboardBody"])
    for metric in ("SpillsStarted", "SpillsFinished", "RecordsSpilled", "ImportJobSeconds"):
        assert metric in body


def test_cdk_nag_and_cfn_lint_find_nothing_in_the_spill(synthesized: Synthesized) -> None:
    spill = [v for v in iter_violations(synthesized.outdir) if "/Spill/" in v[2]]
    assert spill == []
    assert [f for f in cfn_lint(synthesized.template_json) if "Spill" in f[0]] == []
