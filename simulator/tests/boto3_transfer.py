#!/usr/bin/env python3
"""Independent wire-format check of the Transfer Family simulator with boto3 (awsJson1_1).

Usage: start the demo binary, then, within a minute or so (the demo's exception handling
must still be under way):
    python3 simulator/tests/boto3_transfer.py http://127.0.0.1:4566

It starts nothing itself. It uses the simulator's /_sim/ control API to inject faults.
"""

import json
import re
import sys
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")


def client(**config):
    return boto3.client(
        "transfer",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


transfer = client()
model = transfer.meta.service_model


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def inject(operation, fault, times=1):
    control("POST", "/_sim/faults", {"operation": operation, "fault": fault, "times": times})


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


def expect_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == code, f"{message} -> {got} (HTTP {status})")
        return e
    raise AssertionError(f"{message}: no error raised")


def python_pattern(pattern):
    """The model's (Java) pattern compiled for Python; None for the few Python cannot read
    (`\\P{M}`, a range after `\\w`), which are then not checked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def conforms(value, shape, path="$"):
    """Strictly checks raw JSON against a model shape (botocore ignores unknown keys): catches a
    misspelt member, a missing required one, a wrong type, a value outside an enum or a length."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        for key, member in value.items():
            assert key in shape.members, f"{path}: unknown member {key!r}"
            conforms(member, shape.members[key], f"{path}.{key}")
        for key in shape.required_members:
            assert key in value, f"{path}: missing required {key!r}"
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected list"
        limits = shape.metadata
        assert len(value) >= limits.get("min", 0), f"{path}: fewer than {limits['min']} items"
        assert len(value) <= limits.get("max", len(value)), f"{path}: more than {limits['max']} items"
        for i, item in enumerate(value):
            conforms(item, shape.member, f"{path}[{i}]")
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: integer expected"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: string expected"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"
        limits = shape.metadata
        assert limits.get("min", 0) <= len(value) <= limits.get("max", len(value)), f"{path}: length {len(value)}"
        if "pattern" in limits and not shape.enum:
            pattern = python_pattern(limits["pattern"])
            assert pattern is None or pattern.fullmatch(value), f"{path}: {value!r} !~ {limits['pattern']}"
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def raw(operation, body):
    """POST / with the awsJson1_1 headers; returns (content type, parsed body)."""
    request = urllib.request.Request(
        ENDPOINT + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "X-Amz-Target": f"TransferService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Type"], json.loads(response.read())


def strictly(operation, body):
    content_type, document = raw(operation, body)
    assert content_type == "application/x-amz-json-1.1", content_type
    conforms(document, model.operation_model(operation).output_shape)
    return document


# Raw responses conform strictly to the model, for every workflow and execution.
workflows = strictly("ListWorkflows", {"MaxResults": 1000})["Workflows"]
described = 0
for w in workflows:
    strictly("DescribeWorkflow", {"WorkflowId": w["WorkflowId"]})
    for e in strictly("ListExecutions", {"WorkflowId": w["WorkflowId"]})["Executions"]:
        strictly("DescribeExecution", {"WorkflowId": w["WorkflowId"], "ExecutionId": e["ExecutionId"]})
        described += 1
check(described > 0, f"raw JSON of all four operations conforms to the model ({len(workflows)} workflows, {described} executions)")

# ListWorkflows through botocore's own paginator, 1 per page.
pages = list(transfer.get_paginator("list_workflows").paginate(PaginationConfig={"PageSize": 1}))
ids = [w["WorkflowId"] for page in pages for w in page["Workflows"]]
check(len(pages) >= 4 and len(ids) == len(set(ids)) == len(workflows), f"list_workflows paginated over {len(pages)} pages")
check(all(re.fullmatch(r"w-[a-z0-9]{17}", i) for i in ids), "workflow ids look like AWS ones")
check(pages[0]["ResponseMetadata"]["RequestId"], "x-amzn-RequestId is surfaced as RequestId")

# DescribeWorkflow.
steps = {s["Type"] for w in ids for s in transfer.describe_workflow(WorkflowId=w)["Workflow"].get("Steps", [])}
check({"COPY", "CUSTOM", "DECRYPT", "DELETE", "TAG"} <= steps, f"every step type is used: {sorted(steps)}")

# ListExecutions and DescribeExecution.
executions = []
for w in ids:
    for page in transfer.get_paginator("list_executions").paginate(WorkflowId=w, PaginationConfig={"PageSize": 1}):
        check(page["WorkflowId"] == w, f"ListExecutions page names its workflow {w}")
        executions += [(w, e) for e in page["Executions"]]
check(executions, f"{len(executions)} executions in progress")
details = []
for w, e in executions:
    try:
        details.append(transfer.describe_execution(WorkflowId=w, ExecutionId=e["ExecutionId"])["Execution"])
    except transfer.exceptions.ResourceNotFoundException:
        pass  # Finished between the two calls: the demo moves on.
check(all("StartTime" not in d for d in details), "no timestamps on executions")
errors = [
    (phase, s["StepType"], s["Error"]["Type"])
    for d in details
    for phase in ("Steps", "OnExceptionSteps")
    for s in d.get("Results", {}).get(phase, [])
    if "Error" in s
]
check(any(d["Status"] == "HANDLING_EXCEPTION" for d in details), "an execution is handling an exception")
check(errors, f"step errors with StepType and Error.Type: {errors}")

# Modelled errors, `__type` in the body.
e = expect_error(lambda: transfer.describe_workflow(WorkflowId="w-00000000000000000"), "ResourceNotFoundException", "unknown workflow")
check(e.response.get("ResourceType") == "Workflow" and e.response.get("Resource"), "Resource and ResourceType are parsed")
try:
    transfer.list_executions(WorkflowId="w-00000000000000000")
except transfer.exceptions.ResourceNotFoundException:
    check(True, "raises transfer.exceptions.ResourceNotFoundException")
expect_error(
    lambda: transfer.describe_execution(WorkflowId=ids[0], ExecutionId="00000000-0000-4000-8000-000000000000"),
    "ResourceNotFoundException",
    "finished (or unknown) execution",
)
unvalidated = client(parameter_validation=False)
expect_error(lambda: unvalidated.list_workflows(MaxResults=0), "InvalidRequestException", "MaxResults=0")
expect_error(lambda: unvalidated.list_workflows(MaxResults=1001), "InvalidRequestException", "MaxResults=1001")
check(len(transfer.list_workflows(MaxResults=1000)["Workflows"]) == len(ids), "MaxResults=1000 is accepted")
expect_error(lambda: transfer.list_workflows(NextToken="garbled"), "InvalidNextTokenException", "garbled NextToken")

# Injected faults, with Transfer's codes.
inject("transfer:ListWorkflows", "Throttle")
e = expect_error(lambda: transfer.list_workflows(), "ThrottlingException", "Throttle fault")
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "Transfer throttles with HTTP 400")
inject("transfer:*", "ThrottleRetryAfter:5")
e = expect_error(lambda: transfer.list_executions(WorkflowId=ids[0]), "ThrottlingException", "ThrottleRetryAfter fault")
check(e.response.get("RetryAfterSeconds") == "5", "RetryAfterSeconds is parsed")
inject("transfer:DescribeWorkflow", "ServerError")
e = expect_error(lambda: transfer.describe_workflow(WorkflowId=ids[0]), "InternalServiceError", "ServerError fault")
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 500, "InternalServiceError is HTTP 500")
inject("transfer:ListWorkflows", "AccessDenied")
expect_error(lambda: transfer.list_workflows(), "AccessDeniedException", "AccessDenied fault")
check(transfer.list_workflows()["Workflows"], "next call succeeds again")

calls = control("GET", "/_sim/calls")
check(calls.get("transfer:ListWorkflows", 0) >= 8 and calls.get("transfer:DescribeExecution", 0) >= 1, f"call counters: {calls}")
print("boto3 transfer check passed")
